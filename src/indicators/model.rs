//! What an indicator is: a value and its context.
//!
//! A feed parser produces, for every entry, a [`Value`] and the [`Fields`] that entry sets
//! itself (a CSV column, a STIX property); fields it leaves unset take the feed's defaults from
//! the config. The resolved [`Context`] is interned when the set is built, so the thousands of
//! entries of a plain list share one context (feed name, severity, tags...) stored once.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The value of an indicator, parsed and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Ip(IpAddr),
    Cidr(IpNet),
    /// Normalised name bytes (see [`crate::name`]).
    Domain(Vec<u8>),
}

impl Value {
    pub fn kind(&self) -> IndicatorType {
        match self {
            Value::Ip(IpAddr::V4(_)) => IndicatorType::Ipv4,
            Value::Ip(IpAddr::V6(_)) => IndicatorType::Ipv6,
            Value::Cidr(_) => IndicatorType::Cidr,
            Value::Domain(_) => IndicatorType::Domain,
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
}

impl IndicatorType {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
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

/// What a domain indicator covers: the name only, or the name and every name below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    Exact,
    #[default]
    Subdomain,
}

impl MatchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Exact => "exact",
            MatchMode::Subdomain => "subdomain",
        }
    }
}

impl FromStr for MatchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(MatchMode::Exact),
            "subdomain" | "subdomains" | "suffix" => Ok(MatchMode::Subdomain),
            _ => Err(format!("bad match mode {s:?}: exact or subdomain")),
        }
    }
}

/// Severity of an indicator, lowest first (so `Ord` ranks them).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    /// The five names, any case, plus the common synonyms feeds use (`informational`,
    /// `moderate`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" | "information" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" | "moderate" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "bad severity {s:?}: info, low, medium, high or critical"
            )),
        }
    }
}

/// What a match does: raise an event, or suppress the events of the values it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Alert,
    Allow,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Allow => "allow",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Ok(Action::Alert),
            "allow" => Ok(Action::Allow),
            _ => Err(format!("bad action {s:?}: alert or allow")),
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
}

impl Context {
    /// Does the indicator apply to a packet at `ts_us`? `valid_from` is inclusive and
    /// `valid_until` exclusive (STIX 2.1 §4.7: "valid_until ... no longer considered valid").
    #[inline]
    pub fn valid_at(&self, ts_us: i64) -> bool {
        self.valid_from.is_none_or(|f| ts_us >= f) && self.valid_until.is_none_or(|u| ts_us < u)
    }
}

/// Parse a time as feeds write it, to µs since the epoch: RFC 3339 (`2024-05-01T12:00:00Z`,
/// fractional seconds, `+02:00` offsets, a space instead of `T`, no zone meaning UTC), a date
/// alone (`2024-05-01`, midnight UTC), or integer Unix seconds (MISP writes those).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad =
        || format!("bad time {t:?}: RFC 3339 (2024-05-01T12:00:00Z), a date, or Unix seconds");
    if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().map_err(|_| bad())?;
        return Ok(secs * 1_000_000);
    }
    if t.len() == 10 {
        let d = humantime::parse_rfc3339_weak(&format!("{t} 00:00:00")).map_err(|_| bad())?;
        return to_us(d).ok_or_else(bad);
    }
    // humantime takes `Z` or no zone; apply a numeric offset ourselves.
    let (body, offset_s) = split_offset(t).ok_or_else(bad)?;
    let body = body.strip_suffix(['Z', 'z']).unwrap_or(body);
    let d = humantime::parse_rfc3339_weak(body).map_err(|_| bad())?;
    Ok(to_us(d).ok_or_else(bad)? - offset_s * 1_000_000)
}

fn to_us(t: std::time::SystemTime) -> Option<i64> {
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

/// `2024-05-01T12:00:00+02:00` → (`2024-05-01T12:00:00`, 7200). No offset → 0.
fn split_offset(t: &str) -> Option<(&str, i64)> {
    // the offset follows the time part, after the `T`/space at index 10
    let tail = t.get(11..)?;
    let Some(pos) = tail.rfind(['+', '-']) else {
        return Some((t, 0));
    };
    let (body, off) = t.split_at(11 + pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: Vec<&str> = off[1..].split(':').collect();
    let (h, m) = match digits.as_slice() {
        [hm] if hm.len() == 4 => (hm.get(..2)?, hm.get(2..)?),
        [h, m] => (*h, *m),
        _ => return None,
    };
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    Some((body, sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_shapes_feeds_use() {
        let t = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z
        assert_eq!(parse_time("2024-05-01T12:00:00Z"), Ok(t));
        assert_eq!(parse_time("2024-05-01T12:00:00.000Z"), Ok(t));
        assert_eq!(parse_time("2024-05-01 12:00:00"), Ok(t));
        assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Ok(t));
        assert_eq!(parse_time("2024-05-01T07:30:00-0430"), Ok(t));
        assert_eq!(parse_time("1714564800"), Ok(t));
        assert_eq!(parse_time("2024-05-01"), Ok(t - 12 * 3600 * 1_000_000));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.25Z"),
            Ok(t + 250_000),
            "fractions"
        );
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-05-01T12:00:00+25:00",
            "12:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

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
        };
        assert!(!c.valid_at(99));
        assert!(c.valid_at(100));
        assert!(c.valid_at(199));
        assert!(!c.valid_at(200));
    }

    #[test]
    fn enums_parse_any_case_and_order_severities() {
        assert_eq!("HIGH".parse(), Ok(Severity::High));
        assert_eq!("informational".parse(), Ok(Severity::Info));
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("Allow".parse(), Ok(Action::Allow));
        assert_eq!("exact".parse(), Ok(MatchMode::Exact));
    }
}
