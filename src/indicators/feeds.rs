//! Loading feeds into an indicator set: reading files, running the format parsers (see
//! [`super::formats`]), applying the feed's defaults and policy, and reporting what happened per
//! feed.
//!
//! # Policy
//!
//! - **Context**: an entry's own fields override the feed's defaults from the config; its tags
//!   are added to the feed's. Equal contexts are stored once ([`SetBuilder::context`]).
//! - **Over-broad values** are refused with a warning unless the feed sets `allow_broad`: a
//!   public suffix alone in `subdomain` mode (`com`, `co.uk`, `github.io`: it would match every
//!   name under it; the Public Suffix List via the `psl` crate, whose default rule makes every
//!   unlisted one-label name a suffix too), and CIDRs shorter than /8 (IPv4) or /16 (IPv6).
//! - **Duplicates** within a feed are counted; the first entry stays.
//! - **Validity** is not applied here: an entry already expired is kept (a replay of an old
//!   capture needs it) and counted in [`FeedReport::expired_now`].
//!
//! # Failure
//!
//! A bad entry is reported with its file and line (or object id) and the good ones load. A feed
//! fails as a whole when its file cannot be read or its parser rejects the file. At startup
//! ([`build_set`]) a failed feed is reported and the others load; only "no usable feed" is a
//! [`BuildError`]. On reload ([`rebuild`]) a failed feed — or one that shrank by more than its
//! `max_shrink` fraction — keeps its entries from the previous set ("last good"), and the report
//! says so.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::formats::{self, FeedSink, Location};
use super::set::{canonical_net, Added, ContextId, IndicatorSet, SetBuilder};
use super::{parse_time, value, Context, Fields, IndicatorType, MatchMode, Value};
use crate::config::{FeedConfig, FeedFormat};

/// Largest feed file read. A 1M-domain feed is about 30 MB; this leaves room for a 10M-entry
/// feed while keeping a wrong path (a device, a disk image, `/dev/zero`) from exhausting memory.
pub const MAX_FEED_BYTES: u64 = 1024 * 1024 * 1024;

/// Problems (bad entries, refused values) kept per feed in its report; the rest are counted.
/// Enough to see what is wrong with a feed; a file in the wrong format would otherwise hold one
/// message per line in memory and in the log.
pub const MAX_KEPT_ERRORS_PER_FEED: usize = 1000;

/// Shortest IPv4 prefix accepted without `allow_broad`: a /8 is already 16M addresses.
pub const MIN_V4_PREFIX: u8 = 8;
/// Shortest IPv6 prefix accepted without `allow_broad`: /16 is the size of the largest
/// allocations in the global unicast space.
pub const MIN_V6_PREFIX: u8 = 16;

/// An entry that could not be used, located in its feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{at}: {reason}: {text:?}", path.display())]
pub struct FeedError {
    pub path: PathBuf,
    /// The 1-based line, or the object id for formats without useful lines.
    pub at: String,
    /// The offending text, trimmed and cut to a readable length.
    pub text: String,
    pub reason: String,
}

/// What happened to one feed.
#[derive(Debug, Clone)]
pub struct FeedReport {
    pub name: String,
    pub path: PathBuf,
    pub format: FeedFormat,
    /// Good entries read (duplicates included, refused values not).
    pub entries: usize,
    /// Indicators stored, by type: ipv4, ipv6, cidr, domain.
    pub by_type: [usize; 4],
    /// Entries the feed had already listed.
    pub duplicates: usize,
    /// Entries refused as over-broad (see the module doc).
    pub too_broad: usize,
    /// Bad entries.
    pub bad: usize,
    /// The first [`MAX_KEPT_ERRORS_PER_FEED`] bad and refused entries.
    pub errors: Vec<FeedError>,
    /// Well-formed entries not used, by reason (`"zeek Intel::URL"`, `"stix revoked"`...).
    pub skipped: BTreeMap<String, usize>,
    /// Stored entries whose `valid_until` had passed when the feed was loaded.
    pub expired_now: usize,
    /// Entries not stored because the set was full; zero in practice.
    pub refused: usize,
    /// Why the feed could not be used this time.
    pub failure: Option<String>,
    /// On reload, entries kept from the previous set because of `failure`.
    pub kept_last_good: Option<usize>,
    pub duration: Duration,
}

impl FeedReport {
    fn new(feed: &FeedConfig) -> Self {
        FeedReport {
            name: feed.display_name(),
            path: feed.path.clone(),
            format: feed.format,
            entries: 0,
            by_type: [0; 4],
            duplicates: 0,
            too_broad: 0,
            bad: 0,
            errors: Vec::new(),
            skipped: BTreeMap::new(),
            expired_now: 0,
            refused: 0,
            failure: None,
            kept_last_good: None,
            duration: Duration::ZERO,
        }
    }

    /// Indicators of this feed in the built set.
    pub fn stored(&self) -> usize {
        self.by_type.iter().sum::<usize>() + self.kept_last_good.unwrap_or(0)
    }

    /// Usable: read and parsed, or kept from the last good load.
    pub fn usable(&self) -> bool {
        self.failure.is_none() || self.kept_last_good.is_some()
    }

    /// Entries skipped, all reasons.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// The one-line summary logged per feed on every load.
    pub fn summary(&self) -> String {
        let mut s = format!("feed {:?}: ", self.name);
        match (&self.failure, self.kept_last_good) {
            (Some(why), Some(kept)) => {
                s += &format!("FAILED ({why}); kept {kept} last good entries");
            }
            (Some(why), None) => s += &format!("FAILED ({why}); no entries"),
            (None, _) => {
                let [v4, v6, cidr, dom] = self.by_type;
                s += &format!(
                    "{} indicators (ipv4 {v4}, ipv6 {v6}, cidr {cidr}, domain {dom}), {} duplicates, {} bad, {} too broad, {} skipped",
                    self.stored(),
                    self.duplicates,
                    self.bad,
                    self.too_broad,
                    self.skipped_total()
                );
                if self.expired_now > 0 {
                    s += &format!(", {} already expired", self.expired_now);
                }
            }
        }
        s += &format!(
            ", {:.3}s, {} from {}",
            self.duration.as_secs_f64(),
            format_name(self.format),
            self.path.display()
        );
        s
    }
}

fn format_name(f: FeedFormat) -> &'static str {
    match f {
        FeedFormat::Plain => "plain",
        FeedFormat::Csv => "csv",
        FeedFormat::Zeek => "zeek",
        FeedFormat::Stix => "stix",
        FeedFormat::Misp => "misp",
        FeedFormat::MispCsv => "misp_csv",
    }
}

/// What a load or reload did, per feed and in total. `Display` prints it for an operator.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub feeds: Vec<FeedReport>,
    /// Indicators in the built set.
    pub indicators: usize,
    /// Distinct contexts in the built set.
    pub contexts: usize,
    pub duration: Duration,
}

impl LoadReport {
    /// Feeds that failed (whether or not they kept last good entries).
    pub fn failed_feeds(&self) -> usize {
        self.feeds.iter().filter(|f| f.failure.is_some()).count()
    }

    /// Bad entries over all feeds.
    pub fn bad(&self) -> usize {
        self.feeds.iter().map(|f| f.bad).sum()
    }
}

/// No usable feed: the daemon cannot start matching. The report says why, feed by feed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no usable feed: no feeds configured")]
    NoFeeds,
    #[error("no usable feed: none of the {} feeds could be read", report.feeds.len())]
    NoneReadable { report: LoadReport },
    #[error(
        "no usable feed: {} feeds read but 0 indicators loaded ({} bad entries)",
        report.feeds.len() - report.failed_feeds(),
        report.bad()
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

/// Load every feed into one set at startup. Feeds are added in order, so on a tie between
/// feeds the earlier one ranks first.
pub fn build_set(feeds: &[FeedConfig]) -> Result<(IndicatorSet, LoadReport), BuildError> {
    if feeds.is_empty() {
        return Err(BuildError::NoFeeds);
    }
    let (set, report) = build(feeds, None);
    if report.failed_feeds() == report.feeds.len() {
        return Err(BuildError::NoneReadable { report });
    }
    if set.is_empty() {
        return Err(BuildError::NoIndicators { report });
    }
    Ok((set, report))
}

/// Rebuild the set from every feed for a reload. Never fails: a feed that cannot be used keeps
/// its entries from `previous` (see the module doc), so the worst case is `previous` again.
pub fn rebuild(feeds: &[FeedConfig], previous: &IndicatorSet) -> (IndicatorSet, LoadReport) {
    build(feeds, Some(previous))
}

fn build(feeds: &[FeedConfig], previous: Option<&IndicatorSet>) -> (IndicatorSet, LoadReport) {
    let started = Instant::now();
    let now_us = now_us();
    let mut builder = SetBuilder::new();
    let mut report = LoadReport::default();
    for feed in feeds {
        let t = Instant::now();
        let mut r = FeedReport::new(feed);
        let prev = previous.map_or(0, |p| p.feed_len(&r.name));
        if let Err(why) = load_feed(feed, prev, &mut builder, &mut r, now_us) {
            r.failure = Some(why);
            if let (Some(p), true) = (previous, prev > 0) {
                let mut kept = 0;
                p.for_each_of_feed(&r.name, |value, ctx, mode| {
                    let c = builder.context(ctx.clone());
                    if builder.add(value, c, mode) == Added::Yes {
                        kept += 1;
                    }
                });
                r.kept_last_good = Some(kept);
            }
        }
        r.duration = t.elapsed();
        report.feeds.push(r);
    }
    let set = builder.build();
    report.indicators = set.len();
    report.contexts = set.contexts_len();
    report.duration = started.elapsed();
    (set, report)
}

/// Read and parse one feed into `builder`. `Err` means the feed is unusable this time: nothing
/// of it was added (a shrink is checked by a counting pass before anything is added).
fn load_feed(
    feed: &FeedConfig,
    prev: usize,
    builder: &mut SetBuilder,
    report: &mut FeedReport,
    now_us: i64,
) -> Result<(), String> {
    let text = match feed.format {
        FeedFormat::Misp if feed.path.is_dir() => None,
        _ => Some(read_text(&feed.path)?),
    };
    let base = base_context(feed, builder);
    if prev > 0 {
        // A counting pass first: the text is parsed twice on reload, but a feed that shrank is
        // known before any of it is added, with no copy of its entries held meanwhile.
        let mut count = FeedReport::new(feed);
        let mut counter = Loader::new(feed, base.clone(), None, &mut count, now_us);
        parse(feed, text.as_deref(), &mut counter)?;
        let n = count.entries;
        if (n as f64) < prev as f64 * (1.0 - feed.max_shrink) {
            return Err(format!(
                "shrank from {prev} to {n} entries, more than max_shrink = {}",
                feed.max_shrink
            ));
        }
    } else if let (FeedFormat::Plain, Some(t)) = (feed.format, &text) {
        let (lines, names, name_bytes) = estimate(t);
        builder.reserve(lines, names, name_bytes);
    }
    let mut loader = Loader::new(feed, base, Some(builder), report, now_us);
    parse(feed, text.as_deref(), &mut loader)
}

fn parse(feed: &FeedConfig, text: Option<&str>, out: &mut dyn FeedSink) -> Result<(), String> {
    let Some(text) = text else {
        return formats::misp::parse_dir(&feed.path, feed, out);
    };
    match feed.format {
        FeedFormat::Plain => {
            parse_plain(text, out);
            Ok(())
        }
        FeedFormat::Csv => formats::csv::parse(text, feed, out),
        FeedFormat::Zeek => formats::zeek::parse(text, feed, out),
        FeedFormat::Stix => formats::stix::parse(text, feed, out),
        FeedFormat::Misp => formats::misp::parse(text, feed, out),
        FeedFormat::MispCsv => formats::misp_csv::parse(text, feed, out),
    }
}

/// The whole file as text, bounded by [`MAX_FEED_BYTES`]. Bytes that are not UTF-8 become
/// U+FFFD, which spoils only their entry.
fn read_text(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    // sized from the metadata to avoid regrowing; the `take` below is what enforces the limit
    let size = file.metadata().map_or(0, |m| m.len()).min(MAX_FEED_BYTES);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(format!("larger than {MAX_FEED_BYTES} bytes"));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Names a plain feed will add, estimated from its first lines, so the name table is sized once
/// (growing it by doubling holds the old and the new table at once).
/// (lines, names, name bytes) of a plain feed, extrapolated from its first 64 KiB, to size the
/// set's tables and arena once: growing them by doubling copies them and, for a while, holds
/// both copies.
fn estimate(text: &str) -> (usize, usize, usize) {
    const SAMPLE: usize = 64 * 1024;
    let mut end = SAMPLE.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = text.get(..end).unwrap_or(text);
    let (mut lines, mut names, mut bytes) = (0usize, 0usize, 0usize);
    for l in sample.lines() {
        lines += 1;
        if l.bytes().any(|b| b.is_ascii_alphabetic()) && !l.contains(':') && !l.starts_with('#') {
            names += 1;
            bytes += l.trim().len();
        }
    }
    if lines == 0 || sample.is_empty() {
        return (0, 0, 0);
    }
    let scale = |n: usize| (n as f64 * text.len() as f64 / sample.len() as f64) as usize;
    (scale(lines), scale(names), scale(bytes))
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The feed's default context.
fn base_context(feed: &FeedConfig, builder: &mut SetBuilder) -> Context {
    let time = |v: &Option<String>| v.as_deref().and_then(|t| parse_time(t).ok());
    Context {
        feed: builder.feed_name(&feed.display_name()),
        confidence: feed.confidence,
        severity: feed.severity,
        tags: feed.tags.iter().map(|t| Arc::from(t.as_str())).collect(),
        description: feed.description.as_deref().map(Arc::from),
        reference: feed.reference.as_deref().map(Arc::from),
        valid_from: time(&feed.valid_from),
        valid_until: time(&feed.valid_until),
        action: feed.action,
        id: None,
    }
}

/// `base` overridden by an entry's own fields.
fn resolve(base: &Context, f: Fields) -> Context {
    let mut c = base.clone();
    if f.confidence.is_some() {
        c.confidence = f.confidence;
    }
    if let Some(s) = f.severity {
        c.severity = s;
    }
    for t in f.tags {
        if !c.tags.iter().any(|x| **x == *t) {
            c.tags.push(Arc::from(t));
        }
    }
    if let Some(d) = f.description {
        c.description = Some(Arc::from(d));
    }
    if let Some(r) = f.reference {
        c.reference = Some(Arc::from(r));
    }
    if f.valid_from.is_some() {
        c.valid_from = f.valid_from;
    }
    if f.valid_until.is_some() {
        c.valid_until = f.valid_until;
    }
    if let Some(a) = f.action {
        c.action = a;
    }
    c.id = f.id.map(Arc::from);
    c
}

/// Why a value would match too much, if it would.
fn too_broad(value: &Value, mode: MatchMode) -> Option<String> {
    match value {
        Value::Domain(name) if mode == MatchMode::Subdomain && is_public_suffix(name) => Some(
            "a public suffix: in subdomain mode it matches every name under it (use match = \"exact\", or allow_broad = true)".to_owned(),
        ),
        Value::Cidr(net) => match canonical_net(*net) {
            IpNet::V4(n) if n.prefix_len() < MIN_V4_PREFIX => Some(format!(
                "prefix shorter than /{MIN_V4_PREFIX} matches too much (allow_broad = true accepts it)"
            )),
            IpNet::V6(n) if n.prefix_len() < MIN_V6_PREFIX => Some(format!(
                "prefix shorter than /{MIN_V6_PREFIX} matches too much (allow_broad = true accepts it)"
            )),
            _ => None,
        },
        _ => None,
    }
}

/// The whole name is a public suffix (`com`, `co.uk`, `github.io`, any unlisted one-label name).
fn is_public_suffix(name: &[u8]) -> bool {
    psl::suffix(name).is_some_and(|s| s.as_bytes().len() == name.len())
}

/// The sink that applies policy and fills the builder (or only counts, when it has none).
struct Loader<'a> {
    feed: &'a FeedConfig,
    base: Context,
    /// Interned `base`, made on first use.
    base_id: Option<ContextId>,
    builder: Option<&'a mut SetBuilder>,
    report: &'a mut FeedReport,
    now_us: i64,
}

impl<'a> Loader<'a> {
    fn new(
        feed: &'a FeedConfig,
        base: Context,
        builder: Option<&'a mut SetBuilder>,
        report: &'a mut FeedReport,
        now_us: i64,
    ) -> Self {
        Loader {
            feed,
            base,
            base_id: None,
            builder,
            report,
            now_us,
        }
    }

    fn problem(&mut self, at: Location<'_>, reason: &str, text: &str) {
        if self.report.errors.len() < MAX_KEPT_ERRORS_PER_FEED {
            self.report.errors.push(FeedError {
                path: self.feed.path.clone(),
                at: at.to_string(),
                text: value::cut(text.trim()),
                reason: reason.to_owned(),
            });
        }
    }
}

impl FeedSink for Loader<'_> {
    fn warm_name(&mut self, name: &[u8]) {
        if let Some(b) = self.builder.as_deref() {
            std::hint::black_box(b.warm_name(name));
        }
    }

    fn warm_ip(&mut self, ip: std::net::IpAddr) {
        if let Some(b) = self.builder.as_deref() {
            std::hint::black_box(b.warm_ip(ip));
        }
    }

    fn entry_name(&mut self, at: Location<'_>, name: &[u8]) {
        let mode = self.feed.match_mode;
        if !self.feed.allow_broad && mode == MatchMode::Subdomain && is_public_suffix(name) {
            return self.entry(at, Value::Domain(name.to_vec()), Fields::default());
        }
        self.report.entries += 1;
        let Some(builder) = self.builder.as_deref_mut() else {
            return;
        };
        let ctx = *self
            .base_id
            .get_or_insert_with(|| builder.context(self.base.clone()));
        match builder.add_name(name, ctx, mode) {
            Added::Yes => self.report.by_type[3] += 1,
            Added::Duplicate => self.report.duplicates += 1,
            Added::Refused => self.report.refused += 1,
        }
        if self.base.valid_until.is_some_and(|u| u <= self.now_us) {
            self.report.expired_now += 1;
        }
    }

    fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
        let mode = fields.match_mode.unwrap_or(self.feed.match_mode);
        if !self.feed.allow_broad {
            if let Some(why) = too_broad(&value, mode) {
                self.report.too_broad += 1;
                let text = match &value {
                    Value::Domain(n) => crate::name::escape(n),
                    Value::Cidr(n) => n.to_string(),
                    Value::Ip(a) => a.to_string(),
                };
                self.problem(at, &why, &text);
                return;
            }
        }
        self.report.entries += 1;
        let Some(builder) = self.builder.as_deref_mut() else {
            return;
        };
        let kind = value.kind();
        let ctx = if fields == Fields::default() {
            *self
                .base_id
                .get_or_insert_with(|| builder.context(self.base.clone()))
        } else {
            builder.context(resolve(&self.base, fields))
        };
        match builder.add(value, ctx, mode) {
            Added::Yes => {
                let i = match kind {
                    IndicatorType::Ipv4 => 0,
                    IndicatorType::Ipv6 => 1,
                    IndicatorType::Cidr => 2,
                    IndicatorType::Domain => 3,
                };
                self.report.by_type[i] += 1;
            }
            Added::Duplicate => self.report.duplicates += 1,
            Added::Refused => self.report.refused += 1,
        }
        if builder
            .context_of(ctx)
            .valid_until
            .is_some_and(|u| u <= self.now_us)
        {
            self.report.expired_now += 1;
        }
    }

    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
        self.report.bad += 1;
        self.problem(at, reason, text);
    }

    fn skipped(&mut self, _at: Location<'_>, what: &str) {
        match self.report.skipped.get_mut(what) {
            Some(n) => *n += 1,
            None => {
                self.report.skipped.insert(what.to_owned(), 1);
            }
        }
    }
}

/// Feeds smaller than this are parsed on the calling thread; larger ones are cut into chunks at
/// line boundaries, parsed on other threads and added in file order by this one (parsing is
/// about a third of the load time of a 1M-domain feed; see BENCHMARKS.md).
const PARALLEL_PARSE_MIN_BYTES: usize = 1 << 20;

/// Chunk size of the parallel parse: small enough that the parsed entries waiting to be added
/// stay a few MiB, large enough to amortise a channel operation.
const PARSE_CHUNK_BYTES: usize = 256 * 1024;

/// Names looked up ahead of the one being added (see [`SetBuilder::warm_name`]): enough misses in
/// flight to use the memory system's parallelism, few enough to stay in cache.
const WARM_AHEAD: usize = 16;

/// Chunks parsed ahead of the one being added, per parser thread.
const PARSE_CHUNKS_AHEAD: usize = 2;

/// A plain feed, in parallel when it is large; entries reach `out` in file order.
fn parse_plain(text: &str, out: &mut dyn FeedSink) {
    if text.len() < PARALLEL_PARSE_MIN_BYTES {
        formats::plain::parse(text, 1, out);
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
        line += chunk.bytes().filter(|&b| b == b'\n').count();
        start = end;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, 8);
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(threads);
        for t in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Collected>(PARSE_CHUNKS_AHEAD);
            let mine: Vec<(usize, &str)> =
                chunks.iter().copied().skip(t).step_by(threads).collect();
            s.spawn(move || {
                for (line, chunk) in mine {
                    let mut c = Collected::default();
                    formats::plain::parse(chunk, line, &mut c);
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
                            Item::Name(_, off, len) => {
                                out.warm_name(c.names.get(off..off + len).unwrap_or_default())
                            }
                            Item::Entry(_, Value::Ip(ip)) => out.warm_ip(ip),
                            _ => {}
                        }
                    }
                }
                match item {
                    Item::Entry(line, v) => {
                        out.entry(Location::Line(*line), v.clone(), Fields::default())
                    }
                    Item::Name(line, off, len) => {
                        let name = c.names.get(*off..off + len).unwrap_or_default();
                        out.entry_name(Location::Line(*line), name);
                    }
                    Item::Bad(line, reason, text) => out.bad(Location::Line(*line), reason, text),
                }
            }
        }
    });
}

enum Item {
    Entry(usize, Value),
    /// A name in `Collected::names[off..off + len]`: one buffer per chunk instead of a `Vec` per
    /// name, allocated on one thread and freed on another.
    Name(usize, usize, usize),
    Bad(usize, String, String),
}

/// What a plain-parser thread found in one chunk.
#[derive(Default)]
struct Collected {
    items: Vec<Item>,
    names: Vec<u8>,
}

impl FeedSink for Collected {
    fn entry(&mut self, at: Location<'_>, value: Value, _fields: Fields) {
        let Location::Line(l) = at else { return };
        match value {
            Value::Domain(name) => {
                self.items.push(Item::Name(l, self.names.len(), name.len()));
                self.names.extend_from_slice(&name);
            }
            v => self.items.push(Item::Entry(l, v)),
        }
    }
    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
        if let Location::Line(l) = at {
            self.items
                .push(Item::Bad(l, reason.to_owned(), value::cut(text)));
        }
    }
    fn skipped(&mut self, _: Location<'_>, _: &str) {}
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for feed in &self.feeds {
            writeln!(f, "{}", feed.summary())?;
            for (what, n) in &feed.skipped {
                writeln!(f, "  skipped {n}: {what}")?;
            }
            for e in &feed.errors {
                writeln!(f, "  {e}")?;
            }
            let unshown = (feed.bad + feed.too_broad).saturating_sub(feed.errors.len());
            if unshown > 0 {
                writeln!(f, "  ... and {unshown} more problems not shown")?;
            }
        }
        write!(
            f,
            "total: {} indicators ({} contexts) from {} of {} feeds in {:.3}s",
            self.indicators,
            self.contexts,
            self.feeds.iter().filter(|r| r.usable()).count(),
            self.feeds.len(),
            self.duration.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{Action, MatchKind, Severity};

    fn write_feed(dir: &Path, file: &str, text: &[u8]) -> FeedConfig {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        FeedConfig::from_path(path)
    }

    fn feed_of<'a>(set: &'a IndicatorSet, name: &[u8]) -> Option<&'a str> {
        set.best_domain(name).map(|m| &*m.context.feed)
    }

    #[test]
    fn build_set_merges_feeds_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(
            dir.path(),
            "a.txt",
            b"evil.com\n10.0.0.0/8\n1.2.3.999\nevil.com\n",
        );
        let b = write_feed(dir.path(), "b.txt", b"EVIL.com\nbad.org\n");
        let (set, report) = build_set(&[a, b]).unwrap();
        // evil.com is in both feeds: two indicators
        assert_eq!(set.len(), 4);
        assert_eq!(report.indicators, 4);
        assert_eq!((report.bad(), report.failed_feeds()), (1, 0));
        let fa = &report.feeds[0];
        assert_eq!(fa.name, "a");
        assert_eq!(
            (fa.entries, fa.duplicates, fa.by_type),
            (3, 1, [0, 0, 1, 1])
        );
        assert_eq!(fa.errors[0].at, "3");
        assert!(
            fa.errors[0]
                .to_string()
                .ends_with("a.txt:3: invalid IPv4 address: \"1.2.3.999\""),
            "{}",
            fa.errors[0]
        );
        // on a tie the earlier feed ranks first
        let m = set.best_domain(b"x.evil.com").unwrap();
        assert_eq!((&*m.context.feed, m.kind), ("a", MatchKind::Subdomain));
        assert_eq!(feed_of(&set, b"bad.org"), Some("b"));
        let shown = report.to_string();
        assert!(
            shown.contains("total: 4 indicators (2 contexts) from 2 of 2 feeds"),
            "{shown}"
        );
        assert!(
            shown.contains(
                "feed \"a\": 2 indicators (ipv4 0, ipv6 0, cidr 1, domain 1), 1 duplicates, 1 bad"
            ),
            "{shown}"
        );
    }

    #[test]
    fn feed_defaults_become_the_context_of_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = write_feed(dir.path(), "c2.txt", b"evil.com\n");
        f.name = Some("abuse-ch".into());
        f.severity = Severity::High;
        f.confidence = Some(80);
        f.tags = vec!["c2".into(), "botnet".into()];
        f.description = Some("C2 servers".into());
        f.reference = Some("https://example.org/c2".into());
        f.valid_until = Some("2030-01-01".into());
        f.match_mode = MatchMode::Exact;
        let (set, report) = build_set(&[f]).unwrap();
        assert_eq!(report.feeds[0].name, "abuse-ch");
        let m = set.best_domain(b"evil.com").unwrap();
        let c = m.context;
        assert_eq!(&*c.feed, "abuse-ch");
        assert_eq!((c.severity, c.confidence), (Severity::High, Some(80)));
        let tags: Vec<&str> = c.tags.iter().map(|t| &**t).collect();
        assert_eq!(tags, ["c2", "botnet"]);
        assert_eq!(c.description.as_deref(), Some("C2 servers"));
        assert_eq!(c.valid_until, Some(parse_time("2030-01-01").unwrap()));
        // exact mode: a subdomain does not match
        assert!(set.best_domain(b"a.evil.com").is_none());
    }

    #[test]
    fn entry_fields_override_the_feed_and_add_tags() {
        let mut b = SetBuilder::new();
        let mut f = FeedConfig::from_path("f.csv".into());
        f.tags = vec!["feedtag".into()];
        f.severity = Severity::Low;
        let base = base_context(&f, &mut b);
        let fields = Fields {
            confidence: Some(90),
            severity: Some(Severity::Critical),
            tags: vec!["emotet".into(), "feedtag".into()],
            description: Some("Emotet C2".into()),
            action: Some(Action::Allow),
            match_mode: Some(MatchMode::Exact),
            id: Some("x-1".into()),
            ..Fields::default()
        };
        let c = resolve(&base, fields);
        let tags: Vec<&str> = c.tags.iter().map(|t| &**t).collect();
        assert_eq!(tags, ["feedtag", "emotet"]);
        assert_eq!(
            (c.severity, c.confidence, c.action),
            (Severity::Critical, Some(90), Action::Allow)
        );
        assert_eq!(c.id.as_deref(), Some("x-1"));
        // the base is untouched and interned once for plain entries
        assert_eq!(base.severity, Severity::Low);
    }

    #[test]
    fn over_broad_values_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"com\nco.uk\ngithub.io\nevil.github.io\n0.0.0.0/0\n10.0.0.0/7\n10.0.0.0/8\n::/0\n2000::/15\n2001:db8::/32\n::ffff:0:0/96\n";
        let f = write_feed(dir.path(), "f.txt", text);
        let (set, report) = build_set(std::slice::from_ref(&f)).unwrap();
        let r = &report.feeds[0];
        assert_eq!(r.too_broad, 8, "{:?}", r.errors);
        let refused: Vec<&str> = r.errors.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(refused, ["1", "2", "3", "5", "6", "8", "9", "11"]);
        assert!(
            r.errors[0].reason.contains("public suffix"),
            "{}",
            r.errors[0]
        );
        assert!(
            r.errors[3].reason.contains("shorter than /8"),
            "{}",
            r.errors[3]
        );
        assert_eq!(set.len(), 3);
        // exact mode makes a public suffix harmless
        let mut exact = f.clone();
        exact.match_mode = MatchMode::Exact;
        let (_, report) = build_set(&[exact]).unwrap();
        assert_eq!(report.feeds[0].too_broad, 5);
        let mut broad = f;
        broad.allow_broad = true;
        let (set, report) = build_set(&[broad]).unwrap();
        // ::ffff:0:0/96 is 0.0.0.0/0 again: a duplicate
        assert_eq!(
            (report.feeds[0].too_broad, report.feeds[0].duplicates),
            (0, 1)
        );
        assert_eq!(set.len(), 10);
    }

    #[test]
    fn unreadable_feed_among_good_ones_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_feed(dir.path(), "good.txt", b"evil.com\n");
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let (set, report) = build_set(&[gone, good]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(report.failed_feeds(), 1);
        let why = report.feeds[0].failure.as_deref().unwrap();
        assert!(why.contains("No such file"), "{why}");
        assert!(
            report
                .to_string()
                .contains("feed \"gone\": FAILED (cannot read"),
            "{report}"
        );
    }

    #[test]
    fn non_utf8_bytes_spoil_only_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(dir.path(), "f.txt", b"a.com\nb\xff.com\nc.com\n");
        let (set, report) = build_set(&[feed]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(report.feeds[0].errors[0].at, "2");
        assert_eq!(report.feeds[0].errors[0].reason, "not valid UTF-8");
    }

    #[test]
    fn kept_errors_are_capped_but_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x..y\n".repeat(MAX_KEPT_ERRORS_PER_FEED + 5) + "ok.com\n";
        let feed = write_feed(dir.path(), "f.txt", text.as_bytes());
        let (set, report) = build_set(&[feed]).unwrap();
        assert_eq!(report.feeds[0].errors.len(), MAX_KEPT_ERRORS_PER_FEED);
        assert_eq!(report.feeds[0].bad, MAX_KEPT_ERRORS_PER_FEED + 5);
        assert_eq!(set.len(), 1);
        assert!(report
            .to_string()
            .contains("... and 5 more problems not shown"));
    }

    #[test]
    fn no_readable_feed_is_a_build_error_with_report() {
        let dir = tempfile::tempdir().unwrap();
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let e = build_set(&[gone]).unwrap_err();
        assert!(matches!(e, BuildError::NoneReadable { .. }), "{e}");
        assert!(e.to_string().starts_with("no usable feed"), "{e}");
        assert_eq!(e.report().unwrap().failed_feeds(), 1);
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
            "no usable feed: 2 feeds read but 0 indicators loaded (1 bad entries)"
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
        let (set, report) = build_set(&[f]).unwrap();
        let r = &report.feeds[0];
        assert_eq!(r.bad, 24);
        // line numbers are those of the whole file, in order
        let lines: Vec<usize> = r.errors.iter().map(|e| e.at.parse().unwrap()).collect();
        let want: Vec<usize> = (0..24).map(|k| 2 + k * 5000).collect();
        assert_eq!(lines, want);
        assert_eq!(set.len(), 120_000 - 48);
        assert!(set.best_domain(b"host119999.example.org").is_some());
    }

    // ---- reload ----

    #[test]
    fn rebuild_applies_changes_and_keeps_last_good_of_a_broken_feed() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"old.com\nkeep.com\n");
        let b = write_feed(dir.path(), "b.txt", b"b1.com\nb2.com\n");
        let (set, _) = build_set(&[a.clone(), b.clone()]).unwrap();
        // a changes; b disappears
        std::fs::write(&a.path, b"new.com\nkeep.com\n").unwrap();
        std::fs::remove_file(&b.path).unwrap();
        let (set2, report) = rebuild(&[a.clone(), b.clone()], &set);
        assert_eq!(feed_of(&set2, b"new.com"), Some("a"));
        assert_eq!(feed_of(&set2, b"keep.com"), Some("a"));
        assert_eq!(feed_of(&set2, b"old.com"), None, "removals take effect");
        assert_eq!(feed_of(&set2, b"b1.com"), Some("b"), "last good kept");
        let rb = &report.feeds[1];
        assert_eq!(rb.kept_last_good, Some(2));
        assert!(
            rb.summary().contains("FAILED (cannot read"),
            "{}",
            rb.summary()
        );
        assert!(
            rb.summary().contains("kept 2 last good entries"),
            "{}",
            rb.summary()
        );
        // and again from the set that kept them: still kept
        let (set3, _) = rebuild(&[a, b], &set2);
        assert_eq!(set3.len(), 4);
        assert_eq!(feed_of(&set3, b"b2.com"), Some("b"));
    }

    #[test]
    fn a_feed_that_shrinks_too_much_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let list: String = (0..100).map(|i| format!("h{i}.example\n")).collect();
        let mut a = write_feed(dir.path(), "a.txt", list.as_bytes());
        let (set, _) = build_set(std::slice::from_ref(&a)).unwrap();
        // a truncated download: 40 of 100 left
        let short: String = (0..40).map(|i| format!("h{i}.example\n")).collect();
        std::fs::write(&a.path, &short).unwrap();
        let (set2, report) = rebuild(std::slice::from_ref(&a), &set);
        assert_eq!(set2.len(), 100);
        let why = report.feeds[0].failure.as_deref().unwrap();
        assert!(why.contains("shrank from 100 to 40"), "{why}");
        // 60 of 100 is within the default 50%
        let ok: String = (0..60).map(|i| format!("h{i}.example\n")).collect();
        std::fs::write(&a.path, &ok).unwrap();
        let (set3, report) = rebuild(std::slice::from_ref(&a), &set);
        assert_eq!((set3.len(), report.feeds[0].failure.clone()), (60, None));
        // max_shrink = 1.0 turns the check off
        a.max_shrink = 1.0;
        std::fs::write(&a.path, "h1.example\n").unwrap();
        let (set4, _) = rebuild(std::slice::from_ref(&a), &set);
        assert_eq!(set4.len(), 1);
    }

    #[test]
    fn a_new_feed_that_fails_on_reload_has_nothing_to_keep() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"a.com\n");
        let (set, _) = build_set(std::slice::from_ref(&a)).unwrap();
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let (set2, report) = rebuild(&[a, gone], &set);
        assert_eq!(set2.len(), 1);
        assert_eq!(report.feeds[1].kept_last_good, None);
        assert!(report.feeds[1].summary().contains("no entries"));
    }
}
