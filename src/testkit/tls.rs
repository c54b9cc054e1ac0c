//! TLS ClientHellos by hand (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): small ones assembled from
//! parts (extensions, body, handshake message, records) for parser tests, a minimal one with
//! SNI and padding for reassembly tests, and a browser-shaped TLS 1.3 hello (GREASE, ALPN,
//! key shares, optionally X25519MLKEM768 and QUIC transport parameters) with the server's
//! first records, for the replay bench.

// Each target that compiles this module uses a different subset of it.
#![allow(dead_code)]

pub const CONTENT_TYPE_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;
pub const CONTENT_TYPE_APPLICATION_DATA: u8 = 23;
pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
pub const HANDSHAKE_SERVER_HELLO: u8 = 2;
pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_PADDING: u16 = 21;
pub const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
/// Largest TLSCiphertext fragment: 2^14 plus the AEAD tag and inner content type
/// (RFC 8446 §5.2 allows up to 2^14 + 256; real stacks send 2^14 + 17).
pub const MAX_RECORD_BODY: usize = 16_384 + 17;
const RECORD_HLEN: usize = 5;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn be16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("fits in 16 bits").to_be_bytes()
}

// ---------------------------------------------------------------------------------------------
// Parts

/// One extension: type, length, data.
pub fn ext(ext_type: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ext_type.to_be_bytes().to_vec();
    e.extend(be16(data.len()));
    e.extend_from_slice(data);
    e
}

/// server_name data holding these (name_type, name) entries (RFC 6066 §3).
pub fn server_name_list(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (t, name) in entries {
        list.push(*t);
        list.extend(be16(name.len()));
        list.extend_from_slice(name);
    }
    let mut data = be16(list.len()).to_vec();
    data.extend(list);
    data
}

/// A server_name extension with one host_name.
pub fn sni_ext(name: &[u8]) -> Vec<u8> {
    ext(EXT_SERVER_NAME, &server_name_list(&[(0, name)]))
}

/// An outer ECHClientHello extension (draft-ietf-tls-esni §5): type outer, HPKE KDF and AEAD
/// ids, config_id, enc (an X25519 key), a 144-byte payload.
pub fn ech_ext() -> Vec<u8> {
    let mut d = vec![0, 0x00, 0x01, 0x00, 0x01, 0x42];
    d.extend(be16(32));
    d.extend([0xab; 32]);
    d.extend(be16(144));
    d.extend([0xcd; 144]);
    ext(EXT_ENCRYPTED_CLIENT_HELLO, &d)
}

/// A padding extension (RFC 7685) of `len` zero bytes.
pub fn padding_ext(len: usize) -> Vec<u8> {
    ext(EXT_PADDING, &vec![0; len])
}

/// The protocol shape of a hello from parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// TLS 1.2: no session id, TLS 1.2 suites, no supported_versions.
    Tls12,
    /// TLS 1.3: 32-byte legacy session id, supported_versions and key_share.
    Tls13,
}

/// The extensions a browser-like client sends around the ones under test: GREASE, then
/// server_name for `sni`, supported_groups, signature_algorithms, (TLS 1.3) supported_versions
/// and key_share, and an outer ECH extension if `ech`.
pub fn usual_extensions(style: Style, sni: Option<&[u8]>, ech: bool) -> Vec<Vec<u8>> {
    let mut exts = vec![ext(0x0a0a, &[])]; // GREASE (RFC 8701)
    if let Some(name) = sni {
        exts.push(sni_ext(name));
    }
    exts.push(ext(10, &[0, 4, 0x00, 0x1d, 0x00, 0x17])); // supported_groups
    exts.push(ext(13, &[0, 4, 0x04, 0x03, 0x08, 0x04])); // signature_algorithms
    if style == Style::Tls13 {
        exts.push(ext(43, &[2, 0x03, 0x04])); // supported_versions
        let mut ks = vec![0, 36, 0x00, 0x1d, 0, 32];
        ks.extend([0x5a; 32]);
        exts.push(ext(51, &ks)); // key_share
    }
    if ech {
        exts.push(ech_ext());
    }
    exts
}

/// ClientHello contents (after the handshake header); `exts: None` omits the extensions block
/// altogether, as TLS 1.2 and older allow.
pub fn hello_body(style: Style, exts: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend([0x11; 32]); // random
    let suites: &[u16] = match style {
        Style::Tls12 => {
            b.push(0);
            &[0xc02f, 0xc030, 0x009c]
        }
        Style::Tls13 => {
            b.push(32);
            b.extend([0x22; 32]);
            &[0x1301, 0x1302, 0x1303, 0xc02f]
        }
    };
    b.extend(be16(2 * suites.len()));
    for s in suites {
        b.extend(s.to_be_bytes());
    }
    b.extend([1, 0]); // compression methods: null
    if let Some(exts) = exts {
        let all = exts.concat();
        b.extend(be16(all.len()));
        b.extend(all);
    }
    b
}

/// The handshake message: type client_hello, 24-bit length, body.
pub fn handshake(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len())
        .expect("fits in 32 bits")
        .to_be_bytes();
    let mut m = vec![HANDSHAKE_CLIENT_HELLO, len[1], len[2], len[3]];
    m.extend_from_slice(body);
    m
}

/// `msg` in handshake records (legacy_record_version 0x0301), a new record at each cut.
pub fn records(msg: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([msg.len()].iter()) {
        out.extend([CONTENT_TYPE_HANDSHAKE, 0x03, 0x01]);
        out.extend(be16(end - start));
        out.extend_from_slice(&msg[start..end]);
        start = end;
    }
    out
}

/// `msg` in handshake records of at most `frag` bytes each.
pub fn records_of(msg: &[u8], frag: usize) -> Vec<u8> {
    let cuts: Vec<usize> = (frag..msg.len()).step_by(frag).collect();
    records(msg, &cuts)
}

/// A ClientHello record of this style with the usual extensions, SNI and ECH as given.
pub fn client_hello(style: Style, sni: Option<&[u8]>, ech: bool) -> Vec<u8> {
    let exts = usual_extensions(style, sni, ech);
    records(&handshake(&hello_body(style, Some(&exts))), &[])
}

/// A small ClientHello handshake message (no record header, as QUIC CRYPTO frames carry it):
/// one cipher suite, no session id, a server_name extension for `sni` and a padding extension
/// of `pad` bytes, so tests can make it span segments or packets.
pub fn minimal_hello(sni: &str, pad: usize) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x42; 32]); // random
    body.push(0); // session id
    body.extend([0, 2, 0x13, 0x01]); // one cipher suite
    body.extend([1, 0]); // null compression
    let exts = [sni_ext(sni.as_bytes()), padding_ext(pad)].concat();
    body.extend(be16(exts.len()));
    body.extend(exts);
    handshake(&body)
}

// ---------------------------------------------------------------------------------------------
// A browser's hello (the replay bench)

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

fn ext_into(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    put_u16(out, typ);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

/// How a browser hello differs from the default TLS-over-TCP, X25519-only one.
#[derive(Clone, Copy, Default)]
pub struct HelloShape<'a> {
    /// A post-quantum X25519MLKEM768 key share (group 0x11ec; 1,216 bytes; draft-ietf-tls-
    /// ecdhe-mlkem), sent before the plain X25519 share as Chrome and Firefox do.
    pub mlkem_share: Option<&'a [u8]>,
    /// QUIC (RFC 9001 §4.1.3, §8.2): the bare handshake message without a record header, ALPN
    /// h3, these quic_transport_parameters (extension 0x39), and no padding extension.
    pub quic_params: Option<&'a [u8]>,
}

/// Append a TLS 1.3 ClientHello record shaped like a current browser's (GREASE, the usual
/// extension set, an X25519 key share), with server_name `sni` (RFC 6066 §3) and a padding
/// extension (RFC 7685) that brings the record to `target_len` bytes when it is shorter.
pub fn browser_hello_into(
    out: &mut Vec<u8>,
    sni: &str,
    target_len: usize,
    r: &HelloRandom,
    shape: HelloShape<'_>,
) {
    let start = out.len();
    let quic = shape.quic_params.is_some();
    // Where the handshake message starts: after the record header, which QUIC does not have.
    let hs = if quic { 0 } else { RECORD_HLEN };
    if !quic {
        out.extend_from_slice(&[CONTENT_TYPE_HANDSHAKE, 0x03, 0x01, 0, 0]);
    }
    out.extend_from_slice(&[HANDSHAKE_CLIENT_HELLO, 0, 0, 0]); // length later
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

    ext_into(out, r.grease[1], &[]);
    let at = ext_begin(out, EXT_SERVER_NAME);
    put_u16(out, (sni.len() + 3) as u16);
    out.push(0); // host_name
    put_u16(out, sni.len() as u16);
    out.extend_from_slice(sni.as_bytes());
    ext_end(out, at);
    ext_into(out, 0x0017, &[]); // extended_master_secret
    ext_into(out, 0xff01, &[0]); // renegotiation_info
    let g = r.grease[2].to_be_bytes();
    if shape.mlkem_share.is_some() {
        ext_into(
            out,
            0x000a,
            &[
                0, 10, g[0], g[1], 0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
            ],
        ); // supported_groups with X25519MLKEM768 first
    } else {
        ext_into(
            out,
            0x000a,
            &[0, 8, g[0], g[1], 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18],
        ); // supported_groups
    }
    ext_into(out, 0x000b, &[1, 0]); // ec_point_formats
    ext_into(out, 0x0023, &[]); // session_ticket
    if quic {
        ext_into(out, 0x0010, &[0, 3, 2, b'h', b'3']); // ALPN: h3
    } else {
        ext_into(
            out,
            0x0010, // ALPN: h2, http/1.1
            &[
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        );
    }
    ext_into(out, 0x0005, &[1, 0, 0, 0, 0]); // status_request
    ext_into(
        out,
        0x000d, // signature_algorithms
        &[
            0, 16, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08,
            0x06, 0x06, 0x01,
        ],
    );
    ext_into(out, 0x0012, &[]); // signed_certificate_timestamp
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
    ext_into(out, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
    let v = r.grease[3].to_be_bytes();
    ext_into(out, 0x002b, &[6, v[0], v[1], 0x03, 0x04, 0x03, 0x03]); // supported_versions
    ext_into(out, 0x001b, &[2, 0, 2]); // compress_certificate: brotli
    ext_into(out, 0x4469, &[0, 3, 2, b'h', b'2']); // application_settings
    if let Some(params) = shape.quic_params {
        ext_into(out, 0x0039, params); // quic_transport_parameters (RFC 9001 §8.2)
    }
    ext_into(out, r.grease[3], &[0]);
    let len = out.len() - start;
    if !quic && len + 4 < target_len {
        let pad = target_len - len - 4;
        put_u16(out, EXT_PADDING);
        put_u16(out, pad as u16);
        out.resize(out.len() + pad, 0);
    }

    let total = out.len() - start;
    let exts_len = (out.len() - exts - 2) as u16;
    patch_u16(out, exts, exts_len);
    let hs_len = (total - hs - 4) as u32;
    out[start + hs + 1..start + hs + 4].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    if !quic {
        patch_u16(out, start + 3, (total - RECORD_HLEN) as u16);
    }
}

/// Append the server's first records: ServerHello choosing TLS 1.3 and X25519, then the
/// middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4). What follows is encrypted.
pub fn server_hello_into(out: &mut Vec<u8>, r: &HelloRandom) {
    let start = out.len();
    out.extend_from_slice(&[CONTENT_TYPE_HANDSHAKE, 0x03, 0x03, 0, 0]);
    out.extend_from_slice(&[HANDSHAKE_SERVER_HELLO, 0, 0, 0]);
    out.extend_from_slice(&[0x03, 0x03]);
    out.extend_from_slice(&r.random);
    out.push(32);
    out.extend_from_slice(&r.session_id);
    put_u16(out, 0x1301);
    out.push(0);
    put_u16(out, 6 + 40);
    ext_into(out, 0x002b, &[0x03, 0x04]);
    let at = ext_begin(out, 0x0033);
    put_u16(out, 0x001d);
    put_u16(out, 32);
    out.extend_from_slice(&r.key_share);
    ext_end(out, at);
    let total = out.len() - start;
    let hs_len = (total - RECORD_HLEN - 4) as u32;
    out[start + 6..start + 9].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    patch_u16(out, start + 3, (total - RECORD_HLEN) as u16);
    change_cipher_spec_into(out);
}

/// A TLS 1.3 ServerHello handshake message as a QUIC server's Initial carries it (RFC 9001
/// §4.1.3: no record layer, empty legacy_session_id_echo): type server_hello, 24-bit length,
/// legacy_version 0x0303, a fixed random, `cipher`, no compression, `exts` in that order.
pub fn server_hello_message(cipher: u16, exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[0x5a; 32]);
    b.push(0);
    put_u16(&mut b, cipher);
    b.push(0);
    let all: Vec<u8> = exts.concat();
    put_u16(&mut b, all.len() as u16);
    b.extend(all);
    let len = (b.len() as u32).to_be_bytes();
    let mut m = vec![HANDSHAKE_SERVER_HELLO, len[1], len[2], len[3]];
    m.extend(b);
    m
}

/// Append the one-byte ChangeCipherSpec record both sides send in compatibility mode.
pub fn change_cipher_spec_into(out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        CONTENT_TYPE_CHANGE_CIPHER_SPEC,
        0x03,
        0x03,
        0x00,
        0x01,
        0x01,
    ]);
}

/// The 5-byte header of an application_data record with a body of `len` bytes.
pub fn app_data_header(len: usize) -> [u8; 5] {
    let l = (len as u16).to_be_bytes();
    [CONTENT_TYPE_APPLICATION_DATA, 0x03, 0x03, l[0], l[1]]
}
