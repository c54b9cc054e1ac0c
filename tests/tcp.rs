//! TCP stream reassembly through the real binary: a ClientHello, an HTTP request head or DNS
//! messages spread over segments must still give their event.

use std::path::Path;

use serde_json::Value;

use crate::util;
use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth_ipv4_tcp, write_pcap, Tcp};

/// curl's TLS 1.3 ClientHello to login.phish.test (517 bytes, one record), frame 20 of
/// pcaps/demo.pcap: `tshark -Y 'tls.handshake.type==1' -T fields -e tcp.payload`.
const CURL_HELLO: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/pcaps/vectors/curl-tls13-client-hello.hex"
));

const CLIENT: [u8; 4] = [192, 0, 2, 10];
const SERVER: [u8; 4] = [198, 51, 100, 20];

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One TCP segment in an Ethernet/IPv4 frame, with explicit sequence number and flags
/// (`S` SYN, `A` ACK, `F` FIN, `R` RST).
fn tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    eth_ipv4_tcp(src, dst, sport, dport, &Tcp::flags(seq, flags), payload)
}

/// A client→server connection: handshake, then the payload pieces given as (stream offset,
/// bytes) in the order listed, each in its own segment.
fn connection(dport: u16, isn: u32, pieces: &[(usize, &[u8])]) -> Vec<(u64, Vec<u8>)> {
    let sport = 49152;
    let mut frames = vec![
        tcp(CLIENT, SERVER, sport, dport, isn, "S", b""),
        tcp(SERVER, CLIENT, dport, sport, 7000, "SA", b""),
        tcp(CLIENT, SERVER, sport, dport, isn.wrapping_add(1), "A", b""),
    ];
    for (off, bytes) in pieces {
        frames.push(tcp(
            CLIENT,
            SERVER,
            sport,
            dport,
            isn.wrapping_add(1 + *off as u32),
            "A",
            bytes,
        ));
    }
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (1_700_000_000_000_000 + i as u64 * 1000, f))
        .collect()
}

/// Replay `frames` against a feed of `feed` lines; the events.
fn run(dir: &Path, name: &str, frames: &[(u64, Vec<u8>)], feed: &[&str]) -> Vec<Value> {
    let pcap = dir.join(format!("{name}.pcap"));
    write_pcap(&pcap, 1, frames);
    let feed_path = dir.join(format!("{name}.feed"));
    util::write_file(&feed_path, &(feed.join("\n") + "\n"));
    let r = util::replay(&[
        "--feed",
        feed_path.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{name}: {}", r.stderr());
    r.events
}

/// The events' (value, where) pairs, apart from ip.src/ip.dst.
fn found(events: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["observable"]["value"].as_str().unwrap().to_owned(),
                e["observable"]["where"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(_, w)| !w.starts_with("ip."))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn sni() -> Vec<(String, String)> {
    vec![("login.phish.test".into(), "tls.sni".into())]
}

#[test]
fn client_hello_split_in_two_segments() {
    let dir = tempfile::tempdir().unwrap();
    let h = unhex(CURL_HELLO);
    let f = connection(443, 1000, &[(0, &h[..100]), (100, &h[100..])]);
    assert_eq!(found(&run(dir.path(), "two", &f, &["phish.test"])), sni());
}

#[test]
fn client_hello_split_across_three_segments_on_another_port() {
    let dir = tempfile::tempdir().unwrap();
    let h = unhex(CURL_HELLO);
    let f = connection(
        8443,
        1000,
        &[(0, &h[..3]), (3, &h[3..300]), (300, &h[300..])],
    );
    assert_eq!(found(&run(dir.path(), "three", &f, &["phish.test"])), sni());
}

#[test]
fn client_hello_segments_out_of_order_across_sequence_wraparound() {
    let dir = tempfile::tempdir().unwrap();
    let h = unhex(CURL_HELLO);
    let isn = u32::MAX - 150;
    let f = connection(
        443,
        isn,
        &[(400, &h[400..]), (200, &h[200..400]), (0, &h[..200])],
    );
    assert_eq!(found(&run(dir.path(), "ooo", &f, &["phish.test"])), sni());
}

#[test]
fn client_hello_with_a_retransmitted_overlapping_segment() {
    let dir = tempfile::tempdir().unwrap();
    let h = unhex(CURL_HELLO);
    let f = connection(
        443,
        1000,
        &[
            (0, &h[..250]),
            (0, &h[..250]),
            (100, &h[100..400]),
            (400, &h[400..]),
        ],
    );
    assert_eq!(
        found(&run(dir.path(), "retrans", &f, &["phish.test"])),
        sni()
    );
}

#[test]
fn client_hello_in_two_tls_records() {
    let dir = tempfile::tempdir().unwrap();
    let msg = &unhex(CURL_HELLO)[5..];
    let mut stream = Vec::new();
    for part in [&msg[..150], &msg[150..]] {
        stream.extend_from_slice(&[0x16, 3, 1]);
        stream.extend_from_slice(&(part.len() as u16).to_be_bytes());
        stream.extend_from_slice(part);
    }
    // the two records in one segment, then split across the record boundary
    let f = connection(443, 5, &[(0, &stream)]);
    assert_eq!(
        found(&run(dir.path(), "records1", &f, &["phish.test"])),
        sni()
    );
    let f = connection(443, 5, &[(0, &stream[..160]), (160, &stream[160..])]);
    assert_eq!(
        found(&run(dir.path(), "records2", &f, &["phish.test"])),
        sni()
    );
}

#[test]
fn dns_over_tcp_split_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Vec::new();
    for (id, name) in [(1, "first.example.net"), (2, "second.example.org")] {
        let q = dns_query(id, name);
        s.extend_from_slice(&(q.len() as u16).to_be_bytes());
        s.extend_from_slice(&q);
    }
    // cut inside the first length prefix and inside the second message
    let f = connection(53, 77, &[(0, &s[..1]), (1, &s[1..40]), (40, &s[40..])]);
    let ev = run(
        dir.path(),
        "dns",
        &f,
        &["example.net", "second.example.org"],
    );
    assert_eq!(
        found(&ev),
        vec![
            ("first.example.net".into(), "dns.query".into()),
            ("second.example.org".into(), "dns.query".into())
        ]
    );
}

#[test]
fn http_host_with_port_is_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let req = b"GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: WWW.Bad.Example:8080\r\n\r\n";
    let f = connection(8080, 9, &[(0, &req[..20]), (20, &req[20..])]);
    let ev = run(dir.path(), "http", &f, &["bad.example"]);
    assert_eq!(
        found(&ev),
        vec![("www.bad.example".into(), "http.host".into())]
    );
}

#[test]
fn http_host_ip_literals_are_ip_observables() {
    let dir = tempfile::tempdir().unwrap();
    let req = b"POST / HTTP/1.0\r\nHost: 203.0.113.7:81\r\n\r\n";
    let f = connection(80, 9, &[(0, req)]);
    let ev = run(dir.path(), "http4", &f, &["203.0.113.7"]);
    assert_eq!(found(&ev), vec![("203.0.113.7".into(), "http.host".into())]);

    let req = b"GET / HTTP/1.1\r\nHost: [2001:db8::bad]:8000\r\n\r\n";
    let f = connection(80, 9, &[(0, req)]);
    let ev = run(dir.path(), "http6", &f, &["2001:db8::bad"]);
    assert_eq!(
        found(&ev),
        vec![("2001:db8::bad".into(), "http.host".into())]
    );
}
