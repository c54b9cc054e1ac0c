//! QUIC: the long-header parser and the frame walker on raw bytes, and the per-worker tracker on
//! a sequence of datagrams cut from the input (a length byte before each; its low bit sends the
//! datagram from the server, so that the server side's lookup and keys are reached). Random
//! bytes almost never pass AEAD decryption, so the frame walker and the ServerHello reader
//! (what the server's reassembled CRYPTO prefix goes to) are also fed directly.
#![no_main]

use std::net::SocketAddr;

use iocd::applayer::quic::{client_hello_with, server_hello};
use iocd::observe::{Observed, Token, Wants};
use iocd::proto::{ja, quic};
use iocd::track::quic::QuicTracker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quic::parse_long_header(data);
    let mut frags = Vec::new();
    let _ = quic::crypto_frames(data, &mut frags);
    for f in &frags {
        assert!(f.data.len() <= data.len());
    }

    let mut direct = Vec::new();
    let _ = server_hello(data, Wants::ALL, &mut direct);
    assert!(direct.len() <= 2);

    let mut tracker = QuicTracker::new();
    let client: SocketAddr = ([10, 0, 0, 1], 50000).into();
    let server: SocketAddr = ([10, 0, 0, 2], 443).into();
    let mut out = Vec::new();
    let mut rest = data;
    let mut ts = 0i64;
    // fingerprints computed for every hello: a JA4 token always has JA4's shape
    let want = ja::Want {
        ja3: true,
        ja4: true,
        quic: true,
    };
    while let Some((&len, tail)) = rest.split_first() {
        let n = (usize::from(len) * 8).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        let (from, to) = if len & 1 == 1 {
            (server, client)
        } else {
            (client, server)
        };
        tracker.on_udp_with(
            from,
            to,
            datagram,
            ts,
            &mut out,
            |p: &[u8], out: &mut Vec<Observed>| client_hello_with(p, want, out),
            Some(|p: &[u8], out: &mut Vec<Observed>| server_hello(p, Wants::ALL, out)),
        );
        ts += 1_000;
        rest = next;
    }
    for o in &out {
        if let Observed::Token {
            kind: Token::Ja4,
            key,
            ..
        } = o
        {
            assert!(ja::is_ja4_shaped(key) && key[0] == b'q', "{key:?}");
        }
        assert!(!matches!(o, Observed::Hello { .. }), "fingerprints were computed");
    }
});
