//! What a load reports: [`FeedError`] (one unusable entry, located), [`FeedReport`] (one feed:
//! counts by outcome, kept problems, failure and last-good), and [`LoadReport`] (every feed and
//! the totals), whose `Display` is what an operator reads after a load or reload. Contract: the
//! reports only describe; the loader fills them and keeps at most [`MAX_KEPT_ERRORS_PER_FEED`]
//! problems per feed, counting the rest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{FeedConfig, FeedFormat};

/// Problems (bad entries, refused values) kept per feed in its report; the rest are counted.
/// Enough to see what is wrong with a feed; a file in the wrong format would otherwise hold one
/// message per line in memory and in the log.
pub const MAX_KEPT_ERRORS_PER_FEED: usize = 1000;

/// An entry that could not be used, located in its feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{at}: {reason}: \"{text}\"", path.display())]
pub struct FeedError {
    pub path: PathBuf,
    /// The 1-based line, or the object id for formats without useful lines.
    pub at: String,
    /// The offending text, trimmed, cut to a short prefix and escaped ([`crate::indicators::value::cut`]).
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
    /// Hash, fingerprint, e-mail and URL indicators stored, by [`crate::observe::Token`] kind
    /// (indexed by `kind as usize`).
    pub by_token: [usize; crate::observe::Token::ALL.len()],
    /// Entries the feed had already listed.
    pub duplicates: usize,
    /// `https://` URL entries (loaded as URLs, seen in clear only through a proxy; or as their
    /// hosts with `url_https = "host"`).
    pub https_urls: usize,
    /// The feed loads `https://` URLs as their hosts (`url_https = "host"`).
    pub https_as_host: bool,
    /// Entries refused as over-broad (see the feeds module doc).
    pub too_broad: usize,
    /// Bad entries.
    pub bad: usize,
    /// Public suffixes listed alone (`duckdns.org`), loaded as exact matches with a warning.
    pub narrowed: usize,
    /// Address and CIDR entries overlapping `home_net`, loaded with a warning.
    pub home_net_overlap: usize,
    /// Address and CIDR entries overlapping `home_net`, refused (`exclude_home_net`).
    pub home_net_excluded: usize,
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
    /// The failure is that the feed was read but too many of its entries were bad (over its
    /// `max_bad_ratio`): shown as UNUSABLE rather than FAILED.
    pub unusable: bool,
    /// On reload, entries kept from the previous set because of `failure`.
    pub kept_last_good: Option<usize>,
    pub duration: Duration,
}

impl FeedReport {
    pub(super) fn new(feed: &FeedConfig) -> Self {
        FeedReport {
            name: feed.display_name(),
            path: feed.path.clone(),
            format: feed.format,
            entries: 0,
            by_type: [0; 4],
            by_token: [0; crate::observe::Token::ALL.len()],
            duplicates: 0,
            https_urls: 0,
            https_as_host: feed.url_https == crate::config::UrlHttps::Host,
            too_broad: 0,
            bad: 0,
            narrowed: 0,
            home_net_overlap: 0,
            home_net_excluded: 0,
            errors: Vec::new(),
            skipped: BTreeMap::new(),
            expired_now: 0,
            refused: 0,
            failure: None,
            unusable: false,
            kept_last_good: None,
            duration: Duration::ZERO,
        }
    }

    /// Indicators of this feed in the built set.
    pub fn stored(&self) -> usize {
        self.by_type.iter().sum::<usize>()
            + self.by_token.iter().sum::<usize>()
            + self.kept_last_good.unwrap_or(0)
    }

    /// Usable: read and parsed, or kept from the last good load.
    pub fn usable(&self) -> bool {
        self.failure.is_none() || self.kept_last_good.is_some()
    }

    /// Problems and warnings about entries, kept in `errors` up to a cap: bad entries, refused
    /// ones (too broad, in `home_net`) and entries loaded with a warning.
    pub fn problems(&self) -> usize {
        self.bad + self.too_broad + self.narrowed + self.home_net_overlap + self.home_net_excluded
    }

    /// Entries skipped, all reasons.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// The one-line summary logged per feed on every load.
    pub fn summary(&self) -> String {
        let mut s = format!("feed {:?}: ", self.name);
        let failed = if self.unusable { "UNUSABLE" } else { "FAILED" };
        match (&self.failure, self.kept_last_good) {
            (Some(why), Some(kept)) => {
                s += &format!("{failed} ({why}); kept {kept} last good entries");
            }
            (Some(why), None) => s += &format!("{failed} ({why}); no entries"),
            (None, _) => {
                let [v4, v6, cidr, dom] = self.by_type;
                let mut tokens = String::new();
                for (kind, n) in crate::observe::Token::ALL.iter().zip(self.by_token) {
                    if n > 0 {
                        tokens += &format!(", {} {n}", kind.as_str());
                    }
                }
                s += &format!(
                    "{} indicators (ipv4 {v4}, ipv6 {v6}, cidr {cidr}, domain {dom}{tokens}), {} duplicates, {} bad, {} too broad, {} skipped",
                    self.stored(),
                    self.duplicates,
                    self.bad,
                    self.too_broad,
                    self.skipped_total()
                );
                if self.https_urls > 0 {
                    s += &format!(
                        ", {} https URLs ({})",
                        self.https_urls,
                        if self.https_as_host {
                            "loaded as their hosts (url_https = \"host\")"
                        } else {
                            "seen in clear only through a proxy; url_https = \"host\" loads their hosts"
                        }
                    );
                }
                if self.narrowed > 0 {
                    s += &format!(", {} public suffixes as exact", self.narrowed);
                }
                if self.home_net_overlap + self.home_net_excluded > 0 {
                    s += &format!(
                        ", {} overlap home_net ({} refused)",
                        self.home_net_overlap + self.home_net_excluded,
                        self.home_net_excluded
                    );
                }
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
        FeedFormat::MispWarninglist => "misp_warninglist",
        FeedFormat::Taxii => "taxii",
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
            let unshown = feed.problems().saturating_sub(feed.errors.len());
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
