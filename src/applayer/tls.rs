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
            push_hello(
                hello,
                (&data[..end], false),
                input.wants.keeps_hellos(),
                out,
            );
            // a client verdict; the client's next records may hold a second hello
            Step::Client {
                used: end,
                need: RETRY_LOOK,
            }
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

/// Bytes of the client's next flight needed to tell a second ClientHello from anything else:
/// a record header and the handshake type (RFC 8446 §5.1, §4).
const RETRY_LOOK: usize = 6;

/// A ChangeCipherSpec record as TLS 1.3 clients send it in middlebox compatibility mode before
/// their second flight (RFC 8446 §D.4, §5: type 20, one byte 0x01).
fn is_change_cipher_spec(r: &[u8]) -> bool {
    matches!(r, [20, 3, _, 0, 1, 1])
}

/// The client's records after its first ClientHello: a second ClientHello, sent after the
/// server's HelloRetryRequest (RFC 8446 §4.1.4; a ChangeCipherSpec record may come first), is
/// read like the first (its JA3 and JA4 differ: tshark and FoxIO report both). Anything else
/// (a TLS 1.2 client's key exchange, a TLS 1.3 client's encrypted Finished) ends the
/// direction. The client verdict was given with the first hello.
pub(super) fn parse_retry(
    input: StreamInput<'_>,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Step {
    let data = input.data;
    let mut at = 0;
    // Each round consumes a 6-byte record.
    while data.get(at..at + 6).is_some_and(is_change_cipher_spec) {
        at += 6;
    }
    let rest = &data[at..];
    let more = |need: usize| Step::More { used: at, need };
    if rest.len() < RETRY_LOOK {
        return more(RETRY_LOOK);
    }
    if !tls::may_be_client_hello(rest) {
        return Step::Done { client: false };
    }
    match tls::parse_client_hello_with(rest, want(input.wants, false)) {
        Ok(hello) => {
            stats.tls_hellos += 1;
            let end = tls::client_hello_need(rest).min(rest.len());
            push_hello(
                hello,
                (&rest[..end], false),
                input.wants.keeps_hellos(),
                out,
            );
            Step::Done { client: false }
        }
        Err(tls::TlsError::Incomplete) => more(tls::client_hello_need(rest).max(rest.len() + 1)),
        Err(_) => {
            stats.tls_malformed += 1;
            Step::Done { client: false }
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
/// were not computed and `keep`, a server name is preceded by the hello's bytes `raw`
/// ([`Observed::Hello`]), for the worker to compute them should it write an event. `quic`: the
/// hello came in QUIC Initials (`quic.*` places), else over TCP (`tls.*`).
pub(super) fn push_hello(
    hello: tls::ClientHello,
    (raw, quic): (&[u8], bool),
    keep: bool,
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
        if keep && matches!(info, Info::Tls { .. }) {
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

#[cfg(test)]
mod tests {
    use super::super::driver::{Driver, CLIENT, SERVER};
    use crate::observe::{Info, Observed, Token, Wants, Where};
    use crate::proto::ja;
    use crate::testkit::tls::{
        client_hello, handshake, hello_body, records, usual_extensions, Style,
    };

    /// The fingerprint kinds loaded (and nothing else).
    fn fingerprints() -> Wants {
        Wants::NONE.with(Token::Ja3).with(Token::Ja4)
    }

    /// (JA3 hex, JA4) of the hello `data`, computed by the parser directly.
    fn expected(data: &[u8]) -> ([u8; 16], [u8; 36]) {
        let want = ja::Want {
            ja3: true,
            ja4: true,
            quic: false,
        };
        let fp = crate::proto::tls::parse_client_hello_with(data, want)
            .unwrap()
            .fp;
        (fp.ja3.unwrap(), fp.ja4.unwrap())
    }

    #[test]
    fn with_fingerprint_indicators_loaded_a_hello_gives_ja3_and_ja4_tokens() {
        let h = client_hello(Style::Tls13, Some(b"fp.example"), false);
        let (ja3, ja4) = expected(&h);
        let mut d = Driver::new().with_wants(fingerprints());
        let got = d.seg(CLIENT, SERVER, 1, "", &h);
        let info = Info::TlsHello {
            version: 0x0304,
            ja3,
            ja4,
        };
        let token = |kind, key: &[u8], at| Observed::Token {
            kind,
            key: key.to_vec(),
            at,
            info,
            file: None,
        };
        assert_eq!(
            got,
            vec![
                token(Token::Ja3, &ja3, Where::TlsJa3),
                token(Token::Ja4, &ja4, Where::TlsJa4),
                Observed::Domain {
                    name: b"fp.example".to_vec(),
                    at: Where::TlsSni,
                    ech: false,
                    info,
                }
            ]
        );
        assert_eq!(&ja4[..4], b"t13d");
    }

    #[test]
    fn without_them_the_hello_is_kept_for_events_only_when_asked() {
        let h = client_hello(Style::Tls12, Some(b"keep.example"), false);
        // the worker's wants: no fingerprint kinds, hellos kept
        let mut d = Driver::new().with_wants(Wants::NONE.keeping_hellos());
        let got = d.seg(CLIENT, SERVER, 1, "", &h);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            Observed::Hello {
                msg: h.clone().into(),
                quic: false
            }
        );
        assert!(matches!(
            got[1],
            Observed::Domain {
                info: Info::Tls { version: 0x0303 },
                ..
            }
        ));
        // not asked: the name alone
        let mut d = Driver::new().with_wants(Wants::NONE);
        let got = d.seg(CLIENT, SERVER, 1, "", &h);
        assert!(matches!(got[..], [Observed::Domain { .. }]), "{got:?}");
        // no name: nothing to keep the hello for
        let h = client_hello(Style::Tls12, None, false);
        let mut d = Driver::new().with_wants(Wants::NONE.keeping_hellos());
        assert!(d.seg(CLIENT, SERVER, 1, "", &h).is_empty());
    }

    /// RFC 8446 §4.1.4: after a HelloRetryRequest the client sends a ChangeCipherSpec
    /// (middlebox compatibility, §D.4) and a second ClientHello, with other fingerprints.
    #[test]
    fn a_second_hello_after_a_hello_retry_request_is_read_too() {
        let first = client_hello(Style::Tls13, Some(b"hrr.example"), false);
        // the retry: the same hello with one more extension (a cookie, 44)
        let mut exts = usual_extensions(Style::Tls13, Some(b"hrr.example"), false);
        exts.push(crate::testkit::tls::ext(44, &[0, 2, 0xab, 0xcd]));
        let second = records(&handshake(&hello_body(Style::Tls13, Some(&exts))), &[]);
        let (ja3_1, _) = expected(&first);
        let (ja3_2, ja4_2) = expected(&second);
        assert_ne!(ja3_1, ja3_2);
        let mut d = Driver::new().with_wants(fingerprints());
        let got = d.seg(CLIENT, SERVER, 1, "", &first);
        assert_eq!(got.len(), 3);
        // the server's HelloRetryRequest is not read; the client verdict was given
        assert!(d
            .seg(SERVER, CLIENT, 1, "", &[0x16, 3, 3, 0, 4, 2, 0, 0, 0])
            .is_empty());
        // ChangeCipherSpec and the second hello, the hello cut over two segments
        let mut flight = vec![20, 3, 3, 0, 1, 1];
        flight.extend(&second);
        let at = 1 + first.len() as u32;
        assert!(d.seg(CLIENT, SERVER, at, "", &flight[..40]).is_empty());
        let got = d.seg(CLIENT, SERVER, at + 40, "", &flight[40..]);
        let keys: Vec<(Where, Vec<u8>)> = got
            .iter()
            .filter_map(|o| match o {
                Observed::Token { key, at, .. } => Some((*at, key.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                (Where::TlsJa3, ja3_2.to_vec()),
                (Where::TlsJa4, ja4_2.to_vec())
            ]
        );
        assert_eq!(d.t.stats.tls_hellos, 2);
        // then the client's encrypted records: done, the flow bypassed
        let at = at + flight.len() as u32;
        assert!(d
            .seg(CLIENT, SERVER, at, "", &[23, 3, 3, 0, 1, 0])
            .is_empty());
        assert_eq!(d.t.stats.bypassed, 1);
    }

    #[test]
    fn a_tls12_key_exchange_after_the_hello_ends_the_direction() {
        let h = client_hello(Style::Tls12, Some(b"cke.example"), false);
        let mut d = Driver::new();
        assert_eq!(d.seg(CLIENT, SERVER, 1, "", &h).len(), 1);
        // handshake record, ClientKeyExchange (16): not a hello, read no further
        let cke = [22, 3, 3, 0, 6, 16, 0, 0, 2, 1, 1];
        assert!(d
            .seg(CLIENT, SERVER, 1 + h.len() as u32, "", &cke)
            .is_empty());
        assert_eq!(d.t.stats.tls_hellos, 1);
        assert_eq!(d.t.stats.tls_malformed, 0);
        // the server's direction is read until its handshake ends (here, an alert)
        assert!(d
            .seg(SERVER, CLIENT, 1, "", &[21, 3, 3, 0, 2, 2, 40])
            .is_empty());
        assert_eq!(d.t.stats.bypassed, 1);
    }
}
