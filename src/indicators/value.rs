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
