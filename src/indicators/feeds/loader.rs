//! [`Loader`], the [`FeedSink`] the format parsers feed: it applies the policy to each entry
//! (see [`super::policy`]), adds what passes to the builder and counts everything in the feed's
//! [`FeedReport`]; without a builder it only counts, which is the shrink check's counting pass.
//! Contract: a problem entry is counted and at most [`MAX_KEPT_ERRORS_PER_FEED`] of them are
//! kept with their location; nothing an entry holds makes the load fail.

use std::net::IpAddr;

use ipnet::IpNet;

use super::policy::{is_public_suffix, resolve, too_broad};
use super::report::{FeedError, FeedReport, MAX_KEPT_ERRORS_PER_FEED};
use crate::config::FeedConfig;
use crate::indicators::formats::{FeedSink, Location};
use crate::indicators::set::{canonical_net, Added, ContextId, PreparedName, SetBuilder};
use crate::indicators::{value, Context, Fields, IndicatorType, MatchMode, Value};
use crate::observe::Token;

/// The sink that applies policy and fills the builder (or only counts, when it has none).
pub(super) struct Loader<'a> {
    feed: &'a FeedConfig,
    /// The monitored networks: address entries overlapping them are warned about or refused.
    home: Home,
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
            home: Home::new(home_net),
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
        Value::Token(t, key) => t.text(key),
    }
}

/// `home_net` as bit patterns, for the overlap check of every address and CIDR entry (a 100k
/// address feed checks each against every network: a few instructions each this way).
#[derive(Default)]
struct Home {
    v4: Vec<(u32, u8, IpNet)>,
    v6: Vec<(u128, u8, IpNet)>,
}

impl Home {
    fn new(nets: &[IpNet]) -> Self {
        let mut h = Home::default();
        for &n in nets {
            match canonical_net(n) {
                IpNet::V4(c) => h.v4.push((u32::from(c.network()), c.prefix_len(), n)),
                IpNet::V6(c) => h.v6.push((u128::from(c.network()), c.prefix_len(), n)),
            }
        }
        h
    }

    /// The first `home_net` network an address or CIDR entry overlaps: one holds the other, so
    /// they agree on the bits of the shorter prefix.
    fn overlaps(&self, value: &Value) -> Option<IpNet> {
        let (bits, len) = match value {
            Value::Ip(a) => match a.to_canonical() {
                IpAddr::V4(a) => (Bits::V4(u32::from(a)), 32),
                IpAddr::V6(a) => (Bits::V6(u128::from(a)), 128),
            },
            Value::Cidr(n) => match canonical_net(*n) {
                IpNet::V4(c) => (Bits::V4(u32::from(c.network())), c.prefix_len()),
                IpNet::V6(c) => (Bits::V6(u128::from(c.network())), c.prefix_len()),
            },
            Value::Domain(_) | Value::Token(..) => return None,
        };
        match bits {
            Bits::V4(a) => self.v4.iter().find_map(|&(h, hl, n)| {
                let m = u32::from(len.min(hl));
                let mask = u32::MAX.checked_shl(32 - m).unwrap_or(0);
                ((a ^ h) & mask == 0).then_some(n)
            }),
            Bits::V6(a) => self.v6.iter().find_map(|&(h, hl, n)| {
                let m = u32::from(len.min(hl));
                let mask = u128::MAX.checked_shl(128 - m).unwrap_or(0);
                ((a ^ h) & mask == 0).then_some(n)
            }),
        }
    }
}

enum Bits {
    V4(u32),
    V6(u128),
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

    /// The hasher names must be hashed with for [`Loader::name`], when entries are added.
    pub(super) fn name_hasher(&self) -> Option<crate::indicators::set::NameHasher> {
        self.builder.as_deref().map(SetBuilder::name_hasher)
    }

    /// Whether [`Loader::name`] asks if a name is a public suffix (a parser thread answers
    /// it ahead only then).
    pub(super) fn checks_public_suffix(&self) -> bool {
        !self.feed.allow_broad && self.feed.match_mode != MatchMode::Exact
    }

    /// [`FeedSink::warm_name`] with the name's hash under [`Loader::name_hasher`].
    pub(super) fn warm_name_hashed(&self, name: &[u8], hash: u64) {
        if let Some(b) = self.builder.as_deref() {
            std::hint::black_box(b.warm_name_hashed(name, hash));
        }
    }

    /// A name entry; `prep` (under [`Loader::name_hasher`]) and `public_suffix` (whether the
    /// name is one, see [`is_public_suffix`]) when a parser thread computed them already.
    pub(super) fn name(
        &mut self,
        at: Location<'_>,
        name: &[u8],
        prep: Option<PreparedName>,
        public_suffix: Option<bool>,
    ) {
        let mode = match self.feed.match_mode {
            // a URL feed's mode; its names take the default
            MatchMode::Prefix => MatchMode::Subdomain,
            m => m,
        };
        if !self.feed.allow_broad
            && mode != MatchMode::Exact
            && public_suffix.unwrap_or_else(|| is_public_suffix(name))
        {
            return self.entry(at, Value::Domain(name.to_vec()), Fields::default());
        }
        self.report.entries += 1;
        let Some(builder) = self.builder.as_deref_mut() else {
            return;
        };
        let ctx = *self
            .base_id
            .get_or_insert_with(|| builder.context(self.base.clone()));
        let added = match prep {
            Some(p) => builder.add_name_prepared(name, p, ctx, mode),
            None => builder.add_name(name, ctx, mode),
        };
        match added {
            Added::Yes => self.report.by_type[3] += 1,
            Added::Duplicate => self.report.duplicates += 1,
            Added::Refused => self.report.refused += 1,
        }
        if self.base.valid_until.is_some_and(|u| u <= self.now_us) {
            self.report.expired_now += 1;
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
        self.name(at, name, None, None);
    }

    fn entry(&mut self, at: Location<'_>, value: Value, mut fields: Fields) {
        let mut mode = fields.match_mode.take().unwrap_or(self.feed.match_mode);
        if mode == MatchMode::SubdomainsOnly && self.feed.wildcard_includes_base {
            mode = MatchMode::Subdomain;
        }
        match &value {
            // a URL is exact or a path prefix; every other token kind is exact
            Value::Token(Token::Url, _) if mode == MatchMode::Prefix => {}
            Value::Token(..) => mode = MatchMode::Exact,
            // `prefix` is for URLs: the names and addresses of the feed take the default
            _ if mode == MatchMode::Prefix => mode = MatchMode::Subdomain,
            _ => {}
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
        if let Some(home) = self.home.overlaps(&value) {
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
        let ctx = if fields.is_default() {
            *self
                .base_id
                .get_or_insert_with(|| builder.context(self.base.clone()))
        } else {
            builder.context(resolve(&self.base, fields))
        };
        match builder.add(value, ctx, mode) {
            Added::Yes => {
                let count = match kind {
                    IndicatorType::Ipv4 => &mut self.report.by_type[0],
                    IndicatorType::Ipv6 => &mut self.report.by_type[1],
                    IndicatorType::Cidr => &mut self.report.by_type[2],
                    IndicatorType::Domain => &mut self.report.by_type[3],
                    IndicatorType::Token(t) => &mut self.report.by_token[t as usize],
                };
                *count += 1;
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

    fn https_url(&mut self) {
        self.report.https_urls += 1;
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

    fn kind(set: &crate::indicators::IndicatorSet, name: &str) -> Option<&'static str> {
        set.best_domain(name.as_bytes()).map(|m| m.kind.as_str())
    }

    #[test]
    fn a_wildcard_covers_subdomains_only_and_with_its_name_covers_both() {
        let dir = tempfile::tempdir().unwrap();
        let text = "*.wild.example\n*.both.example\nboth.example\n.dot.example\n||ad.example^\n";
        let feed = write_feed(dir.path(), "w.txt", text.as_bytes());
        let (set, report) = build_set_t(std::slice::from_ref(&feed)).unwrap();
        assert_eq!(kind(&set, "a.wild.example"), Some("subdomain"));
        assert_eq!(kind(&set, "x.y.wild.example"), Some("subdomain"));
        assert_eq!(kind(&set, "wild.example"), None, "*.x is not x");
        // `*.x` then `x` in one feed: one indicator covering both (a duplicate merged)
        assert_eq!(kind(&set, "both.example"), Some("exact"));
        assert_eq!(kind(&set, "a.both.example"), Some("subdomain"));
        assert_eq!(report.feeds[0].duplicates, 1);
        assert_eq!(kind(&set, "dot.example"), Some("exact"));
        assert_eq!(kind(&set, "a.dot.example"), Some("subdomain"));
        assert_eq!(kind(&set, "a.ad.example"), Some("subdomain"));
        // the feed's `match = "exact"` does not narrow what the line itself says
        let mut exact = feed.clone();
        exact.match_mode = MatchMode::Exact;
        let (set, _) = build_set_t(&[exact]).unwrap();
        assert_eq!(kind(&set, "a.wild.example"), Some("subdomain"));
        assert_eq!(kind(&set, "a.dot.example"), Some("subdomain"));
        // wildcard_includes_base: `*.x` is x and its subdomains
        let mut base = feed;
        base.wildcard_includes_base = true;
        let (set, _) = build_set_t(&[base]).unwrap();
        assert_eq!(kind(&set, "wild.example"), Some("exact"));
    }

    #[test]
    fn rpz_exact_then_wildcard_merge_to_name_and_subdomains() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(
            dir.path(),
            "rpz.txt",
            b"evil.com CNAME .\n*.evil.com CNAME .\nonly.example CNAME .\n",
        );
        let (set, _) = build_set_t(&[feed]).unwrap();
        assert_eq!(kind(&set, "evil.com"), Some("exact"));
        assert_eq!(kind(&set, "www.evil.com"), Some("subdomain"));
        assert_eq!(kind(&set, "only.example"), Some("exact"));
        assert_eq!(kind(&set, "www.only.example"), None, "an RPZ name is exact");
    }

    #[test]
    fn a_port_is_context_and_with_match_port_a_condition() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(
            dir.path(),
            "m.txt",
            b"1.2.3.4:443\n1.2.3.5\nevil.com:8080\n",
        );
        let (set, report) = build_set_t(std::slice::from_ref(&feed)).unwrap();
        assert_eq!(report.feeds[0].by_type, [2, 0, 0, 1]);
        let ip = |s: &str| s.parse().unwrap();
        let m = set.best_ip(ip("1.2.3.4")).unwrap();
        assert_eq!((m.context.port, m.context.port_only), (Some(443), false));
        assert_eq!(set.best_ip(ip("1.2.3.5")).unwrap().context.port, None);
        assert_eq!(
            set.best_domain(b"evil.com").unwrap().context.port,
            Some(8080)
        );
        let hits = |set: &crate::indicators::IndicatorSet, a: &str, ports| {
            let mut h = Vec::new();
            set.lookup_ip(ip(a), &mut h);
            set.retain_ports(&mut h, ports);
            h.len()
        };
        // context only: any port matches
        assert_eq!(hits(&set, "1.2.3.4", Some((50000, 80))), 1);
        let mut only = feed;
        only.match_port = true;
        let (set, _) = build_set_t(&[only]).unwrap();
        assert_eq!(hits(&set, "1.2.3.4", Some((50000, 443))), 1);
        assert_eq!(hits(&set, "1.2.3.4", Some((443, 50000))), 1, "either side");
        assert_eq!(hits(&set, "1.2.3.4", Some((50000, 80))), 0);
        assert_eq!(hits(&set, "1.2.3.4", None), 0, "no ports: ICMP");
        // an entry without a port is not restricted
        assert_eq!(hits(&set, "1.2.3.5", Some((50000, 80))), 1);
    }

    #[test]
    fn entries_overlapping_home_net_are_named_and_refused_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"10.0.0.0/8\n192.168.1.7\n0.0.0.0/8\n172.0.0.0/8\n198.51.100.0/24\n";
        let mut feed = write_feed(dir.path(), "fullbogons.netset", text);
        feed.max_bad_ratio = 1.0;
        let home = crate::config::default_home_net();
        let (set, report) = super::super::build_set(std::slice::from_ref(&feed), &home).unwrap();
        let r = &report.feeds[0];
        assert_eq!((r.home_net_overlap, r.home_net_excluded), (3, 0));
        let warned: Vec<(&str, &str)> = r
            .errors
            .iter()
            .map(|e| (e.at.as_str(), e.text.as_str()))
            .collect();
        // 172.0.0.0/8 holds 172.16.0.0/12
        assert_eq!(
            warned,
            [
                ("1", "10.0.0.0/8"),
                ("2", "192.168.1.7"),
                ("4", "172.0.0.0/8")
            ]
        );
        assert!(
            r.errors[0].reason.contains("overlaps home_net 10.0.0.0/8"),
            "{}",
            r.errors[0]
        );
        assert_eq!(set.len(), 5);
        assert!(
            report
                .to_string()
                .contains("3 overlap home_net (0 refused)"),
            "{report}"
        );
        feed.exclude_home_net = true;
        let (set, report) = super::super::build_set(&[feed], &home).unwrap();
        let r = &report.feeds[0];
        assert_eq!((r.home_net_overlap, r.home_net_excluded), (0, 3));
        assert_eq!(set.len(), 2);
        assert!(set.best_ip("10.1.2.3".parse().unwrap()).is_none());
        assert!(set.best_ip("198.51.100.9".parse().unwrap()).is_some());
        // refused entries are good entries: they do not make the feed UNUSABLE
        assert!(r.failure.is_none());
    }

    #[test]
    fn home_net_overlap_is_either_network_holding_the_other() {
        let home = Home::new(&crate::config::default_home_net());
        let at = |v: &str| {
            home.overlaps(&crate::indicators::value::parse_value(v).unwrap())
                .map(|n| n.to_string())
        };
        assert_eq!(at("10.1.2.3").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at("::ffff:10.1.2.3").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at("10.128.0.0/9").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at("0.0.0.0/0").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at("172.0.0.0/8").as_deref(), Some("172.16.0.0/12"));
        assert_eq!(at("fd12::1").as_deref(), Some("fc00::/7"));
        assert_eq!(at("::1").as_deref(), Some("::1/128"));
        for outside in [
            "11.0.0.0/8",
            "172.32.0.1",
            "192.169.0.0/16",
            "2001:db8::/32",
            "9.255.255.255",
        ] {
            assert_eq!(at(outside), None, "{outside}");
        }
        assert_eq!(at("evil.com"), None);
    }
}
