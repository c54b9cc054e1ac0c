//! HTTP/1.x request head: the request line and the Host header (RFC 9112 §3, RFC 9110 §7.2).
//!
//! Detection is by content, on any TCP port: a request starts with a method, one space, a
//! request-target, one space and `HTTP/1.0` or `HTTP/1.1` (RFC 9112 §3). The method is any
//! token (RFC 9110 §9.1, §5.6.2) of at most [`MAX_METHOD_LEN`] characters, not only the common
//! ones: Outlook Anywhere's `RPC_IN_DATA`, CalDAV's `MKCALENDAR`, UPnP's `SUBSCRIBE` and
//! WebDAV's `SEARCH` or `REPORT` carry a Host like any other. Anything else is [`HttpError::NotHttp`], decided from the first bytes that
//! disagree (a response, `HTTP/1.1 200 OK`, is not a request).
//!
//! [`parse_request`] looks at no more than [`MAX_HTTP_HEAD`] bytes, never allocates, and returns
//! as soon as it knows the answer: the first Host header line is complete, or the head ended
//! without one. It does not wait for the end of the head (`\r\n\r\n`) once Host is read:
//! the answer cannot change, and a head bloated by cookies past the cap still gives its Host.
//! The caller (the application layer, over a reassembled stream) retries it on a longer prefix
//! while it says
//! [`HttpError::Incomplete`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::observe::{Info, Observed, Where};

/// Longest request head read. Servers refuse longer request lines and header fields with
/// defaults of the same order (Apache `LimitRequestLine`/`LimitRequestFieldSize` 8190 bytes,
/// nginx `large_client_header_buffers` 8 KiB), and clients put Host in the first lines
/// (RFC 9112 §3.2: "a client MUST send a Host header field"; in practice right after the
/// request line), so 8 KiB holds the Host of any request a server would accept.
pub const MAX_HTTP_HEAD: usize = 8 * 1024;

/// Longest method accepted. The longest in the IANA HTTP Method Registry is
/// `UPDATEREDIRECTREF` (17 characters, RFC 4437); 20 leaves room for unregistered ones while
/// letting the probe give up on a non-HTTP stream after 21 bytes without a space.
pub const MAX_METHOD_LEN: usize = 20;

/// RFC 9110 §5.6.2 `tchar`: the characters of a token, so of a method.
#[inline]
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `data` (no space in it) can still begin a method: only token characters, no
/// more than [`MAX_METHOD_LEN`] of them.
#[inline]
fn may_be_method_prefix(data: &[u8]) -> bool {
    data.len() <= MAX_METHOD_LEN && data.iter().all(|&b| is_tchar(b))
}

/// Why no Host could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The bytes do not start an HTTP/1.x request.
    NotHttp,
    /// A request starts here; more of the stream is needed.
    Incomplete,
    /// A request line was read but a header line has no `:` (RFC 9112 §5.1).
    Malformed,
    /// [`MAX_HTTP_HEAD`] bytes were read without a Host line or the end of the head.
    TooLong,
}

/// What a request head tells us; the slices borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// Minor version: 0 or 1.
    pub minor: u8,
    /// The value of the first Host header line, optional whitespace trimmed (RFC 9110 §5.5);
    /// `None` when the head ended without one (HTTP/1.0).
    pub host: Option<&'a [u8]>,
}

/// Parse the request head at the start of `data` (a client's TCP stream).
///
/// - Ok once the request line and either the first Host line or the empty line ending the head
///   (RFC 9112 §2.1) are present; later header lines are not read.
/// - Lines may end in CRLF or a bare LF (RFC 9112 §2.2 allows recipients to accept LF).
/// - Obsolete line folding (a line starting with SP or HTAB) is skipped as a continuation.
/// - Only the first [`MAX_HTTP_HEAD`] bytes are looked at: past them, [`HttpError::TooLong`].
pub fn parse_request(data: &[u8]) -> Result<Request<'_>, HttpError> {
    let data = data.get(..MAX_HTTP_HEAD).unwrap_or(data);
    let incomplete = if data.len() >= MAX_HTTP_HEAD {
        HttpError::TooLong
    } else {
        HttpError::Incomplete
    };
    let (mut req, mut rest) = request_line(data, incomplete)?;
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(incomplete);
        };
        let line = strip_cr(&rest[..nl]);
        rest = &rest[nl + 1..];
        if line.is_empty() {
            return Ok(req);
        }
        if matches!(line[0], b' ' | b'\t') {
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::Malformed)?;
        if line[..colon].eq_ignore_ascii_case(b"host") {
            req.host = Some(trim(&line[colon + 1..]));
            return Ok(req);
        }
    }
}

/// Length of the request head at the start of `data`, through the empty line that ends it
/// (RFC 9112 §2.1, CRLF or bare LF); `None` while it has not ended within the first
/// [`MAX_HTTP_HEAD`] bytes. For a `CONNECT` request (RFC 9110 §9.3.6), whose tunnel starts
/// right after its head.
pub fn head_len(data: &[u8]) -> Option<usize> {
    let data = data.get(..MAX_HTTP_HEAD).unwrap_or(data);
    let mut at = 0;
    while let Some(nl) = data[at..].iter().position(|&b| b == b'\n') {
        let next = at + nl + 1;
        // the first line is the request line, never the end of the head
        if at > 0 && strip_cr(&data[at..at + nl]).is_empty() {
            return Some(next);
        }
        at = next;
    }
    None
}

/// Whether a stream starting with `data` may carry a request: false exactly when its first
/// bytes cannot begin a method token followed by a space, which is when [`parse_request`]
/// answers [`HttpError::NotHttp`] without looking further. True does not promise a request
/// (the parser may still say `NotHttp` later in the line). The application layer's content
/// probe; looks at no more than [`MAX_METHOD_LEN`] + 1 bytes.
#[inline]
pub fn may_be_request(data: &[u8]) -> bool {
    match data
        .iter()
        .take(MAX_METHOD_LEN + 1)
        .position(|&b| b == b' ')
    {
        Some(sp) => sp > 0 && may_be_method_prefix(&data[..sp]),
        None => may_be_method_prefix(data),
    }
}

/// `method SP request-target SP HTTP-version CRLF` (RFC 9112 §3): the request without a Host
/// yet, and the bytes after the line.
fn request_line(data: &[u8], incomplete: HttpError) -> Result<(Request<'_>, &[u8]), HttpError> {
    let Some(sp) = data
        .iter()
        .take(MAX_METHOD_LEN + 1)
        .position(|&b| b == b' ')
    else {
        // No space yet: still a request only if what is there may begin a method.
        return if may_be_method_prefix(data) {
            Err(incomplete)
        } else {
            Err(HttpError::NotHttp)
        };
    };
    let method = &data[..sp];
    if method.is_empty() || !may_be_method_prefix(method) {
        return Err(HttpError::NotHttp);
    }
    let rest = &data[sp + 1..];
    // request-target: visible characters up to the next space (RFC 9112 §3.2).
    let mut end = None;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b' ' => {
                end = Some(i);
                break;
            }
            0x21..=0x7e | 0x80..=0xff => {}
            _ => return Err(HttpError::NotHttp),
        }
    }
    let Some(end) = end else {
        return Err(incomplete);
    };
    if end == 0 {
        return Err(HttpError::NotHttp);
    }
    let target = &rest[..end];
    let rest = &rest[end + 1..];
    // "HTTP/1.x" then CRLF or LF.
    const VERSION: &[u8] = b"HTTP/1.";
    let have = rest.len().min(VERSION.len());
    if rest[..have] != VERSION[..have] {
        return Err(HttpError::NotHttp);
    }
    let minor = match rest.get(VERSION.len()) {
        None => return Err(incomplete),
        Some(b'0') => 0,
        Some(b'1') => 1,
        Some(_) => return Err(HttpError::NotHttp),
    };
    let after = &rest[VERSION.len() + 1..];
    let req = Request {
        method,
        target,
        minor,
        host: None,
    };
    match after {
        [] | [b'\r'] => Err(incomplete),
        [b'\n', ..] => Ok((req, &after[1..])),
        [b'\r', b'\n', ..] => Ok((req, &after[2..])),
        _ => Err(HttpError::NotHttp),
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Strip optional whitespace (SP, HTAB) at both ends (RFC 9110 §5.5).
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The observable a Host value names (RFC 9110 §7.2: `uri-host [ ":" port ]`), port stripped:
/// an IP literal (`[v6]`, a dotted IPv4, or — from broken clients — a bare IPv6 address) gives
/// [`Observed::Ip`], anything else a normalised name ([`crate::name::normalize`]). `None` for an
/// empty host, an unclosed `[`, or a name longer than a DNS name can be.
pub fn host_observable(host: &[u8]) -> Option<Observed> {
    let at = Where::HttpHost;
    if let Some(inner) = host.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']')?;
        let ip: Ipv6Addr = std::str::from_utf8(&inner[..close]).ok()?.parse().ok()?;
        return Some(Observed::Ip {
            ip: IpAddr::V6(ip),
            at,
        });
    }
    if let Some(ip) = std::str::from_utf8(host)
        .ok()
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
    {
        return Some(Observed::Ip {
            ip: IpAddr::V6(ip),
            at,
        });
    }
    let name = match host.iter().rposition(|&b| b == b':') {
        Some(c) if host[c + 1..].iter().all(u8::is_ascii_digit) => &host[..c],
        _ => host,
    };
    if let Some(ip) = std::str::from_utf8(name)
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    {
        return Some(Observed::Ip {
            ip: IpAddr::V4(ip),
            at,
        });
    }
    // One trailing dot allowed beyond the longest presentation name.
    if name.is_empty() || name.len() > crate::name::MAX_NAME_LEN + 1 {
        return None;
    }
    let mut name = name.to_vec();
    crate::name::normalize(&mut name);
    if name.is_empty() {
        return None;
    }
    Some(Observed::Domain {
        name,
        at,
        ech: false,
        info: Info::None,
    })
}

/// Parse the request head at the start of `data` and push its Host observable, if any (the
/// stream adapter in `applayer/http.rs` does the same in steps, for CONNECT tunnels).
#[cfg(test)]
pub fn observe<'a>(data: &'a [u8], out: &mut Vec<Observed>) -> Result<Request<'a>, HttpError> {
    let req = parse_request(data)?;
    if let Some(o) = req.host.and_then(host_observable) {
        out.push(o);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] =
        b"GET /index.html HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nHOST:  Example.COM:8080 \r\nAccept: */*\r\n\r\n";

    fn host_of(data: &[u8]) -> Option<Observed> {
        let mut out = Vec::new();
        observe(data, &mut out).ok()?;
        out.pop()
    }

    fn domain(n: &str) -> Option<Observed> {
        Some(Observed::Domain {
            name: n.as_bytes().to_vec(),
            at: Where::HttpHost,
            ech: false,
            info: Info::None,
        })
    }

    fn ip(s: &str) -> Option<Observed> {
        Some(Observed::Ip {
            ip: s.parse().unwrap(),
            at: Where::HttpHost,
        })
    }

    #[test]
    fn host_header_is_case_insensitive_trimmed_and_port_stripped() {
        let r = parse_request(REQ).unwrap();
        assert_eq!(r.method, b"GET");
        assert_eq!(r.target, b"/index.html");
        assert_eq!(r.minor, 1);
        assert_eq!(r.host, Some(&b"Example.COM:8080"[..]));
        assert_eq!(host_of(REQ), domain("example.com"));
    }

    #[test]
    fn first_host_header_wins() {
        let r = b"POST / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n";
        assert_eq!(host_of(r), domain("a.example"));
    }

    #[test]
    fn host_ip_literals_are_ip_observables() {
        assert_eq!(host_observable(b"192.168.1.21"), ip("192.168.1.21"));
        assert_eq!(host_observable(b"192.168.1.21:8000"), ip("192.168.1.21"));
        assert_eq!(host_observable(b"[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(host_observable(b"[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(host_observable(b"2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(host_observable(b"[2001:db8::1"), None);
        assert_eq!(host_observable(b"[nonsense]:80"), None);
    }

    #[test]
    fn host_name_is_normalised_with_trailing_dot_stripped() {
        assert_eq!(
            host_observable(b"WWW.Example.org.:80"),
            domain("www.example.org")
        );
        assert_eq!(host_observable(b"example.org:"), domain("example.org"));
        assert_eq!(host_observable(b""), None);
        assert_eq!(host_observable(b":80"), None);
        assert_eq!(host_observable(&[b'a'; 300]), None);
    }

    #[test]
    fn http_1_0_without_host_is_ok_with_no_host() {
        let r = parse_request(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\nbody").unwrap();
        assert_eq!(r.minor, 0);
        assert_eq!(r.host, None);
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        assert_eq!(
            host_of(b"GET / HTTP/1.1\nHost: lf.example\n\n"),
            domain("lf.example")
        );
    }

    #[test]
    fn folded_continuation_line_is_skipped() {
        let r = b"GET / HTTP/1.1\r\nX-A: 1\r\n  folded: x\r\nHost: fold.example\r\n\r\n";
        assert_eq!(host_of(r), domain("fold.example"));
    }

    #[test]
    fn responses_and_other_protocols_are_not_http() {
        for d in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"\x16\x03\x01\x02\x00\x01",
            b"GET / HTTP/2.0\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"GET / HTTP/1.1 \r\n",
            b"GET /\r\n",
            b" GET / HTTP/1.1\r\n",
            b"G\"ET / HTTP/1.1\r\n",
            b"GET(1) / HTTP/1.1\r\n",
            b"EHLO mail.example\r\n",
            b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n",
        ] {
            assert_eq!(parse_request(d), Err(HttpError::NotHttp), "{d:?}");
        }
    }

    #[test]
    fn header_line_without_colon_is_malformed() {
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nnonsense\r\n\r\n"),
            Err(HttpError::Malformed)
        );
    }

    #[test]
    fn truncated_at_every_length_is_incomplete_until_host_line_ends() {
        let full = parse_request(REQ).unwrap();
        let host_line_end = REQ.windows(4).position(|w| w == b" \r\nA").unwrap() + 3;
        for n in 0..REQ.len() {
            match parse_request(&REQ[..n]) {
                Err(HttpError::Incomplete) => assert!(n < host_line_end, "{n}"),
                Ok(r) => {
                    assert!(n >= host_line_end, "{n}");
                    assert_eq!(r, full);
                }
                e => panic!("{n}: {e:?}"),
            }
        }
    }

    #[test]
    fn head_longer_than_the_cap_is_too_long() {
        let mut r = b"GET / HTTP/1.1\r\n".to_vec();
        while r.len() < MAX_HTTP_HEAD + 100 {
            r.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_request(&r), Err(HttpError::TooLong));
        r.truncate(MAX_HTTP_HEAD - 1);
        assert_eq!(parse_request(&r), Err(HttpError::Incomplete));
        // the same head with Host within the cap is fine however long the rest is
        let mut h = b"GET / HTTP/1.1\r\nHost: x.example\r\n".to_vec();
        h.resize(MAX_HTTP_HEAD * 2, b'a');
        assert_eq!(host_of(&h), domain("x.example"));
    }

    #[test]
    fn any_token_method_is_recognised() {
        // RFC 9110 §9 and PATCH, WebDAV (RFC 4918), Outlook Anywhere, CalDAV (RFC 4791),
        // WebDAV SEARCH (RFC 5323), DeltaV REPORT (RFC 3253), UPnP GENA, the longest IANA
        // registered method, a lower-case method (methods are case-sensitive tokens) and one
        // of MAX_METHOD_LEN token characters.
        let longest = "A!#$%&'*+-.^_`|~z9Q0";
        assert_eq!(longest.len(), MAX_METHOD_LEN);
        for m in [
            "GET",
            "POST",
            "CONNECT",
            "PROPPATCH",
            "RPC_IN_DATA",
            "RPC_OUT_DATA",
            "SEARCH",
            "REPORT",
            "MKCALENDAR",
            "SUBSCRIBE",
            "UPDATEREDIRECTREF",
            "get",
            longest,
        ] {
            let mut r = m.as_bytes().to_vec();
            r.extend_from_slice(b" /rpc/rpcproxy.dll?h:6001 HTTP/1.1\r\nHost: m.example\r\n\r\n");
            assert_eq!(parse_request(&r).unwrap().method, m.as_bytes());
            assert_eq!(host_of(&r), domain("m.example"), "{m}");
            // every prefix of the method alone is a maybe, for the parser and the probe
            for n in 1..=m.len() {
                assert_eq!(
                    parse_request(&r[..n]),
                    Err(HttpError::Incomplete),
                    "{m} {n}"
                );
                assert!(may_be_request(&r[..n]), "{m} {n}");
            }
        }
        let mut long = [b'A'; MAX_METHOD_LEN + 1].to_vec();
        assert_eq!(parse_request(&long), Err(HttpError::NotHttp));
        assert!(!may_be_request(&long));
        long.extend_from_slice(b" / HTTP/1.1\r\nHost: m.example\r\n\r\n");
        assert_eq!(parse_request(&long), Err(HttpError::NotHttp));
    }

    #[test]
    fn head_len_ends_after_the_empty_line() {
        let h = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
        let mut d = h.to_vec();
        d.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(head_len(&d), Some(h.len()));
        assert_eq!(head_len(b"CONNECT a:1 HTTP/1.0\n\nx"), Some(22));
        for n in 0..h.len() {
            assert_eq!(head_len(&h[..n]), None, "{n}");
        }
        let mut long = b"CONNECT a:1 HTTP/1.1\r\n".to_vec();
        long.resize(MAX_HTTP_HEAD, b'x');
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head_len(&long), None);
    }

    #[test]
    fn random_byte_flips_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut r = REQ.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = (next() % r.len() as u64) as usize;
                r[i] = next() as u8;
            }
            let n = (next() % (r.len() as u64 + 1)) as usize;
            let mut out = Vec::new();
            let _ = observe(&r[..n], &mut out);
            assert!(out.len() <= 1);
        }
    }

    #[test]
    fn probe_says_no_only_where_the_parser_says_not_http() {
        let req = b"PROPPATCH /x HTTP/1.1\r\nHost: a.example\r\n\r\n";
        let mut inputs: Vec<&[u8]> = vec![
            b"HTTP/1.1 200 OK\r\n",
            b"GET( / HTTP/1.1\r\n",
            b" GET",
            b"\x16\x03\x01",
            b"SSH-2.0-OpenSSH_9.6p1 Debian",
            b"ABCDEFGHIJKLMNOPQRSTUV",
        ];
        inputs.extend((1..=req.len()).map(|n| &req[..n]));
        for d in inputs {
            if !may_be_request(d) {
                assert_eq!(parse_request(d), Err(HttpError::NotHttp), "{d:?}");
            }
        }
        assert!(may_be_request(b"GE"));
        assert!(may_be_request(b"RPC_IN_DATA /rpc"));
        assert!(!may_be_request(b"SSH-2.0-OpenSSH_9.6p1 Debian"));
        assert!(!may_be_request(b"\x16\x03\x01"));
        assert!(!may_be_request(b"HTTP/1.1 200"));
    }
}
