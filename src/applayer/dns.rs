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
