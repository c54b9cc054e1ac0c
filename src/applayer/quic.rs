//! QUIC (RFC 9000) on any UDP port, recognised by content (a long header of a version iocd
//! decodes): the datagram goes to the worker's connection tracker
//! ([`crate::track::quic::QuicTracker`]), which decrypts client Initials and reassembles their
//! CRYPTO stream, and hands the contiguous prefix to [`client_hello`]; when a `ja3s` or `ja4s`
//! indicator is loaded, the server's Initials too, whose prefix goes to [`server_hello`].

use std::net::SocketAddr;

use crate::observe::{Info, Observed, Token, Wants, Where};
use crate::proto::{ja, quic, tls, tls_server};
use crate::track::quic::{Handshake, QuicTracker, MAX_CRYPTO_BYTES, MAX_SERVER_CRYPTO_BYTES};

use super::{AppProto, Probe, Record};

pub const RECORD: Record = Record {
    proto: AppProto::Quic,
    tcp_ports: &[],
    udp_ports: &[],
    probe_tcp: None,
    probe_udp: Some(probe),
    max_depth: MAX_CRYPTO_BYTES,
};

/// RFC 9000 §17.2: the header form and fixed bits, and a known version; five bytes.
fn probe(data: &[u8]) -> Probe {
    Probe::from(quic::is_long_header(data))
}

/// One QUIC datagram from `src` to `dst`, to the tracker; `wants`: the token kinds the loaded
/// set holds (JA3/JA4 are computed only when it holds one).
pub(super) fn datagram(
    tracker: &mut QuicTracker,
    (src, dst): (SocketAddr, SocketAddr),
    payload: &[u8],
    now_us: i64,
    wants: Wants,
    out: &mut Vec<Observed>,
) {
    let want = super::tls::want(wants, true);
    let keep = wants.keeps_hellos();
    // the server's Initials are decrypted only when a fingerprint of theirs can match
    let server = (wants.has(Token::Ja3s) || wants.has(Token::Ja4s))
        .then_some(move |prefix: &[u8], out: &mut Vec<Observed>| server_hello(prefix, wants, out));
    tracker.on_udp_with(
        src,
        dst,
        payload,
        now_us,
        out,
        move |prefix, out| hello(prefix, want, keep, out),
        server,
    );
}

/// Handshake message type server_hello (RFC 8446 §4).
const HT_SERVER_HELLO: u8 = 2;

/// The ServerHello at the start of a server's reassembled Initial CRYPTO stream (a bare
/// handshake message, RFC 9001 §4.1.3): its JA3S and JA4S (`q` form), those `wants` holds, as
/// [`Where::QuicJa3s`] / [`Where::QuicJa4s`] tokens.
pub fn server_hello(prefix: &[u8], wants: Wants, out: &mut Vec<Observed>) -> Handshake {
    let [ty, a, b, c, ..] = *prefix else {
        return Handshake::Incomplete;
    };
    if ty != HT_SERVER_HELLO {
        return Handshake::Malformed;
    }
    let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
    if 4 + len > MAX_SERVER_CRYPTO_BYTES {
        // the tracker keeps no more: it would never be complete
        return Handshake::Malformed;
    }
    let Some(body) = prefix.get(4..4 + len) else {
        return Handshake::Incomplete;
    };
    let Ok(h) = tls_server::parse_server_hello(body) else {
        return Handshake::Malformed;
    };
    let info = Info::Tls { version: h.version };
    let mut push = |kind, key, at| {
        out.push(Observed::Token {
            kind,
            key,
            at,
            info,
            file: None,
        })
    };
    if wants.has(Token::Ja3s) {
        push(Token::Ja3s, h.ja3s_md5().to_vec(), Where::QuicJa3s);
    }
    if wants.has(Token::Ja4s) {
        push(Token::Ja4s, h.ja4s(true).into_bytes(), Where::QuicJa4s);
    }
    Handshake::Parsed
}

/// The ClientHello at the start of a client's reassembled CRYPTO stream (a bare handshake
/// message, RFC 9001 §4.1.3): its server name as [`crate::observe::Where::QuicSni`].
pub fn client_hello(prefix: &[u8], out: &mut Vec<Observed>) -> Handshake {
    client_hello_with(prefix, ja::Want::NONE, out)
}

/// [`client_hello`], with the fingerprints `want` asks for as `quic.ja3` and `quic.ja4`
/// tokens (and in every observable's info).
pub fn client_hello_with(prefix: &[u8], want: ja::Want, out: &mut Vec<Observed>) -> Handshake {
    hello(prefix, want, false, out)
}

/// [`client_hello_with`]; `keep`: push the hello's bytes when its fingerprints were not
/// computed (see `Wants::HELLO_BYTES`).
fn hello(prefix: &[u8], want: ja::Want, keep: bool, out: &mut Vec<Observed>) -> Handshake {
    match tls::parse_client_hello_message_with(prefix, want) {
        Ok(hello) => {
            // the message alone: 4-byte header and its 24-bit length (RFC 8446 §4)
            let end = match *prefix {
                [_, a, b, c, ..] => {
                    4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
                }
                _ => prefix.len(),
            };
            let raw = &prefix[..end.min(prefix.len())];
            super::tls::push_hello(hello, (raw, true), keep, out);
            Handshake::Parsed
        }
        Err(tls::TlsError::Incomplete) => Handshake::Incomplete,
        Err(_) => Handshake::Malformed,
    }
}
