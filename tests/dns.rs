//! DNS answers, mDNS and LLMNR through the real binary: generated captures, then the corpus's
//! response and mDNS/LLMNR names.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::testkit::dns::{
    name as wire_name, query as dns_query, response as dns_response, rr,
};
use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_UDP};
use crate::util::{self, feed_line_for, strings, tshark_name_raw};

const T0: u64 = 1_700_000_000_000_000;
const CLIENT: [u8; 4] = [10, 1, 1, 1];
const RESOLVER: [u8; 4] = [10, 9, 9, 9];

/// Replay `frames` (Ethernet) against a feed of `feed` lines; return the events.
fn replay_frames(frames: Vec<Vec<u8>>, feed: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    let frames: Vec<(u64, Vec<u8>)> = frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (T0 + i as u64 * 1000, f))
        .collect();
    write_pcap(&pcap, 1, &frames);
    let feed_path = dir.path().join("f.txt");
    util::write_file(&feed_path, feed);
    // LLMNR names have one label (`fileserver`): allowed as indicators with allow_broad
    let r = util::replay(&[
        "--config",
        util::broad_config(&feed_path).to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r.events
}

/// (indicator value, where) of every event.
fn hits(events: &[Value]) -> BTreeSet<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["indicator"]["value"].as_str().unwrap().to_owned(),
                e["observable"]["where"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(v: &str, w: &str) -> (String, String) {
    (v.to_owned(), w.to_owned())
}

#[test]
fn listed_ip_in_an_a_record_is_reported_as_dns_answer_ip_without_a_connection() {
    let answers = [
        rr(1, &[203, 0, 113, 7]),
        rr(
            28,
            &"2001:db8::77"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        ),
    ];
    let events = replay_frames(
        vec![
            eth_ipv4(
                CLIENT,
                RESOLVER,
                PROTO_UDP,
                40000,
                53,
                &dns_query(7, "innocent.example"),
            ),
            eth_ipv4(
                RESOLVER,
                CLIENT,
                PROTO_UDP,
                53,
                40000,
                &dns_response(7, "innocent.example", &answers),
            ),
        ],
        "203.0.113.7\n2001:db8::77\n",
    );
    assert_eq!(
        hits(&events),
        [
            pair("203.0.113.7", "dns.answer_ip"),
            pair("2001:db8::77", "dns.answer_ip")
        ]
        .into(),
        "{events:?}"
    );
    let e = &events[0];
    assert_eq!(e["observable"]["kind"], "ip");
    assert_eq!(e["flow"]["src_ip"], "10.9.9.9");
    assert_eq!(e["flow"]["src_port"], 53);
    assert_eq!(e["flow"]["dest_ip"], "10.1.1.1");
    assert_eq!(e["pcap"]["packet"], 2);
}

#[test]
fn cname_to_a_listed_domain_is_reported_as_dns_answer() {
    let answers = [
        rr(5, &wire_name("Edge.Bad-CDN.example")),
        rr(1, &[198, 51, 100, 1]),
    ];
    let events = replay_frames(
        vec![eth_ipv4(
            RESOLVER,
            CLIENT,
            PROTO_UDP,
            53,
            40001,
            &dns_response(9, "www.innocent.example", &answers),
        )],
        "bad-cdn.example\nwww.innocent.example\n",
    );
    assert_eq!(
        hits(&events),
        [
            pair("bad-cdn.example", "dns.answer"),
            // a response's question name counts as a query name, as for queries
            pair("www.innocent.example", "dns.query"),
        ]
        .into(),
        "{events:?}"
    );
    let e = events
        .iter()
        .find(|e| e["observable"]["where"] == "dns.answer")
        .unwrap();
    assert_eq!(e["observable"]["value"], "edge.bad-cdn.example");
    assert_eq!(e["indicator"]["match"], "subdomain");
}

#[test]
fn mdns_and_llmnr_queries_are_reported_as_dns_query() {
    let mut mdns = dns_query(0, "printer.local");
    mdns[2] = 0; // mDNS queries have no RD bit
    let events = replay_frames(
        vec![
            eth_ipv4(CLIENT, [224, 0, 0, 251], PROTO_UDP, 5353, 5353, &mdns),
            eth_ipv4(
                CLIENT,
                [224, 0, 0, 252],
                PROTO_UDP,
                53001,
                5355,
                &dns_query(3, "fileserver"),
            ),
        ],
        "printer.local\nfileserver\n",
    );
    assert_eq!(
        hits(&events),
        [
            pair("printer.local", "dns.query"),
            pair("fileserver", "dns.query")
        ]
        .into(),
        "{events:?}"
    );
}

#[test]
fn mdns_response_with_cache_flush_bit_is_reported() {
    // RFC 6762 §6: an unsolicited announcement, QDCOUNT 0, class IN with the cache-flush bit
    let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    m.extend(wire_name("nas.local"));
    m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 203, 0, 113, 50]);
    let events = replay_frames(
        vec![eth_ipv4(
            [192, 168, 1, 5],
            [224, 0, 0, 251],
            PROTO_UDP,
            5353,
            5353,
            &m,
        )],
        "203.0.113.50\n",
    );
    assert_eq!(
        hits(&events),
        [pair("203.0.113.50", "dns.answer_ip")].into(),
        "{events:?}"
    );
}

#[test]
fn dns_on_other_ports_is_not_read() {
    let answers = [rr(1, &[203, 0, 113, 7])];
    let events = replay_frames(
        vec![eth_ipv4(
            RESOLVER,
            CLIENT,
            PROTO_UDP,
            5354,
            40000,
            &dns_response(7, "listed.example", &answers),
        )],
        "203.0.113.7\nlisted.example\n",
    );
    assert!(events.is_empty(), "{events:?}");
}

/// What `tests/corpus.rs` leaves out of its oracle: tunnels, fragments, DNS over TCP.
fn in_scope(t: &Value) -> bool {
    let decoded = ["vlan", "raw", "null", "sll"];
    strings(t, "encapsulations")
        .iter()
        .all(|e| decoded.contains(&e.as_str()))
        && [
            "ipv4_fragment_frames",
            "ipv6_fragment_frames",
            "dns_over_tcp_frames",
        ]
        .iter()
        .all(|k| t[*k].as_u64() == Some(0))
        && strings(t, "ips") == strings(t, "ips_all_layers")
        && !t["link_type"].as_str().unwrap_or("").contains("NFLOG")
}

#[test]
fn every_corpus_response_and_mdns_llmnr_name_is_reported() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for t in util::truth(&corpus) {
        let file = t["file"].as_str().unwrap();
        if !in_scope(&t) {
            continue;
        }
        let mut names = strings(&t, "dns_response_names");
        names.extend(strings(&t, "mdns_llmnr_names"));
        if names.is_empty() {
            continue;
        }
        let mut feed = String::new();
        let mut want = BTreeSet::new();
        for n in &names {
            let raw = tshark_name_raw(n);
            feed.push_str(&feed_line_for(&raw));
            feed.push('\n');
            want.insert(iocd::name::escape(&raw));
        }
        let feed_path = dir.path().join(format!("{file}.feed"));
        util::write_file(&feed_path, &feed);
        let pcap = corpus.join(file);
        let r = util::replay(&[
            "--config",
            util::broad_config(&feed_path).to_str().unwrap(),
            pcap.to_str().unwrap(),
        ]);
        let got: BTreeSet<String> = r
            .events
            .iter()
            .filter(|e| {
                let w = e["observable"]["where"].as_str().unwrap();
                w == "dns.query" || w == "dns.answer"
            })
            .map(|e| e["indicator"]["value"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<_> = want.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{file}: not reported: {missing:?}\n{}",
            r.stderr()
        );
        checked += want.len();
    }
    println!("{checked} corpus response/mDNS/LLMNR names reported");
    assert!(checked >= 10, "only {checked} names checked");
}
