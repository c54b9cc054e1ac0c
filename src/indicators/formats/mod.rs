//! Feed file formats. Each parser reads a whole feed's text and hands every entry to a
//! [`FeedSink`]: good entries with the context fields they set themselves, bad ones with a
//! location and a reason (the good ones around them still load), and well-formed entries that
//! iocd does not use (a JARM fingerprint, a revoked STIX object) as counted skips. A parser returns
//! `Err` only when the file as a whole is unusable (not JSON, no header naming the value
//! column): the loader then treats the feed as failed, and a reload keeps its last good entries.
//!
//! Every format reads the indicator types beyond addresses and names (URLs, file hashes,
//! e-mail addresses, JA3/JA4(S), certificate hashes) where it has a way to write them: a type
//! field (`token_type` knows the names feeds use), the feed's declared `type`
//! ([`declared`]), else the value's shape (`hash_by_shape`, `://`, `@`). A URL goes through
//! `url_entry`, which applies the feed's `url_https` and tells the sink of `https://` ones.
//!
//! Parsers validate values (see [`super::value`]) but apply no policy: feed defaults, over-broad
//! values and duplicates are the loader's.

pub mod csv;
pub mod misp;
pub mod misp_csv;
pub mod misp_warninglist;
pub mod plain;
pub mod stix;
pub mod zeek;

use super::{value, Fields, MatchMode, Value};
use crate::config::UrlHttps;
use crate::observe::Token;

/// Longest feed-supplied name (a type, a pattern type) kept in a skip reason, in characters: skip
/// reasons are counted by their text, so a hostile feed must not be able to mint unbounded
/// distinct long keys. 40 fits every real type name (`Intel::PUBKEY_HASH`, `x509-fingerprint-sha256`).
pub const MAX_WHAT_NAME_CHARS: usize = 40;

/// Longest line of a line-based feed (plain, csv, zeek, misp_csv), in bytes, its `\n` not
/// counted. The longest legitimate line is a URL with context columns: RFC 9110 §4.1 asks
/// software to handle URIs of at least 8000 octets, and that plus a description and tags is
/// well under 16 KiB (real feeds' lines are a few hundred bytes). A longer line is a bad entry,
/// reported and skipped without being copied: the reader keeps no more than this of it (see
/// `feeds::read`), so a 1 GiB line costs a read, not 1 GiB of memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// The reason given for a line over [`MAX_LINE_BYTES`].
pub(crate) fn line_too_long() -> String {
    format!("line longer than {MAX_LINE_BYTES} bytes")
}

/// `text` with every line over [`MAX_LINE_BYTES`] emptied (its line ending kept, so line numbers
/// stay right), each reported to `out` as a bad entry; `text` itself when no line is too long.
/// `text` starts at line `first_line`. For the parsers that hand lines to a library that copies
/// them (the `csv` crate) or scan the text more than once (zeek).
pub(crate) fn blank_long_lines<'t>(
    text: &'t str,
    first_line: usize,
    out: &mut dyn FeedSink,
) -> std::borrow::Cow<'t, str> {
    let mut kept = String::new();
    let mut copied = 0; // text[..copied] is in `kept` (once a line was emptied)
    let (mut start, mut line) = (0, first_line);
    while start < text.len() {
        let end =
            memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
        // a `\r` before the `\n` is not counted, as `str::lines` drops it
        let body = text[start..end]
            .strip_suffix('\r')
            .unwrap_or(&text[start..end]);
        if body.len() > MAX_LINE_BYTES {
            out.bad(Location::Line(line), &line_too_long(), body);
            kept.push_str(&text[copied..start]);
            copied = end;
        }
        start = end + 1;
        line += 1;
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    kept.push_str(&text[copied..]);
    std::borrow::Cow::Owned(kept)
}

/// Where an entry is in its feed, for messages: a 1-based line, or an object's id (STIX
/// `indicator--...`, a MISP attribute uuid) when the format has no useful lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    Line(usize),
    Object(&'a str),
}

impl std::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(n) => write!(f, "{n}"),
            Location::Object(id) => write!(f, "{id}"),
        }
    }
}

/// Receives what a parser finds.
pub trait FeedSink {
    /// A good entry.
    fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields);
    /// A good name entry with no fields of its own: [`entry`](Self::entry) without the `Vec`
    /// (the loader's fast path for large plain feeds).
    fn entry_name(&mut self, at: Location<'_>, name: &[u8]) {
        self.entry(at, Value::Domain(name.to_vec()), Fields::default());
    }
    /// A hint that `name` will follow soon (see [`crate::indicators::SetBuilder::warm_name`]).
    fn warm_name(&mut self, _name: &[u8]) {}
    /// A hint that address `ip` will follow soon.
    fn warm_ip(&mut self, _ip: std::net::IpAddr) {}
    /// A bad entry: why, and the offending text (cut to a readable length by the sink).
    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str);
    /// A well-formed entry iocd does not use, counted under `what` (e.g. `"zeek Intel::JA3"`,
    /// `"stix revoked"`, `"misp to_ids=false"`).
    fn skipped(&mut self, at: Location<'_>, what: &str);
    /// The entry just given (by [`entry`](Self::entry)) was an `https://` URL: `check` says how
    /// many a feed has, as only a proxy shows such URLs in clear.
    fn https_url(&mut self) {}
}

/// The token kind a feed's type name stands for, in the vocabularies feeds use: iocd's own
/// (`ja3`, `cert_sha1`, `url`...), MISP's (`md5`, `email-src`, `x509-fingerprint-sha1`,
/// `ja3-fingerprint-md5`), abuse.ch's (ThreatFox `ioc_type` `md5_hash`, `sha256_hash`; the
/// SSLBL JA3 list's `ja3_md5`). Any case; `None` for other names.
pub(crate) fn token_type(name: &str) -> Option<Token> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "ja3" | "ja3_md5" | "ja3-fingerprint-md5" | "ja3_fingerprint" => Token::Ja3,
        "ja3s" | "ja3s_md5" | "ja3s-fingerprint-md5" => Token::Ja3s,
        "ja4" | "ja4-fingerprint" => Token::Ja4,
        "ja4s" | "ja4s-fingerprint" => Token::Ja4s,
        "cert_sha1" | "x509-fingerprint-sha1" | "x509_sha1" => Token::CertSha1,
        "cert_sha256" | "x509-fingerprint-sha256" | "x509_sha256" => Token::CertSha256,
        "md5" | "md5_hash" | "filehash-md5" => Token::Md5,
        "sha1" | "sha1_hash" | "filehash-sha1" => Token::Sha1,
        "sha256" | "sha256_hash" | "filehash-sha256" => Token::Sha256,
        "email" | "email-src" | "email-dst" | "email-reply-to" | "email_address" | "email-addr" => {
            Token::Email
        }
        "url" => Token::Url,
        _ => return None,
    })
}

/// Why an entry of a kind iocd cannot match is skipped, for the types feeds carry that have no
/// observable: MISP `x509-fingerprint-md5` (certificates are hashed with SHA-1 and SHA-256, as
/// SSLBL, Suricata and Zeek do), `jarm-fingerprint` (JARM is an active scan of a server, not
/// something a handshake shows), `hassh-md5` (SSH is not parsed).
pub(crate) fn unmatched_type(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "x509-fingerprint-md5" => {
            "x509-fingerprint-md5 (certificates are matched by SHA-1 and SHA-256)"
        }
        "jarm-fingerprint" | "jarm" => "jarm-fingerprint (JARM needs active scanning)",
        "hassh-md5" | "hasshserver-md5" => "hassh-md5 (SSH is not parsed)",
        _ => return None,
    })
}

/// The file-hash kind a bare hex value has by its length: 32 hex digits an MD5, 40 a SHA-1, 64
/// a SHA-256 (what a plain list, a MISP `string` or an untyped CSV cell holds); `None` for any
/// other text. Looks at the bytes only: no allocation.
pub(crate) fn hash_by_shape(s: &str) -> Option<Token> {
    let kind = match s.len() {
        32 => Token::Md5,
        40 => Token::Sha1,
        64 => Token::Sha256,
        _ => return None,
    };
    s.bytes().all(|b| b.is_ascii_hexdigit()).then_some(kind)
}

/// How a URL entry loads: with `url_https = "host"` an `https://` URL becomes its host (an
/// exact domain, or an address), else a [`Token::Url`]. `Ok((value, mode, https))`: `mode` is
/// the match mode the host entry takes (exact), `https` whether the URL was `https://`.
pub(crate) fn url_entry(
    text: &str,
    https_as: UrlHttps,
) -> Result<(Value, Option<MatchMode>, bool), String> {
    let u = crate::url::parse(text).map_err(|e| format!("{e}: \"{}\"", value::cut(text)))?;
    if u.https && https_as == UrlHttps::Host {
        let host = std::str::from_utf8(&u.host).unwrap_or_default();
        let v = match host.parse::<std::net::IpAddr>() {
            Ok(a) => Value::Ip(a),
            Err(_) => value::parse_domain(host)?,
        };
        return Ok((v, Some(MatchMode::Exact), true));
    }
    Ok((Value::Token(Token::Url, u.key), None, u.https))
}

/// Hand a URL entry to `out` with `fields` (see [`url_entry`]); a bad URL is a bad entry.
pub(crate) fn emit_url(
    text: &str,
    https_as: UrlHttps,
    at: Location<'_>,
    mut fields: Fields,
    raw: &str,
    out: &mut dyn FeedSink,
) {
    match url_entry(text, https_as) {
        Ok((v, mode, https)) => {
            if mode.is_some() {
                fields.match_mode = mode;
            }
            out.entry(at, v, fields);
            if https {
                out.https_url();
            }
        }
        Err(reason) => out.bad(at, &reason, raw),
    }
}

/// A feed-supplied name for a skip reason: printable ASCII only (others become `?`), cut to
/// [`MAX_WHAT_NAME_CHARS`].
pub(crate) fn what_name(s: &str) -> String {
    s.chars()
        .take(MAX_WHAT_NAME_CHARS)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A confidence written as an integer 0–100.
pub(crate) fn parse_confidence(s: &str) -> Result<u8, String> {
    let t = s.trim();
    t.parse::<u8>()
        .ok()
        .filter(|&c| c <= 100 && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("bad confidence \"{}\": an integer 0 to 100", value::cut(t)))
}

/// Tags split on `sep`, trimmed, empties dropped, appended to `tags` unless already there.
pub(crate) fn push_tags(tags: &mut Vec<String>, text: &str, sep: char) {
    for t in text.split(sep).map(str::trim).filter(|t| !t.is_empty()) {
        push_tag(tags, t);
    }
}

/// Append `tag` unless already there (feeds repeat a tag at event and attribute level).
pub(crate) fn push_tag(tags: &mut Vec<String>, tag: &str) {
    if !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_blanked_and_reported_keeping_line_numbers() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let ok = "y".repeat(MAX_LINE_BYTES);
        let mut c = Collect::default();
        assert!(matches!(
            blank_long_lines("a\nb\n", 1, &mut c),
            std::borrow::Cow::Borrowed(_)
        ));
        let text = format!("{long}\na\n{ok}\r\n{long}\r\nb\n{long}");
        let kept = blank_long_lines(&text, 10, &mut c);
        assert!(
            kept == format!("\na\n{ok}\r\n\nb\n"),
            "{} bytes kept",
            kept.len()
        );
        let bad: Vec<&str> = c.bad.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(bad, ["10", "13", "15"]);
        assert_eq!(c.bad[0].1, line_too_long());
    }
}

/// A sink that keeps everything, for tests of parsers.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Collect {
    pub entries: Vec<(String, Value, Fields)>,
    pub bad: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
}

#[cfg(test)]
impl FeedSink for Collect {
    fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
        self.entries.push((at.to_string(), value, fields));
    }
    fn bad(&mut self, at: Location<'_>, reason: &str, _text: &str) {
        self.bad.push((at.to_string(), reason.to_owned()));
    }
    fn skipped(&mut self, at: Location<'_>, what: &str) {
        self.skipped.push((at.to_string(), what.to_owned()));
    }
}

/// Robustness sweep shared by the parsers' tests: every truncation of `sample` at a char
/// boundary, and pseudo-random byte mutations, parse without panicking and report no more
/// items than the text has bytes (each entry, bad or skip needs at least one byte).
#[cfg(test)]
pub fn assert_never_panics(sample: &str, parse: &dyn Fn(&str, &mut Collect) -> Result<(), String>) {
    let check = |text: &str| {
        let mut c = Collect::default();
        let _ = parse(text, &mut c);
        let n = c.entries.len() + c.bad.len() + c.skipped.len();
        assert!(n <= text.len() + 1, "{n} items from {} bytes", text.len());
    };
    for (i, _) in sample.char_indices() {
        check(&sample[..i]);
    }
    check(sample);
    // xorshift64: deterministic, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let bytes = sample.as_bytes();
    for _ in 0..500 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len().max(1) as u64) as usize;
            if let Some(x) = b.get_mut(i) {
                // half the time a structural character, else any byte
                const SPECIAL: &[u8] = b"\"',[]{}()#\t\n\r:|/-.=";
                let r = next();
                *x = if r % 2 == 0 {
                    SPECIAL[(r / 2 % SPECIAL.len() as u64) as usize]
                } else {
                    (r >> 8) as u8
                };
            }
        }
        check(&String::from_utf8_lossy(&b));
    }
}
