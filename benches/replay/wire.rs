//! Wire formats written by hand for the synthetic capture: the pcap file format, Ethernet II,
//! IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768), TCP (RFC 9293), DNS messages (RFC 1035 §4.1)
//! and the TLS 1.3 records a client and server open a connection with (RFC 8446 §4.1).
//!
//! Every builder appends to a caller-owned `Vec<u8>` so the generator reuses one buffer per
//! frame; none of them allocates.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

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

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
/// Shortest Ethernet frame without the FCS (IEEE 802.3 §3.2.8: 64 bytes with FCS); shorter
/// frames are padded with zeros after the IP packet, as a NIC does.
const ETH_MIN_FRAME: usize = 60;
/// pcap record headers store microseconds; the generator's clock runs in nanoseconds.
const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Snapshot length written into the pcap global header (libpcap's default, `MAXIMUM_SNAPLEN`).
const PCAP_SNAPLEN: u32 = 262_144;
const LINKTYPE_ETHERNET: u32 = 1;

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

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Start a frame: Ethernet II and the IP header, with lengths and checksum left for [`finish`].
pub fn begin(buf: &mut Vec<u8>, e: &Endpoints, proto: u8) {
    buf.clear();
    buf.extend_from_slice(&e.dst_mac);
    buf.extend_from_slice(&e.src_mac);
    match (e.src, e.dst) {
        (Addr::V4(src), Addr::V4(dst)) => {
            put_u16(buf, 0x0800);
            // Version 4, IHL 5 (no options), DSCP/ECN 0, total length later.
            buf.extend_from_slice(&[0x45, 0x00, 0, 0]);
            put_u16(buf, e.ip_id);
            // Flags: don't fragment, as every TCP stack with path-MTU discovery sets.
            buf.extend_from_slice(&[0x40, 0x00, e.ttl, proto, 0, 0]);
            buf.extend_from_slice(&src);
            buf.extend_from_slice(&dst);
        }
        (Addr::V6(src), Addr::V6(dst)) => {
            put_u16(buf, 0x86dd);
            // Version 6, traffic class 0, 20-bit flow label.
            put_u32(buf, (6 << 28) | (e.flow_label & 0x000f_ffff));
            buf.extend_from_slice(&[0, 0, proto, e.ttl]);
            buf.extend_from_slice(&src);
            buf.extend_from_slice(&dst);
        }
        _ => unreachable!("mixed address families in one frame"),
    }
}

/// Append a UDP header; length and checksum are set by [`finish`].
pub fn udp(buf: &mut Vec<u8>, sport: u16, dport: u16) {
    put_u16(buf, sport);
    put_u16(buf, dport);
    buf.extend_from_slice(&[0, 0, 0, 0]);
}

/// TCP header fields other than the ports.
pub struct TcpFields<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Already padded to a multiple of 4 bytes.
    pub options: &'a [u8],
}

/// Append a TCP header; the checksum is set by [`finish`].
pub fn tcp(buf: &mut Vec<u8>, sport: u16, dport: u16, t: &TcpFields<'_>) {
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

/// One's-complement sum (RFC 1071) of `data` as big-endian 16-bit words, not yet folded.
/// Summing 32-bit words is equivalent because 2^16 ≡ 1 (mod 2^16 − 1).
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

/// Complete the frame begun by [`begin`]: IP length fields, the IPv4 header checksum, the UDP
/// length, the UDP or TCP checksum over the pseudo-header, and padding to the Ethernet minimum.
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
        let csum = fold(sum_words(&buf[ETH_HLEN..l4]));
        patch_u16(buf, ETH_HLEN + 10, csum);
        (buf[ETH_HLEN + 9], ETH_HLEN + 12..l4)
    };
    let csum_at = if proto == PROTO_UDP {
        patch_u16(buf, l4 + 4, l4_len as u16);
        l4 + 6
    } else {
        l4 + 16
    };
    // Pseudo-header: RFC 768 / RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6.
    let pseudo = sum_words(&buf[addrs]) + u64::from(proto) + l4_len as u64;
    let mut csum = fold(pseudo + sum_words(&buf[l4..]));
    if proto == PROTO_UDP && csum == 0 {
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        csum = 0xffff;
    }
    patch_u16(buf, csum_at, csum);
    if buf.len() < ETH_MIN_FRAME {
        buf.resize(ETH_MIN_FRAME, 0);
    }
}

/// A classic pcap file (microsecond timestamps, little-endian), written through a large buffer.
pub struct PcapWriter {
    w: BufWriter<File>,
}

impl PcapWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?; // version 2.4
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&0i32.to_le_bytes())?; // thiszone
        w.write_all(&0u32.to_le_bytes())?; // sigfigs
        w.write_all(&PCAP_SNAPLEN.to_le_bytes())?;
        w.write_all(&LINKTYPE_ETHERNET.to_le_bytes())?;
        Ok(PcapWriter { w })
    }

    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let sec = (ts_ns / NANOS_PER_SEC) as u32;
        let usec = ((ts_ns % NANOS_PER_SEC) / NANOS_PER_MICRO) as u32;
        let len = frame.len() as u32;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&sec.to_le_bytes());
        hdr[4..8].copy_from_slice(&usec.to_le_bytes());
        hdr[8..12].copy_from_slice(&len.to_le_bytes());
        hdr[12..16].copy_from_slice(&len.to_le_bytes());
        self.w.write_all(&hdr)?;
        self.w.write_all(frame)
    }

    pub fn finish(self) -> io::Result<()> {
        self.w.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

// ---------------------------------------------------------------------------------------------
// DNS (RFC 1035 §4.1)

pub const QTYPE_A: u16 = 1;
pub const QTYPE_CNAME: u16 = 5;
pub const QTYPE_SOA: u16 = 6;
pub const QTYPE_AAAA: u16 = 28;
pub const QTYPE_HTTPS: u16 = 65;
const QTYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Offset of the question name in a message: right after the 12-byte header.
const QNAME_OFFSET: u16 = 12;
const COMPRESSION_POINTER: u16 = 0xc000;

/// Append `name` (dot-separated, no trailing dot, labels of 1..=63 bytes) in label form.
fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        debug_assert!((1..=63).contains(&label.len()));
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn dns_header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    put_u16(out, id);
    put_u16(out, flags);
    for c in counts {
        put_u16(out, c);
    }
}

/// EDNS(0) OPT pseudo-RR (RFC 6891 §6.1.2): 4096-byte UDP payload, no options.
fn dns_opt(out: &mut Vec<u8>) {
    out.push(0);
    put_u16(out, QTYPE_OPT);
    put_u16(out, 4096);
    put_u32(out, 0);
    put_u16(out, 0);
}

/// A recursive query (RD set) with one question.
pub fn dns_query(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16, edns: bool) {
    dns_header(out, id, 0x0100, [1, 0, 0, u16::from(edns)]);
    dns_name(out, name);
    put_u16(out, qtype);
    put_u16(out, CLASS_IN);
    if edns {
        dns_opt(out);
    }
}

/// What a response carries besides the echoed question.
pub struct DnsAnswer<'a> {
    /// RCODE (0 NOERROR, 3 NXDOMAIN).
    pub rcode: u8,
    pub ttl: u32,
    /// A CNAME for the question name; the addresses then belong to this target.
    pub cname: Option<&'a str>,
    pub v4: &'a [[u8; 4]],
    pub v6: &'a [[u8; 16]],
    /// Name of the zone's primary server for an SOA in the authority section (negative answers).
    pub soa_mname: Option<&'a str>,
}

/// A response from a recursive resolver (QR, RD, RA set) to [`dns_query`].
pub fn dns_response(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16, edns: bool, a: &DnsAnswer) {
    let start = out.len();
    let ancount = u16::from(a.cname.is_some()) + (a.v4.len() + a.v6.len()) as u16;
    let nscount = u16::from(a.soa_mname.is_some());
    let flags = 0x8180 | u16::from(a.rcode & 0x0f);
    dns_header(out, id, flags, [1, ancount, nscount, u16::from(edns)]);
    dns_name(out, name);
    put_u16(out, qtype);
    put_u16(out, CLASS_IN);
    // Every owner name is a backward compression pointer (RFC 1035 §4.1.4).
    let mut owner = COMPRESSION_POINTER | QNAME_OFFSET;
    let rr = |out: &mut Vec<u8>, owner: u16, rtype: u16, ttl: u32| {
        put_u16(out, owner);
        put_u16(out, rtype);
        put_u16(out, CLASS_IN);
        put_u32(out, ttl);
    };
    if let Some(target) = a.cname {
        rr(out, owner, QTYPE_CNAME, a.ttl);
        put_u16(out, (target.len() + 2) as u16);
        owner = COMPRESSION_POINTER | (out.len() - start) as u16;
        dns_name(out, target);
    }
    for v4 in a.v4 {
        rr(out, owner, QTYPE_A, a.ttl);
        put_u16(out, 4);
        out.extend_from_slice(v4);
    }
    for v6 in a.v6 {
        rr(out, owner, QTYPE_AAAA, a.ttl);
        put_u16(out, 16);
        out.extend_from_slice(v6);
    }
    if let Some(mname) = a.soa_mname {
        rr(out, COMPRESSION_POINTER | QNAME_OFFSET, QTYPE_SOA, a.ttl);
        let len_at = out.len();
        put_u16(out, 0);
        dns_name(out, mname);
        dns_name(out, "hostmaster.example.net");
        for v in [2_024_011_501u32, 7200, 3600, 1_209_600, 300] {
            put_u32(out, v);
        }
        let rdlen = (out.len() - len_at - 2) as u16;
        patch_u16(out, len_at, rdlen);
    }
    if edns {
        dns_opt(out);
    }
}

// ---------------------------------------------------------------------------------------------
// TLS 1.3 (RFC 8446)

pub const TLS_HANDSHAKE: u8 = 0x16;
pub const TLS_APPLICATION_DATA: u8 = 0x17;
/// Largest TLSCiphertext fragment: 2^14 plus the AEAD tag and inner content type
/// (RFC 8446 §5.2 allows up to 2^14 + 256; real stacks send 2^14 + 17).
pub const TLS_MAX_RECORD_BODY: usize = 16_384 + 17;
const TLS_RECORD_HLEN: usize = 5;

/// Random material for one hello, drawn by the caller.
pub struct HelloRandom {
    pub random: [u8; 32],
    pub session_id: [u8; 32],
    pub key_share: [u8; 32],
    /// GREASE values (RFC 8701), each of the form 0x?a?a.
    pub grease: [u16; 4],
}

fn ext_begin(out: &mut Vec<u8>, typ: u16) -> usize {
    put_u16(out, typ);
    let at = out.len();
    put_u16(out, 0);
    at
}

fn ext_end(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 2) as u16;
    patch_u16(out, at, len);
}

fn ext(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    put_u16(out, typ);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

/// How a ClientHello differs from the default TLS-over-TCP, X25519-only one.
#[derive(Clone, Copy, Default)]
pub struct HelloShape<'a> {
    /// A post-quantum X25519MLKEM768 key share (group 0x11ec; 1,216 bytes: an ML-KEM-768
    /// encapsulation key and an X25519 share; draft-ietf-tls-ecdhe-mlkem), sent before the
    /// plain X25519 share as Chrome and Firefox do. This makes the hello about 1.8 KB.
    pub mlkem_share: Option<&'a [u8]>,
    /// QUIC (RFC 9001 §4.1.3, §8.2): the bare handshake message without a record header, ALPN
    /// h3, these quic_transport_parameters (extension 0x39), and no padding extension (the
    /// Initial packet is padded instead).
    pub quic_params: Option<&'a [u8]>,
}

/// A TLS 1.3 ClientHello record shaped like a current browser's (GREASE, the usual extension
/// set, an X25519 key share), with a server_name extension for `sni` (RFC 6066 §3) and a padding
/// extension (RFC 7685) that brings the record to `target_len` bytes when it is shorter.
pub fn client_hello(
    out: &mut Vec<u8>,
    sni: &str,
    target_len: usize,
    r: &HelloRandom,
    shape: HelloShape<'_>,
) {
    let start = out.len();
    let quic = shape.quic_params.is_some();
    // Where the handshake message starts: after the record header, which QUIC does not have.
    let hs = if quic { 0 } else { TLS_RECORD_HLEN };
    if !quic {
        out.extend_from_slice(&[TLS_HANDSHAKE, 0x03, 0x01, 0, 0]);
    }
    out.extend_from_slice(&[0x01, 0, 0, 0]); // handshake type client_hello, length later
    out.extend_from_slice(&[0x03, 0x03]); // legacy_version TLS 1.2
    out.extend_from_slice(&r.random);
    out.push(32);
    out.extend_from_slice(&r.session_id);
    let suites = [
        r.grease[0],
        0x1301,
        0x1302,
        0x1303,
        0xc02b,
        0xc02f,
        0xc02c,
        0xc030,
        0xcca9,
        0xcca8,
        0xc013,
        0xc014,
        0x009c,
        0x009d,
        0x002f,
        0x0035,
    ];
    put_u16(out, (suites.len() * 2) as u16);
    for s in suites {
        put_u16(out, s);
    }
    out.extend_from_slice(&[1, 0]); // compression methods: null
    let exts = out.len();
    put_u16(out, 0);

    ext(out, r.grease[1], &[]);
    let at = ext_begin(out, 0x0000); // server_name
    put_u16(out, (sni.len() + 3) as u16);
    out.push(0); // host_name
    put_u16(out, sni.len() as u16);
    out.extend_from_slice(sni.as_bytes());
    ext_end(out, at);
    ext(out, 0x0017, &[]); // extended_master_secret
    ext(out, 0xff01, &[0]); // renegotiation_info
    let g = r.grease[2].to_be_bytes();
    if shape.mlkem_share.is_some() {
        ext(
            out,
            0x000a,
            &[
                0, 10, g[0], g[1], 0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
            ],
        ); // supported_groups with X25519MLKEM768 first
    } else {
        ext(
            out,
            0x000a,
            &[0, 8, g[0], g[1], 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18],
        ); // supported_groups
    }
    ext(out, 0x000b, &[1, 0]); // ec_point_formats
    ext(out, 0x0023, &[]); // session_ticket
    if quic {
        ext(out, 0x0010, &[0, 3, 2, b'h', b'3']); // ALPN: h3
    } else {
        ext(
            out,
            0x0010, // ALPN: h2, http/1.1
            &[
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        );
    }
    ext(out, 0x0005, &[1, 0, 0, 0, 0]); // status_request
    ext(
        out,
        0x000d, // signature_algorithms
        &[
            0, 16, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08,
            0x06, 0x06, 0x01,
        ],
    );
    ext(out, 0x0012, &[]); // signed_certificate_timestamp
    let at = ext_begin(out, 0x0033); // key_share
    let shares_at = out.len();
    put_u16(out, 0); // client_shares: a GREASE entry, [X25519MLKEM768,] X25519
    put_u16(out, r.grease[2]);
    put_u16(out, 1);
    out.push(0);
    if let Some(share) = shape.mlkem_share {
        put_u16(out, 0x11ec);
        put_u16(out, share.len() as u16);
        out.extend_from_slice(share);
    }
    put_u16(out, 0x001d); // x25519
    put_u16(out, 32);
    out.extend_from_slice(&r.key_share);
    ext_end(out, shares_at);
    ext_end(out, at);
    ext(out, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
    let v = r.grease[3].to_be_bytes();
    ext(out, 0x002b, &[6, v[0], v[1], 0x03, 0x04, 0x03, 0x03]); // supported_versions
    ext(out, 0x001b, &[2, 0, 2]); // compress_certificate: brotli
    ext(out, 0x4469, &[0, 3, 2, b'h', b'2']); // application_settings
    if let Some(params) = shape.quic_params {
        ext(out, 0x0039, params); // quic_transport_parameters (RFC 9001 §8.2)
    }
    ext(out, r.grease[3], &[0]);
    let len = out.len() - start;
    if !quic && len + 4 < target_len {
        let pad = target_len - len - 4;
        put_u16(out, 0x0015);
        put_u16(out, pad as u16);
        out.resize(out.len() + pad, 0);
    }

    let total = out.len() - start;
    let exts_len = (out.len() - exts - 2) as u16;
    patch_u16(out, exts, exts_len);
    let hs_len = (total - hs - 4) as u32;
    out[start + hs + 1..start + hs + 4].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    if !quic {
        patch_u16(out, start + 3, (total - TLS_RECORD_HLEN) as u16);
    }
}

/// The server's first records: ServerHello choosing TLS 1.3 and X25519, then the
/// middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4). What follows is encrypted.
pub fn server_hello(out: &mut Vec<u8>, r: &HelloRandom) {
    let start = out.len();
    out.extend_from_slice(&[TLS_HANDSHAKE, 0x03, 0x03, 0, 0]);
    out.extend_from_slice(&[0x02, 0, 0, 0]);
    out.extend_from_slice(&[0x03, 0x03]);
    out.extend_from_slice(&r.random);
    out.push(32);
    out.extend_from_slice(&r.session_id);
    put_u16(out, 0x1301);
    out.push(0);
    put_u16(out, 6 + 40);
    ext(out, 0x002b, &[0x03, 0x04]);
    let at = ext_begin(out, 0x0033);
    put_u16(out, 0x001d);
    put_u16(out, 32);
    out.extend_from_slice(&r.key_share);
    ext_end(out, at);
    let total = out.len() - start;
    let hs_len = (total - TLS_RECORD_HLEN - 4) as u32;
    out[start + 6..start + 9].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    patch_u16(out, start + 3, (total - TLS_RECORD_HLEN) as u16);
    change_cipher_spec(out);
}

/// The one-byte ChangeCipherSpec record both sides send in compatibility mode.
pub fn change_cipher_spec(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
}

/// The 5-byte header of an application_data record with a body of `len` bytes.
pub fn record_header(len: usize) -> [u8; 5] {
    let l = (len as u16).to_be_bytes();
    [TLS_APPLICATION_DATA, 0x03, 0x03, l[0], l[1]]
}
