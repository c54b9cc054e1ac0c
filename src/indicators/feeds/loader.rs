//! [`Loader`], the [`FeedSink`] the format parsers feed: it applies the policy to each entry
//! (see [`super::policy`]), adds what passes to the builder and counts everything in the feed's
//! [`FeedReport`]; without a builder it only counts, which is the shrink check's counting pass.
//! Contract: a problem entry is counted and at most [`MAX_KEPT_ERRORS_PER_FEED`] of them are
//! kept with their location; nothing an entry holds makes the load fail.

use ipnet::IpNet;

use super::policy::{is_public_suffix, resolve, too_broad};
use super::report::{FeedError, FeedReport, MAX_KEPT_ERRORS_PER_FEED};
use crate::config::FeedConfig;
use crate::indicators::formats::{FeedSink, Location};
use crate::indicators::set::{canonical_net, Added, ContextId, SetBuilder};
use crate::indicators::{value, Context, Fields, IndicatorType, MatchMode, Value};

/// The sink that applies policy and fills the builder (or only counts, when it has none).
pub(super) struct Loader<'a> {
    feed: &'a FeedConfig,
    /// The monitored networks: address entries overlapping them are warned about or refused.
    home_net: &'a [IpNet],
    base: Context,
    /// Interned `base`, made on first use.
    base_id: Option<ContextId>,
    builder: Option<&'a mut SetBuilder>,
    report: &'a mut FeedReport,
    now_us: i64,
}

impl<'a> Loader<'a> {
    pub(super) fn new(
        feed: &'a FeedConfig,
        home_net: &'a [IpNet],
        base: Context,
        builder: Option<&'a mut SetBuilder>,
        report: &'a mut FeedReport,
        now_us: i64,
    ) -> Self {
        Loader {
            feed,
            home_net,
            base,
            base_id: None,
            builder,
            report,
            now_us,
        }
    }
}

/// The warning for a public suffix listed alone, loaded as an exact match.
const NARROWED: &str = "a public suffix: loaded as an exact match, not its subdomains (allow_broad = true matches them too)";

/// Presentation text of a value, for messages.
fn value_text(value: &Value) -> String {
    match value {
        Value::Domain(n) => crate::name::escape(n),
        Value::Cidr(n) => n.to_string(),
        Value::Ip(a) => a.to_string(),
    }
}

/// The first `home_net` network an address or CIDR entry overlaps.
fn overlaps(value: &Value, home: &[IpNet]) -> Option<IpNet> {
    match value {
        Value::Ip(a) => {
            let a = a.to_canonical();
            home.iter().copied().find(|h| h.contains(&a))
        }
        Value::Cidr(n) => {
            let n = canonical_net(*n);
            home.iter()
                .copied()
                .find(|h| h.contains(&n) || n.contains(h))
        }
        Value::Domain(_) => None,
    }
}

impl Loader<'_> {
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
        if !self.feed.allow_broad && mode != MatchMode::Exact && is_public_suffix(name) {
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

    fn entry(&mut self, at: Location<'_>, value: Value, mut fields: Fields) {
        let mut mode = fields.match_mode.take().unwrap_or(self.feed.match_mode);
        if mode == MatchMode::SubdomainsOnly && self.feed.wildcard_includes_base {
            mode = MatchMode::Subdomain;
        }
        if !self.feed.allow_broad {
            if let Some(why) = too_broad(&value, mode) {
                self.report.too_broad += 1;
                self.problem(at, &why, &value_text(&value));
                return;
            }
            if mode == MatchMode::Subdomain
                && matches!(&value, Value::Domain(n) if is_public_suffix(n))
            {
                // `duckdns.org`, `pages.dev`: feeds list abused hosting roots themselves
                mode = MatchMode::Exact;
                self.report.narrowed += 1;
                self.problem(at, NARROWED, &value_text(&value));
            }
        }
        if let Some(home) = overlaps(&value, self.home_net) {
            let text = value_text(&value);
            if self.feed.exclude_home_net {
                self.report.home_net_excluded += 1;
                self.problem(
                    at,
                    &format!("overlaps home_net {home}: refused (exclude_home_net = true)"),
                    &text,
                );
                return;
            }
            self.report.home_net_overlap += 1;
            self.problem(
                at,
                &format!(
                    "overlaps home_net {home}: internal addresses will match (exclude_home_net = true refuses it)"
                ),
                &text,
            );
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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn kept_errors_are_capped_but_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x..y\n".repeat(MAX_KEPT_ERRORS_PER_FEED + 5) + "ok.com\n";
        let mut feed = write_feed(dir.path(), "f.txt", text.as_bytes());
        feed.max_bad_ratio = 1.0;
        let (set, report) = build_set_t(&[feed]).unwrap();
        assert_eq!(report.feeds[0].errors.len(), MAX_KEPT_ERRORS_PER_FEED);
        assert_eq!(report.feeds[0].bad, MAX_KEPT_ERRORS_PER_FEED + 5);
        assert_eq!(set.len(), 1);
        assert!(report
            .to_string()
            .contains("... and 5 more problems not shown"));
    }
}
