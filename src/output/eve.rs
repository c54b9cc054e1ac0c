//! The Suricata EVE `alert` record of an IoA (`payload = "eve"`), so that a pipeline built for
//! Suricata's eve.json (Filebeat's suricata module, Logstash, Security Onion, Splunk's TA)
//! takes iocd's events unchanged:
//!
//! - top level as Suricata writes it: `timestamp` (`+0000` offset), `flow_id`, `in_iface` (when
//!   known), `event_type: "alert"`, `vlan`, `src_ip`/`src_port`/`dest_ip`/`dest_port`,
//!   `proto`, `community_id`, `app_proto` (when known), and in a replay `pcap_cnt` and
//!   `pcap_filename`;
//! - `alert`: `action: "allowed"` (iocd only watches), `gid` [`GID`], a `signature_id` stable per
//!   (feed, indicator) ([`signature_id`]), `rev` 1, a readable `signature`, `category`,
//!   `severity` 1 (critical, high) · 2 (medium) · 3 (low, info), and `metadata` holding the
//!   indicator's context as Suricata writes rule metadata (each key a list of strings);
//! - the protocol object of the observable: `dns.query[]` (`rrname`, `rrtype`),
//!   `dns.answers[]` (`rrtype`, `rdata`), `tls` (`sni`, `version`), `quic.sni`,
//!   `http.hostname`.
//!
//! Checked against Suricata's own schema (`etc/schema.json`) in `tests/formats.rs`.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use crate::config::Severity;
use crate::event::{self, IndicatorRef, Ioa};
use crate::observe::Where;

/// `alert.gid` of every iocd alert: generator 1, as for text rules.
pub const GID: u64 = 1;
/// `alert.signature_id` range: [`SID_BASE`] + a hash of (feed, indicator) modulo [`SID_SPAN`],
/// clear of the ranges rule sets use (ET 2000000–2999999, local 1000000–1999999) and inside a
/// signed 32-bit integer, which some SIEM mappings use for it.
pub const SID_BASE: u64 = 1_500_000_000;
pub const SID_SPAN: u64 = 500_000_000;
/// `alert.category` of every iocd alert.
pub const CATEGORY: &str = "Threat intelligence indicator match";

/// An IoA as an EVE alert record.
pub struct Alert<'a>(pub &'a Ioa);

impl Serialize for Alert<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in record(self.0) {
            m.serialize_entry(k, &v)?;
        }
        m.end()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// 64-bit FNV-1a over `bytes`, from `h`.
fn fnv1a_from(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// 64-bit FNV-1a of `parts`, each followed by a 0xff byte (so ("ab", "c") and ("a", "bc")
/// differ): small, and stable across runs and builds (the ids below must not change).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .fold(FNV_OFFSET, |h, p| fnv1a_from(fnv1a_from(h, p), &[0xff]))
}

/// `flow_id`: the same for both directions of a flow (it is made from the Community ID, which
/// is symmetric), below 2^51 as Suricata's are (a JSON number exact in every parser).
pub fn flow_id(community_id: &str) -> u64 {
    (fnv1a(&[community_id.as_bytes()]) & ((1 << 51) - 1)).max(1)
}

/// `alert.signature_id` of an indicator.
pub fn signature_id(ind: &IndicatorRef) -> u64 {
    SID_BASE + fnv1a(&[ind.context.feed.as_bytes(), ind.value.as_bytes()]) % SID_SPAN
}

/// `alert.severity`: Suricata's 1 (highest) to 3.
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Critical | Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low | Severity::Info => 3,
    }
}

/// ET's `signature_severity` metadata words.
fn signature_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "Major",
        Severity::Medium => "Minor",
        Severity::Low | Severity::Info => "Informational",
    }
}

/// The EVE timestamp: RFC 3339 with microseconds and a `+0000` offset, as Suricata writes it.
pub fn timestamp(ts_us: i64) -> String {
    let t = event::format_ts(ts_us);
    match t.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => t,
    }
}

/// The readable `alert.signature`.
pub fn signature(e: &Ioa) -> String {
    format!(
        "iocd {} {} {} matches {} {} from {}",
        e.observable.location.as_str(),
        e.observable.kind,
        e.observable.value,
        e.indicator.kind,
        e.indicator.value,
        e.indicator.context.feed
    )
}

/// `alert.metadata`: the indicator's context as rule metadata (key → list of strings), in a
/// fixed order. A new piece of context is one more entry here.
pub fn metadata(e: &Ioa) -> Vec<(&'static str, Vec<Cow<'_, str>>)> {
    let ind = &e.indicator;
    let c = &ind.context;
    let mut md: Vec<(&'static str, Vec<Cow<'_, str>>)> = vec![
        ("feed", vec![Cow::Borrowed(&*c.feed)]),
        ("indicator", vec![Cow::Borrowed(ind.value.as_str())]),
        ("indicator_type", vec![Cow::Borrowed(ind.kind)]),
        ("match", vec![Cow::Borrowed(ind.match_kind)]),
        (
            "observable",
            vec![Cow::Borrowed(e.observable.value.as_str())],
        ),
        ("where", vec![Cow::Borrowed(e.observable.location.as_str())]),
        (
            "signature_severity",
            vec![Cow::Borrowed(signature_severity(c.severity))],
        ),
        ("severity", vec![Cow::Borrowed(c.severity.as_str())]),
        ("sensor", vec![Cow::Borrowed(&*e.sensor)]),
    ];
    if !c.tags.is_empty() {
        md.push(("tag", c.tags.iter().map(|t| Cow::Borrowed(&**t)).collect()));
    }
    let optional: [(&'static str, Option<Cow<'_, str>>); 10] = [
        ("confidence", c.confidence.map(|n| n.to_string().into())),
        ("description", c.description.as_deref().map(Cow::Borrowed)),
        ("reference", c.reference.as_deref().map(Cow::Borrowed)),
        ("indicator_id", c.id.as_deref().map(Cow::Borrowed)),
        ("indicator_port", c.port.map(|p| p.to_string().into())),
        (
            "valid_from",
            c.valid_from.map(|t| event::format_time(t).into()),
        ),
        (
            "valid_until",
            c.valid_until.map(|t| event::format_time(t).into()),
        ),
        ("direction", e.flow.direction.map(|d| d.as_str().into())),
        (
            "tls_version",
            event::tls_version(e.observable.info).map(Cow::Borrowed),
        ),
        ("suppressed", e.suppressed.map(|n| n.to_string().into())),
    ];
    md.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| Some((k, vec![v?]))),
    );
    if e.observable.ech {
        md.push(("ech", vec![Cow::Borrowed("true")]));
    }
    if let Some((ja3, ja4)) = event::tls_fingerprints(&e.observable.info) {
        md.push(("ja3", vec![Cow::Owned(ja3)]));
        md.push(("ja4", vec![Cow::Borrowed(ja4)]));
    }
    if !e.warninglist.is_empty() {
        md.push((
            "warninglist",
            e.warninglist.iter().map(|w| Cow::Borrowed(&**w)).collect(),
        ));
    }
    if !e.also_matched.is_empty() {
        md.push((
            "also_matched",
            e.also_matched
                .iter()
                .map(|a| Cow::Owned(format!("{}:{}", a.context.feed, a.value)))
                .collect(),
        ));
    }
    md
}

/// `aabbcc` as `aa:bb:cc`.
fn colon_hex(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len() * 3 / 2);
    for (i, c) in hex.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

/// The protocol object of the observable (`dns`, `tls`, `quic`, `http`), if it has one; a TLS
/// one carries the client hello's `ja3.hash` when it was computed (Suricata's schema of the
/// version the tests pin has `tls.ja3` but no `tls.ja4`, and no fingerprint under `quic`: both
/// fingerprints are in `alert.metadata` too).
fn protocol(e: &Ioa) -> Option<(&'static str, Value)> {
    let (name, mut obj) = protocol_object(e)?;
    if let (Some((ja3, _)), "tls", Value::Object(m)) =
        (event::tls_fingerprints(&e.observable.info), name, &mut obj)
    {
        m.entry("ja3").or_insert(json!({ "hash": ja3 }));
    }
    Some((name, obj))
}

/// The protocol object of the observable itself.
fn protocol_object(e: &Ioa) -> Option<(&'static str, Value)> {
    let o = &e.observable;
    let rrtype = event::dns_rrtype(o.info);
    Some(match o.location {
        Where::DnsQuery => {
            let mut q = Map::new();
            q.insert("rrname".into(), json!(o.value));
            if let Some(t) = rrtype {
                q.insert("rrtype".into(), json!(t));
            }
            ("dns", json!({ "query": [q] }))
        }
        Where::DnsAnswer | Where::DnsAnswerIp => {
            let mut a = Map::new();
            if let Some(t) = rrtype {
                a.insert("rrtype".into(), json!(t));
            }
            a.insert("rdata".into(), json!(o.value));
            ("dns", json!({ "answers": [a] }))
        }
        Where::TlsSni => {
            let mut t = Map::new();
            t.insert("sni".into(), json!(o.value));
            if let Some(v) = event::tls_version(o.info) {
                t.insert("version".into(), json!(v));
            }
            ("tls", Value::Object(t))
        }
        Where::QuicSni => ("quic", json!({ "sni": o.value })),
        Where::HttpHost => ("http", json!({ "hostname": o.value })),
        Where::TlsJa3 => ("tls", json!({ "ja3": { "hash": o.value } })),
        Where::TlsJa3s => ("tls", json!({ "ja3s": { "hash": o.value } })),
        Where::TlsJa4 => ("tls", json!({ "ja4": o.value })),
        Where::TlsJa4s => ("tls", json!({ "ja4s": o.value })),
        Where::QuicJa3 => ("quic", json!({ "ja3": { "hash": o.value } })),
        Where::QuicJa3s => ("quic", json!({ "ja3s": { "hash": o.value } })),
        Where::QuicJa4 => ("quic", json!({ "ja4": o.value })),
        Where::QuicJa4s => ("quic", json!({ "ja4s": o.value })),
        // Suricata writes the certificate's SHA-1 as colon-separated hex
        Where::TlsCertSha1 => ("tls", json!({ "fingerprint": colon_hex(&o.value) })),
        Where::TlsCertSha256 => ("tls", json!({ "fingerprint_sha256": o.value })),
        Where::TlsCertName => ("tls", json!({ "subject": format!("CN={}", o.value) })),
        Where::HttpUrl => ("http", json!({ "url": o.value })),
        Where::HttpFile | Where::SmtpAttachment => {
            let mut f = Map::new();
            f.insert(o.kind.into(), json!(o.value));
            if let Some(m) = &o.file {
                f.insert("size".into(), json!(m.size));
                if let Some(n) = &m.name {
                    f.insert("filename".into(), json!(n));
                }
                if let Some(t) = &m.mime_type {
                    f.insert("mimetype".into(), json!(t));
                }
            }
            ("fileinfo", Value::Object(f))
        }
        Where::SmtpMailFrom => ("smtp", json!({ "mail_from": o.value })),
        Where::SmtpRcptTo => ("smtp", json!({ "rcpt_to": [o.value] })),
        Where::SmtpHeader => ("email", json!({ "from": o.value })),
        Where::IpSrc | Where::IpDst => return None,
    })
}

/// The record's fields, in the order Suricata writes them.
fn record(e: &Ioa) -> Vec<(&'static str, Value)> {
    let f = &e.flow;
    let mut r: Vec<(&'static str, Value)> = vec![
        ("timestamp", json!(timestamp(e.ts_us))),
        ("flow_id", json!(flow_id(&f.community_id))),
    ];
    if let Some(i) = &e.in_iface {
        r.push(("in_iface", json!(i)));
    }
    r.push(("event_type", json!("alert")));
    if !f.vlan.is_empty() {
        r.push(("vlan", json!(f.vlan)));
    }
    r.push(("src_ip", json!(f.src_ip.to_string())));
    if let Some(p) = f.src_port {
        r.push(("src_port", json!(p)));
    }
    r.push(("dest_ip", json!(f.dest_ip.to_string())));
    if let Some(p) = f.dest_port {
        r.push(("dest_port", json!(p)));
    }
    r.push(("proto", json!(f.proto)));
    r.push(("community_id", json!(f.community_id)));
    if let Some(p) = f.app_proto {
        r.push(("app_proto", json!(p)));
    }
    if let Some(p) = &e.pcap {
        r.push(("pcap_cnt", json!(p.packet)));
        r.push(("pcap_filename", json!(p.file)));
    }
    let md: Map<String, Value> = metadata(e)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let sev = e.indicator.context.severity;
    r.push((
        "alert",
        json!({
            "action": "allowed",
            "gid": GID,
            "signature_id": signature_id(&e.indicator),
            "rev": 1,
            "signature": signature(e),
            "category": CATEGORY,
            "severity": severity(sev),
            "metadata": md,
        }),
    ));
    if let Some((k, v)) = protocol(e) {
        r.push((k, v));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample_ioa;
    use crate::observe::Info;

    fn eve(e: &Ioa) -> Value {
        serde_json::to_value(Alert(e)).unwrap()
    }

    #[test]
    fn a_tls_match_is_an_alert_with_flow_alert_and_tls() {
        let mut e = sample_ioa(Severity::High);
        e.observable.info = Info::Tls { version: 0x0304 };
        e.in_iface = Some("eth0".into());
        e.flow.app_proto = Some("tls");
        let v = eve(&e);
        assert_eq!(v["timestamp"], "2019-08-07T21:08:34.709050+0000");
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["in_iface"], "eth0");
        assert_eq!(v["src_ip"], "192.168.65.3");
        assert_eq!(v["dest_port"], 443);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["app_proto"], "tls");
        assert_eq!(v["alert"]["severity"], 1);
        assert_eq!(v["alert"]["metadata"]["feed"], json!(["demo-domains"]));
        assert_eq!(v["alert"]["metadata"]["indicator"], json!(["tls13.com"]));
        assert_eq!(
            v["tls"],
            json!({"sni": "enabled.tls13.com", "version": "TLS 1.3"})
        );
        // Field order as Suricata's: timestamp first, the protocol object last.
        let keys: Vec<&str> = record(&e).iter().map(|(k, _)| *k).collect();
        assert_eq!(keys.first(), Some(&"timestamp"));
        assert_eq!(keys.last(), Some(&"tls"));
    }

    #[test]
    fn the_feeds_port_and_warninglists_are_alert_metadata() {
        let mut e = sample_ioa(Severity::High);
        assert!(v_metadata(&e).get("warninglist").is_none());
        assert!(v_metadata(&e).get("indicator_port").is_none());
        let mut c = (*e.indicator.context).clone();
        c.port = Some(8443);
        e.indicator.context = std::sync::Arc::new(c);
        e.warninglist = vec!["cloudflare".into(), "top-sites".into()];
        let md = v_metadata(&e);
        assert_eq!(md["indicator_port"], json!(["8443"]));
        assert_eq!(md["warninglist"], json!(["cloudflare", "top-sites"]));
    }

    fn v_metadata(e: &Ioa) -> Value {
        eve(e)["alert"]["metadata"].clone()
    }

    #[test]
    fn severities_map_to_suricatas_three_levels() {
        let got: Vec<u8> = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ]
        .into_iter()
        .map(severity)
        .collect();
        assert_eq!(got, [1, 1, 2, 3, 3]);
    }

    #[test]
    fn ids_are_stable_symmetric_and_in_range() {
        let e = sample_ioa(Severity::High);
        let sid = signature_id(&e.indicator);
        assert!((SID_BASE..SID_BASE + SID_SPAN).contains(&sid), "{sid}");
        assert!(sid < i32::MAX as u64);
        let mut other = e.indicator.clone();
        other.value = "tls14.com".into();
        assert_ne!(signature_id(&other), sid);
        // The same Community ID (both directions share it) gives the same flow_id.
        assert_eq!(flow_id("1:abc="), flow_id("1:abc="));
        assert_ne!(flow_id("1:abc="), flow_id("1:abd="));
        assert!(flow_id("1:abc=") < 1 << 51);
        // The published FNV-1a test vector (draft-eastlake-fnv, "a"), and the separator.
        assert_eq!(fnv1a_from(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"a"]), fnv1a_from(FNV_OFFSET, b"a\xff"));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
    }

    #[test]
    fn dns_observables_carry_rrname_rrtype_or_rdata() {
        let mut e = sample_ioa(Severity::Low);
        e.observable.location = Where::DnsQuery;
        e.observable.info = Info::Dns { rrtype: 28 };
        assert_eq!(
            eve(&e)["dns"],
            json!({"query": [{"rrname": "enabled.tls13.com", "rrtype": "AAAA"}]})
        );
        e.observable.location = Where::DnsAnswerIp;
        e.observable.kind = "ip";
        e.observable.value = "192.0.2.1".into();
        e.observable.info = Info::Dns { rrtype: 1 };
        assert_eq!(
            eve(&e)["dns"],
            json!({"answers": [{"rrtype": "A", "rdata": "192.0.2.1"}]})
        );
        e.observable.location = Where::IpDst;
        assert!(eve(&e).get("dns").is_none());
    }
}
