//! Domain names as bytes, normalised once.
//!
//! Every name that enters iocd — a DNS question, a TLS SNI, a feed line — goes through
//! [`normalize`]: ASCII letters are lowercased and one trailing dot is stripped. Matching is then
//! plain byte comparison on label boundaries (see [`suffixes`]), so `evil.com` matches
//! `a.evil.com` but never `notevil.com`.
//!
//! Names are bytes, not `str`: DNS labels may carry any octet (RFC 2181 §11). Bytes outside
//! printable ASCII, and `\` itself, are shown in RFC 1035 §5.1 `\DDD` form (decimal) by
//! [`escape`]; [`unescape`] reads the same form back, so a feed can list such a name.

use std::fmt::Write;

/// Longest name in presentation form without the trailing dot: 255 wire octets (RFC 1035 §2.3.4)
/// minus the length octets and the root label.
pub const MAX_NAME_LEN: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Lowercase ASCII letters and strip one trailing dot, in place.
pub fn normalize(name: &mut Vec<u8>) {
    name.make_ascii_lowercase();
    if name.last() == Some(&b'.') {
        name.pop();
    }
}

/// The name itself and every parent of it that starts on a label boundary, longest first:
/// `a.b.c` yields `a.b.c`, `b.c`, `c`. Escaped dots do not exist here: names are raw bytes, and a
/// `.` byte inside a label is indistinguishable from a separator, as in every name table.
pub fn suffixes(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut next = Some(0usize);
    std::iter::from_fn(move || {
        let start = next?;
        let rest = &name[start..];
        next = rest
            .iter()
            .position(|&b| b == b'.')
            .map(|i| start + i + 1)
            .filter(|&n| n < name.len());
        Some(rest)
    })
}

/// Presentation form for output: printable ASCII stays, `\` and every other byte become `\DDD`.
/// Attacker-controlled names go through this before they reach a log or an event, so terminal
/// escapes in an SNI cannot reach an analyst's terminal.
pub fn escape(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if (0x21..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\{b:03}");
        }
    }
    out
}

/// Why a name from a feed was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label longer than {MAX_LABEL_LEN} bytes")]
    LabelTooLong,
    #[error("bad escape: expected \\DDD with DDD a decimal number up to 255")]
    BadEscape,
    #[error("character not allowed in a domain name: {0:?}")]
    BadChar(char),
}

/// Bytes [`unescape`] refuses besides whitespace and controls: they cannot appear in a host name
/// and usually mean a URL or a typo. A table, not a search of the list, because this is checked
/// for every byte of every feed name (a million-name feed must load in well under a second).
const REFUSED: [bool; 256] = {
    let list = b"/:@?#[]<>\"'`,;|{}()";
    let mut table = [false; 256];
    let mut i = 0;
    while i < list.len() {
        table[list[i] as usize] = true;
        i += 1;
    }
    table
};

/// Parse a name in presentation form (as written in a feed): `\DDD` escapes decoded, then
/// normalised and checked against the RFC 1035 length limits. Whitespace, `/`, `:` and other
/// characters that cannot appear in a hostname and usually mean a URL or a typo are refused.
pub fn unescape(text: &str) -> Result<Vec<u8>, NameError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let digits = bytes.get(i + 1..i + 4).ok_or(NameError::BadEscape)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(NameError::BadEscape);
            }
            let v = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            out.push(u8::try_from(v).map_err(|_| NameError::BadEscape)?);
            i += 4;
            continue;
        }
        if !b.is_ascii() {
            // IDN in Unicode form is the indicators issue's (punycode); refuse rather than guess.
            let c = text[i..].chars().next().unwrap_or('\u{fffd}');
            return Err(NameError::BadChar(c));
        }
        if b.is_ascii_whitespace() || b.is_ascii_control() || REFUSED[usize::from(b)] {
            return Err(NameError::BadChar(b as char));
        }
        out.push(b);
        i += 1;
    }
    normalize(&mut out);
    if out.is_empty() {
        return Err(NameError::Empty);
    }
    if out.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    for label in out.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_lowercases_and_strips_one_trailing_dot() {
        let mut n = b"WWW.Example.COM.".to_vec();
        normalize(&mut n);
        assert_eq!(n, b"www.example.com");
    }

    #[test]
    fn suffixes_stop_on_label_boundaries() {
        let all: Vec<&[u8]> = suffixes(b"a.bb.evil.com").collect();
        assert_eq!(
            all,
            vec![&b"a.bb.evil.com"[..], b"bb.evil.com", b"evil.com", b"com"]
        );
        assert_eq!(suffixes(b"com").count(), 1);
        // a trailing dot would give an empty suffix; normalised names never have one
        assert_eq!(suffixes(b"a.").collect::<Vec<_>>(), vec![&b"a."[..]]);
    }

    #[test]
    fn escape_round_trips_through_unescape() {
        let raw = b"www.allyourba\x04\x05\x06arebelongto.cn";
        let shown = escape(raw);
        assert_eq!(shown, "www.allyourba\\004\\005\\006arebelongto.cn");
        assert_eq!(unescape(&shown).unwrap(), raw);
        assert_eq!(escape(b"a\\b\x1b[31m"), "a\\092b\\027[31m");
    }

    #[test]
    fn unescape_refuses_bad_names_by_reason() {
        assert_eq!(unescape(""), Err(NameError::Empty));
        assert_eq!(unescape("."), Err(NameError::Empty));
        assert_eq!(unescape("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(unescape(".a"), Err(NameError::EmptyLabel));
        assert_eq!(unescape(&"a".repeat(64)), Err(NameError::LabelTooLong));
        let long = ["abcdefghi"; 26].join(".");
        assert_eq!(unescape(&long), Err(NameError::TooLong));
        assert_eq!(unescape("a\\25"), Err(NameError::BadEscape));
        assert_eq!(unescape("a\\256"), Err(NameError::BadEscape));
        assert_eq!(unescape("http://x.com"), Err(NameError::BadChar(':')));
        assert_eq!(unescape("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(unescape("bücher.de"), Err(NameError::BadChar('ü')));
        assert_eq!(unescape("Evil.COM.").unwrap(), b"evil.com");
    }
}
