//! Blocklists in the shapes they are published in (`tests/feeds/lists/`: Maltrail trails,
//! hagezi wildcard lists, an RPZ zone, a hosts file, an adblock list, a FireHOL netset, a
//! watchlist of abused hosting roots), loaded by the real binary: `iocd check` says what each
//! line became, `iocd lookup` and `iocd replay` of the demo capture (`pcaps/demo.pcap`:
//! 192.0.2.10 resolves c2.malware.example to 203.0.113.66 and fetches a page from it on port
//! 8080, and opens TLS with SNI login.phish.test to 198.51.100.20)
//! show what matches. Issue 12.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, demo_pcap as demo, feeds_config as config, write_file};

fn list(name: &str) -> String {
    util::root()
        .join("tests/feeds/lists")
        .join(name)
        .display()
        .to_string()
}

/// `[[feeds]]` tables for the lists, by file name, each with `extra` lines.
fn feeds_of(names: &[&str], extra: &str) -> String {
    names
        .iter()
        .map(|n| format!("[[feeds]]\npath = \"{}\"\n{extra}", list(n)))
        .collect()
}

#[test]
fn check_loads_each_list_shape_as_the_right_kind() {
    let dir = tempfile::tempdir().unwrap();
    let all = [
        "maltrail-trail.txt",
        "hagezi-wildcard.txt",
        "rpz.zone",
        "hosts.txt",
        "adblock.txt",
        "firehol-fullbogons.netset",
        "abused-roots.txt",
    ];
    let cfg = config(dir.path(), &feeds_of(&all, ""));
    let (code, out, err) = util::run_iocd(&["check", "--config", cfg.to_str().unwrap()]);
    // warnings (public suffixes, home_net) and refusals do not make a feed unusable
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("7 of 7 feeds usable"), "{out}");
    // Maltrail: 98% of a trail file was refused as "invalid IPv6 address"; now every
    // address:port loads as the address, a host/path line as a URL, bare paths (no host to
    // match them with) are counted as skipped
    assert!(
        util::check_line(&out, "maltrail-trail").ends_with(
            "7 indicators: ipv4 3, ipv6 1, cidr 0, domain 2, url 1; 0 duplicates, 0 bad, 0 too broad, 2 skipped, 0 already expired"
        ),
        "{out}"
    );
    assert!(
        out.contains("  skipped 2: URL path without a host (a URL indicator needs one)"),
        "{out}"
    );
    assert!(!out.contains("invalid IPv6 address"), "{out}");
    // hagezi: four wildcards and a name; `*.malware.example` and `malware.example` are one
    // indicator, `*.duckdns.org` is refused as too broad
    assert!(
        util::check_line(&out, "hagezi-wildcard").contains(
            "3 indicators: ipv4 0, ipv6 0, cidr 0, domain 3; 1 duplicates, 0 bad, 1 too broad"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "hagezi-wildcard.txt:12: a wildcard under a public suffix matches every name under it"
        ),
        "{out}"
    );
    // RPZ: 5 policy lines (one exact + wildcard pair merged), SOA/NS/$TTL, passthru and rpz-ip
    // skipped by name
    assert!(
        util::check_line(&out, "rpz").contains("4 indicators: ipv4 0, ipv6 0, cidr 0, domain 4; 1 duplicates, 0 bad, 0 too broad, 5 skipped"),
        "{out}"
    );
    assert!(
        out.contains("  skipped 3: zone file record ($TTL, SOA, NS)"),
        "{out}"
    );
    assert!(
        out.contains("  skipped 1: rpz-passthru (an allow rule: not loaded)"),
        "{out}"
    );
    assert!(
        out.contains("  skipped 1: RPZ trigger other than a query name"),
        "{out}"
    );
    // hosts: the 14 own names of the preamble are skipped, never indicators
    assert!(
        util::check_line(&out, "hosts").contains("3 indicators: ipv4 0, ipv6 0, cidr 0, domain 3; 0 duplicates, 0 bad, 0 too broad, 14 skipped"),
        "{out}"
    );
    assert!(
        out.contains(
            "  skipped 14: hosts-file own name (localhost, broadcasthost, ip6-*, 0.0.0.0)"
        ),
        "{out}"
    );
    // adblock: `||x^` and `$important` load; `@@` and other modifiers are skipped by name
    assert!(
        util::check_line(&out, "adblock").contains("3 indicators: ipv4 0, ipv6 0, cidr 0, domain 3; 0 duplicates, 0 bad, 0 too broad, 2 skipped"),
        "{out}"
    );
    // firehol: every network that overlaps home_net is named; 224.0.0.0/3 is too broad
    let firehol = util::check_line(&out, "firehol-fullbogons");
    assert!(
        firehol.contains(
            "10 indicators: ipv4 0, ipv6 0, cidr 10, domain 0; 0 duplicates, 0 bad, 1 too broad"
        ) && firehol.ends_with(", 6 overlap home_net (0 refused)"),
        "{out}"
    );
    for (line, net) in [(20, "10.0.0.0/8"), (26, "192.168.0.0/16")] {
        let want = format!(
            "firehol-fullbogons.netset:{line}: overlaps home_net {net}: internal addresses will match (exclude_home_net = true refuses it): \"{net}\""
        );
        assert!(out.contains(&want), "{want}\n{out}");
    }
    // public suffixes listed alone: loaded as exact matches, one warning line each
    assert!(
        util::check_line(&out, "abused-roots").ends_with("5 indicators: ipv4 0, ipv6 0, cidr 0, domain 5; 0 duplicates, 0 bad, 0 too broad, 0 skipped, 0 already expired, 4 public suffixes as exact"),
        "{out}"
    );
    let warned = out
        .lines()
        .filter(|l| l.contains("abused-roots.txt:") && l.contains("loaded as an exact match"))
        .count();
    assert_eq!(warned, 4, "{out}");
}

#[test]
fn lookup_shows_what_wildcards_dots_adblock_rpz_and_roots_cover() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &feeds_of(
            &[
                "hagezi-wildcard.txt",
                "rpz.zone",
                "adblock.txt",
                "abused-roots.txt",
                "maltrail-trail.txt",
            ],
            "",
        ),
    );
    let look = |v: &str| {
        let (_, out, err) = util::run_iocd(&["lookup", "--config", cfg.to_str().unwrap(), v]);
        assert!(!out.is_empty(), "{err}");
        out
    };
    // `*.x` is x's subdomains, not x
    assert!(look("a.phish-login.example")
        .contains("domain phish-login.example (subdomain) feed=hagezi-wildcard"));
    assert_eq!(
        look("phish-login.example"),
        "phish-login.example: no match\n"
    );
    // RPZ: `x CNAME .` is x alone, `*.x` its subdomains: together, both
    assert!(look("sinkholed.example").contains("(exact) feed=rpz"));
    assert_eq!(
        look("www.sinkholed.example"),
        "www.sinkholed.example: no match\n"
    );
    assert!(look("phish.example").contains("domain phish.example (exact) feed=rpz"));
    assert!(look("a.b.phish.example").contains("domain phish.example (subdomain) feed=rpz"));
    // adblock `||x^`: x and its subdomains
    assert!(look("ads.example").contains("(exact) feed=adblock"));
    assert!(look("x.ads.example").contains("(subdomain) feed=adblock"));
    assert_eq!(
        look("cdn.ads.example").lines().count(),
        3, // the value, the one indicator, the verdict
        "the @@ exception is not loaded"
    );
    // a public suffix alone: the root itself, not every customer under it
    assert!(look("duckdns.org").contains("domain duckdns.org (exact) feed=abused-roots"));
    assert_eq!(
        look("someone.duckdns.org"),
        "someone.duckdns.org: no match\n"
    );
    assert!(look("a.login-verify.pages.dev").contains("(subdomain) feed=abused-roots"));
    // address:port: the address, the port as context
    assert!(look("203.0.113.9").contains("ipv4 203.0.113.9 (exact) feed=maltrail-trail action=alert severity=medium confidence=- port=4444"));
    assert!(look("2001:db8::66").contains("port=443"));
    assert!(look("update-check.example").contains("port=8443"));
}

fn events(cfg: &Path) -> (Vec<Value>, String) {
    let r = util::replay(&["--config", cfg.to_str().unwrap(), &demo()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let err = r.stderr();
    (r.events, err)
}

fn at<'a>(events: &'a [Value], w: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["observable"]["where"] == w)
        .collect()
}

#[test]
fn replay_matches_wildcard_hosts_rpz_and_adblock_names_and_address_ports() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &feeds_of(
            &[
                "maltrail-trail.txt",
                "hagezi-wildcard.txt",
                "rpz.zone",
                "hosts.txt",
                "adblock.txt",
            ],
            "",
        ),
    );
    let (ev, err) = events(&cfg);
    let sni = at(&ev, "tls.sni");
    assert_eq!(sni.len(), 1, "{ev:?}");
    let e = sni[0];
    // the RPZ's exact name ranks first (more labels than the parents)
    assert_eq!(e["indicator"]["feed"], "rpz");
    assert_eq!(e["indicator"]["value"], "login.phish.test");
    let also: Vec<(String, String, String)> = e["also_matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["feed"].as_str().unwrap().to_owned(),
                a["value"].as_str().unwrap().to_owned(),
                a["match"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = |f: &str, v: &str, m: &str| (f.to_owned(), v.to_owned(), m.to_owned());
    assert_eq!(
        also,
        [
            want("hosts", "login.phish.test", "exact"),
            want("hagezi-wildcard", "phish.test", "subdomain"),
            want("adblock", "phish.test", "subdomain"),
        ],
        "{e}"
    );
    assert_eq!(at(&ev, "dns.query").len(), 1, "{ev:?}");
    // the trail's 203.0.113.66:8080: the address matched, the port the feed named in the event
    let dst = at(&ev, "ip.dst");
    assert_eq!(dst.len(), 1, "{ev:?}");
    assert_eq!(dst[0]["indicator"]["value"], "203.0.113.66");
    assert_eq!(dst[0]["indicator"]["port"], 8080);
    assert_eq!(dst[0]["flow"]["dest_port"], 8080);
    // an indicator with no port has no "port" key
    assert!(e["indicator"].get("port").is_none(), "{e}");
    // the one warning is the wildcard under a public suffix, refused
    let warns: Vec<&str> = err.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 1, "{err}");
    assert!(warns[0].contains("hagezi-wildcard.txt:12: a wildcard under a public suffix"));
}

#[test]
fn match_port_makes_the_port_a_condition_on_either_side_of_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("c2-8080.txt"), "203.0.113.66:8080\n");
    write_file(&dir.path().join("c2-8443.txt"), "203.0.113.66:8443\n");
    let ips = |feeds: &str| {
        let (ev, _) = events(&config(dir.path(), feeds));
        ev.iter()
            .filter(|e| e["observable"]["kind"] == "ip")
            .map(|e| {
                (
                    e["observable"]["where"].as_str().unwrap().to_owned(),
                    e["indicator"]["port"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    // context only: the port the feed named, whatever the flow's
    let mut got = ips("[[feeds]]\npath = \"c2-8443.txt\"\n");
    got.sort();
    assert_eq!(
        got,
        [
            ("dns.answer_ip".to_owned(), 8443),
            ("http.host".to_owned(), 8443),
            ("ip.dst".to_owned(), 8443),
            ("ip.src".to_owned(), 8443)
        ]
    );
    // match_port: the HTTP flow (port 8080 on the server side) matches, in both directions and
    // in its Host header; the DNS answer (ports 53 and an ephemeral one) does not
    let mut got = ips("[[feeds]]\npath = \"c2-8080.txt\"\nmatch_port = true\n");
    got.sort();
    assert_eq!(
        got,
        [
            ("http.host".to_owned(), 8080),
            ("ip.dst".to_owned(), 8080),
            ("ip.src".to_owned(), 8080)
        ]
    );
    assert!(ips("[[feeds]]\npath = \"c2-8443.txt\"\nmatch_port = true\n").is_empty());
    // and the observations it did not match are counted: as many as match without it
    let count = |feeds: &str, key: &str| {
        let cfg = config(dir.path(), feeds);
        let r = util::replay(&["--config", cfg.to_str().unwrap(), &demo()]);
        util::summary_number(&r.stderr(), key)
    };
    let all = count("[[feeds]]\npath = \"c2-8443.txt\"\n", "matches");
    assert!(all > 0);
    assert_eq!(
        count(
            "[[feeds]]\npath = \"c2-8443.txt\"\nmatch_port = true\n",
            "port_mismatch"
        ),
        all
    );
}

#[test]
fn a_netset_overlapping_home_net_is_named_at_load_and_refused_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let firehol = feeds_of(&["firehol-fullbogons.netset"], "");
    // the demo's site: its client 192.0.2.10 and resolver 192.0.2.53, beside the default
    // home_net's private ranges
    let home =
        "home_net = [\"192.0.2.0/24\", \"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\", \
                \"100.64.0.0/10\", \"127.0.0.0/8\", \"169.254.0.0/16\"]\n";
    let (ev, err) = events(&config(dir.path(), &format!("{home}{firehol}")));
    // without exclude_home_net, fullbogons flags the site's own client
    assert!(
        ev.iter().any(|e| e["indicator"]["value"] == "192.0.2.0/24"
            && e["observable"]["value"] == "192.0.2.10"),
        "{ev:?}"
    );
    assert!(
        err.contains("firehol-fullbogons.netset:25: overlaps home_net 192.0.2.0/24: internal addresses will match"),
        "{err}"
    );
    let cfg = config(
        dir.path(),
        &format!(
            "{home}{}[[feeds]]\npath = \"{}\"\n",
            feeds_of(&["firehol-fullbogons.netset"], "exclude_home_net = true\n"),
            list("maltrail-trail.txt")
        ),
    );
    let (ev, err) = events(&cfg);
    assert!(
        ev.iter()
            .all(|e| e["indicator"]["feed"] != "firehol-fullbogons"),
        "{ev:?}"
    );
    assert!(
        err.contains("7 overlap home_net (7 refused)")
            && err.contains("overlaps home_net 10.0.0.0/8: refused (exclude_home_net = true)"),
        "{err}"
    );
    // the other feed still matches
    assert!(!ev.is_empty());
    // home_net from the config decides: a sensor whose home is elsewhere gets no warning
    let cfg = dir.path().join("other-home.toml");
    write_file(
        &cfg,
        &format!("sensor = \"t\"\nhome_net = [\"198.51.100.0/24\"]\n{firehol}"),
    );
    let (code, out, _) = util::run_iocd(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("overlap"), "{out}");
}

#[test]
fn a_binary_file_is_not_a_text_feed_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("feed.txt");
    // a gzip download saved under the feed's name
    let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&gz, &bytes).unwrap();
    let (code, out, _) = util::run_iocd(&["check", "--feed", gz.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("UNUSABLE: not a text feed: gzip-compressed: decompress it first (gunzip)"),
        "{out}"
    );
    // the feed line and the total: no line of mojibake
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn a_feed_mostly_bad_is_unusable_for_check_and_replay_runs_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    // Suricata rules where a plain list was expected: text, but not a feed
    let mut rules = String::from("evil.example\n");
    for i in 0..50 {
        rules += &format!(
            "alert dns any any -> any any (msg:\"x\"; dns.query; content:\"bad{i}\"; sid:{i};)\n"
        );
    }
    write_file(&dir.path().join("rules.txt"), &rules);
    let cfg = config(
        dir.path(),
        &format!(
            "[[feeds]]\npath = \"rules.txt\"\n[[feeds]]\npath = \"{}\"\n",
            list("maltrail-trail.txt")
        ),
    );
    let (code, out, _) = util::run_iocd(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("rules.txt): UNUSABLE: 50 of 51 entries bad (98.0%), over max_bad_ratio 0.1"),
        "{out}"
    );
    assert!(out.contains("1 of 2 feeds usable"), "{out}");
    // three examples, with file and line, then the count of the rest
    assert!(
        out.contains("rules.txt:2: several words: not an address, a name, a hosts-file line or a zone record: \"alert dns any any"),
        "{out}"
    );
    assert!(out.contains("... and 47 more problems not shown"), "{out}");
    // at startup the unusable feed loads nothing; the other one runs
    let (ev, err) = events(&cfg);
    assert!(err.contains("feed \"rules\": UNUSABLE"), "{err}");
    assert!(ev
        .iter()
        .all(|e| e["indicator"]["feed"] == "maltrail-trail"));
    assert!(!ev.is_empty());
}

#[test]
fn replay_logs_a_few_problems_per_feed_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..12_000 {
        text += &format!("h{i}.example\n");
    }
    for i in 0..1_100 {
        text += &format!("bad{i}..example\n");
    }
    write_file(&dir.path().join("big.txt"), &text);
    let cfg = config(dir.path(), "[[feeds]]\npath = \"big.txt\"\n");
    let (_, err) = events(&cfg);
    let warns = err.lines().filter(|l| l.contains(" WARN ")).count();
    assert_eq!(warns, 21, "20 problems and the count of the rest:\n{err}");
    assert!(
        err.contains("feed \"big\": 1080 more problems not logged (`iocd check` lists up to 1000 with file and line)"),
        "{err}"
    );
    assert!(err.contains("big.txt:12001: empty label"), "{err}");
    // the summary is still there, after them
    assert!(err.contains("sink output: sent"), "{err}");
}
