//! TLS over TCP: the client's ClientHello server name (RFC 8446 §4.1.2, RFC 6066 §3), read from
//! the first bytes of a direction on any port, recognised by content.

use crate::observe::{Info, Observed, Token, Wants, Where};
use crate::proto::{ja, tls};
use crate::track::tcp::{FlowStats, Step, StreamInput, MAX_STREAM_PREFIX};

use super::{AppProto, Probe, Record};

pub const RECORD: Record = Record {
    proto: AppProto::Tls,
    tcp_ports: &[],
    udp_ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    // The hello must end inside the reassembly window: the largest hello
    // (tls::MAX_CLIENT_HELLO_LEN) plus the headers of the records it may be fragmented over.
    max_depth: MAX_STREAM_PREFIX,
};

/// A consistent prefix of a handshake record carrying a client_hello commits the direction to
/// TLS: a broken hello after it is counted as malformed, not read as something else.
fn probe(data: &[u8]) -> Probe {
    Probe::from(tls::may_be_client_hello(data))
}

/// The ClientHello at the start of the direction; `first`: the bytes were just probed (a hello
/// that does not fit them is counted as split, `tls_split`).
pub(super) fn parse_stream(
    input: StreamInput<'_>,
    first: bool,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Step {
    let data = input.data;
    match tls::parse_client_hello_with(data, want(input.wants, false)) {
        Ok(hello) => {
            stats.tls_hellos += 1;
            let end = tls::client_hello_need(data).min(data.len());
            push_hello(hello, (&data[..end], false), out);
            Step::Done { client: true }
        }
        Err(tls::TlsError::Incomplete) => {
            if first {
                stats.tls_split += 1;
            }
            Step::More {
                used: 0,
                need: tls::client_hello_need(data).max(data.len() + 1),
            }
        }
        // After the probe, "not a hello" is a broken one too.
        Err(_) => {
            stats.tls_malformed += 1;
            Step::Done { client: true }
        }
    }
}

/// The fingerprints to compute for a hello, given the kinds the loaded set holds: JA3 and JA4
/// together (the event of either, and of the SNI, carries both) when either kind is loaded,
/// none otherwise (see BENCHMARKS.md for what computing them costs).
pub(super) fn want(wants: Wants, quic: bool) -> ja::Want {
    let any = wants.has(Token::Ja3) || wants.has(Token::Ja4);
    ja::Want {
        ja3: any,
        ja4: any,
        quic,
    }
}

/// What a parsed ClientHello shows: its JA3 and JA4 (when computed) as tokens, then its server
/// name; each carries the offered version and, when computed, both fingerprints. When they
/// were not computed, a server name is preceded by the hello's bytes `raw`
/// ([`Observed::Hello`]), for the worker to compute them should it write an event. `quic`: the
/// hello came in QUIC Initials (`quic.*` places), else over TCP (`tls.*`).
pub(super) fn push_hello(
    hello: tls::ClientHello,
    (raw, quic): (&[u8], bool),
    out: &mut Vec<Observed>,
) {
    let version = hello.version;
    let (sni_at, ja3_at, ja4_at) = if quic {
        (Where::QuicSni, Where::QuicJa3, Where::QuicJa4)
    } else {
        (Where::TlsSni, Where::TlsJa3, Where::TlsJa4)
    };
    let info = match (hello.fp.ja3, hello.fp.ja4) {
        (Some(ja3), Some(ja4)) => Info::TlsHello { version, ja3, ja4 },
        _ => Info::Tls { version },
    };
    if let Some(ja3) = hello.fp.ja3 {
        out.push(Observed::Token {
            kind: Token::Ja3,
            key: ja3.to_vec(),
            at: ja3_at,
            info,
            file: None,
        });
    }
    if let Some(ja4) = hello.fp.ja4 {
        out.push(Observed::Token {
            kind: Token::Ja4,
            key: ja4.to_vec(),
            at: ja4_at,
            info,
            file: None,
        });
    }
    if let Some(name) = hello.sni {
        if let Info::Tls { .. } = info {
            out.push(Observed::Hello {
                msg: raw.into(),
                quic,
            });
        }
        out.push(Observed::Domain {
            name,
            at: sni_at,
            ech: hello.ech,
            info,
        });
    }
}
