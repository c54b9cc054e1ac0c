//! The capture-file reader on arbitrary bytes: pcap or pcapng, any damage. Every packet it hands
//! out must lie within the record it came from and within the record-length limit; the reader
//! must end (on its own, with or without a damage report) and never allocate from a length field
//! beyond its fixed buffer.
#![no_main]

use iocd::capture::file::pcapfile;
use libfuzzer_sys::fuzz_target;

/// Read buffer for the fuzzer: smaller than the reader's minimum so a run is cheap; blocks that
/// do not fit are then reported as damage, which is a path worth fuzzing too.
const BUFFER: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = pcapfile::from_bytes(data.to_vec(), BUFFER) else {
        return;
    };
    let mut packets = 0usize;
    while let Ok(true) = r.advance(&mut || ()) {
        packets += 1;
        let p = r.packet().expect("advance(true) leaves a packet");
        assert!(p.data.len() <= data.len());
        // each record has a header, so there cannot be more packets than bytes / 16
        assert!(packets <= data.len() / 16 + 1);
    }
});
