//! Which worker a frame goes to: a symmetric hash of its outermost IP addresses, read by
//! peeking through the link layer without decoding the packet (the capture thread does this
//! for every frame). Both directions of a flow, and every fragment of a datagram, land in the
//! same worker, whose per-flow state then needs no lock.

use std::net::IpAddr;

use crate::decode::link::{ethertype, nflog_payload, null_payload, PPP_IPV4, PPP_IPV6};
use crate::decode::{Ip, Link};

/// The capture thread's cheap version of [`flow_hash`]: a hash of the OUTERMOST IP addresses in
/// the frame, without decoding past them (no extension headers, no transport, no tunnel
/// payload), so the single capture thread spends nanoseconds per frame. It looks through VLAN
/// tags, MPLS labels (and an Ethernet pseudowire under them), PPPoE sessions and the NFLOG
/// header to find that first IP header. Frames without one hash to 0.
///
/// Why the outer addresses, and only addresses: every fragment of a datagram carries the same
/// addresses but only the first carries ports, so hashing ports would scatter fragments over
/// workers; and the outer header is the same for every packet of a tunnel, so all of it, inner
/// fragments included, meets in one worker, where the per-worker reassembler and flow state
/// need no locks. Both directions hash alike because the hash is symmetric. The cost: one busy
/// host pair or tunnel endpoint pair cannot be spread over workers.
pub fn dispatch_hash(link: Link, frame: &[u8]) -> u64 {
    ip_start(link, frame)
        .and_then(addresses)
        .map_or(0, |(src, dst)| flow_hash(&Ip { src, dst, proto: 0 }))
}

/// Most headers [`ip_start`] steps over before giving up.
const MAX_DISPATCH_HEADERS: usize = 16;

/// The bytes from the outermost IP header on.
fn ip_start(link: Link, frame: &[u8]) -> Option<&[u8]> {
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
    };
    let (mut et, mut rest) = match link {
        Link::Ethernet => (be16(frame, 12)?, frame.get(14..)?),
        Link::LinuxSll => (be16(frame, 14)?, frame.get(16..)?),
        Link::LinuxSll2 => (be16(frame, 0)?, frame.get(20..)?),
        Link::Null | Link::Loop => return null_payload(link, frame),
        Link::Raw | Link::Ipv4 | Link::Ipv6 => return Some(frame),
        Link::Nflog => return nflog_payload(frame),
        Link::Unsupported(_) => return None,
    };
    use ethertype as t;
    for _ in 0..MAX_DISPATCH_HEADERS {
        match et {
            t::IPV4 | t::IPV6 => return Some(rest),
            t::VLAN | t::QINQ | t::QINQ_OLD => {
                et = be16(rest, 2)?;
                rest = rest.get(4..)?;
            }
            t::CISCO_CMD => {
                et = be16(rest, 6)?;
                rest = rest.get(8..)?;
            }
            t::MPLS_UC | t::MPLS_MC => {
                let bottom = rest.get(2)? & 1 == 1;
                rest = rest.get(4..)?;
                if bottom {
                    match rest.first()? >> 4 {
                        4 | 6 => return Some(rest),
                        0 => rest = rest.get(4..)?,
                        _ => {}
                    }
                    et = be16(rest, 12)?;
                    rest = rest.get(14..)?;
                }
            }
            t::PPPOE_SESSION => {
                let ppp = rest.get(6..)?;
                let ppp = ppp.strip_prefix(&[0xFF, 0x03]).unwrap_or(ppp);
                let (proto, ip) = match ppp {
                    [b, ip @ ..] if b & 1 == 1 => (u16::from(*b), ip),
                    [a, b, ip @ ..] => (u16::from_be_bytes([*a, *b]), ip),
                    _ => return None,
                };
                return matches!(proto, PPP_IPV4 | PPP_IPV6).then_some(ip);
            }
            _ => return None,
        }
    }
    None
}

/// Source and destination from the fixed part of an IPv4 (RFC 791 §3.1: bytes 12..20) or IPv6
/// (RFC 8200 §3: bytes 8..40) header; the version nibble says which.
fn addresses(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match ip.first()? >> 4 {
        4 => {
            let a: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(a), IpAddr::from(b)))
        }
        6 => {
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(a), IpAddr::from(b)))
        }
        _ => None,
    }
}

/// Symmetric hash of the packet's IP addresses, used to choose its worker: both directions of
/// a flow, and every fragment of a datagram (which carries no ports after the first), give the
/// same value. Ports are left out on purpose: a host pair's traffic stays on one worker, so
/// fragments and the flow they belong to never need state shared between workers. The cost is
/// balance when one host pair dominates the link.
pub fn flow_hash(ip: &Ip) -> u64 {
    let (a, b) = (addr_hash(ip.src), addr_hash(ip.dst));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    mix(lo ^ mix(hi.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

fn addr_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => mix(u64::from(u32::from(v))),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            mix((x as u64) ^ mix((x >> 64) as u64))
        }
    }
}

/// splitmix64 finaliser: a cheap full-avalanche mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
