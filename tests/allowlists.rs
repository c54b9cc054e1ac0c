//! Allowlists and MISP warninglists, end to end through the real binary on the demo capture
//! (`pcaps/demo.pcap`: 192.0.2.10 asks for c2.malware.example and gets 203.0.113.66, opens TLS
//! with SNI login.phish.test, sends Host tracker.example.net, and fetches a page from
//! 203.0.113.66:8080 — an address inside the documentation range 203.0.113.0/24): scope
//! (`applies_to`), the specificity rule and `override = "all"`, the verdict `iocd lookup` prints,
//! and warninglists (`tests/feeds/warninglists/`) as allowlists and as flags.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{
    self, demo_pcap as demo, feeds_config as config, replay_demo as replay, write_file,
};

fn warninglist(name: &str) -> String {
    util::root()
        .join("tests/feeds/warninglists")
        .join(name)
        .join("list.json")
        .display()
        .to_string()
}

/// Events about the address (ip.src, ip.dst, dns.answer_ip).
fn ip_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["observable"]["value"] == "203.0.113.66")
        .collect()
}

fn wheres(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["observable"]["where"].as_str().unwrap().to_owned())
        .collect()
}

/// The high-severity feed `bad` (the exact address, and the SNI's domain), and the allowlist
/// `cdn` (the documentation /24 the address is in) with `extra` TOML lines.
fn exact_ip_and_allowed_cidr(dir: &Path, extra: &str) -> PathBuf {
    write_file(&dir.join("bad.txt"), "203.0.113.66\nphish.test\n");
    write_file(&dir.join("cdn.txt"), "203.0.113.0/24\n");
    config(
        dir,
        &format!(
            r#"
[[feeds]]
name = "bad"
path = "bad.txt"
severity = "high"
[[feeds]]
name = "cdn"
path = "cdn.txt"
action = "allow"
{extra}
"#
        ),
    )
}

#[test]
fn an_exact_high_severity_ip_inside_an_allowed_cidr_still_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = exact_ip_and_allowed_cidr(dir.path(), "");
    let r = replay(&cfg);
    let ips = ip_events(&r.events);
    // ip.src, ip.dst and the DNS answer: every one alerts with the exact indicator
    let w = wheres(&r.events);
    for want in ["ip.dst", "ip.src", "dns.answer_ip", "tls.sni"] {
        assert!(w.iter().any(|x| x == want), "no {want} in {w:?}");
    }
    for e in &ips {
        assert_eq!(e["indicator"]["value"], "203.0.113.66", "{e}");
        assert_eq!(e["indicator"]["match"], "exact", "{e}");
        assert_eq!(e["indicator"]["severity"], "high", "{e}");
    }
    assert_eq!(util::summary_number(&r.stderr(), "allowlisted"), 0);
}

#[test]
fn override_all_suppresses_even_the_exact_ip() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = exact_ip_and_allowed_cidr(dir.path(), "override = \"all\"");
    let r = replay(&cfg);
    assert!(ip_events(&r.events).is_empty(), "{:?}", wheres(&r.events));
    assert!(
        wheres(&r.events).contains(&"tls.sni".to_owned()),
        "{:?}",
        wheres(&r.events)
    );
    // every packet to or from the address, and the DNS answer
    let allowlisted = util::summary_number(&r.stderr(), "allowlisted");
    assert!(
        allowlisted >= 3,
        "allowlisted {allowlisted}:\n{}",
        r.stderr()
    );
}

#[test]
fn an_allowlist_scoped_to_feed_a_does_not_suppress_feed_b() {
    let dir = tempfile::tempdir().unwrap();
    // both feeds list the same /24 as the allowlist: equal specificity, so where the allowlist
    // applies it wins
    write_file(&dir.path().join("a.txt"), "203.0.113.0/24\n");
    write_file(&dir.path().join("b.txt"), "203.0.113.0/24\n");
    write_file(&dir.path().join("cdn.txt"), "203.0.113.0/24\n");
    let feeds = |scope: &str| {
        format!(
            r#"
[[feeds]]
name = "feed-a"
path = "a.txt"
[[feeds]]
name = "feed-b"
path = "b.txt"
[[feeds]]
name = "cdn"
path = "cdn.txt"
action = "allow"
{scope}
"#
        )
    };
    let cfg = config(dir.path(), &feeds("applies_to = [\"feed-a\"]"));
    let r = replay(&cfg);
    let ips = ip_events(&r.events);
    assert!(ips.len() >= 3, "{:?}\n{}", wheres(&r.events), r.stderr());
    for e in &ips {
        assert_eq!(e["indicator"]["feed"], "feed-b", "{e}");
        // feed-a's match was suppressed: not in also_matched either
        assert!(e.get("also_matched").is_none(), "{e}");
    }
    // scoped to both: nothing about the address
    let cfg = config(dir.path(), &feeds("applies_to = [\"feed-a\", \"feed-b\"]"));
    let r = replay(&cfg);
    assert!(ip_events(&r.events).is_empty(), "{:?}", wheres(&r.events));
    // a scope naming no configured feed is a config error (exit 78), not a silent no-op
    let cfg = config(dir.path(), &feeds("applies_to = [\"feed-c\"]"));
    let r = util::replay(&["--config", cfg.to_str().unwrap(), &demo()]);
    assert_eq!(r.code(), Some(78), "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("applies_to names \"feed-c\", which is no configured feed"),
        "{}",
        r.stderr()
    );
}

fn lookup(cfg: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = util::iocd()
        .args(["lookup", "--config", cfg.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn lookup_prints_the_allowlist_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = exact_ip_and_allowed_cidr(dir.path(), "");
    let (code, text) = lookup(&cfg, &["203.0.113.66", "203.0.113.1"]);
    assert_eq!(code, Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "203.0.113.66: 2 indicators", "{text}");
    assert!(
        lines[1].starts_with("  ipv4 203.0.113.66 (exact) feed=bad action=alert severity=high")
            && lines[1]
                .ends_with(" [more specific than allowlist cdn (203.0.113.0/24): not suppressed]"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("  cidr 203.0.113.0/24 (cidr) feed=cdn action=allow"),
        "{text}"
    );
    assert_eq!(
        lines[3],
        "  verdict: alert: ipv4 203.0.113.66 of feed bad, more specific than allowlist cdn (203.0.113.0/24)",
        "{text}"
    );
    // only the allowlist covers another address of the range
    assert_eq!(lines[4], "203.0.113.1: 1 indicators", "{text}");
    assert_eq!(
        lines[6], "  verdict: no alert: only allowlist or warninglist entries (cdn)",
        "{text}"
    );

    let cfg = exact_ip_and_allowed_cidr(dir.path(), "override = \"all\"");
    let (_, text) = lookup(&cfg, &["203.0.113.66"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].ends_with(" [suppressed by allowlist cdn (203.0.113.0/24)]"),
        "{text}"
    );
    assert_eq!(
        lines[3], "  verdict: suppressed by allowlist cdn (203.0.113.0/24)",
        "{text}"
    );
    let (_, json) = lookup(&cfg, &["--json", "203.0.113.66"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verdict"], "suppressed", "{v}");
    assert_eq!(v["reason"], "suppressed by allowlist cdn (203.0.113.0/24)");
    assert_eq!(v["matches"][0]["allowlist"]["verdict"], "suppressed", "{v}");
    assert_eq!(v["matches"][0]["allowlist"]["feed"], "cdn", "{v}");
    assert!(v["matches"][1].get("allowlist").is_none(), "{v}");
}

#[test]
fn a_misp_warninglist_loads_as_an_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    // a /23 around the documentation /24: less specific than the warninglist entry, suppressed
    write_file(&dir.path().join("bad.txt"), "203.0.112.0/23\nphish.test\n");
    let cfg = config(
        dir.path(),
        &format!(
            r#"
[[feeds]]
name = "bad"
path = "bad.txt"
[[feeds]]
path = "{}"
format = "misp_warninglist"
action = "allow"
"#,
            warninglist("rfc5735")
        ),
    );
    let r = replay(&cfg);
    assert!(ip_events(&r.events).is_empty(), "{:?}", wheres(&r.events));
    assert!(
        wheres(&r.events).contains(&"tls.sni".to_owned()),
        "{:?}",
        wheres(&r.events)
    );
    assert!(util::summary_number(&r.stderr(), "allowlisted") >= 3);
    // named after its directory, as MISP names the list
    let (_, text) = lookup(&cfg, &["203.0.113.66"]);
    assert!(
        text.contains("  verdict: suppressed by allowlist rfc5735 (203.0.113.0/24)"),
        "{text}"
    );
}

#[test]
fn a_misp_warninglist_as_flag_marks_events_which_are_still_sent() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("bad.txt"),
        "203.0.113.66\ntracker.example.net\n",
    );
    let cfg = config(
        dir.path(),
        &format!(
            r#"
[[feeds]]
name = "bad"
path = "bad.txt"
[[feeds]]
path = "{}"
format = "misp_warninglist"
action = "flag"
[[feeds]]
path = "{}"
format = "misp_warninglist"
action = "flag"
"#,
            warninglist("rfc5735"),
            warninglist("top-sites")
        ),
    );
    let r = replay(&cfg);
    let ips = ip_events(&r.events);
    assert!(ips.len() >= 3, "{:?}", wheres(&r.events));
    for e in &ips {
        assert_eq!(e["warninglist"], serde_json::json!(["rfc5735"]), "{e}");
        assert_eq!(e["indicator"]["feed"], "bad", "{e}");
        // the flag entry is not an indicator of the event
        assert!(e.get("also_matched").is_none(), "{e}");
    }
    let host = r
        .events
        .iter()
        .find(|e| e["observable"]["value"] == "tracker.example.net")
        .expect("event on the HTTP Host tracker.example.net");
    assert_eq!(
        host["warninglist"],
        serde_json::json!(["top-sites"]),
        "{host}"
    );
    assert_eq!(util::summary_number(&r.stderr(), "allowlisted"), 0);
    // a value only on the warninglists raises nothing: a feed of flags alone sends no event
    let cfg = config(
        dir.path(),
        &format!(
            "[[feeds]]\npath = \"{}\"\nformat = \"misp_warninglist\"\naction = \"flag\"\n",
            warninglist("rfc5735")
        ),
    );
    let r = replay(&cfg);
    assert!(r.events.is_empty(), "{:?}", wheres(&r.events));
    let (_, text) = lookup(&cfg, &["203.0.113.66"]);
    assert!(
        text.contains("action=flag")
            && text.contains("verdict: no alert: only allowlist or warninglist entries (rfc5735)"),
        "{text}"
    );
}

#[test]
fn check_loads_warninglists_and_refuses_regex_ones_naming_file_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let regex = dir.path().join("lists/rfc1918-regex/list.json");
    std::fs::create_dir_all(regex.parent().unwrap()).unwrap();
    // the shape of lists/*/list.json with "type": "regex" (e.g. MISP's URL shortener lists)
    write_file(
        &regex,
        r#"{"description": "d", "list": ["^10\\..*"], "matching_attributes": ["ip-dst"], "name": "n", "type": "regex", "version": 1}"#,
    );
    let cfg = config(
        dir.path(),
        &format!(
            r#"
[[feeds]]
path = "{}"
format = "misp_warninglist"
action = "allow"
[[feeds]]
path = "{}"
format = "misp_warninglist"
action = "flag"
[[feeds]]
path = "lists/rfc1918-regex/list.json"
format = "misp_warninglist"
action = "allow"
"#,
            warninglist("cloudflare"),
            warninglist("resolvers-and-hashes")
        ),
    );
    let out = util::iocd()
        .args(["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("feed \"cloudflare\"")
            && text.contains("8 indicators: ipv4 0, ipv6 0, cidr 8, domain 0"),
        "{text}"
    );
    assert!(
        text.contains("feed \"resolvers-and-hashes\"")
            && text.contains("7 indicators: ipv4 2, ipv6 1, cidr 0, domain 1, md5 1, email 1, url 1;")
            && text.contains(
                "skipped 2: misp_warninglist string value not an address, a name, a hash, an e-mail address or a URL"
            ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "feed \"rfc1918-regex\" ({}): UNUSABLE: MISP warninglist type \"regex\" is not supported",
            regex.display()
        )),
        "{text}"
    );
}
