//! Alert suppression per (indicator, internal host) through the binary, driven by packet time.

use serde_json::Value;

use crate::util;
use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_TCP};

const T0: u64 = 1_700_000_000_000_000;
const S: u64 = 1_000_000;

fn run(dir: &std::path::Path, suppress: Option<&str>) -> Vec<Value> {
    let pcap = dir.join("s.pcap");
    let mut frames = Vec::new();
    // Ten flows from one inside host to a listed address, one a second, then one more 100 s
    // later; one flow from another inside host.
    for (i, t) in (0..10).map(|i| i * S).chain([100 * S]).enumerate() {
        frames.push((
            T0 + t,
            eth_ipv4(
                [10, 0, 0, 5],
                [203, 0, 113, 9],
                PROTO_TCP,
                40000 + i as u16,
                443,
                b"x",
            ),
        ));
    }
    frames.push((
        T0 + 5 * S,
        eth_ipv4([10, 0, 0, 6], [203, 0, 113, 9], PROTO_TCP, 50000, 443, b"x"),
    ));
    frames.sort_by_key(|f| f.0);
    write_pcap(&pcap, 1, &frames);
    let feed = dir.join("f.txt");
    util::write_file(&feed, "203.0.113.9\n");
    let conf = dir.join("c.toml");
    let text = match suppress {
        Some(w) => format!("[suppress]\nwindow = \"{w}\"\n"),
        None => String::new(),
    };
    util::write_file(&conf, &text);
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        "--workers",
        "2",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.events
}

#[test]
fn repeats_within_the_window_become_one_followup_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let all = run(dir.path(), None);
    assert_eq!(all.len(), 12, "without [suppress] replay sends every event");
    assert!(all.iter().all(|e| e.get("suppressed").is_none()));

    let ev = run(dir.path(), Some("60s"));
    let host5: Vec<&Value> = ev
        .iter()
        .filter(|e| e["flow"]["src_ip"] == "10.0.0.5")
        .collect();
    // The first (t=0), the follow-up of the window [0, 60 s) holding the 9 repeats, and the
    // match at t=100 s that opened a new window (nothing held in it: no second follow-up).
    assert_eq!(host5.len(), 3, "{host5:#?}");
    let follow: Vec<&&Value> = host5
        .iter()
        .filter(|e| e.get("suppressed").is_some())
        .collect();
    assert_eq!(follow.len(), 1);
    assert_eq!(follow[0]["suppressed"], 9);
    assert_eq!(
        follow[0]["timestamp"], "2023-11-14T22:13:29.000000Z",
        "last held-back match"
    );
    assert_eq!(
        follow[0]["flow"]["src_port"], 40000,
        "the first event's flow"
    );
    let host6 = ev
        .iter()
        .filter(|e| e["flow"]["src_ip"] == "10.0.0.6")
        .count();
    assert_eq!(host6, 1, "another internal host has its own window");
}

#[test]
fn a_zero_window_disables_suppression() {
    let dir = tempfile::tempdir().unwrap();
    let ev = run(dir.path(), Some("0s"));
    assert_eq!(ev.len(), 12);
}

#[test]
fn windows_open_at_the_end_are_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let ev = run(dir.path(), Some("1h"));
    // One window for 10.0.0.5 holding 10 repeats, flushed at the end; one event for 10.0.0.6.
    let follow: Vec<&Value> = ev
        .iter()
        .filter(|e| e.get("suppressed").is_some())
        .collect();
    assert_eq!(follow.len(), 1, "{ev:#?}");
    assert_eq!(follow[0]["suppressed"], 10);
    assert_eq!(ev.len(), 3);
}
