//! Link, network and transport layers: a captured frame in, addresses, ports and the transport
//! payload out. This is the only code that knows the layering. Slicing is done by `etherparse`
//! in its lax mode, so a truncated packet still yields what it has (addresses from an IP header
//! whose payload was cut by the snaplen, for instance).

use std::net::IpAddr;

use etherparse::{EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Link-layer header types iocd decodes, from the DLT value libpcap reports for a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    Ethernet,
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    Null,
    /// OpenBSD loopback: the same family field in network byte order.
    Loop,
    /// Raw IP, version from the first nibble (LINKTYPE_RAW, DLT_RAW).
    Raw,
    Ipv4,
    Ipv6,
    /// Linux cooked capture v1: 16-byte header, protocol at offset 14.
    LinuxSll,
    /// Linux cooked capture v2: 20-byte header, protocol at offset 0.
    LinuxSll2,
    /// Anything else: counted, not decoded.
    Unsupported(i32),
}

impl Link {
    /// Map a libpcap DLT value (what `pcap_datalink` returns) to a link type. libpcap turns
    /// LINKTYPE_RAW (101) into DLT_RAW, which is 12 on most systems and 14 on OpenBSD.
    pub fn from_dlt(dlt: i32) -> Link {
        match dlt {
            0 => Link::Null,
            1 => Link::Ethernet,
            12 | 14 | 101 => Link::Raw,
            108 => Link::Loop,
            113 => Link::LinuxSll,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            276 => Link::LinuxSll2,
            other => Link::Unsupported(other),
        }
    }

    /// Name shown in the replay summary.
    pub fn name(self) -> String {
        match self {
            Link::Ethernet => "ethernet".into(),
            Link::Null => "null".into(),
            Link::Loop => "loop".into(),
            Link::Raw => "raw".into(),
            Link::Ipv4 => "ipv4".into(),
            Link::Ipv6 => "ipv6".into(),
            Link::LinuxSll => "linux_sll".into(),
            Link::LinuxSll2 => "linux_sll2".into(),
            Link::Unsupported(d) => format!("unsupported_dlt_{d}"),
        }
    }
}

/// The layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Link,
    Network,
    Transport,
}

/// The transport layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    /// No transport header was decoded (a non-first fragment, an unknown protocol, or an error).
    None,
    Tcp {
        sport: u16,
        dport: u16,
        /// Sequence number of the first payload byte (of the SYN itself when `syn`).
        seq: u32,
        syn: bool,
        fin: bool,
        rst: bool,
        payload: &'a [u8],
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    /// ICMP or ICMPv6 type and code (the Community ID "ports").
    Icmp { typ: u8, code: u8 },
}

/// Network-layer facts of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub proto: u8,
}

/// Most VLAN tags recorded per packet (QinQ is two; etherparse walks up to three).
pub const MAX_VLANS: usize = LaxSlicedPacket::LINK_EXTS_CAP;

/// One decoded packet, borrowing from the frame.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    vlans: [u16; MAX_VLANS],
    n_vlans: u8,
    /// The IP header, if the frame carries IPv4 or IPv6.
    pub ip: Option<Ip>,
    pub l4: L4<'a>,
    /// Where decoding stopped early, if it did; what came before is still valid.
    pub error: Option<Layer>,
}

impl Packet<'_> {
    /// VLAN ids, outermost first.
    pub fn vlans(&self) -> &[u16] {
        &self.vlans[..usize::from(self.n_vlans)]
    }

    fn empty(error: Option<Layer>) -> Self {
        Packet {
            vlans: [0; MAX_VLANS],
            n_vlans: 0,
            ip: None,
            l4: L4::None,
            error,
        }
    }
}

/// Decode a frame of link type `link`. Never panics; what cannot be decoded is reported in
/// [`Packet::error`].
pub fn decode(link: Link, frame: &[u8]) -> Packet<'_> {
    let sliced = match link {
        Link::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok(),
        Link::Raw | Link::Ipv4 | Link::Ipv6 => LaxSlicedPacket::from_ip(frame).ok(),
        Link::Null | Link::Loop => {
            null_payload(link, frame).and_then(|p| LaxSlicedPacket::from_ip(p).ok())
        }
        Link::LinuxSll => cooked(frame, 16, 14),
        Link::LinuxSll2 => cooked(frame, 20, 0),
        Link::Unsupported(_) => None,
    };
    match sliced {
        Some(s) => from_sliced(&s),
        None => Packet::empty(Some(Layer::Link)),
    }
}

/// BSD loopback: the family value is 2 for IPv4 and 24, 28 or 30 for IPv6 (the BSDs differ),
/// written in the byte order of the capturing host (DLT_NULL) or big-endian (DLT_LOOP).
fn null_payload(link: Link, frame: &[u8]) -> Option<&[u8]> {
    let family: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    let values = match link {
        Link::Loop => [u32::from_be_bytes(family), u32::from_be_bytes(family)],
        _ => [u32::from_le_bytes(family), u32::from_be_bytes(family)],
    };
    if values.iter().any(|v| matches!(v, 2 | 24 | 28 | 30)) {
        frame.get(4..)
    } else {
        None
    }
}

/// Linux cooked captures: a fixed header with the EtherType at `proto_at`.
fn cooked(frame: &[u8], header_len: usize, proto_at: usize) -> Option<LaxSlicedPacket<'_>> {
    let proto = frame.get(proto_at..proto_at + 2)?;
    let payload = frame.get(header_len..)?;
    Some(LaxSlicedPacket::from_ether_type(
        EtherType(u16::from_be_bytes([proto[0], proto[1]])),
        payload,
    ))
}

fn from_sliced<'a>(s: &LaxSlicedPacket<'a>) -> Packet<'a> {
    let mut p = Packet::empty(None);
    for ext in &s.link_exts {
        if let LaxLinkExtSlice::Vlan(v) = ext {
            if usize::from(p.n_vlans) < MAX_VLANS {
                p.vlans[usize::from(p.n_vlans)] = v.vlan_identifier().value();
                p.n_vlans += 1;
            }
        }
    }
    let ip_payload = match &s.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            p.ip = Some(Ip {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                proto: v4.payload().ip_number.0,
            });
            Some(v4.payload())
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            p.ip = Some(Ip {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                proto: v6.payload().ip_number.0,
            });
            Some(v6.payload())
        }
        Some(LaxNetSlice::Arp(_)) | None => None,
    };
    p.l4 = match &s.transport {
        Some(TransportSlice::Tcp(t)) => L4::Tcp {
            sport: t.source_port(),
            dport: t.destination_port(),
            seq: t.sequence_number(),
            syn: t.syn(),
            fin: t.fin(),
            rst: t.rst(),
            payload: t.payload(),
        },
        Some(TransportSlice::Udp(u)) => L4::Udp {
            sport: u.source_port(),
            dport: u.destination_port(),
            payload: u.payload(),
        },
        Some(TransportSlice::Icmpv4(i)) => L4::Icmp {
            typ: i.type_u8(),
            code: i.code_u8(),
        },
        Some(TransportSlice::Icmpv6(i)) => L4::Icmp {
            typ: i.type_u8(),
            code: i.code_u8(),
        },
        _ => L4::None,
    };
    if let Some((_, layer)) = &s.stop_err {
        use etherparse::err::Layer as E;
        p.error = Some(match layer {
            E::LinuxSllHeader
            | E::Ethernet2Header
            | E::EtherPayload
            | E::VlanHeader
            | E::MacsecHeader
            | E::MacsecPacket => Layer::Link,
            E::TcpHeader | E::UdpHeader | E::UdpPayload | E::Icmpv4 | E::Icmpv6 => Layer::Transport,
            _ => Layer::Network,
        });
    }
    // A first fragment carries a transport header but not the whole payload: do not hand a
    // partial datagram to the application parsers as if it were complete.
    if ip_payload.is_some_and(|pl| pl.fragmented) {
        if let L4::Udp { sport, dport, .. } = p.l4 {
            p.l4 = L4::Udp {
                sport,
                dport,
                payload: &[],
            };
        }
    }
    p
}

/// The capture thread's cheap version of [`flow_hash`]: the same value for the same frame, without
/// decoding past the IP addresses (no extension headers, no transport), so the single capture
/// thread spends nanoseconds per frame. Frames without an IP header hash to 0.
pub fn dispatch_hash(link: Link, frame: &[u8]) -> u64 {
    ip_start(link, frame)
        .and_then(addresses)
        .map_or(0, |(src, dst)| flow_hash(&Ip { src, dst, proto: 0 }))
}

/// The bytes from the IP header on, after the link header and up to [`MAX_VLANS`] VLAN tags.
fn ip_start(link: Link, frame: &[u8]) -> Option<&[u8]> {
    let (mut ether_type, mut rest) = match link {
        Link::Ethernet => {
            let eth = etherparse::Ethernet2HeaderSlice::from_slice(frame).ok()?;
            (eth.ether_type(), frame.get(eth.slice().len()..)?)
        }
        Link::LinuxSll => (
            EtherType(u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?)),
            frame.get(16..)?,
        ),
        Link::LinuxSll2 => (
            EtherType(u16::from_be_bytes(frame.get(0..2)?.try_into().ok()?)),
            frame.get(20..)?,
        ),
        Link::Null | Link::Loop => return null_payload(link, frame),
        Link::Raw | Link::Ipv4 | Link::Ipv6 => return Some(frame),
        Link::Unsupported(_) => return None,
    };
    for _ in 0..MAX_VLANS {
        if !matches!(
            ether_type,
            EtherType::VLAN_TAGGED_FRAME
                | EtherType::PROVIDER_BRIDGING
                | EtherType::VLAN_DOUBLE_TAGGED_FRAME
        ) {
            break;
        }
        let vlan = etherparse::SingleVlanHeaderSlice::from_slice(rest).ok()?;
        ether_type = vlan.ether_type();
        rest = rest.get(vlan.slice().len()..)?;
    }
    matches!(ether_type, EtherType::IPV4 | EtherType::IPV6).then_some(rest)
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

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(42.try_into().unwrap())
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ethernet_vlan_udp_is_decoded() {
        let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 5353, 53, b"hello");
        let p = decode(Link::Ethernet, &f);
        assert_eq!(p.vlans(), &[42]);
        let ip = p.ip.unwrap();
        assert_eq!(ip.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(ip.proto, 17);
        assert_eq!(
            p.l4,
            L4::Udp {
                sport: 5353,
                dport: 53,
                payload: b"hello"
            }
        );
        assert_eq!(p.error, None);
    }

    #[test]
    fn truncated_frame_still_yields_addresses() {
        let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, &[0u8; 100]);
        // cut inside the UDP payload, as a short snaplen does
        let p = decode(Link::Ethernet, &f[..14 + 4 + 20 + 4]);
        assert!(p.ip.is_some());
        for n in 0..f.len() {
            let _ = decode(Link::Ethernet, &f[..n]);
            let _ = decode(Link::LinuxSll, &f[..n]);
            let _ = decode(Link::LinuxSll2, &f[..n]);
            let _ = decode(Link::Null, &f[..n]);
            let _ = decode(Link::Raw, &f[..n]);
        }
    }

    #[test]
    fn null_link_accepts_both_byte_orders_of_the_family() {
        let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"x");
        let ip_packet = &f[18..];
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut g = fam.to_vec();
            g.extend_from_slice(ip_packet);
            assert!(decode(Link::Null, &g).ip.is_some());
        }
        let mut bad = vec![7, 0, 0, 0];
        bad.extend_from_slice(ip_packet);
        assert_eq!(decode(Link::Null, &bad).error, Some(Layer::Link));
    }

    #[test]
    fn dispatch_hash_agrees_with_the_full_decode() {
        let f = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"x");
        let full = flow_hash(&decode(Link::Ethernet, &f).ip.unwrap());
        assert_eq!(dispatch_hash(Link::Ethernet, &f), full);
        let g = udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 2, 1, b"y");
        assert_eq!(dispatch_hash(Link::Ethernet, &g), full);
        assert_eq!(dispatch_hash(Link::Raw, &f[18..]), full);
        for n in 0..f.len() {
            let _ = dispatch_hash(Link::Ethernet, &f[..n]);
            let _ = dispatch_hash(Link::LinuxSll2, &f[..n]);
        }
    }

    #[test]
    fn flow_hash_is_symmetric() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = IpAddr::from((x as u32).to_be_bytes());
            let b = IpAddr::from(u128::from(x).wrapping_mul(0x1_0000_0001).to_be_bytes());
            let c = IpAddr::from(((x >> 32) as u32).to_be_bytes());
            for (s, d) in [(a, b), (a, c), (b, c)] {
                let fwd = Ip {
                    src: s,
                    dst: d,
                    proto: 6,
                };
                let rev = Ip {
                    src: d,
                    dst: s,
                    proto: 6,
                };
                assert_eq!(flow_hash(&fwd), flow_hash(&rev));
            }
        }
        let one = Ip {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 6,
        };
        let other = Ip {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.3".parse().unwrap(),
            proto: 6,
        };
        assert_ne!(flow_hash(&one), flow_hash(&other));
    }
}
