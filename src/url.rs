//! URLs normalised once, the same way for a feed's URL and a request seen on the wire, so that
//! matching is a byte comparison (as [`crate::name`] does for names).
//!
//! The key of a URL is `host[:port]path[?query]`:
//!
//! - the scheme is dropped (it is kept aside: an `https://` URL can only be seen in clear
//!   through a proxy), and so are the default port of the scheme (80, 443), the userinfo (a
//!   request never carries it) and the fragment (never sent);
//! - the host is lowercased, one trailing dot dropped, and an internationalised name converted
//!   to its punycode A-label form (UTS #46), as DNS and the `Host` header carry it; an IPv6
//!   literal keeps its brackets;
//! - in the path and query, percent-encoded unreserved characters are decoded and the hex digits
//!   of the other escapes upper-cased (RFC 3986 §6.2.2.1–2), and the path's dot segments are
//!   removed (§6.2.2.3, §5.2.4); an empty path is `/` (§6.2.3).
//!
//! Nothing else is rewritten: `/a?b` and `/a?b=` stay different, as servers may treat them so.

/// Longest URL accepted, in bytes: RFC 9110 §4.1 asks for at least 8000 octets.
pub const MAX_URL_LEN: usize = 8192;

/// A URL as a key, and what the key drops that matters to where it can be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host[:port]path[?query]`, normalised.
    pub key: Vec<u8>,
    /// Length of the `host[:port]` part of `key`.
    pub authority_len: usize,
    /// The host alone (no port, no brackets), normalised: for matching the host by name.
    pub host: Vec<u8>,
    /// The scheme was `https` (only a proxy's clear-text request shows such a URL).
    pub https: bool,
}

impl Url {
    /// The path and query part of the key (starts with `/`).
    pub fn path(&self) -> &[u8] {
        &self.key[self.authority_len..]
    }
}

/// Why a text is not a URL iocd can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    TooLong,
    /// Not `http`, `https`, or no scheme at all.
    Scheme,
    /// No host, or a host that is not a name or an address.
    Host,
    /// A port that is not a number up to 65535.
    Port,
    /// Bytes no request target can have (controls, spaces, non-ASCII).
    Bytes,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlError::TooLong => "URL longer than 8192 bytes",
            UrlError::Scheme => "not an http:// or https:// URL",
            UrlError::Host => "URL without a valid host",
            UrlError::Port => "URL with a bad port",
            UrlError::Bytes => "URL with spaces, control or non-ASCII bytes in its path",
        })
    }
}

/// A URL as a feed writes it: `http://host/path`, `https://...`, or `host/path` without a
/// scheme (Maltrail, plain lists), taken as `http`.
pub fn parse(text: &str) -> Result<Url, UrlError> {
    let t = text.trim();
    if t.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let (https, rest) = match t.find("://") {
        Some(i) => match t[..i].to_ascii_lowercase().as_str() {
            "http" => (false, &t[i + 3..]),
            "https" => (true, &t[i + 3..]),
            _ => return Err(UrlError::Scheme),
        },
        None => (false, t),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    // the userinfo is never in a request
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_idna;
    let authority = if authority.is_ascii() {
        authority
    } else {
        let (h, p) = split_port(authority);
        host_idna = match idna::domain_to_ascii(h) {
            Ok(a) => match p {
                Some(p) => format!("{a}:{p}"),
                None => a,
            },
            Err(_) => return Err(UrlError::Host),
        };
        host_idna.as_str()
    };
    let target = if target.is_empty() || target.starts_with('?') || target.starts_with('#') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    from_parts(authority.as_bytes(), target.as_bytes(), https)
}

/// A request seen on the wire: the authority (the `Host` header, or an absolute-form target's)
/// and the origin-form target (`/path?query`); `https`: the request named the https scheme
/// (an absolute-form request to a proxy).
pub fn from_request(authority: &[u8], target: &[u8], https: bool) -> Result<Url, UrlError> {
    from_parts(authority, target, https)
}

/// `host[:port]` split at the port's colon (not inside an IPv6 literal's brackets).
fn split_port(a: &str) -> (&str, Option<&str>) {
    if a.starts_with('[') {
        return match a.find(']') {
            Some(i) => match a[i + 1..].strip_prefix(':') {
                Some(p) => (&a[..=i], Some(p)),
                None => (a, None),
            },
            None => (a, None),
        };
    }
    match a.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (a, None),
    }
}

fn from_parts(authority: &[u8], target: &[u8], https: bool) -> Result<Url, UrlError> {
    if authority.len() + target.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let a = std::str::from_utf8(authority).map_err(|_| UrlError::Host)?;
    let (host, port) = split_port(a);
    let mut host = host.as_bytes().to_ascii_lowercase();
    if host.last() == Some(&b'.') {
        host.pop();
    }
    let valid_host = if host.first() == Some(&b'[') {
        host.last() == Some(&b']')
            && std::str::from_utf8(&host[1..host.len() - 1])
                .is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if !valid_host {
        return Err(UrlError::Host);
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::Port),
        },
    };
    let default = if https { 443 } else { 80 };
    let mut key = host.clone();
    if let Some(p) = port.filter(|&p| p != default) {
        key.push(b':');
        key.extend_from_slice(p.to_string().as_bytes());
    }
    let authority_len = key.len();
    // the fragment is never sent
    let target = match memchr::memchr(b'#', target) {
        Some(i) => &target[..i],
        None => target,
    };
    if target.iter().any(|&b| b <= b' ' || b >= 0x7f) {
        return Err(UrlError::Bytes);
    }
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    };
    let path = percent_normalize(path);
    let path = remove_dot_segments(&path);
    if path.first() != Some(&b'/') {
        key.push(b'/');
    }
    key.extend_from_slice(&path);
    if let Some(q) = query {
        key.push(b'?');
        key.extend_from_slice(&percent_normalize(q));
    }
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .map_or(host.clone(), <[u8]>::to_vec);
    Ok(Url {
        key,
        authority_len,
        host,
        https,
    })
}

/// RFC 3986 §6.2.2.1–2: `%41` → `A` (unreserved), `%2f` → `%2F` (hex upper-cased); a `%` not
/// followed by two hex digits is kept as it is.
fn percent_normalize(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%'
            && i + 2 < s.len()
            && s[i + 1].is_ascii_hexdigit()
            && s[i + 2].is_ascii_hexdigit()
        {
            let v = (hex(s[i + 1]) << 4) | hex(s[i + 2]);
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v);
            } else {
                out.push(b'%');
                out.push(s[i + 1].to_ascii_uppercase());
                out.push(s[i + 2].to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// RFC 3986 §5.2.4 on a path that starts with `/` (or is empty).
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut segs: Vec<&[u8]> = Vec::new();
    let mut parts = path.split(|&b| b == b'/').skip(1).peekable();
    let mut trailing = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            b"." => trailing = last,
            b".." => {
                segs.pop();
                trailing = last;
            }
            _ => {
                segs.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if trailing || out.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        String::from_utf8(parse(s).unwrap().key).unwrap()
    }

    #[test]
    fn feed_urls_normalise_per_rfc_3986() {
        assert_eq!(
            key("HTTP://Evil.EXAMPLE:80/a/b?x=1#frag"),
            "evil.example/a/b?x=1"
        );
        assert_eq!(key("https://evil.example:443/"), "evil.example/");
        assert_eq!(key("http://evil.example:8080"), "evil.example:8080/");
        assert_eq!(key("https://evil.example:80/x"), "evil.example:80/x");
        assert_eq!(key("evil.example/dl/x.exe"), "evil.example/dl/x.exe");
        assert_eq!(key("http://u:p@evil.example/x"), "evil.example/x");
        assert_eq!(key("http://bücher.de/x"), "xn--bcher-kva.de/x");
        assert_eq!(key("http://[2001:DB8::1]:8080/x"), "[2001:db8::1]:8080/x");
        assert_eq!(
            key("http://evil.example/%7euser/%2f%41"),
            "evil.example/~user/%2FA"
        );
        assert_eq!(key("http://evil.example/a/./b/../c/"), "evil.example/a/c/");
        assert_eq!(key("http://evil.example/a/.."), "evil.example/");
        assert_eq!(key("http://evil.example?q"), "evil.example/?q");
        let u = parse("https://Evil.example./p").unwrap();
        assert!(u.https);
        assert_eq!(u.host, b"evil.example");
        assert_eq!(u.path(), b"/p");
        assert_eq!(parse("ftp://x.example/"), Err(UrlError::Scheme));
        assert_eq!(parse("http:///x"), Err(UrlError::Host));
        assert_eq!(parse("http://x.example:99999/"), Err(UrlError::Port));
        assert_eq!(parse("http://x.example/a b"), Err(UrlError::Bytes));
    }

    #[test]
    fn a_request_on_the_wire_gets_the_same_key_as_the_feed_url() {
        let wire = from_request(b"Evil.Example:80", b"/a/%7e/../b?x#y", false).unwrap();
        assert_eq!(wire.key, parse("http://evil.example/a/b?x").unwrap().key);
        let proxied = from_request(b"evil.example", b"/a", true).unwrap();
        assert_eq!(proxied.key, parse("https://evil.example/a").unwrap().key);
    }
}
