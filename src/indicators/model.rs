//! What an indicator is.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// The value of an indicator, parsed and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Ip(IpAddr),
    Cidr(IpNet),
    /// Normalised name bytes (see [`crate::name`]).
    Domain(Vec<u8>),
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

/// One indicator with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// The value in presentation form (an escaped name, an address, a CIDR).
    pub value: String,
    pub kind: IndicatorType,
    /// Name of the feed it came from; shared by every indicator of that feed.
    pub feed: Arc<str>,
}
