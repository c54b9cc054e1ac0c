//! HTTP/1.x over TCP: the Host of the client's request head (RFC 9112 §3, RFC 9110 §7.2), on
//! any port, recognised by content.

use crate::observe::Observed;
use crate::proto::http;
use crate::track::tcp::{FlowStats, Step, StreamInput};

use super::{AppProto, Probe, Record};

pub const RECORD: Record = Record {
    proto: AppProto::Http,
    tcp_ports: &[],
    udp_ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    max_depth: http::MAX_HTTP_HEAD,
};

fn probe(data: &[u8]) -> Probe {
    if http::may_be_request(data) {
        Probe::Yes
    } else {
        Probe::No
    }
}

/// The request head at the start of the direction; `first`: the bytes were just probed (then
/// they are parsed whatever they hold; later, only when a new line arrived or the cap is
/// reached, since the answer cannot change before).
pub(super) fn parse_stream(
    input: StreamInput<'_>,
    first: bool,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Step {
    let data = input.data;
    let more = Step::More {
        used: 0,
        need: data.len() + 1,
    };
    let fresh = data.get(input.seen..).unwrap_or(&[]);
    if !first && data.len() < http::MAX_HTTP_HEAD && !fresh.contains(&b'\n') {
        return more;
    }
    match http::observe(data, out) {
        Ok(_) => {
            stats.http_requests += 1;
            Step::Done { client: true }
        }
        Err(http::HttpError::Incomplete) => more,
        Err(http::HttpError::NotHttp) => Step::Done { client: false },
        Err(http::HttpError::Malformed) => {
            stats.http_errors += 1;
            Step::Done { client: true }
        }
        Err(http::HttpError::TooLong) => {
            stats.prefix_cap += 1;
            Step::Done { client: true }
        }
    }
}
