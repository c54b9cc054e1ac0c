//! `smtp::Session::feed` over a client stream cut into segments as the TCP table hands them:
//! the first byte picks the segment size, the rest is the stream. The session never asks for
//! more than the reassembly window, never reports using bytes it was not given, and its state
//! stays bounded.
#![no_main]

use iocd::observe::Wants;
use iocd::proto::smtp::{Feed, Session, MAX_COMMAND_LINE, MAX_PIECE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let seg = usize::from(cut).max(1);
    let mut s = Session::new(Wants::ALL);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for c in stream.chunks(seg) {
        buf.extend_from_slice(c);
        match s.feed(&buf, &mut out) {
            Feed::More { used, need } => {
                assert!(used <= buf.len());
                assert!(need <= MAX_COMMAND_LINE.max(MAX_PIECE) + 1);
                buf.drain(..used);
            }
            Feed::StartTls { used } => {
                assert!(used <= buf.len());
                return;
            }
            Feed::Done => return,
        }
        assert!(s.mem() <= 256 * 1024);
        out.clear();
    }
});
