//! MISP feeds (`format = "misp"`): the event JSON files a MISP instance publishes as a feed
//! (`<uuid>.json` beside `manifest.json` and `hashes.csv`), read from the feed's directory
//! ([`parse_dir`]) or from one file ([`parse`]). An event file is `{"Event": {...}}`; a
//! REST search answer `{"response": [{"Event": ...}, ...]}` and an array of `{"Event": ...}`
//! are read too.
//!
//! In a directory, every `*.json` file except `manifest.json` is an event, read in file-name
//! order; `hashes.csv` and other files are ignored. A file that cannot be read, is larger than
//! [`MAX_EVENT_FILE_BYTES`], or is not a MISP event is a bad entry located by its file name;
//! the other files still load. The directory is unusable (`Err`) only when it cannot be listed
//! or holds neither `manifest.json` nor any event file.
//!
//! **What maps to what.** Attributes of the event (`Event.Attribute`) and of its objects
//! (`Event.Object[].Attribute`) are read:
//!
//! | MISP attribute `type`            | iocd                                              |
//! |----------------------------------|---------------------------------------------------|
//! | `ip-src`, `ip-dst`               | an address or a CIDR (MISP allows both)           |
//! | `ip-src\|port`, `ip-dst\|port`   | the address before the `\|`                        |
//! | `domain`, `hostname`             | a domain                                          |
//! | `hostname\|port`                 | the domain before the `\|`                         |
//! | `domain\|ip`                     | two entries: the domain and the address           |
//!
//! | MISP                             | field                                             |
//! |----------------------------------|---------------------------------------------------|
//! | event `Tag` + attribute `Tag` names | tags, as is (`tlp:amber`, `misp-galaxy:...`)   |
//! | event `threat_level_id` 1, 2, 3, 4 | severity high, medium, low, info               |
//! | attribute `comment`, else event `info` | description                                |
//! | attribute `first_seen`, `last_seen` | valid_from, valid_until                       |
//! | attribute `uuid`                 | id, and the location in messages (else the file name) |
//!
//! Skipped: `to_ids` false (a bool, or `"0"`/`"1"` as older MISP writes it; absent counts as
//! true) → `misp to_ids=false`; `deleted: true` (the attribute or its object) →
//! `misp deleted`; other types → `misp type <type>` (`misp type sha256`, `misp type url`...).

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::{push_tag, what_name, FeedSink, Location};
use crate::config::FeedConfig;
use crate::indicators::{parse_time, value, Fields, Severity, Value};

/// Largest event file read, in bytes. Events in the public CIRCL and Botvrij OSINT feeds run to
/// a few MiB; 64 MiB leaves room for large private events while bounding memory per file
/// (serde_json's tree is a few times the text).
pub const MAX_EVENT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Parse one MISP event file's text.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let name = feed.path.file_name().map_or_else(
        || feed.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    parse_events(text, &name, out)
}

/// Parse a MISP feed directory: each `*.json` event file but `manifest.json`, in name order.
pub fn parse_dir(dir: &Path, _feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list MISP feed directory {}: {e}", dir.display()))?;
    let mut manifest = false;
    let mut files = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "manifest.json" {
            manifest = true;
        } else if name.ends_with(".json") {
            files.push(name);
        }
    }
    if files.is_empty() && !manifest {
        return Err(format!(
            "{} holds no manifest.json and no event files (*.json)",
            dir.display()
        ));
    }
    files.sort();
    for name in files {
        let at = Location::Object(&name);
        match read_capped(&dir.join(&name)) {
            Ok(text) => {
                if let Err(reason) = parse_events(&text, &name, out) {
                    out.bad(at, &reason, "");
                }
            }
            Err(reason) => out.bad(at, &reason, ""),
        }
    }
    Ok(())
}

fn read_capped(path: &Path) -> Result<String, String> {
    let file = crate::indicators::feeds::open_regular(path)?;
    let mut buf = Vec::new();
    // read one byte past the cap to tell "exactly the cap" from "larger"
    file.take(MAX_EVENT_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > MAX_EVENT_FILE_BYTES {
        return Err(format!("larger than {MAX_EVENT_FILE_BYTES} bytes"));
    }
    String::from_utf8(buf).map_err(|_| "not valid UTF-8".to_owned())
}

fn parse_events(text: &str, file: &str, out: &mut dyn FeedSink) -> Result<(), String> {
    let json: Json = serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text))
        .map_err(|e| format!("not JSON: {e}"))?;
    let list = match &json {
        Json::Object(o) if o.contains_key("Event") => std::slice::from_ref(&json),
        Json::Object(o) => match o.get("response") {
            Some(Json::Array(a)) => a.as_slice(),
            _ => return Err("not a MISP event: no \"Event\" object".to_owned()),
        },
        Json::Array(a) => a.as_slice(),
        _ => return Err("not a MISP event: no \"Event\" object".to_owned()),
    };
    for item in list {
        match item.get("Event") {
            Some(Json::Object(ev)) => event(ev, file, out),
            _ => out.bad(
                Location::Object(file),
                "not a MISP event: no \"Event\" object",
                "",
            ),
        }
    }
    Ok(())
}

/// What an event gives each of its attributes.
struct EventContext<'a> {
    tags: Vec<String>,
    severity: Option<Severity>,
    info: Option<&'a str>,
    file: &'a str,
}

fn event(ev: &Map<String, Json>, file: &str, out: &mut dyn FeedSink) {
    let mut tags = Vec::new();
    tag_names(ev.get("Tag"), &mut tags);
    let ctx = EventContext {
        tags,
        severity: ev.get("threat_level_id").and_then(threat_level),
        info: ev
            .get("info")
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        file,
    };
    for a in array(ev.get("Attribute")) {
        attribute(a, &ctx, false, out);
    }
    for o in array(ev.get("Object")) {
        let deleted = o.get("deleted").is_some_and(truthy);
        for a in array(o.get("Attribute")) {
            attribute(a, &ctx, deleted, out);
        }
    }
}

fn array(v: Option<&Json>) -> &[Json] {
    match v {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

fn tag_names(v: Option<&Json>, tags: &mut Vec<String>) {
    for t in array(v) {
        if let Some(name) = t.get("name").and_then(Json::as_str).map(str::trim) {
            if !name.is_empty() {
                push_tag(tags, name);
            }
        }
    }
}

/// MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined (taken as info).
fn threat_level(v: &Json) -> Option<Severity> {
    let n = match v {
        Json::String(s) => s.trim().parse().ok()?,
        v => v.as_u64()?,
    };
    match n {
        1 => Some(Severity::High),
        2 => Some(Severity::Medium),
        3 => Some(Severity::Low),
        4 => Some(Severity::Info),
        _ => None,
    }
}

/// `true`, `1`, `"1"`, `"true"`.
fn truthy(v: &Json) -> bool {
    match v {
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_u64() == Some(1),
        Json::String(s) => matches!(s.trim(), "1" | "true" | "True"),
        _ => false,
    }
}

/// `to_ids` as MISP writes it: a bool, `0`/`1`, or `"0"`/`"1"`; absent is true.
pub(super) fn to_ids(v: Option<&str>) -> Result<bool, String> {
    match v.map(str::trim) {
        None | Some("1" | "true" | "True") => Ok(true),
        Some("0" | "false" | "False") => Ok(false),
        Some(other) => Err(format!(
            "bad to_ids \"{}\": true, false, 1 or 0",
            value::cut(other)
        )),
    }
}

fn attribute(a: &Json, ctx: &EventContext<'_>, object_deleted: bool, out: &mut dyn FeedSink) {
    let uuid = a.get("uuid").and_then(Json::as_str);
    let at = Location::Object(uuid.unwrap_or(ctx.file));
    if object_deleted || a.get("deleted").is_some_and(truthy) {
        return out.skipped(at, "misp deleted");
    }
    let (Some(kind), Some(text)) = (
        a.get("type").and_then(Json::as_str),
        a.get("value").and_then(Json::as_str),
    ) else {
        return out.bad(at, "attribute without a type and value string", "");
    };
    let Some(values) = values(kind, text) else {
        return out.skipped(at, &format!("misp type {}", what_name(kind)));
    };
    let flag = match a.get("to_ids") {
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) => to_ids(Some(&n.to_string())),
        Some(Json::String(s)) => to_ids(Some(s)),
        None | Some(Json::Null) => Ok(true),
        Some(_) => Err("bad to_ids: not a bool".to_owned()),
    };
    match flag {
        Ok(true) => {}
        Ok(false) => return out.skipped(at, "misp to_ids=false"),
        Err(reason) => return out.bad(at, &reason, text),
    }
    let values = match values {
        Ok(v) => v,
        Err(reason) => return out.bad(at, &reason, text),
    };
    let time = |k: &str| {
        a.get(k)
            .and_then(Json::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{k}: {e}"))
    };
    let (valid_from, valid_until) = match (time("first_seen"), time("last_seen")) {
        (Ok(f), Ok(u)) => (f, u),
        (Err(reason), _) | (_, Err(reason)) => return out.bad(at, &reason, text),
    };
    let mut tags = ctx.tags.clone();
    tag_names(a.get("Tag"), &mut tags);
    let comment = a
        .get("comment")
        .and_then(Json::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let fields = Fields {
        severity: ctx.severity,
        tags,
        description: comment.or(ctx.info).map(str::to_owned),
        valid_from,
        valid_until,
        id: uuid.map(str::to_owned),
        ..Fields::default()
    };
    for v in values {
        out.entry(at, v, fields.clone());
    }
}

/// The values of an attribute of a type iocd uses (`None` for other types); an `Err` when the
/// value does not parse as its type says.
pub(super) fn values(kind: &str, text: &str) -> Option<Result<Vec<Value>, String>> {
    let left = || {
        text.split_once('|')
            .map(|(l, _)| l)
            .ok_or_else(|| format!("{kind}: no '|' in \"{}\"", value::cut(text)))
    };
    Some(match kind {
        "ip-src" | "ip-dst" => value::parse_cidr(text).map(|v| vec![v]),
        "domain" | "hostname" => value::parse_domain(text).map(|v| vec![v]),
        "ip-src|port" | "ip-dst|port" => left().and_then(value::parse_ip).map(|v| vec![v]),
        "hostname|port" => left().and_then(value::parse_domain).map(|v| vec![v]),
        "domain|ip" => text
            .split_once('|')
            .ok_or_else(|| format!("domain|ip: no '|' in \"{}\"", value::cut(text)))
            .and_then(|(d, ip)| Ok(vec![value::parse_domain(d)?, value::parse_cidr(ip)?])),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};
    use std::path::PathBuf;

    const EVENT_1: &str =
        include_str!("../../../tests/feeds/misp/5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json");
    const EVENT_2: &str =
        include_str!("../../../tests/feeds/misp/6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c.json");

    fn sample_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/feeds/misp")
    }

    fn feed() -> FeedConfig {
        FeedConfig::from_path(sample_dir())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn t(s: &str) -> Option<i64> {
        Some(parse_time(s).unwrap())
    }

    #[test]
    fn feed_directory_maps_attributes_and_object_attributes() {
        let mut c = Collect::default();
        parse_dir(&sample_dir(), &feed(), &mut c).unwrap();
        let ev1_tags = [
            "type:OSINT",
            "tlp:white",
            "misp-galaxy:malpedia=\"Pikabot\"",
        ];
        let info1 = "OSINT - Pikabot returns with new loader infrastructure";
        let info2 = "Phishing campaign against European banks";
        let f = |uuid: &str, sev, tags: &[&str], desc: &str| Fields {
            severity: Some(sev),
            tags: strings(tags),
            description: Some(desc.to_owned()),
            id: Some(uuid.to_owned()),
            ..Fields::default()
        };
        let e = |uuid: &str, v: Value, f: Fields| (uuid.to_owned(), v, f);
        let ip = |s: &str| Value::Ip(s.parse().unwrap());
        let dom = |s: &str| Value::Domain(s.as_bytes().to_vec());
        let (u1, u2, u3, u4, u5) = (
            "1c8e3a55-2d4f-4b6c-9e70-8f91a2b3c4d5",
            "2d9f4b66-3e5a-4c7d-8f81-90a2b3c4d5e6",
            "72e490bb-8daf-41c2-9ed6-e5f708192a3b",
            "94a6b2dd-afc1-43e4-9af8-08192a3b4c5d",
            "a5b7c3ee-b0d2-44f5-8b09-192a3b4c5d6e",
        );
        let (u6, u7) = (
            "b6c8d4ff-c1e3-45a6-9c1a-2a3b4c5d6e7f",
            "d8eaf611-e305-47c8-9e3c-4c5d6e7f8091",
        );
        let c2 = [ev1_tags.as_slice(), &["kill-chain:Command and Control"]].concat();
        let m = Severity::Medium;
        let h = Severity::High;
        assert_eq!(
            c.entries,
            vec![
                e(
                    u1,
                    ip("198.51.100.246"),
                    Fields {
                        valid_from: t("2024-04-20T10:00:00Z"),
                        ..f(u1, m, &c2, "Pikabot C2")
                    }
                ),
                e(u2, dom("pika-loader.example"), f(u2, m, &ev1_tags, info1)),
                e(
                    u3,
                    Value::Cidr("203.0.113.0/25".parse().unwrap()),
                    Fields {
                        valid_from: t("2024-04-01T00:00:00Z"),
                        valid_until: t("2024-06-01T00:00:00Z"),
                        ..f(u3, m, &ev1_tags, info1)
                    }
                ),
                e(
                    u4,
                    dom("update.pika-loader.example"),
                    f(u4, m, &ev1_tags, info1)
                ),
                e(u5, ip("2001:db8:77::5"), f(u5, m, &ev1_tags, info1)),
                e(
                    u6,
                    dom("secure-bank-login.example"),
                    f(u6, h, &["tlp:amber"], "Landing page")
                ),
                e(
                    u6,
                    ip("198.51.100.77"),
                    f(u6, h, &["tlp:amber"], "Landing page")
                ),
                e(
                    u7,
                    dom("login.secure-bank-login.example"),
                    f(
                        u7,
                        h,
                        &["tlp:amber", "phishing:techniques=\"credential-harvesting\""],
                        info2
                    )
                ),
            ]
        );
        let skipped: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("0b7d2f44-1c3e-4a5b-8d6f-7e8091a2b3c4", "misp type link"),
                ("3ea05c77-4f6b-4d8e-9a92-a1b3c4d5e6f7", "misp type sha256"),
                ("4fb16d88-5a7c-4e9f-8ba3-b2c4d5e6f708", "misp type url"),
                ("50c27e99-6b8d-4fa0-9cb4-c3d5e6f70819", "misp to_ids=false"),
                ("61d38faa-7c9e-40b1-8dc5-d4e6f708192a", "misp deleted"),
                ("c7d9e500-d2f4-46b7-8d2b-3b4c5d6e7f80", "misp to_ids=false"),
                (
                    "fa0c1833-0527-49ea-905e-6e7f8091a2b3",
                    "misp type email-src"
                ),
                ("1c2e3a55-2749-4b0c-9270-8091a2b3c4d5", "misp deleted"),
            ]
        );
        assert_eq!(
            c.bad,
            vec![(
                "e9fb0722-f416-48d9-8f4d-5d6e7f8091a2".into(),
                "not an IP address: \"198.51.100.300\"".into()
            )]
        );
    }

    #[test]
    fn a_broken_event_file_is_one_bad_entry_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "manifest.json",
            "hashes.csv",
            "5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json",
        ] {
            std::fs::copy(sample_dir().join(name), dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("0-truncated.json"), &EVENT_2[..200]).unwrap();
        std::fs::write(
            dir.path().join("9-other.json"),
            r#"{"response": [{"Org": {}}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a-latin1.json"),
            b"{\"Event\": {\"info\": \"caf\xe9\"}}",
        )
        .unwrap();
        let mut c = Collect::default();
        parse_dir(dir.path(), &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 5, "event 1 loads");
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["0-truncated.json", "9-other.json", "a-latin1.json"]);
        assert!(c.bad[0].1.starts_with("not JSON"));
        assert!(c.bad[1].1.contains("no \"Event\""));
        assert_eq!(c.bad[2].1, "not valid UTF-8");
    }

    #[test]
    fn unusable_directories_are_errors_but_an_empty_feed_is_not() {
        let mut c = Collect::default();
        let dir = tempfile::tempdir().unwrap();
        assert!(parse_dir(dir.path(), &feed(), &mut c)
            .unwrap_err()
            .contains("no manifest.json"));
        assert!(parse_dir(&dir.path().join("nope"), &feed(), &mut c)
            .unwrap_err()
            .contains("cannot list"));
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        assert_eq!(parse_dir(dir.path(), &feed(), &mut c), Ok(()));
        assert!(c.entries.is_empty() && c.bad.is_empty());
    }

    #[test]
    fn single_files_and_rest_search_answers() {
        let mut c = Collect::default();
        parse(EVENT_2, &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 3);
        let wrapped = format!("{{\"response\": [{EVENT_1}, {EVENT_2}]}}");
        let mut c = Collect::default();
        parse(&wrapped, &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 8);
        // no uuid: located by the file name
        let mut c = Collect::default();
        let no_uuid =
            r#"{"Event": {"Attribute": [{"type": "ip-dst", "value": "x", "to_ids": 1}]}}"#;
        parse(
            no_uuid,
            &FeedConfig::from_path("/feeds/ev.json".into()),
            &mut c,
        )
        .unwrap();
        assert_eq!(c.bad[0].0, "ev.json");
        for bad in ["", "[", "{\"Event\": 1}", "{\"event\": {}}", "\"x\""] {
            let mut c = Collect::default();
            let r = parse(bad, &feed(), &mut c);
            assert!(r.is_err() || !c.bad.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn attribute_values_by_type() {
        let v = |k, s| values(k, s);
        assert_eq!(
            v("ip-dst|port", "2001:db8::1|443"),
            Some(Ok(vec![Value::Ip("2001:db8::1".parse().unwrap())]))
        );
        assert_eq!(
            v("hostname|port", "a.example|80"),
            Some(Ok(vec![Value::Domain(b"a.example".to_vec())]))
        );
        assert!(matches!(v("ip-src|port", "192.0.2.1"), Some(Err(_))));
        assert!(matches!(
            v("domain|ip", "a.example|b.example"),
            Some(Err(_))
        ));
        assert_eq!(v("sha1", "x"), None);
        assert_eq!(to_ids(Some("0")), Ok(false));
        assert_eq!(to_ids(None), Ok(true));
        assert!(to_ids(Some("yes")).is_err());
    }

    #[test]
    fn truncated_or_mutated_misp_never_panics() {
        let f = feed();
        assert_never_panics(EVENT_1, &|s, c| parse(s, &f, c));
        assert_never_panics(EVENT_2, &|s, c| parse(s, &f, c));
    }
}
