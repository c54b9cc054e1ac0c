//! HTTP/1.x message framing as the flow table drives it: the input is a conversation of
//! records `[flags][len][len bytes]` (flags bit 0: from the server; bit 1: a gap of `len`
//! bytes before this record's bytes, as a lost segment; bit 2: the record was cut by the snap
//! length after half of it; bit 3: FIN after it), fed to one connection with every digest
//! wanted. Whatever the bytes: no panic, no hang, and the flow's memory stays bounded.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use iocd::applayer::{tcp, TcpFlows};
use iocd::observe::Wants;
use iocd::track::tcp::{Segment, MAX_STREAM_PREFIX};
use libfuzzer_sys::fuzz_target;

const CLIENT: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 8080);

fuzz_target!(|data: &[u8]| {
    let mut flows = TcpFlows::new();
    let mut out = Vec::new();
    let mut seq = [1u32, 1u32];
    let mut now = 1_000_000;
    for (src, dst) in [(CLIENT, SERVER), (SERVER, CLIENT)] {
        let syn = Segment {
            src,
            dst,
            seq: 0,
            syn: true,
            fin: false,
            rst: false,
            payload: &[],
            wants: Wants::ALL,
        };
        tcp(&mut flows, now, &syn, &mut out);
    }
    let mut rest = data;
    while let [flags, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let d = usize::from(flags & 1);
        let (src, dst) = if d == 0 { (CLIENT, SERVER) } else { (SERVER, CLIENT) };
        if flags & 2 != 0 {
            seq[d] = seq[d].wrapping_add(u32::from(*len) * 97);
        }
        now += 10;
        let cut = flags & 4 != 0 && bytes.len() > 1;
        let kept = if cut { &bytes[..bytes.len() / 2] } else { bytes };
        let seg = Segment {
            src,
            dst,
            seq: seq[d],
            syn: false,
            fin: flags & 8 != 0,
            rst: false,
            payload: kept,
            wants: Wants::ALL,
        };
        if cut {
            flows.segment_cut(now, &seg, (bytes.len() - kept.len()) as u32, &mut out);
        } else {
            tcp(&mut flows, now, &seg, &mut out);
        }
        seq[d] = seq[d].wrapping_add(bytes.len() as u32);
        // two windows, two directions' parser state with a decoder each
        assert!(flows.buffered() <= 2 * (2 * MAX_STREAM_PREFIX + 64 * 1024));
        out.clear();
    }
});
