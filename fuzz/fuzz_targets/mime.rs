//! `mime::Message` over a message fed line by line (long lines in pieces, as the SMTP reader
//! hands them): never a panic, its state bounded, every digest the length of its kind.
#![no_main]

use iocd::observe::Wants;
use iocd::proto::mime::{Found, Message, MAX_HEAD_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut m = Message::new(Wants::ALL);
    let mut out = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        for (i, piece) in line.chunks(512).enumerate() {
            m.line(piece, i == 0, &mut out);
        }
        assert!(m.mem() <= 2 * MAX_HEAD_BYTES + 64 * 1024);
    }
    m.finish(&mut out);
    for f in out {
        if let Found::File { digests, .. } = f {
            for (kind, key) in digests {
                assert_eq!(Some(key.len()), kind.digest_len());
            }
        }
    }
});
