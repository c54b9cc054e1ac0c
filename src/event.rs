//! The records iocd emits, typed from the worker to the sink: an [`Ioa`] (an observable that
//! matched an indicator) or a periodic [`StatsRecord`]. Workers build them; the output stage
//! suppresses and fans them out as they are; each sink encodes them once, at the end
//! (JSON lines, syslog). Nothing between parses text.
//!
//! The JSON schema: field names are stable snake_case; `schema_version` changes when a field
//! changes meaning or goes away.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde::ser::{Serialize, Serializer};

use crate::indicators::{Context, Hit, IndicatorSet};
use crate::observe::{Info, Where};
pub use crate::stats::StatsRecord;

/// Version of the event schema below.
pub const SCHEMA_VERSION: u32 = 1;

/// One record on its way to the sinks.
#[derive(Debug, Clone)]
pub enum Record {
    Ioa(Box<Ioa>),
    Stats(Box<StatsRecord>),
    /// A remembered observable that an indicator added by a reload covers (issue 16).
    Retro(Box<RetroHit>),
    /// A summary of the alerts of one (indicator, internal host) over an interval.
    Aggregate(Box<Aggregate>),
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Record::Ioa(e) => e.serialize(s),
            Record::Stats(r) => r.serialize(s),
            Record::Retro(r) => r.serialize(s),
            Record::Aggregate(a) => a.serialize(s),
        }
    }
}

/// An indicator of attack: an observable on the wire covered by an indicator.
#[derive(Debug, Clone)]
pub struct Ioa {
    /// Packet time, µs since the epoch.
    pub ts_us: i64,
    pub sensor: Arc<str>,
    pub flow: Flow,
    pub observable: Observable,
    /// The most specific matching indicator (then highest confidence, then severity).
    pub indicator: IndicatorRef,
    /// Every other valid indicator covering the same observable (the same value in another
    /// feed, a shorter covering CIDR, a parent domain), in the same order.
    pub also_matched: Vec<IndicatorRef>,
    pub pcap: Option<PcapRef>,
    /// On a follow-up event only: matches of the same (indicator, internal host) held back
    /// during the suppression window (see the output stage's suppression).
    pub suppressed: Option<u64>,
    /// Warninglists (`action = "flag"` feeds, e.g. a MISP warninglist) that also list the
    /// observable, by feed name: the event is sent, marked as probably benign.
    pub warninglist: Vec<Arc<str>>,
    /// The capture interface: `iocd run`'s interface, or in a replay the pcapng `if_name` of
    /// the packet's interface (none for classic pcap or an IDB without the option).
    pub in_iface: Option<Arc<str>>,
    /// The packet's number in the capture's reading order (1-based, over every input): the
    /// output stage puts a replay's events in this order. Not written by any encoder.
    pub seq: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Flow {
    pub src_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_port: Option<u16>,
    pub proto: Cow<'static, str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan: Vec<u16>,
    /// Encapsulations around the packet, outermost first (`{"type":"vxlan","vni":42}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tunnel: Vec<crate::decode::Tunnel>,
    pub community_id: String,
    /// The application protocol of the observable's flow: the parser that reported it, or for
    /// an address in the IP header the protocol of the flow's ports (`tls` for TCP/443);
    /// `None` when neither says, written `"unknown"`.
    #[serde(serialize_with = "ser_app_proto")]
    pub app_proto: Option<&'static str>,
    /// Where the flow goes relative to `home_net` (ECS `network.direction`); only when the
    /// configuration sets `home_net` (the built-in default is a guess, not a statement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

fn ser_app_proto<S: Serializer>(p: &Option<&'static str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.unwrap_or(UNKNOWN_APP_PROTO))
}

/// `app_proto` of an event whose protocol iocd could not tell.
pub const UNKNOWN_APP_PROTO: &str = "unknown";

/// A flow's direction relative to `home_net`, with ECS `network.direction`'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From outside `home_net` to inside.
    Inbound,
    /// From inside `home_net` to outside.
    Outbound,
    /// Both ends inside.
    Internal,
    /// Neither end inside.
    External,
}

impl Direction {
    /// The direction of a packet from `src` to `dst`, given whether an address is at home.
    pub fn of(src: IpAddr, dst: IpAddr, home: impl Fn(IpAddr) -> bool) -> Direction {
        match (home(src), home(dst)) {
            (true, true) => Direction::Internal,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::External,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Observable {
    /// `ip`, `domain`, or a token kind (`ja3`, `cert_sha1`, `sha256`, `email`, `url`...).
    pub kind: &'static str,
    /// The observed value; names are escaped (see [`crate::name::escape`]).
    pub value: String,
    /// Where in the traffic it was seen: `ip.src`, `dns.query`, `dns.answer_ip`, ... (see
    /// [`Where::as_str`]).
    #[serde(rename = "where", serialize_with = "ser_where")]
    pub location: Where,
    /// Present and true when the TLS or QUIC ClientHello carried an encrypted_client_hello
    /// extension (0xfe0d): `value` is then the outer, public name and the real one is hidden
    /// (or the extension is a GREASE decoy, which looks the same on the wire).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ech: bool,
    /// What the protocol said besides the value: `tls_version` (the highest version a TLS or
    /// QUIC ClientHello offered) with the hello's `ja3` (MD5, hex) and `ja4`, or `dns_rrtype` (a DNS question's QTYPE, a CNAME or DNAME
    /// answer's type, A or AAAA for an answer address).
    #[serde(flatten, serialize_with = "ser_info")]
    pub info: Info,
    /// For a file's digest: its size, name and MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<Box<crate::observe::FileMeta>>,
}

fn ser_where<S: Serializer>(w: &Where, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(w.as_str())
}

fn ser_info<S: Serializer>(i: &Info, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    if let Some(v) = tls_version(*i) {
        m.serialize_entry("tls_version", v)?;
    }
    if let Some((ja3, ja4)) = tls_fingerprints(i) {
        m.serialize_entry("ja3", &ja3)?;
        m.serialize_entry("ja4", ja4)?;
    }
    if let Some(t) = dns_rrtype(*i) {
        m.serialize_entry("dns_rrtype", &t)?;
    }
    m.end()
}

/// The TLS version of an observable, by name (`TLS 1.3`), when it has one.
pub fn tls_version(i: Info) -> Option<&'static str> {
    crate::proto::tls::version_name(i.tls_version()?)
}

/// The client fingerprints of a TLS or QUIC observable, when its hello's were computed: JA3 as
/// lowercase hex, JA4 as its text.
pub fn tls_fingerprints(i: &Info) -> Option<(String, &str)> {
    match i {
        Info::TlsHello { ja3, ja4, .. } => Some((
            crate::observe::Token::Ja3.text(ja3),
            std::str::from_utf8(ja4).ok()?,
        )),
        _ => None,
    }
}

/// The DNS record type of an observable, by name (`A`, `TYPE65280`), when it has one.
pub fn dns_rrtype(i: Info) -> Option<Cow<'static, str>> {
    match i {
        Info::Dns { rrtype } => Some(crate::proto::dns::rrtype_name(rrtype)),
        _ => None,
    }
}

/// An indicator with its whole context, shared with the set it came from (an `Arc`: no copy,
/// and the event does not keep the rest of the set alive after a reload).
#[derive(Debug, Clone)]
pub struct IndicatorRef {
    pub value: String,
    pub kind: &'static str,
    pub match_kind: &'static str,
    pub context: Arc<Context>,
}

impl IndicatorRef {
    pub fn new(set: &IndicatorSet, hit: &Hit) -> Self {
        IndicatorRef {
            value: set.value_text(&hit.value),
            kind: set.value_type(&hit.value).as_str(),
            match_kind: hit.kind.as_str(),
            context: Arc::clone(set.context(hit.ctx)),
        }
    }
}

/// The JSON shape of an indicator. Every field is present (`null` or `[]` when the feed does
/// not say), so consumers need not guess; `id` only when the source had one.
#[derive(serde::Serialize)]
struct IndicatorJson<'a> {
    value: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "match")]
    match_kind: &'static str,
    feed: &'a str,
    confidence: Option<u8>,
    severity: &'static str,
    tags: &'a [Arc<str>],
    description: Option<&'a str>,
    reference: Option<&'a str>,
    /// RFC 3339.
    valid_from: Option<String>,
    valid_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// The port the feed named with the value (`1.2.3.4:443`); only when it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

impl Serialize for IndicatorRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.context;
        IndicatorJson {
            value: &self.value,
            kind: self.kind,
            match_kind: self.match_kind,
            feed: &c.feed,
            confidence: c.confidence,
            severity: c.severity.as_str(),
            tags: &c.tags,
            description: c.description.as_deref(),
            reference: c.reference.as_deref(),
            valid_from: c.valid_from.map(format_time),
            valid_until: c.valid_until.map(format_time),
            id: c.id.as_deref(),
            port: c.port,
        }
        .serialize(s)
    }
}

/// The JSON shape of an IoA, in field order.
#[derive(serde::Serialize)]
struct IoaJson<'a> {
    schema_version: u32,
    /// Packet time, RFC 3339 with microseconds, UTC.
    timestamp: String,
    event_type: &'static str,
    sensor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_iface: Option<&'a str>,
    flow: &'a Flow,
    observable: &'a Observable,
    indicator: &'a IndicatorRef,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    also_matched: &'a [IndicatorRef],
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap: Option<&'a PcapRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    warninglist: &'a [Arc<str>],
}

impl Serialize for Ioa {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        IoaJson {
            schema_version: SCHEMA_VERSION,
            timestamp: format_ts(self.ts_us),
            event_type: "ioa",
            sensor: &self.sensor,
            in_iface: self.in_iface.as_deref(),
            flow: &self.flow,
            observable: &self.observable,
            indicator: &self.indicator,
            also_matched: &self.also_matched,
            pcap: self.pcap.as_ref(),
            suppressed: self.suppressed,
            warninglist: &self.warninglist,
        }
        .serialize(s)
    }
}

/// `"event_type": "retro"`: an observable seen before an indicator covering it arrived. The
/// same flow, observable and indicator fields as an IoA (the flow is the first one it was seen
/// in), and when and how often it was seen.
#[derive(Debug, Clone)]
pub struct RetroHit {
    /// When the hunt ran: the memory's clock (packet time), µs.
    pub ts_us: i64,
    pub sensor: Arc<str>,
    pub flow: Flow,
    pub observable: Observable,
    pub indicator: IndicatorRef,
    pub also_matched: Vec<IndicatorRef>,
    /// Packet time of the first flow it was seen in, µs.
    pub first_seen_us: i64,
    /// Packet time of the last flow it was seen in, µs.
    pub last_seen_us: i64,
    /// Flows it was seen in (each (flow, where) once).
    pub count: u64,
}

impl RetroHit {
    /// The IoA of its example flow, for the encoders that write alerts (EVE, ECS, sightings).
    pub fn as_ioa(&self) -> Ioa {
        Ioa {
            ts_us: self.first_seen_us,
            sensor: Arc::clone(&self.sensor),
            flow: self.flow.clone(),
            observable: self.observable.clone(),
            indicator: self.indicator.clone(),
            also_matched: self.also_matched.clone(),
            pcap: None,
            suppressed: None,
            warninglist: Vec::new(),
            in_iface: None,
            seq: 0,
        }
    }
}

#[derive(serde::Serialize)]
struct RetroJson<'a> {
    schema_version: u32,
    timestamp: String,
    event_type: &'static str,
    sensor: &'a str,
    flow: &'a Flow,
    observable: &'a Observable,
    indicator: &'a IndicatorRef,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    also_matched: &'a [IndicatorRef],
    first_seen: String,
    last_seen: String,
    count: u64,
}

impl Serialize for RetroHit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RetroJson {
            schema_version: SCHEMA_VERSION,
            timestamp: format_ts(self.ts_us),
            event_type: "retro",
            sensor: &self.sensor,
            flow: &self.flow,
            observable: &self.observable,
            indicator: &self.indicator,
            also_matched: &self.also_matched,
            first_seen: format_ts(self.first_seen_us),
            last_seen: format_ts(self.last_seen_us),
            count: self.count,
        }
        .serialize(s)
    }
}

/// `"event_type": "aggregate"`: the alerts of one indicator for one internal host over an
/// interval (`[aggregate]`), counted before suppression.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// End of the interval (packet time), µs.
    pub ts_us: i64,
    pub sensor: Arc<str>,
    /// The internal host: the flow end inside `home_net` (the source when both or neither are).
    pub host: IpAddr,
    pub indicator: IndicatorRef,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Alert events of this (indicator, host) in the interval.
    pub count: u64,
}

#[derive(serde::Serialize)]
struct AggregateJson<'a> {
    schema_version: u32,
    timestamp: String,
    event_type: &'static str,
    sensor: &'a str,
    host: IpAddr,
    indicator: &'a IndicatorRef,
    first_seen: String,
    last_seen: String,
    count: u64,
}

impl Serialize for Aggregate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AggregateJson {
            schema_version: SCHEMA_VERSION,
            timestamp: format_ts(self.ts_us),
            event_type: "aggregate",
            sensor: &self.sensor,
            host: self.host,
            indicator: &self.indicator,
            first_seen: format_ts(self.first_seen_us),
            last_seen: format_ts(self.last_seen_us),
            count: self.count,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PcapRef {
    pub file: Arc<str>,
    /// 1-based packet number in that file.
    pub packet: u64,
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

/// Name of an IP protocol number for `flow.proto`.
pub fn proto_name(p: u8) -> Cow<'static, str> {
    Cow::Borrowed(match p {
        1 => "ICMP",
        2 => "IGMP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        132 => "SCTP",
        n => return Cow::Owned(format!("IP-{n}")),
    })
}

/// RFC 3339 UTC with microseconds from microseconds since the epoch; times before the epoch
/// (a damaged timestamp) are shown as the epoch.
pub fn format_ts(ts_us: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(ts_us.max(0) as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Action, Severity};

    #[test]
    fn timestamp_is_rfc3339_with_microseconds() {
        assert_eq!(
            format_ts(1_704_110_400_123_456),
            "2024-01-01T12:00:00.123456Z"
        );
        assert_eq!(format_ts(-5), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn protocol_names_are_known_names_or_ip_number() {
        assert_eq!(proto_name(6), "TCP");
        assert_eq!(proto_name(58), "ICMPv6");
        assert_eq!(proto_name(0), "IP-0");
        assert_eq!(proto_name(99), "IP-99");
        assert_eq!(proto_name(255), "IP-255");
    }

    /// The IoA of a TLS SNI match, for encoder tests.
    pub(crate) fn sample_ioa(severity: Severity) -> Ioa {
        Ioa {
            ts_us: 1_565_212_114_709_050,
            sensor: Arc::from("s"),
            flow: Flow {
                src_ip: "192.168.65.3".parse().unwrap(),
                src_port: Some(46638),
                dest_ip: "104.16.125.34".parse().unwrap(),
                dest_port: Some(443),
                proto: "TCP".into(),
                vlan: Vec::new(),
                tunnel: Vec::new(),
                community_id: "x".into(),
                app_proto: None,
                direction: None,
            },
            observable: Observable {
                kind: "domain",
                value: "enabled.tls13.com".into(),
                location: Where::TlsSni,
                ech: false,
                info: Info::None,
                file: None,
            },
            indicator: IndicatorRef {
                value: "tls13.com".into(),
                kind: "domain",
                match_kind: "subdomain",
                context: Arc::new(Context {
                    feed: Arc::from("demo-domains"),
                    confidence: None,
                    severity,
                    tags: Vec::new(),
                    description: None,
                    reference: None,
                    valid_from: None,
                    valid_until: None,
                    action: Action::Alert,
                    id: None,
                    port: None,
                    port_only: false,
                }),
            },
            also_matched: Vec::new(),
            pcap: None,
            suppressed: None,
            warninglist: Vec::new(),
            in_iface: None,
            seq: 0,
        }
    }

    #[test]
    fn an_ioa_serialises_in_schema_order_with_every_indicator_field() {
        let j = serde_json::to_string(&sample_ioa(Severity::High)).unwrap();
        assert_eq!(
            j,
            r#"{"schema_version":1,"timestamp":"2019-08-07T21:08:34.709050Z","event_type":"ioa","sensor":"s","flow":{"src_ip":"192.168.65.3","src_port":46638,"dest_ip":"104.16.125.34","dest_port":443,"proto":"TCP","community_id":"x","app_proto":"unknown"},"observable":{"kind":"domain","value":"enabled.tls13.com","where":"tls.sni"},"indicator":{"value":"tls13.com","type":"domain","match":"subdomain","feed":"demo-domains","confidence":null,"severity":"high","tags":[],"description":null,"reference":null,"valid_from":null,"valid_until":null}}"#
        );
    }
}
