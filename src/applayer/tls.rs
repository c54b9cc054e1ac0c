//! TLS over TCP: the client's ClientHello server name (RFC 8446 §4.1.2, RFC 6066 §3), read from
//! the first bytes of a direction on any port, recognised by content.

use crate::observe::{Info, Observed, Where};
use crate::proto::tls;
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
    match tls::parse_client_hello(data) {
        Ok(hello) => {
            stats.tls_hellos += 1;
            if let Some(name) = hello.sni {
                out.push(Observed::Domain {
                    name,
                    at: Where::TlsSni,
                    ech: hello.ech,
                    info: Info::Tls {
                        version: hello.version,
                    },
                });
            }
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
