//! TLS ClientHello server name (RFC 8446 §4.1.2, RFC 6066 §3).
//!
//! Detection is by content, never by port: the first TCP payload of every flow comes here, so
//! [`parse_client_hello`] first looks at no more than six bytes (content type, record version
//! major, handshake type) and answers [`TlsError::NotClientHello`] for anything else before any
//! parsing or allocation.
//!
//! The work is split between `tls-parser` and small bounded walks of our own, each for a reason:
//! - **Records** are walked here. `tls-parser` parses one record and the handshake messages
//!   inside it, but cannot join a handshake message fragmented over several records (RFC 8446
//!   §5.1 allows it, and large post-quantum hellos do it), and its errors do not tell "the bytes
//!   end early" from "the lengths are wrong", which the caller needs to decide whether to buffer
//!   more TCP segments. Fragments are joined into one buffer of at most [`MAX_CLIENT_HELLO_LEN`]
//!   bytes; the common single-record case is parsed in place, without a copy.
//! - **The ClientHello body** is parsed by `tls-parser`
//!   ([`tls_parser::parse_tls_handshake_client_hello`]), then checked for leftover bytes: it
//!   reads the extensions block with `opt(complete(..))`, so an extensions length larger than the
//!   hello comes back as "no extensions" rather than as an error.
//! - **Extensions** are walked one by one with [`tls_parser::parse_tls_extension_unknown`]
//!   (type and length-prefixed data only). `parse_tls_client_hello_extensions` would parse every
//!   extension's contents, stop silently at the first one it finds malformed (losing an SNI or
//!   ECH extension that follows it), and allocate a vector of all of them.
//! - **server_name** contents are parsed by [`tls_parser::parse_tls_extension_sni_content`].
//!
//! Every length is checked before it is used, every loop consumes input, and nothing allocates
//! more than [`MAX_CLIENT_HELLO_LEN`] plus the small lists `tls-parser` builds from the hello
//! (cipher suites, compression methods, server names).

use super::ja::{self, Fingerprints, HelloParts, Want};
use tls_parser::{
    parse_tls_extension_sni_content, parse_tls_extension_unknown, parse_tls_handshake_client_hello,
    parse_tls_record_header, TlsExtension, TlsExtensionType,
};

/// ContentType handshake (RFC 8446 §5.1).
const CONTENT_TYPE_HANDSHAKE: u8 = 22;

/// Major byte of every TLS (and SSL 3.0) record version: legacy_record_version is 0x0301 or
/// 0x0303 in a ClientHello (RFC 8446 §5.1), older stacks send 0x0300..0x0303.
const RECORD_VERSION_MAJOR: u8 = 3;

/// HandshakeType client_hello (RFC 8446 §4).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// Record header: type, legacy_record_version, length (RFC 8446 §5.1).
const RECORD_HEADER_LEN: usize = 5;

/// Handshake header: msg_type and a 24-bit length (RFC 8446 §4).
const HANDSHAKE_HEADER_LEN: usize = 4;

/// Longest plaintext record fragment: "The length MUST NOT exceed 2^14 bytes" (RFC 8446 §5.1).
const MAX_RECORD_LEN: usize = 1 << 14;

/// Longest ClientHello handshake message accepted, 4-byte header included. The handshake length
/// field allows 2^24 - 1, but a ClientHello is sent before anything is negotiated and in practice
/// fits one full record (2^14 bytes, RFC 8446 §5.1): ordinary hellos are 200-600 bytes,
/// post-quantum key shares (X25519MLKEM768) bring them to about 1.8 KB. Anything longer is
/// [`TlsError::Malformed`] at once, so the caller never buffers megabytes waiting for it.
pub const MAX_CLIENT_HELLO_LEN: usize = MAX_RECORD_LEN + HANDSHAKE_HEADER_LEN;

/// ExtensionType server_name (RFC 6066 §3).
const EXT_SERVER_NAME: u16 = 0;

/// ExtensionType encrypted_client_hello (draft-ietf-tls-esni, IANA TLS ExtensionType 0xfe0d).
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
/// ExtensionType supported_versions (RFC 8446 §4.2.1).
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// ExtensionType supported_groups (RFC 8422 §5.1.1, RFC 8446 §4.2.7): JA3's EllipticCurves.
const EXT_SUPPORTED_GROUPS: u16 = 10;
/// ExtensionType ec_point_formats (RFC 8422 §5.1.2): JA3's EllipticCurvePointFormats.
const EXT_EC_POINT_FORMATS: u16 = 11;
/// ExtensionType signature_algorithms (RFC 8446 §4.2.3): JA4_c's second part.
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
/// ExtensionType application_layer_protocol_negotiation (RFC 7301 §3.1): JA4's ALPN.
const EXT_ALPN: u16 = 16;

/// The highest non-GREASE version in a ClientHello's supported_versions data
/// (`u8 length; u16 versions[]`); GREASE values are `0x?a?a` (RFC 8701). A TLS 1.3 draft
/// (`0x7fNN`, still offered by QUIC draft clients) counts as TLS 1.3.
fn max_supported_version(ext_data: &[u8]) -> Option<u16> {
    let (&len, list) = ext_data.split_first()?;
    list.get(..usize::from(len))?
        .chunks_exact(2)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .filter(|v| v & 0x0f0f != 0x0a0a)
        .map(|v| if v >> 8 == 0x7f { 0x0304 } else { v })
        .max()
}

/// The name of a TLS protocol version as EVE and ECS write it (`TLS 1.3`, `SSLv3`); `None`
/// for a value that names none.
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSLv3",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

/// NameType host_name (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Why no ClientHello could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// The bytes are not a TLS handshake record carrying a ClientHello.
    NotClientHello,
    /// A ClientHello starts here but the bytes end before it does (more segments needed).
    Incomplete,
    /// A length field contradicts the data.
    Malformed,
}

/// What a ClientHello tells us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The first host_name of the server_name extension, normalised.
    pub sni: Option<Vec<u8>>,
    /// The hello carries an encrypted_client_hello extension (0xfe0d): `sni` is the outer name.
    pub ech: bool,
    /// The highest protocol version offered: the largest non-GREASE entry of
    /// supported_versions (RFC 8446 §4.2.1), else legacy_version (`0x0303` is TLS 1.2).
    pub version: u16,
    /// JA3 / JA4, those asked for ([`parse_client_hello_with`]).
    pub fp: Fingerprints,
}

/// Parse a ClientHello at the start of `data` (a TCP payload: TLS records).
///
/// - [`TlsError::NotClientHello`]: the first record is not a handshake record with version
///   major 3 whose fragment starts with a client_hello; decided from the first 6 bytes (fewer
///   if they already disagree).
/// - [`TlsError::Incomplete`]: everything present is consistent with a ClientHello, but the
///   bytes end before its last byte (this includes empty `data`). Retry with more of the stream.
/// - [`TlsError::Malformed`]: a record or handshake length contradicts the data or a limit
///   (zero-length or over-2^14 record, another record type between fragments, a hello over
///   [`MAX_CLIENT_HELLO_LEN`], inner lengths that do not add up, bytes after the extensions).
///
/// The hello may be fragmented over several consecutive handshake records (RFC 8446 §5.1);
/// bytes after the hello (further messages or records) are ignored. `sni` is the first
/// host_name entry of the first server_name extension, normalised ([`crate::name::normalize`]);
/// it is raw bytes as sent, possibly non-ASCII, so escape it before display. An empty
/// host_name gives `None`. `ech` is set when an encrypted_client_hello extension is present;
/// note that clients (Chrome, for one) send a GREASE one (draft-ietf-tls-esni §6.2) when they
/// have no ECH config for the server, indistinguishable on the wire by design, so `ech` means
/// "ECH offered or GREASEd": `sni` is the real name under GREASE, the public name under ECH.
pub fn parse_client_hello(data: &[u8]) -> Result<ClientHello, TlsError> {
    parse_client_hello_with(data, Want::NONE)
}

/// [`parse_client_hello`], computing the fingerprints `want` asks for into
/// [`ClientHello::fp`] (see [`super::ja`]).
pub fn parse_client_hello_with(data: &[u8], want: Want) -> Result<ClientHello, TlsError> {
    precheck(data)?;
    let mut joined = Vec::new();
    let msg = handshake_message(data, &mut joined)?;
    parse_hello(msg, want)
}

/// Parse a ClientHello handshake message (handshake header first, no record layer), as carried
/// in QUIC CRYPTO frames (RFC 9001 §4.1.3). `Incomplete` until the whole message is present.
pub fn parse_client_hello_message(msg: &[u8]) -> Result<ClientHello, TlsError> {
    parse_client_hello_message_with(msg, Want::NONE)
}

/// [`parse_client_hello_message`], computing the fingerprints `want` asks for.
pub fn parse_client_hello_message_with(msg: &[u8], want: Want) -> Result<ClientHello, TlsError> {
    let total = message_len(msg)?.ok_or(if msg.is_empty() || msg[0] == HANDSHAKE_CLIENT_HELLO {
        TlsError::Incomplete
    } else {
        TlsError::NotClientHello
    })?;
    parse_hello(msg.get(..total).ok_or(TlsError::Incomplete)?, want)
}

/// Whether a stream starting with `data` may carry a ClientHello: false exactly when
/// [`parse_client_hello`] would answer [`TlsError::NotClientHello`] from these bytes' first six
/// (content type, record version major, record length, handshake type), true when they agree
/// with a hello or are too few to tell. The application layer's content probe.
#[inline]
pub fn may_be_client_hello(data: &[u8]) -> bool {
    precheck(data) != Err(TlsError::NotClientHello)
}

/// Record framing of a ClientHello on a stream: how many stream bytes must be present, counted
/// from `data[0]` (the first record header), before the hello starting there may be complete.
/// That is where its last byte lies once its handshake header (type, 24-bit length; RFC 8446
/// §4) is readable across however many records carry it (RFC 8446 §5.1); before that, the end
/// of the next header needed. Walks record headers only, never past `data`, and checks
/// nothing else: [`parse_client_hello`] does the checking. A zero-length record (malformed)
/// gives 0, so that the caller retries on the next byte and the parser says so.
pub fn client_hello_need(data: &[u8]) -> usize {
    let mut pos = 0;
    let mut hdr = [0u8; HANDSHAKE_HEADER_LEN];
    let mut hdr_len = 0;
    // handshake bytes in the records before `pos`
    let mut got = 0;
    loop {
        let Some(h) = data.get(pos..pos + RECORD_HEADER_LEN) else {
            return pos + RECORD_HEADER_LEN;
        };
        let rec_len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        let frag = pos + RECORD_HEADER_LEN;
        if rec_len == 0 {
            return 0;
        }
        let mut k = 0;
        while hdr_len < HANDSHAKE_HEADER_LEN && k < rec_len {
            let Some(&b) = data.get(frag + k) else {
                return frag + k + (HANDSHAKE_HEADER_LEN - hdr_len).min(rec_len - k);
            };
            hdr[hdr_len] = b;
            hdr_len += 1;
            k += 1;
        }
        if hdr_len == HANDSHAKE_HEADER_LEN {
            let total = HANDSHAKE_HEADER_LEN
                + (usize::from(hdr[1]) << 16 | usize::from(hdr[2]) << 8 | usize::from(hdr[3]));
            if got + rec_len >= total {
                return frag + (total - got);
            }
        }
        got += rec_len;
        pos = frag + rec_len;
    }
}

/// Refuse non-TLS payloads from at most the first 6 bytes: content type, version major, record
/// length, handshake type. Cheap enough for the first payload of every flow.
#[inline]
fn precheck(data: &[u8]) -> Result<(), TlsError> {
    match *data {
        [t, ..] if t != CONTENT_TYPE_HANDSHAKE => Err(TlsError::NotClientHello),
        [_, major, ..] if major != RECORD_VERSION_MAJOR => Err(TlsError::NotClientHello),
        // An impossible first record length is far more often other data that happens to start
        // with 0x16 0x03 (1 in 65,536 random payloads) than a broken hello: not TLS.
        [_, _, _, len_hi, len_lo, ..] if !record_len_ok(u16::from_be_bytes([len_hi, len_lo])) => {
            Err(TlsError::NotClientHello)
        }
        [_, _, _, _, _, ht, ..] if ht != HANDSHAKE_CLIENT_HELLO => Err(TlsError::NotClientHello),
        [_, _, _, _, _, _, ..] => Ok(()),
        _ => Err(TlsError::Incomplete),
    }
}

/// Zero-length handshake fragments are forbidden (RFC 8446 §5.1, RFC 5246 §6.2.1), and so are
/// fragments over 2^14 bytes.
fn record_len_ok(len: u16) -> bool {
    (1..=MAX_RECORD_LEN).contains(&usize::from(len))
}

/// The whole ClientHello handshake message, header included: a slice of `data` when the first
/// record holds all of it, else the fragments of consecutive handshake records joined in
/// `joined` (which then holds exactly the message).
fn handshake_message<'a>(data: &'a [u8], joined: &'a mut Vec<u8>) -> Result<&'a [u8], TlsError> {
    let mut rest = data;
    let mut first = true;
    loop {
        let (fragment, record_complete, next) = next_record(rest, first)?;
        if first {
            // Fast path, nearly every hello: the first record holds the whole message.
            if let Some(total) = message_len(fragment)? {
                if let Some(msg) = fragment.get(..total) {
                    return Ok(msg);
                }
            }
        }
        if let Some(total) = append_fragment(joined, fragment)? {
            return joined.get(..total).ok_or(TlsError::Malformed);
        }
        if !record_complete {
            return Err(TlsError::Incomplete);
        }
        rest = next;
        first = false;
    }
}

/// Split the record at the start of `rest` into (fragment present, whether the whole fragment
/// is present, bytes after the record). Only handshake records with version major 3 pass.
fn next_record(rest: &[u8], first: bool) -> Result<(&[u8], bool, &[u8]), TlsError> {
    // "Handshake messages MUST NOT be interleaved with other record types" (RFC 8446 §5.1): once
    // the hello has started, any other record is a broken hello, not a non-TLS flow.
    let wrong_kind = if first {
        TlsError::NotClientHello
    } else {
        TlsError::Malformed
    };
    if rest.len() < RECORD_HEADER_LEN {
        // A cut header: what is there must still look like a handshake record.
        let type_ok = rest.first().is_none_or(|&t| t == CONTENT_TYPE_HANDSHAKE);
        let major_ok = rest.get(1).is_none_or(|&m| m == RECORD_VERSION_MAJOR);
        return Err(if type_ok && major_ok {
            TlsError::Incomplete
        } else {
            wrong_kind
        });
    }
    let (body, hdr) = parse_tls_record_header(rest).map_err(|_| TlsError::Malformed)?;
    if hdr.record_type.0 != CONTENT_TYPE_HANDSHAKE
        || hdr.version.0 >> 8 != u16::from(RECORD_VERSION_MAJOR)
    {
        return Err(wrong_kind);
    }
    if !record_len_ok(hdr.len) {
        return Err(TlsError::Malformed);
    }
    let len = usize::from(hdr.len);
    Ok(match (body.get(..len), body.get(len..)) {
        (Some(fragment), Some(next)) => (fragment, true, next),
        _ => (body, false, &[]),
    })
}

/// Total length of the handshake message whose first bytes are `msg`, once its 4-byte header is
/// there (`None` before). Checks the type and [`MAX_CLIENT_HELLO_LEN`].
fn message_len(msg: &[u8]) -> Result<Option<usize>, TlsError> {
    let [ht, l0, l1, l2, ..] = *msg else {
        return Ok(None);
    };
    if ht != HANDSHAKE_CLIENT_HELLO {
        return Err(TlsError::NotClientHello);
    }
    let total =
        HANDSHAKE_HEADER_LEN + (usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2));
    if total > MAX_CLIENT_HELLO_LEN {
        return Err(TlsError::Malformed);
    }
    Ok(Some(total))
}

/// Append from `fragment` what the message still needs; `Some(total)` once it is complete.
/// `joined` never grows past the message's own length, itself at most [`MAX_CLIENT_HELLO_LEN`].
fn append_fragment(joined: &mut Vec<u8>, mut fragment: &[u8]) -> Result<Option<usize>, TlsError> {
    // At most three rounds: complete the 4-byte header, take the body, report.
    loop {
        let known = message_len(joined)?;
        if let Some(total) = known {
            if joined.len() >= total {
                return Ok(Some(total));
            }
        }
        let want = known.unwrap_or(HANDSHAKE_HEADER_LEN);
        let take = want.saturating_sub(joined.len()).min(fragment.len());
        if take == 0 {
            return Ok(None);
        }
        let (now, later) = fragment.split_at(take);
        joined.extend_from_slice(now);
        fragment = later;
    }
}

/// Parse a complete ClientHello handshake message (header included); compute the fingerprints
/// `want` asks for (the lists they need are collected only then).
fn parse_hello(msg: &[u8], want: Want) -> Result<ClientHello, TlsError> {
    let body = msg.get(HANDSHAKE_HEADER_LEN..).ok_or(TlsError::Malformed)?;
    // The body is complete (its length came from the handshake header), so any error here,
    // Incomplete included, is a length inside the hello contradicting the handshake length.
    let (rest, hello) = parse_tls_handshake_client_hello(body).map_err(|_| TlsError::Malformed)?;
    // tls-parser reads the extensions block with `opt(complete(length_data(be_u16)))`: a length
    // larger than the rest of the hello gives `ext: None` and leaves the bytes unread. Any byte
    // left over is therefore a length contradicting the data (RFC 8446 §4.1.2 has nothing after
    // the extensions).
    if !rest.is_empty() {
        return Err(TlsError::Malformed);
    }
    let mut out = ClientHello {
        version: hello.version.0,
        ..ClientHello::default()
    };
    let mut seen_server_name = false;
    let mut parts = want.any().then(|| HelloParts {
        legacy_version: hello.version.0,
        ciphers: hello.ciphers.iter().map(|c| c.0).collect(),
        ..HelloParts::default()
    });
    let mut exts = hello.ext.unwrap_or_default();
    // Each round consumes at least the 4-byte extension header: at most
    // MAX_CLIENT_HELLO_LEN / 4 extensions.
    while !exts.is_empty() {
        let (next, ext) = parse_tls_extension_unknown(exts).map_err(|_| TlsError::Malformed)?;
        exts = next;
        let TlsExtension::Unknown(TlsExtensionType(ext_type), ext_data) = ext else {
            return Err(TlsError::Malformed);
        };
        if let Some(p) = parts.as_mut() {
            fingerprint_part(p, ext_type, ext_data);
        }
        match ext_type {
            // "There MUST NOT be more than one extension of the same type" (RFC 8446 §4.2): if
            // there is, the first one is the one we report.
            EXT_SERVER_NAME if !seen_server_name => {
                seen_server_name = true;
                out.sni = host_name(ext_data)?;
            }
            EXT_ENCRYPTED_CLIENT_HELLO => out.ech = true,
            EXT_SUPPORTED_VERSIONS => {
                if let Some(v) = max_supported_version(ext_data) {
                    out.version = out.version.max(v);
                }
            }
            _ => {}
        }
    }
    if let Some(p) = parts {
        out.fp = ja::fingerprints(&p, want);
    }
    Ok(out)
}

/// Note what JA3 and JA4 need of one extension: its type, and the contents of the few they
/// read. A list whose length prefix overruns the extension is read as far as the extension
/// goes (the SNI walk above decides whether the hello is malformed); "MUST NOT be more than
/// one extension of the same type" (RFC 8446 §4.2): of repeated ones, the first non-empty
/// contents count (every repeat is still in the extension list).
fn fingerprint_part<'a>(p: &mut HelloParts<'a>, ext_type: u16, data: &'a [u8]) {
    p.extensions.push(ext_type);
    // `u16 length; list` (groups, signature algorithms, ALPN) or `u8 length; list`.
    let list16 = |d: &'a [u8]| -> &'a [u8] {
        let n = d
            .get(..2)
            .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        d.get(2..).map_or(&[][..], |r| &r[..n.min(r.len())])
    };
    let list8 = |d: &'a [u8]| -> &'a [u8] {
        let n = d.first().map_or(0, |&l| usize::from(l));
        d.get(1..).map_or(&[][..], |r| &r[..n.min(r.len())])
    };
    match ext_type {
        EXT_SERVER_NAME => p.sni = true,
        EXT_SUPPORTED_GROUPS if p.groups.is_empty() => p.groups = list16(data),
        EXT_EC_POINT_FORMATS if p.point_formats.is_empty() => p.point_formats = list8(data),
        EXT_SIGNATURE_ALGORITHMS if p.sig_algs.is_empty() => p.sig_algs = list16(data),
        EXT_ALPN if p.alpn.is_none() => {
            // ProtocolName protocol_name_list<2..2^16-1>, each `u8 length; bytes` (RFC 7301)
            let names = list16(data);
            let first = list8(names);
            p.alpn = Some(first).filter(|f| !f.is_empty());
        }
        EXT_SUPPORTED_VERSIONS if p.supported_version.is_none() => {
            p.supported_version = list8(data)
                .chunks_exact(2)
                .map(|v| u16::from_be_bytes([v[0], v[1]]))
                .filter(|&v| !ja::is_grease(v))
                .max();
        }
        _ => {}
    }
}

/// The first host_name of a server_name extension's data, normalised; `None` if there is none
/// or it is empty. tls-parser stops the list silently at an entry it cannot read and ignores
/// bytes after the list; a list length beyond the extension is an error.
fn host_name(ext_data: &[u8]) -> Result<Option<Vec<u8>>, TlsError> {
    let (_, ext) = parse_tls_extension_sni_content(ext_data).map_err(|_| TlsError::Malformed)?;
    let TlsExtension::SNI(list) = ext else {
        return Err(TlsError::Malformed);
    };
    let Some(&(_, name)) = list.iter().find(|(t, _)| t.0 == NAME_TYPE_HOST_NAME) else {
        return Ok(None);
    };
    let mut name = name.to_vec();
    crate::name::normalize(&mut name);
    Ok((!name.is_empty()).then_some(name))
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn bare_handshake_message_is_parsed_and_prefixes_are_incomplete() {
        // the curl hello of the record-layer tests, without its 5-byte record header
        let data = super::tests::unhex(super::tests::CURL_TLS13_HELLO);
        let msg = &data[5..];
        let hello = parse_client_hello_message(msg).unwrap();
        assert_eq!(hello.sni.as_deref(), Some(&b"login.phish.test"[..]));
        for n in 0..msg.len() {
            assert_eq!(
                parse_client_hello_message(&msg[..n]),
                Err(TlsError::Incomplete),
                "{n}"
            );
        }
        assert_eq!(
            parse_client_hello_message(&[2, 0, 0, 1, 0]),
            Err(TlsError::NotClientHello)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::tls::{
        client_hello, ech_ext, ext, handshake, hello_body, records, server_name_list, sni_ext,
        usual_extensions, Style,
    };

    fn be16(n: usize) -> [u8; 2] {
        u16::try_from(n).unwrap().to_be_bytes()
    }

    fn sni_of(data: &[u8]) -> Option<Vec<u8>> {
        parse_client_hello(data).unwrap().sni
    }

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// xorshift64: deterministic, no dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// pcaps/demo.pcap frame 20 (made here by pcaps/real/demo.sh): curl 7.88.1's TLS 1.3
    /// ClientHello with SNI login.phish.test, the whole TCP payload.
    pub(super) const CURL_TLS13_HELLO: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pcaps/vectors/curl-tls13-client-hello.hex"
    ));

    /// zk-tls13-ech-outer-sni.pcap frame 7 (zeek/zeek testing/btest/Traces/tls/tls13-ech.pcap):
    /// a Chrome ClientHelloOuter with ECH; server_name comes after encrypted_client_hello.
    const ECH_OUTER_HELLO: &str = concat!(
        "1603010200010001fc0303d820986a1fb4dc3a70fac91f1359ff5e320c6a5e07397ab36f8c513be4585f5d207c77f968",
        "ecbeda040598f47af5265fb5f0f5ef3279f08b43d03c31a57ce0c63000202a2a130113021303c02bc02fc02cc030cca9",
        "cca8c013c014009c009d002f003501000193dada0000ff010001000010000e000c02683208687474702f312e31000d00",
        "120010040308040401050308050501080606010033002b00291a1a000100001d0020231cb3a7bde0d15d97dfdfc4d315",
        "b112899e9480d1dc7a0e739c4058bbe7276d002d0002010144690005000302683200230000002b0007068a8a03040303",
        "000a000a00081a1a001d00170018fe0d00ba0000010001d10020cce5c83299bb8dffdb74bafd0a1d524b82973e224c12",
        "999beed169ee7a9ad67d00900b7b2dc3b17adb2eabc1f7fabb61bdd5db777336a9da3679c5373ff69f0087b9453bd3ec",
        "42b6d17b1b7d024cd7c4b627d1b0cd3ae9fbe5422f132187789d6c7f89f29201ff0e64853d3988adb723fff552447ebd",
        "087a55422abe568a8dfe4596a5820f134ec9f192620e4b36776431e14e35a6c9ddbe912359b1bde0d74a062e634eb5ce",
        "d3063bed83f0b562f26278030017000000050005010000000000120000000b00020100000000170015000012636c6f75",
        "64666c6172652d6563682e636f6d001b00030200029a9a0001000015000700000000000000",
    );

    /// Valid inputs of every shape, for the sweeps.
    fn valid_hellos() -> Vec<Vec<u8>> {
        let tls13 = handshake(&hello_body(
            Style::Tls13,
            Some(&usual_extensions(
                Style::Tls13,
                Some(b"split.example"),
                true,
            )),
        ));
        let header_split = records(&tls13, &[2]);
        let three = records(&tls13, &[50, 120]);
        let one_byte: Vec<usize> = (1..tls13.len()).collect();
        vec![
            client_hello(Style::Tls12, Some(b"tls12.example"), false),
            client_hello(Style::Tls13, Some(b"tls13.example"), true),
            records(&handshake(&hello_body(Style::Tls12, None)), &[]),
            header_split,
            three,
            records(&tls13, &one_byte),
            unhex(CURL_TLS13_HELLO),
            unhex(ECH_OUTER_HELLO),
        ]
    }

    // ---- what is extracted ----

    #[test]
    fn sni_is_extracted_from_tls12_and_tls13_hellos() {
        let h = parse_client_hello(&client_hello(Style::Tls12, Some(b"www.example.com"), false));
        assert_eq!(
            h,
            Ok(ClientHello {
                sni: Some(b"www.example.com".to_vec()),
                ech: false,
                version: 0x0303,
                fp: Fingerprints::default(),
            })
        );
        let h = parse_client_hello(&client_hello(Style::Tls13, Some(b"www.example.org"), false));
        assert_eq!(h.unwrap().sni.as_deref(), Some(&b"www.example.org"[..]));
    }

    #[test]
    fn mixed_case_sni_is_normalised() {
        let data = client_hello(Style::Tls13, Some(b"WWW.Example.COM."), false);
        assert_eq!(sni_of(&data), Some(b"www.example.com".to_vec()));
    }

    #[test]
    fn non_ascii_sni_bytes_are_kept_raw() {
        let data = client_hello(Style::Tls13, Some(b"\x1b[31mEvil\xff.com"), false);
        assert_eq!(sni_of(&data), Some(b"\x1b[31mevil\xff.com".to_vec()));
    }

    #[test]
    fn no_sni_extension_gives_none() {
        let h = parse_client_hello(&client_hello(Style::Tls13, None, false));
        assert_eq!(
            h,
            Ok(ClientHello {
                version: 0x0304,
                ..ClientHello::default()
            })
        );
    }

    #[test]
    fn hello_without_extensions_block_gives_none() {
        let data = records(&handshake(&hello_body(Style::Tls12, None)), &[]);
        assert_eq!(
            parse_client_hello(&data),
            Ok(ClientHello {
                version: 0x0303,
                ..ClientHello::default()
            })
        );
    }

    #[test]
    fn empty_host_name_gives_none() {
        assert_eq!(sni_of(&client_hello(Style::Tls13, Some(b""), false)), None);
        // "." normalises to nothing (RFC 6066 §3: no trailing dot)
        assert_eq!(sni_of(&client_hello(Style::Tls13, Some(b"."), false)), None);
        // an empty server_name extension (as servers send it) also parses, to no name
        let exts = vec![ext(EXT_SERVER_NAME, &[])];
        let data = records(&handshake(&hello_body(Style::Tls12, Some(&exts))), &[]);
        assert_eq!(sni_of(&data), None);
    }

    #[test]
    fn first_host_name_entry_is_the_sni() {
        let list = server_name_list(&[
            (7, b"other-type"),
            (0, b"first.example"),
            (0, b"second.example"),
        ]);
        let exts = vec![ext(EXT_SERVER_NAME, &list)];
        let data = records(&handshake(&hello_body(Style::Tls13, Some(&exts))), &[]);
        assert_eq!(sni_of(&data), Some(b"first.example".to_vec()));
    }

    #[test]
    fn first_server_name_extension_wins_over_a_duplicate() {
        let exts = vec![sni_ext(b"first.example"), sni_ext(b"second.example")];
        let data = records(&handshake(&hello_body(Style::Tls13, Some(&exts))), &[]);
        assert_eq!(sni_of(&data), Some(b"first.example".to_vec()));
    }

    #[test]
    fn sni_after_many_other_extensions_is_found() {
        let mut exts = usual_extensions(Style::Tls13, None, false);
        exts.push(ext(21, &[0; 300])); // padding (RFC 7685)
        exts.push(ext(0x1a1a, &[0])); // GREASE with data
        exts.push(sni_ext(b"late.example"));
        let data = records(&handshake(&hello_body(Style::Tls13, Some(&exts))), &[]);
        assert_eq!(sni_of(&data), Some(b"late.example".to_vec()));
    }

    #[test]
    fn ech_extension_is_flagged_with_the_outer_sni() {
        let h = parse_client_hello(&client_hello(Style::Tls13, Some(b"public.example"), true));
        assert_eq!(
            h,
            Ok(ClientHello {
                sni: Some(b"public.example".to_vec()),
                ech: true,
                version: 0x0304,
                fp: Fingerprints::default(),
            })
        );
        // ECH without any server_name
        let h = parse_client_hello(&client_hello(Style::Tls13, None, true));
        assert_eq!(
            h,
            Ok(ClientHello {
                sni: None,
                ech: true,
                version: 0x0304,
                fp: Fingerprints::default(),
            })
        );
    }

    #[test]
    fn data_after_the_hello_is_ignored() {
        let mut data = client_hello(Style::Tls13, Some(b"a.example"), false);
        data.extend([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]); // change_cipher_spec
        data.extend([0x17, 0x03, 0x03, 0x00, 0x03, 1, 2, 3]); // early data
        assert_eq!(sni_of(&data), Some(b"a.example".to_vec()));
        // another handshake message after the hello in the same record
        let mut msg = handshake(&hello_body(Style::Tls12, Some(&[sni_ext(b"b.example")])));
        msg.extend([0x10, 0, 0, 1, 0]);
        assert_eq!(sni_of(&records(&msg, &[])), Some(b"b.example".to_vec()));
    }

    // ---- fragmentation and incompleteness ----

    #[test]
    fn hello_split_across_two_records_is_joined() {
        let msg = handshake(&hello_body(
            Style::Tls13,
            Some(&usual_extensions(
                Style::Tls13,
                Some(b"split.example"),
                false,
            )),
        ));
        for cut in [1, 4, 40, msg.len() / 2, msg.len() - 1] {
            let data = records(&msg, &[cut]);
            assert_eq!(sni_of(&data), Some(b"split.example".to_vec()), "cut {cut}");
        }
    }

    #[test]
    fn hello_in_one_byte_records_is_joined() {
        let msg = handshake(&hello_body(
            Style::Tls12,
            Some(&[sni_ext(b"tiny.records.example"), ech_ext()]),
        ));
        let cuts: Vec<usize> = (1..msg.len()).collect();
        let h = parse_client_hello(&records(&msg, &cuts)).unwrap();
        assert_eq!(h.sni, Some(b"tiny.records.example".to_vec()));
        assert!(h.ech);
    }

    #[test]
    fn every_prefix_of_a_valid_hello_is_incomplete() {
        for (i, full) in valid_hellos().iter().enumerate() {
            assert!(parse_client_hello(full).is_ok(), "hello {i}");
            for len in 0..full.len() {
                assert_eq!(
                    parse_client_hello(&full[..len]),
                    Err(TlsError::Incomplete),
                    "hello {i}, prefix {len}"
                );
            }
        }
    }

    #[test]
    fn record_length_larger_than_the_buffer_is_incomplete() {
        // A record announcing 2^14 bytes, of which only the first 300 have arrived.
        let body = [0x33; MAX_RECORD_LEN - HANDSHAKE_HEADER_LEN];
        let data = records(&handshake(&body), &[]);
        assert_eq!(parse_client_hello(&data[..300]), Err(TlsError::Incomplete));
    }

    #[test]
    fn handshake_length_beyond_the_record_waits_for_the_next_record() {
        let msg = handshake(&hello_body(Style::Tls12, Some(&[sni_ext(b"x.example")])));
        let first_record_only = records(&msg[..60], &[]);
        assert_eq!(
            parse_client_hello(&first_record_only),
            Err(TlsError::Incomplete)
        );
    }

    // ---- lengths that contradict the data ----

    /// A TLS 1.2 hello with an SNI extension, and the offset of its extensions length field.
    fn hello_and_extensions_len_offset() -> (Vec<u8>, usize) {
        let data = client_hello(Style::Tls12, Some(b"len.example"), false);
        // record 5 + handshake 4 + version 2 + random 32 + sid 1 + suites 2+6 + comp 2
        (data, 5 + 4 + 2 + 32 + 1 + 8 + 2)
    }

    #[test]
    fn extensions_length_larger_than_the_hello_is_malformed() {
        let (mut data, at) = hello_and_extensions_len_offset();
        let len = u16::from_be_bytes([data[at], data[at + 1]]);
        assert_eq!(usize::from(len), data.len() - at - 2);
        data[at..at + 2].copy_from_slice(&(len + 1).to_be_bytes());
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
        data[at..at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
    }

    #[test]
    fn extensions_length_smaller_than_the_extensions_is_malformed() {
        let (mut data, at) = hello_and_extensions_len_offset();
        let len = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&(len - 1).to_be_bytes());
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
    }

    #[test]
    fn handshake_length_shorter_than_the_hello_is_malformed() {
        let full = handshake(&hello_body(Style::Tls12, Some(&[sni_ext(b"x.example")])));
        // keep the bytes, shrink the handshake length by 3: the extensions now overrun it
        let mut msg = full.clone();
        msg[3] -= 3;
        assert_eq!(
            parse_client_hello(&records(&msg, &[])),
            Err(TlsError::Malformed)
        );
    }

    #[test]
    fn bytes_after_the_extensions_are_malformed() {
        let mut body = hello_body(Style::Tls12, Some(&[sni_ext(b"x.example")]));
        body.extend([0xde, 0xad]);
        assert_eq!(
            parse_client_hello(&records(&handshake(&body), &[])),
            Err(TlsError::Malformed)
        );
    }

    #[test]
    fn extension_longer_than_the_extensions_block_is_malformed() {
        let mut bad = sni_ext(b"x.example");
        bad[3] += 1; // extension data length one past the block
        let mut body = hello_body(Style::Tls12, Some(&[]));
        let at = body.len() - 2;
        body.truncate(at);
        body.extend(be16(bad.len()));
        body.extend(&bad);
        assert_eq!(
            parse_client_hello(&records(&handshake(&body), &[])),
            Err(TlsError::Malformed)
        );
    }

    #[test]
    fn server_name_list_longer_than_the_extension_is_malformed() {
        let mut data = server_name_list(&[(0, b"x.example")]);
        data[1] += 1;
        let exts = vec![ext(EXT_SERVER_NAME, &data)];
        let data = records(&handshake(&hello_body(Style::Tls12, Some(&exts))), &[]);
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
    }

    #[test]
    fn session_id_longer_than_32_is_malformed() {
        let mut body = hello_body(Style::Tls13, Some(&[sni_ext(b"x.example")]));
        body[34] = 33; // legacy_session_id<0..32> (RFC 8446 §4.1.2)
        assert_eq!(
            parse_client_hello(&records(&handshake(&body), &[])),
            Err(TlsError::Malformed)
        );
    }

    #[test]
    fn zero_length_first_record_is_not_tls_and_between_fragments_is_malformed() {
        assert_eq!(
            parse_client_hello(&[0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03, 0x01]),
            Err(TlsError::NotClientHello)
        );
        // a zero-length record between two fragments
        let msg = handshake(&hello_body(Style::Tls12, None));
        let mut data = records(&msg[..10], &[]);
        data.extend([0x16, 0x03, 0x01, 0x00, 0x00]);
        data.extend(records(&msg[10..], &[]));
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
    }

    #[test]
    fn first_record_longer_than_2_14_is_not_tls() {
        let data = [0x16, 0x03, 0x01, 0x40, 0x01, 0x01, 0x00, 0x40, 0x00];
        assert_eq!(parse_client_hello(&data), Err(TlsError::NotClientHello));
    }

    #[test]
    fn other_record_type_between_fragments_is_malformed() {
        let msg = handshake(&hello_body(Style::Tls12, Some(&[sni_ext(b"x.example")])));
        let mut data = records(&msg[..30], &[]);
        let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
        data.extend(alert);
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
        // decided as soon as the next record's type byte is there
        assert_eq!(parse_client_hello(&data[..36]), Err(TlsError::Malformed));
        assert_eq!(parse_client_hello(&data[..35]), Err(TlsError::Incomplete));
    }

    #[test]
    fn hello_over_max_client_hello_len_is_malformed() {
        // refused from the handshake header alone, without waiting for the bytes
        let too_long = u32::try_from(MAX_CLIENT_HELLO_LEN - HANDSHAKE_HEADER_LEN + 1).unwrap();
        let l = too_long.to_be_bytes();
        let data = [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, l[1], l[2], l[3]];
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
        // also when the handshake header itself is split over records
        let data = [
            0x16, 0x03, 0x01, 0x00, 0x02, 0x01, l[1], 0x16, 0x03, 0x01, 0x00, 0x02, l[2], l[3],
        ];
        assert_eq!(parse_client_hello(&data), Err(TlsError::Malformed));
        // and for a complete, padded hello one byte over, in two records
        let msg = padded_hello(MAX_CLIENT_HELLO_LEN + 1);
        assert_eq!(
            parse_client_hello(&records(&msg, &[MAX_RECORD_LEN])),
            Err(TlsError::Malformed)
        );
    }

    #[test]
    fn hello_of_exactly_max_client_hello_len_is_accepted() {
        let msg = padded_hello(MAX_CLIENT_HELLO_LEN);
        assert_eq!(msg.len(), MAX_CLIENT_HELLO_LEN);
        let data = records(&msg, &[MAX_RECORD_LEN]);
        assert_eq!(sni_of(&data), Some(b"big.example".to_vec()));
    }

    /// A ClientHello handshake message of exactly `total` bytes, made so with padding.
    fn padded_hello(total: usize) -> Vec<u8> {
        let mut exts = usual_extensions(Style::Tls13, Some(b"big.example"), false);
        let base = handshake(&hello_body(Style::Tls13, Some(&exts))).len();
        exts.push(ext(21, &vec![0; total - base - 4]));
        handshake(&hello_body(Style::Tls13, Some(&exts)))
    }

    // ---- not a ClientHello ----

    #[test]
    fn non_tls_payloads_are_not_client_hello() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let random: Vec<u8> = (0..64).map(|_| xorshift(&mut rng) as u8 | 0x80).collect();
        let cases: &[(&str, &[u8])] = &[
            ("http get", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            ("ssh banner", b"SSH-2.0-OpenSSH_9.6\r\n"),
            ("random bytes", &random),
            (
                "application data",
                &[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5],
            ),
            ("alert", &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
            (
                "server hello",
                &[0x16, 0x03, 0x03, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2c],
            ),
            ("sslv2 hello", &[0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15]),
            ("record major 2", &[0x16, 0x02, 0x00, 0x00, 0x30, 0x01]),
            ("one byte", b"G"),
            ("two bytes", &[0x16, 0x01]),
        ];
        for (what, data) in cases {
            assert_eq!(
                parse_client_hello(data),
                Err(TlsError::NotClientHello),
                "{what}"
            );
        }
    }

    #[test]
    fn the_offered_version_is_the_highest_supported_version_else_legacy_version() {
        let v = |style, exts: Option<&Vec<Vec<u8>>>| {
            let body = hello_body(style, exts.map(|e| e.as_slice()));
            parse_client_hello(&records(&handshake(&body), &[])).map(|h| h.version)
        };
        assert_eq!(v(Style::Tls12, None), Ok(0x0303));
        let tls13 = usual_extensions(Style::Tls13, Some(b"a.example"), false);
        assert_eq!(v(Style::Tls13, Some(&tls13)), Ok(0x0304));
        // supported_versions absent: legacy_version, whatever else the hello looks like.
        assert_eq!(v(Style::Tls13, None), Ok(0x0303));
        // GREASE (0x?a?a) is never the answer, however high.
        let exts = vec![sni_ext(b"a.example"), ext(43, &[4, 0xfa, 0xfa, 0x03, 0x03])];
        assert_eq!(v(Style::Tls12, Some(&exts)), Ok(0x0303));
        // TLS 1.3 drafts (mvfst's QUIC draft-27 hello offers 0x0304 and 0x7f1a..0x7f1c).
        let exts = vec![ext(43, &[6, 0x03, 0x04, 0x7f, 0x1c, 0x7f, 0x1a])];
        assert_eq!(v(Style::Tls12, Some(&exts)), Ok(0x0304));
        assert_eq!(version_name(0x0304), Some("TLS 1.3"));
        assert_eq!(version_name(0x0300), Some("SSLv3"));
        assert_eq!(version_name(0xfafa), None);
    }

    #[test]
    fn plausible_short_prefix_is_incomplete() {
        for data in [
            &[][..],
            &[0x16],
            &[0x16, 0x03],
            &[0x16, 0x03, 0x01, 0x02, 0x00],
        ] {
            assert_eq!(
                parse_client_hello(data),
                Err(TlsError::Incomplete),
                "{data:02x?}"
            );
        }
    }

    // ---- real ClientHellos ----

    #[test]
    fn real_curl_tls13_hello_gives_its_sni() {
        let h = parse_client_hello(&unhex(CURL_TLS13_HELLO));
        assert_eq!(
            h,
            Ok(ClientHello {
                sni: Some(b"login.phish.test".to_vec()),
                ech: false,
                version: 0x0304,
                fp: Fingerprints::default(),
            })
        );
    }

    #[test]
    fn real_ech_hello_gives_the_outer_sni_and_ech() {
        let h = parse_client_hello(&unhex(ECH_OUTER_HELLO));
        assert_eq!(
            h,
            Ok(ClientHello {
                sni: Some(b"cloudflare-ech.com".to_vec()),
                ech: true,
                version: 0x0304,
                fp: Fingerprints::default(),
            })
        );
    }

    #[test]
    fn real_hello_refragmented_into_records_is_joined() {
        let data = unhex(CURL_TLS13_HELLO);
        let msg = &data[RECORD_HEADER_LEN..];
        for cuts in [&[100][..], &[3, 200, 400], &[511]] {
            let h = parse_client_hello(&records(msg, cuts)).unwrap();
            assert_eq!(h.sni, Some(b"login.phish.test".to_vec()), "{cuts:?}");
        }
    }

    // ---- robustness ----

    #[test]
    fn random_byte_flips_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for base in valid_hellos() {
            for _ in 0..3_000 {
                let mut data = base.clone();
                let flips = 1 + xorshift(&mut seed) % 4;
                for _ in 0..flips {
                    // bias towards the headers, where the lengths are
                    let span = if seed.is_multiple_of(2) {
                        data.len().min(64)
                    } else {
                        data.len()
                    };
                    let at = (xorshift(&mut seed) % span as u64) as usize;
                    data[at] = xorshift(&mut seed) as u8;
                }
                if let Ok(h) = parse_client_hello(&data) {
                    if let Some(sni) = h.sni {
                        assert!(!sni.is_empty() && sni.len() < MAX_CLIENT_HELLO_LEN);
                    }
                }
            }
        }
    }

    #[test]
    fn random_bytes_after_a_plausible_header_never_panic() {
        let mut seed = 0x0123_4567_89ab_cdef_u64;
        for _ in 0..20_000 {
            let len = (xorshift(&mut seed) % 400) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            // get past the pre-check most of the time
            for (i, b) in [0x16, 0x03, 0x01].iter().enumerate() {
                if let Some(d) = data.get_mut(i) {
                    *d = *b;
                }
            }
            if let Some(d) = data.get_mut(3) {
                *d &= 0x01;
            }
            if let Some(d) = data.get_mut(5) {
                *d = 0x01;
            }
            let _ = parse_client_hello(&data);
        }
    }

    #[test]
    fn client_hello_need_is_the_exact_end_of_the_hello() {
        let exts = usual_extensions(Style::Tls13, Some(b"need.example"), false);
        let msg = handshake(&hello_body(Style::Tls13, Some(&exts)));
        for frag in [1, 3, 4, 5, 20, 1000] {
            let cuts: Vec<usize> = (frag..msg.len()).step_by(frag).collect();
            let s = records(&msg, &cuts);
            for n in 0..s.len() {
                let need = client_hello_need(&s[..n]);
                assert!(need > n, "frag {frag} n {n}");
                assert!(need <= s.len(), "frag {frag} n {n}");
                assert_eq!(
                    parse_client_hello(&s[..n]),
                    Err(TlsError::Incomplete),
                    "frag {frag} n {n}"
                );
                assert!(may_be_client_hello(&s[..n]), "frag {frag} n {n}");
            }
            assert_eq!(client_hello_need(&s[..s.len() - 1]), s.len());
            assert!(parse_client_hello(&s).is_ok());
        }
    }

    #[test]
    fn probe_refuses_exactly_what_the_parser_calls_not_a_hello() {
        let hello = client_hello(Style::Tls12, Some(b"probe.example"), false);
        let mut inputs: Vec<Vec<u8>> = vec![
            b"GET / HTTP/1.1\r\n".to_vec(),
            vec![0x17, 3, 3, 0, 20, 1],
            vec![0x16, 3, 1, 0, 0, 1],
            vec![0x16, 3, 1, 0, 5, 2],
            vec![0x16, 2],
        ];
        inputs.extend((0..=hello.len()).map(|n| hello[..n].to_vec()));
        for d in &inputs {
            let not = parse_client_hello(d) == Err(TlsError::NotClientHello);
            assert_eq!(may_be_client_hello(d), !not, "{d:?}");
        }
    }
}
