//! QUIC Initial SNI end to end: the real binary on every corpus capture with QUIC content must
//! report each truth `quic_sni` as a `quic.sni` event, and no near-miss decoy.

use std::collections::BTreeSet;

use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_UDP};
use crate::util::{self, strings};

/// Captures with QUIC content whose truth lists no SNI: they must replay cleanly and report none.
fn has_quic(t: &serde_json::Value) -> bool {
    !strings(t, "quic_versions").is_empty() || !strings(t, "quic_sni").is_empty()
}

#[test]
fn every_corpus_quic_sni_is_reported() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = 0;
    let mut names = 0;
    for t in util::truth(&corpus) {
        if !has_quic(&t) {
            continue;
        }
        let file = t["file"].as_str().unwrap().to_owned();
        let sni = strings(&t, "quic_sni");
        let mut feed = String::from("# quic_sni from truth.jsonl, and decoys\n");
        let mut decoys = vec!["canary.invalid".to_owned()];
        for n in &sni {
            feed.push_str(&format!("{n}\n"));
            decoys.push(format!("zz.{n}"));
            decoys.push(format!("{n}.example"));
        }
        for d in &decoys {
            feed.push_str(&format!("{d}\n"));
        }
        let path = dir.path().join(format!("{file}.feed"));
        util::write_file(&path, &feed);
        let pcap = corpus.join(&file);
        let r = util::replay(&[
            "--workers",
            "2",
            "--config",
            util::broad_config(&path).to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        assert_eq!(r.code(), Some(0), "{file}: stderr:\n{}", r.stderr());
        let reported: BTreeSet<String> = r
            .events
            .iter()
            .filter(|e| e["observable"]["where"] == "quic.sni")
            .map(|e| e["observable"]["value"].as_str().unwrap().to_owned())
            .collect();
        let want: BTreeSet<String> = sni.iter().cloned().collect();
        assert_eq!(reported, want, "{file}: quic.sni; stderr:\n{}", r.stderr());
        for e in &r.events {
            let v = e["indicator"]["value"].as_str().unwrap();
            assert!(!decoys.iter().any(|d| d == v), "{file}: decoy {v} matched");
        }
        assert!(r.stderr().contains("quic: initials_decrypted"), "{file}");
        files += 1;
        names += want.len();
    }
    println!("quic corpus: {files} captures, {names} SNIs");
    assert!(files >= 15, "only {files} QUIC captures in truth.jsonl");
}

/// RFC 9001 §A.2's client Initial (SNI example.com) on an unusual port: QUIC is recognised by
/// content, not by port 443.
#[test]
fn rfc9001_client_initial_on_any_port() {
    const RFC9001_CLIENT_INITIAL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pcaps/vectors/rfc9001-a2-client-initial.hex"
    ));
    let hex: String = RFC9001_CLIENT_INITIAL.split_whitespace().collect();
    let payload: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("rfc9001.pcap");
    let frame = eth_ipv4(
        [10, 0, 0, 1],
        [192, 0, 2, 7],
        PROTO_UDP,
        50123,
        8443,
        &payload,
    );
    write_pcap(&pcap, 1, &[(1_700_000_000_000_000, frame)]);
    let feed = dir.path().join("feed");
    util::write_file(&feed, "example.com\n");
    let r = util::replay(&["--feed", feed.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.events.len(), 1, "{}", r.stderr());
    let e = &r.events[0];
    assert_eq!(e["observable"]["where"], "quic.sni");
    assert_eq!(e["observable"]["value"], "example.com");
    assert_eq!(e["flow"]["dest_port"], 8443);
}

/// aioquic's Initial under the greased version 0x1a2a3a4a (protected with v1's keys), made by
/// `pcaps/real/capture.sh`: tshark 4.0 does not open it, `pcaps/real/quic-initial-sni.py`
/// (Python's `cryptography`) does: SNI grease.ioc-test.example in frames 9, 11, 13 and 15.
#[test]
fn greased_version_initial_of_a_real_client_gives_its_sni() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    util::write_file(&feed, "ioc-test.example\n");
    let pcap = util::root().join("pcaps/real/real-aioquic-greased-version-initial.pcap");
    let r = util::replay(&["--feed", feed.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    let e = &r.events[0];
    assert_eq!(e["observable"]["where"], "quic.sni");
    assert_eq!(e["observable"]["value"], "grease.ioc-test.example");
    assert_eq!(e["pcap"]["packet"], 9);
    // one trial opened the first packet; its retransmissions were read with the
    // connection's keys, no trials
    let err = r.stderr();
    assert_eq!(util::summary_number(&err, "greased_decrypted"), 1, "{err}");
    assert_eq!(util::summary_number(&err, "grease_trials"), 1, "{err}");
    assert_eq!(util::summary_number(&err, "greased"), 5, "{err}");
    assert_eq!(util::summary_number(&err, "malformed"), 0, "{err}");
}
