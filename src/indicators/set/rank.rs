//! What a lookup's hits mean: [`IndicatorSet::decide`] applies validity at the packet's time
//! and allowlists and orders the rest ([`Decision`]); [`IndicatorSet::rank`] is that order alone
//! (most specific, then confidence, then severity, then the order indicators were added); and
//! [`Match`] is the best hit resolved for display. Contract: ranking is a total order on ids, so
//! it is deterministic for a given set.

use std::net::IpAddr;

use super::{Hit, IndicatorId, IndicatorSet};
use crate::indicators::{Action, Context, IndicatorType, MatchKind};

/// What [`IndicatorSet::decide`] made of a lookup's hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No hit valid at the packet's time (there were hits, all expired or not yet valid).
    Inactive,
    /// An allowlist entry covers the observable: no event.
    Allowed,
    /// Alert: the hits are ordered, the first is the event's indicator.
    Alert,
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
    pub fn decide(&self, hits: &mut Vec<Hit>, ts_us: i64) -> Decision {
        hits.retain(|h| self.context(h.ctx).valid_at(ts_us));
        if hits.is_empty() {
            return Decision::Inactive;
        }
        if self.has_allow
            && hits
                .iter()
                .any(|h| self.context(h.ctx).action == Action::Allow)
        {
            return Decision::Allowed;
        }
        self.rank(hits);
        Decision::Alert
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
            hits.sort_by(|a, b| {
                let (ca, cb) = (self.context(a.ctx), self.context(b.ctx));
                b.specificity
                    .cmp(&a.specificity)
                    .then(cb.confidence.cmp(&ca.confidence))
                    .then(cb.severity.cmp(&ca.severity))
                    .then(a.id.cmp(&b.id))
            });
        }
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
