//! The JSON event schema. Field names are stable snake_case; `schema_version` changes when a
//! field changes meaning or goes away.

use std::net::IpAddr;

use serde::Serialize;

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
    pub indicator: IndicatorRef<'a>,
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

#[derive(Debug, Serialize)]
pub struct IndicatorRef<'a> {
    pub value: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "match")]
    pub match_kind: &'static str,
    pub feed: &'a str,
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
