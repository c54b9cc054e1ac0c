//! QUIC: the long-header parser and the frame walker on raw bytes, and the per-worker tracker on
//! a sequence of datagrams cut from the input (a length byte before each). Random bytes almost
//! never pass AEAD decryption, so the frame walker is also fed directly.
#![no_main]

use std::net::SocketAddr;

use iocd::applayer::quic::client_hello;
use iocd::proto::quic;
use iocd::track::quic::QuicTracker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quic::parse_long_header(data);
    let mut frags = Vec::new();
    let _ = quic::crypto_frames(data, &mut frags);
    for f in &frags {
        assert!(f.data.len() <= data.len());
    }

    let mut tracker = QuicTracker::new();
    let client: SocketAddr = ([10, 0, 0, 1], 50000).into();
    let server: SocketAddr = ([10, 0, 0, 2], 443).into();
    let mut out = Vec::new();
    let mut rest = data;
    let mut ts = 0i64;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (usize::from(len) * 8).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        tracker.on_udp(client, server, datagram, ts, &mut out, client_hello);
        ts += 1_000;
        rest = next;
    }
});
