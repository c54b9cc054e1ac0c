//! The corpus oracle: for every real capture in `../shared/pcaps/corpus/` (SKIP when it is
//! absent) that the decoders cover, a feed built from tshark's truth (every IP, every DNS query
//! name over UDP and TCP, every SNI — ClientHellos split over segments included —, every HTTP
//! Host) plus near-miss decoys; iocd must report every one and no decoy.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::util::{self, feed_line_for, strings, tshark_name_raw, tshark_name_shown};

/// Encapsulations iocd decodes (tunnels and PPPoE/MPLS since the encapsulation issue); a
/// capture with any other is skipped here with a printed reason.
const DECODED_ENCAPS: &[&str] = &[
    "vlan",
    "raw",
    "null",
    "sll",
    "ieee8021ad",
    "teredo",
    "vxlan",
    "geneve",
    "gre",
    "ppp",
    "pppoes",
    "mpls",
    "nflog",
];

fn in_scope(t: &Value) -> Result<(), String> {
    let encaps = strings(t, "encapsulations");
    if let Some(e) = encaps
        .iter()
        .find(|e| !DECODED_ENCAPS.contains(&e.as_str()))
    {
        return Err(format!("encapsulation {e}"));
    }
    // IP fragments are reassembled and tunnels decoded (the innermost addresses are `ips`; an
    // outer-only address is in `ips_all_layers` and so never chosen as a decoy). DNS over TCP,
    // split hellos and HTTP hosts are reassembled per flow.
    Ok(())
}

/// Names that must not match an observable `name`: a string suffix that is not on a label
/// boundary, a child of it, and an extension of it.
fn name_decoys(name: &str) -> Vec<String> {
    let mut d = vec![format!("zz.{name}"), format!("{name}.example")];
    let first = name.split('.').next().unwrap_or("");
    if first.len() > 1 && name.contains('.') && !first.contains('\\') {
        d.push(name[1..].to_owned());
    }
    d
}

fn ip_decoy(ip: &str) -> String {
    let a: std::net::IpAddr = ip.parse().expect("truth ip");
    match a {
        std::net::IpAddr::V4(v) => {
            let mut o = v.octets();
            o[3] = o[3].wrapping_add(101);
            std::net::IpAddr::from(o).to_string()
        }
        std::net::IpAddr::V6(v) => {
            let mut o = v.octets();
            o[15] = o[15].wrapping_add(101);
            std::net::IpAddr::from(o).to_string()
        }
    }
}

#[test]
fn every_truth_observable_is_reported_and_no_decoy() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut expected_total = 0;
    for t in util::truth(&corpus) {
        let file = t["file"].as_str().unwrap().to_owned();
        if let Err(why) = in_scope(&t) {
            println!("skip {file}: {why} (protocol-depth issue)");
            continue;
        }
        // value as iocd shows it → line as written in the feed
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        let mut names = strings(&t, "dns_queries");
        for k in [
            "dns_response_names",
            "mdns_llmnr_names",
            "tls_sni",
            "quic_sni",
        ] {
            names.extend(strings(&t, k));
        }
        for ip in strings(&t, "ips") {
            expected.insert(ip.clone(), ip);
        }
        // tshark shows the Host value as sent; iocd strips the port and reads IP literals.
        for host in strings(&t, "http_hosts") {
            let h = host.trim_start_matches('[');
            let h = match h.rsplit_once(':') {
                Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => h,
            };
            let h = h.trim_end_matches(']').to_ascii_lowercase();
            if h.parse::<std::net::IpAddr>().is_ok() {
                expected.insert(h.clone(), h);
            } else {
                names.push(h);
            }
        }
        for n in &names {
            let raw = tshark_name_raw(n);
            expected.insert(tshark_name_shown(n), feed_line_for(&raw));
        }
        // Everything the capture names anywhere: a decoy must not be one of them.
        let mut seen_anywhere: BTreeSet<String> = expected.keys().cloned().collect();
        for k in [
            "ips_all_layers",
            "dns_response_names",
            "tls_sni",
            "quic_sni",
            "http_hosts",
            "mdns_llmnr_names",
        ] {
            seen_anywhere.extend(strings(&t, k).iter().map(|n| tshark_name_shown(n)));
        }
        let mut decoys: BTreeSet<String> = BTreeSet::new();
        for v in expected.values() {
            if v.parse::<std::net::IpAddr>().is_ok() {
                decoys.insert(ip_decoy(v));
            } else {
                decoys.extend(name_decoys(v));
            }
        }
        // present in every feed, so a capture with nothing to find still has a usable feed
        decoys.insert("canary.invalid".into());
        decoys.retain(|d| {
            !seen_anywhere
                .iter()
                .any(|s| s == d || s.ends_with(&format!(".{d}")))
        });

        let feed = dir.path().join(format!("{file}.feed"));
        let mut text = String::from("# built from truth.jsonl\n");
        for v in expected.values().chain(decoys.iter()) {
            text.push_str(v);
            text.push('\n');
        }
        util::write_file(&feed, &text);
        let pcap = corpus.join(&file);
        let r = util::replay(&[
            "--workers",
            "2",
            "--config",
            util::broad_config(&feed).to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        let damaged = t["tshark_exit_code"].as_i64() != Some(0);
        let want_code = if damaged { 3 } else { 0 };
        assert_eq!(
            r.code(),
            Some(want_code),
            "{file}: exit status; stderr:\n{}",
            r.stderr()
        );
        assert!(
            !r.stderr().contains("bad line:"),
            "{file}: feed built from truth has lines iocd refuses:\n{}",
            r.stderr()
        );
        let matched: BTreeSet<String> = r
            .events
            .iter()
            .map(|e| e["indicator"]["value"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<_> = expected.keys().filter(|k| !matched.contains(*k)).collect();
        let decoys_shown: BTreeSet<String> = decoys
            .iter()
            .map(|d| {
                iocd::name::unescape(d).map_or_else(|_| d.clone(), |raw| iocd::name::escape(&raw))
            })
            .collect();
        let false_hits: Vec<_> = decoys_shown.intersection(&matched).collect();
        assert!(
            missing.is_empty(),
            "{file}: not reported: {missing:?}\nstderr:\n{}",
            r.stderr()
        );
        assert!(
            false_hits.is_empty(),
            "{file}: decoys matched: {false_hits:?}"
        );
        checked += 1;
        expected_total += expected.len();
    }
    println!("corpus oracle: {checked} captures, {expected_total} expected observables");
    assert!(checked >= 15, "only {checked} captures in scope");
}
