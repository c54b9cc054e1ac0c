//! JA3 and JA4 client fingerprints (issue 19): matched against `ja3`/`ja4` indicators, and
//! carried in the events of a ClientHello, checked against independent implementations.
//!
//! Expected values and where they come from:
//! - `../shared/pcaps/content/truth.jsonl`: tshark 4.0.17's `tls.handshake.ja3` (TLS and QUIC
//!   hellos) and the union of FoxIO's JA4 references (its Python over tshark, its Rust and
//!   Python expected outputs shipped upstream; see that folder's README).
//! - the captures made here (`pcaps/real/`, `pcaps/demo.pcap`): JA3 from tshark 4.0.17
//!   (`tshark -r F -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3`), JA4 from
//!   ja4plus 1.4.0 (`pip install ja4plus`, an independent Python implementation of FoxIO's
//!   spec: `ja4plus --format csv --types ja4 analyze F`), run on 2026-12-03.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::util;

/// The same value with its last hex digit changed: a decoy that must never match.
fn decoy(v: &str) -> String {
    let (head, last) = v.split_at(v.len() - 1);
    let next = match last {
        "f" => "0",
        "9" => "a",
        d => {
            let n = u8::from_str_radix(d, 16).expect("hex digit") + 1;
            return format!("{head}{n:x}");
        }
    };
    format!("{head}{next}")
}

/// A config with two CSV feeds (`type,value` rows of `kind`): `truth` and `decoys`.
fn feeds(dir: &Path, kind: &str, truth: &BTreeSet<String>) -> std::path::PathBuf {
    let mut t = String::from("type,value\n");
    let mut d = String::from("type,value\n");
    for v in truth {
        t.push_str(&format!("{kind},{v}\n"));
        d.push_str(&format!("{kind},{}\n", decoy(v)));
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
    util::feeds_config(dir, &format!("{}\n{}", feed("truth"), feed("decoys")))
}

/// Replay `pcap` with `cfg`; the events whose observable is of `kind`, by value: the places
/// it was seen and the observables.
fn matched(cfg: &Path, pcap: &Path, kind: &str) -> BTreeMap<String, Vec<Value>> {
    let r = util::replay(&["--config", cfg.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in &r.events {
        assert_ne!(
            e["indicator"]["feed"],
            "decoys",
            "a decoy matched in {}: {e}",
            pcap.display()
        );
        if e["observable"]["kind"] == kind {
            let v = e["observable"]["value"].as_str().unwrap().to_owned();
            out.entry(v).or_default().push(e["observable"].clone());
        }
    }
    out
}

#[test]
fn every_truth_ja3_is_matched_where_tshark_saw_it_and_no_decoy_is() {
    let Some(dir) = util::content_dir() else {
        return;
    };
    let mut checked = 0;
    for t in util::truth(&dir) {
        let ja3 = t["ja3"].as_array().unwrap();
        if ja3.is_empty() {
            continue;
        }
        let file = t["file"].as_str().unwrap();
        let want: BTreeSet<(String, String)> = ja3
            .iter()
            .map(|j| {
                let md5 = j["md5"].as_str().unwrap().to_owned();
                let at = format!(
                    "{}.ja3",
                    if j["transport"] == "quic" {
                        "quic"
                    } else {
                        "tls"
                    }
                );
                (md5, at)
            })
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let cfg = feeds(
            tmp.path(),
            "ja3",
            &want.iter().map(|w| w.0.clone()).collect(),
        );
        let got = matched(&cfg, &dir.join(file), "ja3");
        let ja4_truth = util::strings(&t, "ja4");
        for (md5, at) in &want {
            let obs = got
                .get(md5)
                .unwrap_or_else(|| panic!("{file}: JA3 {md5} ({at}) not matched"));
            assert!(
                obs.iter().any(|o| o["where"] == at.as_str()),
                "{file}: {md5}: {obs:?}"
            );
            for o in obs {
                // the event names the hello's JA4 too: one of the references'
                let ja4 = o["ja4"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: no ja4 in {o}"));
                assert!(
                    ja4_truth.iter().any(|t| t == ja4),
                    "{file}: JA4 {ja4} of {md5}"
                );
                assert_eq!(o["ja3"], md5.as_str());
            }
            checked += 1;
        }
        assert_eq!(
            got.len(),
            want.iter().map(|w| &w.0).collect::<BTreeSet<_>>().len()
        );
    }
    // the truth of 2026-12-03: 94 (md5, transport) pairs in 8 captures, one of them after
    // STARTTLS (read: the SMTP reader hands the hello to TLS); 5 connections of fx-tls-sni-many
    // send a second hello after a HelloRetryRequest
    assert_eq!(checked, 94);
}

#[test]
fn every_truth_ja4_is_matched_and_no_decoy_is() {
    let Some(dir) = util::content_dir() else {
        return;
    };
    let mut checked = 0;
    for t in util::truth(&dir) {
        let want: BTreeSet<String> = util::strings(&t, "ja4").into_iter().collect();
        if want.is_empty() {
            continue;
        }
        let file = t["file"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let cfg = feeds(tmp.path(), "ja4", &want);
        let got = matched(&cfg, &dir.join(file), "ja4");
        for v in &want {
            let obs = got
                .get(v)
                .unwrap_or_else(|| panic!("{file}: JA4 {v} not matched; got {:?}", got.keys()));
            let at = if v.starts_with('q') {
                "quic.ja4"
            } else {
                "tls.ja4"
            };
            assert!(obs.iter().all(|o| o["where"] == at), "{file}: {v}: {obs:?}");
            checked += 1;
        }
        // nothing matched that the references do not list
        assert!(
            got.keys().all(|k| want.contains(k)),
            "{file}: {:?}",
            got.keys()
        );
    }
    // 14 values in 8 captures, one after STARTTLS
    assert_eq!(checked, 14);
}

/// Real clients recorded here: (capture, where, JA3 by tshark 4.0.17, JA4 by ja4plus 1.4.0).
const REAL: &[(&str, &str, &str, &str)] = &[
    (
        "pcaps/real/real-curl-tls13-sni.pcap",
        "tls",
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
    (
        "pcaps/real/real-curl-tls12-sni.pcap",
        "tls",
        "87b9bfc7da97115ed2276737b09f8d74",
        "t12d2807h2_d943125447b4_a44c6288192a",
    ),
    (
        "pcaps/real/real-curl-tls13-sni-mtu256-3-segments.pcap",
        "tls",
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
    (
        "pcaps/real/real-curl-tls13-sni-ipv6.pcap",
        "tls",
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
    (
        "pcaps/real/real-curl-connect-proxy-tls.pcap",
        "tls",
        "0149f47eabf9a20d0893e2a44e5a6323",
        "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    ),
    // aioquic 1.7.2's Initial under a greased QUIC version: tshark does not decrypt it, so
    // its JA3 here is iocd's own (the same hello's JA4 is checked against ja4plus)
    (
        "pcaps/real/real-aioquic-greased-version-initial.pcap",
        "quic",
        "",
        "q13d0307h3_55b375c5d22e_1cecd519fee8",
    ),
];

#[test]
fn real_client_hellos_give_the_reference_ja3_and_ja4_as_indicators() {
    for &(pcap, proto, ja3, ja4) in REAL {
        let tmp = tempfile::tempdir().unwrap();
        let pcap = util::root().join(pcap);
        let cfg = feeds(tmp.path(), "ja4", &BTreeSet::from([ja4.to_owned()]));
        let got = matched(&cfg, &pcap, "ja4");
        let obs = got
            .get(ja4)
            .unwrap_or_else(|| panic!("{}: JA4 {ja4} not matched", pcap.display()));
        assert_eq!(obs[0]["where"], format!("{proto}.ja4"));
        if !ja3.is_empty() {
            assert_eq!(obs[0]["ja3"], ja3, "{}", pcap.display());
            let cfg = feeds(tmp.path(), "ja3", &BTreeSet::from([ja3.to_owned()]));
            let got = matched(&cfg, &pcap, "ja3");
            assert!(got.contains_key(ja3), "{}: JA3 {ja3}", pcap.display());
        }
    }
}

/// With no fingerprint indicator loaded the parser computes nothing, yet the event of a
/// listed SNI still names its hello's JA3 and JA4 (computed for the event): the demo's
/// `login.phish.test` hello (frame 20, curl 7.88.1 with OpenSSL 3.0.19), in every payload.
#[test]
fn an_sni_event_carries_its_hellos_ja3_and_ja4_without_fingerprint_feeds() {
    let tmp = tempfile::tempdir().unwrap();
    util::write_file(&tmp.path().join("d.txt"), "phish.test\n");
    let sinks = |fmt: &str| {
        format!(
            "[[sinks]]\ntype = \"json\"\npath = \"{}\"\npayload = \"{fmt}\"\non_full = \"block\"\n",
            tmp.path().join(format!("{fmt}.json")).display()
        )
    };
    let cfg = util::feeds_config(
        tmp.path(),
        &format!(
            "[[feeds]]\nname = \"d\"\npath = \"{}\"\n{}{}{}",
            tmp.path().join("d.txt").display(),
            sinks("iocd"),
            sinks("eve"),
            sinks("ecs"),
        ),
    );
    let r = util::replay(&["--config", cfg.to_str().unwrap(), &util::demo_pcap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let read = |fmt: &str| -> Vec<Value> {
        std::fs::read_to_string(tmp.path().join(format!("{fmt}.json")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let ja3 = "0149f47eabf9a20d0893e2a44e5a6323";
    let ja4 = "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6";
    let iocd = read("iocd");
    let sni: Vec<&Value> = iocd
        .iter()
        .filter(|e| e["observable"]["where"] == "tls.sni")
        .collect();
    assert_eq!(sni.len(), 1, "{iocd:?}");
    assert_eq!(sni[0]["observable"]["ja3"], ja3);
    assert_eq!(sni[0]["observable"]["ja4"], ja4);
    assert_eq!(sni[0]["observable"]["tls_version"], "TLS 1.3");
    // a DNS event has none
    let dns: Vec<&Value> = iocd
        .iter()
        .filter(|e| e["observable"]["where"] == "dns.query")
        .collect();
    assert!(dns.iter().all(|e| e["observable"].get("ja3").is_none()));
    let eve = read("eve");
    let tls: Vec<&Value> = eve.iter().filter(|e| e.get("tls").is_some()).collect();
    assert_eq!(tls.len(), 1);
    assert_eq!(tls[0]["tls"]["ja3"]["hash"], ja3);
    assert_eq!(tls[0]["tls"]["sni"], "login.phish.test");
    assert_eq!(tls[0]["alert"]["metadata"]["ja3"][0], ja3);
    assert_eq!(tls[0]["alert"]["metadata"]["ja4"][0], ja4);
    let ecs = read("ecs");
    let tls: Vec<&Value> = ecs
        .iter()
        .filter(|e| e["tls"]["client"]["server_name"] == "login.phish.test")
        .collect();
    assert_eq!(tls.len(), 1, "{ecs:?}");
    assert_eq!(tls[0]["tls"]["client"]["ja3"], ja3);
    assert_eq!(tls[0]["iocd"]["observable"]["ja4"], ja4);
}
