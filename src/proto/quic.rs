//! QUIC Initial packets: the ClientHello a client sends in its first flight and the ServerHello
//! of the server's answer (RFC 9000 §17.2.2, RFC 9001 §5, RFC 9369 §3).
//!
//! Initial packets are encrypted, but with keys derived from nothing secret: a fixed per-version
//! salt and the Destination Connection ID the client chose for its first Initial
//! (RFC 9001 §5.2). So an observer can derive the client's keys, remove header protection
//! (§5.4), decrypt the payload with AES-128-GCM (§5.3), walk the frames (RFC 9000 §19) and
//! collect the CRYPTO frames that carry the TLS ClientHello (RFC 9001 §4.1.3). The server's
//! Initials are protected with keys from the same DCID and the label "server in"
//! ([`InitialKeys::server`]); their CRYPTO frames carry its ServerHello. This module
//! does exactly that, one packet at a time, as pure functions; reassembling CRYPTO data across
//! packets is the connection tracker's job (`track::quic`), which this module knows nothing of.
//!
//! Versions: QUIC v1 (RFC 9000), v2 (RFC 9369: other salt, labels and long-header type bits),
//! IETF drafts 23 to 32 (two salts) and Facebook mvfst's draft-27 variants (0xfaceb002,
//! 0xfaceb00e, which use the draft-23 salt). Drafts before 23 used other salts and framing and
//! are not decoded.
//!
//! Every length is checked before it is read; every loop consumes input or is bounded by a
//! named limit; errors are a small `Copy` enum. No input can make these functions panic.

use aes::cipher::array::Array;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

/// Longest connection ID in QUIC v1 and v2: "In QUIC version 1, this value MUST NOT exceed 20
/// bytes" (RFC 9000 §17.2; RFC 9369 keeps the v1 header). Versions we do not know may allow
/// up to 255 (RFC 8999 §5.1) but are not decoded.
pub const MAX_CID_LEN: usize = 20;

/// Most long-header packets walked in one UDP datagram. A sender coalesces at most one packet
/// per encryption level in practice (Initial, 0-RTT, Handshake, then a short-header 1-RTT
/// packet; RFC 9000 §12.2); twice that leaves room for odd senders and bounds the walk.
pub const MAX_COALESCED_PACKETS: usize = 8;

/// Most CRYPTO fragments returned for one packet. Clients that scatter their ClientHello
/// (Chrome's "chaos protection" cuts it into a handful of out-of-order CRYPTO frames between
/// PING and PADDING frames) use well under 32 per packet; a 1500-byte packet could hold about
/// 500 minimal ones, which no client sends.
pub const MAX_CRYPTO_FRAGMENTS: usize = 64;

/// AEAD tag length of AEAD_AES_128_GCM (RFC 5116 §5.1), used for Initial packets (RFC 9001 §5).
const TAG_LEN: usize = 16;

/// Header protection samples 16 bytes starting 4 bytes after the start of the Packet Number
/// field, as if it were 4 bytes long (RFC 9001 §5.4.2).
const HP_SAMPLE_OFFSET: usize = 4;
const HP_SAMPLE_LEN: usize = 16;

/// Header form bit (long header) and fixed bit (RFC 9000 §17.2).
const HEADER_FORM_LONG: u8 = 0x80;
const FIXED_BIT: u8 = 0x40;

/// Largest value of a variable-length integer (RFC 9000 §16), and so of a CRYPTO offset plus
/// length (RFC 9000 §19.6).
const MAX_VARINT: u64 = (1 << 62) - 1;

/// Frame types that may appear in a client Initial packet (RFC 9000 §12.4, Table 3).
const FRAME_PADDING: u64 = 0x00;
const FRAME_PING: u64 = 0x01;
const FRAME_ACK: u64 = 0x02;
const FRAME_ACK_ECN: u64 = 0x03;
const FRAME_CRYPTO: u64 = 0x06;
const FRAME_CONNECTION_CLOSE: u64 = 0x1c;
const FRAME_CONNECTION_CLOSE_APP: u64 = 0x1d;

/// Why a packet yielded no CRYPTO data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicError {
    /// Not a long-header packet with the fixed bit set (a short header, padding after the last
    /// coalesced packet, or not QUIC at all).
    NotLongHeader,
    /// A long header whose version is not one this module decodes (version negotiation
    /// included).
    UnknownVersion,
    /// A connection ID length over [`MAX_CID_LEN`].
    CidTooLong,
    /// The bytes end before a length field says they do.
    Truncated,
    /// A length contradicts the packet: too short to carry a packet number, the header
    /// protection sample and an AEAD tag.
    Malformed,
    /// The AEAD tag did not verify: keys for another Destination Connection ID (a server's
    /// Initial, or a client's after it switched to the server's connection ID), or damage.
    Decrypt,
    /// A frame type that is not allowed in Initial packets, or a frame that runs past the
    /// payload. Frames before it have been returned.
    BadFrame,
    /// More than [`MAX_CRYPTO_FRAGMENTS`] CRYPTO frames in one packet; the first ones have been
    /// returned.
    TooManyFragments,
}

/// The Initial protection a version uses: its salt, labels and type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// QUIC version 1 (RFC 9000, RFC 9001).
    V1,
    /// QUIC version 2 (RFC 9369).
    V2,
    /// IETF drafts 29 to 32.
    Draft29,
    /// IETF drafts 23 to 28, and mvfst's draft-27 variants.
    Draft23,
}

/// initial_salt of QUIC v1 (RFC 9001 §5.2).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// initial_salt of QUIC v2 (RFC 9369 §3.3.1).
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// initial_salt of draft-ietf-quic-tls-29 §5.2 (unchanged through draft 32).
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// initial_salt of draft-ietf-quic-tls-23 §5.2 (unchanged through draft 28).
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];

impl Version {
    /// The protection used by the version number on the wire, if this module knows it.
    pub fn from_wire(version: u32) -> Option<Version> {
        match version {
            0x0000_0001 => Some(Version::V1),
            0x6b33_43cf => Some(Version::V2),
            // draft-29 .. draft-32 (0xff0000NN, NN the draft number).
            0xff00_001d..=0xff00_0020 => Some(Version::Draft29),
            // draft-23 .. draft-28.
            0xff00_0017..=0xff00_001c => Some(Version::Draft23),
            // mvfst "draft-27" versions, as Wireshark's quic_draft_version() maps them.
            0xface_b002 | 0xface_b00e => Some(Version::Draft23),
            _ => None,
        }
    }

    fn salt(self) -> &'static [u8; 20] {
        match self {
            Version::V1 => &SALT_V1,
            Version::V2 => &SALT_V2,
            Version::Draft29 => &SALT_DRAFT29,
            Version::Draft23 => &SALT_DRAFT23,
        }
    }

    /// HKDF-Expand-Label labels for key, iv and hp (RFC 9001 §5.1; RFC 9369 §3.3.2).
    fn labels(self) -> [&'static [u8]; 3] {
        match self {
            Version::V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
            _ => [b"quic key", b"quic iv", b"quic hp"],
        }
    }

    /// The packet type in bits 4-5 of a long header's first byte (RFC 9000 §17.2, Table 5;
    /// RFC 9369 §3.2 permutes them).
    fn packet_type(self, bits: u8) -> PacketType {
        let bits = bits & 0b11;
        if self == Version::V2 {
            match bits {
                0b01 => PacketType::Initial,
                0b10 => PacketType::ZeroRtt,
                0b11 => PacketType::Handshake,
                _ => PacketType::Retry,
            }
        } else {
            match bits {
                0b00 => PacketType::Initial,
                0b01 => PacketType::ZeroRtt,
                0b10 => PacketType::Handshake,
                _ => PacketType::Retry,
            }
        }
    }
}

/// Long-header packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// A long header, read but not yet unprotected: the first byte's low bits and the packet
/// number are still masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// The version number on the wire.
    pub version: u32,
    pub protection: Version,
    pub packet_type: PacketType,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Offset of the Packet Number field from the start of the packet (Initial, 0-RTT,
    /// Handshake); for Retry, the end of the source connection ID.
    pub pn_offset: usize,
    /// Length of the whole packet, header included; the next coalesced packet starts here.
    /// A Retry packet has no Length field and takes the rest of the datagram.
    pub packet_len: usize,
}

/// Whether `version` is one of the reserved versions of the form `0x?a?a?a?a` (RFC 9000 §15)
/// that clients send to force version negotiation ("greasing").
#[inline]
pub fn is_greased(version: u32) -> bool {
    version & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// The protections a client Initial with a greased version is tried with, in order: a client
/// protects it with the keys of a version it speaks (RFC 9000 §6.3 leaves the choice open;
/// aioquic, for one, uses v1's salt for any version but v2), so each packet costs at most these
/// three key derivations and decryptions ([`MAX_GREASE_TRIALS`]).
pub const GREASE_TRIALS: [Version; 3] = [Version::V1, Version::Draft29, Version::V2];

/// Most protections tried on one greased Initial: [`GREASE_TRIALS`].
pub const MAX_GREASE_TRIALS: usize = GREASE_TRIALS.len();

/// Cheap content check for the worker's hot path: a long header with the fixed bit and a
/// version this module decodes, or a greased one. Looks at 5 bytes.
pub fn is_long_header(data: &[u8]) -> bool {
    match *data {
        [b0, v0, v1, v2, v3, ..] => {
            let version = u32::from_be_bytes([v0, v1, v2, v3]);
            b0 & (HEADER_FORM_LONG | FIXED_BIT) == HEADER_FORM_LONG | FIXED_BIT
                && (Version::from_wire(version).is_some() || is_greased(version))
        }
        _ => false,
    }
}

/// Read a variable-length integer (RFC 9000 §16) at `*pos`, advancing it.
fn varint(data: &[u8], pos: &mut usize) -> Result<u64, QuicError> {
    let first = *data.get(*pos).ok_or(QuicError::Truncated)?;
    let len = 1usize << (first >> 6);
    let bytes = data
        .get(*pos..pos.saturating_add(len))
        .ok_or(QuicError::Truncated)?;
    let mut v = u64::from(first & 0x3f);
    for &b in &bytes[1..] {
        v = (v << 8) | u64::from(b);
    }
    *pos += len;
    Ok(v)
}

/// A length-prefixed connection ID at `*pos` (RFC 9000 §17.2).
fn cid<'a>(data: &'a [u8], pos: &mut usize) -> Result<&'a [u8], QuicError> {
    let len = usize::from(*data.get(*pos).ok_or(QuicError::Truncated)?);
    if len > MAX_CID_LEN {
        return Err(QuicError::CidTooLong);
    }
    let start = *pos + 1;
    let id = data.get(start..start + len).ok_or(QuicError::Truncated)?;
    *pos = start + len;
    Ok(id)
}

/// Read the long header at the start of `data` (a datagram, or what follows the previous
/// coalesced packet) (RFC 9000 §17.2, §17.2.2 for Initial, §17.2.5 for Retry).
pub fn parse_long_header(data: &[u8]) -> Result<LongHeader<'_>, QuicError> {
    parse_long_header_with(data, None)
}

/// [`parse_long_header`], reading the packet as protected by `protection` whatever its
/// version says: for a greased version ([`is_greased`]), tried with each of
/// [`GREASE_TRIALS`]; the header's [`LongHeader::version`] stays the one on the wire.
pub fn parse_long_header_as(data: &[u8], protection: Version) -> Result<LongHeader<'_>, QuicError> {
    parse_long_header_with(data, Some(protection))
}

fn parse_long_header_with(
    data: &[u8],
    forced: Option<Version>,
) -> Result<LongHeader<'_>, QuicError> {
    let b0 = *data.first().ok_or(QuicError::NotLongHeader)?;
    if b0 & (HEADER_FORM_LONG | FIXED_BIT) != HEADER_FORM_LONG | FIXED_BIT {
        return Err(QuicError::NotLongHeader);
    }
    let version = match *data {
        [_, a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
        _ => return Err(QuicError::Truncated),
    };
    let protection = forced
        .or_else(|| Version::from_wire(version))
        .ok_or(QuicError::UnknownVersion)?;
    let packet_type = protection.packet_type(b0 >> 4);
    let mut pos = 5;
    let dcid = cid(data, &mut pos)?;
    let scid = cid(data, &mut pos)?;
    if packet_type == PacketType::Retry {
        return Ok(LongHeader {
            version,
            protection,
            packet_type,
            dcid,
            scid,
            pn_offset: pos,
            packet_len: data.len(),
        });
    }
    if packet_type == PacketType::Initial {
        let token_len = varint(data, &mut pos)?;
        let token_len = usize::try_from(token_len).map_err(|_| QuicError::Truncated)?;
        pos = pos
            .checked_add(token_len)
            .filter(|&p| p <= data.len())
            .ok_or(QuicError::Truncated)?;
    }
    let length = varint(data, &mut pos)?;
    let length = usize::try_from(length).map_err(|_| QuicError::Truncated)?;
    let packet_len = pos
        .checked_add(length)
        .filter(|&end| end <= data.len())
        .ok_or(QuicError::Truncated)?;
    Ok(LongHeader {
        version,
        protection,
        packet_type,
        dcid,
        scid,
        pn_offset: pos,
        packet_len,
    })
}

/// The raw Initial secrets of one side for a version and Destination Connection ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMaterial {
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1, as used by RFC 9001 §5.1).
/// The output lengths used here (at most 32) are far below HKDF's limit of 255 * 32 bytes, so
/// expansion cannot fail; were it to, the all-zero output would fail every tag check.
fn expand_label<const N: usize>(hk: &Hkdf<Sha256>, label: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let len = (N as u16).to_be_bytes();
    // "tls13 " plus labels of at most 10 bytes: fits a u8.
    let label_len = [(6 + label.len()) as u8];
    let _ = hk.expand_multi_info(&[&len, &label_len, b"tls13 ", label, &[0]], &mut out);
    out
}

/// The client's Initial key, IV and header-protection key (RFC 9001 §5.2, Appendix A.1;
/// RFC 9369 §3.3).
pub fn client_key_material(version: Version, dcid: &[u8]) -> KeyMaterial {
    key_material(version, dcid, b"client in")
}

/// The server's Initial key, IV and header-protection key: derived from the same Destination
/// Connection ID of the client's first Initial, with the label "server in" (RFC 9001 §5.2,
/// Appendix A.1; RFC 9369 §3.3 keeps the label and changes the salt and the key labels).
pub fn server_key_material(version: Version, dcid: &[u8]) -> KeyMaterial {
    key_material(version, dcid, b"server in")
}

fn key_material(version: Version, dcid: &[u8], side: &[u8]) -> KeyMaterial {
    let initial = Hkdf::<Sha256>::new(Some(version.salt()), dcid);
    let secret: [u8; 32] = expand_label(&initial, side);
    // A 32-byte PRK is exactly SHA-256's output length, which from_prk accepts.
    let hk =
        Hkdf::<Sha256>::from_prk(&secret).unwrap_or_else(|_| Hkdf::<Sha256>::new(None, &secret));
    let [key, iv, hp] = version.labels();
    KeyMaterial {
        key: expand_label(&hk, key),
        iv: expand_label(&hk, iv),
        hp: expand_label(&hk, hp),
    }
}

/// Ready-to-use client Initial ciphers for one Destination Connection ID.
#[derive(Clone)]
pub struct InitialKeys {
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitialKeys")
    }
}

impl InitialKeys {
    pub fn client(version: Version, dcid: &[u8]) -> Self {
        Self::from_material(&client_key_material(version, dcid))
    }

    /// The server's Initial keys for the client's original Destination Connection ID.
    pub fn server(version: Version, dcid: &[u8]) -> Self {
        Self::from_material(&server_key_material(version, dcid))
    }

    pub fn from_material(m: &KeyMaterial) -> Self {
        InitialKeys {
            aead: Aes128Gcm::new(&Array::from(m.key)),
            hp: Aes128::new(&Array::from(m.hp)),
            iv: m.iv,
        }
    }

    /// The header-protection mask for a sample (RFC 9001 §5.4.3).
    fn mask(&self, sample: [u8; HP_SAMPLE_LEN]) -> [u8; HP_SAMPLE_LEN] {
        let mut block = Array::from(sample);
        self.hp.encrypt_block(&mut block);
        block.into()
    }

    /// The AEAD nonce: the IV XORed with the packet number (RFC 9001 §5.3).
    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }
}

/// A decrypted packet: its packet number and where the plaintext frames lie in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decrypted {
    pub packet_number: u64,
    /// Start and end of the plaintext payload in the packet buffer.
    pub payload: (usize, usize),
}

/// Remove header protection from and decrypt one long-header packet in place (RFC 9001 §5.4,
/// §5.3). `packet` holds exactly the packet (`header.packet_len` bytes); `pn_offset` is
/// [`LongHeader::pn_offset`]. On success the payload range holds the plaintext frames; on
/// failure the buffer is scrambled and must be copied afresh before another try.
///
/// The packet number is taken as sent, without reconstruction against a largest acknowledged
/// one (RFC 9000 §A.3): a client's Initial packet numbers start at 0 and stay far below what
/// even a 1-byte encoding would wrap.
pub fn decrypt(
    packet: &mut [u8],
    pn_offset: usize,
    keys: &InitialKeys,
) -> Result<Decrypted, QuicError> {
    let sample_start = pn_offset + HP_SAMPLE_OFFSET;
    let sample: [u8; HP_SAMPLE_LEN] = packet
        .get(sample_start..sample_start + HP_SAMPLE_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(QuicError::Malformed)?;
    let mask = keys.mask(sample);
    let Some(first) = packet.first_mut() else {
        return Err(QuicError::Malformed);
    };
    // Long header: the low 4 bits (reserved bits and packet number length) are protected.
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut pn = 0u64;
    // pn_offset + 4 + 16 <= packet.len(), checked by the sample read.
    for (i, m) in mask[1..=pn_len].iter().enumerate() {
        let b = &mut packet[pn_offset + i];
        *b ^= m;
        pn = (pn << 8) | u64::from(*b);
    }
    let start = pn_offset + pn_len;
    let end = packet.len() - TAG_LEN;
    if end < start {
        return Err(QuicError::Malformed);
    }
    let (header, rest) = packet.split_at_mut(start);
    let (ciphertext, tag) = rest.split_at_mut(end - start);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| QuicError::Malformed)?;
    keys.aead
        .decrypt_inout_detached(
            &Array::from(keys.nonce(pn)),
            header,
            ciphertext.into(),
            &Array::from(tag),
        )
        .map_err(|_| QuicError::Decrypt)?;
    Ok(Decrypted {
        packet_number: pn,
        payload: (start, end),
    })
}

/// One CRYPTO frame's data: bytes of the Initial crypto stream starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoFragment<'a> {
    pub offset: u64,
    pub data: &'a [u8],
}

/// Walk the frames of a decrypted Initial payload (RFC 9000 §19) and append the CRYPTO frames'
/// data to `out`, in packet order. PADDING, PING, ACK and CONNECTION_CLOSE are skipped; any
/// other frame type is not allowed in an Initial packet (RFC 9000 §12.4) and ends the walk with
/// [`QuicError::BadFrame`], keeping what came before, as does a frame that runs past the end.
pub fn crypto_frames<'a>(
    payload: &'a [u8],
    out: &mut Vec<CryptoFragment<'a>>,
) -> Result<(), QuicError> {
    let mut pos = 0;
    let mut found = 0;
    let bad = |_| QuicError::BadFrame;
    while pos < payload.len() {
        let typ = varint(payload, &mut pos).map_err(bad)?;
        match typ {
            FRAME_PADDING | FRAME_PING => {}
            FRAME_ACK | FRAME_ACK_ECN => {
                // Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range.
                for _ in 0..2 {
                    varint(payload, &mut pos).map_err(bad)?;
                }
                let ranges = varint(payload, &mut pos).map_err(bad)?;
                varint(payload, &mut pos).map_err(bad)?;
                // Each range is a Gap and a Length of at least one byte each: a count the
                // payload cannot hold fails on the bytes, so this loop ends by the payload.
                let mut left = ranges;
                while left > 0 {
                    varint(payload, &mut pos).map_err(bad)?;
                    varint(payload, &mut pos).map_err(bad)?;
                    left -= 1;
                }
                if typ == FRAME_ACK_ECN {
                    for _ in 0..3 {
                        varint(payload, &mut pos).map_err(bad)?;
                    }
                }
            }
            FRAME_CRYPTO => {
                let offset = varint(payload, &mut pos).map_err(bad)?;
                let len = varint(payload, &mut pos).map_err(bad)?;
                if offset.saturating_add(len) > MAX_VARINT {
                    return Err(QuicError::BadFrame);
                }
                let len = usize::try_from(len).map_err(|_| QuicError::BadFrame)?;
                let data = payload
                    .get(pos..pos.saturating_add(len))
                    .ok_or(QuicError::BadFrame)?;
                pos += len;
                if found == MAX_CRYPTO_FRAGMENTS {
                    return Err(QuicError::TooManyFragments);
                }
                found += 1;
                out.push(CryptoFragment { offset, data });
            }
            FRAME_CONNECTION_CLOSE | FRAME_CONNECTION_CLOSE_APP => {
                // Error Code, [Frame Type,] Reason Phrase Length, Reason Phrase.
                varint(payload, &mut pos).map_err(bad)?;
                if typ == FRAME_CONNECTION_CLOSE {
                    varint(payload, &mut pos).map_err(bad)?;
                }
                let len = varint(payload, &mut pos).map_err(bad)?;
                let len = usize::try_from(len).map_err(|_| QuicError::BadFrame)?;
                pos = pos
                    .checked_add(len)
                    .filter(|&p| p <= payload.len())
                    .ok_or(QuicError::BadFrame)?;
            }
            _ => return Err(QuicError::BadFrame),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::quic as build;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9001 Appendix A / RFC 9369 Appendix A: the example client DCID.
    const RFC_DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

    /// RFC 9001 §A.2 and RFC 9369 §A.2: the start of the unprotected payload, a CRYPTO frame
    /// (offset 0, length 241) holding a ClientHello for example.com; the rest is PADDING.
    const RFC_PLAINTEXT_PREFIX: &str = "
        060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
        04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
        616d706c652e636f6dff01000100000a00080006001d00170018001000070005
        04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
        baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
        0d0010000e0403050306030203080408050806002d00020101001c0002400100
        3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
        75300901100f088394c8f03e51570806048000ffff";

    /// RFC 9001 §A.2: the protected client Initial (1200 bytes).
    const RFC9001_CLIENT_INITIAL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pcaps/vectors/rfc9001-a2-client-initial.hex"
    ));

    /// RFC 9369 §A.2: the protected client Initial of QUIC v2 (1200 bytes).
    const RFC9369_CLIENT_INITIAL: &str = "
        d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485
        dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04
        9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d
        250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a
        12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500
        cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68
        18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33
        12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3
        d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd
        6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520
        bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045
        636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f
        ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12
        16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5
        4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4
        fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b
        8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7
        14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9
        9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91
        abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd
        80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db
        848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18
        d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15
        c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc
        7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61
        f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710
        10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b
        3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e
        06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce
        8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1
        34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1
        e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd
        5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3
        8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89
        d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53
        6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19
        9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b
        a18b2faa745b6fe189cf772a9f84cbfc";

    /// Parse, decrypt and return (header fields, plaintext) of a single-packet datagram.
    fn open(datagram: &[u8]) -> Result<(u64, Vec<u8>), QuicError> {
        let h = parse_long_header(datagram)?;
        let keys = InitialKeys::client(h.protection, h.dcid);
        let mut p = datagram[..h.packet_len].to_vec();
        let d = decrypt(&mut p, h.pn_offset, &keys)?;
        Ok((d.packet_number, p[d.payload.0..d.payload.1].to_vec()))
    }

    #[test]
    fn rfc9001_client_initial_keys() {
        let m = client_key_material(Version::V1, &RFC_DCID);
        assert_eq!(m.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(m.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(m.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn rfc9369_client_initial_keys() {
        let m = client_key_material(Version::V2, &RFC_DCID);
        assert_eq!(m.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(m.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(m.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    /// RFC 9001 §A.3 / RFC 9369 §A.3: the server's Initial payload, an ACK frame and a CRYPTO
    /// frame (offset 0, 90 bytes) holding a ServerHello (TLS_AES_128_GCM_SHA256, key_share
    /// and supported_versions), no PADDING.
    const RFC_SERVER_PLAINTEXT: &str = "
        02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
        88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94
        0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00
        020304";

    /// RFC 9001 §A.3: the protected server Initial (135 bytes, packet number 1 in 2 bytes,
    /// empty DCID, SCID f067a5502a4262b5).
    const RFC9001_SERVER_INITIAL: &str = "
        cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
        5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
        dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
        022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
        2158407dd074ee";

    /// RFC 9369 §A.3: the same server Initial protected for QUIC v2.
    const RFC9369_SERVER_INITIAL: &str = "
        dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
        baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17
        f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2
        c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
        4bed8521e2e140";

    #[test]
    fn rfc9001_server_initial_keys() {
        // RFC 9001 §A.1, "server in".
        let m = server_key_material(Version::V1, &RFC_DCID);
        assert_eq!(m.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(m.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(m.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    }

    /// The RFCs' server Initial opens with the server keys of the client's DCID (not with the
    /// client's), and its CRYPTO frame is a ServerHello that `proto::tls_server` reads: JA3S
    /// `771,4865,51-43`, JA4S `q130200_1301_234ea6891581` (the extension hash is that of
    /// `0033,002b`, the same list tshark's JA4S_r shows for the Cloudflare capture's TLS 1.3
    /// ServerHello in `pcaps/content/truth.jsonl`: `t130200_1301_234ea6891581`).
    #[test]
    fn rfc_server_initials_decrypt_and_hold_a_server_hello() {
        use crate::proto::tls_server::parse_server_hello;
        for (hexpkt, protection) in [
            (RFC9001_SERVER_INITIAL, Version::V1),
            (RFC9369_SERVER_INITIAL, Version::V2),
        ] {
            let pkt = hex(hexpkt);
            assert_eq!(pkt.len(), 135);
            let h = parse_long_header(&pkt).unwrap();
            assert_eq!(
                (h.protection, h.packet_type),
                (protection, PacketType::Initial)
            );
            assert!(h.dcid.is_empty());
            assert_eq!(h.scid, hex("f067a5502a4262b5"));
            let mut p = pkt.clone();
            let client = InitialKeys::client(protection, &RFC_DCID);
            assert_eq!(
                decrypt(&mut p, h.pn_offset, &client),
                Err(QuicError::Decrypt)
            );
            let mut p = pkt.clone();
            let keys = InitialKeys::server(protection, &RFC_DCID);
            let d = decrypt(&mut p, h.pn_offset, &keys).unwrap();
            assert_eq!(d.packet_number, 1);
            let plain = &p[d.payload.0..d.payload.1];
            assert_eq!(plain, hex(RFC_SERVER_PLAINTEXT));
            let mut frags = Vec::new();
            crypto_frames(plain, &mut frags).unwrap();
            assert_eq!(frags.len(), 1);
            assert_eq!((frags[0].offset, frags[0].data.len()), (0, 90));
            let msg = frags[0].data;
            assert_eq!(msg[..4], [2, 0, 0, 86]);
            let sh = parse_server_hello(&msg[4..]).unwrap();
            assert_eq!((sh.version, sh.cipher), (0x0304, 0x1301));
            assert_eq!(sh.ja3s(), "771,4865,51-43");
            assert_eq!(sh.ja4s(true), "q130200_1301_234ea6891581");
        }
    }

    #[test]
    fn rfc9001_header_protection_mask() {
        // RFC 9001 §A.2: sample d1b1c98dd7689fb8ec11d242b123dc9b gives mask 437b9aec36.
        let keys = InitialKeys::client(Version::V1, &RFC_DCID);
        let sample: [u8; 16] = hex("d1b1c98dd7689fb8ec11d242b123dc9b").try_into().unwrap();
        assert_eq!(keys.mask(sample)[..5].to_vec(), hex("437b9aec36"));
        // RFC 9369 §A.2: same sample position, v2 keys: mask 94a0c95e80.
        let keys = InitialKeys::client(Version::V2, &RFC_DCID);
        let sample: [u8; 16] = hex("ffe67b6abcdb4298b485dd04de806071").try_into().unwrap();
        assert_eq!(keys.mask(sample)[..5].to_vec(), hex("94a0c95e80"));
    }

    fn check_rfc_packet(hexpkt: &str, version: u32, protection: Version) {
        let pkt = hex(hexpkt);
        assert_eq!(pkt.len(), 1200);
        let h = parse_long_header(&pkt).unwrap();
        assert_eq!(h.version, version);
        assert_eq!(h.protection, protection);
        assert_eq!(h.packet_type, PacketType::Initial);
        assert_eq!(h.dcid, RFC_DCID);
        assert!(h.scid.is_empty());
        assert_eq!(h.pn_offset, 18);
        assert_eq!(h.packet_len, 1200);
        let (pn, plain) = open(&pkt).unwrap();
        assert_eq!(pn, 2);
        assert_eq!(plain.len(), 1162);
        let prefix = hex(RFC_PLAINTEXT_PREFIX);
        assert_eq!(plain[..prefix.len()], prefix[..]);
        assert!(plain[prefix.len()..].iter().all(|&b| b == 0));
        let mut frags = Vec::new();
        crypto_frames(&plain, &mut frags).unwrap();
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0].offset, 0);
        assert_eq!(frags[0].data, &prefix[4..]);
        let hello = crate::proto::tls::parse_client_hello_message(frags[0].data).unwrap();
        assert_eq!(hello.sni.as_deref(), Some(&b"example.com"[..]));
    }

    #[test]
    fn rfc9001_client_initial_decrypts() {
        check_rfc_packet(RFC9001_CLIENT_INITIAL, 1, Version::V1);
    }

    #[test]
    fn rfc9369_client_initial_decrypts() {
        check_rfc_packet(RFC9369_CLIENT_INITIAL, 0x6b33_43cf, Version::V2);
    }

    #[test]
    fn builder_reproduces_rfc9001_packet() {
        // The test builder, given the RFC's plaintext and packet number 2, must produce the
        // RFC's bytes except for the packet-number length (the RFC uses 4 bytes too).
        let plain = hex(RFC_PLAINTEXT_PREFIX);
        for (version, want) in [
            (1, RFC9001_CLIENT_INITIAL),
            (0x6b33_43cf, RFC9369_CLIENT_INITIAL),
        ] {
            let built = build::initial(version, &RFC_DCID, 2, &plain, 1162);
            assert_eq!(built, hex(want), "version {version:#x}");
        }
    }

    #[test]
    fn wrong_dcid_fails_the_tag_check() {
        let pkt = hex(RFC9001_CLIENT_INITIAL);
        let pn_offset = parse_long_header(&pkt).unwrap().pn_offset;
        let keys = InitialKeys::client(Version::V1, b"other-dcid");
        let mut p = pkt.clone();
        assert_eq!(decrypt(&mut p, pn_offset, &keys), Err(QuicError::Decrypt));
        // v2 keys on a v1 packet: also a tag failure.
        let keys = InitialKeys::client(Version::V2, &RFC_DCID);
        let mut p = pkt;
        assert_eq!(decrypt(&mut p, pn_offset, &keys), Err(QuicError::Decrypt));
    }

    #[test]
    fn every_known_version_round_trips() {
        for version in [
            1u32,
            0x6b33_43cf,
            0xff00_0017,
            0xff00_001b,
            0xff00_001c,
            0xff00_001d,
            0xff00_0020,
            0xface_b002,
            0xface_b00e,
        ] {
            let frames = build::crypto(0, b"\x01\x00\x00\x02hi");
            let pkt = build::initial(version, b"abcdefgh", 7, &frames, 1162);
            let h = parse_long_header(&pkt).unwrap();
            assert_eq!(h.packet_type, PacketType::Initial, "{version:#x}");
            let (pn, plain) = open(&pkt).unwrap();
            assert_eq!(pn, 7);
            let mut frags = Vec::new();
            crypto_frames(&plain, &mut frags).unwrap();
            assert_eq!(
                frags,
                [CryptoFragment {
                    offset: 0,
                    data: b"\x01\x00\x00\x02hi"
                }]
            );
        }
    }

    #[test]
    fn salts_differ_between_version_families() {
        let frames = build::crypto(0, b"x");
        let pkt = build::initial(0xff00_001d, b"abcdefgh", 0, &frames, 100);
        let h = parse_long_header(&pkt).unwrap();
        for other in [Version::V1, Version::V2, Version::Draft23] {
            let mut p = pkt.clone();
            let keys = InitialKeys::client(other, h.dcid);
            assert_eq!(decrypt(&mut p, h.pn_offset, &keys), Err(QuicError::Decrypt));
        }
    }

    #[test]
    fn v2_type_bits_differ_from_v1() {
        assert_eq!(Version::V1.packet_type(0b00), PacketType::Initial);
        assert_eq!(Version::V1.packet_type(0b01), PacketType::ZeroRtt);
        assert_eq!(Version::V1.packet_type(0b10), PacketType::Handshake);
        assert_eq!(Version::V1.packet_type(0b11), PacketType::Retry);
        assert_eq!(Version::V2.packet_type(0b01), PacketType::Initial);
        assert_eq!(Version::V2.packet_type(0b10), PacketType::ZeroRtt);
        assert_eq!(Version::V2.packet_type(0b11), PacketType::Handshake);
        assert_eq!(Version::V2.packet_type(0b00), PacketType::Retry);
        assert_eq!(Version::Draft23.packet_type(0b00), PacketType::Initial);
    }

    #[test]
    fn garbage_dcid_length_is_rejected() {
        let mut pkt = hex(RFC9001_CLIENT_INITIAL);
        for len in [21u8, 64, 255] {
            pkt[5] = len;
            assert_eq!(parse_long_header(&pkt), Err(QuicError::CidTooLong));
        }
        // And a source connection ID length over 20.
        let mut pkt = hex(RFC9001_CLIENT_INITIAL);
        pkt[14] = 21;
        assert_eq!(parse_long_header(&pkt), Err(QuicError::CidTooLong));
    }

    #[test]
    fn unknown_version_and_short_header_are_not_decoded() {
        let mut pkt = hex(RFC9001_CLIENT_INITIAL);
        pkt[1..5].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        assert_eq!(parse_long_header(&pkt), Err(QuicError::UnknownVersion));
        assert!(!is_long_header(&pkt));
        pkt[1..5].copy_from_slice(&[0, 0, 0, 0]); // version negotiation
        assert_eq!(parse_long_header(&pkt), Err(QuicError::UnknownVersion));
        assert_eq!(
            parse_long_header(&[0x40, 1, 2, 3]),
            Err(QuicError::NotLongHeader)
        );
        assert_eq!(
            parse_long_header(&[0x80, 0, 0, 0, 1]),
            Err(QuicError::NotLongHeader)
        );
        assert_eq!(parse_long_header(&[]), Err(QuicError::NotLongHeader));
        assert!(is_long_header(&hex(RFC9001_CLIENT_INITIAL)));
        assert!(!is_long_header(&[0xc0, 0, 0, 0]));
    }

    #[test]
    fn truncated_at_every_length_never_panics() {
        for pkt in [hex(RFC9001_CLIENT_INITIAL), hex(RFC9369_CLIENT_INITIAL)] {
            for n in 0..pkt.len() {
                let cut = &pkt[..n];
                match parse_long_header(cut) {
                    // The Length field says 1182 bytes follow: any cut is Truncated.
                    Ok(h) => panic!("{n}: {h:?}"),
                    Err(e) => assert!(
                        matches!(e, QuicError::Truncated | QuicError::NotLongHeader),
                        "{n}: {e:?}"
                    ),
                }
                // decrypt on a cut packet, offsets as in the whole one: never panics.
                let keys = InitialKeys::client(Version::V1, &RFC_DCID);
                let mut p = cut.to_vec();
                assert!(decrypt(&mut p, 18, &keys).is_err(), "{n}");
            }
        }
    }

    #[test]
    fn random_byte_flips_never_panic_and_fail_the_tag() {
        let pkt = hex(RFC9001_CLIENT_INITIAL);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut p = pkt.clone();
            let i = (x % p.len() as u64) as usize;
            let bit = 1u8 << ((x >> 32) % 8);
            p[i] ^= bit;
            // Every flip changes the header (and so the AAD, the keys or the framing), the
            // ciphertext or the tag: none may decrypt.
            if let Ok((_, plain)) = &open(&p) {
                panic!(
                    "flip at {i} bit {bit:#x} still decrypted ({} bytes)",
                    plain.len()
                );
            }
        }
    }

    #[test]
    fn random_payloads_never_panic_in_the_frame_walk() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..5000 {
            let mut out = Vec::new();
            let mut buf = Vec::new();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push((x & 0xff) as u8 % 8);
            }
            x = x.wrapping_add(1);
            let _ = crypto_frames(&buf, &mut out);
            assert!(out.len() <= MAX_CRYPTO_FRAGMENTS);
        }
    }

    #[test]
    fn frame_walk_skips_padding_ping_ack_and_close() {
        let mut p = vec![0x00, 0x00, 0x01];
        p.extend([0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02]); // ACK, one extra range
        p.extend([0x03, 0x05, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03]); // ACK_ECN
        p.extend(build::crypto(5, b"world"));
        p.extend([0x1c, 0x0a, 0x06, 0x03, b'b', b'y', b'e']); // CONNECTION_CLOSE
        p.extend(build::crypto(0, b"hello"));
        p.extend([0, 0, 0]);
        let mut out = Vec::new();
        crypto_frames(&p, &mut out).unwrap();
        assert_eq!(
            out,
            [
                CryptoFragment {
                    offset: 5,
                    data: b"world"
                },
                CryptoFragment {
                    offset: 0,
                    data: b"hello"
                },
            ]
        );
    }

    #[test]
    fn unknown_frame_stops_the_walk_keeping_earlier_fragments() {
        let mut p = build::crypto(0, b"abc");
        p.push(0x08); // STREAM: not allowed in Initial packets
        p.extend(build::crypto(3, b"def"));
        let mut out = Vec::new();
        assert_eq!(crypto_frames(&p, &mut out), Err(QuicError::BadFrame));
        assert_eq!(
            out,
            [CryptoFragment {
                offset: 0,
                data: b"abc"
            }]
        );
    }

    #[test]
    fn crypto_frame_past_the_payload_is_bad() {
        let mut out = Vec::new();
        assert_eq!(
            crypto_frames(&[0x06, 0x00, 0x0a, 1, 2], &mut out),
            Err(QuicError::BadFrame)
        );
        // Offset + length beyond 2^62 - 1 (RFC 9000 §19.6).
        let mut p = vec![0x06];
        p.extend(build::varint(MAX_VARINT));
        p.extend([0x01, 0xaa]);
        assert_eq!(crypto_frames(&p, &mut out), Err(QuicError::BadFrame));
        assert!(out.is_empty());
    }

    #[test]
    fn too_many_crypto_frames_are_cut_at_the_limit() {
        let mut p = Vec::new();
        for i in 0..(MAX_CRYPTO_FRAGMENTS as u64 + 10) {
            p.extend(build::crypto(i, b"x"));
        }
        let mut out = Vec::new();
        assert_eq!(
            crypto_frames(&p, &mut out),
            Err(QuicError::TooManyFragments)
        );
        assert_eq!(out.len(), MAX_CRYPTO_FRAGMENTS);
    }

    #[test]
    fn coalesced_initial_and_zero_rtt_are_walked_by_length() {
        let dcid = b"\x01\x02\x03\x04\x05\x06\x07\x08";
        let mut dg = build::initial(1, dcid, 0, &build::crypto(0, b"hi"), 200);
        let first = dg.len();
        dg.extend(build::packet(
            1,
            build::Type::ZeroRtt,
            dcid,
            dcid,
            &[],
            1,
            b"\x01",
            100,
        ));
        dg.extend([0u8; 30]); // padding after the last packet
        let h = parse_long_header(&dg).unwrap();
        assert_eq!(h.packet_len, first);
        let h2 = parse_long_header(&dg[first..]).unwrap();
        assert_eq!(h2.packet_type, PacketType::ZeroRtt);
        let rest = &dg[first + h2.packet_len..];
        assert_eq!(parse_long_header(rest), Err(QuicError::NotLongHeader));
    }

    #[test]
    fn retry_takes_the_rest_of_the_datagram() {
        let mut pkt = vec![0xf0];
        pkt.extend(1u32.to_be_bytes());
        pkt.extend([0, 4, 1, 2, 3, 4]);
        pkt.extend([0xaa; 30]);
        let h = parse_long_header(&pkt).unwrap();
        assert_eq!(h.packet_type, PacketType::Retry);
        assert_eq!(h.scid, [1, 2, 3, 4]);
        assert_eq!(h.packet_len, pkt.len());
    }
}
