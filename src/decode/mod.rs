//! Link, network and transport layers: a captured frame in, addresses, ports and the transport
//! payload out. This is the only code that knows the layering.
//!
//! Decoding walks the frame one header at a time with `etherparse`'s per-header slices (Ethernet
//! II, 802.1Q/802.1ad tags, IPv4/IPv6 with extension headers, UDP, TCP, ICMP) and small checked
//! readers of its own for the encapsulations etherparse does not know: MPLS label stacks, PPPoE
//! sessions, GRE (with ERSPAN II/III), VXLAN, Geneve, Teredo, IP-in-IP / 6in4 / 4in6 and the
//! NFLOG link type. Every read goes through `slice::get`, so no input can make a reader panic.
//!
//! Observables come from the innermost IP packet: [`Packet::ip`] and [`Packet::l4`] describe it,
//! while [`Packet::tunnels`] lists the encapsulations around it, outermost first. Nesting is
//! bounded by [`MAX_ENCAP_DEPTH`]; a frame nested deeper stops there with
//! [`Layer::Encapsulation`].
//!
//! An IP fragment (at any depth) stops decoding: [`Packet::frag`] carries what the reassembler
//! needs (it lives with the trackers, which depend on this module, not the other way), and
//! once a datagram is whole [`resume`] continues from its payload with the same surrounding
//! context, so a fragmented outer IPv4 packet carrying VXLAN is decoded through to the inner
//! flow.
//!
//! Layout: this file holds the packet ([`Packet`]), the layer walker (`decode`, `resume`), IP
//! and the transports, and the dispatch hashes; `link.rs` the link types and their headers;
//! `tunnel.rs` the encapsulations.
//!
//! Decoding is lax where it helps: a packet cut by the snaplen still yields what it has
//! (addresses from an IP header whose payload was cut, for instance). Nothing here allocates.

use std::net::IpAddr;

use etherparse::{
    Ethernet2HeaderSlice, Icmpv4Slice, Icmpv6Slice, IpNumber, Ipv6ExtensionsSlice, LaxIpSlice,
    SingleVlanHeaderSlice, TcpSlice, UdpSlice,
};

pub mod link;
mod tunnel;

pub use link::Link;
pub use tunnel::Tunnel;

use link::{cisco_hdlc, cooked, ethertype, nflog_payload, null_payload};
use tunnel::{
    geneve, gtpu, teredo, vxlan, vxlan_gpe, GENEVE_PORT, GTPU_PORT, TEREDO_PORT, VXLAN_GPE_PORT,
    VXLAN_PORT,
};

/// The layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Link,
    Network,
    Transport,
    /// More than [`MAX_ENCAP_DEPTH`] encapsulations (or [`MAX_DECODE_STEPS`] headers).
    Encapsulation,
}

/// The transport layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    /// No transport header was decoded (a fragment, an unknown protocol, or an error).
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

/// An IP fragment: where decoding stopped, and what reassembly needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Identification: 16 bits in IPv4 (RFC 791 §3.1), 32 in the IPv6 Fragment header
    /// (RFC 8200 §4.5).
    pub id: u32,
    /// IPv4 protocol, or the Next Header of the IPv6 Fragment header.
    pub proto: u8,
    /// Position of `data` in the original payload, in bytes.
    pub offset: u32,
    /// More Fragments flag.
    pub more: bool,
    /// The fragment's share of the payload (everything after the IPv4 header or the IPv6
    /// Fragment header, up to the packet's stated length).
    pub data: &'a [u8],
}

/// Most encapsulations around the innermost packet. Real deployments nest two or three
/// (MPLS over VLAN carrying a GRE tunnel, VXLAN carrying QinQ); eight leaves room for label
/// stacks while bounding the work an adversarial frame can ask for (issue: "bounded nesting").
pub const MAX_ENCAP_DEPTH: usize = 8;

/// Most VLAN tags recorded per packet (QinQ is two; three leaves room for a tag inside a tunnel).
pub const MAX_VLANS: usize = 3;

/// Most headers walked per frame, tags and tunnels included: a backstop for the loop in
/// `Decoder::run`; a legitimate frame at [`MAX_ENCAP_DEPTH`] needs about 40.
pub const MAX_DECODE_STEPS: usize = 64;

/// Most IPv6 extension headers walked looking for the Fragment header. RFC 8200 §4.1 orders at
/// most six kinds, each once (destination options twice); more is an evasion attempt.
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// One decoded packet, borrowing from the frame.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    vlans: [u16; MAX_VLANS],
    n_vlans: u8,
    tunnels: [Tunnel; MAX_ENCAP_DEPTH],
    n_tunnels: u8,
    /// The innermost IP header (or the one that is a fragment), if the frame carries IP.
    pub ip: Option<Ip>,
    /// The innermost transport layer.
    pub l4: L4<'a>,
    /// Set when the IP layer in `ip` is a fragment: decoding stopped there.
    pub frag: Option<Fragment<'a>>,
    /// Where decoding stopped early, if it did; what came before is still valid.
    pub error: Option<Layer>,
}

impl Packet<'_> {
    /// VLAN ids, outermost first (tags inside a tunnel follow those outside it).
    pub fn vlans(&self) -> &[u16] {
        &self.vlans[..usize::from(self.n_vlans).min(MAX_VLANS)]
    }

    /// Encapsulations around the innermost packet, outermost first.
    pub fn tunnels(&self) -> &[Tunnel] {
        &self.tunnels[..usize::from(self.n_tunnels).min(MAX_ENCAP_DEPTH)]
    }

    fn empty(error: Option<Layer>) -> Self {
        Packet {
            vlans: [0; MAX_VLANS],
            n_vlans: 0,
            tunnels: [Tunnel::Teredo; MAX_ENCAP_DEPTH],
            n_tunnels: 0,
            ip: None,
            l4: L4::None,
            frag: None,
            error,
        }
    }
}

/// Decode a frame of link type `link`. Never panics; what cannot be decoded is reported in
/// [`Packet::error`].
pub fn decode(link: Link, frame: &[u8]) -> Packet<'_> {
    let first = match link {
        Link::Ethernet => Step::Ether(frame),
        Link::Raw | Link::Ipv4 | Link::Ipv6 => Step::Ip(frame),
        Link::Null | Link::Loop => match null_payload(link, frame) {
            Some(p) => Step::Ip(p),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::LinuxSll => match cooked(frame, 16, 14) {
            Some((et, p)) => Step::EtherType(et, p),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::LinuxSll2 => match cooked(frame, 20, 0) {
            Some((et, p)) => Step::EtherType(et, p),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::Nflog => match nflog_payload(frame) {
            Some(p) => Step::Ip(p),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::Ppp => Step::Ppp(frame),
        Link::PppWithDir => match frame.get(1..) {
            Some(p) => Step::Ppp(p),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::PppHdlc | Link::CiscoHdlc => match cisco_hdlc(frame) {
            Some((et, p)) => Step::EtherType(et, p),
            None if link == Link::PppHdlc => Step::Ppp(frame),
            None => return Packet::empty(Some(Layer::Link)),
        },
        Link::PppEther => Step::EtherType(ethertype::PPPOE_SESSION, frame),
        Link::Unsupported(_) => return Packet::empty(Some(Layer::Link)),
    };
    let mut d = Decoder {
        p: Packet::empty(None),
    };
    d.run(first);
    d.p
}

/// Continue decoding a packet whose IP layer was a fragment ([`Packet::frag`]), now that the
/// datagram is whole: `payload` is the reassembled IP payload and `proto` its protocol (for
/// IPv6, the Next Header of the offset-zero fragment; extension headers after the Fragment
/// header are walked here). VLANs, tunnels and addresses are taken from `frag_packet`.
pub fn resume<'a>(frag_packet: &Packet<'_>, proto: u8, payload: &'a [u8]) -> Packet<'a> {
    let mut p = Packet::empty(None);
    p.vlans = frag_packet.vlans;
    p.n_vlans = frag_packet.n_vlans;
    p.tunnels = frag_packet.tunnels;
    p.n_tunnels = frag_packet.n_tunnels;
    p.ip = frag_packet.ip;
    let Some(ip) = p.ip else {
        p.error = Some(Layer::Network);
        return p;
    };
    let v6 = ip.src.is_ipv6();
    let (proto, data) = if v6 {
        let (_, n, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(IpNumber(proto), payload);
        if err.is_some() {
            p.error = Some(Layer::Network);
            return p;
        }
        (n.0, rest)
    } else {
        (proto, payload)
    };
    if let Some(ip) = &mut p.ip {
        ip.proto = proto;
    }
    let mut d = Decoder { p };
    d.run(Step::IpPayload { proto, v6, data });
    d.p
}

/// The next header to decode.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Ether(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
    IpPayload { proto: u8, v6: bool, data: &'a [u8] },
    Mpls(&'a [u8]),
    Ppp(&'a [u8]),
    Nsh(&'a [u8]),
    Done,
}

struct Decoder<'a> {
    p: Packet<'a>,
}

impl<'a> Decoder<'a> {
    /// Walk headers from `first` until the transport layer, an error or an unknown protocol.
    /// Every step consumes a header, and the loop is bounded by [`MAX_DECODE_STEPS`].
    fn run(&mut self, first: Step<'a>) {
        let mut step = first;
        for _ in 0..MAX_DECODE_STEPS {
            step = match step {
                Step::Ether(d) => self.ether(d),
                Step::EtherType(t, d) => self.ether_type(t, d),
                Step::Ip(d) => self.ip(d),
                Step::IpPayload { proto, v6, data } => self.ip_payload(proto, v6, data),
                Step::Mpls(d) => self.mpls(d),
                Step::Ppp(d) => self.ppp(d),
                Step::Nsh(d) => self.nsh(d),
                Step::Done => return,
            };
        }
        if !matches!(step, Step::Done) {
            self.p.error = Some(Layer::Encapsulation);
        }
    }

    fn fail(&mut self, layer: Layer) -> Step<'a> {
        self.p.error = Some(layer);
        Step::Done
    }

    /// Record an encapsulation; false (and [`Layer::Encapsulation`]) when the bound is reached.
    fn push_tunnel(&mut self, t: Tunnel) -> bool {
        let n = usize::from(self.p.n_tunnels);
        if n >= MAX_ENCAP_DEPTH {
            self.p.error = Some(Layer::Encapsulation);
            return false;
        }
        self.p.tunnels[n] = t;
        self.p.n_tunnels += 1;
        true
    }

    fn ether(&mut self, d: &'a [u8]) -> Step<'a> {
        match Ethernet2HeaderSlice::from_slice(d) {
            Ok(eth) => match d.get(eth.slice().len()..) {
                Some(rest) => Step::EtherType(eth.ether_type().0, rest),
                None => self.fail(Layer::Link),
            },
            Err(_) => self.fail(Layer::Link),
        }
    }

    fn ether_type(&mut self, et: u16, d: &'a [u8]) -> Step<'a> {
        use ethertype as t;
        match et {
            t::VLAN | t::QINQ | t::QINQ_OLD => {
                let Ok(v) = SingleVlanHeaderSlice::from_slice(d) else {
                    return self.fail(Layer::Link);
                };
                let n = usize::from(self.p.n_vlans);
                if n < MAX_VLANS {
                    self.p.vlans[n] = v.vlan_identifier().value();
                    self.p.n_vlans += 1;
                }
                match d.get(v.slice().len()..) {
                    Some(rest) => Step::EtherType(v.ether_type().0, rest),
                    None => self.fail(Layer::Link),
                }
            }
            t::IPV4 | t::IPV6 => Step::Ip(d),
            t::MPLS_UC | t::MPLS_MC => Step::Mpls(d),
            t::PPPOE_SESSION => self.pppoe(d),
            t::TEB => Step::Ether(d),
            t::PPP => Step::Ppp(d),
            t::NSH => Step::Nsh(d),
            t::ERSPAN_2 => self.erspan(2, d),
            t::ERSPAN_3 => self.erspan(3, d),
            t::CISCO_CMD => match d.get(6..8) {
                Some(e) => Step::EtherType(u16::from_be_bytes([e[0], e[1]]), &d[8..]),
                None => self.fail(Layer::Link),
            },
            // ARP, LLDP, STP, ...: no IP here; not an error.
            _ => Step::Done,
        }
    }

    fn ip(&mut self, d: &'a [u8]) -> Step<'a> {
        let Ok((ip, ext_err)) = LaxIpSlice::from_slice(d) else {
            return self.fail(Layer::Network);
        };
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        if ip.is_fragmenting_payload() {
            return self.fragment(&ip, d);
        }
        let pl = ip.payload();
        self.p.ip = Some(Ip {
            src,
            dst,
            proto: pl.ip_number.0,
        });
        if ext_err.is_some() {
            return self.fail(Layer::Network);
        }
        Step::IpPayload {
            proto: pl.ip_number.0,
            v6: ip.ipv6().is_some(),
            data: pl.payload,
        }
    }

    /// Record the fragment for reassembly and stop. A fragment cut by the snaplen is not
    /// usable (its length would be wrong) and counts as a network-layer error.
    fn fragment(&mut self, ip: &LaxIpSlice<'a>, d: &'a [u8]) -> Step<'a> {
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        let frag = match ip {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                let hl = h.slice().len();
                let total = usize::from(h.total_len());
                self.p.ip = Some(Ip {
                    src,
                    dst,
                    proto: h.protocol().0,
                });
                let Some(data) = d.get(hl..total) else {
                    return self.fail(Layer::Network);
                };
                Fragment {
                    src,
                    dst,
                    id: u32::from(h.identification()),
                    proto: h.protocol().0,
                    offset: u32::from(h.fragments_offset().byte_offset()),
                    more: h.more_fragments(),
                    data,
                }
            }
            LaxIpSlice::Ipv6(v6) => {
                let h = v6.header();
                self.p.ip = Some(Ip {
                    src,
                    dst,
                    proto: v6.payload().ip_number.0,
                });
                let end = 40 + usize::from(h.payload_length());
                let Some(f) = d
                    .get(40..end)
                    .and_then(|rest| ipv6_fragment(h.next_header().0, rest))
                else {
                    return self.fail(Layer::Network);
                };
                Fragment { src, dst, ..f }
            }
        };
        self.p.frag = Some(frag);
        Step::Done
    }

    fn ip_payload(&mut self, proto: u8, v6: bool, d: &'a [u8]) -> Step<'a> {
        match proto {
            4 | 41 => {
                let want = if proto == 4 { 4 } else { 6 };
                if d.first().map(|b| b >> 4) != Some(want) {
                    return self.fail(Layer::Network);
                }
                let t = match (v6, proto) {
                    (false, 4) => Tunnel::IpIp,
                    (false, _) => Tunnel::SixIn4,
                    (true, 4) => Tunnel::FourIn6,
                    (true, _) => Tunnel::SixIn6,
                };
                if !self.push_tunnel(t) {
                    return Step::Done;
                }
                Step::Ip(d)
            }
            47 => self.gre(d),
            6 => match TcpSlice::from_slice(d) {
                Ok(t) => {
                    self.p.l4 = L4::Tcp {
                        sport: t.source_port(),
                        dport: t.destination_port(),
                        seq: t.sequence_number(),
                        syn: t.syn(),
                        fin: t.fin(),
                        rst: t.rst(),
                        payload: t.payload(),
                    };
                    Step::Done
                }
                Err(_) => self.fail(Layer::Transport),
            },
            17 => self.udp(d),
            1 => match Icmpv4Slice::from_slice(d) {
                Ok(i) => {
                    self.p.l4 = L4::Icmp {
                        typ: i.type_u8(),
                        code: i.code_u8(),
                    };
                    Step::Done
                }
                Err(_) => self.fail(Layer::Transport),
            },
            58 => match Icmpv6Slice::from_slice(d) {
                Ok(i) => {
                    self.p.l4 = L4::Icmp {
                        typ: i.type_u8(),
                        code: i.code_u8(),
                    };
                    Step::Done
                }
                Err(_) => self.fail(Layer::Transport),
            },
            _ => Step::Done,
        }
    }

    /// UDP, and the UDP tunnels: a payload on a tunnel port that does not parse as that tunnel
    /// is ordinary UDP.
    fn udp(&mut self, d: &'a [u8]) -> Step<'a> {
        let Ok(u) = UdpSlice::from_slice_lax(d) else {
            return self.fail(Layer::Transport);
        };
        let (sport, dport, payload) = (u.source_port(), u.destination_port(), u.payload());
        let tunnel = if dport == VXLAN_PORT {
            vxlan(payload)
        } else if dport == VXLAN_GPE_PORT {
            vxlan_gpe(payload)
        } else if dport == GENEVE_PORT {
            geneve(payload)
        } else if sport == GTPU_PORT || dport == GTPU_PORT {
            gtpu(payload)
        } else if sport == TEREDO_PORT || dport == TEREDO_PORT {
            teredo(payload)
        } else {
            None
        };
        if let Some((t, next)) = tunnel {
            if !self.push_tunnel(t) {
                return Step::Done;
            }
            return next;
        }
        self.p.l4 = L4::Udp {
            sport,
            dport,
            payload,
        };
        Step::Done
    }
}

/// Walk IPv6 extension headers (RFC 8200 §4) from `next` over `rest` to the Fragment header
/// (§4.5) and return it, with `data` the bytes after it.
fn ipv6_fragment(mut next: u8, mut rest: &[u8]) -> Option<Fragment<'_>> {
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            // hop-by-hop, routing, destination options: length in 8-octet units, not counting
            // the first 8 (§4.3, §4.4, §4.6)
            0 | 43 | 60 => {
                let len = (usize::from(*rest.get(1)?) + 1) * 8;
                next = *rest.first()?;
                rest = rest.get(len..)?;
            }
            // authentication header: length in 4-octet units minus 2 (RFC 4302 §2.2)
            51 => {
                let len = (usize::from(*rest.get(1)?) + 2) * 4;
                next = *rest.first()?;
                rest = rest.get(len..)?;
            }
            44 => {
                let h = rest.get(..8)?;
                let off = u16::from_be_bytes([h[2], h[3]]);
                return Some(Fragment {
                    src: IpAddr::from([0u8; 16]),
                    dst: IpAddr::from([0u8; 16]),
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    proto: h[0],
                    offset: u32::from(off >> 3) * 8,
                    more: off & 1 == 1,
                    data: &rest[8..],
                });
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::link::NFULA_PAYLOAD;
    use super::tunnel::MAX_GTPU_EXTENSIONS;
    use super::*;
    use crate::capture::{dispatch_hash, flow_hash};
    use crate::testkit::wire::{
        eth, eth_macs, ipv4, ipv4_frag, ipv6, udp4, udp6, vlan, ETHERTYPE_IPV4, ETHERTYPE_VLAN,
    };

    /// An Ethernet frame (from [1; 6] to [2; 6]) with VLAN 42, IPv4 and UDP.
    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let ip = udp4(src, dst, sport, dport, payload);
        eth_macs(
            [1; 6],
            [2; 6],
            ETHERTYPE_VLAN,
            &vlan(42, ETHERTYPE_IPV4, &ip),
        )
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

    // ---- encapsulations -------------------------------------------------------------------

    const A: [u8; 4] = [192, 0, 2, 1];
    const B: [u8; 4] = [192, 0, 2, 2];
    const INNER_A: [u8; 4] = [10, 1, 0, 1];
    const INNER_B: [u8; 4] = [10, 1, 0, 2];

    /// The inner packet every tunnel test carries: IPv4/UDP to port 53.
    fn inner_ip() -> Vec<u8> {
        udp4(INNER_A, INNER_B, 40000, 53, b"dns")
    }

    fn assert_inner(p: &Packet<'_>, tunnels: &[Tunnel]) {
        assert_eq!(p.error, None, "{p:?}");
        assert_eq!(p.tunnels(), tunnels);
        let ip = p.ip.unwrap();
        assert_eq!(ip.src, IpAddr::from(INNER_A));
        assert_eq!(ip.dst, IpAddr::from(INNER_B));
        assert_eq!(
            p.l4,
            L4::Udp {
                sport: 40000,
                dport: 53,
                payload: b"dns"
            }
        );
    }

    fn vxlan_frame(vni: u32) -> Vec<u8> {
        let mut v = vec![0x08, 0, 0, 0];
        v.extend_from_slice(&(vni << 8).to_be_bytes());
        v.extend_from_slice(&eth(0x0800, &inner_ip()));
        eth(0x0800, &udp4(A, B, 55555, VXLAN_PORT, &v))
    }

    #[test]
    fn vxlan_inner_ethernet_is_decoded_with_its_vni() {
        let f = vxlan_frame(42);
        assert_inner(&decode(Link::Ethernet, &f), &[Tunnel::Vxlan { vni: 42 }]);
        let json = serde_json::to_string(&Tunnel::Vxlan { vni: 42 }).unwrap();
        assert_eq!(json, r#"{"type":"vxlan","vni":42}"#);
    }

    #[test]
    fn udp_on_the_vxlan_port_without_the_i_flag_is_plain_udp() {
        let f = eth(0x0800, &udp4(A, B, 1, VXLAN_PORT, &[0u8; 40]));
        let p = decode(Link::Ethernet, &f);
        assert!(p.tunnels().is_empty());
        assert!(matches!(
            p.l4,
            L4::Udp {
                dport: VXLAN_PORT,
                ..
            }
        ));
    }

    #[test]
    fn geneve_with_options_carries_ethernet_or_ip() {
        for (proto, inner) in [(0x6558u16, eth(0x0800, &inner_ip())), (0x0800, inner_ip())] {
            let mut g = vec![0x02, 0x00];
            g.extend_from_slice(&proto.to_be_bytes());
            g.extend_from_slice(&[0x00, 0x10, 0x92, 0x00]);
            g.extend_from_slice(&[0xAA; 8]); // 2 words of options
            g.extend_from_slice(&inner);
            let f = eth(0x0800, &udp4(A, B, 47101, GENEVE_PORT, &g));
            assert_inner(
                &decode(Link::Ethernet, &f),
                &[Tunnel::Geneve { vni: 0x1092 }],
            );
        }
    }

    fn gre(flags: u8, version: u8, proto: u16, fields: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut g = vec![flags, version];
        g.extend_from_slice(&proto.to_be_bytes());
        g.extend_from_slice(fields);
        g.extend_from_slice(payload);
        ipv4(A, B, 47, &g)
    }

    #[test]
    fn gre_with_checksum_key_and_sequence_carries_ipv4() {
        let plain = gre(0, 0, 0x0800, &[], &inner_ip());
        assert_inner(&decode(Link::Raw, &plain), &[Tunnel::Gre { key: None }]);
        let fields = [0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1];
        let all = gre(0xB0, 0, 0x0800, &fields, &inner_ip());
        assert_inner(&decode(Link::Raw, &all), &[Tunnel::Gre { key: Some(7) }]);
        let json = serde_json::to_string(&Tunnel::Gre { key: Some(7) }).unwrap();
        assert_eq!(json, r#"{"type":"gre","key":7}"#);
    }

    #[test]
    fn gre_transparent_ethernet_bridging_carries_a_frame() {
        let f = gre(0x20, 0, 0x6558, &[0, 0, 0, 9], &eth(0x0800, &inner_ip()));
        assert_inner(&decode(Link::Raw, &f), &[Tunnel::Gre { key: Some(9) }]);
    }

    #[test]
    fn pptp_enhanced_gre_carries_ppp() {
        let mut ppp = vec![0xFF, 0x03, 0x00, 0x21];
        ppp.extend_from_slice(&inner_ip());
        // version 1, key (payload length 0x0010, call id 0x0BAD), sequence and ack numbers
        let fields = [0x00, 0x10, 0x0B, 0xAD, 0, 0, 0, 1, 0, 0, 0, 2];
        let f = gre(0x30, 0x81, 0x880B, &fields, &ppp);
        assert_inner(&decode(Link::Raw, &f), &[Tunnel::Gre { key: Some(0x0BAD) }]);
    }

    #[test]
    fn erspan_types_one_two_and_three_carry_the_mirrored_frame() {
        let frame = eth(0x0800, &inner_ip());
        // type I: no sequence number, no ERSPAN header
        let t1 = gre(0, 0, 0x88BE, &[], &frame);
        assert_inner(
            &decode(Link::Raw, &t1),
            &[Tunnel::Gre { key: None }, Tunnel::Erspan { session: 0 }],
        );
        // type II: sequence number, 8-byte header with session 0x155
        let mut h2 = vec![0x10, 0x00, 0x01, 0x55, 0, 0, 0, 0];
        h2.extend_from_slice(&frame);
        let t2 = gre(0x10, 0, 0x88BE, &[0, 0, 0, 1], &h2);
        assert_inner(
            &decode(Link::Raw, &t2),
            &[Tunnel::Gre { key: None }, Tunnel::Erspan { session: 0x155 }],
        );
        // type III with the optional 8-byte platform sub-header (O flag)
        let mut h3 = vec![0x20, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0x00, 0x01];
        h3.extend_from_slice(&[0; 8]);
        h3.extend_from_slice(&frame);
        let t3 = gre(0x10, 0, 0x22EB, &[0, 0, 0, 1], &h3);
        assert_inner(
            &decode(Link::Raw, &t3),
            &[Tunnel::Gre { key: None }, Tunnel::Erspan { session: 7 }],
        );
    }

    fn mpls_label(label: u32, bottom: bool) -> [u8; 4] {
        ((label << 12) | (u32::from(bottom) << 8) | 64).to_be_bytes()
    }

    #[test]
    fn mpls_label_stack_then_ip_by_version_nibble() {
        let mut m = Vec::new();
        m.extend_from_slice(&mpls_label(16, false));
        m.extend_from_slice(&mpls_label(17, true));
        m.extend_from_slice(&inner_ip());
        let f = eth(0x8847, &m);
        assert_inner(
            &decode(Link::Ethernet, &f),
            &[Tunnel::Mpls { label: 16 }, Tunnel::Mpls { label: 17 }],
        );
        assert_eq!(dispatch_hash(Link::Ethernet, &f), {
            let ip = decode(Link::Ethernet, &f).ip.unwrap();
            flow_hash(&ip)
        });
    }

    #[test]
    fn mpls_pseudowire_with_control_word_carries_ethernet() {
        let mut m = mpls_label(100, true).to_vec();
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&eth(0x8100, &{
            let mut v = vec![0x00, 0x05, 0x08, 0x00];
            v.extend_from_slice(&inner_ip());
            v
        }));
        let f = eth(0x8847, &m);
        let p = decode(Link::Ethernet, &f);
        assert_inner(&p, &[Tunnel::Mpls { label: 100 }]);
        assert_eq!(p.vlans(), &[5]);
        assert_eq!(dispatch_hash(Link::Ethernet, &f), flow_hash(&p.ip.unwrap()));
    }

    fn pppoe(session: u16, ppp: &[u8]) -> Vec<u8> {
        let mut v = vec![0x11, 0x00];
        v.extend_from_slice(&session.to_be_bytes());
        v.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
        v.extend_from_slice(ppp);
        eth(0x8864, &v)
    }

    #[test]
    fn pppoe_session_with_full_and_compressed_protocol_field() {
        for proto in [&[0x00, 0x21][..], &[0x21][..]] {
            let mut ppp = proto.to_vec();
            ppp.extend_from_slice(&inner_ip());
            let f = pppoe(0x1234, &ppp);
            let p = decode(Link::Ethernet, &f);
            assert_inner(&p, &[Tunnel::Pppoe { session: 0x1234 }]);
            assert_eq!(dispatch_hash(Link::Ethernet, &f), flow_hash(&p.ip.unwrap()));
        }
        let mut ppp6 = vec![0x00, 0x57];
        ppp6.extend_from_slice(&udp6([1; 16], [2; 16], 1, 2, b"x"));
        let f6 = pppoe(1, &ppp6);
        let p = decode(Link::Ethernet, &f6);
        assert_eq!(p.ip.unwrap().src, IpAddr::from([1u8; 16]));
        // LCP is control traffic: no IP, no error
        let lcp_frame = pppoe(1, &[0xC0, 0x21, 1, 1, 0, 4]);
        let lcp = decode(Link::Ethernet, &lcp_frame);
        assert_eq!((lcp.ip, lcp.error), (None, None));
    }

    #[test]
    fn teredo_ipv6_with_and_without_indicators_on_either_port() {
        let inner6 = udp6([0x20; 16], [0x26; 16], 40000, 53, b"dns");
        let mut origin = vec![0x00, 0x00, 0x0D, 0xDE, 1, 2, 3, 4];
        origin.extend_from_slice(&inner6);
        let mut auth = vec![0x00, 0x01, 2, 1, 0xAA, 0xBB, 0xCC];
        auth.extend_from_slice(&[7; 8]);
        auth.push(0);
        auth.extend_from_slice(&origin);
        for (sport, dport, payload) in [
            (TEREDO_PORT, 50000, &inner6),
            (50000, TEREDO_PORT, &origin),
            (TEREDO_PORT, 50000, &auth),
        ] {
            let f = eth(0x0800, &udp4(A, B, sport, dport, payload));
            let p = decode(Link::Ethernet, &f);
            assert_eq!(p.tunnels(), &[Tunnel::Teredo]);
            assert_eq!(p.ip.unwrap().dst, IpAddr::from([0x26u8; 16]));
            assert!(matches!(p.l4, L4::Udp { dport: 53, .. }));
        }
        // a non-IPv6 payload on the Teredo port is ordinary UDP
        let f = eth(0x0800, &udp4(A, B, TEREDO_PORT, 1, b"hello"));
        let p = decode(Link::Ethernet, &f);
        assert!(p.tunnels().is_empty());
        assert!(matches!(
            p.l4,
            L4::Udp {
                sport: TEREDO_PORT,
                ..
            }
        ));
    }

    #[test]
    fn ip_in_ip_six_in_four_four_in_six_and_six_in_six() {
        let ipip = ipv4(A, B, 4, &inner_ip());
        assert_inner(&decode(Link::Raw, &ipip), &[Tunnel::IpIp]);
        let four_in_six = ipv6([1; 16], [2; 16], 4, &inner_ip());
        assert_inner(&decode(Link::Raw, &four_in_six), &[Tunnel::FourIn6]);
        let inner6 = udp6([0x20; 16], [0x26; 16], 1, 2, b"x");
        let six_in_four = decode(Link::Raw, &ipv4(A, B, 41, &inner6))
            .tunnels()
            .to_vec();
        assert_eq!(six_in_four, [Tunnel::SixIn4]);
        let six_in_six = ipv6([1; 16], [2; 16], 41, &inner6);
        let p = decode(Link::Raw, &six_in_six);
        assert_eq!(p.tunnels(), &[Tunnel::SixIn6]);
        assert_eq!(p.ip.unwrap().src, IpAddr::from([0x20u8; 16]));
        let json: Vec<String> = [Tunnel::IpIp, Tunnel::SixIn4, Tunnel::Teredo]
            .iter()
            .map(|t| serde_json::to_string(t).unwrap())
            .collect();
        assert_eq!(
            json,
            [
                r#"{"type":"ipip"}"#,
                r#"{"type":"6in4"}"#,
                r#"{"type":"teredo"}"#
            ]
        );
    }

    fn nflog(ip: &[u8], little_endian: bool) -> Vec<u8> {
        let tlv = |typ: u16, value: &[u8]| {
            let len = (4 + value.len()) as u16;
            let mut t = Vec::new();
            if little_endian {
                t.extend_from_slice(&len.to_le_bytes());
                t.extend_from_slice(&typ.to_le_bytes());
            } else {
                t.extend_from_slice(&len.to_be_bytes());
                t.extend_from_slice(&typ.to_be_bytes());
            }
            t.extend_from_slice(value);
            while t.len() % 4 != 0 {
                t.push(0);
            }
            t
        };
        let mut f = vec![2, 0, 0, 42];
        f.extend_from_slice(&tlv(1, &[8, 0, 1, 0]));
        f.extend_from_slice(&tlv(10, b"prefix\0"));
        f.extend_from_slice(&tlv(NFULA_PAYLOAD, ip));
        f
    }

    #[test]
    fn nflog_payload_tlv_in_either_byte_order() {
        for le in [true, false] {
            let f = nflog(&inner_ip(), le);
            let p = decode(Link::from_dlt(239), &f);
            assert_inner(&p, &[]);
            assert_eq!(dispatch_hash(Link::Nflog, &f), flow_hash(&p.ip.unwrap()));
        }
    }

    #[test]
    fn hundred_nested_ip_in_ip_headers_stop_at_the_bound() {
        let mut pkt = inner_ip();
        for _ in 0..100 {
            pkt = ipv4(A, B, 4, &pkt);
        }
        let p = decode(Link::Raw, &pkt);
        assert_eq!(p.error, Some(Layer::Encapsulation));
        assert_eq!(p.tunnels().len(), MAX_ENCAP_DEPTH);
        assert_eq!(p.l4, L4::None);
    }

    #[test]
    fn deep_mpls_stack_and_many_vlan_tags_stop_without_panic() {
        let mut m = Vec::new();
        for l in 0..200 {
            m.extend_from_slice(&mpls_label(l, false));
        }
        let f = eth(0x8847, &m);
        let p = decode(Link::Ethernet, &f);
        assert_eq!(p.error, Some(Layer::Encapsulation));
        let mut v = Vec::new();
        for _ in 0..200 {
            v.extend_from_slice(&[0, 1, 0x81, 0x00]);
        }
        let f = eth(0x8100, &v);
        let p = decode(Link::Ethernet, &f);
        assert_eq!(p.vlans().len(), MAX_VLANS);
        assert!(p.error.is_some());
    }

    #[test]
    fn dispatch_hashes_the_outer_addresses_of_a_tunnel() {
        let f = vxlan_frame(7);
        let outer = Ip {
            src: IpAddr::from(A),
            dst: IpAddr::from(B),
            proto: 0,
        };
        assert_eq!(dispatch_hash(Link::Ethernet, &f), flow_hash(&outer));
    }

    /// A VXLAN-GPE header (I and P flags) with this next protocol and VNI, then `inner`.
    fn gpe(next: u8, vni: u32, inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0x0C, 0, 0, next];
        v.extend_from_slice(&(vni << 8).to_be_bytes());
        v.extend_from_slice(inner);
        eth(0x0800, &udp4(A, B, 55555, 4790, &v))
    }

    /// An NSH header (MD type 2, no context headers) on path `spi`, index `si`.
    fn nsh(next: u8, spi: u32, si: u8, inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0x0F, 0x02, 0x02, next];
        v.extend_from_slice(&((spi << 8) | u32::from(si)).to_be_bytes());
        v.extend_from_slice(inner);
        v
    }

    #[test]
    fn vxlan_gpe_carries_ip_ethernet_and_nsh() {
        let ip = inner_ip();
        let gpe42 = Tunnel::VxlanGpe { vni: 42 };
        assert_inner(&decode(Link::Ethernet, &gpe(1, 42, &ip)), &[gpe42]);
        assert_inner(
            &decode(Link::Ethernet, &gpe(3, 42, &eth(0x0800, &ip))),
            &[gpe42],
        );
        let path = Tunnel::Nsh {
            spi: 0x1234,
            si: 255,
        };
        assert_inner(
            &decode(Link::Ethernet, &gpe(4, 42, &nsh(1, 0x1234, 255, &ip))),
            &[gpe42, path],
        );
        // NSH with a context header (length 3 words) carrying Ethernet, on Ethernet itself
        let mut n = nsh(3, 7, 3, &[0xAA; 4]);
        n[1] = 0x03;
        n.extend_from_slice(&eth(0x0800, &ip));
        assert_inner(
            &decode(Link::Ethernet, &eth(0x894F, &n)),
            &[Tunnel::Nsh { spi: 7, si: 3 }],
        );
        let v6 = udp6([0x20; 16], [0x26; 16], 1, 53, b"q");
        let f = gpe(2, 9, &v6);
        let p = decode(Link::Ethernet, &f);
        assert_eq!(p.tunnels(), &[Tunnel::VxlanGpe { vni: 9 }]);
        assert_eq!(p.ip.unwrap().src, IpAddr::from([0x20; 16]));
        // without the P flag, or with a version, it is plain UDP on port 4790
        for flags in [0x08, 0x2C] {
            let mut f = gpe(1, 42, &ip);
            f[14 + 20 + 8] = flags;
            let p = decode(Link::Ethernet, &f);
            assert!(p.tunnels().is_empty());
            assert!(matches!(p.l4, L4::Udp { dport: 4790, .. }));
        }
        // an NSH header shorter than its base and path headers is an error
        let mut bad = nsh(1, 1, 1, &ip);
        bad[1] = 0x01;
        assert_eq!(
            decode(Link::Ethernet, &gpe(4, 1, &bad)).error,
            Some(Layer::Link)
        );
        assert_eq!(
            serde_json::to_string(&[gpe42, path]).unwrap(),
            r#"[{"type":"vxlan_gpe","vni":42},{"type":"nsh","spi":4660,"si":255}]"#
        );
    }

    /// A GTP-U G-PDU with `flags` (E, S, PN) and `ext` (what follows the TEID), then `inner`.
    fn gtpu_frame(flags: u8, teid: u32, ext: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0x30 | flags, 0xFF];
        v.extend_from_slice(&((ext.len() + inner.len()) as u16).to_be_bytes());
        v.extend_from_slice(&teid.to_be_bytes());
        v.extend_from_slice(ext);
        v.extend_from_slice(inner);
        eth(0x0800, &udp4(A, B, 2152, 2152, &v))
    }

    #[test]
    fn gtpu_g_pdus_carry_the_inner_packet_with_the_teid() {
        let ip = inner_ip();
        let t = [Tunnel::Gtpu { teid: 0xDEAD_BEEF }];
        assert_inner(
            &decode(Link::Ethernet, &gtpu_frame(0, 0xDEAD_BEEF, &[], &ip)),
            &t,
        );
        // sequence number present (S), no extension
        let seq = [0x12, 0x34, 0, 0];
        assert_inner(
            &decode(Link::Ethernet, &gtpu_frame(0x02, 0xDEAD_BEEF, &seq, &ip)),
            &t,
        );
        // a PDU session container (type 0x85, 1 word: QFI 5), then none (5G N3)
        let ext = [0, 0, 0, 0x85, 0x01, 0x00, 0x05, 0x00];
        assert_inner(
            &decode(Link::Ethernet, &gtpu_frame(0x04, 0xDEAD_BEEF, &ext, &ip)),
            &t,
        );
        let json = serde_json::to_string(&t[0]).unwrap();
        assert_eq!(json, r#"{"type":"gtpu","teid":3735928559}"#);
        // an echo request (type 1), too many extension headers, a zero-length extension and a
        // non-IP PDU are plain UDP
        let mut echo = gtpu_frame(0x02, 0, &[0, 1, 0, 0], &[]);
        echo[14 + 20 + 8 + 1] = 1;
        let mut many = vec![0, 0, 0, 0x85];
        for _ in 0..=MAX_GTPU_EXTENSIONS {
            many.extend_from_slice(&[0x01, 0x00, 0x05, 0x85]);
        }
        many.extend_from_slice(&[0x01, 0x00, 0x05, 0x00]);
        for f in [
            echo,
            gtpu_frame(0x04, 1, &many, &ip),
            gtpu_frame(0x04, 1, &[0, 0, 0, 0x85, 0x00, 0, 0, 0], &ip),
            gtpu_frame(0, 1, &[], &eth(0x0800, &ip)),
        ] {
            let p = decode(Link::Ethernet, &f);
            assert!(p.tunnels().is_empty(), "{p:?}");
            assert!(matches!(p.l4, L4::Udp { dport: 2152, .. }));
        }
    }

    /// The same inner packet on each PPP-family link type, as the link frames it.
    fn ppp_link_frames() -> Vec<(Link, Vec<u8>)> {
        let ip = inner_ip();
        let with = |head: &[u8]| [head, &ip[..]].concat();
        vec![
            // LINKTYPE_PPP: protocol field compressed, no address/control (RFC 1661 §6.5-6.6)
            (Link::Ppp, with(&[0x21])),
            (Link::Ppp, with(&[0xFF, 0x03, 0x00, 0x21])),
            (Link::PppHdlc, with(&[0xFF, 0x03, 0x00, 0x21])),
            // Cisco PPP with HDLC framing (RFC 1547 §4.3.1) on the PPP_HDLC link type
            (Link::PppHdlc, with(&[0x8F, 0x00, 0x08, 0x00])),
            (Link::PppWithDir, with(&[0x01, 0xFF, 0x03, 0x00, 0x21])),
            (Link::CiscoHdlc, with(&[0x0F, 0x00, 0x08, 0x00])),
            (
                Link::PppEther,
                with(&[
                    0x11,
                    0x00,
                    0x00,
                    0x09,
                    0x00,
                    (ip.len() + 2) as u8,
                    0x00,
                    0x21,
                ]),
            ),
        ]
    }

    #[test]
    fn ppp_link_types_carry_the_ip_packet() {
        for (link, f) in ppp_link_frames() {
            let p = decode(link, &f);
            let tunnels: &[Tunnel] = match link {
                Link::PppEther => &[Tunnel::Pppoe { session: 9 }],
                _ => &[],
            };
            assert_inner(&p, tunnels);
            let inner = Ip {
                src: IpAddr::from(INNER_A),
                dst: IpAddr::from(INNER_B),
                proto: 0,
            };
            assert_eq!(dispatch_hash(link, &f), flow_hash(&inner), "{link:?}");
        }
        // LCP (0xC021) carries no IP and is no error; a Cisco frame with an unknown address is
        assert_eq!(
            decode(Link::Ppp, &[0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4]).error,
            None
        );
        assert_eq!(dispatch_hash(Link::Ppp, &[0xC0, 0x21, 1, 1, 0, 4]), 0);
        assert_eq!(
            decode(Link::CiscoHdlc, &[0x42, 0x00, 0x08, 0x00]).error,
            Some(Layer::Link)
        );
        assert_eq!(decode(Link::PppWithDir, &[]).error, Some(Layer::Link));
        for (dlt, name) in [
            (9, "ppp"),
            (50, "ppp_hdlc"),
            (51, "ppp_ether"),
            (104, "c_hdlc"),
            (204, "ppp_with_dir"),
        ] {
            assert_eq!(Link::from_dlt(dlt).name(), name);
        }
    }

    fn all_tunnel_frames() -> Vec<(Link, Vec<u8>)> {
        let mut ppp = vec![0x21];
        ppp.extend_from_slice(&inner_ip());
        let mut m = mpls_label(3, true).to_vec();
        m.extend_from_slice(&inner_ip());
        let mut h2 = vec![0x10, 0x00, 0x01, 0x55, 0, 0, 0, 0];
        h2.extend_from_slice(&eth(0x0800, &inner_ip()));
        let mut teredo = vec![0x00, 0x00, 0x0D, 0xDE, 1, 2, 3, 4];
        teredo.extend_from_slice(&udp6([0x20; 16], [0x26; 16], 1, 53, b"q"));
        vec![
            (Link::Ethernet, vxlan_frame(42)),
            (Link::Ethernet, pppoe(9, &ppp)),
            (Link::Ethernet, eth(0x8847, &m)),
            (Link::Raw, gre(0x10, 0, 0x88BE, &[0, 0, 0, 1], &h2)),
            (Link::Raw, gre(0xB0, 0, 0x0800, &[0; 12], &inner_ip())),
            (
                Link::Raw,
                ipv4(A, B, 4, &ipv6([1; 16], [2; 16], 4, &inner_ip())),
            ),
            (Link::Ethernet, eth(0x0800, &udp4(A, B, 3544, 1, &teredo))),
            (Link::Nflog, nflog(&inner_ip(), true)),
            (
                Link::Ethernet,
                gpe(4, 42, &nsh(3, 1, 2, &eth(0x0800, &inner_ip()))),
            ),
            (
                Link::Ethernet,
                gtpu_frame(0x04, 7, &[0, 0, 0, 0x85, 0x01, 0, 5, 0], &inner_ip()),
            ),
        ]
        .into_iter()
        .chain(ppp_link_frames())
        .collect()
    }

    #[test]
    fn tunnel_frames_truncated_at_every_length_never_panic() {
        for (link, f) in all_tunnel_frames() {
            for n in 0..f.len() {
                let p = decode(link, &f[..n]);
                assert!(p.tunnels().len() <= MAX_ENCAP_DEPTH);
                let _ = dispatch_hash(link, &f[..n]);
            }
        }
    }

    #[test]
    fn tunnel_frames_with_random_flips_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (link, f) in all_tunnel_frames() {
            for _ in 0..2000 {
                let mut g = f.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() % g.len() as u64) as usize;
                    g[i] ^= 1 << (next() % 8);
                }
                let cut = g.len() - (next() % 8) as usize;
                let p = decode(link, &g[..cut]);
                if let Some(fr) = p.frag {
                    let _ = resume(&p, fr.proto, fr.data);
                }
                let _ = dispatch_hash(link, &g);
            }
        }
    }

    // ---- fragments ------------------------------------------------------------------------

    #[test]
    fn ipv4_fragment_stops_decoding_and_resume_continues_from_the_payload() {
        let whole = inner_ip();
        let l4 = &whole[20..];
        // first fragment: 8 bytes of the UDP datagram, more fragments
        let f = ipv4_frag(A, B, 17, (0x4242, 0, true), &l4[..8]);
        let p = decode(Link::Raw, &f);
        let fr = p.frag.unwrap();
        assert_eq!((fr.id, fr.offset, fr.more, fr.proto), (0x4242, 0, true, 17));
        assert_eq!(fr.data, &l4[..8]);
        assert_eq!(p.l4, L4::None);
        let q = resume(&p, 17, l4);
        assert!(matches!(
            q.l4,
            L4::Udp {
                dport: 53,
                payload: b"dns",
                ..
            }
        ));
    }

    #[test]
    fn ipv6_fragment_header_is_found_after_other_extension_headers() {
        // hop-by-hop (8 bytes) then Fragment header (offset 16, M=1, id 0xA5D33A2D) then data
        let mut ext = vec![44, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[17, 0, 0x00, 0x11, 0xA5, 0xD3, 0x3A, 0x2D]);
        ext.extend_from_slice(&[0xEE; 16]);
        let f = ipv6([1; 16], [2; 16], 0, &ext);
        let p = decode(Link::Raw, &f);
        let fr = p.frag.unwrap();
        assert_eq!(
            (fr.id, fr.offset, fr.more, fr.proto, fr.data.len()),
            (0xA5D3_3A2D, 16, true, 17, 16)
        );
        assert_eq!(fr.src, IpAddr::from([1u8; 16]));
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
