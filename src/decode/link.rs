//! Link layers: the link types iocd decodes, and the headers in front of the first IP header or
//! EtherType that are not Ethernet (BSD loopback, Linux cooked captures, NFLOG), plus the
//! EtherTypes and PPP protocol numbers the walker ([`super`]) follows.

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
    /// PPP (LINKTYPE_PPP 9, DLT_PPP): a PPP frame (RFC 1661 §2), with or without the RFC 1662
    /// address and control bytes 0xFF 0x03 in front.
    Ppp,
    /// PPP in HDLC-like framing (LINKTYPE_PPP_HDLC 50, DLT_PPP_SERIAL): 0xFF 0x03 then PPP
    /// (RFC 1662 §3.1), or Cisco PPP with HDLC framing (RFC 1547 §4.3.1), which starts 0x0F or
    /// 0x8F like [`Link::CiscoHdlc`].
    PppHdlc,
    /// PPP with a one-byte direction pseudo-header in front (LINKTYPE_PPP_WITH_DIR 204), what
    /// Wireshark writes for pppd's `record` files.
    PppWithDir,
    /// PPPoE session frames without Ethernet (LINKTYPE_PPP_ETHER 51, DLT_PPP_ETHER): the
    /// RFC 2516 header, then PPP.
    PppEther,
    /// Cisco HDLC (LINKTYPE_C_HDLC 104): address 0x0F or 0x8F, control 0, then an EtherType.
    CiscoHdlc,
    /// Linux netfilter log (LINKTYPE_NFLOG 239): a 4-byte header, then TLVs, one of which
    /// (NFULA_PAYLOAD) holds the IP packet.
    Nflog,
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
            9 => Link::Ppp,
            50 => Link::PppHdlc,
            51 => Link::PppEther,
            104 => Link::CiscoHdlc,
            204 => Link::PppWithDir,
            12 | 14 | 101 => Link::Raw,
            108 => Link::Loop,
            113 => Link::LinuxSll,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            239 => Link::Nflog,
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
            Link::Nflog => "nflog".into(),
            Link::Ppp => "ppp".into(),
            Link::PppHdlc => "ppp_hdlc".into(),
            Link::PppWithDir => "ppp_with_dir".into(),
            Link::PppEther => "ppp_ether".into(),
            Link::CiscoHdlc => "c_hdlc".into(),
            Link::Unsupported(d) => format!("unsupported_dlt_{d}"),
        }
    }
}

/// EtherTypes (IEEE registry; the RFC that defines the use is named on each).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ S-tag still sent by some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    /// MPLS unicast and multicast (RFC 3032 §5, RFC 5332).
    pub const MPLS_UC: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    /// PPPoE session stage (RFC 2516 §4).
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet bridging, an Ethernet frame inside GRE or Geneve (RFC 1701).
    pub const TEB: u16 = 0x6558;
    /// PPP inside GRE (PPTP, RFC 2637 §4.1).
    pub const PPP: u16 = 0x880B;
    /// NSH on Ethernet or in GRE (RFC 8300 §4).
    pub const NSH: u16 = 0x894F;
    /// ERSPAN type I/II (draft-foschiano-erspan §4.1) and type III (§4.3).
    pub const ERSPAN_2: u16 = 0x88BE;
    pub const ERSPAN_3: u16 = 0x22EB;
    /// Cisco MetaData (TrustSec SGT tag) on Ethernet: version, length, option, SGT, then an
    /// EtherType, 8 bytes as Wireshark's packet-cmd.c reads it (inside GRE the order differs,
    /// see `Decoder::gre`); tcpdump's various_gre.pcap has it.
    pub const CISCO_CMD: u16 = 0x8909;
}

/// PPP protocol numbers (RFC 1332 IPCP, RFC 5072 IPV6CP).
pub const PPP_IPV4: u16 = 0x0021;
pub const PPP_IPV6: u16 = 0x0057;

/// The EtherType and payload of a Cisco HDLC frame (address 0x0F unicast or 0x8F broadcast,
/// control 0, then a 2-byte EtherType), as LINKTYPE_C_HDLC and Cisco-framed LINKTYPE_PPP_HDLC
/// carry it.
pub fn cisco_hdlc(frame: &[u8]) -> Option<(u16, &[u8])> {
    match frame {
        [0x0F | 0x8F, 0x00, a, b, rest @ ..] => Some((u16::from_be_bytes([*a, *b]), rest)),
        _ => None,
    }
}

/// The protocol and payload of a PPP frame (RFC 1661 §2): optional address/control bytes
/// 0xFF 0x03 (absent under address-and-control-field compression, §6.6), then the protocol,
/// one byte when protocol-field compression is on (§6.5: a compressed value is odd); `None`
/// for a short frame.
pub fn ppp_protocol(frame: &[u8]) -> Option<(u16, &[u8])> {
    let d = frame.strip_prefix(&[0xFF, 0x03]).unwrap_or(frame);
    match d {
        [b, rest @ ..] if b & 1 == 1 => Some((u16::from(*b), rest)),
        [a, b, rest @ ..] => Some((u16::from_be_bytes([*a, *b]), rest)),
        _ => None,
    }
}

/// The IP packet of a PPP frame, `None` for control protocols (LCP, IPCP ...) or a short frame.
pub fn ppp_ip(frame: &[u8]) -> Option<&[u8]> {
    let (proto, rest) = ppp_protocol(frame)?;
    matches!(proto, PPP_IPV4 | PPP_IPV6).then_some(rest)
}

/// NFLOG attribute type of the packet payload (linux/netfilter/nfnetlink_log.h NFULA_PAYLOAD).
pub(super) const NFULA_PAYLOAD: u16 = 9;

/// BSD loopback: the family value is 2 for IPv4 and 24, 28 or 30 for IPv6 (the BSDs differ),
/// written in the byte order of the capturing host (DLT_NULL) or big-endian (DLT_LOOP).
pub fn null_payload(link: Link, frame: &[u8]) -> Option<&[u8]> {
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
pub(super) fn cooked(frame: &[u8], header_len: usize, proto_at: usize) -> Option<(u16, &[u8])> {
    let proto = frame.get(proto_at..proto_at + 2)?;
    let payload = frame.get(header_len..)?;
    Some((u16::from_be_bytes([proto[0], proto[1]]), payload))
}

/// LINKTYPE_NFLOG (tcpdump.org/linktypes/LINKTYPE_NFLOG.html): family, version 0 and a
/// resource id (4 bytes), then TLVs of length (including the 4-byte TLV header) and type, both
/// in the capturing host's byte order, each padded to 4 bytes. NFULA_PAYLOAD holds the packet
/// from its IP header. The byte order is told from the first TLV's length: only one reading
/// fits the frame.
pub fn nflog_payload(frame: &[u8]) -> Option<&[u8]> {
    let h = frame.get(..4)?;
    if !matches!(h[0], 2 | 10) || h[1] != 0 {
        return None;
    }
    let mut rest = frame.get(4..)?;
    let first: [u8; 2] = rest.get(..2)?.try_into().ok()?;
    let le = {
        let l = usize::from(u16::from_le_bytes(first));
        (4..=rest.len()).contains(&l)
    };
    let read = |b: [u8; 2]| {
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    // each TLV consumes at least 4 bytes, so this ends
    while rest.len() >= 4 {
        let len = usize::from(read([rest[0], rest[1]]));
        // the top two bits of the type are netlink flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER)
        let typ = read([rest[2], rest[3]]) & 0x3FFF;
        if len < 4 {
            return None;
        }
        let value = rest.get(4..len)?;
        if typ == NFULA_PAYLOAD {
            return Some(value);
        }
        rest = rest.get(len.next_multiple_of(4)..)?;
    }
    None
}
