//! HTTP/1.x over TCP as a stream, on any port, recognised by content: every request of a
//! connection (keep-alive, pipelined) and every response, each head then its body framed as
//! RFC 9112 §6 says, both directions to the connection's end.
//!
//! - **Requests** (the client's direction): each gives its `Host` (a name or an address,
//!   RFC 9110 §7.2) and, when URL indicators are loaded, its URL ([`crate::url::from_request`]):
//!   origin form with the Host, absolute form (a proxy's request; `https` when its scheme
//!   is), and CONNECT's authority form as the URL `host:port/` (so a feed's `https://host/`
//!   matches a tunnel to it through a proxy: the path is not seen, `/` stands for it).
//! - **Responses** (the server's direction, recognised by their `HTTP/1.` start): the body's
//!   framing depends on the request it answers (none after HEAD, RFC 9112 §6.3 ¶1), so the
//!   client's direction keeps a short queue of what its requests need ([`Pending`]) that the
//!   server's direction takes from, in order: the two directions' states reach each other
//!   through the table ([`crate::track::tcp::StreamParser::parse_paired`]), no shared pointer.
//! - **Bodies** in both directions (downloads and uploads) are consumed as they arrive, with no
//!   copy (`Step::More { used: all, need: 1 }`), and, when file digests are loaded, hashed after
//!   removing the chunked coding and decoding gzip/deflate ([`super::file`]); their digests are
//!   reported at the body's end (`http.file`).
//! - **Lost bytes** (a hole the window cannot wait for, a segment cut by the snap length): inside
//!   a body of known length, that body is not hashed (counted) and the next message is read
//!   where it starts; anywhere else the direction stops (counted).
//!
//! Bounds: a request head is read up to [`http::MAX_HTTP_HEAD`], a response head up to
//! [`http::MAX_RESPONSE_HEAD`] (so 100,000 header lines or a 1 MiB line stop the direction,
//! counted as `prefix_cap`), a chunk-size or trailer line up to [`http::MAX_CHUNK_LINE`], the
//! queue to [`MAX_PENDING`], a file to `max_file_size`; the state of a direction is its
//! [`Dir`] (a few hundred bytes) and, while a compressed body is hashed, one inflate window
//! ([`super::file::INFLATE_MEM`]).

use std::collections::VecDeque;

use crate::observe::{FileMeta, Observed, Token};
use crate::proto::http;
use crate::track::tcp::{FlowStats, Step, StreamInput};

use super::file::{Coding, FileHash, Spoiled};
use super::{AppProto, Probe, Record};

pub const RECORD: Record = Record {
    proto: AppProto::Http,
    tcp_ports: &[],
    udp_ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    // read to the connection's end: each head is bounded instead (`http::MAX_HTTP_HEAD`,
    // `http::MAX_RESPONSE_HEAD`), and bodies are consumed as they pass
    max_depth: usize::MAX,
};

/// A request (any method token) or a response (`HTTP/1.`).
fn probe(data: &[u8]) -> Probe {
    Probe::from(http::may_be_request(data) || http::may_be_response(data))
}

/// Requests waiting for their responses, per connection. Browsers and curl do not pipeline;
/// clients that do (apt, some proxies) send a handful of requests ahead (Firefox's old limit
/// was 8, apt's default `Pipeline-Depth` is 10); 64 is far beyond. Past it a response is
/// framed as a GET's (counted as `http_pending_full`).
pub const MAX_PENDING: usize = 64;

/// What a response needs to know of the request it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// A HEAD request: its response has no body whatever its head says.
    head: bool,
    /// A CONNECT request: a 2xx response opens a tunnel.
    connect: bool,
    /// The last segment of the request path: the name of a downloaded file without a
    /// Content-Disposition.
    name: Option<Box<str>>,
}

/// Which side a direction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Not known before the first bytes are read.
    Unknown,
    Client,
    Server,
}

/// Where a direction is in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Waiting for a message head.
    Head,
    /// This many body bytes to go (Content-Length).
    Length(u64),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk to go.
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk; this many read.
    Trailer(usize),
    /// The body runs to the connection's end (a response without a length, RFC 9112 §6.3 ¶8).
    Close,
}

/// One direction of an HTTP/1.x connection.
#[derive(Debug)]
pub struct Dir {
    role: Role,
    at: At,
    /// The body being hashed, when file digests are wanted.
    file: Option<Box<FileHash>>,
    /// The client's: its requests whose responses are due (taken by the server's direction).
    pending: VecDeque<Pending>,
}

impl PartialEq for Dir {
    /// Directions compare by role and position: what the seam's tests look at.
    fn eq(&self, other: &Dir) -> bool {
        self.role == other.role && self.at == other.at
    }
}

impl Eq for Dir {}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            role: Role::Unknown,
            at: At::Head,
            file: None,
            pending: VecDeque::new(),
        }
    }

    /// Reading the client's side.
    pub fn is_client(&self) -> bool {
        self.role != Role::Server
    }

    /// Heap bytes held: this state, its queue, a body's digests and decoder.
    pub fn mem(&self) -> usize {
        std::mem::size_of::<Dir>()
            + self.pending.capacity() * std::mem::size_of::<Pending>()
            + self
                .pending
                .iter()
                .map(|p| p.name.as_ref().map_or(0, |n| n.len()))
                .sum::<usize>()
            + self
                .file
                .as_ref()
                .map_or(0, |f| std::mem::size_of::<FileHash>() + f.mem())
    }
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

/// The other direction as this one sees it.
pub(super) enum Peer<'a> {
    /// An HTTP direction (its queue is taken from).
    Http(&'a mut Dir),
    /// A CONNECT tunnel: the response being read answers that CONNECT.
    Tunnel,
    /// Anything else (not read, or not HTTP).
    Other,
}

/// What [`parse_stream`] made of a direction.
pub(super) enum Parsed {
    /// A step like any protocol's.
    Step(Step),
    /// A `CONNECT` request head of `head` bytes (from the start of the input) was read (its
    /// Host pushed): the tunnel starts right after it.
    Tunnel { head: usize },
}

/// Count why a file was not hashed.
fn count_spoiled(why: Spoiled, stats: &mut FlowStats) {
    match why {
        Spoiled::Gap => stats.http_file_gap += 1,
        Spoiled::Snap => stats.http_file_snap += 1,
        Spoiled::TooBig => stats.http_file_too_big += 1,
        Spoiled::Undecoded => stats.http_file_undecoded += 1,
        Spoiled::Cut => stats.http_file_cut += 1,
    }
}

impl Dir {
    /// The body ended: report its digests (or count why not); the next message head follows.
    fn body_done(&mut self, out: &mut Vec<Observed>, stats: &mut FlowStats) {
        self.at = At::Head;
        if let Some(f) = self.file.take() {
            let before = out.len();
            match f.finish(out) {
                Ok(()) if out.len() > before => stats.http_files += 1,
                Ok(()) => {}
                Err(why) => count_spoiled(why, stats),
            }
        }
    }

    /// Body bytes as sent (chunked coding already removed).
    #[inline]
    fn body(&mut self, data: &[u8]) {
        if let Some(f) = &mut self.file {
            // a spoiled file ignores its bytes; the reason is counted at the body's end
            f.update(data);
        }
    }

    /// Bytes were lost (see [`crate::track::tcp::StreamParser::gap`]): true when the framing
    /// survives them (inside a body of known length, or one that runs to the close).
    pub fn gap(&mut self, skipped: u64, snap: bool, stats: &mut FlowStats) -> bool {
        let why = if snap { Spoiled::Snap } else { Spoiled::Gap };
        let ok = match self.at {
            At::Length(n) if skipped <= n => {
                self.at = At::Length(n - skipped);
                true
            }
            At::ChunkData(n) if skipped <= n => {
                self.at = At::ChunkData(n - skipped);
                true
            }
            At::Close => true,
            _ => false,
        };
        match (&mut self.file, ok) {
            (Some(f), true) => f.spoil(why),
            (Some(_), false) => {
                self.file = None;
                count_spoiled(why, stats);
            }
            (None, _) => {}
        }
        if !ok {
            stats.http_framing_errors += 1;
        }
        ok
    }

    /// The direction ended (FIN) with nothing missing: a body running to the close is
    /// complete; any other body was cut.
    pub fn end(&mut self, out: &mut Vec<Observed>, stats: &mut FlowStats) {
        match self.at {
            At::Close => self.body_done(out, stats),
            At::Head => {}
            _ => {
                if let Some(mut f) = self.file.take() {
                    f.spoil(Spoiled::Cut);
                    count_spoiled(Spoiled::Cut, stats);
                }
            }
        }
        self.at = At::Head;
    }
}

/// Read a direction's bytes: as many messages as `input` holds, each head only once it is
/// complete, bodies consumed as they come. `first`: the bytes were just probed.
pub(super) fn parse_stream(
    dir: &mut Dir,
    mut peer: Peer<'_>,
    input: StreamInput<'_>,
    first: bool,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Parsed {
    let data = input.data;
    let mut pos = 0;
    let done = |dir: &Dir| {
        Parsed::Step(Step::Done {
            client: dir.is_client(),
        })
    };
    loop {
        let rest = &data[pos..];
        match dir.at {
            At::Head => {
                let skip = http::leading_empty_lines(rest);
                let rest = &rest[skip..];
                if rest.is_empty() {
                    return Parsed::Step(Step::More {
                        used: pos + skip,
                        need: 1,
                    });
                }
                if dir.role == Role::Unknown {
                    dir.role = if http::may_be_response(rest) {
                        if rest.len() < 7 {
                            return more(pos + skip, rest);
                        }
                        Role::Server
                    } else {
                        Role::Client
                    };
                }
                let cap = match dir.role {
                    Role::Server => http::MAX_RESPONSE_HEAD,
                    _ => http::MAX_HTTP_HEAD,
                };
                // only look again once a new line arrived (or at the cap)
                let seen = input.seen.saturating_sub(pos + skip);
                let fresh = rest.get(seen..).unwrap_or(&[]);
                if !first && pos == 0 && rest.len() < cap && !fresh.contains(&b'\n') {
                    return more(pos + skip, rest);
                }
                let end = http::head_end(rest, seen);
                let head = match end {
                    Some(end) if end <= cap => &rest[..end],
                    _ => {
                        // not (yet) a complete head: is it a message at all?
                        let verdict = match dir.role {
                            Role::Server => status_verdict(rest),
                            _ => request_verdict(rest),
                        };
                        if let Some(p) = verdict {
                            return p;
                        }
                        if rest.len() < cap {
                            return more(pos + skip, rest);
                        }
                        // over the cap: what a request's first lines name is still given
                        if dir.role == Role::Client {
                            if let Ok(req) = http::parse_request(rest) {
                                stats.http_requests += 1;
                                if let Some(o) = req.host.and_then(http::host_observable) {
                                    out.push(o);
                                }
                            }
                        }
                        stats.prefix_cap += 1;
                        return done(dir);
                    }
                };
                let start = pos + skip;
                pos = start + head.len();
                let next = match dir.role {
                    Role::Server => response(dir, &mut peer, head, input.wants, stats),
                    _ => match request(dir, head, input.wants, out, stats) {
                        Ok(connect) if connect => {
                            stats.http_tunnels += 1;
                            return Parsed::Tunnel { head: pos };
                        }
                        Ok(_) => Ok(()),
                        Err(p) => Err(p),
                    },
                };
                if let Err(p) = next {
                    return p;
                }
            }
            At::Length(n) => {
                let take = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                dir.body(&rest[..take]);
                pos += take;
                let left = n - take as u64;
                if left > 0 {
                    dir.at = At::Length(left);
                    return Parsed::Step(Step::More { used: pos, need: 1 });
                }
                dir.body_done(out, stats);
            }
            At::ChunkSize => {
                let Some(nl) = memchr::memchr(b'\n', rest) else {
                    if rest.len() >= http::MAX_CHUNK_LINE {
                        return framing_error(dir, stats);
                    }
                    return more(pos, rest);
                };
                if nl >= http::MAX_CHUNK_LINE {
                    return framing_error(dir, stats);
                }
                let Some(size) = http::chunk_size(&rest[..nl]) else {
                    return framing_error(dir, stats);
                };
                pos += nl + 1;
                dir.at = if size == 0 {
                    At::Trailer(0)
                } else {
                    At::ChunkData(size)
                };
            }
            At::ChunkData(n) => {
                let take = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                dir.body(&rest[..take]);
                pos += take;
                let left = n - take as u64;
                if left > 0 {
                    dir.at = At::ChunkData(left);
                    return Parsed::Step(Step::More { used: pos, need: 1 });
                }
                dir.at = At::ChunkEnd;
            }
            At::ChunkEnd => match rest {
                [b'\n', ..] => {
                    pos += 1;
                    dir.at = At::ChunkSize;
                }
                [b'\r', b'\n', ..] => {
                    pos += 2;
                    dir.at = At::ChunkSize;
                }
                [] | [b'\r'] => return more(pos, rest),
                _ => return framing_error(dir, stats),
            },
            At::Trailer(lines) => {
                let Some(nl) = memchr::memchr(b'\n', rest) else {
                    if rest.len() >= http::MAX_CHUNK_LINE {
                        return framing_error(dir, stats);
                    }
                    return more(pos, rest);
                };
                if nl >= http::MAX_CHUNK_LINE || lines >= http::MAX_TRAILER_LINES {
                    return framing_error(dir, stats);
                }
                let empty = nl == 0 || (nl == 1 && rest[0] == b'\r');
                pos += nl + 1;
                if empty {
                    dir.body_done(out, stats);
                } else {
                    dir.at = At::Trailer(lines + 1);
                }
            }
            At::Close => {
                dir.body(rest);
                return Parsed::Step(Step::More {
                    used: data.len(),
                    need: 1,
                });
            }
        }
    }
}

/// Wait for one byte more than `rest` holds, `used` bytes done with.
fn more(used: usize, rest: &[u8]) -> Parsed {
    Parsed::Step(Step::More {
        used,
        need: rest.len() + 1,
    })
}

/// The framing cannot be followed: the direction stops (counted).
fn framing_error(dir: &mut Dir, stats: &mut FlowStats) -> Parsed {
    stats.http_framing_errors += 1;
    if let Some(mut f) = dir.file.take() {
        f.spoil(Spoiled::Undecoded);
        count_spoiled(Spoiled::Undecoded, stats);
    }
    Parsed::Step(Step::Done {
        client: dir.is_client(),
    })
}

/// An incomplete client head: `Some` when its bytes already say it is no request.
fn request_verdict(rest: &[u8]) -> Option<Parsed> {
    match http::parse_request(rest) {
        Err(http::HttpError::NotHttp) => Some(Parsed::Step(Step::Done { client: false })),
        _ => None,
    }
}

/// An incomplete server head: `Some` when its first line is complete and no status line.
fn status_verdict(rest: &[u8]) -> Option<Parsed> {
    if !http::may_be_response(rest) {
        return Some(Parsed::Step(Step::Done { client: false }));
    }
    let nl = memchr::memchr(b'\n', rest)?;
    match http::status_line(&rest[..=nl]) {
        Some(_) => None,
        None => Some(Parsed::Step(Step::Done { client: false })),
    }
}

/// Start the body a head announces (`None`: no body), hashing it when digests are wanted.
fn start_body(
    dir: &mut Dir,
    framing: Option<At>,
    f: &http::Fields<'_>,
    wants: crate::observe::Wants,
    name: Option<String>,
) {
    let Some(at) = framing else {
        dir.at = At::Head;
        return;
    };
    dir.at = at;
    if at == At::Length(0) {
        dir.at = At::Head;
        return;
    }
    let name = f
        .content_disposition
        .and_then(http::disposition_filename)
        .or(name);
    let mime_type = f.content_type.and_then(|t| {
        let t = t.split(|&b| b == b';').next().unwrap_or(t).trim_ascii();
        (!t.is_empty() && t.len() <= 255).then(|| String::from_utf8_lossy(t).to_ascii_lowercase())
    });
    let meta = FileMeta {
        size: 0,
        name,
        mime_type,
    };
    let coding = Coding::of(f.content_encoding);
    let cap = super::file::max_file_size();
    dir.file = FileHash::new(wants, coding, cap, meta).map(Box::new);
    if let (Some(file), At::Length(n)) = (&mut dir.file, at) {
        if n > cap {
            file.spoil(Spoiled::TooBig);
        }
    }
}

/// A complete request head: its Host and URL pushed, its body started, its response queued.
/// `Ok(true)` for a CONNECT (the tunnel starts after the head).
fn request(
    dir: &mut Dir,
    head: &[u8],
    wants: crate::observe::Wants,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Result<bool, Parsed> {
    let req = match http::parse_request(head) {
        Ok(r) => r,
        Err(http::HttpError::NotHttp) => return Err(Parsed::Step(Step::Done { client: false })),
        Err(_) => {
            stats.http_errors += 1;
            return Err(Parsed::Step(Step::Done { client: true }));
        }
    };
    let line_end = memchr::memchr(b'\n', head).map_or(head.len(), |i| i + 1);
    let f = match http::fields(&head[line_end..]) {
        Ok(f) => f,
        Err(http::FieldError::NoColon) => {
            // the Host (when before the bad line) is still the request's
            stats.http_requests += 1;
            stats.http_errors += 1;
            if let Some(o) = req.host.and_then(http::host_observable) {
                out.push(o);
            }
            return Err(Parsed::Step(Step::Done { client: true }));
        }
        Err(http::FieldError::BadLength) => {
            stats.http_requests += 1;
            if let Some(o) = req.host.and_then(http::host_observable) {
                out.push(o);
            }
            return Err(framing_error(dir, stats));
        }
    };
    stats.http_requests += 1;
    if let Some(o) = req.host.and_then(http::host_observable) {
        out.push(o);
    }
    let connect = req.method == b"CONNECT";
    if wants.has(Token::Url) {
        if let Some(url) = request_url(&req, connect) {
            out.push(Observed::Token {
                kind: Token::Url,
                key: url,
                at: crate::observe::Where::HttpUrl,
                info: crate::observe::Info::None,
                file: None,
            });
        }
    }
    let name = if connect {
        None
    } else {
        http::target_filename(origin_path(req.target))
    };
    if dir.pending.len() < MAX_PENDING {
        dir.pending.push_back(Pending {
            head: req.method == b"HEAD",
            connect,
            name: name.clone().map(String::into_boxed_str),
        });
    } else {
        stats.http_pending_full += 1;
    }
    if connect {
        return Ok(true);
    }
    // RFC 9112 §6.3: a request's body is chunked or of its Content-Length, else there is none;
    // another transfer coding last cannot be framed (¶4: 400 Bad Request).
    let framing = if f.transfer_encoding {
        if !f.chunked {
            return Err(framing_error(dir, stats));
        }
        Some(At::ChunkSize)
    } else {
        f.content_length.map(At::Length)
    };
    start_body(dir, framing, &f, wants, name);
    Ok(false)
}

/// The path of a request target in origin or absolute form.
fn origin_path(target: &[u8]) -> &[u8] {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            return rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .map_or(b"/", |i| &rest[i..]);
        }
    }
    target
}

/// The URL key of a request (see the module's summary), `None` when it names none (no Host in
/// origin form, or a target the URL rules refuse).
fn request_url(req: &http::Request<'_>, connect: bool) -> Option<Vec<u8>> {
    if connect {
        // authority form: host:port; 443 is the https default, dropped as in a feed's URL
        let https = req.target.ends_with(b":443");
        return crate::url::from_request(req.target, b"/", https)
            .ok()
            .map(|u| u.key);
    }
    for (scheme, https) in [(&b"http://"[..], false), (b"https://", true)] {
        if req.target.len() > scheme.len()
            && req.target[..scheme.len()].eq_ignore_ascii_case(scheme)
        {
            let rest = &req.target[scheme.len()..];
            let end = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            // userinfo is not part of the key
            let authority = match authority.iter().rposition(|&b| b == b'@') {
                Some(at) => &authority[at + 1..],
                None => authority,
            };
            let path: &[u8] = if path.is_empty() { b"/" } else { path };
            let path = if path[0] == b'?' {
                [&b"/"[..], path].concat()
            } else {
                path.to_vec()
            };
            return crate::url::from_request(authority, &path, https)
                .ok()
                .map(|u| u.key);
        }
    }
    if req.target.first() != Some(&b'/') {
        // asterisk form (OPTIONS *) or something else: no URL
        return None;
    }
    crate::url::from_request(req.host?, req.target, false)
        .ok()
        .map(|u| u.key)
}

/// A complete response head: its body started as the request it answers and its status say.
fn response(
    dir: &mut Dir,
    peer: &mut Peer<'_>,
    head: &[u8],
    wants: crate::observe::Wants,
    stats: &mut FlowStats,
) -> Result<(), Parsed> {
    let Some((status, lines)) = http::status_line(head) else {
        return Err(Parsed::Step(Step::Done { client: false }));
    };
    let f = match http::fields(lines) {
        Ok(f) => f,
        Err(_) => return Err(framing_error(dir, stats)),
    };
    stats.http_responses += 1;
    if (100..200).contains(&status) {
        if status == 101 {
            // Switching Protocols: what follows is not HTTP/1.x
            return Err(Parsed::Step(Step::Done { client: false }));
        }
        // an interim response: the final one follows, for the same request
        dir.at = At::Head;
        return Ok(());
    }
    let req = match peer {
        Peer::Http(c) => c.pending.pop_front(),
        Peer::Tunnel => Some(Pending {
            head: false,
            connect: true,
            name: None,
        }),
        Peer::Other => None,
    };
    let (is_head, connect, name) = match req {
        Some(p) => (p.head, p.connect, p.name.map(String::from)),
        None => (false, false, None),
    };
    if connect && (200..300).contains(&status) {
        // the tunnel is open: its bytes are the tunnelled protocol's
        return Err(Parsed::Step(Step::Done { client: false }));
    }
    // RFC 9112 §6.3: no body after HEAD, for 204 and 304; chunked; Content-Length; else to
    // the close.
    let framing = if is_head || status == 204 || status == 304 {
        None
    } else if f.transfer_encoding {
        Some(if f.chunked { At::ChunkSize } else { At::Close })
    } else {
        Some(f.content_length.map_or(At::Close, At::Length))
    };
    start_body(dir, framing, &f, wants, name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::driver::{Driver, CLIENT, SERVER};
    use crate::observe::{Info, Where};

    /// The names and addresses among observables (URL tokens left out).
    fn names(v: Vec<Observed>) -> Vec<Observed> {
        v.into_iter()
            .filter(|o| !matches!(o, Observed::Token { .. }))
            .collect()
    }

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
                names(got),
                vec![Observed::Domain {
                    name: b"www.example.org".to_vec(),
                    at: Where::HttpHost,
                    ech: false,
                    info: Info::None,
                }],
                "{cut}"
            );
            // the connection stays read: the next request may come
            assert_eq!(d.t.stats.bypassed, 0);
            assert_eq!(d.t.stats.http_requests, 1);
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
            assert_eq!(names(got), vec![host("inner.example")], "{cut}");
            let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
            assert!(d.seg(PROXY, CLIENT, 2, "", ok).is_empty());
            let at = 2 + CONNECT.len() as u32;
            assert!(d.seg(CLIENT, PROXY, at, "", &hello[..100]).is_empty());
            let got = d.seg(CLIENT, PROXY, at + 100, "", &hello[100..]);
            assert_eq!(got, vec![sni("tunnelled.example")], "{cut}");
            assert_eq!(d.t.stats.http_tunnels, 1);
            // certificate hashes are wanted: the client's direction reads on until its
            // ChangeCipherSpec
            let ccs = [20, 3, 3, 0, 1, 1];
            d.seg(CLIENT, PROXY, at + hello.len() as u32, "", &ccs);
            // and the proxy's direction is read as the tunnelled server's after its `200`,
            // until a record that is not a handshake (here an alert)
            let alert = [21, 3, 3, 0, 2, 2, 40];
            d.seg(PROXY, CLIENT, 2 + ok.len() as u32, "", &alert);
            assert_eq!(d.t.stats.bypassed, 1, "{cut}");
        }
    }

    #[test]
    fn hello_in_the_same_segment_as_the_connect_head_is_read() {
        let mut d = Driver::new();
        d.seg(CLIENT, PROXY, 1, "S", b"");
        let got = d.seg(CLIENT, PROXY, 2, "", &[CONNECT, &hello()].concat());
        assert_eq!(
            names(got),
            vec![host("inner.example"), sni("tunnelled.example")]
        );
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
            names(got),
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
        assert_eq!(names(got), vec![host("inner.example"); 3]);
        assert_eq!(d.t.stats.prefix_cap, 1);
        assert_eq!(d.t.stats.http_tunnels, 3);
    }

    #[test]
    fn a_plain_request_after_its_head_is_not_read_as_a_tunnel() {
        let get = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n";
        let mut d = Driver::new();
        d.seg(CLIENT, SERVER, 1, "S", b"");
        let got = d.seg(CLIENT, SERVER, 2, "", &[&get[..], &hello()].concat());
        assert_eq!(names(got), vec![host("web.example")]);
        assert_eq!(d.t.stats.http_tunnels, 0);
    }
}

/// The stream as a whole: keep-alive, pipelining, bodies, digests, gaps, caps.
#[cfg(test)]
mod stream_tests {
    use std::io::Write as _;
    use std::net::IpAddr;

    use sha2::Digest as _;

    use crate::applayer::driver::{Driver, CLIENT};
    use crate::observe::{Observed, Token, Where};
    use crate::track::tcp::Segment;

    const WEB: (IpAddr, u16) = (crate::applayer::driver::SERVER.0, 8080);

    fn sha256(b: &[u8]) -> Vec<u8> {
        sha2::Sha256::digest(b).to_vec()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A connection whose two directions are fed in turns; sequence numbers kept.
    struct Conn {
        d: Driver,
        c: u32,
        s: u32,
    }

    impl Conn {
        fn new() -> Conn {
            let mut d = Driver::new();
            d.seg(CLIENT, WEB, 0, "S", b"");
            d.seg(WEB, CLIENT, 0, "S", b"");
            Conn { d, c: 1, s: 1 }
        }
        fn client(&mut self, b: &[u8]) -> Vec<Observed> {
            let o = self.d.seg(CLIENT, WEB, self.c, "", b);
            self.c += b.len() as u32;
            o
        }
        fn server(&mut self, b: &[u8]) -> Vec<Observed> {
            let o = self.d.seg(WEB, CLIENT, self.s, "", b);
            self.s += b.len() as u32;
            o
        }
        /// The server's bytes in segments of `n`.
        fn server_in(&mut self, b: &[u8], n: usize) -> Vec<Observed> {
            b.chunks(n).flat_map(|c| self.server(c)).collect()
        }
    }

    /// (kind, key, where, file name) of each token.
    fn tokens(v: &[Observed]) -> Vec<(Token, Vec<u8>, Where, Option<String>)> {
        v.iter()
            .filter_map(|o| match o {
                Observed::Token {
                    kind,
                    key,
                    at,
                    file,
                    ..
                } => Some((
                    *kind,
                    key.clone(),
                    *at,
                    file.as_ref().and_then(|f| f.name.clone()),
                )),
                _ => None,
            })
            .collect()
    }

    fn sha256s(v: &[Observed]) -> Vec<Vec<u8>> {
        tokens(v)
            .into_iter()
            .filter(|t| t.0 == Token::Sha256)
            .map(|t| t.1)
            .collect()
    }

    fn urls(v: &[Observed]) -> Vec<String> {
        tokens(v)
            .into_iter()
            .filter(|t| t.0 == Token::Url)
            .map(|t| String::from_utf8(t.1).unwrap())
            .collect()
    }

    #[test]
    fn every_request_of_a_keep_alive_connection_gives_its_host_url_and_file() {
        let mut c = Conn::new();
        let mut got = c.client(b"GET /a/one.exe?x=1 HTTP/1.1\r\nHost: dl.example:8080\r\n\r\n");
        got.extend(c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/x-msdownload; charset=x\r\n\r\nhello"));
        got.extend(c.client(b"GET /b/two%2Ebin HTTP/1.1\r\nHost: other.example:8080\r\n\r\n"));
        got.extend(c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Disposition: attachment; filename=\"named.zip\"\r\n\r\nworld"));
        assert_eq!(
            urls(&got),
            [
                "dl.example:8080/a/one.exe?x=1",
                "other.example:8080/b/two.bin"
            ]
        );
        let hosts: Vec<_> = got
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Observed::Domain {
                        at: Where::HttpHost,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(hosts.len(), 2);
        assert_eq!(sha256s(&got), [sha256(b"hello"), sha256(b"world")]);
        let files: Vec<_> = got
            .iter()
            .filter_map(|o| match o {
                Observed::Token {
                    kind: Token::Md5,
                    file: Some(f),
                    at: Where::HttpFile,
                    ..
                } => Some((f.name.clone(), f.mime_type.clone(), f.size)),
                _ => None,
            })
            .collect();
        assert_eq!(
            files,
            [
                (
                    Some("one.exe".into()),
                    Some("application/x-msdownload".into()),
                    5
                ),
                (Some("named.zip".into()), None, 5)
            ]
        );
        assert_eq!(c.d.t.stats.http_requests, 2);
        assert_eq!(c.d.t.stats.http_responses, 2);
        assert_eq!(c.d.t.stats.http_files, 2);
        assert_eq!(c.d.t.stats.bypassed, 0);
    }

    #[test]
    fn pipelined_requests_and_a_head_response_without_body_frame_right() {
        let mut c = Conn::new();
        let mut got = c.client(
            b"HEAD /x HTTP/1.1\r\nHost: p.example\r\n\r\nGET /y HTTP/1.1\r\nHost: p.example\r\n\r\nGET /z HTTP/1.1\r\nHost: p.example\r\n\r\n",
        );
        assert_eq!(urls(&got).len(), 3);
        // the HEAD's response announces 100 bytes it does not send; a 304 has none either
        got = c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nzzz");
        assert_eq!(sha256s(&got), [sha256(b"zzz")]);
        assert_eq!(tokens(&got)[0].3.as_deref(), Some("z"));
        assert_eq!(c.d.t.stats.http_responses, 3);
    }

    fn chunked(body: &[u8], n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for c in body.chunks(n) {
            v.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
            v.extend_from_slice(c);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        v
    }

    #[test]
    fn chunked_gzip_bodies_hash_as_saved_at_every_segment_size() {
        let file: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let body = chunked(&gzip(&file), 777);
        let mut resp =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
                .to_vec();
        resp.extend_from_slice(&body);
        // and a second response after it, to show the framing held
        resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        for n in [1, 7, 536, 1460, 65_000] {
            let mut c = Conn::new();
            c.client(b"GET /f.bin HTTP/1.1\r\nHost: g.example\r\n\r\nGET /g HTTP/1.1\r\nHost: g.example\r\n\r\n");
            let got = c.server_in(&resp, n);
            assert_eq!(sha256s(&got), [sha256(&file), sha256(b"ok")], "{n}");
            assert!(c.d.t.buffered() < 64 * 1024, "{n}");
        }
    }

    #[test]
    fn an_upload_is_hashed_and_the_next_request_read() {
        let mut c = Conn::new();
        let mut req =
            b"POST /up/load.php HTTP/1.1\r\nHost: u.example\r\nContent-Length: 6\r\n\r\nsecret"
                .to_vec();
        req.extend_from_slice(b"\r\nGET /after HTTP/1.1\r\nHost: u.example\r\n\r\n");
        let got = c.client(&req);
        assert_eq!(sha256s(&got), [sha256(b"secret")]);
        assert_eq!(urls(&got), ["u.example/up/load.php", "u.example/after"]);
    }

    #[test]
    fn interim_100_continue_does_not_take_the_request() {
        let mut c = Conn::new();
        c.client(b"PUT /p HTTP/1.1\r\nHost: c.example\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
        assert!(c.server(b"HTTP/1.1 100 Continue\r\n\r\n").is_empty());
        let up = c.client(b"abc");
        assert_eq!(sha256s(&up), [sha256(b"abc")]);
        let got = c.server(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(sha256s(&got), [sha256(b"ok")]);
        assert_eq!(tokens(&got)[0].3.as_deref(), Some("p"));
    }

    #[test]
    fn absolute_and_connect_forms_give_their_urls() {
        let mut c = Conn::new();
        let got = c.client(b"GET HTTPS://User@Proxy.Example:443/%7Euser/?q HTTP/1.1\r\nHost: proxy.example\r\n\r\n");
        assert_eq!(urls(&got), ["proxy.example/~user/?q"]);
        let mut c = Conn::new();
        let got =
            c.client(b"CONNECT secure.example:443 HTTP/1.1\r\nHost: secure.example:443\r\n\r\n");
        assert_eq!(urls(&got), ["secure.example/"]);
        // no URL when none is wanted; the Host always
        let mut d = Driver::new();
        let mut out = Vec::new();
        let req = b"GET /a HTTP/1.1\r\nHost: w.example\r\n\r\n";
        let seg = Segment {
            src: CLIENT,
            dst: WEB,
            seq: 1,
            syn: false,
            fin: false,
            rst: false,
            payload: req,
            wants: crate::observe::Wants::NONE,
        };
        d.t.segment(1, &seg, &mut out);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Observed::Domain { .. }));
    }

    #[test]
    fn a_body_that_runs_to_the_close_is_hashed_at_a_clean_fin_only() {
        let mut c = Conn::new();
        c.client(b"GET /c HTTP/1.0\r\nHost: c.example\r\n\r\n");
        assert!(c.server(b"HTTP/1.0 200 OK\r\n\r\nto the").is_empty());
        assert!(c.server(b" end").is_empty());
        let got = c.d.seg(WEB, CLIENT, c.s, "F", b"");
        assert_eq!(sha256s(&got), [sha256(b"to the end")]);
        // the same with the last segment lost: the FIN is not right after what was read
        let mut c = Conn::new();
        c.client(b"GET /c HTTP/1.0\r\nHost: c.example\r\n\r\n");
        c.server(b"HTTP/1.0 200 OK\r\n\r\nto the");
        let got = c.d.seg(WEB, CLIENT, c.s + 4, "F", b"");
        assert!(sha256s(&got).is_empty());
    }

    #[test]
    fn a_lost_segment_spoils_its_body_and_the_next_message_is_read() {
        let big = vec![b'x'; 100_000];
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
        let body_at = resp.len();
        resp.extend_from_slice(&big);
        resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext");
        let mut c = Conn::new();
        c.client(
            b"GET /1 HTTP/1.1\r\nHost: l.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: l.example\r\n\r\n",
        );
        let mut got = Vec::new();
        assert!(body_at < 1000);
        for (k, piece) in resp.chunks(1000).enumerate() {
            // the segment 10 (inside the body) never comes
            if k != 10 {
                got.extend(c.d.seg(WEB, CLIENT, c.s + (k * 1000) as u32, "", piece));
            }
        }
        assert_eq!(sha256s(&got), [sha256(b"next")]);
        assert_eq!(c.d.t.stats.http_file_gap, 1);
        assert_eq!(c.d.t.stats.gaps_skipped, 1);
        assert_eq!(c.d.t.stats.http_responses, 2);
    }

    #[test]
    fn a_segment_cut_by_the_snap_length_spoils_its_body_only() {
        let mut c = Conn::new();
        c.client(
            b"GET /1 HTTP/1.1\r\nHost: s.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: s.example\r\n\r\n",
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";
        c.server(head);
        let body = vec![b'y'; 3000];
        // 1,500 bytes on the wire, 200 captured
        let mut out = Vec::new();
        let seg = Segment {
            src: WEB,
            dst: CLIENT,
            seq: c.s,
            syn: false,
            fin: false,
            rst: false,
            payload: &body[..200],
            wants: crate::observe::Wants::ALL,
        };
        c.d.t.segment_cut(2_000_000, &seg, 1300, &mut out);
        c.s += 1500;
        let mut got = c.server(&body[1500..]);
        got.extend(c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        assert_eq!(sha256s(&got), [sha256(b"ok")]);
        assert_eq!(c.d.t.stats.http_file_snap, 1);
    }

    #[test]
    fn hostile_framing_is_counted_never_followed() {
        // a chunk of 2^64 bytes
        let mut c = Conn::new();
        c.client(b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
        c.server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nxx");
        assert_eq!(c.d.t.stats.http_framing_errors, 1);
        // a chunk of 2^64-1 bytes is followed as far as it goes (nothing buffered)
        let mut c = Conn::new();
        c.client(b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
        c.server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n");
        for _ in 0..100 {
            assert!(c.server(&[0u8; 1400]).is_empty());
        }
        assert!(c.d.t.buffered() < 4096, "{}", c.d.t.buffered());
        // a Content-Length that overflows, or two that differ
        for bad in [&b"99999999999999999999"[..], b"5, 6"] {
            let mut c = Conn::new();
            c.client(b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: ".to_vec();
            r.extend_from_slice(bad);
            r.extend_from_slice(b"\r\n\r\n");
            c.server(&r);
            assert_eq!(c.d.t.stats.http_framing_errors, 1);
        }
        // 100,000 header lines, and a 1 MiB header line: the head cap
        for body in [
            b"X: y\r\n".repeat(100_000),
            [&b"X: "[..], &vec![b'a'; 1 << 20]].concat(),
        ] {
            let mut c = Conn::new();
            c.client(b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
            let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
            r.extend_from_slice(&body);
            c.server_in(&r, 1460);
            assert_eq!(c.d.t.stats.prefix_cap, 1);
            assert!(c.d.t.buffered() < 64 * 1024);
            let mut c = Conn::new();
            let mut q = b"GET / HTTP/1.1\r\n".to_vec();
            q.extend_from_slice(&body);
            for p in q.chunks(1460) {
                c.client(p);
            }
            assert_eq!(c.d.t.stats.prefix_cap, 1);
        }
    }

    #[test]
    fn a_body_over_max_file_size_is_consumed_not_hashed() {
        let mut c = Conn::new();
        c.client(
            b"GET / HTTP/1.1\r\nHost: h.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: h.example\r\n\r\n",
        );
        let n = super::super::file::max_file_size() + 1;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
        c.server(head.as_bytes());
        // skip the body's bytes as lost bytes would be: only its framing matters here
        c.s += n as u32;
        let mut out = Vec::new();
        let seg = Segment {
            src: WEB,
            dst: CLIENT,
            seq: c.s,
            syn: false,
            fin: false,
            rst: false,
            payload: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
            wants: crate::observe::Wants::ALL,
        };
        // the body's end is past the window: the hole is skipped inside the known length
        c.d.t.segment(3_000_000, &seg, &mut out);
        assert_eq!(sha256s(&out), [sha256(b"!")]);
        assert_eq!(c.d.t.stats.http_file_too_big, 1);
    }
}

/// The public captures of `../shared/pcaps/content` against their `truth.jsonl` (tshark's
/// `http.request.full_uri` and `--export-objects http` hashes): every URL and every file.
#[cfg(test)]
mod content_truth {
    use std::collections::HashSet;
    use std::path::PathBuf;

    use crate::applayer::driver::observe_pcap as observe;
    use crate::observe::{Observed, Token};

    fn content_dir() -> Option<PathBuf> {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/content");
        if d.join("truth.jsonl").exists() {
            Some(d)
        } else {
            println!("SKIP: no {} (the public content captures)", d.display());
            None
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn every_url_and_file_of_the_http_captures_is_observed_and_no_decoy() {
        let Some(dir) = content_dir() else { return };
        let truth = std::fs::read_to_string(dir.join("truth.jsonl")).unwrap();
        let (mut urls, mut files) = (0, 0);
        for line in truth.lines() {
            let t: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = t["file"].as_str().unwrap();
            let want_urls = t["urls"].as_array().unwrap();
            let want_files = t["http_files"].as_array().unwrap();
            if want_urls.is_empty() && want_files.is_empty() {
                continue;
            }
            let (seen, stats) = observe(&dir.join(name));
            let mut got: HashSet<(Token, String)> = HashSet::new();
            for o in &seen {
                if let Observed::Token { kind, key, .. } = o {
                    let text = match kind {
                        Token::Url => String::from_utf8(key.clone()).unwrap(),
                        _ => hex(key),
                    };
                    got.insert((*kind, text));
                }
            }
            for u in want_urls {
                let key = crate::url::parse(u.as_str().unwrap()).unwrap().key;
                let key = String::from_utf8(key).unwrap();
                assert!(got.contains(&(Token::Url, key.clone())), "{name}: {key}");
                // near misses are not what was seen
                for decoy in [
                    format!("{key}x"),
                    format!("x{key}"),
                    key[..key.len() - 1].into(),
                ] {
                    assert!(
                        !got.contains(&(Token::Url, decoy.clone())),
                        "{name}: {decoy}"
                    );
                }
                urls += 1;
            }
            // tshark did not read the lower-case `http/1.1` response of
            // zk-http-nonstandard-port.pcap as one (no `http_responses`), and exported the
            // response's head (its chunked body never comes) as an object: no file was sent,
            // and iocd counts the body as cut (`http_file_cut`).
            let head_as_file = |f: &serde_json::Value| {
                t["http_responses"].as_array().is_some_and(|r| r.is_empty())
                    && t["http_files_crosscheck"]["tshark_only"]
                        .as_array()
                        .is_some_and(|o| o.contains(&f["sha256"]))
            };
            let want_files: Vec<_> = want_files.iter().filter(|f| !head_as_file(f)).collect();
            if want_files.len() < t["http_files"].as_array().unwrap().len() {
                assert_eq!(stats.http_file_cut, 1, "{name}");
            }
            for f in &want_files {
                for (kind, field) in [
                    (Token::Sha256, "sha256"),
                    (Token::Sha1, "sha1"),
                    (Token::Md5, "md5"),
                ] {
                    let h = f[field].as_str().unwrap().to_string();
                    assert!(
                        got.contains(&(kind, h.clone())),
                        "{name}: {field} {h} {stats:?}"
                    );
                }
                files += 1;
            }
            // nothing was reported that tshark did not export (206 parts included)
            let want: HashSet<String> = want_files
                .iter()
                .map(|f| f["sha256"].as_str().unwrap().to_string())
                .collect();
            for (kind, h) in &got {
                if *kind == Token::Sha256 {
                    assert!(want.contains(h), "{name}: extra file {h}");
                }
            }
        }
        assert_eq!((urls, files), (18, 24));
    }

    /// Token observables of a capture as (kind, hex or text) pairs.
    fn token_set(seen: &[Observed]) -> HashSet<(Token, String)> {
        seen.iter()
            .filter_map(|o| match o {
                Observed::Token { kind, key, .. } => Some((
                    *kind,
                    match kind {
                        Token::Url => String::from_utf8(key.clone()).unwrap(),
                        _ => hex(key),
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// `pcaps/real/real-http-*.pcap`: curl and wget over keep-alive, pipelined requests with a
    /// HEAD among them, chunked and gzip bodies, an upload (see `pcaps/real/http.sh`); truth
    /// from tshark. The same traffic cut at a 300-byte snap length gives every URL, and only
    /// hashes that are right.
    #[test]
    fn real_clients_keep_alive_pipelining_upload_and_a_snap_length() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps/real");
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("real-http-truth.json")).unwrap(),
        )
        .unwrap();
        let urls: Vec<String> = truth["urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let k = crate::url::parse(u.as_str().unwrap()).unwrap().key;
                String::from_utf8(k).unwrap()
            })
            .collect();
        let files = |field: &str| -> HashSet<String> {
            truth["http_files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f[field].as_str().unwrap().to_string())
                .collect()
        };
        let (seen, stats) = observe(&dir.join("real-http-keepalive-pipelining-upload.pcap"));
        let got = token_set(&seen);
        for u in &urls {
            assert!(got.contains(&(Token::Url, u.clone())), "{u}");
        }
        for (kind, field) in [
            (Token::Sha256, "sha256"),
            (Token::Sha1, "sha1"),
            (Token::Md5, "md5"),
        ] {
            let mine: HashSet<String> = got
                .iter()
                .filter(|t| t.0 == kind)
                .map(|t| t.1.clone())
                .collect();
            assert_eq!(mine, files(field), "{field}");
        }
        assert_eq!(stats.http_requests, 13);
        assert_eq!(stats.http_responses, 13);
        assert_eq!(stats.http_framing_errors + stats.prefix_cap, 0);
        // cut at 300 bytes: the heads are whole, most bodies are not
        let (seen, stats) = observe(&dir.join("real-http-keepalive-snaplen300.pcap"));
        let got = token_set(&seen);
        for u in &urls {
            assert!(got.contains(&(Token::Url, u.clone())), "snap: {u}");
        }
        let right = files("sha256");
        for (kind, h) in &got {
            if *kind == Token::Sha256 {
                assert!(right.contains(h), "snap: a wrong hash {h}");
            }
        }
        // the Content-Length bodies are skipped exactly and the next response read; a chunked
        // body whose chunk-size line was cut cannot be framed on (that direction stops)
        assert!(stats.http_file_snap > 0, "{stats:?}");
        assert!(stats.http_responses > 1, "{stats:?}");
    }
}
