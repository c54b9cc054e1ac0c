//! The parallel parse of a large plain feed: the text is cut into chunks at line boundaries,
//! other threads parse them into [`Collected`] buffers, and the calling thread hands the entries
//! to the loader in file order, warming the builder's tables a few names ahead. The parser
//! threads also hash each name with the set's hasher, count its labels and answer whether it
//! is a public suffix, so that the one thread adding names only probes the table (issue 13;
//! see BENCHMARKS.md). Contract: the sink sees exactly what a single-threaded parse would give
//! it, in the same order, with the line numbers of the whole file; feeds under 1 MiB are parsed
//! on the calling thread.

use super::loader::Loader;
use super::policy::is_public_suffix;
use crate::indicators::formats::{self, FeedSink, Location};
use crate::indicators::set::{NameHasher, PreparedName};
use crate::indicators::{value, Fields, Value};

/// Feeds smaller than this are parsed on the calling thread; larger ones are cut into chunks at
/// line boundaries, parsed on other threads and added in file order by this one (parsing is
/// about a third of the load time of a 1M-domain feed; see BENCHMARKS.md).
const PARALLEL_PARSE_MIN_BYTES: usize = 1 << 20;

/// Chunk size of the parallel parse: small enough that the parsed entries waiting to be added
/// stay a few MiB, large enough to amortise a channel operation.
const PARSE_CHUNK_BYTES: usize = 256 * 1024;

/// Names looked up ahead of the one being added (see
/// [`SetBuilder::warm_name`](crate::indicators::SetBuilder::warm_name)): enough misses in flight
/// to use the memory system's parallelism, few enough to stay in cache.
const WARM_AHEAD: usize = 16;

/// Chunks parsed ahead of the one being added, per parser thread.
const PARSE_CHUNKS_AHEAD: usize = 2;

/// A plain feed, in parallel when it is large; entries reach `out` in file order.
pub(super) fn parse_plain(text: &str, opts: formats::plain::Opts, out: &mut Loader<'_>) {
    if text.len() < PARALLEL_PARSE_MIN_BYTES {
        formats::plain::parse(text, 1, opts, out);
        return;
    }
    // (first line, chunk) at line boundaries
    let mut chunks = Vec::new();
    let (mut start, mut line) = (0usize, 1usize);
    let bytes = text.as_bytes();
    while start < text.len() {
        let mut end = (start + PARSE_CHUNK_BYTES).min(text.len());
        while end < text.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        let chunk = &text[start..end];
        chunks.push((line, chunk));
        // memchr counts with SIMD: this runs on the adding thread before any parser starts
        // (a byte loop was 49M instructions for the 1M-name bench feed, 5% of that thread)
        line += memchr::memchr_iter(b'\n', chunk.as_bytes()).count();
        start = end;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, 8);
    let hasher = out.name_hasher();
    let check_ps = out.checks_public_suffix();
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(threads);
        for t in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Collected>(PARSE_CHUNKS_AHEAD);
            let mine: Vec<(usize, &str)> =
                chunks.iter().copied().skip(t).step_by(threads).collect();
            let hasher = hasher.clone();
            s.spawn(move || {
                for (line, chunk) in mine {
                    let mut c = Collected {
                        hasher: hasher.clone(),
                        check_ps,
                        ..Collected::default()
                    };
                    formats::plain::parse(chunk, line, opts, &mut c);
                    if tx.send(c).is_err() {
                        return;
                    }
                }
            });
            rxs.push(rx);
        }
        for i in 0..chunks.len() {
            let Ok(c) = rxs[i % threads].recv() else {
                break;
            };
            for (k, item) in c.items.iter().enumerate() {
                // the names a few items ahead: their table lookups overlap (see warm_name)
                if k % WARM_AHEAD == 0 {
                    for ahead in c.items.iter().skip(k + WARM_AHEAD).take(WARM_AHEAD) {
                        match *ahead {
                            Item::Name(ref n) if hasher.is_some() => out.warm_name_hashed(
                                c.names.get(n.off..n.off + n.len).unwrap_or_default(),
                                n.prep.hash,
                            ),
                            Item::Entry(_, Value::Ip(ip)) => out.warm_ip(ip),
                            _ => {}
                        }
                    }
                }
                match item {
                    Item::Entry(line, v) => {
                        out.entry(Location::Line(*line), v.clone(), Fields::default())
                    }
                    Item::Full(line, e) => {
                        out.entry(Location::Line(*line), e.0.clone(), e.1.clone())
                    }
                    Item::Skip(line, what) => out.skipped(Location::Line(*line), what),
                    Item::Name(n) => {
                        let name = c.names.get(n.off..n.off + n.len).unwrap_or_default();
                        let prep = hasher.is_some().then_some(n.prep);
                        let ps = check_ps.then_some(n.public_suffix);
                        out.name(Location::Line(n.line), name, prep, ps);
                    }
                    Item::Bad(line, reason, text) => out.bad(Location::Line(*line), reason, text),
                    Item::HttpsUrl => out.https_url(),
                }
            }
        }
    });
}

enum Item {
    Entry(usize, Value),
    /// An entry with fields of its own (a wildcard's match mode, a port); boxed, so that the
    /// common items stay small.
    Full(usize, Box<(Value, Fields)>),
    /// A skipped line: the plain format's skip reasons are `&'static str`s, but the sink
    /// takes any.
    Skip(usize, String),
    /// A name in `Collected::names`: one buffer per chunk instead of a `Vec` per name,
    /// allocated on one thread and freed on another.
    Name(Name),
    Bad(usize, String, String),
    /// The entry before was an `https://` URL.
    HttpsUrl,
}

/// A name a parser thread found: `Collected::names[off..off + len]` on line `line`.
struct Name {
    line: usize,
    off: usize,
    len: usize,
    /// Its hash and label count under `Collected::hasher` (default without one).
    prep: PreparedName,
    /// Whether it is a public suffix (false when `Collected::check_ps` is not set).
    public_suffix: bool,
}

/// What a plain-parser thread found in one chunk.
#[derive(Default)]
struct Collected {
    items: Vec<Item>,
    names: Vec<u8>,
    /// The set's name hasher (none when the loader only counts).
    hasher: Option<NameHasher>,
    /// Whether the loader asks if names are public suffixes.
    check_ps: bool,
}

impl Collected {
    fn push_name(&mut self, line: usize, name: &[u8]) {
        let prep = self
            .hasher
            .as_ref()
            .map_or_else(PreparedName::default, |h| PreparedName::new(h, name));
        let public_suffix = self.check_ps && is_public_suffix(name);
        self.items.push(Item::Name(Name {
            line,
            off: self.names.len(),
            len: name.len(),
            prep,
            public_suffix,
        }));
        self.names.extend_from_slice(name);
    }
}

impl FeedSink for Collected {
    fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
        let Location::Line(l) = at else { return };
        if !fields.is_default() {
            return self.items.push(Item::Full(l, Box::new((value, fields))));
        }
        match value {
            Value::Domain(name) => self.push_name(l, &name),
            v => self.items.push(Item::Entry(l, v)),
        }
    }
    fn entry_name(&mut self, at: Location<'_>, name: &[u8]) {
        if let Location::Line(l) = at {
            self.push_name(l, name);
        }
    }
    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
        if let Location::Line(l) = at {
            self.items.push(Item::Bad(
                l,
                reason.to_owned(),
                value::head(text).to_owned(),
            ));
        }
    }
    fn skipped(&mut self, at: Location<'_>, what: &str) {
        if let Location::Line(l) = at {
            self.items.push(Item::Skip(l, what.to_owned()));
        }
    }
    fn https_url(&mut self) {
        self.items.push(Item::HttpsUrl);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn large_plain_feed_loads_in_parallel_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("\u{feff}# header\n");
        for i in 0..120_000 {
            match i % 5000 {
                0 => text.push_str("bad..line\n"),
                1 => text.push('\n'),
                _ => text.push_str(&format!("host{i}.example.org\n")),
            }
        }
        assert!(text.len() > PARALLEL_PARSE_MIN_BYTES);
        let f = write_feed(dir.path(), "big.txt", text.as_bytes());
        let (set, report) = build_set_t(&[f]).unwrap();
        let r = &report.feeds[0];
        assert_eq!(r.bad, 24);
        // line numbers are those of the whole file, in order
        let lines: Vec<usize> = r.errors.iter().map(|e| e.at.parse().unwrap()).collect();
        let want: Vec<usize> = (0..24).map(|k| 2 + k * 5000).collect();
        assert_eq!(lines, want);
        assert_eq!(set.len(), 120_000 - 48);
        assert!(set.best_domain(b"host119999.example.org").is_some());
    }

    #[test]
    fn large_feed_keeps_each_line_shape_and_counts_skips_in_parallel() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..100_000 {
            match i % 1000 {
                0 => text.push_str(&format!("*.w{i}.example\n")),
                1 => text.push_str(&format!("198.51.100.{}:8443\n", i % 250)),
                2 => text.push_str("/gate.php\n"),
                3 => text.push_str("127.0.0.1 localhost\n"),
                4 => text.push_str(&format!("https://u{i}.example/x.exe\n")),
                _ => text.push_str(&format!("host{i}.example.org\n")),
            }
        }
        assert!(text.len() > PARALLEL_PARSE_MIN_BYTES);
        let f = write_feed(dir.path(), "big.txt", text.as_bytes());
        let (set, report) = build_set_t(&[f]).unwrap();
        let r = &report.feeds[0];
        assert_eq!(r.skipped_total(), 200, "{:?}", r.skipped);
        assert_eq!(r.skipped[formats::plain::SKIP_URL_PATH], 100);
        // an https URL found on another thread is counted as one
        assert_eq!(r.https_urls, 100);
        assert_eq!(r.by_token[crate::observe::Token::Url as usize], 100);
        // a wildcard from a chunk parsed on another thread is still subdomains only
        assert!(set.best_domain(b"a.w99000.example").is_some());
        assert!(set.best_domain(b"w99000.example").is_none());
        // and an address keeps its port
        let m = set.best_ip("198.51.100.1".parse().unwrap()).unwrap();
        assert_eq!(m.context.port, Some(8443));
    }

    #[test]
    fn names_hashed_and_checked_on_parser_threads_load_as_on_one() {
        // every name twice, the second time ~1 MiB later (another chunk, often another
        // thread): a hash from the parser thread that differed from the table's would make a
        // second slot instead of a duplicate; public suffixes are narrowed to exact matches
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for round in 0..2 {
            for i in 0..60_000 {
                match i % 20_000 {
                    7 => text.push_str("co.uk\n"),
                    8 => text.push_str("duckdns.org\n"),
                    _ => text.push_str(&format!("n{i}.example.net\n")),
                }
            }
            if round == 0 {
                assert!(text.len() > PARALLEL_PARSE_MIN_BYTES);
            }
        }
        let f = write_feed(dir.path(), "big.txt", text.as_bytes());
        let (set, report) = build_set_t(std::slice::from_ref(&f)).unwrap();
        let r = &report.feeds[0];
        // 59,994 distinct names and the two suffixes; the rest are duplicates
        assert_eq!(set.len(), 59_996);
        assert_eq!(
            r.duplicates, 60_004,
            "the second round and the suffixes repeated"
        );
        assert_eq!(r.narrowed, 12, "co.uk and duckdns.org, 3 times a round");
        assert!(set.best_domain(b"co.uk").is_some());
        assert!(set.best_domain(b"x.co.uk").is_none(), "narrowed to exact");
        assert!(set.best_domain(b"a.n59999.example.net").is_some());
        // a reload (counting pass, then the load) finds the same
        let (again, report) = rebuild_t(&[f], &set);
        assert_eq!(again.len(), 59_996);
        assert_eq!(report.feeds[0].duplicates, 60_004);
        assert_eq!(report.feeds[0].narrowed, 12);
    }
}
