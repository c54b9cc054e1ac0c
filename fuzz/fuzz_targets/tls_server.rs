//! The TLS server side: `applayer::tls_server::Reader` over a stream cut into chunks (the
//! first byte: bit 7 reads as the client's direction, the rest is the chunk size), driven as
//! the TCP table drives it (bytes it used dropped, the rest handed again with more), and the
//! pure parsers (`proto::tls_server`) on the same bytes.
#![no_main]

use iocd::applayer::tls_server::{Reader, Side};
use iocd::observe::{Observed, Wants};
use iocd::proto::tls_server;
use iocd::stats::FlowStats;
use iocd::track::tcp::{Step, StreamInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&head, data)) = data.split_first() else {
        return;
    };
    let side = if head & 0x80 != 0 {
        Side::Client
    } else {
        Side::Server
    };
    let chunk = match usize::from(head & 0x7f) {
        0 => data.len().max(1),
        n => n,
    };
    let mut r = Reader::new(side);
    let mut stats = FlowStats::default();
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed = 0;
    for c in data.chunks(chunk) {
        pending.extend_from_slice(c);
        let input = StreamInput {
            data: &pending,
            seen: 0,
            consumed,
            wants: Wants::ALL,
        };
        match r.parse(input, &mut out, &mut stats) {
            Step::Done { .. } => break,
            Step::More { used, .. } | Step::Client { used, .. } => {
                assert!(used <= pending.len());
                pending.drain(..used);
                consumed += used;
            }
        }
        // the parser consumes every byte but a record header
        assert!(pending.len() < 5);
    }
    for o in &out {
        if let Observed::Token { kind, key, .. } = o {
            if let Some(n) = kind.digest_len() {
                assert_eq!(key.len(), n);
            }
        }
    }
    if let Ok(h) = tls_server::parse_server_hello(data) {
        let _ = (h.ja3s_md5(), h.ja4s(false));
    }
    if let Ok(names) = tls_server::cert_names(data) {
        assert!(names.len() <= tls_server::MAX_CERT_NAMES);
    }
});
