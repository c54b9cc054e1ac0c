//! The key of a TCP flow: both endpoints in a canonical order, the same for both directions.

use std::net::IpAddr;

/// The flow a packet belongs to, the same for both directions: the endpoints in a canonical
/// order. Addresses are kept as plain 128-bit words (IPv4 in the low 32 bits, the family in
/// its own field) so that hashing and comparing a key, done for every TCP packet, is a few
/// word operations rather than a walk over two `IpAddr` enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Address words of the first endpoint (high, low), then of the second: 8-byte aligned,
    /// so the key is 40 bytes (a `u128` field would pad it to 80).
    addrs: [u64; 4],
    ports: [u16; 2],
    v6: bool,
    proto: u8,
}

impl FlowKey {
    /// The key for a packet from `src` to `dst`, and whether `src` is the key's first endpoint
    /// (the packet's direction).
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8) -> (FlowKey, bool) {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        };
        let x = (bits(src.0), src.1);
        let y = (bits(dst.0), dst.1);
        let forward = x <= y;
        let (a, b) = if forward { (x, y) } else { (y, x) };
        let key = FlowKey {
            addrs: [
                (a.0 >> 64) as u64,
                a.0 as u64,
                (b.0 >> 64) as u64,
                b.0 as u64,
            ],
            ports: [a.1, b.1],
            v6: src.0.is_ipv6(),
            proto,
        };
        (key, forward)
    }
}
