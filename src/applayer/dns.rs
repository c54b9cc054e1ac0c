//! DNS over UDP and TCP (and mDNS, LLMNR over UDP): question names, CNAME/DNAME targets and
//! addresses ([`crate::proto::dns::observe`]), recognised by port. This file is the only place
//! the DNS ports are written.

use crate::observe::Observed;
use crate::proto::dns;
use crate::track::tcp::{FlowStats, Step, StreamInput};

use super::{AppProto, Record};

/// UDP ports that carry DNS messages: DNS (RFC 1035 §4.2.1), mDNS (RFC 6762), LLMNR (RFC 4795).
pub const UDP_PORTS: [u16; 3] = [53, 5353, 5355];

/// TCP ports that carry DNS messages, each after a two-byte length (RFC 1035 §4.2.2).
pub const TCP_PORTS: [u16; 1] = [53];

/// Stream bytes inspected per direction of a DNS-over-TCP flow (RFC 7766 §6.2.1 pipelining):
/// 64 KiB covers hundreds of pipelined queries and their answers; beyond it the flow is
/// probably a zone transfer, and the direction is bypassed.
pub const MAX_DNS_STREAM: usize = 64 * 1024;

pub const RECORD: Record = Record {
    proto: AppProto::Dns,
    tcp_ports: &TCP_PORTS,
    udp_ports: &UDP_PORTS,
    probe_tcp: None,
    probe_udp: None,
    max_depth: MAX_DNS_STREAM,
};

/// One DNS message in a UDP datagram; false when the parser stopped at an error (what it read
/// before is in `out`).
pub(super) fn datagram(payload: &[u8], out: &mut Vec<Observed>) -> bool {
    dns::observe(payload, out).is_ok()
}

/// Every complete message of a DNS-over-TCP stream: two-byte length, then the message
/// (RFC 1035 §4.2.2, RFC 7766 §8); several may share a segment, one may span several.
pub(super) fn parse_stream(
    input: StreamInput<'_>,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Step {
    let (data, consumed) = (input.data, input.consumed);
    let mut pos = 0;
    loop {
        let Some(len) = data.get(pos..pos + 2) else {
            return Step::More { used: pos, need: 2 };
        };
        let end = pos + 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if consumed + end > RECORD.max_depth {
            stats.dns_capped += 1;
            return Step::Done { client: false };
        }
        let Some(msg) = data.get(pos + 2..end) else {
            return Step::More {
                used: pos,
                need: end - pos,
            };
        };
        match dns::observe(msg, out) {
            Ok(_) => stats.dns_messages += 1,
            Err(_) => stats.dns_errors += 1,
        }
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::applayer::driver::{Driver, CLIENT};
    use crate::observe::{Info, Where};
    use crate::testkit::dns::{query as dns_query, tcp_framed};

    fn query(name: &str) -> Observed {
        Observed::Domain {
            name: name.as_bytes().to_vec(),
            at: Where::DnsQuery,
            ech: false,
            // testkit's queries ask for A records.
            info: Info::Dns { rrtype: 1 },
        }
    }

    const RESOLVER: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 53)), 53);

    #[test]
    fn dns_over_tcp_several_messages_in_one_segment() {
        let s = tcp_framed(&[
            dns_query(1, "a.example"),
            dns_query(2, "b.example"),
            dns_query(3, "c.example"),
        ]);
        let mut d = Driver::new();
        d.seg(CLIENT, RESOLVER, 100, "S", b"");
        let got = d.seg(CLIENT, RESOLVER, 101, "", &s);
        assert_eq!(
            got,
            vec![query("a.example"), query("b.example"), query("c.example")]
        );
        assert_eq!(d.t.buffered(), 0);
        assert_eq!(d.t.stats.dns_messages, 3);
    }

    #[test]
    fn dns_over_tcp_message_split_across_segments() {
        let s = tcp_framed(&[dns_query(1, "split.example"), dns_query(2, "next.example")]);
        // cut everywhere, including inside the length prefix
        for cut in 1..s.len() {
            let mut d = Driver::new();
            d.seg(CLIENT, RESOLVER, 100, "S", b"");
            let mut got = d.seg(CLIENT, RESOLVER, 101, "", &s[..cut]);
            got.extend(d.seg(CLIENT, RESOLVER, 101 + cut as u32, "", &s[cut..]));
            assert_eq!(
                got,
                vec![query("split.example"), query("next.example")],
                "{cut}"
            );
            assert_eq!(d.t.buffered(), 0);
        }
    }

    #[test]
    fn dns_over_tcp_responses_are_read_and_the_flow_stays_inspected() {
        let mut resp = dns_query(1, "answer.example");
        resp[2] |= 0x80; // QR
        let mut d = Driver::new();
        d.seg(CLIENT, RESOLVER, 100, "S", b"");
        d.seg(RESOLVER, CLIENT, 900, "S", b"");
        d.seg(
            CLIENT,
            RESOLVER,
            101,
            "",
            &tcp_framed(&[dns_query(1, "q1.example")]),
        );
        let got = d.seg(RESOLVER, CLIENT, 901, "", &tcp_framed(&[resp]));
        assert_eq!(got, vec![query("answer.example")]);
        let more = tcp_framed(&[dns_query(2, "q2.example")]);
        let off = 101 + tcp_framed(&[dns_query(1, "q1.example")]).len() as u32;
        assert_eq!(
            d.seg(CLIENT, RESOLVER, off, "", &more),
            vec![query("q2.example")]
        );
        assert_eq!(d.t.stats.bypassed, 0);
    }

    #[test]
    fn dns_over_tcp_stops_after_its_budget() {
        let one = tcp_framed(&[dns_query(1, "budget.example")]);
        let n = MAX_DNS_STREAM / one.len() + 10;
        let mut d = Driver::new();
        d.seg(CLIENT, RESOLVER, 0, "S", b"");
        let mut got = 0;
        for i in 0..n {
            got += d
                .seg(CLIENT, RESOLVER, 1 + (i * one.len()) as u32, "", &one)
                .len();
        }
        assert_eq!(got, MAX_DNS_STREAM / one.len());
        assert_eq!(d.t.stats.dns_capped, 1);
    }
}
