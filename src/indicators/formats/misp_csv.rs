//! MISP CSV export (`format = "misp_csv"`): what MISP's `restSearch` returns with
//! `returnFormat: csv` and the event "Download as CSV" writes:
//!
//! ```text
//! uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category
//! "5f3a...","1402","Network activity","ip-dst","198.51.100.7","C2","1","1714560000","","tlp:white","","",""
//! ```
//!
//! Columns are found by header name (the first row; any order, trimmed, any case); the file is
//! unusable (`Err`) without `type` and `value` columns. The type and `to_ids` rules are the
//! MISP feed's (see [`super::misp`]): `ip-src`/`ip-dst` (address or CIDR), `ip-src|port`,
//! `ip-dst|port`, `domain`, `hostname`, `hostname|port`, `domain|ip` (two entries); other
//! types skipped as `misp type <type>`, `to_ids` `0` skipped as `misp to_ids=false`.
//!
//! | column                    | field                                         |
//! |---------------------------|-----------------------------------------------|
//! | `attribute_tag`           | tags (comma-separated)                        |
//! | `comment`                 | description                                   |
//! | `uuid`                    | id                                            |
//! | `first_seen`, `last_seen` | valid_from, valid_until (when the export requested them) |
//!
//! The export carries no threat level, so severity is the feed's. `date` is when the attribute
//! was last changed, not a validity, and is not used. Locations are file lines.

use ::csv::{ReaderBuilder, StringRecord};

use super::csv::line_of;
use super::misp::{skip_reason, to_ids, values};
use super::{push_tag, push_tags, FeedSink, Location};
use crate::config::{FeedConfig, UrlHttps};
use crate::indicators::{parse_time, Fields};

/// Parse a MISP CSV export.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // the csv crate copies each record: no line over MAX_LINE_BYTES reaches it
    let text = &*super::blank_long_lines(text, 1, out);
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(kind), Some(value)) = (col("type"), col("value")) else {
        return Err("the header row names no \"type\" and \"value\" columns".to_owned());
    };
    let cols = Cols {
        kind,
        value,
        uuid: col("uuid"),
        comment: col("comment"),
        to_ids: col("to_ids"),
        tags: col("attribute_tag"),
        first_seen: col("first_seen"),
        last_seen: col("last_seen"),
    };
    for rec in reader.records() {
        match rec {
            Ok(rec) => {
                let at = Location::Line(line_of(text, &rec, None));
                row(at, &rec, &cols, feed.url_https, out)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.bad(Location::Line(line), &format!("unreadable row: {e}"), "");
            }
        }
    }
    Ok(())
}

struct Cols {
    kind: usize,
    value: usize,
    uuid: Option<usize>,
    comment: Option<usize>,
    to_ids: Option<usize>,
    tags: Option<usize>,
    first_seen: Option<usize>,
    last_seen: Option<usize>,
}

fn row(
    at: Location<'_>,
    rec: &StringRecord,
    c: &Cols,
    url_https: UrlHttps,
    out: &mut dyn FeedSink,
) {
    let get = |i: Option<usize>| {
        i.and_then(|i| rec.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let text = || rec.iter().collect::<Vec<_>>().join(",");
    let (Some(kind), Some(value)) = (get(Some(c.kind)), get(Some(c.value))) else {
        return out.bad(at, "no type or no value", &text());
    };
    let Some(values) = values(kind, value, url_https) else {
        return out.skipped(at, &skip_reason(kind));
    };
    match to_ids(get(c.to_ids)) {
        Ok(true) => {}
        Ok(false) => return out.skipped(at, "misp to_ids=false"),
        Err(reason) => return out.bad(at, &reason, &text()),
    }
    let values = match values {
        Ok(v) => v,
        Err(reason) => return out.bad(at, &reason, &text()),
    };
    let time = |i, k: &str| {
        get(i)
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{k}: {e}"))
    };
    let (valid_from, valid_until) = match (
        time(c.first_seen, "first_seen"),
        time(c.last_seen, "last_seen"),
    ) {
        (Ok(f), Ok(u)) => (f, u),
        (Err(reason), _) | (_, Err(reason)) => return out.bad(at, &reason, &text()),
    };
    let mut fields = Fields {
        description: get(c.comment).map(str::to_owned),
        valid_from,
        valid_until,
        id: get(c.uuid).map(str::to_owned),
        ..Fields::default()
    };
    if let Some(t) = get(c.tags) {
        push_tags(&mut fields.tags, t, ',');
    }
    if let Some(name) = values.filename {
        push_tag(&mut fields.tags, &format!("filename:{name}"));
    }
    fields.match_mode = values.mode;
    values.emit(at, fields, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};
    use crate::indicators::Value;
    use crate::observe::Token;

    const SAMPLE: &str = include_str!("../../../tests/feeds/misp-export.csv");

    fn run(text: &str) -> Result<Collect, String> {
        let mut c = Collect::default();
        parse(text, &FeedConfig::from_path("export.csv".into()), &mut c)?;
        Ok(c)
    }

    #[test]
    fn export_rows_map_like_feed_attributes() {
        let c = run(SAMPLE).unwrap();
        let f = |uuid: &str, tags: &[&str], desc: Option<&str>| Fields {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            description: desc.map(str::to_owned),
            id: Some(uuid.to_owned()),
            ..Fields::default()
        };
        let ip = |s: &str| Value::Ip(s.parse().unwrap());
        let dom = |s: &str| Value::Domain(s.as_bytes().to_vec());
        let tok = |t, s| crate::indicators::value::parse_token(t, s).unwrap();
        let landing = f(
            "b6c8d4ff-c1e3-45a6-9c1a-2a3b4c5d6e7f",
            &["tlp:amber"],
            Some("Landing page, \"secure\" login clone"),
        );
        assert_eq!(
            c.entries,
            vec![
                (
                    "2".into(),
                    ip("198.51.100.246"),
                    f(
                        "1c8e3a55-2d4f-4b6c-9e70-8f91a2b3c4d5",
                        &["tlp:white", "kill-chain:Command and Control"],
                        Some("Pikabot C2")
                    )
                ),
                (
                    "3".into(),
                    dom("pika-loader.example"),
                    f("2d9f4b66-3e5a-4c7d-8f81-90a2b3c4d5e6", &["tlp:white"], None)
                ),
                (
                    "4".into(),
                    tok(
                        Token::Sha256,
                        "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
                    ),
                    f("3ea05c77-4f6b-4d8e-9a92-a1b3c4d5e6f7", &[], None)
                ),
                (
                    "6".into(),
                    dom("update.pika-loader.example"),
                    f("94a6b2dd-afc1-43e4-9af8-08192a3b4c5d", &[], None)
                ),
                (
                    "7".into(),
                    ip("2001:db8:77::5"),
                    f("a5b7c3ee-b0d2-44f5-8b09-192a3b4c5d6e", &[], None)
                ),
                (
                    "8".into(),
                    dom("secure-bank-login.example"),
                    landing.clone()
                ),
                ("8".into(), ip("198.51.100.77"), landing),
                (
                    "11".into(),
                    tok(Token::Md5, "44d88612fea8a8f36de82e1278abb02f"),
                    f(
                        "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
                        &["filename:invoice.exe"],
                        None
                    )
                ),
                (
                    "12".into(),
                    tok(Token::CertSha1, "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9"),
                    f(
                        "1d2e3f4a-5b6c-4d7e-8f80-91a2b3c4d5e6",
                        &[],
                        Some("C2 certificate")
                    )
                ),
                (
                    "14".into(),
                    tok(Token::Email, "billing@evil-invoices.example"),
                    f("3f4a5b6c-7d8e-4f90-91a2-b3c4d5e6f708", &[], None)
                ),
                (
                    "15".into(),
                    tok(Token::Url, "https://cdn.evil.example/x.exe"),
                    f("4a5b6c7d-8e9f-4a01-a2b3-c4d5e6f70819", &[], None)
                ),
            ]
        );
        assert_eq!(
            c.skipped,
            vec![
                ("5".into(), "misp to_ids=false".into()),
                (
                    "13".into(),
                    "misp type jarm-fingerprint (JARM needs active scanning)".into()
                )
            ]
        );
        assert_eq!(
            c.bad,
            vec![
                ("9".into(), "not an IP address: \"198.51.100.300\"".into()),
                (
                    "10".into(),
                    "bad to_ids \"yes\": true, false, 1 or 0".into()
                )
            ]
        );
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_with_validity() {
        let text = "Value,TYPE,first_seen,last_seen\n192.0.2.1,ip-src,2024-01-01T00:00:00.000000+00:00,\nevil.example,domain,soon,\n";
        let c = run(text).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].2.valid_from, Some(1_704_067_200_000_000));
        assert_eq!(c.bad[0].0, "3");
        assert!(c.bad[0].1.starts_with("first_seen: bad time"));
    }

    #[test]
    fn a_header_without_type_and_value_is_an_error() {
        for text in [
            "",
            "uuid,event_id,category,value\n",
            "uuid;type;value\nx;ip-dst;192.0.2.1\n",
        ] {
            assert!(
                run(text).unwrap_err().contains("\"type\" and \"value\""),
                "{text:?}"
            );
        }
    }

    #[test]
    fn truncated_or_mutated_misp_csv_never_panics() {
        let f = FeedConfig::from_path("export.csv".into());
        assert_never_panics(SAMPLE, &|s, c| parse(s, &f, c));
    }
}
