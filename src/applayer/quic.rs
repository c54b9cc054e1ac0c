//! QUIC (RFC 9000) on any UDP port, recognised by content (a long header of a version iocd
//! decodes): the datagram goes to the worker's connection tracker
//! ([`crate::track::quic::QuicTracker`]), which decrypts client Initials and reassembles their
//! CRYPTO stream, and hands the contiguous prefix to [`client_hello`].

use std::net::SocketAddr;

use crate::observe::{Info, Observed, Where};
use crate::proto::{quic, tls};
use crate::track::quic::{Handshake, QuicTracker, MAX_CRYPTO_BYTES};

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

/// One QUIC datagram from `src` to `dst`, to the tracker.
pub(super) fn datagram(
    tracker: &mut QuicTracker,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    now_us: i64,
    out: &mut Vec<Observed>,
) {
    tracker.on_udp(src, dst, payload, now_us, out, client_hello);
}

/// The ClientHello at the start of a client's reassembled CRYPTO stream (a bare handshake
/// message, RFC 9001 §4.1.3): its server name as [`Where::QuicSni`].
pub fn client_hello(prefix: &[u8], out: &mut Vec<Observed>) -> Handshake {
    match tls::parse_client_hello_message(prefix) {
        Ok(hello) => {
            if let Some(name) = hello.sni {
                out.push(Observed::Domain {
                    name,
                    at: Where::QuicSni,
                    ech: hello.ech,
                    info: Info::Tls {
                        version: hello.version,
                    },
                });
            }
            Handshake::Parsed
        }
        Err(tls::TlsError::Incomplete) => Handshake::Incomplete,
        Err(_) => Handshake::Malformed,
    }
}
