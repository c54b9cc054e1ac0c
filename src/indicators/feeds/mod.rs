//! Loading feeds into an indicator set: reading files, running the format parsers (see
//! [`super::formats`]), applying the feed's defaults and policy, and reporting what happened per
//! feed.
//!
//! # Policy
//!
//! - **Context**: an entry's own fields override the feed's defaults from the config; its tags
//!   are added to the feed's. Equal contexts are stored once ([`SetBuilder::context`]).
//! - **Over-broad values** are refused with a warning unless the feed sets `allow_broad`: a
//!   wildcard under a public suffix (`*.duckdns.org`: every name under it; the Public Suffix List
//!   via the `psl` crate, whose default rule makes every unlisted one-label name a suffix too),
//!   and CIDRs shorter than /8 (IPv4) or /16 (IPv6). A public suffix listed alone in `subdomain`
//!   mode (`duckdns.org`, `pages.dev`: abused roots feeds do list) is loaded as an exact match
//!   with a warning, entry by entry ([`FeedReport::narrowed`]).
//! - **home_net**: an address or CIDR entry overlapping the monitored networks (a bogon list's
//!   10.0.0.0/8) is loaded with a warning naming it, or refused when the feed sets
//!   `exclude_home_net` ([`FeedReport::home_net_overlap`], [`FeedReport::home_net_excluded`]).
//! - **Duplicates** within a feed are counted; the first entry stays, covering the names of
//!   both entries' match modes (`x` and `*.x` of an RPZ zone are x and its subdomains).
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

mod loader;
mod parallel;
mod policy;
mod read;
mod report;

use std::time::Instant;

use ipnet::IpNet;

use super::formats;
use super::set::{Added, IndicatorSet, SetBuilder};
use crate::config::{FeedConfig, FeedFormat};
use loader::Loader;
use parallel::parse_plain;
use policy::{allow_rule, base_context};
pub use policy::{MIN_V4_PREFIX, MIN_V6_PREFIX};
use read::{estimate, read_text};
pub use read::{open_regular, MAX_FEED_BYTES};
pub use report::{FeedError, FeedReport, LoadReport, MAX_KEPT_ERRORS_PER_FEED};

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
///
/// `home_net` is the monitored networks: address entries overlapping them are warned about, or
/// refused by a feed with `exclude_home_net`.
pub fn build_set(
    feeds: &[FeedConfig],
    home_net: &[IpNet],
) -> Result<(IndicatorSet, LoadReport), BuildError> {
    if feeds.is_empty() {
        return Err(BuildError::NoFeeds);
    }
    let (set, report) = build(feeds, home_net, None);
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
pub fn rebuild(
    feeds: &[FeedConfig],
    home_net: &[IpNet],
    previous: &IndicatorSet,
) -> (IndicatorSet, LoadReport) {
    build(feeds, home_net, Some(previous))
}

fn build(
    feeds: &[FeedConfig],
    home_net: &[IpNet],
    previous: Option<&IndicatorSet>,
) -> (IndicatorSet, LoadReport) {
    // A feed found over its max_bad_ratio only after its entries were added (no counting pass
    // ran: nothing to keep from a previous set) is left out and the set built again without it.
    // Rare, and it converges: each pass leaves out at least one more feed.
    let mut left_out: Vec<Option<FeedReport>> = vec![None; feeds.len()];
    loop {
        let (set, report, found) = build_once(feeds, home_net, previous, &left_out);
        if found.is_empty() {
            return (set, report);
        }
        for (i, r) in found {
            left_out[i] = Some(r);
        }
    }
}

/// One pass of [`build`]: `left_out[i]` is the report of a feed already found unusable. Also
/// returns the feeds found unusable after being added.
fn build_once(
    feeds: &[FeedConfig],
    home_net: &[IpNet],
    previous: Option<&IndicatorSet>,
    left_out: &[Option<FeedReport>],
) -> (IndicatorSet, LoadReport, Vec<(usize, FeedReport)>) {
    let started = Instant::now();
    let now_us = now_us();
    let mut builder = SetBuilder::new();
    let mut report = LoadReport::default();
    let mut found = Vec::new();
    for (i, feed) in feeds.iter().enumerate() {
        let t = Instant::now();
        let mut r = FeedReport::new(feed);
        builder.allow_rule(&r.name, allow_rule(feed));
        let prev = previous.map_or(0, |p| p.feed_len(&r.name));
        let outcome = match left_out.get(i).and_then(Option::as_ref) {
            Some(known) => {
                r = known.clone();
                Err(())
            }
            None => match load_feed(feed, home_net, prev, &mut builder, &mut r, now_us) {
                Ok(()) => match over_bad_ratio(feed, &r) {
                    Some(why) => {
                        // added already (see `load_feed`): build again without it
                        r.failure = Some(why);
                        r.unusable = true;
                        r.by_type = [0; 4];
                        r.by_token = [0; crate::observe::Token::ALL.len()];
                        r.errors.truncate(MAX_ERRORS_SHOWN_WHEN_UNUSABLE);
                        found.push((i, r.clone()));
                        Ok(())
                    }
                    None => Ok(()),
                },
                Err(Unusable::Failed(why)) => {
                    r.failure = Some(why);
                    Err(())
                }
                Err(Unusable::TooManyBad(why)) => {
                    r.failure = Some(why);
                    r.unusable = true;
                    r.errors.truncate(MAX_ERRORS_SHOWN_WHEN_UNUSABLE);
                    Err(())
                }
            },
        };
        if let (Err(()), Some(p), true) = (outcome, previous, prev > 0) {
            let mut kept = 0;
            p.for_each_of_feed(&r.name, |value, ctx, mode| {
                let c = builder.context(ctx.clone());
                if builder.add(value, c, mode) == Added::Yes {
                    kept += 1;
                }
            });
            r.kept_last_good = Some(kept);
        }
        r.duration = t.elapsed();
        report.feeds.push(r);
    }
    let set = builder.build();
    report.indicators = set.len();
    report.contexts = set.contexts_len();
    report.duration = started.elapsed();
    (set, report, found)
}

/// Problems kept in the report of a feed over its `max_bad_ratio`: a few examples of what is
/// wrong. Such a file is mostly not a feed (a wrong path, a symlink to some other file), so its
/// lines are not echoed beyond these, each cut to a short escaped prefix.
pub const MAX_ERRORS_SHOWN_WHEN_UNUSABLE: usize = 3;

/// Why a feed is unusable this time.
enum Unusable {
    /// Unreadable, rejected as a whole by its parser, or shrunk too much.
    Failed(String),
    /// Over its `max_bad_ratio` (found by the counting pass, so nothing was added).
    TooManyBad(String),
}

/// Why `r`'s bad entries are too many for `feed`'s `max_bad_ratio`, if they are: bad entries
/// over all entries read, good (duplicates and over-broad ones included) and bad; skipped
/// entries are neither.
fn over_bad_ratio(feed: &FeedConfig, r: &FeedReport) -> Option<String> {
    let all = r.entries + r.too_broad + r.home_net_excluded + r.bad;
    if all == 0 {
        return None;
    }
    let ratio = r.bad as f64 / all as f64;
    (ratio > feed.max_bad_ratio).then(|| {
        format!(
            "{} of {all} entries bad ({:.1}%), over max_bad_ratio {}",
            r.bad,
            ratio * 100.0,
            feed.max_bad_ratio
        )
    })
}

/// Read and parse one feed into `builder`. `Err` means the feed is unusable this time: nothing
/// of it was added (a shrink or too many bad entries are checked by a counting pass before
/// anything is added, on reload). At startup the bad ratio is known only after the entries
/// were added; the caller checks it.
fn load_feed(
    feed: &FeedConfig,
    home_net: &[IpNet],
    prev: usize,
    builder: &mut SetBuilder,
    report: &mut FeedReport,
    now_us: i64,
) -> Result<(), Unusable> {
    let line_based = matches!(
        feed.format,
        FeedFormat::Plain | FeedFormat::Csv | FeedFormat::Zeek | FeedFormat::MispCsv
    );
    let text = match feed.format {
        FeedFormat::Misp if feed.path.is_dir() => None,
        _ => Some(read_text(&feed.path, line_based).map_err(Unusable::Failed)?),
    };
    let base = base_context(feed, builder);
    if prev > 0 {
        // A counting pass first: the text is parsed twice on reload, but a feed that shrank is
        // known before any of it is added, with no copy of its entries held meanwhile.
        let mut count = FeedReport::new(feed);
        let mut counter = Loader::new(feed, home_net, base.clone(), None, &mut count, now_us);
        parse(feed, text.as_deref(), &mut counter).map_err(Unusable::Failed)?;
        if let Some(why) = over_bad_ratio(feed, &count) {
            // keep what the counting pass found: the bad entries say what went wrong
            *report = count;
            return Err(Unusable::TooManyBad(why));
        }
        let n = count.entries;
        if (n as f64) < prev as f64 * (1.0 - feed.max_shrink) {
            return Err(Unusable::Failed(format!(
                "shrank from {prev} to {n} entries, more than max_shrink = {}",
                feed.max_shrink
            )));
        }
    } else if let (FeedFormat::Plain, Some(t)) = (feed.format, &text) {
        let (lines, names, name_bytes) = estimate(t);
        builder.reserve(lines, names, name_bytes);
    }
    let mut loader = Loader::new(feed, home_net, base, Some(builder), report, now_us);
    parse(feed, text.as_deref(), &mut loader).map_err(Unusable::Failed)
}

fn parse(feed: &FeedConfig, text: Option<&str>, out: &mut Loader<'_>) -> Result<(), String> {
    let Some(text) = text else {
        return formats::misp::parse_dir(&feed.path, feed, out);
    };
    match feed.format {
        FeedFormat::Plain => {
            let opts = formats::plain::Opts {
                kind: feed.kind,
                url_https: feed.url_https,
            };
            parse_plain(text, opts, out);
            Ok(())
        }
        FeedFormat::Csv => formats::csv::parse(text, feed, out),
        FeedFormat::Zeek => formats::zeek::parse(text, feed, out),
        // a TAXII collection's objects are kept as a STIX bundle (`fetch::taxii`)
        FeedFormat::Stix | FeedFormat::Taxii => formats::stix::parse(text, feed, out),
        FeedFormat::Misp => formats::misp::parse(text, feed, out),
        FeedFormat::MispCsv => formats::misp_csv::parse(text, feed, out),
        FeedFormat::MispWarninglist => formats::misp_warninglist::parse(text, feed, out),
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::indicators::{value, MatchKind, MatchMode, Value};

    #[test]
    fn build_set_merges_feeds_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = write_feed(
            dir.path(),
            "a.txt",
            b"evil.com\n10.0.0.0/8\n1.2.3.999\nevil.com\n",
        );
        a.max_bad_ratio = 1.0;
        let b = write_feed(dir.path(), "b.txt", b"EVIL.com\nbad.org\n");
        let (set, report) = build_set_t(&[a, b]).unwrap();
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
    fn unreadable_feed_among_good_ones_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_feed(dir.path(), "good.txt", b"evil.com\n");
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let (set, report) = build_set_t(&[gone, good]).unwrap();
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
    fn no_readable_feed_is_a_build_error_with_report() {
        let dir = tempfile::tempdir().unwrap();
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let e = build_set_t(&[gone]).unwrap_err();
        assert!(matches!(e, BuildError::NoneReadable { .. }), "{e}");
        assert!(e.to_string().starts_with("no usable feed"), "{e}");
        assert_eq!(e.report().unwrap().failed_feeds(), 1);
    }

    #[test]
    fn zero_indicators_in_total_is_a_build_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write_feed(dir.path(), "empty.txt", b"# nothing yet\n");
        let mut broken = write_feed(dir.path(), "broken.txt", b"1.2.3.256\n");
        broken.max_bad_ratio = 1.0;
        let e = build_set_t(&[empty, broken]).unwrap_err();
        assert!(matches!(e, BuildError::NoIndicators { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "no usable feed: 2 feeds read but 0 indicators loaded (1 bad entries)"
        );
        assert_eq!(e.report().unwrap().feeds[1].errors.len(), 1);
    }

    #[test]
    fn a_feed_over_max_bad_ratio_is_unusable_and_loads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_feed(dir.path(), "good.txt", b"good.example\n");
        // one line parsed among nine bad ones: 90% bad
        let junk = write_feed(
            dir.path(),
            "junk.txt",
            format!("junk.example\n{}", "x..y\n".repeat(9)).as_bytes(),
        );
        let (set, report) = build_set_t(&[junk.clone(), good.clone()]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(feed_of(&set, b"junk.example"), None);
        let r = &report.feeds[0];
        assert!(r.unusable && r.failure.is_some());
        assert_eq!(r.stored(), 0);
        assert_eq!(report.failed_feeds(), 1);
        // 9 bad lines, a few of them shown
        assert_eq!((r.bad, r.errors.len()), (9, MAX_ERRORS_SHOWN_WHEN_UNUSABLE));
        assert!(report
            .to_string()
            .contains("... and 6 more problems not shown"));
        assert!(
            r.summary().contains(
                "UNUSABLE (9 of 10 entries bad (90.0%), over max_bad_ratio 0.1); no entries"
            ),
            "{}",
            r.summary()
        );
        // alone, it is no usable feed at all
        let e = build_set_t(std::slice::from_ref(&junk)).unwrap_err();
        assert!(matches!(e, BuildError::NoneReadable { .. }), "{e}");
        // 1.0 turns the check off
        let mut lax = junk;
        lax.max_bad_ratio = 1.0;
        let (set, _) = build_set_t(&[lax]).unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn bad_entries_at_max_bad_ratio_are_still_usable() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..9).map(|i| format!("h{i}.example\n")).collect();
        let f = write_feed(dir.path(), "f.txt", (text + "bad..name\n").as_bytes());
        let (set, report) = build_set_t(&[f]).unwrap();
        assert_eq!((set.len(), report.feeds[0].bad), (9, 1));
        assert!(!report.feeds[0].unusable);
    }

    #[test]
    fn a_broken_feed_keeps_its_last_good_token_entries_and_their_modes() {
        use crate::observe::Token;
        let dir = tempfile::tempdir().unwrap();
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let mut f = write_feed(
            dir.path(),
            "t.txt",
            format!("{md5}\nhttp://x.example/dl/\nja@evil.example\n").as_bytes(),
        );
        f.match_mode = MatchMode::Prefix;
        let (set, _) = build_set_t(std::slice::from_ref(&f)).unwrap();
        assert_eq!(set.len(), 3);
        // the feed is now garbage: the last good hash, URL and address stay, the URL a prefix
        std::fs::write(&f.path, b"x..y\nx..y\n").unwrap();
        let (set2, report) = rebuild_t(std::slice::from_ref(&f), &set);
        assert_eq!(report.feeds[0].kept_last_good, Some(3));
        let mut hits = Vec::new();
        let Value::Token(_, key) = value::parse_token(Token::Md5, md5).unwrap() else {
            unreachable!()
        };
        set2.lookup_token(Token::Md5, &key, &mut hits);
        set2.lookup_token(Token::Url, b"x.example/dl/a.exe", &mut hits);
        set2.lookup_token(Token::Email, b"ja@evil.example", &mut hits);
        assert_eq!(hits.len(), 3, "{hits:?}");
        hits.clear();
        set2.lookup_token(Token::Url, b"x.example/dlx", &mut hits);
        assert!(hits.is_empty());
    }

    #[test]
    fn skipped_entries_are_not_counted_as_bad() {
        let dir = tempfile::tempdir().unwrap();
        // one address and five software indicators iocd does not use
        let mut text = String::from("#fields\tindicator\tindicator_type\n1.2.3.4\tIntel::ADDR\n");
        for i in 0..5 {
            text += &format!("x{i}/1.0\tIntel::SOFTWARE\n");
        }
        let mut f = write_feed(dir.path(), "f.zeek", text.as_bytes());
        f.format = FeedFormat::Zeek;
        let (set, report) = build_set_t(&[f]).unwrap();
        assert_eq!((set.len(), report.feeds[0].skipped_total()), (1, 5));
    }

    #[test]
    fn a_feed_over_max_bad_ratio_on_reload_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"a1.example\na2.example\n");
        let (set, _) = build_set_t(std::slice::from_ref(&a)).unwrap();
        // same entries, but now among garbage: not a shrink, still refused
        std::fs::write(&a.path, b"a1.example\na2.example\nx..y\nx..y\nx..y\n").unwrap();
        let (set2, report) = rebuild_t(std::slice::from_ref(&a), &set);
        assert_eq!(set2.len(), 2);
        let r = &report.feeds[0];
        assert_eq!(r.kept_last_good, Some(2));
        assert!(
            r.summary()
                .contains("UNUSABLE (3 of 5 entries bad (60.0%), over max_bad_ratio 0.1); kept 2 last good entries"),
            "{}",
            r.summary()
        );
        // the bad entries found by the counting pass are in the report, a few shown
        assert_eq!((r.bad, r.errors.len()), (3, 3));
        // a feed new on reload has nothing to keep: left out like at startup
        let b = write_feed(dir.path(), "b.txt", b"b.example\nx..y\nx..y\n");
        let (set3, report) = rebuild_t(&[a, b], &set);
        assert_eq!(set3.len(), 2);
        assert_eq!(feed_of(&set3, b"b.example"), None);
        assert!(report.feeds[1].unusable);
        assert_eq!(report.feeds[1].kept_last_good, None);
    }

    #[test]
    fn no_feeds_configured_is_a_build_error() {
        let e = build_set_t(&[]).unwrap_err();
        assert!(matches!(e, BuildError::NoFeeds));
        assert!(e.report().is_none());
    }

    // ---- reload ----

    #[test]
    fn rebuild_applies_changes_and_keeps_last_good_of_a_broken_feed() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"old.com\nkeep.com\n");
        let b = write_feed(dir.path(), "b.txt", b"b1.com\nb2.com\n");
        let (set, _) = build_set_t(&[a.clone(), b.clone()]).unwrap();
        // a changes; b disappears
        std::fs::write(&a.path, b"new.com\nkeep.com\n").unwrap();
        std::fs::remove_file(&b.path).unwrap();
        let (set2, report) = rebuild_t(&[a.clone(), b.clone()], &set);
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
        let (set3, _) = rebuild_t(&[a, b], &set2);
        assert_eq!(set3.len(), 4);
        assert_eq!(feed_of(&set3, b"b2.com"), Some("b"));
    }

    #[test]
    fn a_feed_that_shrinks_too_much_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let list: String = (0..100).map(|i| format!("h{i}.example\n")).collect();
        let mut a = write_feed(dir.path(), "a.txt", list.as_bytes());
        let (set, _) = build_set_t(std::slice::from_ref(&a)).unwrap();
        // a truncated download: 40 of 100 left
        let short: String = (0..40).map(|i| format!("h{i}.example\n")).collect();
        std::fs::write(&a.path, &short).unwrap();
        let (set2, report) = rebuild_t(std::slice::from_ref(&a), &set);
        assert_eq!(set2.len(), 100);
        let why = report.feeds[0].failure.as_deref().unwrap();
        assert!(why.contains("shrank from 100 to 40"), "{why}");
        // 60 of 100 is within the default 50%
        let ok: String = (0..60).map(|i| format!("h{i}.example\n")).collect();
        std::fs::write(&a.path, &ok).unwrap();
        let (set3, report) = rebuild_t(std::slice::from_ref(&a), &set);
        assert_eq!((set3.len(), report.feeds[0].failure.clone()), (60, None));
        // max_shrink = 1.0 turns the check off
        a.max_shrink = 1.0;
        std::fs::write(&a.path, "h1.example\n").unwrap();
        let (set4, _) = rebuild_t(std::slice::from_ref(&a), &set);
        assert_eq!(set4.len(), 1);
    }

    #[test]
    fn a_new_feed_that_fails_on_reload_has_nothing_to_keep() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_feed(dir.path(), "a.txt", b"a.com\n");
        let (set, _) = build_set_t(std::slice::from_ref(&a)).unwrap();
        let gone = FeedConfig::from_path(dir.path().join("gone.txt"));
        let (set2, report) = rebuild_t(&[a, gone], &set);
        assert_eq!(set2.len(), 1);
        assert_eq!(report.feeds[1].kept_last_good, None);
        assert!(report.feeds[1].summary().contains("no entries"));
    }
}
