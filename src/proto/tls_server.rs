//! What a TLS server shows in clear: the ServerHello (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3) and
//! its fingerprints JA3S and JA4S, and the names in a certificate (RFC 5280 §4.1.2.6,
//! §4.2.1.6). Pure functions over one complete handshake message body or one certificate's DER;
//! the record and handshake framing over a stream is the adapter's
//! (`applayer::tls_server`).
//!
//! - **JA3S** is `SSLVersion,Cipher,Extensions` in decimal, extensions joined by `-` in the
//!   order sent, GREASE values (RFC 8701) left out, and its MD5: as salesforce/ja3 (`ja3s.py`)
//!   and tshark 4.0 (`tls.handshake.ja3s`) compute it. `SSLVersion` is the ServerHello's
//!   legacy_version (`771` for TLS 1.3 too).
//! - **JA4S** (FoxIO, `technical_details/JA4S.md`): `t` (or `q` for QUIC), the version (the
//!   supported_versions extension's when present, else legacy_version: `13`, `12`, `11`, `10`,
//!   `s3`, `00` for anything else), the extension count in two digits (at most 99), the first
//!   and last character of the chosen ALPN protocol (`00` without; a non-ASCII byte is `9`, a
//!   one-character protocol is followed by `0`, as FoxIO's Rust implementation does), `_`, the
//!   cipher in four hex digits, `_`, and the first 12 hex digits of the SHA-256 of the extension
//!   types in four hex digits, comma-joined in the order sent (`000000000000` without
//!   extensions).
//!
//! Certificates are parsed with `x509-parser` (DER, RFC 5280) only for their names; hashing a
//! certificate needs its DER bytes alone and is done by the adapter as they arrive.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// ExtensionType application_layer_protocol_negotiation (RFC 7301 §3.1).
const EXT_ALPN: u16 = 16;
/// ExtensionType supported_versions (RFC 8446 §4.2.1): in a ServerHello, the selected version.
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Why a ServerHello could not be read: a length inside it contradicts the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// What a ServerHello tells; the fingerprints are computed on demand ([`ServerHello::ja3s`],
/// [`ServerHello::ja4s`]), only when an indicator of their kind is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello<'a> {
    /// legacy_version (`0x0303` in every TLS 1.3 ServerHello).
    pub legacy_version: u16,
    /// The negotiated version: supported_versions' selected_version when present (TLS 1.3),
    /// else legacy_version.
    pub version: u16,
    pub cipher: u16,
    /// The extensions block (checked: a whole number of extensions).
    exts: &'a [u8],
}

/// GREASE values are `0x?a?a` with both bytes equal (RFC 8701 §2).
#[inline]
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A cursor over a message body; every read checks its length.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// The (type, data) of each extension of a checked extensions block.
fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut c = Cur(block);
    std::iter::from_fn(move || {
        let t = c.u16().ok()?;
        let l = usize::from(c.u16().ok()?);
        Some((t, c.take(l).ok()?))
    })
}

/// Parse a ServerHello body (after the 4-byte handshake header):
/// `legacy_version, random[32], legacy_session_id<0..32>, cipher_suite, compression_method,
/// extensions<0..2^16-1>` (the extensions block may be absent before TLS 1.2, RFC 5246
/// §7.4.1.3). One pass over the extensions, no allocation.
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello<'_>, Malformed> {
    let mut c = Cur(body);
    let legacy_version = c.u16()?;
    c.take(32)?;
    let sid = usize::from(c.u8()?);
    c.take(sid)?;
    let cipher = c.u16()?;
    c.u8()?;
    let mut version = legacy_version;
    let mut exts: &[u8] = &[];
    if !c.0.is_empty() {
        let len = usize::from(c.u16()?);
        exts = c.take(len)?;
        if !c.0.is_empty() {
            return Err(Malformed);
        }
        let mut e = Cur(exts);
        while !e.0.is_empty() {
            let t = e.u16()?;
            let l = usize::from(e.u16()?);
            let data = e.take(l)?;
            if t == EXT_SUPPORTED_VERSIONS && data.len() == 2 {
                let v = u16::from_be_bytes([data[0], data[1]]);
                if !is_grease(v) {
                    version = v;
                }
            }
        }
    }
    Ok(ServerHello {
        legacy_version,
        version,
        cipher,
        exts,
    })
}

impl ServerHello<'_> {
    /// The JA3S string (`771,49199,65281-11-35`).
    pub fn ja3s(&self) -> String {
        let mut s = format!("{},{},", self.legacy_version, self.cipher);
        let mut first = true;
        for (t, _) in extensions(self.exts).filter(|(t, _)| !is_grease(*t)) {
            if !first {
                s.push('-');
            }
            first = false;
            s.push_str(&t.to_string());
        }
        s
    }

    /// MD5 of [`ServerHello::ja3s`]: the JA3S fingerprint.
    pub fn ja3s_md5(&self) -> [u8; 16] {
        Md5::digest(self.ja3s().as_bytes()).into()
    }

    /// The JA4S fingerprint (`t120300_c02f_bec8bdbaef8a`); `quic`: carried in QUIC (`q`).
    pub fn ja4s(&self, quic: bool) -> String {
        let mut list = String::new();
        let mut count = 0usize;
        let mut alpn = (None, None);
        for (t, data) in extensions(self.exts) {
            if count > 0 {
                list.push(',');
            }
            count += 1;
            list.push_str(&format!("{t:04x}"));
            if t == EXT_ALPN && alpn.0.is_none() {
                alpn = first_last_alpn(data);
            }
        }
        let ver = match self.version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            _ => "00",
        };
        let ch = |c: Option<u8>| match c {
            None => '0',
            Some(b) if b.is_ascii() => char::from(b),
            Some(_) => '9',
        };
        format!(
            "{}{ver}{:02}{}{}_{:04x}_{}",
            if quic { 'q' } else { 't' },
            count.min(99),
            ch(alpn.0),
            ch(alpn.1),
            self.cipher,
            hash12(&list)
        )
    }
}

/// The first and last byte of the first protocol of an ALPN extension's data
/// (`u16 list length; u8 name length; name`); a one-byte name has no last.
fn first_last_alpn(data: &[u8]) -> (Option<u8>, Option<u8>) {
    let mut c = Cur(data);
    let name = c
        .u16()
        .and_then(|_| c.u8())
        .and_then(|n| c.take(usize::from(n)));
    match name {
        Ok([]) | Err(_) => (None, None),
        Ok([a]) => (Some(*a), None),
        Ok([a, .., b]) => (Some(*a), Some(*b)),
    }
}

/// The first 12 hex digits of the SHA-256 of `s`; `000000000000` for an empty `s` (JA4).
pub fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let d = <Sha256 as sha2::Digest>::digest(s.as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Most names taken from one certificate: its subject CNs and DNS SANs. Public CAs issue up to
/// 100 SANs (CA/Browser Forum practice; Let's Encrypt's limit); a few CDNs reach a few hundred.
pub const MAX_CERT_NAMES: usize = 500;

/// The names a certificate is for: every subject common name and every dNSName of its
/// subjectAltName extension that is a host name, normalised ([`crate::name::normalize`]),
/// without repeats, at most [`MAX_CERT_NAMES`]. A wildcard `*.example.com` gives
/// `example.com`: the certificate serves that domain's children, and a domain indicator for
/// `example.com` (or a parent) matches it; one for a single child does not, since which child
/// the server is cannot be told from the certificate. IP addresses (iPAddress SANs, or a CN
/// that is an address), e-mail addresses and other text are not names. `Err` when the DER is
/// not a certificate `x509-parser` can read.
pub fn cert_names(der: &[u8]) -> Result<Vec<Vec<u8>>, Malformed> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| Malformed)?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut add = |raw: &[u8]| {
        if names.len() >= MAX_CERT_NAMES {
            return;
        }
        if let Some(n) = host_name(raw) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    };
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            add(s.as_bytes());
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for g in &san.value.general_names {
            if let GeneralName::DNSName(s) = g {
                add(s.as_bytes());
            }
        }
    }
    Ok(names)
}

/// `raw` as a normalised host name, its `*.` wildcard label dropped; `None` when it is not a
/// name (no dot, characters outside letters, digits, `-`, `_`, `.`, an empty label, an IP
/// address, or longer than [`crate::name::MAX_NAME_LEN`]).
fn host_name(raw: &[u8]) -> Option<Vec<u8>> {
    let raw = raw.strip_prefix(b"*.").unwrap_or(raw);
    let mut n = raw.to_vec();
    crate::name::normalize(&mut n);
    let ok = !n.is_empty()
        && n.len() <= crate::name::MAX_NAME_LEN
        && n.contains(&b'.')
        && n.split(|&b| b == b'.').all(|l| !l.is_empty())
        && n.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && std::str::from_utf8(&n)
            .ok()
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
            .is_none();
    ok.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello body with these extensions (type, data).
    fn body(legacy: u16, cipher: u16, exts: Option<&[(u16, &[u8])]>) -> Vec<u8> {
        let mut b = legacy.to_be_bytes().to_vec();
        b.extend([7u8; 32]);
        b.push(32);
        b.extend([9u8; 32]);
        b.extend(cipher.to_be_bytes());
        b.push(0);
        if let Some(exts) = exts {
            let mut e = Vec::new();
            for (t, d) in exts {
                e.extend(t.to_be_bytes());
                e.extend((d.len() as u16).to_be_bytes());
                e.extend(*d);
            }
            b.extend((e.len() as u16).to_be_bytes());
            b.extend(e);
        }
        b
    }

    #[test]
    fn ja4s_matches_foxio_reference_vector() {
        // FoxIO's own test (rust/ja4/src/tls.rs, test_server_stats_into_out): TLS 1.2, cipher
        // c030, extensions 0005,0017,ff01,0000, no ALPN.
        let b = body(
            0x0303,
            0xc030,
            Some(&[(5, b""), (0x17, b""), (0xff01, b"\0"), (0, b"")]),
        );
        let h = parse_server_hello(&b).unwrap();
        assert_eq!(h.ja4s(false), "t120400_c030_4e8089b08790");
        assert_eq!(h.ja3s(), "771,49200,5-23-65281-0");
    }

    #[test]
    fn tls13_takes_the_selected_version_and_alpn() {
        // the ServerHello of fx-quic-chrome-cloudflare.pcapng over TCP: tshark's JA3S
        // `771,4865,51-43` (eb1d94daa7e0344597e756a1fb6e7054), FoxIO's JA4S
        // t130200_1301_234ea6891581 (shared/pcaps/content/truth.jsonl)
        let b = body(
            0x0303,
            0x1301,
            Some(&[(51, &[0, 29, 0, 1, 7]), (43, &[3, 4])]),
        );
        let h = parse_server_hello(&b).unwrap();
        assert_eq!(h.version, 0x0304);
        assert_eq!(h.ja3s(), "771,4865,51-43");
        assert_eq!(
            Token::Ja3s.text(&h.ja3s_md5()),
            "eb1d94daa7e0344597e756a1fb6e7054"
        );
        assert_eq!(h.ja4s(false), "t130200_1301_234ea6891581");
        assert_eq!(h.ja4s(true), "q130200_1301_234ea6891581");
        let b = body(
            0x0303,
            0xc02f,
            Some(&[(16, b"\0\x03\x02h2"), (0x2a2a, b"")]),
        );
        let h = parse_server_hello(&b).unwrap();
        assert!(
            h.ja4s(false).starts_with("t1202h2_c02f_"),
            "{}",
            h.ja4s(false)
        );
        // GREASE leaves JA3S, not JA4S
        assert_eq!(h.ja3s(), "771,49199,16");
    }

    #[test]
    fn no_extensions_block_and_broken_lengths() {
        // zk-tls-missing-intermediate.pcap: TLS 1.0, RC4-MD5 (4), no extensions: `769,4,`
        let b = body(0x0301, 4, None);
        let h = parse_server_hello(&b).unwrap();
        assert_eq!(h.ja3s(), "769,4,");
        assert_eq!(
            Token::Ja3s.text(&h.ja3s_md5()),
            "53611273a714cb4789c8222932efd5a7"
        );
        assert!(h.ja4s(false).ends_with("_0004_000000000000"));
        let mut b = body(0x0303, 4, Some(&[(5, b"ab")]));
        b.truncate(b.len() - 1);
        assert_eq!(parse_server_hello(&b), Err(Malformed));
        b.extend(b"bc");
        assert_eq!(parse_server_hello(&b), Err(Malformed));
        for n in 0..40 {
            assert_eq!(
                parse_server_hello(&body(0x0303, 4, None)[..n]),
                Err(Malformed)
            );
        }
    }

    #[test]
    fn host_names_from_certificate_text() {
        assert_eq!(host_name(b"*.Google.COM"), Some(b"google.com".to_vec()));
        assert_eq!(
            host_name(b"www.cviis.org."),
            Some(b"www.cviis.org".to_vec())
        );
        for bad in [
            &b"johanna@corelight.com"[..],
            b"10.0.0.1",
            b"Some CA",
            b"localhost",
            b"a..b",
            b"*.",
        ] {
            assert_eq!(host_name(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(cert_names(b"\x30\x03\x02\x01\x00"), Err(Malformed));
    }

    use crate::observe::Token;
}
