//! What a lookup's hits mean: [`IndicatorSet::decide`] applies validity at the packet's time,
//! allowlists and warninglists, and orders the rest ([`Decision`]); [`IndicatorSet::rank`] is
//! that order alone (most specific, then confidence, then severity, then the order indicators
//! were added); and [`Match`] is the best hit resolved for display. Contract: ranking is a total
//! order on ids, so it is deterministic for a given set.
//!
//! # The allowlist rule
//!
//! An allow entry suppresses a matching alert indicator when the entry applies to the
//! indicator's feed (its feed's `applies_to`, default every feed) and the indicator is no more
//! specific than the entry ([`Hit::specificity`]: an exact address over any prefix, a longer
//! prefix over a shorter one, a name with more labels over its parent); equal specificity goes
//! to the allowlist. With `override = "all"` ([`AllowRule::override_all`]) the entry suppresses
//! whatever it covers. So an exact high-severity `104.16.1.2` inside an allowed `104.16.0.0/13`
//! still alerts, and `evil.cdn.example` under an allowed `cdn.example` does too. An observable
//! alerts when at least one of its valid alert indicators is not suppressed; the suppressed ones
//! are left out of the event. Warninglist (`flag`) entries never alert: they name their list in
//! the event of the alert indicators on the same observable.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Hit, IndicatorId, IndicatorSet};
use crate::indicators::{Action, Context, IndicatorType, MatchKind};

/// What [`IndicatorSet::decide`] made of a lookup's hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No hit valid at the packet's time (there were hits, all expired or not yet valid).
    Inactive,
    /// Every valid alert indicator was suppressed by an allowlist entry: no event.
    Allowed,
    /// Only allowlist or warninglist entries cover the observable: nothing to alert on.
    Listed,
    /// Alert: the hits are ordered, alert indicators first (the first is the event's
    /// indicator), then the warninglist entries ([`IndicatorSet::alert_count`] splits them).
    Alert,
}

/// The scope of an allowlist feed (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowRule {
    /// Feeds whose matches it may suppress; `None`: every feed.
    pub applies_to: Option<Vec<Arc<str>>>,
    /// Suppress every match it covers, however specific.
    pub override_all: bool,
}

/// What the allowlists do to one alert hit ([`IndicatorSet::allow_verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowVerdict<'h> {
    /// No allow entry applying to its feed covers the observable.
    NotCovered,
    /// Suppressed by this allow entry.
    Suppressed(&'h Hit),
    /// Covered by this allow entry (the most specific applying to its feed), but more
    /// specific than it: still alerts.
    Kept(&'h Hit),
}

/// A match resolved for display: what [`IndicatorSet::best_ip`]/[`IndicatorSet::best_domain`]
/// and tests use.
#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub id: IndicatorId,
    /// Presentation form of the indicator's value.
    pub value: String,
    pub itype: IndicatorType,
    pub kind: MatchKind,
    pub context: &'a Context,
}

impl IndicatorSet {
    /// Apply validity at `ts_us` (µs since the epoch) and allowlists to a lookup's `hits`, and
    /// order what is left: most specific first, then highest confidence, then highest severity,
    /// then the order indicators were added (earlier feeds first).
    ///
    /// A set without allowlists and warninglists takes the path it took before they existed:
    /// one flag test, no look at the hits' actions.
    pub fn decide(&self, hits: &mut Vec<Hit>, ts_us: i64) -> Decision {
        hits.retain(|h| self.context(h.ctx).valid_at(ts_us));
        if hits.is_empty() {
            return Decision::Inactive;
        }
        if self.has_lists {
            return self.decide_with_lists(hits);
        }
        self.rank(hits);
        Decision::Alert
    }

    /// [`decide`](Self::decide) for a set with allow or flag entries; `hits` are valid.
    fn decide_with_lists(&self, hits: &mut Vec<Hit>) -> Decision {
        let action = |h: &Hit| self.context(h.ctx).action;
        // allow entries to the front, then compact the alert and flag hits after them, leaving
        // out the suppressed alerts; no allocation
        let mut n_allow = 0;
        for i in 0..hits.len() {
            if action(&hits[i]) == Action::Allow {
                hits.swap(i, n_allow);
                n_allow += 1;
            }
        }
        if n_allow == hits.len() {
            return Decision::Listed;
        }
        let (mut kept, mut alerts, mut suppressed) = (n_allow, 0usize, 0usize);
        for i in n_allow..hits.len() {
            let h = hits[i];
            if action(&h) == Action::Alert {
                if self.suppressed(&h, &hits[..n_allow]) {
                    suppressed += 1;
                    continue;
                }
                alerts += 1;
            }
            hits[kept] = h;
            kept += 1;
        }
        hits.truncate(kept);
        hits.drain(..n_allow);
        if alerts == 0 {
            return if suppressed > 0 {
                Decision::Allowed
            } else {
                Decision::Listed
            };
        }
        if hits.len() > 1 {
            hits.sort_by(|a, b| {
                (action(a) == Action::Flag)
                    .cmp(&(action(b) == Action::Flag))
                    .then_with(|| self.order(a, b))
            });
        }
        Decision::Alert
    }

    /// Does an allow entry among `allows` suppress alert hit `h` (see the module doc)?
    fn suppressed(&self, h: &Hit, allows: &[Hit]) -> bool {
        let feed = &self.context(h.ctx).feed;
        allows
            .iter()
            .any(|a| self.allow_effect(a, h, feed) == Some(true))
    }

    /// What allow hit `a` does to alert hit `h` of `feed`: `None` when its scope leaves `feed`
    /// out, else whether it suppresses `h` (`override = "all"`, or no less specific than `h`).
    /// The one statement of the rule, for the sensor and for `iocd lookup`.
    fn allow_effect(&self, a: &Hit, h: &Hit, feed: &Arc<str>) -> Option<bool> {
        let rule = self.allow_rule(a);
        if rule
            .and_then(|r| r.applies_to.as_ref())
            .is_some_and(|t| !t.iter().any(|f| f == feed))
        {
            return None;
        }
        Some(rule.is_some_and(|r| r.override_all) || a.specificity >= h.specificity)
    }

    /// The scope of allow hit `a`'s feed; `None`: the default (every feed, specific wins).
    fn allow_rule(&self, a: &Hit) -> Option<&AllowRule> {
        if self.allow_rules.is_empty() {
            return None;
        }
        self.allow_rules.get(&self.context(a.ctx).feed)
    }

    /// What the allow entries among `hits` (other hits are ignored; validity is not looked at)
    /// do to alert hit `h`: for `iocd lookup`, which explains the verdict.
    pub fn allow_verdict<'h>(&self, h: &Hit, hits: &'h [Hit]) -> AllowVerdict<'h> {
        let feed = &self.context(h.ctx).feed;
        let mut covering: Option<&Hit> = None;
        for a in hits {
            if self.context(a.ctx).action != Action::Allow {
                continue;
            }
            match self.allow_effect(a, h, feed) {
                Some(true) => return AllowVerdict::Suppressed(a),
                Some(false) if covering.is_none_or(|c| a.specificity > c.specificity) => {
                    covering = Some(a);
                }
                _ => {}
            }
        }
        covering.map_or(AllowVerdict::NotCovered, AllowVerdict::Kept)
    }

    /// How many of `hits`, as [`decide`](Self::decide) left them after [`Decision::Alert`], are
    /// alert indicators; the rest are warninglist entries.
    #[inline]
    pub fn alert_count(&self, hits: &[Hit]) -> usize {
        if !self.has_lists {
            return hits.len();
        }
        hits.iter()
            .position(|h| self.context(h.ctx).action == Action::Flag)
            .unwrap_or(hits.len())
    }

    /// The names of the warninglists among `flags`, each once, in order.
    pub fn list_names(&self, flags: &[Hit]) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::new();
        for h in flags {
            let feed = &self.context(h.ctx).feed;
            if !out.iter().any(|f| f == feed) {
                out.push(Arc::clone(feed));
            }
        }
        out
    }

    /// Drop the hits of indicators restricted to their port (`match_port`) when neither of the
    /// flow's `ports` is it. Costs nothing when no feed sets `match_port`.
    #[inline]
    pub fn retain_ports(&self, hits: &mut Vec<Hit>, ports: Option<(u16, u16)>) {
        if self.has_port_only {
            hits.retain(|h| self.context(h.ctx).port_applies(ports));
        }
    }

    /// Order `hits` as [`decide`](Self::decide) does, ignoring validity and allowlists.
    pub fn rank(&self, hits: &mut [Hit]) {
        if hits.len() > 1 {
            hits.sort_by(|a, b| self.order(a, b));
        }
    }

    fn order(&self, a: &Hit, b: &Hit) -> std::cmp::Ordering {
        let (ca, cb) = (self.context(a.ctx), self.context(b.ctx));
        b.specificity
            .cmp(&a.specificity)
            .then(cb.confidence.cmp(&ca.confidence))
            .then(cb.severity.cmp(&ca.severity))
            .then(a.id.cmp(&b.id))
    }

    /// The most specific indicator covering `ip` (validity and allowlists not applied).
    pub fn best_ip(&self, ip: IpAddr) -> Option<Match<'_>> {
        let mut hits = Vec::new();
        self.lookup_ip(ip, &mut hits);
        self.best(&mut hits)
    }

    /// The most specific indicator covering `name` (validity and allowlists not applied).
    pub fn best_domain(&self, name: &[u8]) -> Option<Match<'_>> {
        let mut hits = Vec::new();
        self.lookup_domain(name, &mut hits);
        self.best(&mut hits)
    }

    fn best(&self, hits: &mut [Hit]) -> Option<Match<'_>> {
        self.rank(hits);
        hits.first().map(|h| self.resolve(h))
    }

    /// A hit with its value text and context.
    pub fn resolve(&self, h: &Hit) -> Match<'_> {
        Match {
            id: h.id,
            value: self.value_text(&h.value),
            itype: self.value_type(&h.value),
            kind: h.kind,
            context: self.context(h.ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::indicators::{MatchMode, SetBuilder, Severity, Value};

    /// A builder with `entries`: (feed, action, value).
    fn set(entries: &[(&str, Action, Value)], rules: &[(&str, AllowRule)]) -> IndicatorSet {
        let mut b = SetBuilder::new();
        for (feed, rule) in rules {
            b.allow_rule(feed, rule.clone());
        }
        for (feed, action, v) in entries {
            let mut c = context(feed);
            c.action = *action;
            c.severity = Severity::High;
            let id = b.context(c);
            b.add(v.clone(), id, MatchMode::Subdomain);
        }
        b.build()
    }

    fn decide_ip(set: &IndicatorSet, a: &str) -> (Decision, Vec<String>) {
        let mut hits = Vec::new();
        set.lookup_ip(ip(a), &mut hits);
        let d = set.decide(&mut hits, 0);
        (d, feeds(set, &hits))
    }

    fn decide_name(set: &IndicatorSet, n: &str) -> (Decision, Vec<String>) {
        let mut hits = Vec::new();
        set.lookup_domain(n.as_bytes(), &mut hits);
        let d = set.decide(&mut hits, 0);
        (d, feeds(set, &hits))
    }

    fn feeds(set: &IndicatorSet, hits: &[Hit]) -> Vec<String> {
        hits.iter()
            .map(|h| set.context(h.ctx).feed.to_string())
            .collect()
    }

    fn only(feeds: &[&str]) -> AllowRule {
        AllowRule {
            applies_to: Some(feeds.iter().map(|f| Arc::from(*f)).collect()),
            override_all: false,
        }
    }

    const ALL: AllowRule = AllowRule {
        applies_to: None,
        override_all: true,
    };

    #[test]
    fn an_exact_address_inside_an_allowed_cidr_still_alerts_unless_override_all() {
        let entries = [
            ("bad", Action::Alert, Value::Ip(ip("104.16.1.2"))),
            ("bad", Action::Alert, cidr("104.16.0.0/13")),
            ("wide", Action::Alert, cidr("104.0.0.0/8")),
            ("cdn", Action::Allow, cidr("104.16.0.0/13")),
        ];
        let s = set(&entries, &[]);
        // the exact address wins; the equal /13 and the shorter /8 are suppressed
        assert_eq!(
            decide_ip(&s, "104.16.1.2"),
            (Decision::Alert, vec!["bad".into()])
        );
        // another address of the range: only the /13 and /8 cover it, both suppressed
        assert_eq!(decide_ip(&s, "104.16.9.9"), (Decision::Allowed, vec![]));
        // outside the allowed range: the /8 alerts
        assert_eq!(
            decide_ip(&s, "104.200.0.1"),
            (Decision::Alert, vec!["wide".into()])
        );
        let s = set(&entries, &[("cdn", ALL)]);
        assert_eq!(decide_ip(&s, "104.16.1.2"), (Decision::Allowed, vec![]));
    }

    #[test]
    fn a_longer_prefix_and_a_name_below_an_allowed_one_win_equal_ones_do_not() {
        let s = set(
            &[
                ("bad", Action::Alert, cidr("198.51.100.0/25")),
                ("bad", Action::Alert, dom("evil.cdn.example")),
                ("bad", Action::Alert, dom("cdn2.example")),
                ("cdn", Action::Allow, cidr("198.51.100.0/24")),
                ("cdn", Action::Allow, dom("cdn.example")),
                ("cdn", Action::Allow, dom("cdn2.example")),
            ],
            &[],
        );
        assert_eq!(decide_ip(&s, "198.51.100.7").0, Decision::Alert);
        assert_eq!(decide_name(&s, "x.evil.cdn.example").0, Decision::Alert);
        assert_eq!(decide_name(&s, "www.cdn.example").0, Decision::Listed);
        // equal specificity: the allowlist wins
        assert_eq!(decide_name(&s, "a.cdn2.example").0, Decision::Allowed);
    }

    #[test]
    fn applies_to_limits_an_allowlist_to_the_feeds_it_names() {
        let entries = [
            ("feed-a", Action::Alert, cidr("192.0.2.0/24")),
            ("feed-b", Action::Alert, cidr("192.0.2.0/24")),
            ("cdn", Action::Allow, cidr("192.0.2.0/24")),
        ];
        let s = set(&entries, &[("cdn", only(&["feed-a"]))]);
        assert_eq!(
            decide_ip(&s, "192.0.2.1"),
            (Decision::Alert, vec!["feed-b".into()])
        );
        let s = set(&entries, &[("cdn", only(&["feed-a", "feed-b"]))]);
        assert_eq!(decide_ip(&s, "192.0.2.1").0, Decision::Allowed);
        // scoped and override = "all": an exact address of feed-a is suppressed, feed-b's not
        let s = set(
            &[
                ("feed-a", Action::Alert, Value::Ip(ip("192.0.2.1"))),
                ("feed-b", Action::Alert, Value::Ip(ip("192.0.2.1"))),
                ("cdn", Action::Allow, cidr("192.0.2.0/24")),
            ],
            &[(
                "cdn",
                AllowRule {
                    override_all: true,
                    ..only(&["feed-a"])
                },
            )],
        );
        assert_eq!(
            decide_ip(&s, "192.0.2.1"),
            (Decision::Alert, vec!["feed-b".into()])
        );
    }

    #[test]
    fn warninglist_entries_follow_the_alerts_and_never_alert_alone() {
        let s = set(
            &[
                ("warn", Action::Flag, cidr("192.0.2.0/24")),
                ("bad", Action::Alert, Value::Ip(ip("192.0.2.1"))),
                ("bad2", Action::Alert, cidr("192.0.2.0/25")),
            ],
            &[],
        );
        let mut hits = Vec::new();
        s.lookup_ip(ip("192.0.2.1"), &mut hits);
        assert_eq!(s.decide(&mut hits, 0), Decision::Alert);
        assert_eq!(feeds(&s, &hits), ["bad", "bad2", "warn"]);
        assert_eq!(s.alert_count(&hits), 2);
        let names: Vec<String> = s
            .list_names(&hits[2..])
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["warn"]);
        assert_eq!(decide_ip(&s, "192.0.2.200").0, Decision::Listed);
    }

    #[test]
    fn allow_verdict_names_the_entry_and_whether_it_suppresses() {
        let s = set(
            &[
                ("bad", Action::Alert, Value::Ip(ip("104.16.1.2"))),
                ("bad", Action::Alert, cidr("104.16.0.0/13")),
                ("cdn", Action::Allow, cidr("104.16.0.0/12")),
                ("cdn", Action::Allow, cidr("104.16.0.0/13")),
            ],
            &[],
        );
        let mut hits = Vec::new();
        s.lookup_ip(ip("104.16.1.2"), &mut hits);
        s.rank(&mut hits);
        let text = |v: AllowVerdict<'_>| match v {
            AllowVerdict::NotCovered => "none".to_owned(),
            AllowVerdict::Suppressed(a) => format!("suppressed {}", s.value_text(&a.value)),
            AllowVerdict::Kept(a) => format!("kept {}", s.value_text(&a.value)),
        };
        // the exact address: kept, the most specific covering entry named
        assert_eq!(text(s.allow_verdict(&hits[0], &hits)), "kept 104.16.0.0/13");
        let alert_13 = hits
            .iter()
            .find(|h| s.context(h.ctx).action == Action::Alert && h.specificity < 256)
            .unwrap();
        assert!(text(s.allow_verdict(alert_13, &hits)).starts_with("suppressed 104.16.0.0/1"));
        assert_eq!(text(s.allow_verdict(&hits[0], &[])), "none");
    }
}
