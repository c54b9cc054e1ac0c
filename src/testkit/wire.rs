//! Link, network and transport layers by hand: Ethernet II (and 802.1Q tags), IPv4 (RFC 791),
//! IPv6 (RFC 8200) with an optional Fragment header, UDP (RFC 768), TCP (RFC 9293), the
//! Internet checksum (RFC 1071), and classic pcap files.
//!
//! Two styles: functions returning a `Vec<u8>` for tests, and the append-style
//! [`begin`] / [`udp_header`] / [`tcp_header`] / [`finish`] that the replay bench uses to reuse
//! one buffer per frame.

// Each target that compiles this module uses a different subset of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
/// IPv6 Fragment extension header (RFC 8200 §4.5).
pub const PROTO_IPV6_FRAGMENT: u8 = 44;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// The MAC addresses of frames built by [`eth`]: locally administered, source then destination.
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written by [`pcap_header`].
pub const PCAP_SNAPLEN: u32 = 65_535;
/// libpcap's default snapshot length (`MAXIMUM_SNAPLEN`).
pub const PCAP_MAX_SNAPLEN: u32 = 262_144;

const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
/// Default TTL / hop limit.
const TTL: u8 = 64;
/// Shortest Ethernet frame without the FCS (IEEE 802.3 §3.2.8: 64 bytes with FCS).
const ETH_MIN_FRAME: usize = 60;
const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;
const MICROS_PER_SEC: u64 = 1_000_000;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// Checksums (RFC 1071)

/// One's-complement sum of `data` as big-endian 16-bit words, not yet folded. Summing 32-bit
/// words is equivalent because 2^16 ≡ 1 (mod 2^16 − 1).
fn sum_words(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    !(acc as u16)
}

/// The Internet checksum of `data` (RFC 1071), as an IPv4 header carries it.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum_words(data))
}

/// The UDP or TCP checksum of `segment` (its checksum field zero) over the pseudo-header of
/// RFC 768 / RFC 9293 §3.1 (4-byte addresses) or RFC 8200 §8.1 (16-byte addresses). A UDP
/// checksum that computes to zero is returned as 0xffff (RFC 768).
pub fn l4_checksum(src: &[u8], dst: &[u8], proto: u8, segment: &[u8]) -> u16 {
    let pseudo = sum_words(src) + sum_words(dst) + u64::from(proto) + segment.len() as u64;
    let c = fold(pseudo + sum_words(segment));
    if proto == PROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

// ---------------------------------------------------------------------------------------------
// Frames as values

/// An Ethernet II frame from [`SRC_MAC`] to [`DST_MAC`] (no padding, no FCS).
pub fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    eth_macs(SRC_MAC, DST_MAC, ether_type, payload)
}

/// An Ethernet II frame with the given MAC addresses.
pub fn eth_macs(src: [u8; 6], dst: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HLEN + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    put_u16(&mut f, ether_type);
    f.extend_from_slice(payload);
    f
}

/// An 802.1Q tag (priority 0) for `vid` followed by `ether_type` and `payload`: the body of an
/// Ethernet frame of type [`ETHERTYPE_VLAN`].
pub fn vlan(vid: u16, ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    put_u16(&mut v, vid & 0x0fff);
    put_u16(&mut v, ether_type);
    v.extend_from_slice(payload);
    v
}

/// A UDP header and payload with checksum 0 ("none", RFC 768), for when the IP addresses
/// around it are not known here; see [`udp4`] and [`udp6`] for checksummed ones.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    put_u16(&mut u, sport);
    put_u16(&mut u, dport);
    put_u16(&mut u, (8 + payload.len()) as u16);
    put_u16(&mut u, 0);
    u.extend_from_slice(payload);
    u
}

/// TCP header fields other than the ports.
#[derive(Debug, Clone, Copy)]
pub struct Tcp<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Already padded to a multiple of 4 bytes.
    pub options: &'a [u8],
}

impl Tcp<'_> {
    /// Sequence number `seq` and flags written as letters: `S` SYN, `A` ACK (acknowledging 1),
    /// `F` FIN, `R` RST, `P` PSH; window 65535, no options.
    pub fn flags(seq: u32, flags: &str) -> Tcp<'static> {
        let mut f = 0;
        for (c, bit) in [
            ('S', TCP_SYN),
            ('A', TCP_ACK),
            ('F', TCP_FIN),
            ('R', TCP_RST),
            ('P', TCP_PSH),
        ] {
            if flags.contains(c) {
                f |= bit;
            }
        }
        Tcp {
            seq,
            ack: u32::from(f & TCP_ACK != 0),
            flags: f,
            window: 65_535,
            options: &[],
        }
    }
}

/// A UDP datagram in an IPv4 packet, both checksums set.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp(sport, dport, payload);
    let c = l4_checksum(&src, &dst, PROTO_UDP, &u);
    patch_u16(&mut u, 6, c);
    ipv4(src, dst, PROTO_UDP, &u)
}

/// A UDP datagram in an IPv6 packet, the UDP checksum set.
pub fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp(sport, dport, payload);
    let c = l4_checksum(&src, &dst, PROTO_UDP, &u);
    patch_u16(&mut u, 6, c);
    ipv6(src, dst, PROTO_UDP, &u)
}

/// A TCP segment (header and payload), checksummed for these addresses (4 or 16 bytes each).
pub fn tcp_segment(
    src: &[u8],
    dst: &[u8],
    sport: u16,
    dport: u16,
    t: &Tcp<'_>,
    payload: &[u8],
) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + t.options.len() + payload.len());
    tcp_header(&mut s, sport, dport, t);
    s.extend_from_slice(payload);
    let c = l4_checksum(src, dst, PROTO_TCP, &s);
    patch_u16(&mut s, 16, c);
    s
}

/// A TCP segment in an IPv4 packet, both checksums set.
pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    t: &Tcp<'_>,
    payload: &[u8],
) -> Vec<u8> {
    ipv4(
        src,
        dst,
        PROTO_TCP,
        &tcp_segment(&src, &dst, sport, dport, t, payload),
    )
}

/// An IPv4 packet (TTL 64, no options, identification 0, not fragmented), checksum set.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(src, dst, proto, (0, 0, false), payload)
}

/// An IPv4 packet; `frag` is (identification, byte offset (a multiple of 8), more fragments).
pub fn ipv4_frag(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    frag: (u16, u16, bool),
    payload: &[u8],
) -> Vec<u8> {
    let (id, offset, more) = frag;
    let mut p = Vec::with_capacity(IPV4_HLEN + payload.len());
    p.extend_from_slice(&[0x45, 0]);
    put_u16(&mut p, (IPV4_HLEN + payload.len()) as u16);
    put_u16(&mut p, id);
    put_u16(&mut p, (offset / 8) | if more { 0x2000 } else { 0 });
    p.extend_from_slice(&[TTL, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = checksum(&p);
    patch_u16(&mut p, 10, c);
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet (hop limit 64) whose next header is `next`.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_frag(src, dst, next, None, payload)
}

/// An IPv6 packet; with `frag` = Some((identification, byte offset, more fragments)) a
/// Fragment header carrying `proto` comes first.
pub fn ipv6_frag(
    src: [u8; 16],
    dst: [u8; 16],
    proto: u8,
    frag: Option<(u32, u16, bool)>,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + payload.len());
    let next = match frag {
        Some((id, off, more)) => {
            body.extend_from_slice(&[proto, 0]);
            put_u16(&mut body, off | u16::from(more));
            put_u32(&mut body, id);
            PROTO_IPV6_FRAGMENT
        }
        None => proto,
    };
    body.extend_from_slice(payload);
    let mut out = vec![0x60, 0, 0, 0];
    put_u16(&mut out, body.len() as u16);
    out.extend_from_slice(&[next, TTL]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(&body);
    out
}

/// `payload` cut into fragments of `size` bytes (a multiple of 8): (offset, more, piece).
pub fn pieces(payload: &[u8], size: usize) -> Vec<(u16, bool, Vec<u8>)> {
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, c)| {
            (
                (i * size) as u16,
                (i + 1) * size < payload.len(),
                c.to_vec(),
            )
        })
        .collect()
}

/// An Ethernet/IPv4/UDP frame, checksums set.
pub fn eth_ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(ETHERTYPE_IPV4, &udp4(src, dst, sport, dport, payload))
}

/// An Ethernet/IPv4/TCP frame, checksums set.
pub fn eth_ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    t: &Tcp<'_>,
    payload: &[u8],
) -> Vec<u8> {
    eth(ETHERTYPE_IPV4, &tcp4(src, dst, sport, dport, t, payload))
}

/// An Ethernet/IPv4 frame with UDP or TCP (`proto` [`PROTO_UDP`] or [`PROTO_TCP`]; TCP with
/// sequence number 1, no flags, window 65535).
pub fn eth_ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    match proto {
        PROTO_UDP => eth_ipv4_udp(src, dst, sport, dport, payload),
        PROTO_TCP => {
            let t = Tcp::flags(1, "");
            eth_ipv4_tcp(src, dst, sport, dport, &t, payload)
        }
        other => panic!("eth_ipv4: protocol {other} is neither UDP nor TCP"),
    }
}

// ---------------------------------------------------------------------------------------------
// Frames in a reused buffer (the replay bench)

/// An IP address in wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Addr {
    pub fn is_v6(self) -> bool {
        matches!(self, Addr::V6(_))
    }
}

/// Addresses and per-packet IP fields of one frame.
pub struct Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Addr,
    pub dst: Addr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// IPv4 identification; unused for IPv6.
    pub ip_id: u16,
    /// IPv6 flow label (20 bits); unused for IPv4.
    pub flow_label: u32,
}

/// Start a frame in `buf`: Ethernet II and the IP header (IPv4 with don't-fragment set), with
/// lengths and checksums left for [`finish`].
pub fn begin(buf: &mut Vec<u8>, e: &Endpoints, proto: u8) {
    buf.clear();
    buf.extend_from_slice(&e.dst_mac);
    buf.extend_from_slice(&e.src_mac);
    match (e.src, e.dst) {
        (Addr::V4(src), Addr::V4(dst)) => {
            put_u16(buf, ETHERTYPE_IPV4);
            buf.extend_from_slice(&[0x45, 0x00, 0, 0]);
            put_u16(buf, e.ip_id);
            // Flags: don't fragment, as every TCP stack with path-MTU discovery sets.
            buf.extend_from_slice(&[0x40, 0x00, e.ttl, proto, 0, 0]);
            buf.extend_from_slice(&src);
            buf.extend_from_slice(&dst);
        }
        (Addr::V6(src), Addr::V6(dst)) => {
            put_u16(buf, ETHERTYPE_IPV6);
            put_u32(buf, (6 << 28) | (e.flow_label & 0x000f_ffff));
            buf.extend_from_slice(&[0, 0, proto, e.ttl]);
            buf.extend_from_slice(&src);
            buf.extend_from_slice(&dst);
        }
        _ => panic!("mixed address families in one frame"),
    }
}

/// Append a UDP header; length and checksum are set by [`finish`].
pub fn udp_header(buf: &mut Vec<u8>, sport: u16, dport: u16) {
    put_u16(buf, sport);
    put_u16(buf, dport);
    buf.extend_from_slice(&[0, 0, 0, 0]);
}

/// Append a TCP header with a zero checksum ([`finish`] or [`tcp_segment`] sets it).
pub fn tcp_header(buf: &mut Vec<u8>, sport: u16, dport: u16, t: &Tcp<'_>) {
    debug_assert_eq!(t.options.len() % 4, 0);
    put_u16(buf, sport);
    put_u16(buf, dport);
    put_u32(buf, t.seq);
    put_u32(buf, t.ack);
    let words = ((20 + t.options.len()) / 4) as u8;
    buf.extend_from_slice(&[words << 4, t.flags]);
    put_u16(buf, t.window);
    buf.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    buf.extend_from_slice(t.options);
}

/// Complete the frame begun by [`begin`]: IP length fields, the IPv4 header checksum, the UDP
/// length, the UDP or TCP checksum, and zero padding to the 60-byte Ethernet minimum, as a NIC
/// adds.
pub fn finish(buf: &mut Vec<u8>) {
    let v6 = buf[ETH_HLEN] >> 4 == 6;
    let l4 = ETH_HLEN + if v6 { IPV6_HLEN } else { IPV4_HLEN };
    let l4_len = buf.len() - l4;
    let (proto, addrs) = if v6 {
        patch_u16(buf, ETH_HLEN + 4, l4_len as u16);
        (buf[ETH_HLEN + 6], ETH_HLEN + 8..l4)
    } else {
        let total = (buf.len() - ETH_HLEN) as u16;
        patch_u16(buf, ETH_HLEN + 2, total);
        let csum = checksum(&buf[ETH_HLEN..l4]);
        patch_u16(buf, ETH_HLEN + 10, csum);
        (buf[ETH_HLEN + 9], ETH_HLEN + 12..l4)
    };
    let csum_at = if proto == PROTO_UDP {
        patch_u16(buf, l4 + 4, l4_len as u16);
        l4 + 6
    } else {
        l4 + 16
    };
    let half = (addrs.end - addrs.start) / 2;
    let (src, dst) = buf[addrs].split_at(half);
    let csum = l4_checksum(src, dst, proto, &buf[l4..]);
    patch_u16(buf, csum_at, csum);
    if buf.len() < ETH_MIN_FRAME {
        buf.resize(ETH_MIN_FRAME, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// pcap files

/// The header of a classic pcap file: little-endian, microsecond timestamps, `link` frames,
/// snapshot length [`PCAP_SNAPLEN`].
pub fn pcap_header(link: u32) -> Vec<u8> {
    pcap_header_snaplen(link, PCAP_SNAPLEN)
}

/// [`pcap_header`] with another snapshot length.
pub fn pcap_header_snaplen(link: u32, snaplen: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    h
}

/// The 16-byte record header of a whole frame of `len` bytes captured at `ts_us` (µs).
fn pcap_record_header(ts_us: u64, len: usize) -> [u8; 16] {
    let mut hdr = [0u8; 16];
    hdr[0..4].copy_from_slice(&((ts_us / MICROS_PER_SEC) as u32).to_le_bytes());
    hdr[4..8].copy_from_slice(&((ts_us % MICROS_PER_SEC) as u32).to_le_bytes());
    hdr[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    hdr[12..16].copy_from_slice(&(len as u32).to_le_bytes());
    hdr
}

/// One record of such a file: `frame` captured whole at `ts_us` (µs since the epoch).
pub fn pcap_record(ts_us: u64, frame: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(16 + frame.len());
    r.extend_from_slice(&pcap_record_header(ts_us, frame.len()));
    r.extend_from_slice(frame);
    r
}

/// Write a classic pcap file of `link` frames given as (µs timestamp, frame). Panics on I/O
/// errors (a test's setup).
pub fn write_pcap(path: &Path, link: u32, frames: &[(u64, Vec<u8>)]) {
    let mut f = BufWriter::new(File::create(path).expect("create pcap"));
    f.write_all(&pcap_header(link)).expect("write pcap");
    for (ts_us, data) in frames {
        f.write_all(&pcap_record(*ts_us, data)).expect("write pcap");
    }
    f.flush().expect("write pcap");
}

/// A classic pcap file of Ethernet frames written through a large buffer, for many frames.
pub struct PcapWriter {
    w: BufWriter<File>,
}

impl PcapWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
        w.write_all(&pcap_header_snaplen(LINKTYPE_ETHERNET, PCAP_MAX_SNAPLEN))?;
        Ok(PcapWriter { w })
    }

    /// Append `frame` captured at `ts_ns` (nanoseconds; the file keeps microseconds).
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let ts_us =
            ts_ns / NANOS_PER_SEC * MICROS_PER_SEC + ts_ns % NANOS_PER_SEC / NANOS_PER_MICRO;
        self.w.write_all(&pcap_record_header(ts_us, frame.len()))?;
        self.w.write_all(frame)
    }

    pub fn finish(self) -> io::Result<()> {
        self.w.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}
