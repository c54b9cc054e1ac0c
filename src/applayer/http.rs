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
    Probe::from(http::may_be_request(data))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::driver::{Driver, CLIENT, SERVER};
    use crate::observe::{Info, Where};

    #[test]
    fn http_request_split_across_segments_gives_the_host() {
        let req = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: www.Example.org:8080\r\n\r\n";
        for cut in 1..req.len() {
            let mut d = Driver::new();
            let web = (SERVER.0, 8080);
            d.seg(CLIENT, web, 1, "S", b"");
            let mut got = d.seg(CLIENT, web, 2, "", &req[..cut]);
            got.extend(d.seg(CLIENT, web, 2 + cut as u32, "", &req[cut..]));
            assert_eq!(
                got,
                vec![Observed::Domain {
                    name: b"www.example.org".to_vec(),
                    at: Where::HttpHost,
                    ech: false,
                    info: Info::None,
                }],
                "{cut}"
            );
            assert_eq!(d.t.stats.bypassed, 1);
        }
    }

    #[test]
    fn http_head_over_the_cap_is_given_up() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        while req.len() < http::MAX_HTTP_HEAD + 500 {
            req.extend_from_slice(b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut d = Driver::new();
        d.seg(CLIENT, SERVER, 1, "S", b"");
        for (i, c) in req.chunks(1000).enumerate() {
            assert!(d
                .seg(CLIENT, SERVER, 2 + (i * 1000) as u32, "", c)
                .is_empty());
        }
        assert_eq!(d.t.stats.prefix_cap, 1);
        assert_eq!(d.t.buffered(), 0);
    }
}
