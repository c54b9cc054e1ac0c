//! Protected QUIC long-header packets (RFC 9000 §17.2, RFC 9001 §5, RFC 9369): Initial
//! packets any decoder can open with keys derived from the Destination Connection ID, for
//! QUIC v1, v2 and the drafts iocd reads, and the CRYPTO frames they carry.
//!
//! Self-contained (HKDF-SHA256, AES-128 and AES-128-GCM from `[dependencies]`), so the
//! key schedule here is an independent check of the one in `src/proto/quic.rs`.

// Each target that compiles this module uses a different subset of it.
#![allow(dead_code)]

use aes::cipher::array::Array;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;
/// AEAD_AES_128_GCM tag length (RFC 5116 §5.1).
pub const TAG_LEN: usize = 16;
/// Packet numbers are always sent in 4 bytes here (the first byte's low bits say 3).
pub const PN_LEN: usize = 4;
/// Header-protection sample length (RFC 9001 §5.4.2).
const SAMPLE_LEN: usize = 16;

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
/// initial_salt of draft-ietf-quic-tls-29 §5.2 (through draft 32).
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// initial_salt of draft-ietf-quic-tls-23 §5.2 (through draft 28, and mvfst's draft-27).
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];

/// Long-header packet types (RFC 9000 §17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

impl Type {
    /// The first byte's type bits (4-5, shifted into place) in `version` (RFC 9369 §3.2
    /// permutes them for v2).
    pub fn bits(self, version: u32) -> u8 {
        let v1 = match self {
            Type::Initial => 0,
            Type::ZeroRtt => 1,
            Type::Handshake => 2,
            Type::Retry => 3,
        };
        let b = if version == VERSION_2 {
            (v1 + 1) % 4
        } else {
            v1
        };
        b << 4
    }
}

/// The initial salt of a version; unknown versions get v1's.
fn salt(version: u32) -> &'static [u8; 20] {
    match version {
        VERSION_2 => &SALT_V2,
        0xff00_001d..=0xff00_0020 => &SALT_DRAFT29,
        0xff00_0017..=0xff00_001c | 0xface_b002 | 0xface_b00e => &SALT_DRAFT23,
        _ => &SALT_V1,
    }
}

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
fn expand_label<const N: usize>(hk: &Hkdf<Sha256>, label: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let len = (N as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    hk.expand_multi_info(&[&len, &label_len, b"tls13 ", label, &[0]], &mut out)
        .expect("HKDF output length is far below the limit");
    out
}

/// Initial packet protection of one side of a connection (RFC 9001 §5.2).
pub struct InitialKeys {
    version: u32,
    /// The version number written in headers: `version` unless [`InitialKeys::on_wire`] set
    /// another.
    wire: u32,
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

impl InitialKeys {
    /// The keys of `version` for the original Destination Connection ID `odcid`: "client in"
    /// if `client`, else "server in".
    pub fn new(version: u32, odcid: &[u8], client: bool) -> Self {
        let initial = Hkdf::<Sha256>::new(Some(salt(version)), odcid);
        let label: &[u8] = if client { b"client in" } else { b"server in" };
        let secret: [u8; 32] = expand_label(&initial, label);
        let hk = Hkdf::<Sha256>::from_prk(&secret).expect("32-byte PRK");
        let [lk, liv, lhp]: [&[u8]; 3] = if version == VERSION_2 {
            [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"]
        } else {
            [b"quic key", b"quic iv", b"quic hp"]
        };
        let key: [u8; 16] = expand_label(&hk, lk);
        let iv: [u8; 12] = expand_label(&hk, liv);
        let hp: [u8; 16] = expand_label(&hk, lhp);
        InitialKeys {
            version,
            wire: version,
            aead: Aes128Gcm::new(&Array::from(key)),
            hp: Aes128::new(&Array::from(hp)),
            iv,
        }
    }

    /// These keys (and `version`'s type bits) under another version number in the header: a
    /// client greasing the version (RFC 9000 §15) with the protection of one it speaks.
    pub fn on_wire(mut self, wire: u32) -> Self {
        self.wire = wire;
        self
    }

    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }

    fn mask(&self, sample: [u8; 16]) -> [u8; 16] {
        let mut block = Array::from(sample);
        self.hp.encrypt_block(&mut block);
        block.into()
    }
}

/// Append a variable-length integer in its shortest encoding (RFC 9000 §16).
pub fn varint_into(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=63 => out.push(v as u8),
        64..=16383 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        16384..=0x3fff_ffff => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// A variable-length integer in its shortest encoding.
pub fn varint(v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    varint_into(&mut out, v);
    out
}

/// Append a CRYPTO frame (RFC 9000 §19.6).
pub fn crypto_into(out: &mut Vec<u8>, offset: u64, data: &[u8]) {
    out.push(0x06);
    varint_into(out, offset);
    varint_into(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A CRYPTO frame.
pub fn crypto(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(data.len() + 9);
    crypto_into(&mut f, offset, data);
    f
}

/// Bytes of a long header before the payload: first byte, version, both CIDs, the (empty)
/// token length of an Initial, a 2-byte Length and the packet number.
pub fn long_header_len(dcid: &[u8], scid: &[u8], initial: bool) -> usize {
    1 + 4 + 1 + dcid.len() + 1 + scid.len() + usize::from(initial) + 2 + PN_LEN
}

/// The addressing of one long-header packet.
#[derive(Debug, Clone, Copy)]
pub struct Long<'a> {
    pub ty: Type,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
}

/// Append a long-header packet of the keys' version carrying `frames` (PADDING added up to
/// `pad_to` payload bytes, and at least enough for the header-protection sample), with a
/// 4-byte packet number, protected with `keys`. An Initial gets an empty token.
pub fn protect_into(
    out: &mut Vec<u8>,
    keys: &InitialKeys,
    h: &Long<'_>,
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) {
    let start = out.len();
    out.push(0xc0 | h.ty.bits(keys.version) | (PN_LEN as u8 - 1));
    out.extend_from_slice(&keys.wire.to_be_bytes());
    out.push(h.dcid.len() as u8);
    out.extend_from_slice(h.dcid);
    out.push(h.scid.len() as u8);
    out.extend_from_slice(h.scid);
    if h.ty == Type::Initial {
        out.push(0); // no token
    }
    let payload_len = frames.len().max(pad_to).max(SAMPLE_LEN);
    let length = PN_LEN + payload_len + TAG_LEN;
    out.extend_from_slice(&((length as u16) | 0x4000).to_be_bytes());
    let pn_offset = out.len();
    out.extend_from_slice(&pn.to_be_bytes());
    let body = out.len();
    out.extend_from_slice(frames);
    out.resize(body + payload_len, 0); // PADDING frames
    let (head, rest) = out[start..].split_at_mut(body - start);
    let tag = keys
        .aead
        .encrypt_inout_detached(&Array::from(keys.nonce(u64::from(pn))), head, rest.into())
        .expect("payload far below the AES-GCM limit");
    out.extend_from_slice(&tag);
    let sample: [u8; SAMPLE_LEN] = out[pn_offset + PN_LEN..pn_offset + PN_LEN + SAMPLE_LEN]
        .try_into()
        .expect("16 bytes");
    let mask = keys.mask(sample);
    out[start] ^= mask[0] & 0x0f;
    for i in 0..PN_LEN {
        out[pn_offset + i] ^= mask[1 + i];
    }
}

/// Append a protected Initial packet of the keys' version (empty token).
pub fn initial_into(
    out: &mut Vec<u8>,
    keys: &InitialKeys,
    dcid: &[u8],
    scid: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) {
    let h = Long {
        ty: Type::Initial,
        dcid,
        scid,
    };
    protect_into(out, keys, &h, pn, frames, pad_to);
}

/// A protected long-header packet of type `ty` carrying `frames`, protected with the client
/// Initial keys of `version` and `key_dcid` (right for Initial packets; other types get the
/// same protection, as good as any for tests that skip them).
#[allow(clippy::too_many_arguments)]
pub fn packet(
    version: u32,
    ty: Type,
    dcid: &[u8],
    key_dcid: &[u8],
    scid: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let keys = InitialKeys::new(version, key_dcid, true);
    let mut p = Vec::with_capacity(64 + frames.len().max(pad_to));
    protect_into(&mut p, &keys, &Long { ty, dcid, scid }, pn, frames, pad_to);
    p
}

/// A protected client Initial (DCID also the key DCID, empty SCID).
pub fn initial(version: u32, dcid: &[u8], pn: u32, frames: &[u8], pad_to: usize) -> Vec<u8> {
    packet(version, Type::Initial, dcid, dcid, &[], pn, frames, pad_to)
}

/// Append a v1 long-header packet of type `ty` whose packet number and payload are `body` as
/// given (already "encrypted": random bytes, for packet levels whose keys an observer cannot
/// have).
pub fn opaque_long_into(out: &mut Vec<u8>, ty: Type, dcid: &[u8], scid: &[u8], body: &[u8]) {
    out.push(0xc0 | ty.bits(VERSION_1) | (PN_LEN as u8 - 1));
    out.extend_from_slice(&VERSION_1.to_be_bytes());
    out.push(dcid.len() as u8);
    out.extend_from_slice(dcid);
    out.push(scid.len() as u8);
    out.extend_from_slice(scid);
    out.extend_from_slice(&((body.len() as u16) | 0x4000).to_be_bytes());
    out.extend_from_slice(body);
}
