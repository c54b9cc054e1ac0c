//! The feed policy, as pure rules: a feed's default context from its config, an entry's own
//! fields over it ([`resolve`]), and which values are too broad to load without `allow_broad`
//! (a wildcard `*.x` under a public suffix, a CIDR shorter than [`MIN_V4_PREFIX`] or
//! [`MIN_V6_PREFIX`]; a public suffix listed alone in `subdomain` mode is narrowed to an exact
//! match by the loader instead). Contract: nothing here touches the builder's tables; the loader applies
//! these rules entry by entry (see the feeds module doc for the whole policy).

use std::sync::Arc;

use ipnet::IpNet;

use crate::config::{AllowOverride, FeedConfig};
use crate::indicators::set::{canonical_net, AllowRule, SetBuilder};
use crate::indicators::{parse_time, Context, Fields, MatchMode, Value};

/// Shortest IPv4 prefix accepted without `allow_broad`: a /8 is already 16M addresses.
pub const MIN_V4_PREFIX: u8 = 8;
/// Shortest IPv6 prefix accepted without `allow_broad`: /16 is the size of the largest
/// allocations in the global unicast space.
pub const MIN_V6_PREFIX: u8 = 16;

/// The feed's default context.
pub(super) fn base_context(feed: &FeedConfig, builder: &mut SetBuilder) -> Context {
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
        port: None,
        port_only: feed.match_port,
    }
}

/// The scope of the feed's allow entries (see [`crate::indicators::set`]'s rank module).
pub(super) fn allow_rule(feed: &FeedConfig) -> AllowRule {
    AllowRule {
        applies_to: feed
            .applies_to
            .as_ref()
            .map(|names| names.iter().map(|n| Arc::from(n.as_str())).collect()),
        override_all: feed.allow_override == AllowOverride::All,
    }
}

/// `base` overridden by an entry's own fields.
pub(super) fn resolve(base: &Context, f: Fields) -> Context {
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
    c.port = f.port;
    c
}

/// Why a value would match too much, if it would.
pub(super) fn too_broad(value: &Value, mode: MatchMode) -> Option<String> {
    match value {
        Value::Domain(name) if mode == MatchMode::SubdomainsOnly && is_public_suffix(name) => Some(
            "a wildcard under a public suffix matches every name under it (allow_broad = true accepts it)".to_owned(),
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
pub(super) fn is_public_suffix(name: &[u8]) -> bool {
    psl::suffix(name).is_some_and(|s| s.as_bytes().len() == name.len())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::indicators::{Action, Severity};

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
        let (set, report) = build_set_t(&[f]).unwrap();
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
        let text = b"com\nco.uk\ngithub.io\nevil.github.io\n0.0.0.0/0\n10.0.0.0/7\n10.0.0.0/8\n::/0\n2000::/15\n2001:db8::/32\n::ffff:0:0/96\n*.duckdns.org\n";
        let f = write_feed(dir.path(), "f.txt", text);
        let (set, report) = build_set_t(std::slice::from_ref(&f)).unwrap();
        let r = &report.feeds[0];
        assert_eq!((r.too_broad, r.narrowed), (6, 3), "{:?}", r.errors);
        let refused: Vec<&str> = r.errors.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(refused, ["1", "2", "3", "5", "6", "8", "9", "11", "12"]);
        assert!(
            r.errors[0]
                .reason
                .contains("public suffix: loaded as an exact match"),
            "{}",
            r.errors[0]
        );
        assert!(
            r.errors[3].reason.contains("shorter than /8"),
            "{}",
            r.errors[3]
        );
        assert!(
            r.errors[8]
                .reason
                .contains("a wildcard under a public suffix"),
            "{}",
            r.errors[8]
        );
        // com, co.uk, github.io exact; evil.github.io; two CIDRs
        assert_eq!(set.len(), 6);
        let m = set.best_domain(b"github.io").unwrap();
        assert_eq!(m.kind, crate::indicators::MatchKind::Exact);
        assert!(set.best_domain(b"other.github.io").is_none());
        // exact mode: no warning needed
        let mut exact = f.clone();
        exact.match_mode = MatchMode::Exact;
        let (_, report) = build_set_t(&[exact]).unwrap();
        // the wildcard is refused in any mode: it names its own
        assert_eq!(
            (report.feeds[0].too_broad, report.feeds[0].narrowed),
            (6, 0)
        );
        let mut broad = f;
        broad.allow_broad = true;
        let (set, report) = build_set_t(&[broad]).unwrap();
        // ::ffff:0:0/96 is 0.0.0.0/0 again: a duplicate
        assert_eq!(
            (report.feeds[0].too_broad, report.feeds[0].duplicates),
            (0, 1)
        );
        assert_eq!(set.len(), 11);
        assert!(set.best_domain(b"other.github.io").is_some());
    }
}
