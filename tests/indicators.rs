//! Indicators with context, end to end through the real binary on the demo capture
//! (`pcaps/demo.pcap`, made by `pcaps/real/demo.sh` on 2026-12-03 between 13:55:11 and
//! 13:55:15 UTC: 192.0.2.10 asks 192.0.2.53 for c2.malware.example and gets 203.0.113.66, opens
//! TLS to 198.51.100.20 with SNI login.phish.test, asks 198.51.100.80 for Host
//! tracker.example.net, and fetches a page from 203.0.113.66:8080; see pcaps/README.md): context
//! in events, several indicators for one observable, validity at packet time, `check` and
//! `lookup` (allowlists: `allowlists.rs`).

use std::path::Path;

use serde_json::Value;

use crate::util::{self, feeds_config as config, replay_demo as replay, write_file};

fn event<'a>(events: &'a [Value], w: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["observable"]["where"] == w)
        .unwrap_or_else(|| panic!("no {w} event in {events:?}"))
}

#[test]
fn events_carry_the_indicators_whole_context() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("c2.txt"), "phish.test\n");
    let cfg = config(
        dir.path(),
        r#"
[[feeds]]
name = "c2-feed"
path = "c2.txt"
severity = "high"
confidence = 85
tags = ["c2", "apt-x"]
description = "C2 domains of APT-X"
reference = "https://intel.example/apt-x"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2027-01-01"
"#,
    );
    let r = replay(&cfg);
    let e = event(&r.events, "tls.sni");
    let i = &e["indicator"];
    assert_eq!(i["value"], "phish.test");
    assert_eq!(i["type"], "domain");
    assert_eq!(i["match"], "subdomain");
    assert_eq!(i["feed"], "c2-feed");
    assert_eq!(i["severity"], "high");
    assert_eq!(i["confidence"], 85);
    assert_eq!(i["tags"], serde_json::json!(["c2", "apt-x"]));
    assert_eq!(i["description"], "C2 domains of APT-X");
    assert_eq!(i["reference"], "https://intel.example/apt-x");
    assert_eq!(i["valid_from"], "2026-01-01T00:00:00Z");
    assert_eq!(i["valid_until"], "2027-01-01T00:00:00Z");
    assert!(e.get("also_matched").is_none(), "{e}");
}

#[test]
fn one_event_per_observable_with_every_other_match_in_also_matched() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("a.txt"), "203.0.113.66\n203.0.113.0/24\n");
    write_file(&dir.path().join("b.txt"), "203.0.113.66\n203.0.0.0/8\n");
    let cfg = config(
        dir.path(),
        r#"
[[feeds]]
name = "a"
path = "a.txt"
confidence = 50
[[feeds]]
name = "b"
path = "b.txt"
confidence = 90
"#,
    );
    let r = replay(&cfg);
    let dst: Vec<&Value> = r
        .events
        .iter()
        .filter(|e| e["observable"]["where"] == "ip.dst")
        .collect();
    assert_eq!(dst.len(), 1, "one event, not one per indicator: {dst:?}");
    let e = dst[0];
    // exact address first; between the two feeds' exact entries the higher confidence wins
    assert_eq!(e["indicator"]["value"], "203.0.113.66");
    assert_eq!(e["indicator"]["feed"], "b");
    let also: Vec<(String, String, String)> = e["also_matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["value"].as_str().unwrap().to_owned(),
                i["feed"].as_str().unwrap().to_owned(),
                i["match"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("203.0.113.66", "a", "exact"),
        ("203.0.113.0/24", "a", "cidr"),
        ("203.0.0.0/8", "b", "cidr"),
    ]
    .map(|(v, f, m)| (v.to_owned(), f.to_owned(), m.to_owned()));
    assert_eq!(also, want);
}

#[test]
fn validity_is_judged_at_the_packet_time() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("old.txt"), "phish.test\nmalware.example\n");
    write_file(&dir.path().join("later.txt"), "203.0.113.0/24\n");
    write_file(
        &dir.path().join("valid.txt"),
        "tracker.example.net\n192.0.2.53\n",
    );
    // the capture is from 2026-12-03T13:55:11Z to 13:55:15Z
    let cfg = config(
        dir.path(),
        r#"
[[feeds]]
name = "expired"
path = "old.txt"
valid_until = "2026-12-03T13:55:00Z"
[[feeds]]
name = "not-yet"
path = "later.txt"
valid_from = "2026-12-03T13:56:00Z"
[[feeds]]
name = "valid"
path = "valid.txt"
valid_from = "2026-12-03T13:55:00Z"
valid_until = "2026-12-03T13:56:00Z"
"#,
    );
    let r = replay(&cfg);
    let feeds: Vec<&str> = r
        .events
        .iter()
        .map(|e| e["indicator"]["feed"].as_str().unwrap())
        .collect();
    assert!(!feeds.is_empty(), "{}", r.stderr());
    assert!(feeds.iter().all(|&f| f == "valid"), "{feeds:?}");
    let values: std::collections::BTreeSet<&str> = r
        .events
        .iter()
        .map(|e| e["observable"]["value"].as_str().unwrap())
        .collect();
    assert!(
        values.contains("tracker.example.net") && values.contains("192.0.2.53"),
        "{values:?}"
    );
    // the expired SNI/DNS name and the not-yet-valid CIDR hits are counted, not reported
    let inactive = util::summary_number(&r.stderr(), "inactive");
    assert!(inactive >= 5, "inactive {inactive}:\n{}", r.stderr());
}

#[test]
fn check_reports_counts_and_bad_lines_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("ok.txt"),
        "evil.com\n1.2.3.4\n10.0.0.0/8\nevil.com\n",
    );
    write_file(&dir.path().join("bad.txt"), "good.org\n1.2.3.999\ncom\n");
    let cfg = config(
        dir.path(),
        "[[feeds]]\npath = \"ok.txt\"\n[[feeds]]\npath = \"bad.txt\"\nmax_bad_ratio = 1.0\n",
    );
    let out = util::iocd()
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("3 indicators: ipv4 1, ipv6 0, cidr 1, domain 1; 1 duplicates, 0 bad"),
        "{text}"
    );
    assert!(
        text.contains("bad.txt:2: invalid IPv4 address: \"1.2.3.999\""),
        "{text}"
    );
    assert!(text.contains("bad.txt:3: a public suffix"), "{text}");
    // an unreadable feed makes it fail
    let cfg = config(
        dir.path(),
        "[[feeds]]\npath = \"ok.txt\"\n[[feeds]]\npath = \"missing.txt\"\n",
    );
    let out = util::iocd()
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("feed \"missing\"") && text.contains("UNUSABLE: cannot read"),
        "{text}"
    );
    // a bad config is 78
    let cfg = config(
        dir.path(),
        "[[feeds]]\npath = \"ok.txt\"\nseverity = \"dire\"\n",
    );
    let out = util::iocd()
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dire"));
}

#[test]
fn lookup_prints_every_matching_indicator_with_context() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("a.txt"), "evil.com\n10.0.0.0/8\n");
    write_file(&dir.path().join("b.txt"), "x.evil.com\n");
    let cfg = config(
        dir.path(),
        r#"
[[feeds]]
name = "a"
path = "a.txt"
severity = "critical"
tags = ["t1"]
[[feeds]]
name = "b"
path = "b.txt"
match = "exact"
valid_until = "2001-01-01"
"#,
    );
    let out = util::iocd()
        .args([
            "lookup",
            "--config",
            cfg.to_str().unwrap(),
            "X.Evil.COM.",
            "10.1.1.1",
            "other.org",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "X.Evil.COM.: 2 indicators");
    assert!(
        lines[1].starts_with("  domain x.evil.com (exact) feed=b"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("[NOT VALID at the lookup time]"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("  domain evil.com (subdomain) feed=a action=alert severity=critical"),
        "{text}"
    );
    assert!(lines[2].contains("tags=t1"), "{text}");
    // the verdict follows each value's indicators (allowlists: tests/allowlists.rs)
    assert_eq!(
        lines[3], "  verdict: alert: domain evil.com of feed a",
        "{text}"
    );
    assert_eq!(lines[4], "10.1.1.1: 1 indicators");
    assert_eq!(lines[7], "other.org: no match");
    // JSON, and a time inside the window
    let out = util::iocd()
        .args([
            "lookup",
            "--json",
            "--at",
            "2000-06-01",
            "--config",
            cfg.to_str().unwrap(),
            "x.evil.com",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matches"][0]["valid"], true);
    assert_eq!(v["matches"][0]["valid_until"], "2001-01-01T00:00:00Z");
    assert_eq!(v["matches"][1]["severity"], "critical");
    // nothing matched: exit 1
    let out = util::iocd()
        .args([
            "lookup",
            "--config",
            cfg.to_str().unwrap(),
            "nothing.example",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Paths of the committed feed samples (see tests/feeds/README.md).
fn sample(name: &str) -> String {
    util::root()
        .join("tests/feeds")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn check_loads_every_format_and_names_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            // the samples are small and carry bad entries on purpose: their ratio is not checked
            r#"
[[feeds]]
name = "feodo"
path = "{feodo}"
format = "csv"
max_bad_ratio = 1.0
[feeds.csv.columns]
value = "dst_ip"
description = "malware"
valid_from = "first_seen_utc"

[[feeds]]
name = "zeek"
path = "{zeek}"
format = "zeek"
max_bad_ratio = 1.0

[[feeds]]
name = "stix"
path = "{stix}"
format = "stix"
max_bad_ratio = 1.0

[[feeds]]
name = "misp"
path = "{misp}"
format = "misp"
max_bad_ratio = 1.0

[[feeds]]
name = "misp-csv"
path = "{misp_csv}"
format = "misp_csv"
max_bad_ratio = 1.0
"#,
            feodo = sample("feodo-ipblocklist.csv"),
            zeek = sample("zeek-intel.dat"),
            stix = sample("stix-bundle.json"),
            misp = sample("misp"),
            misp_csv = sample("misp-export.csv"),
        ),
    );
    let out = util::iocd()
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for name in ["feodo", "zeek", "stix", "misp", "misp-csv"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("feed \"{name}\"")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"));
        let n: usize = line
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(n >= 3, "{name}: {line}");
    }
    // bad entries by file and line; unsupported entries counted by reason
    assert!(text.contains("feodo-ipblocklist.csv:14:"), "{text}");
    assert!(text.contains("skipped 1: zeek Intel::SOFTWARE"), "{text}");
    assert!(text.contains("skipped 1: stix revoked"), "{text}");
    assert!(
        text.contains("skipped 1: stix pattern unsupported: AND"),
        "{text}"
    );
    assert!(text.contains("misp to_ids=false"), "{text}");
}

#[test]
fn stix_and_zeek_indicators_match_traffic_with_their_own_context() {
    let dir = tempfile::tempdir().unwrap();
    let stix = dir.path().join("bundle.json");
    write_file(
        &stix,
        r#"{"type":"bundle","id":"bundle--1","objects":[
 {"type":"indicator","spec_version":"2.1","id":"indicator--aaaaaaaa-0000-4000-8000-000000000001",
  "created":"2019-01-01T00:00:00.000Z","modified":"2019-01-01T00:00:00.000Z",
  "name":"Hosting abuse","description":"Hosting range used by the kit",
  "indicator_types":["malicious-activity"],"labels":["kit-x"],"confidence":70,
  "pattern":"[ipv4-addr:value ISSUBSET '203.0.113.0/24'] OR [domain-name:value = 'login.phish.test']",
  "pattern_type":"stix","valid_from":"2019-08-01T00:00:00Z",
  "external_references":[{"source_name":"blog","url":"https://blog.example/kit-x"}]},
 {"type":"indicator","spec_version":"2.1","id":"indicator--aaaaaaaa-0000-4000-8000-000000000002",
  "created":"2019-01-01T00:00:00.000Z","modified":"2019-01-01T00:00:00.000Z",
  "pattern":"[ipv4-addr:value = '192.0.2.53']","pattern_type":"stix",
  "valid_from":"2019-01-01T00:00:00Z","revoked":true}
]}"#,
    );
    let zeek = dir.path().join("intel.dat");
    write_file(
        &zeek,
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n\
         192.0.2.10\tIntel::ADDR\tlocal-cti\tinfected host\t-\n",
    );
    let cfg = config(
        dir.path(),
        "[[feeds]]\nname = \"stix\"\npath = \"bundle.json\"\nformat = \"stix\"\nseverity = \"high\"\n\
         [[feeds]]\nname = \"zeek\"\npath = \"intel.dat\"\nformat = \"zeek\"\n",
    );
    let r = replay(&cfg);
    let sni = event(&r.events, "tls.sni");
    let i = &sni["indicator"];
    assert_eq!(i["feed"], "stix");
    assert_eq!(i["match"], "exact");
    assert_eq!(i["id"], "indicator--aaaaaaaa-0000-4000-8000-000000000001");
    assert_eq!(i["confidence"], 70);
    assert_eq!(i["severity"], "high");
    assert_eq!(i["description"], "Hosting range used by the kit");
    assert_eq!(i["reference"], "https://blog.example/kit-x");
    assert_eq!(i["valid_from"], "2019-08-01T00:00:00Z");
    let tags = i["tags"].as_array().unwrap();
    assert!(
        tags.contains(&Value::from("kit-x")) && tags.contains(&Value::from("malicious-activity"))
    );
    let dst = r
        .events
        .iter()
        .find(|e| e["observable"]["value"] == "203.0.113.66")
        .unwrap();
    assert_eq!(dst["indicator"]["value"], "203.0.113.0/24");
    // the zeek source becomes a tag; the revoked STIX indicator never matches
    let src = r
        .events
        .iter()
        .find(|e| e["observable"]["value"] == "192.0.2.10")
        .unwrap();
    assert_eq!(src["indicator"]["feed"], "zeek");
    assert_eq!(src["indicator"]["description"], "infected host");
    assert_eq!(
        src["indicator"]["tags"],
        serde_json::json!(["source:local-cti"])
    );
    assert!(r
        .events
        .iter()
        .all(|e| e["observable"]["value"] != "192.0.2.53"));
}

// ---- bounds on what a feed may cost (issue "nothing lost, nothing escalated", item 4) ----

/// Size of the pathological single lines below: big enough that holding or copying one shows
/// in the peak RSS and the time, small enough for CI.
const BIG_LINE: usize = 64 << 20;

/// Peak RSS allowed while refusing a `BIG_LINE`: the code before the fix held the file and a
/// copy of the line (146 MiB peak for the long line, 191 MiB for the inflated estimate, debug
/// build); reading in chunks and keeping 16 KiB of the line stays near the binary's own ~16 MiB.
const BIG_LINE_PEAK_RSS_KIB: u64 = 48 * 1024;

fn check_measured(feed: &Path) -> util::Measured {
    let m = util::run_measured(
        &["check", "--feed", feed.to_str().unwrap()],
        std::time::Duration::from_secs(120),
    );
    eprintln!(
        "check {}: {:.2} s, peak RSS {} KiB, exit {:?}",
        feed.display(),
        m.time.as_secs_f64(),
        m.peak_rss_kib,
        m.output.status.code()
    );
    m
}

#[test]
fn a_64_mib_line_is_refused_fast_without_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    let mut text = b"first.example\n".to_vec();
    text.resize(text.len() + BIG_LINE, b'a');
    text.push(b'\n');
    for i in 0..20 {
        text.extend_from_slice(format!("h{i}.example\n").as_bytes());
    }
    std::fs::write(&feed, &text).unwrap();
    drop(text);
    let m = check_measured(&feed);
    let out = String::from_utf8_lossy(&m.output.stdout);
    assert_eq!(m.output.status.code(), Some(0), "{out}");
    assert!(out.contains("21 indicators"), "{out}");
    // reported at its line, echoed as a short prefix only
    let want = format!(
        "f.txt:2: line longer than 16384 bytes: \"{}...\"\n",
        "a".repeat(64)
    );
    assert!(out.contains(&want), "{out}");
    assert!(out.len() < 1024, "{} bytes of output", out.len());
    // before: 6.4 s and 146 MiB (debug build); now about 0.2 s and 16 MiB
    assert!(m.time.as_secs_f64() < 3.0, "{:?}", m.time);
    assert!(
        m.peak_rss_kib < BIG_LINE_PEAK_RSS_KIB,
        "{} KiB",
        m.peak_rss_kib
    );
}

#[test]
fn names_then_a_huge_comment_load_with_bounded_memory() {
    // the first 64 KiB look like a dense list: extrapolated over the whole file they asked for
    // ~33M table slots before the estimate was sampled across the file and clamped
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("inflated.txt");
    let mut text: Vec<u8> = (0..32_768)
        .flat_map(|i| format!("n{i}.io\n").into_bytes())
        .collect();
    text.extend_from_slice(b"# ");
    text.resize(text.len() + BIG_LINE, b'x');
    text.push(b'\n');
    std::fs::write(&feed, &text).unwrap();
    drop(text);
    let m = check_measured(&feed);
    let out = String::from_utf8_lossy(&m.output.stdout);
    assert_eq!(m.output.status.code(), Some(0), "{out}");
    assert!(out.contains("32768 indicators"), "{out}");
    assert!(
        m.peak_rss_kib < BIG_LINE_PEAK_RSS_KIB,
        "{} KiB",
        m.peak_rss_kib
    );
}

#[test]
fn random_bytes_with_one_valid_line_are_unusable_and_check_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("random.txt");
    let mut text = b"evil.example\n".to_vec();
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..(1 << 20) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push((x >> 24) as u8);
    }
    std::fs::write(&feed, &text).unwrap();
    let out = util::run_with_timeout(
        {
            let mut c = util::iocd();
            c.args(["check", "--feed", feed.to_str().unwrap()]);
            c
        },
        std::time::Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // binary data is named as such (issue 12), not reported line by line
    assert!(
        stdout.contains("UNUSABLE: not a text feed: binary data"),
        "{stdout}"
    );
    assert!(stdout.contains("0 of 1 feeds usable"), "{stdout}");
    let echoed = stdout.lines().filter(|l| l.contains("random.txt:")).count();
    assert_eq!(echoed, 0, "{stdout}");
    // every echoed byte is escaped: nothing but printable ASCII and line ends
    assert!(
        out.stdout
            .iter()
            .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)),
        "{stdout}"
    );
}

#[test]
fn a_bad_line_with_control_characters_is_echoed_escaped_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    let mut text = format!("\u{1b}]0;owned\u{7}\u{1b}[31mévil{}\n", "z".repeat(300));
    for i in 0..20 {
        text += &format!("h{i}.example\n");
    }
    write_file(&feed, &text);
    let out = util::iocd()
        .args(["check", "--feed", feed.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("f.txt:1: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let shown = format!(
        "\"\\u{{1b}}]0;owned\\u{{7}}\\u{{1b}}[31m\\u{{e9}}vil{}...\"",
        "z".repeat(64 - 19)
    );
    assert!(line.ends_with(&shown), "{line}");
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07));
}

#[test]
fn a_misp_event_with_many_attributes_is_read_without_a_json_tree() {
    // 500k small attributes: as a serde_json::Value tree this was ~20 times the file (877 MiB
    // peak for 1M attributes, 44 MB); read in two streaming passes it is about 2 times
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    let n = 500_000u32;
    let mut text = String::from(r#"{"Event": {"info": "big", "Attribute": ["#);
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text += &format!(
            r#"{{"type": "ip-dst", "value": "10.{}.{}.{}"}}"#,
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        );
    }
    text += r#"], "Tag": [{"name": "tlp:white"}]}}"#;
    write_file(&path, &text);
    let size_kib = text.len() as u64 / 1024;
    drop(text);
    let cfg = config(
        dir.path(),
        "[[feeds]]\npath = \"event.json\"\nformat = \"misp\"\n",
    );
    let m = util::run_measured(
        &["check", "--config", cfg.to_str().unwrap()],
        std::time::Duration::from_secs(120),
    );
    let out = String::from_utf8_lossy(&m.output.stdout);
    eprintln!(
        "check {size_kib} KiB MISP event: {:.2} s, peak RSS {} KiB ({:.1} times the file)",
        m.time.as_secs_f64(),
        m.peak_rss_kib,
        m.peak_rss_kib as f64 / size_kib as f64
    );
    assert_eq!(m.output.status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("{n} indicators: ipv4 {n}")), "{out}");
    assert!(
        m.peak_rss_kib < 4 * size_kib,
        "{} KiB for a {size_kib} KiB file",
        m.peak_rss_kib
    );
}
