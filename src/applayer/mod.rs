//! The application-layer seam: the one place that decides which parser a UDP datagram or a TCP
//! stream direction goes to, and the one way every protocol plugs in.
//!
//! # How a protocol plugs in
//!
//! Each protocol has one adapter file here (`tls.rs`, `http.rs`, `dns.rs`, `quic.rs`, `smtp.rs`) over a
//! pure parser in [`crate::proto`], and declares itself with one [`Record`] (after Suricata's
//! per-protocol registration): its default ports ([`Record::tcp_ports`],
//! [`Record::udp_ports`]), its content probes ([`Record::probe_tcp`], [`Record::probe_udp`]),
//! and how deep into a direction it reads ([`Record::max_depth`]). [`RECORDS`] lists them in
//! probe order. What the adapter reads comes back as [`Observed`] values.
//!
//! - **Framing** ("how many bytes do I need") is the adapter's [`Step::More`] answer: the exact
//!   end of a ClientHello from its record headers ([`crate::proto::tls::client_hello_need`]),
//!   the next line of an HTTP head, the announced length of a DNS message. The TCP table
//!   buffers until that many bytes are readable (bounded by [`MAX_STREAM_PREFIX`]), so a stream
//!   cut into one-byte segments costs one parse per record, line or message.
//! - **Parsing** of a stream direction is the adapter's `parse_stream`, called through
//!   [`Stream`], the per-direction state the TCP table keeps inside each flow (an enum: a match,
//!   no dynamic dispatch, no allocation).
//! - **Datagrams**: [`udp`] picks a record by port hint, then by content, and hands the payload
//!   to the adapter (DNS parses it; QUIC hands it to the connection tracker in
//!   [`crate::track::quic`], which reassembles CRYPTO frames and asks [`quic::client_hello`]
//!   for the hello).
//!
//! A new protocol adds a `Record`, a [`Stream`] variant for its per-direction state (TCP) or an
//! arm in [`udp`], and its parser in `proto/`. A parser for the server's direction (a TLS
//! ServerHello and certificate, SMTP replies) returns [`Step::Done`] with `client: false` or
//! keeps reading with [`Step::More`]; only a client verdict ends the other direction early.
//!
//! # Per TCP direction
//!
//! Each direction is inspected independently, from its first payload byte:
//!
//! ```text
//!  Probing ──TLS probe──▶ Tls  ──malformed / cap─────────────────────────▶ Done
//!     │                   └─hello parsed (client verdict)─▶ TlsRetry ──a second hello
//!     │                     after a HelloRetryRequest, or any other record──▶ Done
//!     │    ──HTTP probe─▶ Http ──every message to the end; framing error, a gap outside a
//!     │      (request or   │     body, head over its cap──────────────────▶ Done
//!     │       response)    └─CONNECT head ended─▶ Tunnel (probed again, TLS or HTTP)
//!     │    ──SMTP probe─▶ Smtp ──the whole client direction, message by message; a cap──▶ Done
//!     │                   └─STARTTLS─▶ Tunnel (the ClientHello)
//!     └────no probe matches──────────────────────────────────────────────▶ Done
//!  Dns (port hint: either port in dns::TCP_PORTS) ──every complete length-prefixed message
//!      (RFC 1035 §4.2.2)──▶ Done at MAX_DNS_STREAM bytes or a message over MAX_STREAM_PREFIX
//! ```
//!
//! A ClientHello or a request comes from the client, so once one direction has given its
//! verdict as a client (TLS or HTTP) the other direction is the server's: it is read as a TLS
//! server ([`tls_server`]: ServerHello, certificates) and is `Done` at its first bytes when they
//! are not a TLS handshake record; when both are `Done` the TCP table bypasses the flow.
//!
//! ```text
//!  Tls ──hello parsed, certificate hashes wanted──▶ TlsHandshake (client: its Certificate)
//!  Probing ──client verdict of the peer / a ServerHello / `HTTP/1.x 2xx` (CONNECT answer)──▶
//!      TlsHandshake (server) ──ChangeCipherSpec, encrypted record, TLS 1.3, ServerHelloDone,
//!      cap──▶ Done
//! ```
//!
//! # Both directions of one protocol (HTTP/1.x)
//!
//! HTTP is read to the connection's end: the client's direction ([`Stream::Http`] in the
//! client role) reads every request, the server's (recognised by its own `HTTP/1.` start)
//! every response. A response's framing depends on its request (no body after HEAD; a tunnel
//! after a 2xx to CONNECT), so the client's state keeps a bounded queue of what its requests
//! need ([`http::Pending`], at most [`http::MAX_PENDING`]) and the server's direction takes
//! from it: the table hands each direction's parser the other's state
//! ([`StreamParser::parse_paired`]), so the per-flow state shared by both is reached without a
//! pointer or a lock. A direction whose peer is a [`Stream::Tunnel`] answers a CONNECT.

pub mod dns;
pub mod file;
pub mod http;
pub mod quic;
pub mod smtp;
pub mod tls;
pub mod tls_server;

use std::net::SocketAddr;

use crate::observe::{Observed, Wants};
use crate::track::quic::QuicTracker;
use crate::track::tcp::{FlowStats, FlowTable, Segment, Step, StreamInput, StreamParser};

pub use crate::track::tcp::MAX_STREAM_PREFIX;

/// The application protocols iocd reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProto {
    Tls,
    Http,
    Dns,
    Quic,
    Smtp,
}

impl AppProto {
    pub fn as_str(self) -> &'static str {
        match self {
            AppProto::Tls => "tls",
            AppProto::Http => "http",
            AppProto::Dns => "dns",
            AppProto::Quic => "quic",
            AppProto::Smtp => "smtp",
        }
    }
}

/// A content probe's answer about the first bytes of a stream direction or a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes may be this protocol's: read them as such from now on.
    Yes,
    /// They are not.
    No,
    /// Too few bytes to tell; ask again with more.
    NeedMore,
}

impl From<bool> for Probe {
    /// A yes-or-no test of the bytes (the probes that never need more).
    fn from(yes: bool) -> Probe {
        if yes {
            Probe::Yes
        } else {
            Probe::No
        }
    }
}

/// One protocol's registration: how the seam recognises it and how deep it reads.
#[derive(Debug)]
pub struct Record {
    pub proto: AppProto,
    /// A TCP flow with either port here is this protocol from its first byte, in both
    /// directions, without probing.
    pub tcp_ports: &'static [u16],
    /// A UDP datagram with either port here is this protocol's, without probing.
    pub udp_ports: &'static [u16],
    /// Recognises the protocol from the first bytes of a TCP stream direction (in probe order,
    /// after no port hint matched); `None`: by port only.
    pub probe_tcp: Option<fn(&[u8]) -> Probe>,
    /// Recognises the protocol from a UDP datagram's payload; `None`: by port only.
    pub probe_udp: Option<fn(&[u8]) -> Probe>,
    /// Most bytes of one direction (or, for QUIC, of one CRYPTO stream) the protocol reads
    /// before it stops: where its bound comes from is documented on the constant.
    pub max_depth: usize,
}

/// Every protocol, in probe order: for TCP, TLS is asked before HTTP (both read the client's
/// first bytes; a TLS record never starts with a method token).
pub static RECORDS: [&Record; 5] = [
    &tls::RECORD,
    &http::RECORD,
    &dns::RECORD,
    &quic::RECORD,
    &smtp::RECORD,
];

// A TCP protocol that reads one message per direction needs it inside the reassembly window;
// DNS reads many and enforces its depth message by message; HTTP reads every message, each
// head inside the window.
const _: () = assert!(tls::RECORD.max_depth <= MAX_STREAM_PREFIX);
const _: () = assert!(crate::proto::http::MAX_HTTP_HEAD <= MAX_STREAM_PREFIX);
const _: () = assert!(crate::proto::http::MAX_RESPONSE_HEAD < MAX_STREAM_PREFIX);

/// How far into a client's direction a `CONNECT` tunnel may start and still be read: two
/// request heads of [`crate::proto::http::MAX_HTTP_HEAD`] (a refused `CONNECT` and its retry
/// with `Proxy-Authorization`, RFC 9110 §11.7.2). Past it the direction is done (counted as
/// `prefix_cap`).
pub const MAX_TUNNEL_OFFSET: usize = 2 * crate::proto::http::MAX_HTTP_HEAD;

/// The protocol whose ports (by `ports` of the record) include either of `ports`.
#[inline]
fn by_port(
    (a, b): (u16, u16),
    ports: impl Fn(&Record) -> &'static [u16],
) -> Option<&'static Record> {
    RECORDS
        .iter()
        .copied()
        .find(|r| ports(r).iter().any(|&p| p == a || p == b))
}

/// The protocol a flow's ports suggest (the records' port hints), for IP protocol `ip_proto`
/// (6 TCP, 17 UDP); what an event on an address of the IP header reports as its `app_proto`.
pub fn port_hint(ip_proto: u8, ports: (u16, u16)) -> Option<AppProto> {
    let r = match ip_proto {
        6 => by_port(ports, |r| r.tcp_ports),
        17 => by_port(ports, |r| r.udp_ports),
        _ => None,
    };
    r.map(|r| r.proto)
}

/// The first protocol whose probe (by `probe` of the record) says yes; `Err(true)` when none
/// did but one needs more bytes.
#[inline]
fn by_content(
    data: &[u8],
    probe: impl Fn(&Record) -> Option<fn(&[u8]) -> Probe>,
) -> Result<&'static Record, bool> {
    by_content_from(0, data, probe).map(|(_, r)| r)
}

/// [`by_content`] over the records from index `from` on; the record's index with it.
#[inline]
fn by_content_from(
    from: usize,
    data: &[u8],
    probe: impl Fn(&Record) -> Option<fn(&[u8]) -> Probe>,
) -> Result<(usize, &'static Record), bool> {
    let mut need_more = false;
    for (i, r) in RECORDS.iter().enumerate().skip(from) {
        match probe(r).map(|p| p(data)) {
            Some(Probe::Yes) => return Ok((i, r)),
            Some(Probe::NeedMore) => need_more = true,
            Some(Probe::No) | None => {}
        }
    }
    Err(need_more)
}

/// What the application layer is reading one TCP stream direction as: the per-direction
/// state kept inside each flow of the TCP table.
#[derive(Debug, PartialEq, Eq)]
pub enum Stream {
    /// No protocol yet: the next bytes are probed.
    Probing,
    /// A ClientHello that did not fit the first bytes seen.
    Tls,
    /// HTTP/1.x messages, every one of the connection (see [`http`]): requests on the client's
    /// side, responses on the server's, each direction's place in its messages boxed.
    Http(Box<http::Dir>),
    /// The bytes after an HTTP `CONNECT` head: probed again, so a TLS ClientHello sent
    /// through the proxy is read as on any TLS flow (and a second request, a retry with
    /// credentials after a 407, as HTTP). Only within [`MAX_TUNNEL_OFFSET`].
    Tunnel,
    /// DNS messages, each with its two-byte length.
    Dns,
    /// The TLS handshake after the ClientHello ([`tls_server`]): the server's ServerHello and
    /// certificates, or the client's certificate. Boxed: a few dozen bytes while it reads.
    TlsHandshake(Box<tls_server::Reader>),
    /// A plaintext SMTP client direction, read to its end (or its `STARTTLS`, after which it
    /// is a [`Stream::Tunnel`]).
    Smtp(Box<smtp::State>),
    /// An SMTP server's replies (its direction began with a `220` greeting): skipped line by
    /// line, so that after `STARTTLS` its TLS ServerHello and certificates are read as on any
    /// TLS flow. Only within [`MAX_TUNNEL_OFFSET`] (RFC 3207 has STARTTLS right after EHLO).
    SmtpServer,
    /// Nothing more to read.
    Done,
    /// The client's records after its ClientHello, for a second one after a
    /// HelloRetryRequest (the client verdict was given with the first).
    TlsRetry,
}

impl Stream {
    /// A TLS server's direction: its ServerHello and certificates are read next.
    fn tls_server() -> Stream {
        Stream::TlsHandshake(Box::new(tls_server::Reader::new(tls_server::Side::Server)))
    }

    /// The state of a direction that is `proto`'s from now on.
    fn of(proto: AppProto) -> Stream {
        match proto {
            AppProto::Tls => Stream::Tls,
            AppProto::Http => Stream::Http(Box::default()),
            AppProto::Dns => Stream::Dns,
            AppProto::Smtp => Stream::Smtp(smtp::State::new()),
            // QUIC is not carried over TCP.
            AppProto::Quic => Stream::Done,
        }
    }

    /// Read `input` as `proto`'s; `first`: the direction was probing until now; `peer`: the
    /// other direction's state.
    fn parse_as(
        &mut self,
        peer: &mut Stream,
        input: StreamInput<'_>,
        first: bool,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        match self {
            // a server's hello whose first segment was too short to tell it from a client's
            Stream::Tls if tls_server::probe_server_hello(input.data) == Probe::Yes => {
                *self = Stream::tls_server();
                self.parse_as(peer, input, first, out, stats)
            }
            Stream::Tls => match tls::parse_stream(input, first, out, stats) {
                // the hello was read: the client's direction reads on, for its Certificate
                // when certificate hashes are wanted, else for a second hello after a
                // HelloRetryRequest; the verdict is given now either way
                Step::Client { .. } if tls_server::reads_client(input.wants) => {
                    match self.client_rest(input, out, stats) {
                        Step::More { used, need } | Step::Client { used, need } => {
                            Step::Client { used, need }
                        }
                        Step::Done { .. } => Step::Done { client: true },
                    }
                }
                step @ Step::Client { .. } => {
                    *self = Stream::TlsRetry;
                    step
                }
                step => step,
            },
            Stream::TlsRetry => tls::parse_retry(input, out, stats),
            Stream::TlsHandshake(r) => r.parse(input, out, stats),
            Stream::Http(dir) => {
                let other = match peer {
                    Stream::Http(p) => http::Peer::Http(p),
                    Stream::Tunnel => http::Peer::Tunnel,
                    _ => http::Peer::Other,
                };
                match http::parse_stream(dir, other, input, first, out, stats) {
                    http::Parsed::Step(step) => step,
                    http::Parsed::Tunnel { head } => self.tunnel(peer, input, head, out, stats),
                }
            }
            Stream::Dns => dns::parse_stream(input, out, stats),
            Stream::SmtpServer => self.smtp_server(peer, input, out, stats),
            Stream::Smtp(state) => match smtp::parse_stream(state, input, first, out, stats) {
                smtp::Parsed::Step(step) => step,
                smtp::Parsed::StartTls { used } => self.tunnel(peer, input, used, out, stats),
            },
            Stream::Probing | Stream::Tunnel | Stream::Done => Step::Done { client: false },
        }
    }

    /// A `CONNECT` head of `head` bytes ended: the tunnel starts after it. Bytes already
    /// there (a client that did not wait for the proxy's answer) are read now when they are
    /// not HTTP; another request there (no recursion) waits for the next segment.
    fn tunnel(
        &mut self,
        peer: &mut Stream,
        input: StreamInput<'_>,
        head: usize,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        *self = Stream::Tunnel;
        let wait = Step::More {
            used: head,
            need: 1,
        };
        let rest = input.data.get(head..).unwrap_or(&[]);
        if rest.is_empty() {
            return wait;
        }
        let r = match by_content(rest, |r| r.probe_tcp) {
            Ok(r) if r.proto != AppProto::Http => r,
            _ => return wait,
        };
        *self = Stream::of(r.proto);
        let rest = StreamInput {
            data: rest,
            seen: 0,
            consumed: input.consumed + head,
            wants: input.wants,
        };
        match self.parse_as(peer, rest, true, out, stats) {
            Step::More { used, need } => Step::More {
                used: head + used,
                need,
            },
            Step::Client { used, need } => Step::Client {
                used: head + used,
                need,
            },
            done => done,
        }
    }

    /// The ClientHello at the start of `input` was read and certificate hashes are wanted: read
    /// on after it for the client's Certificate (sent when the server asks for one). The client
    /// verdict is given all the same: the caller answers [`Step::Client`].
    fn client_rest(
        &mut self,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        let end = crate::proto::tls::client_hello_need(input.data).min(input.data.len());
        let mut r = Box::new(tls_server::Reader::new(tls_server::Side::Client));
        let rest = StreamInput {
            data: &input.data[end..],
            seen: 0,
            consumed: input.consumed + end,
            wants: input.wants,
        };
        let step = r.parse(rest, out, stats);
        *self = Stream::TlsHandshake(r);
        match step {
            Step::More { used, need } => Step::More {
                used: end + used,
                need,
            },
            done => done,
        }
    }

    /// Probe the first bytes of a direction (or of a tunnel) and read them as the protocol
    /// that claims them. A TLS ServerHello (a server's direction whose client did not give
    /// its verdict yet, or a capture picked up after the ClientHello) is read by
    /// [`tls_server`].
    fn probe(
        &mut self,
        peer: &mut Stream,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        if tls_server::probe_server_hello(input.data) == Probe::Yes {
            *self = Stream::tls_server();
            return self.parse_as(peer, input, true, out, stats);
        }
        // a proxy's answer to CONNECT (no client verdict yet: the tunnelled hello comes after);
        // any other response is HTTP's
        if matches!(peer, Stream::Tunnel) && !matches!(self, Stream::Tunnel) {
            match tls_server::probe_proxy_answer(input.data) {
                Probe::Yes => {
                    *self =
                        Stream::TlsHandshake(Box::new(tls_server::Reader::after_proxy_answer()));
                    return self.parse_as(peer, input, true, out, stats);
                }
                Probe::NeedMore if input.data.len() < 7 => {
                    return Step::More {
                        used: 0,
                        need: input.data.len() + 1,
                    }
                }
                _ => {}
            }
        }
        let mut from = 0;
        loop {
            return match by_content_from(from, input.data, |r| r.probe_tcp) {
                Ok((i, r)) => {
                    *self = Stream::of(r.proto);
                    match self.parse_as(peer, input, true, out, stats) {
                        Step::Done { client: false } if i + 1 < RECORDS.len() => {
                            *self = Stream::Probing;
                            from = i + 1;
                            continue;
                        }
                        step => step,
                    }
                }
                Err(true) => Step::More {
                    used: 0,
                    need: input.data.len() + 1,
                },
                Err(false) if smtp_greeting(input.data) => {
                    *self = Stream::SmtpServer;
                    self.smtp_server(peer, input, out, stats)
                }
                Err(false) => Step::Done { client: false },
            };
        }
    }

    /// An SMTP server's direction: reply lines are skipped; a TLS record (after `STARTTLS`)
    /// is read by the TLS server reader.
    fn smtp_server(
        &mut self,
        peer: &mut Stream,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        let data = input.data;
        let mut used = 0;
        loop {
            if input.consumed + used > MAX_TUNNEL_OFFSET {
                stats.prefix_cap += 1;
                return Step::Done { client: false };
            }
            let rest = &data[used..];
            if rest.first() == Some(&0x16) {
                *self = Stream::tls_server();
                let tls = StreamInput {
                    data: rest,
                    seen: 0,
                    consumed: input.consumed + used,
                    wants: input.wants,
                };
                return match self.parse_as(peer, tls, true, out, stats) {
                    Step::More { used: u, need } | Step::Client { used: u, need } => Step::More {
                        used: used + u,
                        need,
                    },
                    done => done,
                };
            }
            match memchr::memchr(b'\n', rest) {
                Some(i) => used += i + 1,
                None if rest.len() >= smtp::MAX_REPLY_LINE => {
                    stats.prefix_cap += 1;
                    return Step::Done { client: false };
                }
                None => {
                    return Step::More {
                        used,
                        need: rest.len() + 1,
                    }
                }
            }
        }
    }
}

impl StreamParser for Stream {
    fn start(ports: (u16, u16)) -> Stream {
        match by_port(ports, |r| r.tcp_ports) {
            Some(r) => Stream::of(r.proto),
            None => Stream::Probing,
        }
    }

    #[inline]
    fn is_done(&self) -> bool {
        matches!(self, Stream::Done)
    }

    fn stop(&mut self) -> bool {
        let client = match self {
            Stream::Tls | Stream::Tunnel | Stream::Smtp(_) => true,
            Stream::Http(d) => d.is_client(),
            Stream::TlsHandshake(r) => r.side() == tls_server::Side::Client,
            _ => false,
        };
        *self = Stream::Done;
        client
    }

    /// The server's direction of a flow whose client sent a hello or a request: a TLS
    /// server's ServerHello and certificates are read ([`tls_server`]; anything else there
    /// ends the direction at its first bytes).
    fn peer_is_client(&mut self) -> bool {
        match self {
            Stream::Probing => {
                *self = Stream::tls_server();
                false
            }
            // its TLS after STARTTLS comes: read it
            Stream::TlsHandshake(_) | Stream::SmtpServer => false,
            _ => true,
        }
    }

    fn parse(
        &mut self,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        self.parse_paired(&mut Stream::Done, input, out, stats)
    }

    fn gap(&mut self, skipped: u64, snap: bool, stats: &mut FlowStats) -> bool {
        match self {
            Stream::Http(d) => d.gap(skipped, snap, stats),
            _ => false,
        }
    }

    fn end(&mut self, out: &mut Vec<Observed>, stats: &mut FlowStats) {
        if let Stream::Http(d) = self {
            d.end(out, stats);
        }
    }

    fn mem(&self) -> usize {
        match self {
            Stream::Http(d) => d.mem(),
            _ => 0,
        }
    }

    fn parse_paired(
        &mut self,
        peer: &mut Stream,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        let step = match *self {
            Stream::Probing => self.probe(peer, input, out, stats),
            // what a client sends through a proxy is its own: done as a client whatever it is
            Stream::Tunnel if input.consumed > MAX_TUNNEL_OFFSET => {
                stats.prefix_cap += 1;
                Step::Done { client: true }
            }
            Stream::Tunnel => match self.probe(peer, input, out, stats) {
                Step::Done { .. } => Step::Done { client: true },
                step => step,
            },
            _ => self.parse_as(peer, input, false, out, stats),
        };
        if let Step::Done { .. } = step {
            *self = Stream::Done;
        }
        step
    }
}

/// An SMTP server's first reply line: `220` and a space or a hyphen (RFC 5321 §4.2).
fn smtp_greeting(data: &[u8]) -> bool {
    data.len() >= 4 && data.starts_with(b"220") && matches!(data[3], b' ' | b'-')
}

/// The TCP flow table as the worker runs it: reassembly in [`crate::track::tcp`], each
/// direction read by a [`Stream`].
pub type TcpFlows = FlowTable<Stream>;

/// The seam's TCP entry point: one segment to the flow table, which reassembles it and hands
/// each direction's readable bytes to its [`Stream`]; observables go to `out`.
#[inline]
pub fn tcp(flows: &mut TcpFlows, now_us: i64, seg: &Segment<'_>, out: &mut Vec<Observed>) {
    flows.segment(now_us, seg, out);
}

/// What [`udp`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// No protocol claimed it.
    Ignored,
    /// Read as this protocol's (what was read before an error is in `out`).
    Read(AppProto),
    /// Claimed by this protocol, but its parser stopped at an error (counted by the caller).
    Malformed(AppProto),
}

/// The seam's UDP entry point: choose the protocol of a datagram from `src` to `dst` by port
/// hint, then by content, and read it; observables go to `out`. QUIC datagrams go to `quic`,
/// the worker's connection tracker; `wants` (the token kinds of the loaded set) tells it which
/// fingerprints to compute.
pub fn udp(
    quic: &mut QuicTracker,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    now_us: i64,
    wants: Wants,
    out: &mut Vec<Observed>,
) -> Datagram {
    let record = match by_port((src.port(), dst.port()), |r| r.udp_ports) {
        Some(r) => r,
        None => match by_content(payload, |r| r.probe_udp) {
            Ok(r) => r,
            // A datagram is all there is: "need more" is "no".
            Err(_) => return Datagram::Ignored,
        },
    };
    match record.proto {
        AppProto::Dns => {
            if dns::datagram(payload, out) {
                Datagram::Read(AppProto::Dns)
            } else {
                Datagram::Malformed(AppProto::Dns)
            }
        }
        AppProto::Quic => {
            quic::datagram(quic, (src, dst), payload, now_us, wants, out);
            Datagram::Read(AppProto::Quic)
        }
        AppProto::Tls | AppProto::Http | AppProto::Smtp => Datagram::Ignored,
    }
}

/// A TCP flow table driven through the seam's entry point, for the adapters' tests.
#[cfg(test)]
pub(crate) mod driver {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{tcp, TcpFlows};
    use crate::observe::{Observed, Token, Wants};
    use crate::track::tcp::Segment;

    pub const CLIENT: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    pub const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443);

    /// Every observable the TCP streams of a capture give (the worker's TCP path: decode,
    /// flow table, application layer; every token wanted, a snap-cut segment told so), and
    /// the table's counters: for the protocols' tests over real captures.
    pub fn observe_pcap(path: &std::path::Path) -> (Vec<Observed>, crate::track::tcp::FlowStats) {
        let mut r = crate::capture::file::open_reader(path).unwrap();
        let mut flows = TcpFlows::new();
        let mut out = Vec::new();
        while r.advance(&mut || {}).unwrap() {
            let Some(pkt) = r.packet() else { break };
            let p = crate::decode::decode(crate::decode::Link::from_dlt(pkt.linktype), pkt.data);
            let (
                Some(ip),
                crate::decode::L4::Tcp {
                    sport,
                    dport,
                    seq,
                    syn,
                    fin,
                    rst,
                    payload,
                },
            ) = (p.ip, p.l4)
            else {
                continue;
            };
            let seg = Segment {
                src: (ip.src, sport),
                dst: (ip.dst, dport),
                seq,
                syn,
                fin,
                rst,
                payload,
                wants: crate::observe::Wants::ALL,
            };
            let lost = pkt.wire_len.saturating_sub(pkt.data.len() as u32);
            if lost > 0 && !payload.is_empty() {
                flows.segment_cut(pkt.ts_us, &seg, lost, &mut out);
            } else {
                tcp(&mut flows, pkt.ts_us, &seg, &mut out);
            }
        }
        (out, flows.stats)
    }

    /// Each call returns the observables its segment produced.
    pub struct Driver {
        pub t: TcpFlows,
        now: i64,
        /// What the segments say the set holds: every kind but the client fingerprints, whose
        /// tokens and kept hellos `applayer::tls`'s tests check (`with_wants` to change it).
        pub wants: Wants,
    }

    impl Driver {
        pub fn new() -> Self {
            Driver {
                t: TcpFlows::new(),
                now: 1_000_000,
                wants: Wants(
                    Wants::ALL.0 & !(Token::Ja3.bit() | Token::Ja4.bit() | Wants::HELLO_BYTES.0),
                ),
            }
        }

        pub fn with_wants(mut self, wants: Wants) -> Self {
            self.wants = wants;
            self
        }

        /// One segment; `flags` holds `S`, `F`, `R` as set.
        pub fn seg(
            &mut self,
            src: (IpAddr, u16),
            dst: (IpAddr, u16),
            seq: u32,
            flags: &str,
            payload: &[u8],
        ) -> Vec<Observed> {
            self.now += 10;
            let mut out = Vec::new();
            let seg = Segment {
                src,
                dst,
                seq,
                syn: flags.contains('S'),
                fin: flags.contains('F'),
                rst: flags.contains('R'),
                payload,
                wants: self.wants,
            };
            tcp(&mut self.t, self.now, &seg, &mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_ports_are_written_once_and_hint_both_transports() {
        for p in dns::UDP_PORTS {
            assert_eq!(
                by_port((40000, p), |r| r.udp_ports).map(|r| r.proto),
                Some(AppProto::Dns)
            );
        }
        assert_eq!(Stream::start((40000, 53)), Stream::Dns);
        assert_eq!(Stream::start((53, 40000)), Stream::Dns);
        assert_eq!(Stream::start((40000, 443)), Stream::Probing);
        assert_eq!(Stream::start((40000, 5353)), Stream::Probing);
    }

    #[test]
    fn every_protocol_is_registered_once() {
        for (i, a) in RECORDS.iter().enumerate() {
            for b in &RECORDS[i + 1..] {
                assert_ne!(a.proto, b.proto);
            }
        }
    }

    #[test]
    fn probing_picks_tls_then_http_and_gives_up_on_anything_else() {
        let mut stats = FlowStats::default();
        let mut out = Vec::new();
        let input = |data| StreamInput {
            data,
            seen: 0,
            consumed: 0,
            wants: crate::observe::Wants::ALL,
        };
        let mut s = Stream::Probing;
        assert!(matches!(
            s.parse(input(&[0x16, 3]), &mut out, &mut stats),
            Step::More { .. }
        ));
        assert_eq!(s, Stream::Tls);
        assert_eq!(stats.tls_split, 1);
        let mut s = Stream::Probing;
        s.parse(input(b"GET / HT"), &mut out, &mut stats);
        assert!(matches!(s, Stream::Http(_)));
        let mut s = Stream::Probing;
        assert_eq!(
            s.parse(
                input(b"SSH-2.0-OpenSSH_9.6p1 Debian-4"),
                &mut out,
                &mut stats
            ),
            Step::Done { client: false }
        );
        assert!(s.is_done());
        assert!(out.is_empty());
    }

    #[test]
    fn udp_goes_to_dns_by_port_and_to_quic_by_content() {
        let mut q = QuicTracker::new();
        let mut out = Vec::new();
        let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let dns_server: SocketAddr = "10.0.0.2:5353".parse().unwrap();
        let other: SocketAddr = "10.0.0.2:9999".parse().unwrap();
        assert_eq!(
            udp(&mut q, c, dns_server, &[0; 4], 0, Wants::ALL, &mut out),
            Datagram::Malformed(AppProto::Dns)
        );
        assert_eq!(
            udp(&mut q, c, other, b"hello", 0, Wants::ALL, &mut out),
            Datagram::Ignored
        );
        // a QUIC v1 long header on any port is QUIC by content (this one is cut short: the
        // tracker counts it as malformed)
        let long = [0xc0, 0, 0, 0, 1, 0, 0];
        assert_eq!(
            udp(&mut q, c, other, &long, 0, Wants::ALL, &mut out),
            Datagram::Read(AppProto::Quic)
        );
        assert!(out.is_empty());
        assert_eq!(q.stats().malformed, 1);
    }
}
