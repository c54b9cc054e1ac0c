//! QUIC v1 packet protection for the synthetic capture (RFC 9000 §17, RFC 9001 §5): real
//! Initial packets that any decoder can decrypt with keys derived from the Destination
//! Connection ID, as a client and server send them.
//!
//! Adapted from the test-only encryptor in `src/proto/quic.rs` (`mod build`), which the bench
//! cannot call because it is `#[cfg(test)]`.

use aes::cipher::array::Array;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 1;
/// initial_salt of QUIC v1 (RFC 9001 §5.2).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// AEAD_AES_128_GCM tag length (RFC 5116 §5.1).
pub const TAG_LEN: usize = 16;
/// Packet numbers are always sent in 4 bytes here (the first byte's low bits say 3).
pub const PN_LEN: usize = 4;
/// Long-header type bits of QUIC v1 (RFC 9000 §17.2, Table 5), shifted into place.
pub const TYPE_INITIAL: u8 = 0x00;
pub const TYPE_HANDSHAKE: u8 = 0x20;

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
fn expand_label<const N: usize>(hk: &Hkdf<Sha256>, label: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let len = (N as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    hk.expand_multi_info(&[&len, &label_len, b"tls13 ", label, &[0]], &mut out)
        .expect("HKDF output length is far below the limit");
    out
}

/// Initial packet protection of one side (RFC 9001 §5.2): `client` selects "client in", else
/// "server in".
pub struct InitialKeys {
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

impl InitialKeys {
    pub fn new(odcid: &[u8], client: bool) -> Self {
        let initial = Hkdf::<Sha256>::new(Some(&SALT_V1), odcid);
        let label: &[u8] = if client { b"client in" } else { b"server in" };
        let secret: [u8; 32] = expand_label(&initial, label);
        let hk = Hkdf::<Sha256>::from_prk(&secret).expect("32-byte PRK");
        let key: [u8; 16] = expand_label(&hk, b"quic key");
        let iv: [u8; 12] = expand_label(&hk, b"quic iv");
        let hp: [u8; 16] = expand_label(&hk, b"quic hp");
        InitialKeys {
            aead: Aes128Gcm::new(&Array::from(key)),
            hp: Aes128::new(&Array::from(hp)),
            iv,
        }
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
pub fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=63 => out.push(v as u8),
        64..=16383 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        16384..=0x3fff_ffff => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// Append a CRYPTO frame (RFC 9000 §19.6).
pub fn crypto_frame(out: &mut Vec<u8>, offset: u64, data: &[u8]) {
    out.push(0x06);
    varint(out, offset);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Bytes of a long header before the payload: first byte, version, both CIDs, the (empty)
/// token length of an Initial, a 2-byte Length and the packet number.
pub fn long_header_len(dcid: &[u8], scid: &[u8], initial: bool) -> usize {
    1 + 4 + 1 + dcid.len() + 1 + scid.len() + usize::from(initial) + 2 + PN_LEN
}

/// Append a protected v1 Initial packet carrying `frames` (PADDING added up to `pad_to`
/// payload bytes, and at least enough for the header-protection sample).
pub fn initial(
    out: &mut Vec<u8>,
    keys: &InitialKeys,
    dcid: &[u8],
    scid: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) {
    let start = out.len();
    out.push(0xc0 | TYPE_INITIAL | (PN_LEN as u8 - 1));
    out.extend_from_slice(&VERSION_1.to_be_bytes());
    out.push(dcid.len() as u8);
    out.extend_from_slice(dcid);
    out.push(scid.len() as u8);
    out.extend_from_slice(scid);
    out.push(0); // no token
    let payload_len = frames.len().max(pad_to).max(16);
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
    let sample: [u8; 16] = out[pn_offset + 4..pn_offset + 20]
        .try_into()
        .expect("16 bytes");
    let mask = keys.mask(sample);
    out[start] ^= mask[0] & 0x0f;
    for i in 0..PN_LEN {
        out[pn_offset + i] ^= mask[1 + i];
    }
}

/// Append a long-header packet of type `type_bits` whose packet number and payload are
/// `body` as given (already "encrypted": random bytes, for packets of levels whose keys an
/// observer cannot have).
pub fn opaque_long(out: &mut Vec<u8>, type_bits: u8, dcid: &[u8], scid: &[u8], body: &[u8]) {
    out.push(0xc0 | type_bits | (PN_LEN as u8 - 1));
    out.extend_from_slice(&VERSION_1.to_be_bytes());
    out.push(dcid.len() as u8);
    out.extend_from_slice(dcid);
    out.push(scid.len() as u8);
    out.extend_from_slice(scid);
    out.extend_from_slice(&((body.len() as u16) | 0x4000).to_be_bytes());
    out.extend_from_slice(body);
}
