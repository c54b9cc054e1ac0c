//! Encoders: a typed [`Record`] becomes the bytes one sink writes, once, at the sink — a JSON
//! document (iocd's own, a Suricata EVE record ([`super::eve`]) or an ECS document
//! ([`super::ecs`])) on a line, or that document inside a syslog record: RFC 5424 or RFC 3164
//! headers, RFC 6587 octet counting on TCP. Severity, MSGID and structured data are read from
//! the typed record; the MSG is the record's JSON (the same bytes a JSON sink writes).

use std::time::SystemTime;

use crate::config::{Payload, Severity, SyslogFormat};
use crate::event::Record;

/// How a sink turns a record into bytes.
pub enum Encoder {
    /// One JSON document per line.
    JsonLine(Payload),
    /// The JSON document inside a syslog record; octet-counted on TCP (RFC 6587 §3.4.1).
    Syslog {
        header: Header,
        tcp: bool,
        payload: Payload,
    },
    /// STIX sightings on a line each, after the sensor's identity object (written before the
    /// first sighting).
    StixLines {
        sensor: String,
        identity_sent: std::sync::atomic::AtomicBool,
    },
}

/// The JSON document of `rec` as `payload` says, appended to `out`. Stats records are iocd's
/// own JSON whatever the payload (and nothing for a sighting payload: a stats record sights
/// nothing). Retro events in EVE and ECS are their flow's alert with the retro fields added
/// (EVE: `event_type: "retro"` and a `retro` object; ECS: `event.start`/`event.end` and
/// `iocd.retro`); aggregates are iocd's JSON in EVE, and in ECS an `event.kind: "event"`
/// document (see [`retro_ecs`], [`aggregate_ecs`]).
pub fn document(payload: Payload, rec: &Record, out: &mut Vec<u8>) {
    // Serialising plain structs into memory cannot fail.
    let _ = match (payload, rec) {
        (Payload::Eve, Record::Ioa(e)) => serde_json::to_writer(out, &super::eve::Alert(e)),
        (Payload::Ecs, Record::Ioa(e)) => serde_json::to_writer(out, &super::ecs::Document(e)),
        (Payload::Eve, Record::Retro(r)) => serde_json::to_writer(out, &retro_eve(r)),
        (Payload::Ecs, Record::Retro(r)) => serde_json::to_writer(out, &retro_ecs(r)),
        (Payload::Ecs, Record::Aggregate(a)) => serde_json::to_writer(out, &aggregate_ecs(a)),
        (Payload::StixSighting, r) => match super::sighting::stix(r) {
            Some(v) => serde_json::to_writer(out, &v),
            None => Ok(()),
        },
        (Payload::MispSighting, r) => match super::sighting::misp(r) {
            Some(v) => serde_json::to_writer(out, &v),
            None => Ok(()),
        },
        _ => serde_json::to_writer(out, rec),
    };
}

/// The retro fields, as the encoders add them.
fn retro_fields(r: &crate::event::RetroHit) -> serde_json::Value {
    serde_json::json!({
        "hunted": crate::event::format_ts(r.ts_us),
        "first_seen": crate::event::format_ts(r.first_seen_us),
        "last_seen": crate::event::format_ts(r.last_seen_us),
        "count": r.count,
    })
}

/// A retro event as EVE: the alert of its first flow, `event_type: "retro"`, and `retro`.
pub fn retro_eve(r: &crate::event::RetroHit) -> serde_json::Value {
    let ioa = r.as_ioa();
    let mut v = serde_json::to_value(super::eve::Alert(&ioa)).unwrap_or_default();
    v["event_type"] = "retro".into();
    v["retro"] = retro_fields(r);
    v
}

/// A retro event as ECS: the alert document of its first flow, with `event.start`/`event.end`
/// (first and last seen) and `iocd.retro`.
pub fn retro_ecs(r: &crate::event::RetroHit) -> serde_json::Value {
    let mut v = super::ecs::document(&r.as_ioa());
    v["@timestamp"] = crate::event::format_ts(r.ts_us).into();
    v["event"]["start"] = crate::event::format_ts(r.first_seen_us).into();
    v["event"]["end"] = crate::event::format_ts(r.last_seen_us).into();
    v["iocd"]["event_type"] = "retro".into();
    v["iocd"]["retro"] = retro_fields(r);
    v
}

/// An aggregate as ECS: `event.kind: "event"`, the host, the indicator under `threat`.
pub fn aggregate_ecs(a: &crate::event::Aggregate) -> serde_json::Value {
    let c = &a.indicator.context;
    serde_json::json!({
        "@timestamp": crate::event::format_ts(a.ts_us),
        "ecs": {"version": super::ecs::ECS_VERSION},
        "event": {
            "kind": "event",
            "category": ["threat"],
            "type": ["indicator"],
            "dataset": "iocd.aggregate",
            "start": crate::event::format_ts(a.first_seen_us),
            "end": crate::event::format_ts(a.last_seen_us),
            "severity": super::ecs::severity(c.severity),
        },
        "host": {"ip": [a.host.to_string()]},
        "observer": {"name": &*a.sensor},
        "threat": {"indicator": {"name": a.indicator.value, "provider": &*c.feed}},
        "iocd": {"event_type": "aggregate", "count": a.count},
    })
}

impl Encoder {
    pub fn encode(&self, rec: &Record) -> Vec<u8> {
        let mut line = Vec::with_capacity(768);
        let payload = match self {
            Encoder::JsonLine(p) | Encoder::Syslog { payload: p, .. } => *p,
            Encoder::StixLines { .. } => Payload::StixSighting,
        };
        document(payload, rec, &mut line);
        if line.is_empty() {
            // A record this payload does not write (stats as a sighting).
            return line;
        }
        match self {
            Encoder::JsonLine(_) => {
                line.push(b'\n');
                line
            }
            Encoder::StixLines {
                sensor,
                identity_sent,
            } => {
                line.push(b'\n');
                if identity_sent.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    return line;
                }
                let mut out = Vec::with_capacity(line.len() + 256);
                let _ = serde_json::to_writer(&mut out, &super::sighting::identity(sensor));
                out.push(b'\n');
                out.extend_from_slice(&line);
                out
            }
            Encoder::Syslog { header, tcp, .. } => {
                let body = String::from_utf8_lossy(&line);
                let r = format_record(header, rec, &body, SystemTime::now());
                if *tcp {
                    octet_counted(&r)
                } else {
                    r.into_bytes()
                }
            }
        }
    }
}

/// APP-NAME of every record.
pub const APP_NAME: &str = "iocd";
/// SD-ID of the structured data element. `32473` is the Private Enterprise Number IANA reserves
/// for documentation and examples (RFC 5612 §2); iocd has no PEN of its own. A deployment with a
/// registered PEN changes it here; consumers should key on the name part `iocd`.
pub const SD_ID: &str = "iocd@32473";
/// Longest HOSTNAME field (RFC 5424 §6.2.4: 255 PRINTUSASCII).
pub const MAX_HOSTNAME: usize = 255;
/// Longest structured-data parameter value we copy from an event: a domain is at most 253
/// characters shown (RFC 1035 §2.3.4) and up to 4× that with `\DDD` escapes; longer values are
/// cut (the full value is in the JSON MSG anyway).
pub const MAX_SD_VALUE: usize = 1024;

/// Syslog severities (RFC 5424 §6.2.1, Table 2).
pub mod severity {
    pub const CRIT: u8 = 2;
    pub const ERR: u8 = 3;
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFO: u8 = 6;
}

/// Everything a record needs besides the event.
#[derive(Debug, Clone)]
pub struct Header {
    pub format: SyslogFormat,
    pub facility: u8,
    pub hostname: String,
    pub pid: u32,
}

impl Header {
    /// `host`: the HOSTNAME field, the sensor's name; the machine's hostname when `None`.
    pub fn new(format: SyslogFormat, facility: u8, host: Option<&str>) -> Self {
        let host = match host {
            Some(h) => h.to_owned(),
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        Header {
            format,
            facility,
            hostname: sanitize_hostname(&host),
            pid: std::process::id(),
        }
    }
}

/// HOSTNAME as RFC 5424 allows it: printable US-ASCII without spaces, at most 255, `-` if empty.
fn sanitize_hostname(h: &str) -> String {
    let s: String = h
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_HOSTNAME)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// The severity of a record: from the indicator's severity for an IoA, info for stats.
pub fn severity_of(rec: &Record) -> u8 {
    let indicator = match rec {
        Record::Stats(_) => return severity::INFO,
        Record::Ioa(e) => &e.indicator,
        Record::Retro(r) => &r.indicator,
        Record::Aggregate(a) => &a.indicator,
    };
    match indicator.context.severity {
        Severity::Critical => severity::CRIT,
        Severity::High => severity::ERR,
        Severity::Medium => severity::WARNING,
        Severity::Low => severity::NOTICE,
        Severity::Info => severity::INFO,
    }
}

/// MSGID: `stats` for stats records, `ioa` for events.
pub fn msgid_of(rec: &Record) -> &'static str {
    match rec {
        Record::Stats(_) => "stats",
        Record::Ioa(_) => "ioa",
        Record::Retro(_) => "retro",
        Record::Aggregate(_) => "aggregate",
    }
}

/// A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
pub fn escape_sd_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars().take(MAX_SD_VALUE) {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The structured data element of an IoA event, `-` (NILVALUE) for anything else.
pub fn structured_data(rec: &Record) -> String {
    let Record::Ioa(ev) = rec else {
        return "-".into();
    };
    let (src, dst) = (ev.flow.src_ip.to_string(), ev.flow.dest_ip.to_string());
    let suppressed = ev.suppressed.map(|n| n.to_string());
    let warninglist = (!ev.warninglist.is_empty()).then(|| ev.warninglist.join(","));
    let params = [
        ("feed", Some(&*ev.indicator.context.feed)),
        ("indicator", Some(ev.indicator.value.as_str())),
        ("observable", Some(ev.observable.value.as_str())),
        ("where", Some(ev.observable.location.as_str())),
        ("src", Some(src.as_str())),
        ("dst", Some(dst.as_str())),
        ("severity", Some(ev.indicator.context.severity.as_str())),
        ("suppressed", suppressed.as_deref()),
        ("warninglist", warninglist.as_deref()),
    ];
    let mut sd = format!("[{SD_ID}");
    for (name, v) in params {
        if let Some(text) = v {
            sd.push_str(&format!(" {name}=\"{}\"", escape_sd_value(text)));
        }
    }
    sd.push(']');
    sd
}

/// One record for `rec`, whose JSON is `line`, without transport framing.
pub fn format_record(h: &Header, rec: &Record, line: &str, now: SystemTime) -> String {
    let pri = u16::from(h.facility) * 8 + u16::from(severity_of(rec));
    match h.format {
        // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
        // (RFC 5424 §6). MSG is MSG-ANY: no BOM, the JSON is UTF-8 anyway.
        SyslogFormat::Rfc5424 => format!(
            "<{pri}>1 {} {} {APP_NAME} {} {} {} {line}",
            humantime::format_rfc3339_micros(now),
            h.hostname,
            h.pid,
            msgid_of(rec),
            structured_data(rec),
        ),
        // <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[pid]:MSG (RFC 3164 §4.1). The time is UTC: the
        // format has no zone, and a daemon under systemd usually runs with TZ unset anyway. No
        // space after the colon: RFC 3164's CONTENT starts at the `[`, and rsyslog's %msg%
        // keeps everything after the `:`, so a space there would come out before the JSON
        // (syslog-ng drops one if present; both read `{` as the start of MSG).
        SyslogFormat::Rfc3164 => format!(
            "<{pri}>{} {} {APP_NAME}[{}]:{line}",
            bsd_timestamp(now),
            h.hostname,
            h.pid
        ),
    }
}

/// `Mmm dd hh:mm:ss` with the day padded by a space (RFC 3164 §4.1.2).
pub fn bsd_timestamp(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // "YYYY-MM-DDThh:mm:ssZ"
    let s = humantime::format_rfc3339_seconds(t).to_string();
    let month: usize = s.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let day: u32 = s.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    let time = s.get(11..19).unwrap_or("00:00:00");
    format!("{} {day:>2} {time}", MONTHS[month.clamp(1, 12) - 1])
}

/// RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in octets.
pub fn octet_counted(record: &str) -> Vec<u8> {
    let mut out = format!("{} ", record.len()).into_bytes();
    out.extend_from_slice(record.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn header(format: SyslogFormat) -> Header {
        Header {
            format,
            facility: 16,
            hostname: "sensor1".into(),
            pid: 4242,
        }
    }

    fn ioa(severity: Severity) -> Record {
        Record::Ioa(Box::new(crate::event::tests::sample_ioa(severity)))
    }

    fn line(rec: &Record) -> String {
        serde_json::to_string(rec).unwrap()
    }

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(1_704_110_400_123_456)
    }

    #[test]
    fn rfc5424_record_has_every_header_field_sd_and_the_json_body() {
        let ev = ioa(Severity::High);
        let body = line(&ev);
        let r = format_record(&header(SyslogFormat::Rfc5424), &ev, &body, at());
        // local0 (16) * 8 + err (3) = 131
        let want = format!(
            "<131>1 2024-01-01T12:00:00.123456Z sensor1 iocd 4242 ioa [iocd@32473 feed=\"demo-domains\" indicator=\"tls13.com\" observable=\"enabled.tls13.com\" where=\"tls.sni\" src=\"192.168.65.3\" dst=\"104.16.125.34\" severity=\"high\"] {body}"
        );
        assert_eq!(r, want);
    }

    #[test]
    fn rfc3164_record_has_bsd_timestamp_and_tag() {
        let ev = ioa(Severity::High);
        let body = line(&ev);
        let r = format_record(&header(SyslogFormat::Rfc3164), &ev, &body, at());
        assert_eq!(r, format!("<131>Jan  1 12:00:00 sensor1 iocd[4242]:{body}"));
        let t = UNIX_EPOCH + Duration::from_secs(1_735_603_199); // 2024-12-30T23:59:59Z
        assert_eq!(bsd_timestamp(t), "Dec 30 23:59:59");
    }

    #[test]
    fn sd_values_escape_quote_backslash_and_bracket() {
        assert_eq!(escape_sd_value(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
        let mut ev = crate::event::tests::sample_ioa(Severity::High);
        ev.observable.value = r#"x\"].tls13.com"#.into();
        ev.suppressed = Some(9);
        let sd = structured_data(&Record::Ioa(Box::new(ev)));
        assert!(sd.contains(r#"observable="x\\\"\].tls13.com""#), "{sd}");
        assert!(sd.ends_with(r#" suppressed="9"]"#), "{sd}");
        let long = "a".repeat(MAX_SD_VALUE + 10);
        assert_eq!(escape_sd_value(&long).len(), MAX_SD_VALUE);
    }

    #[test]
    fn warninglists_are_named_in_json_and_structured_data_only_when_present() {
        let mut ev = crate::event::tests::sample_ioa(Severity::High);
        let plain = Record::Ioa(Box::new(ev.clone()));
        assert!(!structured_data(&plain).contains("warninglist"));
        assert!(serde_json::to_value(&plain)
            .unwrap()
            .get("warninglist")
            .is_none());
        ev.warninglist = vec!["cloudflare".into(), "top-sites".into()];
        let rec = Record::Ioa(Box::new(ev));
        let sd = structured_data(&rec);
        assert!(
            sd.ends_with(r#" warninglist="cloudflare,top-sites"]"#),
            "{sd}"
        );
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(
            v["warninglist"],
            serde_json::json!(["cloudflare", "top-sites"])
        );
    }

    #[test]
    fn severity_maps_from_indicator_severity() {
        for (s, want) in [
            (Severity::Critical, 2),
            (Severity::High, 3),
            (Severity::Medium, 4),
            (Severity::Low, 5),
            (Severity::Info, 6),
        ] {
            assert_eq!(severity_of(&ioa(s)), want, "{s:?}");
        }
    }

    #[test]
    fn a_stats_record_is_info_with_msgid_stats_and_no_structured_data() {
        let stats = Record::Stats(Box::default());
        assert_eq!(severity_of(&stats), severity::INFO);
        assert_eq!(msgid_of(&stats), "stats");
        assert_eq!(structured_data(&stats), "-");
    }

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        assert_eq!(
            octet_counted("<1>1 - - - - - - x"),
            b"18 <1>1 - - - - - - x"
        );
        // Length in octets, not characters.
        assert_eq!(octet_counted("é"), "2 é".as_bytes());
        assert_eq!(octet_counted(""), b"0 ");
    }

    #[test]
    fn hostname_is_printable_ascii_without_spaces() {
        assert_eq!(sanitize_hostname("a b\u{1b}[31mc"), "ab[31mc");
        assert_eq!(sanitize_hostname(""), "-");
    }

    #[test]
    fn the_hostname_is_the_sensor_name_when_given() {
        let h = Header::new(SyslogFormat::Rfc3164, 16, Some("dmz sensor"));
        assert_eq!(h.hostname, "dmzsensor");
        let h = Header::new(SyslogFormat::Rfc5424, 16, None);
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        assert_eq!(h.hostname, sanitize_hostname(&host));
    }

    #[test]
    fn rfc3164_over_tcp_is_octet_counted_with_the_json_right_after_the_tag() {
        let enc = Encoder::Syslog {
            header: header(SyslogFormat::Rfc3164),
            tcp: true,
            payload: Payload::Iocd,
        };
        let ev = ioa(Severity::High);
        let bytes = String::from_utf8(enc.encode(&ev)).unwrap();
        let (len, record) = bytes.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), record.len());
        let msg = record.split_once("iocd[4242]:").unwrap().1;
        assert!(msg.starts_with('{'), "{record}");
        assert_eq!(msg, line(&ev));
    }
}
