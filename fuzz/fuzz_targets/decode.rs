//! The whole per-packet path a worker runs: the first byte chooses the link type, the rest is
//! the frame; decode it, hash it as the capture thread does, and hand the transport payload to
//! the application parsers as `worker.rs` does.
#![no_main]

use iocd::decode::{self, Link, L4};
use iocd::proto::{dns, tls};
use libfuzzer_sys::fuzz_target;

const LINKS: [Link; 9] = [
    Link::Ethernet,
    Link::Null,
    Link::Loop,
    Link::Raw,
    Link::Ipv4,
    Link::Ipv6,
    Link::LinuxSll,
    Link::LinuxSll2,
    Link::Unsupported(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(first) % LINKS.len()];
    let p = decode::decode(link, frame);
    let _ = iocd::capture::dispatch_hash(link, frame);
    if let Some(ip) = p.ip {
        let _ = iocd::capture::flow_hash(&ip);
    }
    assert!(p.vlans().len() <= decode::MAX_VLANS);
    let mut out = Vec::new();
    match p.l4 {
        L4::Udp { payload, .. } => {
            let _ = dns::observe(payload, &mut out);
        }
        L4::Tcp { payload, .. } => {
            let _ = tls::parse_client_hello(payload);
        }
        _ => {}
    }
});
