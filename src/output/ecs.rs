//! The Elastic Common Schema document of an IoA (`payload = "ecs"`), for Elastic and any SIEM
//! that speaks ECS:
//!
//! - `@timestamp` (packet time), `ecs.version`, `message`, `tags` (the indicator's);
//! - `event`: `kind: "alert"`, `category: ["network", "threat"]`, `type: ["indicator"]`,
//!   `module`/`dataset` `iocd`/`iocd.ioa`, `severity` (Elastic's risk scores: 21 low,
//!   47 medium, 73 high, 99 critical, 1 info);
//! - `observer`: `name` (the sensor), `type: "sensor"`, `vendor`/`product` `iocd`,
//!   `ingress.interface.name` (when known);
//! - `source`, `destination` (`ip`, `port`), `network` (`transport`, `protocol` when known,
//!   `direction` when `home_net` is set, `community_id`, `vlan.id`);
//! - `rule` (`id`, `name`, `category`, `ruleset`: the feed);
//! - `threat.indicator` (`type`, `name`, `ip` or `url.domain`, `confidence`, `description`,
//!   `reference`, `provider`) and `threat.feed.name`;
//! - the protocol fields of the observable: `dns.question.{name,type}`,
//!   `dns.answers.{type,data}`, `tls.client.server_name`, `tls.version`,
//!   `tls.version_protocol`, `url.domain`;
//! - `iocd`: what ECS has no field for (where the observable was seen, how the indicator
//!   matched, validity, suppression, the pcap reference, the other matching indicators). ECS
//!   leaves custom top-level names to the user; `iocd` is ours.
//!
//! Every field outside `iocd` is checked against the ECS field definitions (name and type) in
//! `tests/formats.rs`.

use serde::ser::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::config::Severity;
use crate::event::{self, Ioa};
use crate::observe::Where;

/// The ECS version whose field definitions the document follows.
pub const ECS_VERSION: &str = "8.11.0";

/// An IoA as an ECS document.
pub struct Document<'a>(pub &'a Ioa);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        document(self.0).serialize(s)
    }
}

/// `event.severity`: Elastic's risk score for the indicator's severity.
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 99,
        Severity::High => 73,
        Severity::Medium => 47,
        Severity::Low => 21,
        Severity::Info => 1,
    }
}

/// `threat.indicator.confidence`: ECS's words for a 0–100 confidence (`Not Specified` when
/// the feed gave none).
pub fn confidence(c: Option<u8>) -> &'static str {
    match c {
        None => "Not Specified",
        Some(0) => "None",
        Some(1..=29) => "Low",
        Some(30..=69) => "Medium",
        Some(_) => "High",
    }
}

/// `network.transport`: the IANA keyword in lower case, as ECS asks.
fn transport(proto: &str) -> String {
    match proto {
        "ICMPv6" => "ipv6-icmp".into(),
        p => p.to_ascii_lowercase(),
    }
}

/// Insert `v` at the dotted `path` of `m`, making the objects on the way.
fn put(m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            m.insert(path.to_owned(), v);
        }
        Some((head, rest)) => {
            let child = m
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(c) = child {
                put(c, rest, v);
            }
        }
    }
}

/// The document, as a JSON object (keys sorted).
pub fn document(e: &Ioa) -> Value {
    let f = &e.flow;
    let ind = &e.indicator;
    let c = &ind.context;
    let o = &e.observable;
    let mut d = Map::new();
    let mut set = |path: &str, v: Value| put(&mut d, path, v);
    set("@timestamp", json!(event::format_ts(e.ts_us)));
    set("ecs.version", json!(ECS_VERSION));
    let signature = super::eve::signature(e);
    set("message", json!(signature));
    if !c.tags.is_empty() {
        set("tags", json!(c.tags));
    }
    set("event.kind", json!("alert"));
    set("event.category", json!(["network", "threat"]));
    set("event.type", json!(["indicator"]));
    set("event.module", json!("iocd"));
    set("event.dataset", json!("iocd.ioa"));
    set("event.severity", json!(severity(c.severity)));
    set("observer.name", json!(e.sensor));
    set("observer.type", json!("sensor"));
    set("observer.vendor", json!("iocd"));
    set("observer.product", json!("iocd"));
    if let Some(i) = &e.in_iface {
        set("observer.ingress.interface.name", json!(i));
    }
    set("source.ip", json!(f.src_ip.to_string()));
    if let Some(p) = f.src_port {
        set("source.port", json!(p));
    }
    set("destination.ip", json!(f.dest_ip.to_string()));
    if let Some(p) = f.dest_port {
        set("destination.port", json!(p));
    }
    set("network.transport", json!(transport(&f.proto)));
    if let Some(p) = f.app_proto {
        set("network.protocol", json!(p));
    }
    if let Some(dir) = f.direction {
        set("network.direction", json!(dir.as_str()));
    }
    set("network.community_id", json!(f.community_id));
    if let Some(v) = f.vlan.first() {
        set("network.vlan.id", json!(v.to_string()));
    }
    set("rule.id", json!(super::eve::signature_id(ind).to_string()));
    set("rule.name", json!(signature));
    set("rule.category", json!(super::eve::CATEGORY));
    set("rule.ruleset", json!(c.feed));
    let (itype, is_net) = match (ind.kind, ind.value.contains(':')) {
        ("domain", _) => ("domain-name", false),
        (_, true) => ("ipv6-addr", true),
        _ => ("ipv4-addr", true),
    };
    set("threat.indicator.type", json!(itype));
    set("threat.indicator.name", json!(ind.value));
    if is_net {
        // `ip` is an address field: a CIDR indicator is only in `name`.
        if ind.value.parse::<std::net::IpAddr>().is_ok() {
            set("threat.indicator.ip", json!(ind.value));
        }
    } else {
        set("threat.indicator.url.domain", json!(ind.value));
    }
    set(
        "threat.indicator.confidence",
        json!(confidence(c.confidence)),
    );
    set("threat.indicator.provider", json!(c.feed));
    if let Some(t) = &c.description {
        set("threat.indicator.description", json!(t));
    }
    if let Some(t) = &c.reference {
        set("threat.indicator.reference", json!(t));
    }
    set("threat.feed.name", json!(c.feed));
    let rrtype = event::dns_rrtype(o.info);
    match o.location {
        Where::DnsQuery => {
            set("dns.question.name", json!(o.value));
            if let Some(t) = rrtype {
                set("dns.question.type", json!(t));
            }
        }
        Where::DnsAnswer | Where::DnsAnswerIp => {
            let mut a = Map::new();
            a.insert("data".into(), json!(o.value));
            if let Some(t) = rrtype {
                a.insert("type".into(), json!(t));
            }
            set("dns.answers", json!([a]));
        }
        Where::TlsSni | Where::QuicSni => {
            set("tls.client.server_name", json!(o.value));
            if let Some(v) = event::tls_version(o.info) {
                // ECS splits "TLS 1.3" into version "1.3" and version_protocol "tls".
                let (proto, num) = match v.strip_prefix("TLS ") {
                    Some(n) => ("tls", n.to_owned()),
                    None => ("ssl", v.trim_start_matches("SSLv").to_owned() + ".0"),
                };
                set("tls.version", json!(num));
                set("tls.version_protocol", json!(proto));
            }
        }
        Where::HttpHost => set("url.domain", json!(o.value)),
        Where::TlsJa3 | Where::QuicJa3 => set("tls.client.ja3", json!(o.value)),
        Where::TlsJa3s | Where::QuicJa3s => set("tls.server.ja3s", json!(o.value)),
        // not (yet) ECS fields; named as ECS names JA3
        Where::TlsJa4 | Where::QuicJa4 => set("tls.client.ja4", json!(o.value)),
        Where::TlsJa4s | Where::QuicJa4s => set("tls.server.ja4s", json!(o.value)),
        // ECS writes certificate hashes in upper-case hex
        Where::TlsCertSha1 => set("tls.server.hash.sha1", json!(o.value.to_uppercase())),
        Where::TlsCertSha256 => set("tls.server.hash.sha256", json!(o.value.to_uppercase())),
        Where::TlsCertName => set("tls.server.x509.subject.common_name", json!([o.value])),
        Where::HttpUrl => set("url.original", json!(o.value)),
        Where::HttpFile | Where::SmtpAttachment => {
            set(&format!("file.hash.{}", o.kind), json!(o.value));
            if let Some(f) = &o.file {
                set("file.size", json!(f.size));
                if let Some(n) = &f.name {
                    set("file.name", json!(n));
                }
                if let Some(m) = &f.mime_type {
                    set("file.mime_type", json!(m));
                }
            }
        }
        Where::SmtpMailFrom => set("email.from.address", json!([o.value])),
        Where::SmtpRcptTo => set("email.to.address", json!([o.value])),
        Where::SmtpHeader => set("email.sender.address", json!(o.value)),
        Where::IpSrc | Where::IpDst => {}
    }
    // the client hello's JA3, on every event of a TLS or QUIC hello (ECS has no JA4 field: it
    // is in iocd.observable.ja4)
    if let Some((ja3, _)) = event::tls_fingerprints(&o.info) {
        set("tls.client.ja3", json!(ja3));
    }
    // What ECS has no field for.
    set("iocd.observable", json!(o));
    set("iocd.indicator.match", json!(ind.match_kind));
    set("iocd.indicator.severity", json!(c.severity.as_str()));
    if let Some(n) = c.confidence {
        set("iocd.indicator.confidence", json!(n));
    }
    if let Some(t) = c.valid_from {
        set("iocd.indicator.valid_from", json!(event::format_time(t)));
    }
    if let Some(t) = c.valid_until {
        set("iocd.indicator.valid_until", json!(event::format_time(t)));
    }
    if let Some(id) = &c.id {
        set("iocd.indicator.id", json!(id));
    }
    if let Some(p) = c.port {
        set("iocd.indicator.port", json!(p));
    }
    if !e.warninglist.is_empty() {
        set("iocd.warninglist", json!(e.warninglist));
    }
    if !e.also_matched.is_empty() {
        set("iocd.also_matched", json!(e.also_matched));
    }
    if let Some(p) = &e.pcap {
        set("iocd.pcap", json!(p));
    }
    if let Some(n) = e.suppressed {
        set("iocd.suppressed", json!(n));
    }
    if !f.tunnel.is_empty() {
        set("iocd.tunnel", json!(f.tunnel));
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample_ioa;
    use crate::observe::Info;

    #[test]
    fn a_tls_match_has_the_ecs_fields_elastic_reads() {
        let mut e = sample_ioa(Severity::High);
        e.observable.info = Info::Tls { version: 0x0304 };
        e.in_iface = Some("eth1".into());
        e.flow.app_proto = Some("tls");
        e.flow.direction = Some(event::Direction::Outbound);
        let d = document(&e);
        assert_eq!(d["@timestamp"], "2019-08-07T21:08:34.709050Z");
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["observer"]["ingress"]["interface"]["name"], "eth1");
        assert_eq!(d["source"]["ip"], "192.168.65.3");
        assert_eq!(d["destination"]["port"], 443);
        assert_eq!(d["network"]["transport"], "tcp");
        assert_eq!(d["network"]["protocol"], "tls");
        assert_eq!(d["network"]["direction"], "outbound");
        assert_eq!(d["threat"]["indicator"]["type"], "domain-name");
        assert_eq!(d["threat"]["indicator"]["url"]["domain"], "tls13.com");
        assert_eq!(d["threat"]["feed"]["name"], "demo-domains");
        assert_eq!(d["tls"]["version"], "1.3");
        assert_eq!(d["tls"]["version_protocol"], "tls");
        assert_eq!(d["tls"]["client"]["server_name"], "enabled.tls13.com");
        assert_eq!(d["event"]["severity"], 73);
    }

    #[test]
    fn the_feeds_port_and_warninglists_are_under_iocd() {
        let mut e = sample_ioa(Severity::High);
        let d = document(&e);
        assert!(d["iocd"].get("warninglist").is_none(), "{d}");
        assert!(d["iocd"]["indicator"].get("port").is_none(), "{d}");
        let mut c = (*e.indicator.context).clone();
        c.port = Some(8443);
        e.indicator.context = std::sync::Arc::new(c);
        e.warninglist = vec!["cloudflare".into()];
        let d = document(&e);
        assert_eq!(d["iocd"]["indicator"]["port"], 8443);
        assert_eq!(d["iocd"]["warninglist"], json!(["cloudflare"]));
    }

    #[test]
    fn confidence_words_and_ip_indicators() {
        assert_eq!(confidence(None), "Not Specified");
        assert_eq!(confidence(Some(0)), "None");
        assert_eq!(confidence(Some(10)), "Low");
        assert_eq!(confidence(Some(50)), "Medium");
        assert_eq!(confidence(Some(90)), "High");
        let mut e = sample_ioa(Severity::Low);
        e.indicator.kind = "cidr";
        e.indicator.value = "2001:db8::/32".into();
        let d = document(&e);
        assert_eq!(d["threat"]["indicator"]["type"], "ipv6-addr");
        assert!(d["threat"]["indicator"].get("ip").is_none());
        e.indicator.value = "192.0.2.7".into();
        e.indicator.kind = "ip";
        assert_eq!(document(&e)["threat"]["indicator"]["ip"], "192.0.2.7");
    }
}
