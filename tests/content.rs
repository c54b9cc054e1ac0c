//! The content IoCs of issue 18 end to end: `iocd replay` of the public content captures
//! (`../shared/pcaps/content/`) against feeds of their truth — every URL tshark saw
//! (`http.request.full_uri`), every HTTP object tshark exported (MD5, SHA-1, SHA-256 of the
//! de-chunked, decoded body), every SMTP address (envelope and headers) and attachment — must
//! give an event, and a feed of near misses (one hex digit changed, a path one byte longer, a
//! local part one letter longer) none. Certificates and fingerprints are checked the same way in
//! `tls_server.rs` and `fingerprints.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::util;

/// The same hex digest with its last digit changed.
fn hex_decoy(v: &str) -> String {
    let (head, last) = v.split_at(v.len() - 1);
    let n = u8::from_str_radix(last, 16).expect("hex digit");
    format!("{head}{:x}", (n + 1) % 16)
}

/// A near miss of a value of `kind`.
fn decoy(kind: &str, v: &str) -> String {
    match kind {
        "url" => format!("{v}x"),
        "email" => format!("x{v}"),
        _ => hex_decoy(v),
    }
}

/// The key an event shows for a truth value of `kind` (URLs normalised as iocd does).
fn shown(kind: &str, v: &str) -> String {
    match kind {
        "url" => String::from_utf8(iocd::url::parse(v).expect("truth URL").key).unwrap(),
        _ => v.to_ascii_lowercase(),
    }
}

/// Replay `pcap` against a `truth` and a `decoys` feed of `(kind, value)` rows; every truth
/// value must be an event's observable of its kind, no decoy may match.
fn check(pcap: &Path, want: &BTreeSet<(&'static str, String)>) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut t, mut d) = (String::from("type,value\n"), String::from("type,value\n"));
    for (kind, v) in want {
        t.push_str(&format!("{kind},{v}\n"));
        d.push_str(&format!("{kind},{}\n", decoy(kind, v)));
    }
    util::write_file(&dir.join("truth.csv"), &t);
    util::write_file(&dir.join("decoys.csv"), &d);
    let feed = |name: &str| {
        format!(
            "[[feeds]]\nname = \"{name}\"\npath = \"{}\"\nformat = \"csv\"\n\
             [feeds.csv.columns]\nvalue = \"value\"\ntype = \"type\"\n",
            dir.join(format!("{name}.csv")).display()
        )
    };
    let cfg = util::feeds_config(dir, &format!("{}\n{}", feed("truth"), feed("decoys")));
    let r = util::replay(&["--config", cfg.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let mut got = BTreeSet::new();
    for e in &r.events {
        assert_ne!(
            e["indicator"]["feed"],
            "decoys",
            "a near miss matched in {}: {e}",
            pcap.display()
        );
        got.insert((
            e["observable"]["kind"].as_str().unwrap_or("").to_owned(),
            e["observable"]["value"].as_str().unwrap_or("").to_owned(),
        ));
    }
    for (kind, v) in want {
        assert!(
            got.contains(&((*kind).to_owned(), shown(kind, v))),
            "{}: the {kind} {v} gave no event; events: {got:?}",
            pcap.display()
        );
    }
    want.len()
}

/// An HTTP object tshark exported that no client or server sent as a body: in
/// zk-http-nonstandard-port.pcap tshark did not read the lower-case `http/1.1` status line
/// (no `http_responses`) and exported the response's head, whose chunked body never comes.
fn head_as_file(t: &Value, f: &Value) -> bool {
    t["http_responses"].as_array().is_some_and(|r| r.is_empty())
        && t["http_files_crosscheck"]["tshark_only"]
            .as_array()
            .is_some_and(|o| o.contains(&f["sha256"]))
}

#[test]
fn every_url_file_address_and_attachment_of_the_content_captures_matches_and_no_near_miss() {
    let Some(dir) = util::content_dir() else {
        return;
    };
    let (mut captures, mut values) = (0, 0);
    for t in util::truth(&dir) {
        let file = t["file"].as_str().unwrap();
        let mut want: BTreeSet<(&'static str, String)> = BTreeSet::new();
        for u in util::strings(&t, "urls") {
            want.insert(("url", u));
        }
        for f in t["http_files"].as_array().into_iter().flatten() {
            if head_as_file(&t, f) {
                continue;
            }
            for kind in ["md5", "sha1", "sha256"] {
                want.insert((kind, f[kind].as_str().unwrap().to_owned()));
            }
        }
        for a in util::strings(&t, "smtp_addresses_all") {
            want.insert(("email", a));
        }
        // sv-smtp-bug3616.pcap: tshark's export of the message holds bytes twice, so its
        // attachment hashes are not of the file sent (see applayer::smtp's tests, which
        // check NEWS.txt against Python over the reassembled stream)
        if file != "sv-smtp-bug3616.pcap" {
            for a in t["smtp_attachments"].as_array().into_iter().flatten() {
                for kind in ["md5", "sha256"] {
                    if let Some(h) = a[kind].as_str() {
                        want.insert((kind, h.to_owned()));
                    }
                }
            }
        }
        if want.is_empty() {
            continue;
        }
        values += check(&dir.join(file), &want);
        captures += 1;
    }
    eprintln!("content: {values} truth values of {captures} captures matched");
    assert!(
        captures >= 14 && values >= 80,
        "{captures} captures, {values} values"
    );
}

/// The same content IoCs written in every feed format iocd reads — plain (by shape), CSV,
/// Zeek intel, STIX 2.1, MISP JSON and MISP CSV — each replayed alone against a download
/// (a gzip body) and an SMTP message with an attachment: each format's URL, file hash and
/// address give their events.
#[test]
fn every_feed_format_loads_urls_hashes_and_addresses_that_match_on_the_wire() {
    let Some(dir) = util::content_dir() else {
        return;
    };
    let truth: Vec<Value> = util::truth(&dir);
    let of = |name: &str| truth.iter().find(|t| t["file"] == name).unwrap().clone();
    let http = of("zk-http-get-gzip.pcap");
    let smtp = of("ak-smtp-zip-attachment.pcap");
    let url = util::strings(&http, "urls")[0].clone();
    let file = http["http_files"][0]["sha256"].as_str().unwrap().to_owned();
    let attachment = smtp["smtp_attachments"][0]["md5"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = util::strings(&smtp, "smtp_addresses_all")[0].clone();
    // Zeek lists URLs without their scheme
    let bare = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let attr = |t: &str, v: &str| serde_json::json!({"type": t, "value": v, "to_ids": true});
    let formats: Vec<(&str, &str, String)> = vec![
        (
            "plain",
            "plain.txt",
            format!("{url}\n{file}\n{attachment}\n{address}\n"),
        ),
        (
            "csv",
            "feed.csv",
            format!("type,value\nurl,{url}\nsha256,{file}\nmd5,{attachment}\nemail,{address}\n"),
        ),
        (
            "zeek",
            "intel.dat",
            format!(
                "#fields\tindicator\tindicator_type\tmeta.source\n{bare}\tIntel::URL\tt\n\
                 {file}\tIntel::FILE_HASH\tt\n{attachment}\tIntel::FILE_HASH\tt\n\
                 {address}\tIntel::EMAIL\tt\n"
            ),
        ),
        (
            "stix",
            "bundle.json",
            serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [{
                "type": "indicator", "id": "indicator--1", "pattern_type": "stix",
                "valid_from": "2000-01-01T00:00:00Z",
                "pattern": format!("[url:value = '{url}'] OR [file:hashes.'SHA-256' = '{file}'] \
                                    OR [file:hashes.MD5 = '{attachment}'] \
                                    OR [email-addr:value = '{address}']")
            }]})
            .to_string(),
        ),
        (
            "misp",
            "event.json",
            serde_json::json!({"Event": {"info": "t", "Attribute": [
                attr("url", &url), attr("filename|sha256", &format!("f.bin|{file}")),
                attr("md5", &attachment), attr("email-dst", &address)
            ]}})
            .to_string(),
        ),
        (
            "misp_csv",
            "misp.csv",
            format!(
                "uuid,event_id,category,type,value,comment,to_ids\n\
                 \"u1\",\"1\",\"Network activity\",\"url\",\"{url}\",\"\",\"1\"\n\
                 \"u2\",\"1\",\"Payload delivery\",\"sha256\",\"{file}\",\"\",\"1\"\n\
                 \"u3\",\"1\",\"Payload delivery\",\"md5\",\"{attachment}\",\"\",\"1\"\n\
                 \"u4\",\"1\",\"Payload delivery\",\"email-src\",\"{address}\",\"\",\"1\"\n"
            ),
        ),
    ];
    for (format, name, text) in formats {
        let tmp = tempfile::tempdir().unwrap();
        util::write_file(&tmp.path().join(name), &text);
        let columns = if format == "csv" {
            "[feeds.csv.columns]\nvalue = \"value\"\ntype = \"type\"\n"
        } else {
            ""
        };
        let cfg = util::feeds_config(
            tmp.path(),
            &format!(
                "[[feeds]]\nname = \"f\"\npath = \"{}\"\nformat = \"{format}\"\n{columns}",
                tmp.path().join(name).display()
            ),
        );
        let mut got = BTreeSet::new();
        for pcap in [&http, &smtp] {
            let path = dir.join(pcap["file"].as_str().unwrap());
            let r = util::replay(&["--config", cfg.to_str().unwrap(), path.to_str().unwrap()]);
            assert_eq!(r.code(), Some(0), "{format}: {}", r.stderr());
            for e in &r.events {
                got.insert((
                    e["observable"]["kind"].as_str().unwrap().to_owned(),
                    e["observable"]["value"].as_str().unwrap().to_owned(),
                ));
            }
        }
        for (kind, v) in [
            ("url", &url),
            ("sha256", &file),
            ("md5", &attachment),
            ("email", &address),
        ] {
            assert!(
                got.contains(&(kind.to_owned(), shown(kind, v))),
                "{format}: the {kind} {v} gave no event: {got:?}"
            );
        }
    }
}
