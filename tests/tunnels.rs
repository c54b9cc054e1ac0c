//! Encapsulations and IP reassembly, end to end: the real binary on corpus captures (truth from
//! tshark in `truth.jsonl`) and on captures generated here, one per tunnel type plus fragmented
//! DNS queries. Observables are the innermost packet's; events carry the tunnels around it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth, ipv4_frag, ipv6_frag, pieces, udp, write_pcap};
use crate::util::{self, strings};

/// Replay `file` with a feed of `values`; return the events and stderr.
fn replay_with_feed(pcap: &std::path::Path, values: &[String]) -> util::Replay {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    let mut text = String::from("# tunnels test\ncanary.invalid\n");
    for v in values {
        text.push_str(v);
        text.push('\n');
    }
    util::write_file(&feed, &text);
    util::replay(&[
        "--workers",
        "2",
        "--feed",
        feed.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ])
}

fn tunnel_types(e: &Value) -> Vec<String> {
    e["flow"]["tunnel"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["type"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (file, tunnel type at least one event must show, or none; names to expect besides the DNS
/// queries)
const CORPUS: &[(&str, Option<&str>, &[&str])] = &[
    ("sv-dns-vxlan.pcap", Some("vxlan"), &[]),
    ("zk-http-vxlan.pcap", Some("vxlan"), &[]),
    ("sv-dns-gre.pcap", Some("gre"), &[]),
    ("td-gre-variants.pcap", None, &[]),
    (
        "zk-tls13-sni-geneve.pcap",
        Some("geneve"),
        &["www.kernel.org"],
    ),
    ("zk-dns-http-teredo.pcap", None, &[]),
    (
        "nd-tls-sni-4in6-tunnel.pcap",
        Some("4in6"),
        &["www.bing.com"],
    ),
    ("nd-dns-pppoe-vlan.pcapng", Some("pppoe"), &[]),
    ("sv-http-pppoe-session.pcap", Some("pppoe"), &[]),
    ("zk-pppoe-ipv6.pcap", Some("pppoe"), &[]),
    ("pp-http-mpls-vlan.pcap", Some("mpls"), &[]),
    ("zk-http-mpls-in-vlan.pcap", Some("mpls"), &[]),
    ("zk-http-nflog.pcap", None, &[]),
    ("td-qinq-8021ad.pcap", None, &[]),
    ("zk-dns-ipv6-fragmented-response.pcap", None, &[]),
    ("sv-ipv4-fragments.pcap", None, &[]),
    ("sv-ipv6-fragments-vlan-tcp.pcap", None, &[]),
    ("pp-http-ipv4-fragmented-request.pcap", None, &[]),
];

#[test]
fn corpus_tunnels_and_fragments_report_the_innermost_ips_and_names() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let truth = util::truth(&corpus);
    for &(file, tunnel, extra) in CORPUS {
        let t = truth
            .iter()
            .find(|t| t["file"] == file)
            .unwrap_or_else(|| panic!("{file} not in truth.jsonl"));
        let ips = strings(t, "ips");
        let names = strings(t, "dns_queries");
        let mut want: Vec<String> = ips.clone();
        want.extend(names.iter().cloned());
        want.extend(extra.iter().map(|s| s.to_string()));
        let r = replay_with_feed(&corpus.join(file), &want);
        assert_eq!(r.code(), Some(0), "{file}: {}", r.stderr());
        assert!(!r.stderr().contains("panicked"), "{file}: {}", r.stderr());
        let matched: BTreeSet<&str> = r
            .events
            .iter()
            .map(|e| e["indicator"]["value"].as_str().unwrap())
            .collect();
        let missing: Vec<_> = want
            .iter()
            .filter(|w| !matched.contains(w.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{file}: not reported {missing:?}\n{}",
            r.stderr()
        );
        // outer addresses that are not also inner ones must not be reported
        let outer_only: Vec<String> = strings(t, "ips_all_layers")
            .into_iter()
            .filter(|a| !ips.contains(a))
            .collect();
        for e in &r.events {
            let v = e["observable"]["value"].as_str().unwrap();
            assert!(!outer_only.iter().any(|o| o == v), "{file}: outer {v}");
        }
        if let Some(kind) = tunnel {
            assert!(
                r.events
                    .iter()
                    .any(|e| tunnel_types(e).iter().any(|k| k == kind)),
                "{file}: no event with a {kind} tunnel"
            );
        }
    }
}

#[test]
fn teredo_events_for_inner_ipv6_carry_the_tunnel() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let r = replay_with_feed(
        &corpus.join("zk-dns-http-teredo.pcap"),
        &["ipv6.google.com".into(), "2001:4860:0:2001::68".into()],
    );
    assert!(!r.events.is_empty(), "{}", r.stderr());
    for e in &r.events {
        if e["flow"]["src_ip"].as_str().unwrap().contains(':') {
            assert_eq!(tunnel_types(e), ["teredo"], "{e}");
        }
    }
    assert!(r
        .events
        .iter()
        .any(|e| e["observable"]["value"] == "2001:4860:0:2001::68"));
}

#[test]
fn fragmented_corpus_captures_are_reassembled() {
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    for (file, n) in [
        ("zk-dns-ipv6-fragmented-response.pcap", 1),
        ("sv-ipv4-fragments.pcap", 1),
        ("sv-ipv6-fragments-vlan-tcp.pcap", 1),
        ("pp-http-ipv4-fragmented-request.pcap", 1),
    ] {
        let r = replay_with_feed(&corpus.join(file), &[]);
        assert!(
            r.stderr().contains(&format!("reassembled {n} ")),
            "{file}: {}",
            r.stderr()
        );
    }
}

// ---- generated captures ---------------------------------------------------------------------

const OUT_A: [u8; 4] = [198, 51, 100, 1];
const OUT_B: [u8; 4] = [198, 51, 100, 2];
const IN_A: [u8; 4] = [10, 9, 0, 1];
const IN_B: [u8; 4] = [10, 9, 0, 2];

/// The innermost packet: IPv4/UDP DNS query for `name`.
fn inner_query(name: &str) -> Vec<u8> {
    ipv4_frag(
        IN_A,
        IN_B,
        17,
        (1, 0, false),
        &udp(40000, 53, &dns_query(7, name)),
    )
}

fn mpls(label: u32, bottom: bool) -> [u8; 4] {
    ((label << 12) | (u32::from(bottom) << 8) | 64).to_be_bytes()
}

/// One frame per tunnel type, each carrying a DNS query for `<type>.tunnel.example`, with the
/// JSON tunnel array its event must carry.
fn tunnel_frames() -> Vec<(String, Vec<u8>, Value)> {
    let q = |t: &str| inner_query(&format!("{t}.tunnel.example"));
    let mut out = Vec::new();
    let mut push = |name: &str, frame: Vec<u8>, tunnel: Value| {
        out.push((format!("{name}.tunnel.example"), frame, tunnel));
    };
    // VXLAN
    let mut v = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    v.extend_from_slice(&eth(0x0800, &q("vxlan")));
    push(
        "vxlan",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 17, (2, 0, false), &udp(5555, 4789, &v)),
        ),
        serde_json::json!([{"type": "vxlan", "vni": 42}]),
    );
    // Geneve, inner IPv4 directly, one option word
    let mut g = vec![0x01, 0x00, 0x08, 0x00, 0, 0, 7, 0, 1, 2, 3, 4];
    g.extend_from_slice(&q("geneve"));
    push(
        "geneve",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 17, (3, 0, false), &udp(5555, 6081, &g)),
        ),
        serde_json::json!([{"type": "geneve", "vni": 7}]),
    );
    // GRE with key
    let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 5];
    gre.extend_from_slice(&q("gre"));
    push(
        "gre",
        eth(0x0800, &ipv4_frag(OUT_A, OUT_B, 47, (4, 0, false), &gre)),
        serde_json::json!([{"type": "gre", "key": 5}]),
    );
    // ERSPAN II in GRE with sequence number
    let mut er = vec![
        0x10, 0, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0, 0x00, 0x21, 0, 0, 0, 0,
    ];
    er.extend_from_slice(&eth(0x0800, &q("erspan")));
    push(
        "erspan",
        eth(0x0800, &ipv4_frag(OUT_A, OUT_B, 47, (5, 0, false), &er)),
        serde_json::json!([{"type": "gre"}, {"type": "erspan", "session": 33}]),
    );
    // MPLS two labels
    let mut m = mpls(100, false).to_vec();
    m.extend_from_slice(&mpls(200, true));
    m.extend_from_slice(&q("mpls"));
    push(
        "mpls",
        eth(0x8847, &m),
        serde_json::json!([{"type": "mpls", "label": 100}, {"type": "mpls", "label": 200}]),
    );
    // PPPoE in a VLAN, compressed protocol field
    let inner = q("pppoe");
    let mut p = vec![0x11, 0x00, 0x00, 0x2A];
    p.extend_from_slice(&((inner.len() + 1) as u16).to_be_bytes());
    p.push(0x21);
    p.extend_from_slice(&inner);
    let mut vl = vec![0x00, 0x0A, 0x88, 0x64];
    vl.extend_from_slice(&p);
    push(
        "pppoe",
        eth(0x8100, &vl),
        serde_json::json!([{"type": "pppoe", "session": 42}]),
    );
    // Teredo with an origin indication, inner IPv6
    let mut te = vec![0x00, 0x00, 0x0D, 0xDE, 1, 2, 3, 4];
    te.extend_from_slice(&ipv6_frag(
        [0x20; 16],
        [0x26; 16],
        17,
        None,
        &udp(40000, 53, &dns_query(9, "teredo.tunnel.example")),
    ));
    push(
        "teredo",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 17, (6, 0, false), &udp(3544, 5000, &te)),
        ),
        serde_json::json!([{"type": "teredo"}]),
    );
    // VXLAN-GPE (I and P flags, next protocol NSH), NSH (MD type 2, no context, next
    // protocol Ethernet) on service path 16, index 254: no real producer of NSH is at hand
    let mut n = vec![
        0x0C, 0, 0, 4, 0, 0, 5, 0, 0x0F, 0x02, 0x02, 3, 0, 0, 16, 254,
    ];
    n.extend_from_slice(&eth(0x0800, &q("nsh")));
    push(
        "nsh",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 17, (9, 0, false), &udp(5555, 4790, &n)),
        ),
        serde_json::json!([{"type": "vxlan_gpe", "vni": 5}, {"type": "nsh", "spi": 16, "si": 254}]),
    );
    // GTP-U G-PDU with a PDU session container extension (5G N3: QFI 9), TEID 77
    let inner = q("gtpu");
    let mut gt = vec![0x34, 0xFF];
    gt.extend_from_slice(&((inner.len() + 8) as u16).to_be_bytes());
    gt.extend_from_slice(&[0, 0, 0, 77, 0, 0, 0, 0x85, 0x01, 0x10, 0x09, 0x00]);
    gt.extend_from_slice(&inner);
    push(
        "gtpu",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 17, (10, 0, false), &udp(2152, 2152, &gt)),
        ),
        serde_json::json!([{"type": "gtpu", "teid": 77}]),
    );
    // IPv4 in IPv4, then IPv4 in IPv6
    push(
        "ipip",
        eth(
            0x0800,
            &ipv4_frag(OUT_A, OUT_B, 4, (7, 0, false), &q("ipip")),
        ),
        serde_json::json!([{"type": "ipip"}]),
    );
    push(
        "4in6",
        eth(0x86DD, &ipv6_frag([1; 16], [2; 16], 4, None, &q("4in6"))),
        serde_json::json!([{"type": "4in6"}]),
    );
    // IPv6 in IPv4
    let inner6 = ipv6_frag(
        [0x20; 16],
        [0x26; 16],
        17,
        None,
        &udp(40000, 53, &dns_query(9, "6in4.tunnel.example")),
    );
    push(
        "6in4",
        eth(0x0800, &ipv4_frag(OUT_A, OUT_B, 41, (8, 0, false), &inner6)),
        serde_json::json!([{"type": "6in4"}]),
    );
    out
}

#[test]
fn generated_tunnels_report_the_inner_query_with_the_tunnel_array() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tunnels.pcap");
    let frames = tunnel_frames();
    let recs: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, (_, f, _))| (1_700_000_000_000_000 + i as u64, f.clone()))
        .collect();
    write_pcap(&pcap, 1, &recs);
    let names: Vec<String> = frames.iter().map(|(n, _, _)| n.clone()).collect();
    let mut feed = names.clone();
    // an outer address must never be reported: it is in the feed as a trap
    feed.push("198.51.100.1".into());
    let r = replay_with_feed(&pcap, &feed);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    for (name, _, tunnel) in &frames {
        let e = r
            .events
            .iter()
            .find(|e| e["observable"]["value"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not reported: {}", r.stderr()));
        assert_eq!(&e["flow"]["tunnel"], tunnel, "{name}");
    }
    assert!(
        !r.events
            .iter()
            .any(|e| e["observable"]["value"] == "198.51.100.1"),
        "outer address reported"
    );
}

#[test]
fn nflog_capture_reports_the_logged_packet() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("nflog.pcap");
    let ip = inner_query("nflog.example");
    let mut f = vec![2, 0, 0, 0];
    f.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
    f.extend_from_slice(&9u16.to_le_bytes());
    f.extend_from_slice(&ip);
    write_pcap(&pcap, 239, &[(1_700_000_000_000_000, f)]);
    let r = replay_with_feed(&pcap, &["nflog.example".into(), "10.9.0.2".into()]);
    assert_eq!(r.events.len(), 2, "{}", r.stderr());
}

/// Fragments of a DNS query, as raw IP packets, last fragment first (reassembly must not depend
/// on order).
fn fragmented_query(v6: bool, name: &str) -> Vec<Vec<u8>> {
    let l4 = udp(40001, 53, &dns_query(11, name));
    let mut frames: Vec<Vec<u8>> = pieces(&l4, 24)
        .into_iter()
        .map(|(off, more, piece)| {
            if v6 {
                ipv6_frag(
                    [0x20; 16],
                    [0x26; 16],
                    17,
                    Some((0xABCD, off, more)),
                    &piece,
                )
            } else {
                ipv4_frag(IN_A, IN_B, 17, (0x1234, off, more), &piece)
            }
        })
        .collect();
    frames.reverse();
    frames
}

#[test]
fn dns_queries_in_ipv4_and_ipv6_fragments_are_reassembled_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("frags.pcap");
    let mut recs = Vec::new();
    let mut ts = 1_700_000_000_000_000u64;
    for (v6, name) in [
        (false, "fragmented-v4.example"),
        (true, "fragmented-v6.example"),
    ] {
        for ip in fragmented_query(v6, name) {
            ts += 10;
            recs.push((ts, eth(if v6 { 0x86DD } else { 0x0800 }, &ip)));
        }
    }
    // a VXLAN packet whose OUTER IPv4 packet is fragmented: decoding resumes after reassembly
    let mut v = vec![0x08, 0, 0, 0, 0, 0, 9, 0];
    v.extend_from_slice(&eth(0x0800, &inner_query("outer-fragmented.example")));
    let outer = udp(5555, 4789, &v);
    for (off, more, piece) in pieces(&outer, 32) {
        ts += 10;
        recs.push((
            ts,
            eth(
                0x0800,
                &ipv4_frag(OUT_A, OUT_B, 17, (77, off, more), &piece),
            ),
        ));
    }
    write_pcap(&pcap, 1, &recs);
    let r = replay_with_feed(
        &pcap,
        &[
            "fragmented-v4.example".into(),
            "fragmented-v6.example".into(),
            "outer-fragmented.example".into(),
            // the fragmented query's source, reported once from its fragments; the VXLAN
            // packet's outer source, a trap: a tunnel's outer addresses are never reported
            "10.9.0.1".into(),
            "198.51.100.1".into(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let got: BTreeSet<&str> = r
        .events
        .iter()
        .map(|e| e["observable"]["value"].as_str().unwrap())
        .collect();
    for n in [
        "fragmented-v4.example",
        "fragmented-v6.example",
        "outer-fragmented.example",
    ] {
        assert!(got.contains(n), "{n} missing: {}", r.stderr());
    }
    let e = r
        .events
        .iter()
        .find(|e| e["observable"]["value"] == "outer-fragmented.example")
        .unwrap();
    assert_eq!(
        e["flow"]["tunnel"],
        serde_json::json!([{"type": "vxlan", "vni": 9}])
    );
    assert!(r.stderr().contains("reassembled 3 "), "{}", r.stderr());
    // 10.9.0.1 twice: from the fragments of the query (no ports), and from the packet inside
    // the VXLAN tunnel (port 40000); 198.51.100.1 never
    let mut addresses: Vec<(&str, Option<u64>)> = r
        .events
        .iter()
        .filter(|e| e["observable"]["kind"] == "ip")
        .map(|e| {
            let v = e["observable"]["value"].as_str().unwrap();
            (v, e["flow"]["src_port"].as_u64())
        })
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        [("10.9.0.1", None), ("10.9.0.1", Some(40000))],
        "{}",
        r.stderr()
    );
}

/// Real tunnelled TLS made by `pcaps/real/tunnels.sh`: curl through osmo-ggsn's GTP-U and the
/// kernel's VXLAN-GPE; the SNI comes with the inner addresses and the tunnel, as tshark shows
/// them (`gtp.teid` 0x00000001, `vxlan.vni` 4242).
#[test]
fn real_gtpu_and_vxlan_gpe_captures_report_the_inner_sni_with_the_tunnel() {
    for (file, sni, src, tunnel) in [
        (
            "real-sgsnemu-gtpu-tls.pcap",
            "gtp.ioc-test.example",
            "10.88.0.1",
            serde_json::json!([{"type": "gtpu", "teid": 1}]),
        ),
        (
            "real-curl-vxlan-gpe-tls.pcap",
            "gpe.ioc-test.example",
            "10.99.0.2",
            serde_json::json!([{"type": "vxlan_gpe", "vni": 4242}]),
        ),
    ] {
        let pcap = util::root().join("pcaps/real").join(file);
        // the underlay client address: reported for GTP-C's own packets (UDP 2123, a real
        // flow), never for a tunnel's outer header
        let r = replay_with_feed(&pcap, &["ioc-test.example".into(), "10.77.0.2".into()]);
        assert_eq!(r.code(), Some(0), "{file}: {}", r.stderr());
        for e in &r.events {
            for port in ["src_port", "dest_port"] {
                let p = e["flow"][port].as_u64();
                assert!(p != Some(2152) && p != Some(4790), "{file}: {e}");
            }
        }
        let tls: Vec<&Value> = r
            .events
            .iter()
            .filter(|e| e["observable"]["where"] == "tls.sni")
            .collect();
        assert_eq!(tls.len(), 1, "{file}: {:?}", r.events);
        let e = tls[0];
        assert_eq!(e["observable"]["value"], sni, "{file}");
        assert_eq!(e["flow"]["src_ip"], src, "{file}");
        assert_eq!(e["flow"]["tunnel"], tunnel, "{file}");
    }
}
