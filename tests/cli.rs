//! Command line, configuration, exit statuses, the event schema and per-flow de-duplication.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util;
use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_TCP, PROTO_UDP};

fn demo_args() -> Vec<String> {
    let r = util::root();
    vec![
        "--config".into(),
        r.join("config/iocd.toml").display().to_string(),
        r.join("pcaps/demo.pcap").display().to_string(),
    ]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Issue 12: a config error is one line naming file, line, key, what was written and the form
/// to write (not serde's "expected a string"); an unreadable config names its OS error once.
#[test]
fn config_errors_are_one_line_each_with_the_form_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.toml");
    util::write_file(&conf, "sensor = \"s\"\n[stats]\ninterval = 60\n");
    let out = util::iocd()
        .arg("check")
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    let c = conf.display();
    assert_eq!(
        err,
        format!("iocd: error: invalid config {c}:\n  {c}:3: stats.interval = 60: wrong type (integer 60); write it as interval = \"60s\"\n")
    );
    // Every problem the checks find, one line each.
    util::write_file(
        &conf,
        "workers = 0\n[tables]\nmemory = \"1KiB\"\n[[feeds]]\npath = \"f.txt\"\n",
    );
    let out = util::iocd()
        .arg("check")
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        format!("iocd: error: invalid config {c}: 2 problems:")
    );
    assert!(lines[1].starts_with(&format!("  {c}: workers")), "{err}");
    assert!(
        lines[2].starts_with(&format!("  {c}: tables.memory")),
        "{err}"
    );
    // The OS error once, not "...: No such file or directory (os error 2): No such file ...".
    let missing = dir.path().join("missing.toml");
    let out = util::iocd()
        .arg("check")
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Issue 12: `--version` names the commit it was built from and the enabled cargo features.
#[test]
fn version_names_the_commit_and_the_features() {
    let out = util::iocd().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    let commit = first
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {first:?}"));
    assert!(text.lines().any(|l| l.starts_with("features: ")), "{text}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(util::root())
        .output();
    match head {
        Ok(h) if h.status.success() => {
            let head = String::from_utf8_lossy(&h.stdout).trim().to_owned();
            let hash = commit.trim_end_matches("-dirty");
            assert!(
                hash.len() >= 7 && head.starts_with(hash),
                "{commit} is not HEAD {head}"
            );
        }
        _ => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn version_and_help_exit_zero() {
    let out = util::iocd().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = util::iocd().args(["replay", "--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--feed"));
}

#[test]
fn usage_error_exits_2() {
    let out = util::iocd().args(["replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = util::iocd()
        .args(["replay", "--workers", "0", "x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = util::iocd().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// What the demo feeds match in `pcaps/demo.pcap` (pcaps/README.md): (where, observable,
/// indicator, feed, packet). The packet numbers are tshark's (`tshark -r pcaps/demo.pcap`).
const DEMO_EVENTS: &[(&str, &str, &str, &str, u64)] = &[
    (
        "dns.query",
        "c2.malware.example",
        "malware.example",
        "demo-domains",
        15,
    ),
    (
        "dns.answer_ip",
        "203.0.113.66",
        "203.0.113.66",
        "demo-ips",
        16,
    ),
    (
        "tls.sni",
        "login.phish.test",
        "phish.test",
        "demo-domains",
        20,
    ),
    (
        "http.host",
        "tracker.example.net",
        "tracker.example.net",
        "demo-domains",
        65,
    ),
    ("ip.dst", "203.0.113.66", "203.0.113.66", "demo-ips", 74),
    ("ip.src", "203.0.113.66", "203.0.113.66", "demo-ips", 75),
    ("http.host", "203.0.113.66", "203.0.113.66", "demo-ips", 77),
    (
        "ip.dst",
        "2001:db8:bad::66",
        "2001:db8:bad::/48",
        "demo-ips",
        86,
    ),
    (
        "ip.src",
        "2001:db8:bad::66",
        "2001:db8:bad::/48",
        "demo-ips",
        87,
    ),
    (
        "http.host",
        "2001:db8:bad::66",
        "2001:db8:bad::/48",
        "demo-ips",
        89,
    ),
];

#[test]
fn demo_replay_reports_an_ip_a_dns_name_and_an_sni_with_the_schema() {
    let r = util::replay(&args(&demo_args()));
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let wheres: BTreeSet<&str> = r
        .events
        .iter()
        .map(|e| e["observable"]["where"].as_str().unwrap())
        .collect();
    for w in ["ip.dst", "ip.src", "dns.query", "tls.sni"] {
        assert!(wheres.contains(w), "no {w} event: {:?}", r.events);
    }
    for e in &r.events {
        assert_eq!(e["event_type"], "ioa");
        assert_eq!(e["schema_version"], 1);
        assert_eq!(e["sensor"], "demo-sensor");
        let ts = e["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2024-01-01T12:00:00.123456Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
        let f = &e["flow"];
        assert!(f["src_ip"].is_string() && f["dest_ip"].is_string());
        assert!(f["community_id"].as_str().unwrap().starts_with("1:"));
        assert!(["TCP", "UDP"].contains(&f["proto"].as_str().unwrap()));
        assert!(f["src_port"].is_u64() && f["dest_port"].is_u64());
        assert!(e["pcap"]["file"].as_str().unwrap().ends_with("demo.pcap"));
        assert!(e["pcap"]["packet"].as_u64().unwrap() >= 1);
        let ind = &e["indicator"];
        assert!(["demo-ips", "demo-domains"].contains(&ind["feed"].as_str().unwrap()));
    }
    // Every listed observable once per (flow, indicator, where) — the 12-packet flow to
    // 203.0.113.66 gives one ip.dst and one ip.src event — and nothing unlisted (the lookups of
    // www.example.org, the SNI docs.example.com).
    let mut got: Vec<(String, String, String, String, u64)> = r
        .events
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap().to_owned();
            (
                s(&e["observable"]["where"]),
                s(&e["observable"]["value"]),
                s(&e["indicator"]["value"]),
                s(&e["indicator"]["feed"]),
                e["pcap"]["packet"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|g| g.4);
    let want: Vec<(String, String, String, String, u64)> = DEMO_EVENTS
        .iter()
        .map(|&(w, v, i, f, p)| (w.into(), v.into(), i.into(), f.into(), p))
        .collect();
    assert_eq!(got, want);
    let sni = r
        .events
        .iter()
        .find(|e| e["observable"]["where"] == "tls.sni")
        .unwrap();
    assert_eq!(sni["indicator"]["match"], "subdomain");
    assert_eq!(sni["indicator"]["type"], "domain");
    assert_eq!(sni["indicator"]["severity"], "high");
    assert_eq!(sni["indicator"]["tags"], serde_json::json!(["demo"]));
    assert_eq!(sni["flow"]["dest_ip"], "198.51.100.20");
    assert_eq!(sni["flow"]["dest_port"], 443);
    let stderr = r.stderr();
    for word in ["packets 99", "observables tls.sni", "matches", "packets/s"] {
        assert!(stderr.contains(word), "summary lacks {word:?}:\n{stderr}");
    }
}

#[test]
fn a_long_flow_to_a_listed_ip_gives_one_event_per_direction() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flow.pcap");
    let mut frames = Vec::new();
    for i in 0..10_000u64 {
        let f = if i % 2 == 0 {
            eth_ipv4([10, 1, 1, 1], [203, 0, 113, 9], PROTO_TCP, 40000, 443, b"x")
        } else {
            eth_ipv4([203, 0, 113, 9], [10, 1, 1, 1], PROTO_TCP, 443, 40000, b"y")
        };
        frames.push((1_700_000_000_000_000 + i * 10, f));
    }
    // a second flow to the same IP is a separate event
    frames.push((
        1_700_000_001_000_000,
        eth_ipv4([10, 1, 1, 1], [203, 0, 113, 9], PROTO_TCP, 40001, 443, b"z"),
    ));
    write_pcap(&pcap, 1, &frames);
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "203.0.113.9\n");
    for workers in ["1", "3"] {
        let r = util::replay(&[
            "--workers",
            workers,
            "--feed",
            feed.to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let dst: Vec<&Value> = r
            .events
            .iter()
            .filter(|e| e["observable"]["where"] == "ip.dst")
            .collect();
        let src: Vec<&Value> = r
            .events
            .iter()
            .filter(|e| e["observable"]["where"] == "ip.src")
            .collect();
        assert_eq!(dst.len(), 2, "workers {workers}");
        assert_eq!(src.len(), 1, "workers {workers}");
        assert_eq!(dst[0]["indicator"]["match"], "exact");
        assert_eq!(dst[0]["indicator"]["type"], "ipv4");
    }
}

#[test]
fn worker_count_does_not_change_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("many.pcap");
    let mut frames = Vec::new();
    for i in 0..2000u32 {
        let client = [10, 2, (i >> 8) as u8, i as u8];
        let name = format!("host{}.bad{}.example", i, i % 7);
        frames.push((
            u64::from(i) * 1000,
            eth_ipv4(
                client,
                [192, 0, 2, 53],
                PROTO_UDP,
                30000 + (i % 1000) as u16,
                53,
                &dns_query(i as u16, &name),
            ),
        ));
        frames.push((
            u64::from(i) * 1000 + 1,
            eth_ipv4(
                client,
                [198, 51, 100, (i % 50) as u8],
                PROTO_TCP,
                50000,
                443,
                b"data",
            ),
        ));
    }
    write_pcap(&pcap, 1, &frames);
    let feed = dir.path().join("f.txt");
    util::write_file(
        &feed,
        "bad3.example\nbad5.example\n198.51.100.0/28\n198.51.100.42\n",
    );
    let mut seen = Vec::new();
    for w in ["1", "2", "4"] {
        let r = util::replay(&[
            "--workers",
            w,
            "--feed",
            feed.to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        let mut keys: Vec<String> = r
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e["flow"]["community_id"],
                    e["observable"]["where"],
                    e["observable"]["value"],
                    e["indicator"]["value"]
                )
            })
            .collect();
        keys.sort();
        seen.push(keys);
    }
    // names bad3/bad5: 2000/7 each ≈ 286 + 286; IPs: .0-.15 and .42 of 50 → 17/50 of 2000
    assert!(seen[0].len() > 1000, "{}", seen[0].len());
    for (i, other) in seen.iter().enumerate().skip(1) {
        let a: BTreeSet<&String> = seen[0].iter().collect();
        let b: BTreeSet<&String> = other.iter().collect();
        let only1: Vec<_> = a.difference(&b).take(5).collect();
        let only_other: Vec<_> = b.difference(&a).take(5).collect();
        assert!(
            seen[0] == *other,
            "run {i}: {} vs {} events; only with 1 worker: {only1:?}; only with more: {only_other:?}",
            seen[0].len(),
            other.len()
        );
    }
}

#[test]
fn bad_feed_lines_are_reported_with_file_and_line_and_good_lines_load() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("mixed.txt");
    util::write_file(
        &feed,
        &("# comment\n\n1.2.3.256\nphish.test\nhttp://x.com/a\n  203.0.113.66  # trailing comment\n"
            .to_owned()
            // enough good lines that a bad one stays under the default max_bad_ratio (10%)
            + &(0..20).map(|i| format!("pad{i}.example\n")).collect::<String>()),
    );
    let demo = util::root().join("pcaps/demo.pcap");
    let r = util::replay(&["--feed", feed.to_str().unwrap(), demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let stderr = r.stderr();
    assert!(stderr.contains("mixed.txt:3"), "{stderr}");
    // a URL is a URL indicator now, not a bad line (and not its host: x.com does not match)
    assert!(!stderr.contains("mixed.txt:5"), "{stderr}");
    assert!(stderr.contains("domain 21, url 1)"), "{stderr}");
    let values: BTreeSet<&str> = r
        .events
        .iter()
        .map(|e| e["indicator"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, BTreeSet::from(["phish.test", "203.0.113.66"]));
}

#[test]
fn no_usable_feed_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let demo = util::root().join("pcaps/demo.pcap");
    let r = util::replay(&[demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(78), "{}", r.stderr());
    assert!(r.stderr().contains("feed"), "{}", r.stderr());
    let missing = dir.path().join("nope.txt");
    let r = util::replay(&["--feed", missing.to_str().unwrap(), demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(78));
    assert!(r.stderr().contains("nope.txt"), "{}", r.stderr());
    let empty = dir.path().join("empty.txt");
    util::write_file(&empty, "# nothing\nnot a domain!\n");
    let r = util::replay(&["--feed", empty.to_str().unwrap(), demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(78), "{}", r.stderr());
}

#[test]
fn bad_config_exits_78_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let demo = util::root().join("pcaps/demo.pcap");
    let c = dir.path().join("c.toml");
    util::write_file(&c, "sensor = \"x\"\nworkerz = 3\n");
    let r = util::replay(&["--config", c.to_str().unwrap(), demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(78));
    assert!(
        r.stderr().contains("workerz") && r.stderr().contains("c.toml"),
        "{}",
        r.stderr()
    );
    let r = util::replay(&["--config", "/nonexistent/iocd.toml", demo.to_str().unwrap()]);
    assert_eq!(r.code(), Some(78));
    assert!(
        r.stderr().contains("/nonexistent/iocd.toml"),
        "{}",
        r.stderr()
    );
}

#[test]
fn unreadable_pcap_is_named_and_the_other_files_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    util::write_file(&junk, "this is not a capture file at all");
    let missing = dir.path().join("missing.pcap");
    let demo = util::root().join("pcaps/demo.pcap");
    let feed = util::root().join("config/feeds/demo-domains.txt");
    let r = util::replay(&[
        "--feed",
        feed.to_str().unwrap(),
        junk.to_str().unwrap(),
        missing.to_str().unwrap(),
        demo.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(1));
    let stderr = r.stderr();
    assert!(
        stderr.contains("junk.pcap") && stderr.contains("missing.pcap"),
        "{stderr}"
    );
    assert!(
        !r.events.is_empty(),
        "demo.pcap after the bad files must still replay"
    );
    assert!(r
        .events
        .iter()
        .all(|e| e["pcap"]["file"].as_str().unwrap().ends_with("demo.pcap")));
}

#[test]
fn output_file_receives_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let mut a = demo_args();
    a.insert(0, out.display().to_string());
    a.insert(0, "-o".into());
    let r = util::replay(&args(&a));
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(r.events.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let n = events.len();
    assert!(n >= 4, "{text}");
}

#[test]
fn an_encrypted_client_hello_is_marked_ech_and_a_plain_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "cloudflare-ech.com\nphish.test\n");
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let ech = corpus.join("zk-tls13-ech-outer-sni.pcap");
    let demo = util::root().join("pcaps/demo.pcap");
    let r = util::replay(&[
        "--feed",
        feed.to_str().unwrap(),
        ech.to_str().unwrap(),
        demo.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let sni: Vec<&Value> = r
        .events
        .iter()
        .filter(|e| e["observable"]["where"] == "tls.sni")
        .collect();
    let outer = sni
        .iter()
        .find(|e| e["observable"]["value"] == "cloudflare-ech.com")
        .expect("ECH outer SNI event");
    assert_eq!(outer["observable"]["ech"], true);
    let plain = sni
        .iter()
        .find(|e| e["observable"]["value"] == "login.phish.test")
        .expect("plain SNI event");
    assert!(plain["observable"].get("ech").is_none(), "{plain}");
}
