//! SMTP through the real binary: the domains of every envelope and header address of the
//! content captures (`../shared/pcaps/content/`, truth from tshark) and of the swaks capture
//! made here (`pcaps/real/real-swaks-smtp.pcap`, truth beside it) are reported with their SMTP
//! `where` and `app_proto` "smtp", near-miss decoys are not, and the STARTTLS session's SNI is
//! read. (E-mail addresses and attachment digests as indicators need the feed formats that
//! load them; until then the unit tests of `src/applayer/smtp.rs` check those observables
//! against the same truth.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::util;

/// Replay `pcap` against a feed of `names` plus near-miss decoys of each; the events.
fn replay_names(dir: &Path, tag: &str, pcap: &Path, names: &BTreeSet<String>) -> util::Replay {
    let mut text = String::new();
    for n in names {
        // a child, an extension and a label-boundary miss of each: none is in the traffic
        for d in [format!("zz.{n}"), format!("{n}.example"), n[1..].to_owned()] {
            if !names
                .iter()
                .any(|m| m == &d || m.ends_with(&format!(".{d}")))
            {
                text.push_str(&format!("{d}\n"));
            }
        }
        text.push_str(&format!("{n}\n"));
    }
    let feed = dir.join(format!("{tag}.feed"));
    util::write_file(&feed, &text);
    let r = util::replay(&[
        "--config",
        util::broad_config(&feed).to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{tag}: {}", r.stderr());
    r
}

/// Matched names by `where`, each event's app_proto checked.
fn by_where(r: &util::Replay) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &r.events {
        let w = e["observable"]["where"].as_str().unwrap().to_owned();
        if w.starts_with("smtp.") {
            assert_eq!(e["flow"]["app_proto"], "smtp", "{e}");
        }
        m.entry(w)
            .or_default()
            .insert(e["indicator"]["value"].as_str().unwrap().to_owned());
    }
    m
}

fn domain_of(a: &str) -> String {
    a.rsplit_once('@').unwrap().1.to_ascii_lowercase()
}

fn domains(v: &Value, keys: &[&str]) -> BTreeSet<String> {
    keys.iter()
        .flat_map(|k| util::strings(v, k))
        .map(|a| domain_of(&a))
        .collect()
}

#[test]
fn content_captures_report_every_address_domain_where_it_was_seen_and_no_decoy() {
    let Some(content) = util::content_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for t in util::truth(&content) {
        let file = t["file"].as_str().unwrap();
        let a = &t["smtp_addresses"];
        let all = domains(a, &["mail_from", "rcpt_to", "hdr_from", "hdr_to", "hdr_cc"]);
        if all.is_empty() {
            continue;
        }
        let r = replay_names(dir.path(), file, &content.join(file), &all);
        let got = by_where(&r);
        let header = domains(
            a,
            &["hdr_from", "hdr_to", "hdr_cc", "hdr_reply_to", "hdr_sender"],
        );
        for (w, want) in [
            ("smtp.mail_from", domains(a, &["mail_from"])),
            ("smtp.rcpt_to", domains(a, &["rcpt_to"])),
            ("smtp.header", header),
        ] {
            assert_eq!(got.get(w).cloned().unwrap_or_default(), want, "{file} {w}");
        }
        let matched: BTreeSet<&String> = got.values().flatten().collect();
        assert!(
            matched.iter().all(|m| all.contains(*m)),
            "{file}: a decoy matched: {matched:?}"
        );
        assert!(util::summary_number(&r.stderr(), "smtp_sessions") >= 1);
        checked += 1;
    }
    assert_eq!(
        checked, 4,
        "SMTP captures with addresses in the content set"
    );
}

#[test]
fn swaks_sessions_on_any_port_and_starttls_report_their_truth() {
    let real = util::root().join("pcaps/real");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(real.join("real-swaks-smtp.json")).unwrap())
            .unwrap();
    let mut names = domains(&truth, &["mail_from", "rcpt_to", "header"]);
    names.extend(util::strings(&truth, "tls_sni"));
    let dir = tempfile::tempdir().unwrap();
    let r = replay_names(
        dir.path(),
        "swaks",
        &real.join("real-swaks-smtp.pcap"),
        &names,
    );
    let got = by_where(&r);
    assert_eq!(got["smtp.mail_from"], domains(&truth, &["mail_from"]));
    assert_eq!(got["smtp.rcpt_to"], domains(&truth, &["rcpt_to"]));
    assert_eq!(got["smtp.header"], domains(&truth, &["header"]));
    // after STARTTLS the ClientHello is read as on any TLS flow
    let sni: BTreeSet<String> = util::strings(&truth, "tls_sni").into_iter().collect();
    assert_eq!(got["tls.sni"], sni);
    let err = r.stderr();
    assert_eq!(util::summary_number(&err, "smtp_sessions"), 3, "{err}");
    assert_eq!(util::summary_number(&err, "smtp_starttls"), 1);
    assert_eq!(
        util::summary_number(&err, "mime_attachments"),
        0,
        "no digest wanted"
    );
}
