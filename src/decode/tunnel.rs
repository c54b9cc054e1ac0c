//! Encapsulations: the [`Tunnel`] kinds reported with an event, the UDP tunnels (VXLAN,
//! VXLAN-GPE, Geneve, GTP-U, Teredo) recognised on their ports, NSH, and the walker's steps for the tunnels carried below IP or
//! beside it (MPLS, PPPoE and PPP, GRE and ERSPAN). Every read is bounds-checked (`slice::get`).

use serde::Serialize;

use super::link::{self, ethertype, PPP_IPV4, PPP_IPV6};
use super::{Decoder, Layer, Step};

/// One encapsulation around the innermost packet, as the event's `flow.tunnel` array shows it:
/// `{"type":"vxlan","vni":42}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Tunnel {
    /// VXLAN (RFC 7348), UDP port 4789.
    Vxlan { vni: u32 },
    /// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe-12), UDP port 4790.
    #[serde(rename = "vxlan_gpe")]
    VxlanGpe { vni: u32 },
    /// Network Service Header (RFC 8300): the service path identifier and service index.
    Nsh { spi: u32, si: u8 },
    /// GTP-U (3GPP TS 29.281), UDP port 2152: the tunnel endpoint identifier of a G-PDU.
    Gtpu { teid: u32 },
    /// Geneve (RFC 8926), UDP port 6081.
    Geneve { vni: u32 },
    /// GRE (RFC 2784, RFC 2890 key); for the PPTP variant (version 1, RFC 2637 §4.1) the key is
    /// the call ID.
    Gre {
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<u32>,
    },
    /// ERSPAN type I, II or III inside GRE; type I has no header and reports session 0.
    Erspan { session: u16 },
    /// One MPLS label stack entry (RFC 3032); a stack gives one entry per label.
    Mpls { label: u32 },
    /// PPPoE session stage (RFC 2516).
    Pppoe { session: u16 },
    /// Teredo (RFC 4380): IPv6 in UDP/IPv4, port 3544.
    Teredo,
    /// IPv4 in IPv4 (RFC 2003, protocol 4).
    #[serde(rename = "ipip")]
    IpIp,
    /// IPv6 in IPv4 (RFC 4213, protocol 41).
    #[serde(rename = "6in4")]
    SixIn4,
    /// IPv4 in IPv6 (RFC 2473, next header 4).
    #[serde(rename = "4in6")]
    FourIn6,
    /// IPv6 in IPv6 (RFC 2473, next header 41).
    #[serde(rename = "6in6")]
    SixIn6,
}

impl Tunnel {
    /// Every kind's name, in [`Tunnel::index`] order (for counters).
    pub const KINDS: [&'static str; 14] = [
        "vxlan",
        "geneve",
        "gre",
        "erspan",
        "mpls",
        "pppoe",
        "teredo",
        "ipip",
        "6in4",
        "4in6",
        "6in6",
        "vxlan_gpe",
        "nsh",
        "gtpu",
    ];

    /// Position of this kind in [`Tunnel::KINDS`].
    pub fn index(self) -> usize {
        match self {
            Tunnel::Vxlan { .. } => 0,
            Tunnel::Geneve { .. } => 1,
            Tunnel::Gre { .. } => 2,
            Tunnel::Erspan { .. } => 3,
            Tunnel::Mpls { .. } => 4,
            Tunnel::Pppoe { .. } => 5,
            Tunnel::Teredo => 6,
            Tunnel::IpIp => 7,
            Tunnel::SixIn4 => 8,
            Tunnel::FourIn6 => 9,
            Tunnel::SixIn6 => 10,
            Tunnel::VxlanGpe { .. } => 11,
            Tunnel::Nsh { .. } => 12,
            Tunnel::Gtpu { .. } => 13,
        }
    }
}

/// VXLAN's IANA port (RFC 7348 §5).
pub(super) const VXLAN_PORT: u16 = 4789;
/// Geneve's IANA port (RFC 8926 §3.3).
pub(super) const GENEVE_PORT: u16 = 6081;
/// Teredo's IANA port (RFC 4380 §4); servers listen on it, clients use any port.
pub(super) const TEREDO_PORT: u16 = 3544;
/// VXLAN-GPE's IANA port (draft-ietf-nvo3-vxlan-gpe-12 §3.2).
pub(super) const VXLAN_GPE_PORT: u16 = 4790;
/// GTP-U's port (3GPP TS 29.281 §4.4.2.3): both endpoints send from and to it.
pub(super) const GTPU_PORT: u16 = 2152;

/// Extension headers of one GTP-U packet walked before giving up (3GPP TS 29.281 §5.2.1
/// defines about ten types, each used at most once: PDU session container, PDCP number,
/// UDP port, RAN container ...); more is not a real packet.
pub const MAX_GTPU_EXTENSIONS: usize = 8;

/// Next Protocol values shared by VXLAN-GPE (draft §3.3) and NSH (RFC 8300 §2.2, IANA "NSH
/// Next Protocol").
mod next_proto {
    pub const IPV4: u8 = 1;
    pub const IPV6: u8 = 2;
    pub const ETHERNET: u8 = 3;
    pub const NSH: u8 = 4;
    pub const MPLS: u8 = 5;
}

/// The step for a VXLAN-GPE or NSH Next Protocol value; `None` for one not decoded (an
/// experimental value, or none).
fn next_step(proto: u8, rest: &[u8]) -> Option<Step<'_>> {
    Some(match proto {
        next_proto::IPV4 | next_proto::IPV6 => Step::Ip(rest),
        next_proto::ETHERNET => Step::Ether(rest),
        next_proto::NSH => Step::Nsh(rest),
        next_proto::MPLS => Step::Mpls(rest),
        _ => return None,
    })
}

/// VXLAN-GPE header (draft-ietf-nvo3-vxlan-gpe-12 §3.1): flags `R R Ver(2) I P B O` with
/// version 0 and the I (VNI valid) and P (next protocol present) bits set, 16 reserved bits, the
/// Next Protocol, the 24-bit VNI and a reserved byte. Anything else on the port is plain UDP.
pub(super) fn vxlan_gpe(d: &[u8]) -> Option<(Tunnel, Step<'_>)> {
    let h = d.get(..8)?;
    if h[0] & 0x30 != 0 || h[0] & 0x0C != 0x0C {
        return None;
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Some((Tunnel::VxlanGpe { vni }, next_step(h[3], d.get(8..)?)?))
}

/// GTP-U header (3GPP TS 29.281 §5.1): version 1 and protocol type 1 in the first byte with the
/// E, S and PN flags, the message type, the length of what follows the first 8 bytes, the TEID;
/// when any flag is set, a sequence number, an N-PDU number and the first extension header
/// type; then extension headers (§5.2.1: a length in 4-byte units, content, the next type).
/// Only a G-PDU (type 255) carrying an IPv4 or IPv6 packet is a tunnel; echo, end marker and
/// error indication messages, and non-IP PDU sessions, are left as plain UDP.
pub(super) fn gtpu(d: &[u8]) -> Option<(Tunnel, Step<'_>)> {
    let h = d.get(..8)?;
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xFF {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let teid = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    // the length bounds the PDU; a packet cut by the snaplen keeps what it has
    let body = d.get(8..)?;
    let mut rest = body.get(..len).unwrap_or(body);
    if h[0] & 0x07 != 0 {
        let mut next = *rest.get(3)?;
        rest = rest.get(4..)?;
        let mut walked = 0;
        while next != 0 {
            walked += 1;
            if walked > MAX_GTPU_EXTENSIONS {
                return None;
            }
            let n = usize::from(*rest.first()?) * 4;
            if n == 0 {
                return None;
            }
            next = *rest.get(n - 1)?;
            rest = rest.get(n..)?;
        }
    }
    match rest.first()? >> 4 {
        4 | 6 => Some((Tunnel::Gtpu { teid }, Step::Ip(rest))),
        _ => None,
    }
}

/// VXLAN header (RFC 7348 §5): flags with the I bit (0x08) set, 24 reserved bits, the 24-bit
/// VNI and 8 reserved bits; an Ethernet frame follows.
pub(super) fn vxlan(d: &[u8]) -> Option<(Tunnel, Step<'_>)> {
    let h = d.get(..8)?;
    if h[0] & 0x08 == 0 {
        return None;
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Some((Tunnel::Vxlan { vni }, Step::Ether(d.get(8..)?)))
}

/// Geneve header (RFC 8926 §3.4): version 0 (2 bits), options length in 4-byte words (6 bits),
/// flags, the protocol type as an EtherType, the 24-bit VNI and a reserved byte; then options.
pub(super) fn geneve(d: &[u8]) -> Option<(Tunnel, Step<'_>)> {
    let h = d.get(..8)?;
    if h[0] >> 6 != 0 {
        return None;
    }
    let opt_len = usize::from(h[0] & 0x3F) * 4;
    let proto = u16::from_be_bytes([h[2], h[3]]);
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    let rest = d.get(8 + opt_len..)?;
    Some((Tunnel::Geneve { vni }, Step::EtherType(proto, rest)))
}

/// Teredo (RFC 4380 §5.1.1): an IPv6 packet in UDP, possibly preceded by an authentication
/// indicator (0x0001, id and auth lengths, client id, auth value, 8-byte nonce, confirmation
/// byte) and/or an origin indication (0x0000, port, address: 8 bytes). Anything that does not
/// end in an IPv6 header is not Teredo.
pub(super) fn teredo(d: &[u8]) -> Option<(Tunnel, Step<'_>)> {
    let mut rest = d;
    if let [0x00, 0x01, id_len, au_len, ..] = *rest {
        let len = 4 + usize::from(id_len) + usize::from(au_len) + 8 + 1;
        rest = rest.get(len..)?;
    }
    if let [0x00, 0x00, ..] = *rest {
        rest = rest.get(8..)?;
    }
    // an IPv6 header: version 6 and the whole fixed header present
    if rest.len() < 40 || rest[0] >> 4 != 6 {
        return None;
    }
    Some((Tunnel::Teredo, Step::Ip(rest)))
}

impl<'a> Decoder<'a> {
    /// One MPLS label stack entry (RFC 3032 §2.1): label 20 bits, TC 3, bottom-of-stack 1,
    /// TTL 8. After the bottom entry there is no protocol field: IPv4 and IPv6 are told by the
    /// version nibble; a first nibble of 0 is the pseudowire control word (RFC 4385 §3) before
    /// an Ethernet frame (RFC 4448); anything else is taken as Ethernet without control word.
    pub(super) fn mpls(&mut self, d: &'a [u8]) -> Step<'a> {
        let Some(e) = d.get(..4) else {
            return self.fail(Layer::Link);
        };
        let entry = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        if !self.push_tunnel(Tunnel::Mpls { label: entry >> 12 }) {
            return Step::Done;
        }
        let rest = &d[4..];
        if entry & 0x100 == 0 {
            return Step::Mpls(rest);
        }
        match rest.first().map(|b| b >> 4) {
            Some(4 | 6) => Step::Ip(rest),
            Some(0) => match rest.get(4..) {
                Some(eth) => Step::Ether(eth),
                None => self.fail(Layer::Link),
            },
            Some(_) => Step::Ether(rest),
            None => self.fail(Layer::Link),
        }
    }

    /// PPPoE session header (RFC 2516 §4): ver/type 0x11, code 0, session id, length; then PPP.
    pub(super) fn pppoe(&mut self, d: &'a [u8]) -> Step<'a> {
        let Some(h) = d.get(..6) else {
            return self.fail(Layer::Link);
        };
        if h[0] != 0x11 || h[1] != 0 {
            return self.fail(Layer::Link);
        }
        let session = u16::from_be_bytes([h[2], h[3]]);
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if !self.push_tunnel(Tunnel::Pppoe { session }) {
            return Step::Done;
        }
        let rest = &d[6..];
        // The length bounds the payload; a frame cut by the snaplen keeps what it has.
        Step::Ppp(rest.get(..len).unwrap_or(rest))
    }

    /// A PPP frame (see [`link::ppp_protocol`]).
    pub(super) fn ppp(&mut self, d: &'a [u8]) -> Step<'a> {
        match link::ppp_protocol(d) {
            None => self.fail(Layer::Link),
            Some((PPP_IPV4 | PPP_IPV6, rest)) => Step::Ip(rest),
            // LCP, IPCP, PAP, CCP ...: control traffic, no IP packet.
            Some(_) => Step::Done,
        }
    }

    /// NSH (RFC 8300 §2.2-2.3): version 0, O, U, TTL, the header's length in 4-byte words (at
    /// least the 2 of the base and service path headers), MD type, the Next Protocol, then the
    /// 24-bit service path identifier and the service index; context headers to the length.
    pub(super) fn nsh(&mut self, d: &'a [u8]) -> Step<'a> {
        let Some(h) = d.get(..8) else {
            return self.fail(Layer::Link);
        };
        let len = usize::from(h[1] & 0x3F) * 4;
        if h[0] >> 6 != 0 || len < 8 {
            return self.fail(Layer::Link);
        }
        let spi = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        if !self.push_tunnel(Tunnel::Nsh { spi, si: h[7] }) {
            return Step::Done;
        }
        match d.get(len..).and_then(|rest| next_step(h[3], rest)) {
            Some(step) => step,
            None => self.fail(Layer::Link),
        }
    }

    /// ERSPAN (draft-foschiano-erspan-03): type II has an 8-byte header (§4.2), type III a
    /// 12-byte one plus an 8-byte platform sub-header when the O flag is set (§4.3); both carry
    /// a 10-bit session id and then the mirrored Ethernet frame. Type I (version 0 with the GRE
    /// sequence bit clear) has no header at all.
    pub(super) fn erspan(&mut self, version: u8, d: &'a [u8]) -> Step<'a> {
        if version == 1 {
            if !self.push_tunnel(Tunnel::Erspan { session: 0 }) {
                return Step::Done;
            }
            return Step::Ether(d);
        }
        let Some(h) = d.get(..8) else {
            return self.fail(Layer::Link);
        };
        let session = u16::from_be_bytes([h[2], h[3]]) & 0x03FF;
        let (len, ip_frame) = if version == 3 {
            let Some(h3) = d.get(..12) else {
                return self.fail(Layer::Link);
            };
            // frame type: 0 Ethernet, 2 IP
            let ft = (h3[10] >> 2) & 0x1F;
            let o = h3[11] & 1 == 1;
            (if o { 20 } else { 12 }, ft == 2)
        } else {
            (8, false)
        };
        if !self.push_tunnel(Tunnel::Erspan { session }) {
            return Step::Done;
        }
        match d.get(len..) {
            Some(rest) if ip_frame => Step::Ip(rest),
            Some(rest) => Step::Ether(rest),
            None => self.fail(Layer::Link),
        }
    }

    /// GRE (RFC 2784 §2, RFC 2890 §2 key and sequence; version 1 is PPTP's enhanced GRE,
    /// RFC 2637 §4.1, with a mandatory key holding payload length and call id, and an optional
    /// acknowledgment number). Source routing (RFC 1701's R bit) is not decoded.
    pub(super) fn gre(&mut self, d: &'a [u8]) -> Step<'a> {
        let Some(h) = d.get(..4) else {
            return self.fail(Layer::Network);
        };
        let (c, r, k, s) = (
            h[0] & 0x80 != 0,
            h[0] & 0x40 != 0,
            h[0] & 0x20 != 0,
            h[0] & 0x10 != 0,
        );
        let ack = h[1] & 0x80 != 0;
        let version = h[1] & 0x07;
        let proto = u16::from_be_bytes([h[2], h[3]]);
        if r || version > 1 || (version == 1 && !k) {
            return self.fail(Layer::Network);
        }
        let mut at = 4;
        if c && version == 0 {
            at += 4;
        }
        let mut key = None;
        if k {
            let Some(kb) = d.get(at..at + 4) else {
                return self.fail(Layer::Network);
            };
            key = Some(if version == 1 {
                u32::from(u16::from_be_bytes([kb[2], kb[3]]))
            } else {
                u32::from_be_bytes([kb[0], kb[1], kb[2], kb[3]])
            });
            at += 4;
        }
        if s {
            at += 4;
        }
        if ack && version == 1 {
            at += 4;
        }
        let Some(rest) = d.get(at..) else {
            return self.fail(Layer::Network);
        };
        if !self.push_tunnel(Tunnel::Gre { key }) {
            return Step::Done;
        }
        match proto {
            // ERSPAN type I is 0x88BE without the sequence number (draft-foschiano-erspan §4.1)
            ethertype::ERSPAN_2 if !s => self.erspan(1, rest),
            // In GRE the Cisco MetaData header puts the EtherType first, then version, length,
            // option and SGT (Wireshark's dissect_cmd_gre): 8 bytes.
            ethertype::CISCO_CMD => match rest.get(..8) {
                Some(c) => Step::EtherType(u16::from_be_bytes([c[0], c[1]]), &rest[8..]),
                None => self.fail(Layer::Network),
            },
            _ => Step::EtherType(proto, rest),
        }
    }
}
