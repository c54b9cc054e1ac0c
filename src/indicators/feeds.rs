//! Feed files: parsing and loading. A bad line is an error with its line number; the good lines
//! still load.
//!
//! # Plain format
//!
//! One indicator per line. `#` starts a comment when it begins the line or follows whitespace
//! (`evil.com # seen 2024-05` is `evil.com`; `evil.com#x` is a bad line, not a silent
//! truncation). Blank lines are ignored, surrounding whitespace is trimmed, a UTF-8 byte-order
//! mark before line 1 is ignored, and CRLF line ends work. The type is read from the text:
//!
//! - an IPv4 or IPv6 address (`std::net::IpAddr` syntax; IPv6 zone ids are not accepted);
//! - a CIDR `address/len`. Host bits set after the prefix (`10.1.2.3/8`) are refused: that is
//!   almost always a typo for an address or a different prefix, and guessing either way would
//!   silently match the wrong range. The reason names the network it would have meant;
//! - else a domain in presentation form through [`crate::name::unescape`] (`\DDD` escapes, RFC
//!   1035 length limits, lowercased, one trailing dot dropped).
//!
//! Text that looks like an address but is not one (`1.2.3.256`, `1.2.3`, `10.0.0.0/33`, anything
//! with a `:`) is a bad line, never a domain. So is a name whose last label is all digits (RFC
//! 3696 §2: top-level domains are not all-numeric), which also catches `\DDD`-escaped addresses.
//! A URL is refused with its own reason. A name of one label (`com`, `localhost`) is accepted
//! here; refusing public suffixes is policy for a later layer.
//!
//! # Loading
//!
//! [`load`] reads one feed, [`build_set`] reads every configured feed into one
//! [`IndicatorSet`]. An unreadable feed among readable ones is not fatal: it is reported as failed
//! in the [`LoadReport`] and the others load (a sensor watching with most of its feeds beats one
//! that does not start; the report makes the gap visible, and a caller wanting strictness checks
//! [`LoadReport::failed_feeds`]). Only "no usable feed" — nothing readable, or zero indicators in
//! total — is a [`BuildError`].

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::set::{IndicatorSet, SetBuilder};
use super::Value;
use crate::config::{FeedConfig, FeedFormat};
use crate::name;

/// Largest feed file read. A 1M-domain feed is about 30 MB; this leaves ample room while keeping a
/// wrong path (a device, a disk image, `/dev/zero`) from exhausting memory.
pub const MAX_FEED_BYTES: u64 = 512 * 1024 * 1024;

/// Longest offending text kept in a [`FeedError`], in characters: one readable terminal line.
pub const MAX_ERROR_TEXT_CHARS: usize = 100;

/// Bad lines kept as [`FeedError`]s per feed by [`load`]; the rest are only counted. Enough to
/// see what is wrong with a feed; a file in the wrong format would otherwise hold one error per
/// line in memory and in the report.
pub const MAX_KEPT_ERRORS_PER_FEED: usize = 1000;

/// One indicator read from a feed, with the line it came from (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Value,
    pub line: usize,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}: {text:?}", path.display())]
pub struct FeedError {
    pub path: PathBuf,
    pub line: usize,
    /// The offending line, trimmed and cut to a readable length.
    pub text: String,
    pub reason: String,
}

/// Parse a plain-text feed: one indicator per line; `#` starts a comment (whole line or after
/// the value); blank lines ignored; surrounding whitespace trimmed. Type by content: IPv4/IPv6
/// address, CIDR, else domain. Every bad line is returned as a [`FeedError`] (see the module doc
/// for the rules).
pub fn parse_plain(path: &std::path::Path, text: &str) -> (Vec<Entry>, Vec<FeedError>) {
    let parsed = parse_plain_capped(path, text, usize::MAX);
    (parsed.entries, parsed.errors)
}

/// Result of parsing with a cap on kept errors.
struct Parsed {
    entries: Vec<Entry>,
    errors: Vec<FeedError>,
    bad_lines: usize,
}

fn parse_plain_capped(path: &Path, text: &str, max_errors: usize) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Parsed {
        entries: Vec::new(),
        errors: Vec::new(),
        bad_lines: 0,
    };
    // `lines` splits on `\n` and drops a `\r` before it, so CRLF files work.
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        let value = strip_comment(trimmed);
        if value.is_empty() {
            continue;
        }
        match parse_value(value) {
            Ok(value) => out.entries.push(Entry { value, line }),
            Err(reason) => {
                out.bad_lines += 1;
                if out.errors.len() < max_errors {
                    out.errors.push(FeedError {
                        path: path.to_owned(),
                        line,
                        text: cut(trimmed),
                        reason,
                    });
                }
            }
        }
    }
    out
}

/// Feeds smaller than this are parsed on the calling thread; larger ones are cut into one chunk
/// per core at line boundaries and parsed in parallel (parsing is about a third of the load
/// time of a 1M-domain feed; see BENCHMARKS.md).
const PARALLEL_PARSE_MIN_BYTES: usize = 1 << 20;

/// Parse `text` with `parse`, in parallel chunks when it is large. Entries keep file order and
/// their line numbers are those of the whole file.
fn parse_chunked(
    path: &Path,
    text: &str,
    max_errors: usize,
    parse: fn(&Path, &str, usize) -> Parsed,
) -> Parsed {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || text.len() < PARALLEL_PARSE_MIN_BYTES {
        return parse(path, text, max_errors);
    }
    // Cut after the first newline at or past each ideal boundary.
    let mut chunks = Vec::with_capacity(threads);
    let mut start = 0;
    for k in 1..=threads {
        let ideal = text.len() * k / threads;
        let end = if k == threads || ideal <= start {
            text.len()
        } else {
            text[ideal..]
                .find('\n')
                .map_or(text.len(), |i| ideal + i + 1)
        };
        if end > start {
            chunks.push(&text[start..end]);
            start = end;
        }
        if start >= text.len() {
            break;
        }
    }
    let parts: Vec<Parsed> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|c| scope.spawn(move || parse(path, c, max_errors)))
            .collect();
        handles
            .into_iter()
            .zip(&chunks)
            .map(|(h, c)| h.join().unwrap_or_else(|_| parse(path, c, max_errors)))
            .collect()
    });
    let mut out = Parsed {
        entries: Vec::with_capacity(parts.iter().map(|p| p.entries.len()).sum()),
        errors: Vec::new(),
        bad_lines: 0,
    };
    let mut lines_before = 0;
    for (part, chunk) in parts.into_iter().zip(&chunks) {
        out.entries.extend(part.entries.into_iter().map(|mut e| {
            e.line += lines_before;
            e
        }));
        for mut e in part.errors {
            if out.errors.len() < max_errors {
                e.line += lines_before;
                out.errors.push(e);
            }
        }
        out.bad_lines += part.bad_lines;
        lines_before += chunk.bytes().filter(|&b| b == b'\n').count();
    }
    out
}

/// The line up to a `#` that starts it or follows whitespace, trimmed.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

/// One trimmed, comment-free value; the error is the reason shown to the operator.
fn parse_value(s: &str) -> Result<Value, String> {
    if !s.is_ascii() && s.contains('\u{fffd}') {
        return Err("not valid UTF-8".to_owned());
    }
    let b = s.as_bytes();
    let has_colon = b.contains(&b':');
    if has_colon && s.contains("://") {
        return Err("a URL, not an address or domain: list the host name only".to_owned());
    }
    // An address has a `:` (IPv6) or only digits and dots (IPv4), a CIDR has a `/`; anything
    // else can only be a domain, the common case, and skips the address parsers.
    let maybe_address =
        has_colon || b.contains(&b'/') || b.iter().all(|&c| c.is_ascii_digit() || c == b'.');
    if maybe_address {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Value::Ip(ip));
        }
        if let Some((addr, len)) = s.split_once('/') {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                return parse_cidr(s, ip, len);
            }
            if let Some(reason) = not_an_address(addr) {
                return Err(format!("{reason} before the prefix length"));
            }
            // not address-like: the domain path below names `/` as the bad character
        } else if let Some(reason) = not_an_address(s) {
            return Err(reason);
        }
    }
    let name = name::unescape(s).map_err(|e| e.to_string())?;
    let last = name.rsplit(|&b| b == b'.').next().unwrap_or_default();
    if last.iter().all(u8::is_ascii_digit) {
        return Err(
            "last label is all digits (RFC 3696 §2): neither an address nor a domain".to_owned(),
        );
    }
    Ok(Value::Domain(name))
}

/// `Some(reason)` when text that failed to parse as an address was meant as one: it has a `:`
/// (impossible in a host name) or is only digits and dots.
fn not_an_address(s: &str) -> Option<String> {
    if s.contains(':') {
        return Some("invalid IPv6 address".to_owned());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some("invalid IPv4 address".to_owned());
    }
    None
}

fn parse_cidr(s: &str, ip: IpAddr, len: &str) -> Result<Value, String> {
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    // digits only: `u8::from_str` would also take `+8`
    let len = Some(len)
        .filter(|l| !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse::<u8>().ok())
        .filter(|&l| l <= max)
        .ok_or_else(|| format!("bad prefix length {len:?}: must be 0 to {max}"))?;
    let net = IpNet::new(ip, len).map_err(|e| e.to_string())?;
    if net.network() != ip {
        return Err(format!(
            "host bits set after the prefix ({s} is not a network address; {} is)",
            net.trunc()
        ));
    }
    Ok(Value::Cidr(net))
}

/// A feed read from disk.
#[derive(Debug, Clone)]
pub struct LoadedFeed {
    /// [`FeedConfig::display_name`].
    pub name: String,
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    /// The first [`MAX_KEPT_ERRORS_PER_FEED`] bad lines.
    pub errors: Vec<FeedError>,
    /// Every bad line, including those not kept in `errors`.
    pub bad_lines: usize,
}

/// A feed that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedLoadError {
    #[error("cannot read feed {name:?} at {}: {source}", path.display())]
    Read {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feed {name:?} at {} is larger than {MAX_FEED_BYTES} bytes", path.display())]
    TooLarge { name: String, path: PathBuf },
}

impl FeedLoadError {
    pub fn path(&self) -> &Path {
        match self {
            FeedLoadError::Read { path, .. } | FeedLoadError::TooLarge { path, .. } => path,
        }
    }
}

/// Read and parse one feed. Bad lines are in the result; only an unreadable file is an error.
/// Bytes that are not UTF-8 make their line bad, not the whole file.
pub fn load(feed: &FeedConfig) -> Result<LoadedFeed, FeedLoadError> {
    let name = feed.display_name();
    let path = feed.path.clone();
    let read_err = |source| FeedLoadError::Read {
        name: name.clone(),
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(read_err)?;
    // sized from the metadata to avoid regrowing; the `take` below is what enforces the limit
    let size = file.metadata().map_or(0, |m| m.len()).min(MAX_FEED_BYTES);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(FeedLoadError::TooLarge { name, path });
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let parsed = match feed.format {
        FeedFormat::Plain => {
            parse_chunked(&path, &text, MAX_KEPT_ERRORS_PER_FEED, parse_plain_capped)
        }
        _ => {
            return Err(FeedLoadError::Read {
                name,
                path,
                source: std::io::Error::other("format not supported yet"),
            })
        }
    };
    Ok(LoadedFeed {
        name,
        path,
        entries: parsed.entries,
        errors: parsed.errors,
        bad_lines: parsed.bad_lines,
    })
}

/// What happened to one feed in [`build_set`].
#[derive(Debug)]
pub struct FeedReport {
    pub name: String,
    pub path: PathBuf,
    /// Valid indicator lines read from this feed.
    pub indicators: usize,
    /// Of `indicators`, values already in the set (earlier in this feed or in an earlier feed);
    /// the first occurrence is the one matched.
    pub duplicates: usize,
    /// Bad lines, all counted.
    pub bad_lines: usize,
    /// The first [`MAX_KEPT_ERRORS_PER_FEED`] bad lines.
    pub errors: Vec<FeedError>,
    /// Set when the feed could not be read; the other counts are then zero.
    pub failure: Option<FeedLoadError>,
}

/// What [`build_set`] loaded, per feed and in total. `Display` prints it for an operator.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub feeds: Vec<FeedReport>,
    /// Valid indicator lines over all feeds (duplicates included).
    pub indicators: usize,
    /// Distinct indicators in the built set.
    pub distinct: usize,
    /// Bad lines over all feeds.
    pub bad_lines: usize,
    /// Feeds that could not be read.
    pub failed_feeds: usize,
    /// Indicators not stored because the set was full (see [`SetBuilder::refused`]); zero in
    /// practice.
    pub refused: usize,
}

/// No usable feed: the daemon cannot start matching. The report says why, feed by feed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no usable feed: no feeds configured")]
    NoFeeds,
    #[error("no usable feed: none of the {} feeds could be read", report.feeds.len())]
    NoneReadable { report: LoadReport },
    #[error(
        "no usable feed: {} feeds read but 0 indicators loaded ({} bad lines)",
        report.feeds.len() - report.failed_feeds,
        report.bad_lines
    )]
    NoIndicators { report: LoadReport },
}

impl BuildError {
    /// The per-feed report, when any feed was configured.
    pub fn report(&self) -> Option<&LoadReport> {
        match self {
            BuildError::NoFeeds => None,
            BuildError::NoneReadable { report } | BuildError::NoIndicators { report } => {
                Some(report)
            }
        }
    }
}

/// Load every feed into one set. Feeds are added in order, so on a duplicate value the earlier
/// feed's indicator is the one matched. See the module doc for what is fatal.
pub fn build_set(feeds: &[FeedConfig]) -> Result<(IndicatorSet, LoadReport), BuildError> {
    if feeds.is_empty() {
        return Err(BuildError::NoFeeds);
    }
    let mut builder = SetBuilder::new();
    let mut report = LoadReport::default();
    for feed in feeds {
        let loaded = match load(feed) {
            Ok(l) => l,
            Err(e) => {
                report.failed_feeds += 1;
                report.feeds.push(FeedReport {
                    name: feed.display_name(),
                    path: feed.path.clone(),
                    indicators: 0,
                    duplicates: 0,
                    bad_lines: 0,
                    errors: Vec::new(),
                    failure: Some(e),
                });
                continue;
            }
        };
        let domains = loaded
            .entries
            .iter()
            .filter(|e| matches!(e.value, Value::Domain(_)))
            .count();
        builder.reserve(loaded.entries.len(), domains);
        let (dups_before, refused_before) = (builder.duplicates(), builder.refused());
        let indicators = loaded.entries.len();
        for entry in loaded.entries {
            builder.add(&loaded.name, entry.value);
        }
        report.indicators += indicators;
        report.bad_lines += loaded.bad_lines;
        report.feeds.push(FeedReport {
            name: loaded.name,
            path: loaded.path,
            indicators,
            duplicates: builder.duplicates() - dups_before,
            bad_lines: loaded.bad_lines,
            errors: loaded.errors,
            failure: None,
        });
        report.refused += builder.refused() - refused_before;
    }
    let set = builder.build();
    report.distinct = set.len();
    if report.failed_feeds == report.feeds.len() {
        return Err(BuildError::NoneReadable { report });
    }
    if set.is_empty() {
        return Err(BuildError::NoIndicators { report });
    }
    Ok((set, report))
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for feed in &self.feeds {
            if let Some(e) = &feed.failure {
                writeln!(f, "feed {:?}: FAILED: {e}", feed.name)?;
                continue;
            }
            writeln!(
                f,
                "feed {:?} ({}): {} indicators, {} duplicates, {} bad lines",
                feed.name,
                feed.path.display(),
                feed.indicators,
                feed.duplicates,
                feed.bad_lines
            )?;
            for e in &feed.errors {
                writeln!(f, "  {e}")?;
            }
            let unshown = feed.bad_lines.saturating_sub(feed.errors.len());
            if unshown > 0 {
                writeln!(f, "  ... and {unshown} more bad lines")?;
            }
        }
        write!(
            f,
            "total: {} indicators ({} distinct) from {} of {} feeds, {} bad lines",
            self.indicators,
            self.distinct,
            self.feeds.len() - self.failed_feeds,
            self.feeds.len(),
            self.bad_lines
        )?;
        if self.refused > 0 {
            write!(f, ", {} refused (set full)", self.refused)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parallel_parse_matches_the_sequential_one_with_file_line_numbers() {
        let path = std::path::Path::new("big.txt");
        let mut text = String::from("\u{feff}# header\n");
        for i in 0..120_000 {
            match i % 5000 {
                0 => text.push_str("bad..line\n"),
                1 => text.push('\n'),
                _ => text.push_str(&format!("host{i}.example.org\n")),
            }
        }
        assert!(text.len() > super::PARALLEL_PARSE_MIN_BYTES);
        let seq = super::parse_plain_capped(path, &text, 1000);
        let par = super::parse_chunked(path, &text, 1000, super::parse_plain_capped);
        assert_eq!(par.entries, seq.entries);
        assert_eq!(par.errors, seq.errors);
        assert_eq!(par.bad_lines, seq.bad_lines);
        assert_eq!(seq.errors[1].line, 2 + 5000);
    }

    use super::*;
    use crate::indicators::MatchKind;

    fn parse(text: &str) -> (Vec<Entry>, Vec<FeedError>) {
        parse_plain(Path::new("feed.txt"), text)
    }

    /// The single error of a one-line feed.
    fn bad(line: &str) -> FeedError {
        let (entries, errors) = parse(line);
        assert!(entries.is_empty(), "{line:?} loaded as {entries:?}");
        assert_eq!(errors.len(), 1, "{line:?}");
        errors.into_iter().next().unwrap()
    }

    fn good(line: &str) -> Value {
        let (entries, errors) = parse(line);
        assert!(errors.is_empty(), "{line:?}: {errors:?}");
        assert_eq!(entries.len(), 1, "{line:?}");
        entries.into_iter().next().unwrap().value
    }

    fn assert_reason(line: &str, needle: &str) {
        let e = bad(line);
        assert!(
            e.reason.contains(needle),
            "{line:?}: reason {:?} lacks {needle:?}",
            e.reason
        );
        assert_eq!(e.line, 1);
        assert_eq!(e.path, Path::new("feed.txt"));
    }

    #[test]
    fn each_type_is_detected_from_the_text() {
        assert_eq!(good("192.0.2.1"), Value::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(
            good("2001:DB8::1"),
            Value::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            good("::ffff:1.2.3.4"),
            Value::Ip("::ffff:1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            good("10.0.0.0/8"),
            Value::Cidr("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            good("2001:db8::/32"),
            Value::Cidr("2001:db8::/32".parse().unwrap())
        );
        assert_eq!(good("0.0.0.0/0"), Value::Cidr("0.0.0.0/0".parse().unwrap()));
        assert_eq!(good("Evil.COM."), Value::Domain(b"evil.com".to_vec()));
        assert_eq!(
            good("1.2.3.4.example"),
            Value::Domain(b"1.2.3.4.example".to_vec())
        );
        assert_eq!(
            good("a\\007b.example"),
            Value::Domain(b"a\x07b.example".to_vec())
        );
    }

    #[test]
    fn one_label_name_is_accepted() {
        assert_eq!(good("com"), Value::Domain(b"com".to_vec()));
        assert_eq!(good("localhost"), Value::Domain(b"localhost".to_vec()));
    }

    #[test]
    fn comments_blanks_and_whitespace_are_skipped() {
        let (entries, errors) = parse(
            "# header\n\n   \n  evil.com   # trailing comment\n\t1.2.3.4\t#tab comment\n   # indented\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<_> = entries.iter().map(|e| e.line).collect();
        assert_eq!(got, vec![4, 5]);
        assert_eq!(entries[0].value, Value::Domain(b"evil.com".to_vec()));
    }

    #[test]
    fn hash_glued_to_value_is_not_a_comment() {
        assert_reason("evil.com#frag", "'#'");
    }

    #[test]
    fn bom_on_first_line_and_crlf_are_handled() {
        let (entries, errors) = parse("\u{feff}evil.com\r\n1.2.3.4\r\n# c\r\n10.0.0.0/8 # x\r\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].value, Value::Domain(b"evil.com".to_vec()));
        assert_eq!(entries[2].line, 4);
    }

    #[test]
    fn bom_after_line_one_is_a_bad_line() {
        let (entries, errors) = parse("a.com\n\u{feff}b.com\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn bad_ipv4_is_not_taken_for_a_domain() {
        assert_reason("1.2.3.256", "invalid IPv4 address");
        assert_reason("1.2.3", "invalid IPv4 address");
        assert_reason("1.2.3.4.5", "invalid IPv4 address");
        assert_reason("010.1.1.1", "invalid IPv4 address");
    }

    #[test]
    fn bad_ipv6_is_not_taken_for_a_domain() {
        assert_reason("2001:db8::g", "invalid IPv6 address");
        assert_reason("2001:db8:::1", "invalid IPv6 address");
        assert_reason("fe80::1%eth0", "invalid IPv6 address");
    }

    #[test]
    fn all_numeric_last_label_is_refused() {
        assert_reason("host.123", "all digits");
        // an address written with escapes is still not a domain
        assert_reason("\\049.2.3.4", "all digits");
    }

    #[test]
    fn bad_prefix_length_is_refused() {
        assert_reason("10.0.0.0/33", "bad prefix length \"33\": must be 0 to 32");
        assert_reason("2001:db8::/129", "must be 0 to 128");
        assert_reason("10.0.0.0/", "bad prefix length");
        assert_reason("10.0.0.0/x", "bad prefix length");
        assert_reason("10.0.0.0/+8", "bad prefix length");
        assert_reason("10.0.0.0/8/8", "bad prefix length");
    }

    #[test]
    fn bad_address_in_cidr_is_refused() {
        assert_reason(
            "10.0.0.256/24",
            "invalid IPv4 address before the prefix length",
        );
        assert_reason(
            "2001:zz8::/32",
            "invalid IPv6 address before the prefix length",
        );
    }

    #[test]
    fn cidr_with_host_bits_set_is_refused_naming_the_network() {
        assert_reason("10.1.2.3/8", "host bits set");
        assert_reason("10.1.2.3/8", "10.0.0.0/8 is");
        assert_reason("2001:db8::1/64", "2001:db8::/64 is");
    }

    #[test]
    fn bad_domain_char_is_refused() {
        assert_reason("evil,com", "','");
        assert_reason("user@evil.com", "'@'");
        assert_reason("bad name.com", "' '");
        assert_reason("bücher.de", "'ü'");
        assert_reason("evil.com/path", "'/'");
    }

    #[test]
    fn label_too_long_is_refused() {
        assert_reason(&format!("{}.com", "a".repeat(64)), "label longer than 63");
    }

    #[test]
    fn name_too_long_is_refused() {
        assert_reason(&["abcdefghi"; 26].join("."), "name longer than 253");
    }

    #[test]
    fn bad_escape_is_refused() {
        assert_reason("a\\25.com", "bad escape");
        assert_reason("a\\256.com", "bad escape");
        assert_reason("a\\x41.com", "bad escape");
    }

    #[test]
    fn empty_label_is_refused() {
        assert_reason("a..com", "empty label");
        assert_reason(".com", "empty label");
    }

    #[test]
    fn url_instead_of_domain_is_refused() {
        assert_reason("http://evil.com/login", "a URL");
        assert_reason("hxxps://evil.com", "a URL");
    }

    #[test]
    fn long_bad_line_text_is_cut() {
        let e = bad(&format!("{}!", "a".repeat(300)));
        assert_eq!(e.text.chars().count(), MAX_ERROR_TEXT_CHARS + 3);
        assert!(e.text.ends_with("..."));
    }

    #[test]
    fn good_lines_around_bad_ones_load_with_their_line_numbers() {
        let text = "\
# feed
evil.com
1.2.3.256
10.0.0.0/8

10.1.2.3/8
2001:db8::1 # v6
http://x.com/
bad..name
good.example
";
        let (entries, errors) = parse(text);
        let lines: Vec<_> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 7, 10]);
        let bad: Vec<_> = errors.iter().map(|e| (e.line, e.text.as_str())).collect();
        assert_eq!(
            bad,
            vec![
                (3, "1.2.3.256"),
                (6, "10.1.2.3/8"),
                (8, "http://x.com/"),
                (9, "bad..name")
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "feed.txt:3: invalid IPv4 address: \"1.2.3.256\""
        );
    }

    // ---- load / build_set ----

    fn write_feed(dir: &Path, file: &str, text: &[u8]) -> FeedConfig {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        FeedConfig::from_path(path)
    }

    #[test]
    fn load_reads_and_names_the_feed() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(dir.path(), "bad-hosts.txt", b"evil.com\nnope..x\n");
        let loaded = load(&feed).unwrap();
        assert_eq!(loaded.name, "bad-hosts");
        assert_eq!(loaded.entries.len(), 1);
        assert_eq!(loaded.bad_lines, 1);
        assert_eq!(loaded.errors[0].path, feed.path);
    }

    #[test]
    fn unreadable_feed_is_an_error_with_path_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let feed = FeedConfig::from_path(dir.path().join("missing.txt"));
        let e = load(&feed).unwrap_err();
        assert_eq!(e.path(), feed.path);
        let msg = e.to_string();
        assert!(
            msg.contains("missing.txt") && msg.contains("No such file"),
            "{msg}"
        );
        // a directory opens but does not read
        let e = load(&FeedConfig::from_path(dir.path().to_owned())).unwrap_err();
        assert!(matches!(e, FeedLoadError::Read { .. }), "{e}");
    }

    #[test]
    fn non_utf8_bytes_spoil_only_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(dir.path(), "f.txt", b"a.com\nb\xff.com\nc.com\n");
        let loaded = load(&feed).unwrap();
        assert_eq!(loaded.entries.len(), 2);
        assert_eq!(loaded.errors[0].line, 2);
        assert_eq!(loaded.errors[0].reason, "not valid UTF-8");
    }

    #[test]
    fn kept_errors_are_capped_but_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x..y\n".repeat(MAX_KEPT_ERRORS_PER_FEED + 5) + "ok.com\n";
        let feed = write_feed(dir.path(), "f.txt", text.as_bytes());
        let loaded = load(&feed).unwrap();
        assert_eq!(loaded.errors.len(), MAX_KEPT_ERRORS_PER_FEED);
        assert_eq!(loaded.bad_lines, MAX_KEPT_ERRORS_PER_FEED + 5);
        assert_eq!(loaded.entries.len(), 1);
    }

    #[test]
    fn build_set_merges_feeds_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"evil.com\n10.0.0.0/8\n1.2.3.999\n");
        let b = write_feed(dir.path(), "b.txt", b"EVIL.com\nbad.org\n");
        let (set, report) = build_set(&[a, b]).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!((report.indicators, report.distinct), (4, 3));
        assert_eq!((report.bad_lines, report.failed_feeds), (1, 0));
        assert_eq!(report.feeds[0].name, "a");
        assert_eq!(report.feeds[0].errors[0].line, 3);
        assert_eq!(
            (report.feeds[1].indicators, report.feeds[1].duplicates),
            (2, 1)
        );
        // the earlier feed's indicator wins a duplicate
        let m = set.match_domain(b"x.evil.com").unwrap();
        assert_eq!((&*m.indicator.feed, m.kind), ("a", MatchKind::Subdomain));
        assert_eq!(&*set.match_domain(b"bad.org").unwrap().indicator.feed, "b");
        let shown = report.to_string();
        assert!(
            shown.contains("total: 4 indicators (3 distinct) from 2 of 2 feeds"),
            "{shown}"
        );
    }

    #[test]
    fn unreadable_feed_among_good_ones_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_feed(dir.path(), "good.txt", b"evil.com\n");
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let (set, report) = build_set(&[gone, good]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(report.failed_feeds, 1);
        assert!(report.feeds[0].failure.is_some());
        assert!(
            report.to_string().contains("feed \"gone\": FAILED"),
            "{report}"
        );
    }

    #[test]
    fn no_readable_feed_is_a_build_error_with_report() {
        let dir = tempfile::tempdir().unwrap();
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let e = build_set(&[gone]).unwrap_err();
        assert!(matches!(e, BuildError::NoneReadable { .. }), "{e}");
        assert!(e.to_string().starts_with("no usable feed"), "{e}");
        assert_eq!(e.report().unwrap().failed_feeds, 1);
    }

    #[test]
    fn zero_indicators_in_total_is_a_build_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write_feed(dir.path(), "empty.txt", b"# nothing yet\n");
        let broken = write_feed(dir.path(), "broken.txt", b"1.2.3.256\n");
        let e = build_set(&[empty, broken]).unwrap_err();
        assert!(matches!(e, BuildError::NoIndicators { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "no usable feed: 2 feeds read but 0 indicators loaded (1 bad lines)"
        );
        assert_eq!(e.report().unwrap().feeds[1].errors.len(), 1);
    }

    #[test]
    fn no_feeds_configured_is_a_build_error() {
        let e = build_set(&[]).unwrap_err();
        assert!(matches!(e, BuildError::NoFeeds));
        assert!(e.report().is_none());
    }

    #[test]
    fn named_feed_uses_its_configured_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut feed = write_feed(dir.path(), "x.txt", b"evil.com\n");
        feed.name = Some("abuse-ch".to_owned());
        let (set, report) = build_set(&[feed]).unwrap();
        assert_eq!(report.feeds[0].name, "abuse-ch");
        assert_eq!(
            &*set.match_domain(b"evil.com").unwrap().indicator.feed,
            "abuse-ch"
        );
    }
}
