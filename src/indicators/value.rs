//! Indicator values from feed text: addresses, CIDRs and domain names, checked and normalised
//! the way observables are, with a reason an operator can act on when they are refused.
//!
//! - an IPv4 or IPv6 address (`std::net::IpAddr` syntax; IPv6 zone ids are not accepted);
//! - a CIDR `address/len`. Host bits set after the prefix (`10.1.2.3/8`) are refused: that is
//!   almost always a typo for an address or a different prefix, and guessing either way would
//!   silently match the wrong range. The reason names the network it would have meant;
//! - a domain in presentation form through [`crate::name::unescape`] (`\DDD` escapes, RFC 1035
//!   length limits, lowercased, one trailing dot dropped). A name in Unicode (`bücher.de`) is
//!   converted to its punycode A-label form (`xn--bcher-kva.de`, UTS #46 via the `idna` crate),
//!   which is what DNS queries and SNIs carry.
//!
//! Text that looks like an address but is not one (`1.2.3.256`, `1.2.3`, `10.0.0.0/33`, anything
//! with a `:`) is refused, never taken for a domain. So is a name whose last label is all digits
//! (RFC 3696 §2: top-level domains are not all-numeric), which also catches `\DDD`-escaped
//! addresses. A URL is refused with its own reason, and so is a `*` (a glob: the plain format
//! reads a leading `*.` itself).

use std::net::IpAddr;

use ipnet::IpNet;

use super::Value;
use crate::name;
use crate::observe::Token;

/// Longest prefix of offending feed text echoed in an error message, in characters, before
/// escaping: enough to recognise the entry (a 253-byte name is rare; its start identifies it),
/// short enough that a feed path pointed at a file the operator should not read (a symlink to
/// a root-only file) leaks no more than this per kept error, and one readable terminal line.
pub const MAX_ERROR_TEXT_CHARS: usize = 64;

/// Why a value with a `*` is refused.
pub const WILDCARD: &str =
    "a wildcard is only `*.` before a name (a plain list's `*.x`: the subdomains of x)";

/// Any value, its type read from the text: address, CIDR, else domain.
pub fn parse_value(s: &str) -> Result<Value, String> {
    let b = s.as_bytes();
    // One pass over the bytes, without an early exit, so that it is a few vector instructions:
    // values are short, and a feed has millions of them.
    let (mut colon, mut slash, mut star, mut numeric, mut ascii) =
        (false, false, false, true, true);
    for &c in b {
        colon |= c == b':';
        slash |= c == b'/';
        star |= c == b'*';
        numeric &= c.is_ascii_digit() || c == b'.';
        ascii &= c.is_ascii();
    }
    if !ascii && s.contains('\u{fffd}') {
        return Err("not valid UTF-8".to_owned());
    }
    if colon && s.contains("://") {
        return Err("a URL, not an address or domain: list the host name only".to_owned());
    }
    if star {
        // legal in a DNS label, but in a feed a glob iocd does not do
        return Err(WILDCARD.to_owned());
    }
    // An address has a `:` (IPv6) or only digits and dots (IPv4), a CIDR has a `/`; anything
    // else can only be a domain, the common case, and skips the address parsers.
    let maybe_address = colon || slash || numeric;
    if maybe_address {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Value::Ip(ip));
        }
        if let Some((addr, len)) = s.split_once('/') {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                return cidr(s, ip, len);
            }
            if let Some(reason) = not_an_address(addr) {
                return Err(format!("{reason} before the prefix length"));
            }
            // not address-like: the domain path below names `/` as the bad character
        } else if let Some(reason) = not_an_address(s) {
            return Err(reason);
        }
    }
    parse_domain(s)
}

/// An address (IPv4 or IPv6), nothing else.
pub fn parse_ip(s: &str) -> Result<Value, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(Value::Ip)
        .map_err(|_| format!("not an IP address: \"{}\"", cut(s)))
}

/// A CIDR `address/len`; an address alone is taken as a host route (`/32`, `/128`) and stored
/// as that address.
pub fn parse_cidr(s: &str) -> Result<Value, String> {
    let s = s.trim();
    match s.split_once('/') {
        None => parse_ip(s),
        Some((addr, len)) => match addr.parse::<IpAddr>() {
            Ok(ip) => cidr(s, ip, len),
            Err(_) => Err(format!("not a CIDR: \"{}\"", cut(s))),
        },
    }
}

/// A domain name; Unicode names are converted to punycode.
pub fn parse_domain(s: &str) -> Result<Value, String> {
    let s = s.trim();
    if s.contains("://") {
        return Err("a URL, not a domain: list the host name only".to_owned());
    }
    let ascii;
    let text = if s.is_ascii() {
        s
    } else {
        if s.contains('\u{fffd}') {
            return Err("not valid UTF-8".to_owned());
        }
        ascii = idna::domain_to_ascii(s).map_err(|_| {
            format!(
                "not a valid internationalised name (UTS #46): \"{}\"",
                cut(s)
            )
        })?;
        ascii.as_str()
    };
    let name = name::unescape(text).map_err(|e| e.to_string())?;
    let last = name.rsplit(|&b| b == b'.').next().unwrap_or_default();
    if last.iter().all(u8::is_ascii_digit) {
        return Err(
            "last label is all digits (RFC 3696 §2): neither an address nor a domain".to_owned(),
        );
    }
    Ok(Value::Domain(name))
}

/// A value of a [`Token`] kind, as a feed writes it:
///
/// - digests (`md5`, `sha1`, `sha256`, `cert_sha1`, `cert_sha256`, `ja3`, `ja3s`): hex of the
///   exact length, either case, optionally colon-separated (`AB:CD:...`, as certificate
///   fingerprints are often shown); stored as the digest bytes;
/// - `ja4`: the 36-character `a_b_c` form (`t13d1516h2_8daaf6152771_e5627efa2ab1`), `ja4s`
///   the 25-character one (`t130200_1301_234ea6891581`), checked part by part and lowercased;
/// - `email`: `local@domain`, the domain as [`parse_domain`] takes it, all lowercased.
///
/// - `url`: normalised by [`crate::url::parse`] (the key drops the scheme; a caller that
///   needs to know it was `https` parses with that function itself).
pub fn parse_token(kind: Token, s: &str) -> Result<Value, String> {
    let s = s.trim();
    if let Some(len) = kind.digest_len() {
        let hex: String = s.chars().filter(|&c| c != ':').collect();
        let ok = hex.len() == 2 * len && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(format!(
                "not a {}: {} hex digits expected in \"{}\"",
                kind.as_str(),
                2 * len,
                cut(s)
            ));
        }
        let key = (0..len)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        return Ok(Value::Token(kind, key));
    }
    match kind {
        Token::Ja4 | Token::Ja4s => {
            let t = s.to_ascii_lowercase();
            if ja4_shape(kind, &t) {
                Ok(Value::Token(kind, t.into_bytes()))
            } else {
                Err(format!(
                    "not a {} fingerprint (`{}`): \"{}\"",
                    kind.as_str(),
                    if kind == Token::Ja4 {
                        "t13d1516h2_8daaf6152771_e5627efa2ab1"
                    } else {
                        "t130200_1301_234ea6891581"
                    },
                    cut(s)
                ))
            }
        }
        Token::Email => {
            let (local, domain) = s
                .rsplit_once('@')
                .filter(|(l, d)| !l.is_empty() && !d.is_empty())
                .ok_or_else(|| format!("not an e-mail address (local@domain): \"{}\"", cut(s)))?;
            let ok_local = local.len() <= 64
                && local
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'@' | b','));
            if !ok_local {
                return Err(format!(
                    "not an e-mail address (bad local part): \"{}\"",
                    cut(s)
                ));
            }
            let Value::Domain(d) = parse_domain(domain)? else {
                unreachable!("parse_domain returns a domain")
            };
            let mut key = local.to_ascii_lowercase().into_bytes();
            key.push(b'@');
            key.extend_from_slice(&d);
            Ok(Value::Token(Token::Email, key))
        }
        Token::Url => crate::url::parse(s)
            .map(|u| Value::Token(Token::Url, u.key))
            .map_err(|e| format!("{e}: \"{}\"", cut(s))),
        // digests were handled above
        _ => Err(format!("not a {}: \"{}\"", kind.as_str(), cut(s))),
    }
}

/// `t` has the shape of a JA4 (`kind` [`Token::Ja4`]) or JA4S fingerprint.
fn ja4_shape(kind: Token, t: &str) -> bool {
    let parts: Vec<&str> = t.split('_').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let alnum = |p: &[u8]| p.iter().all(u8::is_ascii_alphanumeric);
    match (kind, parts.as_slice()) {
        (Token::Ja4, [a, b, c]) => {
            let a = a.as_bytes();
            a.len() == 10
                && matches!(a[0], b't' | b'q' | b'd')
                && alnum(&a[1..3])
                && matches!(a[3], b'd' | b'i')
                && a[4..8].iter().all(u8::is_ascii_digit)
                && alnum(&a[8..10])
                && hex(b, 12)
                && hex(c, 12)
        }
        (Token::Ja4s, [a, b, c]) => {
            let a = a.as_bytes();
            a.len() == 7
                && matches!(a[0], b't' | b'q' | b'd')
                && alnum(&a[1..3])
                && a[3..5].iter().all(u8::is_ascii_digit)
                && alnum(&a[5..7])
                && hex(b, 4)
                && hex(c, 12)
        }
        _ => false,
    }
}

/// Feed text for a message: its first [`MAX_ERROR_TEXT_CHARS`] characters, then `...` when there
/// was more, escaped so that it can be shown between double quotes and cannot act on a terminal:
/// printable ASCII stays, `"` and `\` are backslash-escaped, control characters and anything
/// not ASCII become `\u{..}` (style: escape attacker-controlled text). Only the prefix is looked
/// at, so cutting a 1 GiB line costs what cutting a short one does.
pub fn cut(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(MAX_ERROR_TEXT_CHARS + 3);
    let mut chars = text.chars();
    for c in chars.by_ref().take(MAX_ERROR_TEXT_CHARS) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

/// At most the first `MAX_ERROR_TEXT_CHARS + 1` characters of `text`, unescaped: what a parser
/// thread keeps of a bad line for [`cut`] to escape later (the `+ 1` keeps the `...`).
pub fn head(text: &str) -> &str {
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS + 1) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// `Some(reason)` when text that failed to parse as an address was meant as one: it has a `:`
/// (impossible in a host name) or is only digits and dots.
fn not_an_address(s: &str) -> Option<String> {
    if s.contains(':') {
        return Some("invalid IPv6 address".to_owned());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some("invalid IPv4 address".to_owned());
    }
    None
}

fn cidr(s: &str, ip: IpAddr, len: &str) -> Result<Value, String> {
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    // digits only: `u8::from_str` would also take `+8`
    let len = Some(len)
        .filter(|l| !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse::<u8>().ok())
        .filter(|&l| l <= max)
        .ok_or_else(|| format!("bad prefix length {len:?}: must be 0 to {max}"))?;
    let net = IpNet::new(ip, len).map_err(|e| e.to_string())?;
    if net.network() != ip {
        return Err(format!(
            "host bits set after the prefix ({s} is not a network address; {} is)",
            net.trunc()
        ));
    }
    Ok(Value::Cidr(net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_take_their_feed_forms() {
        let sha1 = "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9";
        let Ok(Value::Token(Token::CertSha1, key)) = parse_token(Token::CertSha1, sha1) else {
            panic!("sha1 refused")
        };
        assert_eq!(Token::CertSha1.text(&key), sha1);
        let colons = "5F:B0:F1:E3:B4:A1:C3:F6:E7:D9:B0:A1:C2:D3:E4:F5:A6:B7:C8:D9";
        assert_eq!(
            parse_token(Token::CertSha1, colons),
            Ok(Value::Token(Token::CertSha1, key))
        );
        assert!(parse_token(Token::CertSha1, &sha1[1..]).is_err());
        assert!(parse_token(Token::Md5, sha1).is_err());
        assert!(parse_token(Token::Ja3, "zz0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a").is_err());
        let ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
        assert_eq!(
            parse_token(Token::Ja4, &ja4.to_uppercase()),
            Ok(Value::Token(Token::Ja4, ja4.as_bytes().to_vec()))
        );
        assert!(parse_token(Token::Ja4, "t13d1516h2_8daaf6152771").is_err());
        assert!(parse_token(Token::Ja4s, ja4).is_err());
        assert!(parse_token(Token::Ja4s, "t130200_1301_234ea6891581").is_ok());
        assert_eq!(
            parse_token(Token::Email, "Bad.Guy@Bücher.DE"),
            Ok(Value::Token(
                Token::Email,
                b"bad.guy@xn--bcher-kva.de".to_vec()
            ))
        );
        assert!(parse_token(Token::Email, "no-at.example").is_err());
        assert!(parse_token(Token::Email, "a b@example.com").is_err());
        assert_eq!(
            parse_token(Token::Url, "HTTP://X.example:80/a#f"),
            Ok(Value::Token(Token::Url, b"x.example/a".to_vec()))
        );
        assert!(parse_token(Token::Url, "ftp://x.example/a").is_err());
    }

    #[test]
    fn bad_text_is_echoed_as_a_short_escaped_prefix() {
        assert_eq!(cut("plain.example"), "plain.example");
        assert_eq!(
            cut("a\x1b[31mb\"c\\d\u{7f}é"),
            "a\\u{1b}[31mb\\\"c\\\\d\\u{7f}\\u{e9}"
        );
        let long = "\u{7}".repeat(10 * MAX_ERROR_TEXT_CHARS);
        let shown = cut(&long);
        assert_eq!(shown, "\\u{7}".repeat(MAX_ERROR_TEXT_CHARS) + "...");
        assert!(!shown.chars().any(|c| c.is_control()));
        // `head` keeps enough for `cut` to know there was more
        assert_eq!(cut(head(&long)), shown);
        assert_eq!(head("short"), "short");
    }

    #[test]
    fn unicode_names_become_punycode() {
        assert_eq!(
            parse_domain("Bücher.DE"),
            Ok(Value::Domain(b"xn--bcher-kva.de".to_vec()))
        );
        assert_eq!(
            parse_value("пример.рф."),
            Ok(Value::Domain(b"xn--e1afmkfd.xn--p1ai".to_vec()))
        );
        assert!(parse_domain("a\u{fffd}b.com").is_err());
    }

    #[test]
    fn typed_parsers_refuse_other_types() {
        assert!(parse_ip("evil.com").is_err());
        assert!(parse_ip("10.0.0.0/8").is_err());
        assert_eq!(
            parse_cidr("10.0.0.0/8"),
            Ok(Value::Cidr("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            parse_cidr("10.1.2.3"),
            Ok(Value::Ip("10.1.2.3".parse().unwrap()))
        );
        assert!(parse_cidr("10.1.2.3/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(parse_domain("http://evil.com/x").is_err());
        assert!(parse_domain("1.2.3.4").is_err());
    }
}
