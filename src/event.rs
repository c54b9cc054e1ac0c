//! The JSON event schema. Field names are stable snake_case; `schema_version` changes when a
//! field changes meaning or goes away.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::indicators::{Hit, IndicatorSet};

/// Version of the event schema below.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub schema_version: u32,
    /// Packet time, RFC 3339 with microseconds, UTC.
    pub timestamp: String,
    pub event_type: &'static str,
    pub sensor: &'a str,
    pub flow: Flow,
    pub observable: Observable,
    /// The most specific matching indicator (then highest confidence, then severity).
    pub indicator: IndicatorRef<'a>,
    /// Every other valid indicator covering the same observable (the same value in another
    /// feed, a shorter covering CIDR, a parent domain), in the same order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_matched: Vec<IndicatorRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PcapRef<'a>>,
    /// On a follow-up event only: matches of the same (indicator, internal host) held back
    /// during the suppression window (see [`crate::suppress`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Flow {
    pub src_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_port: Option<u16>,
    pub proto: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan: Vec<u16>,
    /// Encapsulations around the packet, outermost first (`{"type":"vxlan","vni":42}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tunnel: Vec<crate::decode::Tunnel>,
    pub community_id: String,
}

#[derive(Debug, Serialize)]
pub struct Observable {
    /// `ip` or `domain`.
    pub kind: &'static str,
    /// The observed value; names are escaped (see [`crate::name::escape`]).
    pub value: String,
    /// Where in the traffic it was seen: `ip.src`, `dns.query`, `dns.answer_ip`, ... (see
    /// [`crate::observe::Where::as_str`]).
    #[serde(rename = "where")]
    pub location: &'static str,
    /// Present and true when the TLS or QUIC ClientHello carried an encrypted_client_hello
    /// extension (0xfe0d): `value` is then the outer, public name and the real one is hidden
    /// (or the extension is a GREASE decoy, which looks the same on the wire).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ech: bool,
}

/// An indicator with its whole context. Every field is present (`null` or `[]` when the feed
/// does not say), so consumers need not guess; `id` only when the source had one.
#[derive(Debug, Serialize)]
pub struct IndicatorRef<'a> {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "match")]
    pub match_kind: &'static str,
    pub feed: &'a str,
    pub confidence: Option<u8>,
    pub severity: &'static str,
    pub tags: &'a [Arc<str>],
    pub description: Option<&'a str>,
    pub reference: Option<&'a str>,
    /// RFC 3339.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
}

impl<'a> IndicatorRef<'a> {
    pub fn new(set: &'a IndicatorSet, hit: &Hit) -> Self {
        let c = set.context(hit.ctx);
        IndicatorRef {
            value: set.value_text(&hit.value),
            kind: set.value_type(&hit.value).as_str(),
            match_kind: hit.kind.as_str(),
            feed: &c.feed,
            confidence: c.confidence,
            severity: c.severity.as_str(),
            tags: &c.tags,
            description: c.description.as_deref(),
            reference: c.reference.as_deref(),
            valid_from: c.valid_from.map(format_time),
            valid_until: c.valid_until.map(format_time),
            id: c.id.as_deref(),
        }
    }
}

/// RFC 3339 in seconds (microseconds when there are any), UTC; any `i64` works (times before
/// the epoch are clamped to it).
pub fn format_time(us: i64) -> String {
    if us % 1_000_000 == 0 {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us.max(0) as u64);
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        format_ts(us)
    }
}

#[derive(Debug, Serialize)]
pub struct PcapRef<'a> {
    pub file: &'a str,
    /// 1-based packet number in that file.
    pub packet: u64,
}

/// Name of an IP protocol number for `flow.proto`.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        41 => "IPv6".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        n => format!("IP-{n}"),
    }
}

/// RFC 3339 UTC with microseconds from microseconds since the epoch; times before the epoch
/// (a damaged timestamp) are shown as the epoch.
pub fn format_ts(ts_us: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(ts_us.max(0) as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_rfc3339_with_microseconds() {
        assert_eq!(
            format_ts(1_704_110_400_123_456),
            "2024-01-01T12:00:00.123456Z"
        );
        assert_eq!(format_ts(-5), "1970-01-01T00:00:00.000000Z");
    }
}
