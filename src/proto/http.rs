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

/// Longest response head read: twice a request's ([`MAX_HTTP_HEAD`]), for the servers that
/// send many or long `Set-Cookie` and `Content-Security-Policy` lines; still within the stream
/// window (`MAX_STREAM_PREFIX`, ~17 KiB). A longer head stops the direction (counted).
pub const MAX_RESPONSE_HEAD: usize = 2 * MAX_HTTP_HEAD;

/// Longest chunk-size line (RFC 9112 §7.1: `chunk-size [ chunk-ext ] CRLF`) read: 16 hex
/// digits hold any 64-bit size, and chunk extensions are unused in practice; 1 KiB leaves
/// them room. Also bounds each trailer line.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Most trailer lines after the last chunk (RFC 9112 §7.1.2) before the direction stops: real
/// trailers are one or two fields (a checksum, `Server-Timing`).
pub const MAX_TRAILER_LINES: usize = 64;

/// Whether a stream starting with `data` may carry a response: it starts with `HTTP/1.` (or
/// with a prefix of it). The server direction's content probe. In any case: the name is
/// case-sensitive (RFC 9112 §2.3), but servers that send `http/1.1 200 OK` exist and clients
/// (and tshark) read them.
#[inline]
pub fn may_be_response(data: &[u8]) -> bool {
    const V: &[u8] = b"HTTP/1.";
    let n = data.len().min(V.len());
    data[..n].eq_ignore_ascii_case(&V[..n])
}

/// End of the message head at the start of `data`: the offset just past the empty line that
/// ends it (RFC 9112 §2.1; CRLF or bare LF), searching from about `from` (bytes before it were
/// searched already). The first line is never the empty line: empty lines before a request
/// are skipped by the caller ([`leading_empty_lines`]).
pub fn head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from.saturating_sub(2);
    while let Some(nl) = memchr::memchr(b'\n', &data[at..]) {
        let i = at + nl;
        match data.get(i + 1..) {
            Some([b'\n', ..]) => return Some(i + 2),
            Some([b'\r', b'\n', ..]) => return Some(i + 3),
            _ => {}
        }
        at = i + 1;
    }
    None
}

/// Empty lines at the start of `data` (RFC 9112 §2.2: a server ignores at least one empty line
/// before a request; clients send a stray CRLF after a POST body): how many bytes they take.
pub fn leading_empty_lines(data: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match &data[n..] {
            [b'\n', ..] => n += 1,
            [b'\r', b'\n', ..] => n += 2,
            _ => return n,
        }
    }
}

/// What a message head says about its body and its file (RFC 9112 §6, RFC 9110 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields<'a> {
    /// Content-Length, when every Content-Length field agrees (RFC 9112 §6.3 ¶5).
    pub content_length: Option<u64>,
    /// Transfer-Encoding is present.
    pub transfer_encoding: bool,
    /// Its final coding is `chunked` (RFC 9112 §6.3 ¶4).
    pub chunked: bool,
    /// Content-Encoding's value (trimmed), when present.
    pub content_encoding: Option<&'a [u8]>,
    /// Content-Type's value (trimmed), when present.
    pub content_type: Option<&'a [u8]>,
    /// Content-Disposition's value (trimmed), when present.
    pub content_disposition: Option<&'a [u8]>,
    /// The first Host field, trimmed.
    pub host: Option<&'a [u8]>,
}

/// Why a complete head cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// A field line without a colon (RFC 9112 §5.1).
    NoColon,
    /// A Content-Length that is not a number, overflows 64 bits, or disagrees with another
    /// (RFC 9112 §6.3 ¶5: unrecoverable).
    BadLength,
}

/// Read the field lines of a complete head (`lines`: after the start line, through the empty
/// line). Bounded by the head's length, which the caller caps.
pub fn fields(lines: &[u8]) -> Result<Fields<'_>, FieldError> {
    let mut f = Fields::default();
    for line in lines.split(|&b| b == b'\n') {
        let line = strip_cr(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // obsolete line folding: a continuation of the previous field, ignored
            continue;
        }
        let colon = memchr::memchr(b':', line).ok_or(FieldError::NoColon)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            // a list of equal values ("42, 42") is one value (RFC 9110 §8.6)
            for v in value.split(|&b| b == b',') {
                let n = parse_decimal(trim(v)).ok_or(FieldError::BadLength)?;
                if f.content_length.is_some_and(|m| m != n) {
                    return Err(FieldError::BadLength);
                }
                f.content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            f.transfer_encoding = true;
            let last = value.rsplit(|&b| b == b',').next().map(trim);
            f.chunked = last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            f.content_encoding = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            f.content_type = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-disposition") {
            f.content_disposition = Some(value);
        } else if name.eq_ignore_ascii_case(b"host") && f.host.is_none() {
            f.host = Some(value);
        }
    }
    Ok(f)
}

/// A decimal number of at most 19 digits (fits 64 bits), nothing else.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The status line of a response head (RFC 9112 §4): `HTTP/1.x SP 3DIGIT SP [reason]`; the
/// status code, and the bytes after the line. `None` when the line is not one.
pub fn status_line(head: &[u8]) -> Option<(u16, &[u8])> {
    let nl = memchr::memchr(b'\n', head)?;
    let line = strip_cr(&head[..nl]);
    if line.len() < 7 || !line[..7].eq_ignore_ascii_case(b"HTTP/1.") {
        return None;
    }
    let rest = &line[7..];
    let (minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
        return None;
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    Some((code, &head[nl + 1..]))
}

/// The size of a chunk from its chunk-size line (without the line end): hex digits, then
/// optional whitespace and chunk extensions (`;name=value`). `None` when it does not start
/// with a hex digit or its size does not fit 64 bits (a chunk "of 2^64 bytes").
pub fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = strip_cr(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    if !matches!(line.get(digits), None | Some(b';' | b' ' | b'\t')) {
        return None;
    }
    let mut n = 0u64;
    for &d in &line[..digits] {
        n = (n << 4) | u64::from((d as char).to_digit(16)?);
    }
    Some(n)
}

/// The file name a Content-Disposition value gives (RFC 6266 §4.1, RFC 8187): `filename*`
/// (`UTF-8''percent-encoded`) over `filename` (a token or a quoted string). Only the last path
/// segment is kept (a name is not a path).
pub fn disposition_filename(value: &[u8]) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in value.split(|&b| b == b';').skip(1) {
        let Some(eq) = memchr::memchr(b'=', param) else {
            continue;
        };
        let name = trim(&param[..eq]);
        let v = trim(&param[eq + 1..]);
        if name.eq_ignore_ascii_case(b"filename*") {
            // charset'language'value-chars
            let mut parts = v.splitn(3, |&b| b == b'\'');
            let (Some(_), Some(_), Some(enc)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            extended = Some(percent_decode(enc));
        } else if name.eq_ignore_ascii_case(b"filename") {
            let v = v
                .strip_prefix(b"\"")
                .map_or(v, |q| q.strip_suffix(b"\"").unwrap_or(q));
            plain = Some(v.to_vec());
        }
    }
    let name = extended.or(plain)?;
    let base = name
        .rsplit(|&b| b == b'/' || b == b'\\')
        .next()
        .unwrap_or(&name);
    file_name(base)
}

/// The last segment of a request target's path, percent-decoded: the name a browser saves a
/// download under when no Content-Disposition names it.
pub fn target_filename(target: &[u8]) -> Option<String> {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    let path = &target[..end];
    let seg = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    file_name(&percent_decode(seg))
}

/// Longest file name kept, in bytes: the usual file-system limit (ext4, NTFS: 255).
pub const MAX_FILE_NAME: usize = 255;

fn file_name(name: &[u8]) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let name = &name[..name.len().min(MAX_FILE_NAME)];
    let s = String::from_utf8_lossy(name);
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    (!s.is_empty()).then_some(s)
}

fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            v[i],
            v.get(i + 1).copied().and_then(hex),
            v.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
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
