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
