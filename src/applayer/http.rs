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

/// What [`parse_stream`] made of a direction.
pub(super) enum Parsed {
    /// A step like any protocol's.
    Step(Step),
    /// A `CONNECT` request head of `head` bytes was read (its Host pushed): the tunnel starts
    /// right after it.
    Tunnel { head: usize },
}

/// The request head at the start of the direction; `first`: the bytes were just probed (then
/// they are parsed whatever they hold; later, only when a new line arrived or the cap is
/// reached, since the answer cannot change before). A `CONNECT` request (RFC 9110 §9.3.6) is
/// read to the end of its head, since what follows is the tunnel: once the proxy answers 2xx
/// the client speaks the tunnelled protocol (TLS, usually) from the next byte.
pub(super) fn parse_stream(
    input: StreamInput<'_>,
    first: bool,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Parsed {
    let data = input.data;
    let more = Parsed::Step(Step::More {
        used: 0,
        need: data.len() + 1,
    });
    let fresh = data.get(input.seen..).unwrap_or(&[]);
    if !first && data.len() < http::MAX_HTTP_HEAD && !fresh.contains(&b'\n') {
        return more;
    }
    let done = Parsed::Step(Step::Done { client: true });
    match http::parse_request(data) {
        Ok(req) => {
            let mut tunnel = None;
            if req.method == b"CONNECT" {
                match http::head_len(data) {
                    Some(head) => tunnel = Some(head),
                    None if data.len() < http::MAX_HTTP_HEAD => return more,
                    None => stats.prefix_cap += 1,
                }
            }
            stats.http_requests += 1;
            if let Some(o) = req.host.and_then(http::host_observable) {
                out.push(o);
            }
            match tunnel {
                Some(head) => {
                    stats.http_tunnels += 1;
                    Parsed::Tunnel { head }
                }
                None => done,
            }
        }
        Err(http::HttpError::Incomplete) => more,
        Err(http::HttpError::NotHttp) => Parsed::Step(Step::Done { client: false }),
        Err(http::HttpError::Malformed) => {
            stats.http_errors += 1;
            done
        }
        Err(http::HttpError::TooLong) => {
            stats.prefix_cap += 1;
            done
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

    fn host(n: &str) -> Observed {
        Observed::Domain {
            name: n.as_bytes().to_vec(),
            at: Where::HttpHost,
            ech: false,
            info: Info::None,
        }
    }

    fn sni(n: &str) -> Observed {
        Observed::Domain {
            name: n.as_bytes().to_vec(),
            at: Where::TlsSni,
            ech: false,
            // the test hello offers TLS 1.3 (0x0304) in supported_versions
            info: Info::Tls { version: 0x0304 },
        }
    }

    const CONNECT: &[u8] =
        b"CONNECT inner.example:443 HTTP/1.1\r\nHost: inner.example:443\r\nUser-Agent: curl\r\n\r\n";
    const PROXY: (std::net::IpAddr, u16) = (SERVER.0, 3128);

    fn hello() -> Vec<u8> {
        use crate::testkit::tls::{client_hello, Style};
        client_hello(Style::Tls13, Some(b"tunnelled.example"), false)
    }

    #[test]
    fn tls_inside_a_connect_tunnel_gives_its_sni_after_the_proxy_answer() {
        let hello = hello();
        // the CONNECT head cut at every byte, then the proxy's answer, then the hello in two
        for cut in 1..CONNECT.len() {
            let mut d = Driver::new();
            d.seg(CLIENT, PROXY, 1, "S", b"");
            d.seg(PROXY, CLIENT, 1, "S", b"");
            let mut got = d.seg(CLIENT, PROXY, 2, "", &CONNECT[..cut]);
            got.extend(d.seg(CLIENT, PROXY, 2 + cut as u32, "", &CONNECT[cut..]));
            assert_eq!(got, vec![host("inner.example")], "{cut}");
            let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
            assert!(d.seg(PROXY, CLIENT, 2, "", ok).is_empty());
            let at = 2 + CONNECT.len() as u32;
            assert!(d.seg(CLIENT, PROXY, at, "", &hello[..100]).is_empty());
            let got = d.seg(CLIENT, PROXY, at + 100, "", &hello[100..]);
            assert_eq!(got, vec![sni("tunnelled.example")], "{cut}");
            assert_eq!(d.t.stats.http_tunnels, 1);
            // the client's next record (no second hello) ends its direction
            let next = at + hello.len() as u32;
            assert!(d
                .seg(CLIENT, PROXY, next, "", &[0x17, 3, 3, 0, 1, 0])
                .is_empty());
            assert_eq!(d.t.stats.bypassed, 1, "{cut}");
        }
    }

    #[test]
    fn hello_in_the_same_segment_as_the_connect_head_is_read() {
        let mut d = Driver::new();
        d.seg(CLIENT, PROXY, 1, "S", b"");
        let got = d.seg(CLIENT, PROXY, 2, "", &[CONNECT, &hello()].concat());
        assert_eq!(got, vec![host("inner.example"), sni("tunnelled.example")]);
    }

    #[test]
    fn a_retry_with_credentials_after_a_407_is_read_then_its_tunnel() {
        let retry = b"CONNECT inner.example:443 HTTP/1.1\r\nHost: inner.example:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n";
        let mut d = Driver::new();
        d.seg(CLIENT, PROXY, 1, "S", b"");
        let mut at = 2;
        let mut got = Vec::new();
        for part in [CONNECT, &retry[..], &hello()] {
            got.extend(d.seg(CLIENT, PROXY, at, "", part));
            at += part.len() as u32;
        }
        assert_eq!(
            got,
            vec![
                host("inner.example"),
                host("inner.example"),
                sni("tunnelled.example")
            ]
        );
        assert_eq!(d.t.stats.http_tunnels, 2);
    }

    #[test]
    fn tunnel_opened_past_the_offset_cap_is_not_read() {
        // a CONNECT head padded to nearly MAX_HTTP_HEAD, three times: the third head starts
        // within MAX_TUNNEL_OFFSET and is read, the hello after it starts past it
        let mut head =
            b"CONNECT inner.example:443 HTTP/1.1\r\nHost: inner.example:443\r\n".to_vec();
        while head.len() < http::MAX_HTTP_HEAD - 100 {
            head.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let mut d = Driver::new();
        d.seg(CLIENT, PROXY, 1, "S", b"");
        let mut at = 2;
        let mut got = Vec::new();
        for part in [&head[..], &head, &head, &hello()] {
            for c in part.chunks(1000) {
                got.extend(d.seg(CLIENT, PROXY, at, "", c));
                at += c.len() as u32;
            }
        }
        let cap = super::super::MAX_TUNNEL_OFFSET;
        assert!(2 * head.len() <= cap && cap < 3 * head.len());
        assert_eq!(got, vec![host("inner.example"); 3]);
        assert_eq!(d.t.stats.prefix_cap, 1);
        assert_eq!(d.t.stats.http_tunnels, 3);
    }

    #[test]
    fn a_plain_request_after_its_head_is_not_read_as_a_tunnel() {
        let get = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n";
        let mut d = Driver::new();
        d.seg(CLIENT, SERVER, 1, "S", b"");
        let got = d.seg(CLIENT, SERVER, 2, "", &[&get[..], &hello()].concat());
        assert_eq!(got, vec![host("web.example")]);
        assert_eq!(d.t.stats.http_tunnels, 0);
    }
}
