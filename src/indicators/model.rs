//! What an indicator is: a value and its context.
//!
//! A feed parser produces, for every entry, a [`Value`] and the [`Fields`] that entry sets
//! itself (a CSV column, a STIX property); fields it leaves unset take the feed's defaults from
//! the config. The resolved [`Context`] is interned when the set is built, so the thousands of
//! entries of a plain list share one context (feed name, severity, tags...) stored once.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

pub use crate::config::feeds::{parse_time, Action, MatchMode, Severity};
pub use crate::observe::Token;

/// The value of an indicator, parsed and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Ip(IpAddr),
    Cidr(IpNet),
    /// Normalised name bytes (see [`crate::name`]).
    Domain(Vec<u8>),
    /// A hash, fingerprint, e-mail address or URL: its kind and key (see [`Token`]).
    Token(Token, Vec<u8>),
}

impl Value {
    pub fn kind(&self) -> IndicatorType {
        match self {
            Value::Ip(IpAddr::V4(_)) => IndicatorType::Ipv4,
            Value::Ip(IpAddr::V6(_)) => IndicatorType::Ipv6,
            Value::Cidr(_) => IndicatorType::Cidr,
            Value::Domain(_) => IndicatorType::Domain,
            Value::Token(t, _) => IndicatorType::Token(*t),
        }
    }
}

/// Indicator type as shown in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Token(Token),
}

impl IndicatorType {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
            IndicatorType::Token(t) => t.as_str(),
        }
    }
}

/// How an observable matched an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Exact,
    Subdomain,
    Cidr,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Subdomain => "subdomain",
            MatchKind::Cidr => "cidr",
        }
    }
}

/// Context an entry sets itself; `None` (or no tags) takes the feed's default. Times are
/// microseconds since the Unix epoch, like packet timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Fields {
    /// 0–100.
    pub confidence: Option<u8>,
    pub severity: Option<Severity>,
    /// Added to the feed's tags (not replacing them).
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// A URL about the indicator.
    pub reference: Option<String>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub action: Option<Action>,
    /// For domains; ignored for addresses.
    pub match_mode: Option<MatchMode>,
    /// The indicator's id in its source (STIX `indicator--...`, MISP attribute uuid).
    pub id: Option<String>,
    /// The port the feed named with the value (`1.2.3.4:443`, `evil.com:8080`).
    pub port: Option<u16>,
}

impl Fields {
    /// No field set: the entry takes its feed's context as it is (the loaders' fast path; cheaper
    /// than comparing with `Fields::default()`, and every field is named so none is forgotten).
    #[inline]
    pub fn is_default(&self) -> bool {
        let Fields {
            confidence,
            severity,
            tags,
            description,
            reference,
            valid_from,
            valid_until,
            action,
            match_mode,
            id,
            port,
        } = self;
        confidence.is_none()
            && severity.is_none()
            && tags.is_empty()
            && description.is_none()
            && reference.is_none()
            && valid_from.is_none()
            && valid_until.is_none()
            && action.is_none()
            && match_mode.is_none()
            && id.is_none()
            && port.is_none()
    }
}

/// The resolved context of an indicator: its feed's defaults overridden by its own fields.
/// Interned per set: indicators with equal context share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Context {
    pub feed: Arc<str>,
    pub confidence: Option<u8>,
    pub severity: Severity,
    pub tags: Vec<Arc<str>>,
    pub description: Option<Arc<str>>,
    pub reference: Option<Arc<str>>,
    /// µs since the epoch; the indicator matches no packet before it.
    pub valid_from: Option<i64>,
    /// µs since the epoch; the indicator matches no packet at or after it.
    pub valid_until: Option<i64>,
    pub action: Action,
    pub id: Option<Arc<str>>,
    /// The port the feed named with the value, shown in events.
    pub port: Option<u16>,
    /// Match only flows with `port` on either side (the feed's `match_port`).
    pub port_only: bool,
}

impl Context {
    /// Does the indicator apply to a packet at `ts_us`? `valid_from` is inclusive and
    /// `valid_until` exclusive (STIX 2.1 §4.7: "valid_until ... no longer considered valid").
    #[inline]
    pub fn valid_at(&self, ts_us: i64) -> bool {
        self.valid_from.is_none_or(|f| ts_us >= f) && self.valid_until.is_none_or(|u| ts_us < u)
    }

    /// Does the indicator apply to a flow with these ports? Always, unless it is restricted to
    /// its port (`match_port`): then one of the ports must be it. A flow without ports (ICMP,
    /// a fragment) has none of them.
    #[inline]
    pub fn port_applies(&self, ports: Option<(u16, u16)>) -> bool {
        match (self.port_only, self.port) {
            (true, Some(p)) => ports.is_some_and(|(a, b)| a == p || b == p),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_window_is_from_inclusive_until_exclusive() {
        let c = Context {
            feed: Arc::from("f"),
            confidence: None,
            severity: Severity::Medium,
            tags: Vec::new(),
            description: None,
            reference: None,
            valid_from: Some(100),
            valid_until: Some(200),
            action: Action::Alert,
            id: None,
            port: None,
            port_only: false,
        };
        assert!(!c.valid_at(99));
        assert!(c.valid_at(100));
        assert!(c.valid_at(199));
        assert!(!c.valid_at(200));
    }
}
