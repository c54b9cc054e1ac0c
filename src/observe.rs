//! What the application-layer parsers hand to the worker: an observable and where it was seen.
//! Parsers push these; the worker checks each against the indicator set.

use std::net::IpAddr;

/// Where in the traffic an observable was seen; the `observable.where` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Where {
    IpSrc,
    IpDst,
    /// Question name of a DNS query or response (also mDNS and LLMNR).
    DnsQuery,
    /// CNAME or DNAME target in a DNS response.
    DnsAnswer,
    /// A or AAAA address in a DNS response.
    DnsAnswerIp,
    TlsSni,
    QuicSni,
    HttpHost,
}

impl Where {
    pub const ALL: [Where; 8] = [
        Where::IpSrc,
        Where::IpDst,
        Where::DnsQuery,
        Where::DnsAnswer,
        Where::DnsAnswerIp,
        Where::TlsSni,
        Where::QuicSni,
        Where::HttpHost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Where::IpSrc => "ip.src",
            Where::IpDst => "ip.dst",
            Where::DnsQuery => "dns.query",
            Where::DnsAnswer => "dns.answer",
            Where::DnsAnswerIp => "dns.answer_ip",
            Where::TlsSni => "tls.sni",
            Where::QuicSni => "quic.sni",
            Where::HttpHost => "http.host",
        }
    }
}

/// What the protocol said about an observed name besides the name: the offered TLS version of
/// a ClientHello, the record type of a DNS question or answer. Copy, two bytes of payload: it
/// rides along with every observable at no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Info {
    #[default]
    None,
    /// The highest TLS version the ClientHello offered (`0x0304` is TLS 1.3).
    Tls { version: u16 },
    /// The DNS record type (the question's QTYPE, or the answer's TYPE: CNAME, DNAME).
    Dns { rrtype: u16 },
}

/// One observable from an application-layer parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A normalised name (see [`crate::name`]).
    Domain {
        name: Vec<u8>,
        at: Where,
        /// The ClientHello carried an encrypted_client_hello extension: the name is the outer
        /// (public) one and the real one is hidden.
        ech: bool,
        info: Info,
    },
    Ip {
        ip: IpAddr,
        at: Where,
    },
}
