//! The flush capture: a flood of new connections between the two pieces of a split hello
//! (issue "Nothing lost, nothing escalated", item 5). Before `[tables]`, 1,100 new-DCID
//! Initials evicted the first half of a split QUIC ClientHello (1,024 connections per worker,
//! least recently seen first), and 65,537 new flows did the same to a split TLS ClientHello
//! over TCP: the server name was never reported. Now the tables are sized by memory and a
//! partial hello is evicted after the flood's own entries; every hello lost is counted
//! (`hellos_lost` under `quic` and `flows` in the replay summary).

use std::path::Path;

use etherparse::PacketBuilder;

use crate::util;

use crate::util::testkit::quic as quic_wire;
use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_UDP};

const VICTIM: &str = "victim.flush.example.com";
const FLOOD: &str = "flood.flush.example.org";
const CLIENT: [u8; 4] = [192, 0, 2, 10];
const SERVER: [u8; 4] = [198, 51, 100, 20];
/// Packet time of the victim's first piece; everything else follows within a second.
const T0: u64 = 1_700_000_000_000_000;

/// A UDP payload: one client Initial for `dcid` (its keys come from it), packet number `pn`,
/// carrying `data` at CRYPTO offset `offset`, padded to the 1,200 bytes a client must send.
fn initial_packet(dcid: &[u8], pn: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    let frames = quic_wire::crypto(offset, data);
    let pad = 1200 - quic_wire::long_header_len(dcid, b"cli", true) - quic_wire::TAG_LEN;
    quic_wire::packet(
        quic_wire::VERSION_1,
        quic_wire::Type::Initial,
        dcid,
        dcid,
        b"cli",
        pn,
        &frames,
        pad,
    )
}

/// A ClientHello handshake message (RFC 8446 §4.1.2) for `sni` with a padding extension
/// (RFC 7685) of `pad` bytes, so that it must be split.
fn hello_msg(sni: &str, pad: usize) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut ext = Vec::new();
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&21u16.to_be_bytes());
    ext.extend_from_slice(&(pad as u16).to_be_bytes());
    ext.resize(ext.len() + pad, 0);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut msg = vec![1];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

/// The same as one TLS handshake record, as it goes over TCP.
fn hello_record(sni: &str, pad: usize) -> Vec<u8> {
    let msg = hello_msg(sni, pad);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    rec.extend_from_slice(&msg);
    rec
}

fn udp(src: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    eth_ipv4(src.0, SERVER, PROTO_UDP, src.1, 443, payload)
}

fn tcp(src: ([u8; 4], u16), seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0, SERVER, 64)
        .tcp(src.1, 443, seq, 65535);
    if syn {
        b = b.syn();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// The `i`-th flooding client: distinct addresses and ports, never the victim's.
fn flooder(i: u32) -> ([u8; 4], u16) {
    let [_, _, a, b] = (i / 50_000).to_be_bytes();
    ([10, 77, a, b], 10_000 + (i % 50_000) as u16)
}

/// Replay `frames` with one worker (all connections in one table) and `config` extra TOML;
/// the events' names and the stderr.
fn replay(dir: &Path, config: &str, frames: &[(u64, Vec<u8>)]) -> (Vec<String>, String) {
    let pcap = dir.join("flush.pcap");
    write_pcap(&pcap, 1, frames);
    let feed = dir.join("feed");
    util::write_file(&feed, &format!("{VICTIM}\n"));
    let cfg = dir.join("iocd.toml");
    util::write_file(
        &cfg,
        &format!("[[feeds]]\npath = \"{}\"\n{config}", feed.display()),
    );
    let r = util::replay(&[
        "--config",
        cfg.to_str().unwrap(),
        "--workers",
        "1",
        pcap.to_str().unwrap(),
    ]);
    let stderr = r.stderr();
    assert_eq!(r.code(), Some(0), "{stderr}");
    let names = r
        .events
        .iter()
        .map(|e| e["observable"]["value"].as_str().unwrap_or("").to_owned())
        .collect();
    (names, stderr)
}

/// The number after `key` on the summary line of `section` (`  quic: ... hellos_lost 0`).
fn counter(stderr: &str, section: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{section}:")))
        .unwrap_or_else(|| panic!("no {section} line in the summary:\n{stderr}"));
    util::summary_number(line, key)
}

/// The QUIC flush capture: the victim's first Initial (half its hello), `flood` Initials of
/// new connections (each a new DCID from another client port, carrying half a hello of their
/// own), then the victim's second Initial; all within 50 ms.
fn quic_flush(flood: u32) -> Vec<(u64, Vec<u8>)> {
    let victim = hello_msg(VICTIM, 1500);
    let (a, b) = victim.split_at(900);
    let dcid = b"victim-dcid-0001";
    let mut frames = vec![(T0, udp((CLIENT, 50_000), &initial_packet(dcid, 0, 0, a)))];
    let half = &hello_msg(FLOOD, 1500)[..900];
    for i in 0..flood {
        let d = format!("flood-{i:010}");
        frames.push((
            T0 + 10 + u64::from(i) * 20,
            udp(flooder(i), &initial_packet(d.as_bytes(), 0, 0, half)),
        ));
    }
    frames.push((
        T0 + 50_000,
        udp((CLIENT, 50_000), &initial_packet(dcid, 1, 900, b)),
    ));
    frames
}

/// The TCP flush capture: the victim's SYN and first segment (40 bytes of its hello), `flood`
/// new flows (each a first segment with 40 bytes of a hello, so that each waits for the
/// rest), then the victim's second segment.
fn tcp_flush(flood: u32, gap_us: u64) -> Vec<(u64, Vec<u8>)> {
    let victim = hello_record(VICTIM, 300);
    let src = (CLIENT, 50_000);
    let mut frames = vec![
        (T0, tcp(src, 1000, true, b"")),
        (T0 + 1, tcp(src, 1001, false, &victim[..40])),
    ];
    let half = &hello_record(FLOOD, 300)[..40];
    for i in 0..flood {
        frames.push((
            T0 + 10 + u64::from(i) * gap_us,
            tcp(flooder(i), 1, false, half),
        ));
    }
    let end = T0 + 20 + u64::from(flood) * gap_us;
    frames.push((end, tcp(src, 1041, false, &victim[40..])));
    frames
}

#[test]
fn split_quic_hello_survives_1100_new_connection_initials() {
    let dir = tempfile::tempdir().unwrap();
    let (names, stderr) = replay(dir.path(), "", &quic_flush(1100));
    assert_eq!(names, [VICTIM], "{stderr}");
    assert_eq!(counter(&stderr, "quic", "hellos_lost"), 0, "{stderr}");
}

#[test]
fn split_quic_hello_survives_a_flood_past_a_small_budget_and_the_flood_is_counted() {
    // 4 MiB per worker: about 109 QUIC connections, ten times fewer than the flood.
    let dir = tempfile::tempdir().unwrap();
    let (names, stderr) = replay(
        dir.path(),
        "[tables]\nmemory = \"4MiB\"\n",
        &quic_flush(1100),
    );
    assert_eq!(names, [VICTIM], "{stderr}");
    let evicted = counter(&stderr, "quic", "evictions");
    assert!(evicted > 900, "{stderr}");
    // Every connection evicted held the flood's own partial hello.
    assert_eq!(counter(&stderr, "quic", "hellos_lost"), evicted, "{stderr}");
}

#[test]
fn split_tls_hello_survives_70000_new_flows() {
    // More flows than the old fixed cap (65,536), within 0.7 s.
    let dir = tempfile::tempdir().unwrap();
    let (names, stderr) = replay(dir.path(), "", &tcp_flush(70_000, 10));
    assert_eq!(names, [VICTIM], "{stderr}");
    assert_eq!(counter(&stderr, "flows", "hellos_lost"), 0, "{stderr}");
}

#[test]
fn split_tls_hello_survives_a_flood_past_a_small_budget_and_the_flood_is_counted() {
    // 4 MiB per worker: about 4,600 flows and 1 MiB of buffers; 8,000 flows waiting on a
    // hello pass both.
    let dir = tempfile::tempdir().unwrap();
    let (names, stderr) = replay(
        dir.path(),
        "[tables]\nmemory = \"4MiB\"\n",
        &tcp_flush(8_000, 50),
    );
    assert_eq!(names, [VICTIM], "{stderr}");
    let evicted = counter(&stderr, "flows", "evicted");
    let shed = counter(&stderr, "flows", "evicted_bytes");
    assert!(evicted + shed > 3_000, "{stderr}");
    assert_eq!(
        counter(&stderr, "flows", "hellos_lost"),
        evicted + shed,
        "{stderr}"
    );
}
