//! HTTP/1.x stream throughput of one worker's TCP path (decode, flow table, HTTP parser, file
//! digests) over an HTTP-download-heavy capture, with and without file-hash indicators loaded
//! (the `Wants` the set would hand the parsers), and the memory of 100,000 connections held
//! mid-body.
//!
//! `cargo bench --bench http_stream [CAPTURE]`; the capture defaults to
//! `bench-data/http-downloads-c50-r20-s262144.pcap`, made by
//! `benches/http/gen_http_pcap.py bench-data/http-downloads-c50-r20-s262144.pcap`. Under
//! `cargo test` (no `--bench`) it only runs the memory part at 1,000 connections.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use iocd::applayer::{tcp, TcpFlows};
use iocd::capture::file::open_reader;
use iocd::decode::{self, Link, L4};
use iocd::observe::{Token, Wants};
use iocd::track::tcp::Segment;

/// Frames of a capture, read once into memory (the replay's read cost is not what is measured).
fn frames(path: &str) -> Vec<(i32, Vec<u8>)> {
    let mut r = open_reader(std::path::Path::new(path)).expect("capture");
    let mut v = Vec::new();
    while r.advance(&mut || {}).expect("read") {
        let Some(p) = r.packet() else { break };
        v.push((p.linktype, p.data.to_vec()));
    }
    v
}

/// One pass of the worker's TCP path; returns (observables, files hashed).
fn run(frames: &[(i32, Vec<u8>)], wants: Wants) -> (usize, u64) {
    let mut flows = TcpFlows::new();
    let mut out = Vec::new();
    let mut n = 0;
    for (i, (link, f)) in frames.iter().enumerate() {
        let p = decode::decode(Link::from_dlt(*link), f);
        let (
            Some(ip),
            L4::Tcp {
                sport,
                dport,
                seq,
                syn,
                fin,
                rst,
                payload,
            },
        ) = (p.ip, p.l4)
        else {
            continue;
        };
        let seg = Segment {
            src: (ip.src, sport),
            dst: (ip.dst, dport),
            seq,
            syn,
            fin,
            rst,
            payload,
            wants,
        };
        tcp(&mut flows, i as i64 * 20, &seg, &mut out);
        n += out.len();
        out.clear();
    }
    (n, flows.stats.http_files)
}

/// 100,000 (or `n`) connections, each stopped in the middle of a response body of 10 MB, with
/// the digests `wants` asks for and a gzip body when `gzip`: the table's accounted memory
/// (parser states and windows) per connection.
fn mid_body(n: u32, wants: Wants, gzip: bool) -> (usize, usize) {
    let mut flows = TcpFlows::with_caps(2 * n as usize, usize::MAX / 2);
    let mut out = Vec::new();
    let server = (IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)), 80);
    let coding = if gzip {
        "Content-Encoding: gzip\r\n"
    } else {
        ""
    };
    let head = format!("HTTP/1.1 200 OK\r\n{coding}Content-Length: 10000000\r\n\r\n");
    // a gzip member header and a stored block start: the decoder is live
    let body: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0];
    for i in 0..n {
        let client = (IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i)), 40000);
        let mut seg = |src, dst, seq, syn, payload: &[u8]| {
            let s = Segment {
                src,
                dst,
                seq,
                syn,
                fin: false,
                rst: false,
                payload,
                wants,
            };
            tcp(&mut flows, 1, &s, &mut out);
        };
        seg(client, server, 0, true, b"");
        seg(server, client, 0, true, b"");
        seg(
            client,
            server,
            1,
            false,
            b"GET /big.iso HTTP/1.1\r\nHost: big.example\r\n\r\n",
        );
        seg(server, client, 1, false, head.as_bytes());
        seg(server, client, 1 + head.len() as u32, false, body);
    }
    assert_eq!(flows.len(), n as usize);
    (flows.buffered(), TcpFlows::FLOW_COST)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 100_000 } else { 1_000 };
    println!("| connections mid-body | digests | accounted state per connection | + table entry |");
    println!("|---:|---|---:|---:|");
    let sha256 = Wants::NONE.with(Token::Sha256);
    let all = Wants::NONE
        .with(Token::Md5)
        .with(Token::Sha1)
        .with(Token::Sha256);
    for (name, w, gz) in [
        ("none", Wants::NONE, false),
        ("sha256", sha256, false),
        ("md5+sha1+sha256", all, false),
        ("md5+sha1+sha256, gzip", all, true),
    ] {
        let (mem, entry) = mid_body(n, w, gz);
        println!(
            "| {n} | {name} | {} B (total {:.1} MiB) | {entry} B |",
            mem / n as usize,
            mem as f64 / (1 << 20) as f64
        );
    }
    if !bench {
        return;
    }
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "bench-data/http-downloads-c50-r20-s262144.pcap".into());
    let frames = frames(&path);
    let bytes: usize = frames.iter().map(|f| f.1.len()).sum();
    println!(
        "\n{path}: {} frames, {:.1} MiB\n",
        frames.len(),
        bytes as f64 / (1 << 20) as f64
    );
    println!("| file digests wanted | best of 3, s | Gbit/s (one worker's TCP path) | observables | files hashed |");
    println!("|---|---:|---:|---:|---:|");
    for (name, w) in [
        ("none", Wants::NONE),
        ("sha256", sha256),
        ("md5+sha1+sha256", all),
    ] {
        let mut best = f64::MAX;
        let mut res = (0, 0);
        for _ in 0..3 {
            let t = Instant::now();
            res = run(&frames, w);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "| {name} | {best:.3} | {:.2} | {} | {} |",
            bytes as f64 * 8.0 / best / 1e9,
            res.0,
            res.1
        );
    }
}
