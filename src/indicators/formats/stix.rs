//! STIX 2.1 indicators (`format = "stix"`): a bundle `{"type": "bundle", "objects": [...]}`, a
//! JSON array of objects, or one bare `indicator` object, as TAXII collections and
//! OpenCTI/MISP exports publish them. Text that is not JSON, or JSON of none of those shapes, is
//! unusable (`Err`).
//!
//! Only `indicator` objects are read; other objects (identity, malware, relationship,
//! marking-definition...) are ignored without being counted. For each indicator:
//!
//! | STIX                           | iocd                                                   |
//! |--------------------------------|--------------------------------------------------------|
//! | `pattern` (`pattern_type` `stix`, or absent as in STIX 2.0) | the values, one entry each (below) |
//! | `valid_from`, `valid_until`    | valid_from, valid_until (an expired indicator loads; it matches no packet after `valid_until`) |
//! | `confidence`                   | confidence (integer 0–100)                             |
//! | `labels`, `indicator_types`    | tags                                                   |
//! | `description`, else `name`     | description                                            |
//! | `external_references`          | reference: the `url` of the first reference with one    |
//! | `id`                           | id, and the location in messages                       |
//!
//! Skipped (counted under these names): `revoked: true` → `stix revoked`; another
//! `pattern_type` → `stix pattern_type snort` (yara, sigma...); a pattern using anything
//! beyond the subset below → `stix pattern unsupported: <reason>` (`AND`, `FOLLOWEDBY`, `NOT`,
//! `EXISTS`, `qualifier WITHIN`, `operator LIKE`, `path file:name`, ...). The whole
//! indicator is skipped then, even when part of it is usable: iocd does not guess at a
//! pattern's meaning.
//!
//! **The pattern subset** (STIX 2.1 §9): observation expressions `[...]` joined by `OR` (with
//! parentheses), each holding comparisons joined by `OR` (with parentheses), each comparison
//! one of `ipv4-addr:value`, `ipv6-addr:value` (`=` an address or CIDR, or `ISSUBSET` a CIDR),
//! `domain-name:value` (`=` a name), `url:value` (a URL, see [`crate::url`]; `https://` per the
//! feed's `url_https`), `email-addr:value` (an e-mail address), `file:hashes.'SHA-256'`,
//! `'SHA-1'`, `MD5` (file hashes; the hash name quoted or not, with or without its `-`, any
//! case) and `x509-certificate:hashes.'SHA-1'` / `'SHA-256'` (certificate hashes). String
//! literals take the `\'` and `\\` escapes.
//! A pattern that does not parse, or a value that is not what its object type says, is a bad
//! entry.
//!
//! There is no maintained Rust crate for STIX patterns: a search of crates.io docs found
//! `stix2` 0.1.1 and `stix-rs` 0.1.0, whole-model libraries in their first release with
//! pattern parsing as one part of a large surface; the reference implementation is Python's
//! `stix2-patterns` (an ANTLR grammar). The subset iocd can use is small, so it is parsed
//! here by a bounded tokenizer and recursive-descent parser.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

use super::{parse_confidence, push_tag, what_name, FeedSink, Location};
use crate::config::{FeedConfig, UrlHttps};
use crate::indicators::{parse_time, value, Fields, MatchMode, Value};
use crate::observe::Token;

/// Longest pattern parsed, in bytes. Real indicators are under 1 KiB; compound patterns
/// listing a few hundred addresses stay under 20 KiB. 64 KiB bounds the token list.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

/// Deepest nesting of `[...]` and `(...)` in a pattern: the parser recurses once per level.
/// Real patterns nest two or three deep.
pub const MAX_PATTERN_DEPTH: usize = 32;

/// Parse a STIX 2.1 bundle (or array of objects, or one indicator).
///
/// The bundle's objects are read one at a time (a `serde` seed over the `objects` array), each
/// into a small tree that is dropped once handled, so a large bundle never exists as one
/// `serde_json::Value` tree (many times the size of its text). What they give is held as
/// entries until the whole text has parsed: a file that turns out not to be JSON half way
/// still adds nothing (the loader's contract for `Err`).
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let mut held = Held {
        url_https: feed.url_https,
        ..Held::default()
    };
    let mut de = serde_json::Deserializer::from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let shape = Top { out: &mut held }
        .deserialize(&mut de)
        .and_then(|shape| de.end().map(|()| shape))
        .map_err(|e| format!("not JSON: {e}"))?;
    shape?;
    held.replay(out);
    Ok(())
}

/// One element of a bundle's `objects`.
fn object(i: usize, obj: &Json, out: &mut Held) {
    match obj {
        Json::Object(o) if o.get("type").and_then(Json::as_str) == Some("indicator") => {
            indicator(o, i, out)
        }
        Json::Object(_) => {} // identity, malware, relationship...
        _ => out.bad(
            Location::Object(&format!("objects[{i}]")),
            "not a JSON object",
            "",
        ),
    }
}

const NOT_STIX: &str = "not a STIX bundle, array of objects, or indicator";

/// The whole text: an array of objects, a bundle, or one indicator. Its value is `Err` when the
/// JSON is well-formed but not STIX.
struct Top<'o> {
    out: &'o mut Held,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Result<(), String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Result<(), String>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a STIX bundle, array of objects, or indicator")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut i = 0;
        while let Some(obj) = a.next_element::<Json>()? {
            object(i, &obj, self.out);
            i += 1;
        }
        Ok(Ok(()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        // the objects of a bundle whose "type" came first are handled as they are read; in any
        // other order the members are kept whole, as before
        let mut rest = Map::new();
        let mut streamed: Option<bool> = None;
        while let Some(key) = a.next_key::<String>()? {
            let is_bundle = rest.get("type").and_then(Json::as_str) == Some("bundle");
            if key == "objects" && is_bundle && streamed.is_none() {
                streamed = Some(a.next_value_seed(Objects {
                    out: &mut *self.out,
                })?);
            } else {
                let v: Json = a.next_value()?;
                rest.insert(key, v);
            }
        }
        Ok(match rest.get("type").and_then(Json::as_str) {
            Some("bundle") => match (streamed, rest.get("objects")) {
                (Some(true), _) | (None, None) => Ok(()),
                (None, Some(Json::Array(objects))) => {
                    for (i, obj) in objects.iter().enumerate() {
                        object(i, obj, self.out);
                    }
                    Ok(())
                }
                _ => Err("bundle \"objects\" is not an array".to_owned()),
            },
            Some("indicator") => {
                object(0, &Json::Object(rest), self.out);
                Ok(())
            }
            _ => Err(NOT_STIX.to_owned()),
        })
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(NOT_STIX.to_owned()))
    }
}

/// A bundle's `objects`, each handled as it is read; `false` when it is not an array.
struct Objects<'o> {
    out: &'o mut Held,
}

impl<'de> DeserializeSeed<'de> for Objects<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of STIX objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
        let mut i = 0;
        while let Some(obj) = a.next_element::<Json>()? {
            object(i, &obj, self.out);
            i += 1;
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// What the parse found, held until the whole text has parsed (see [`parse`]).
#[derive(Default)]
struct Held {
    found: Vec<Found>,
    /// The feed's `url_https`, for `url:value` comparisons.
    url_https: UrlHttps,
}

enum Found {
    Entry(String, Value, Fields),
    Bad(String, String, String),
    Skipped(String, String),
    /// The entry before was an `https://` URL.
    HttpsUrl,
}

impl Held {
    fn replay(self, out: &mut dyn FeedSink) {
        for f in self.found {
            match f {
                Found::Entry(at, v, fields) => out.entry(Location::Object(&at), v, fields),
                Found::Bad(at, reason, text) => out.bad(Location::Object(&at), &reason, &text),
                Found::Skipped(at, what) => out.skipped(Location::Object(&at), &what),
                Found::HttpsUrl => out.https_url(),
            }
        }
    }
}

impl FeedSink for Held {
    fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
        self.found.push(Found::Entry(at.to_string(), value, fields));
    }
    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
        let text = value::head(text).to_owned();
        self.found
            .push(Found::Bad(at.to_string(), reason.to_owned(), text));
    }
    fn skipped(&mut self, at: Location<'_>, what: &str) {
        self.found
            .push(Found::Skipped(at.to_string(), what.to_owned()));
    }
    fn https_url(&mut self) {
        self.found.push(Found::HttpsUrl);
    }
}

fn indicator(o: &Map<String, Json>, index: usize, out: &mut Held) {
    let id = match o.get("id").and_then(Json::as_str) {
        Some(id) => id.to_owned(),
        None => format!("objects[{index}]"),
    };
    let at = Location::Object(&id);
    if o.get("revoked") == Some(&Json::Bool(true)) {
        return out.skipped(at, "stix revoked");
    }
    match o.get("pattern_type") {
        None => {}
        Some(Json::String(t)) if t == "stix" => {}
        Some(Json::String(t)) => {
            return out.skipped(at, &format!("stix pattern_type {}", what_name(t)));
        }
        Some(_) => return out.bad(at, "pattern_type is not a string", ""),
    }
    let Some(pattern) = o.get("pattern").and_then(Json::as_str) else {
        return out.bad(at, "no pattern string", "");
    };
    if pattern.len() > MAX_PATTERN_LEN {
        let reason = format!("pattern longer than {MAX_PATTERN_LEN} bytes");
        return out.bad(at, &reason, pattern);
    }
    let fields = match fields(o) {
        Ok(f) => f,
        Err(reason) => return out.bad(at, &reason, ""),
    };
    let comparisons = match parse_pattern(pattern) {
        Ok(c) => c,
        Err(PatternError::Unsupported(why)) => {
            return out.skipped(at, &format!("stix pattern unsupported: {why}"));
        }
        Err(PatternError::Malformed(why)) => {
            return out.bad(at, &format!("bad pattern: {why}"), pattern);
        }
    };
    for c in comparisons {
        match c.value(out.url_https) {
            Ok((v, mode, https)) => {
                let mut f = fields.clone();
                if mode.is_some() {
                    f.match_mode = mode;
                }
                out.entry(at, v, f);
                if https {
                    out.https_url();
                }
            }
            Err(reason) => out.bad(at, &reason, &c.literal),
        }
    }
}

fn fields(o: &Map<String, Json>) -> Result<Fields, String> {
    let text = |k: &str| {
        o.get(k)
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let time = |k: &str| {
        text(k)
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{k}: {e}"))
    };
    let confidence = match o.get("confidence") {
        None | Some(Json::Null) => None,
        Some(c) => Some(parse_confidence(&c.to_string())?),
    };
    let mut tags = Vec::new();
    for k in ["labels", "indicator_types"] {
        if let Some(Json::Array(a)) = o.get(k) {
            for t in a.iter().filter_map(Json::as_str).map(str::trim) {
                if !t.is_empty() {
                    push_tag(&mut tags, t);
                }
            }
        }
    }
    let reference = match o.get("external_references") {
        Some(Json::Array(refs)) => refs
            .iter()
            .find_map(|r| r.get("url").and_then(Json::as_str))
            .map(str::to_owned),
        _ => None,
    };
    Ok(Fields {
        confidence,
        tags,
        description: text("description").or(text("name")).map(str::to_owned),
        reference,
        valid_from: time("valid_from")?,
        valid_until: time("valid_until")?,
        id: text("id").map(str::to_owned),
        ..Fields::default()
    })
}

#[derive(Debug, PartialEq, Eq)]
enum PatternError {
    /// Well-formed, but beyond the subset: the indicator is skipped under this reason.
    Unsupported(String),
    /// Not a pattern.
    Malformed(String),
}

use PatternError::{Malformed, Unsupported};

/// One supported comparison: `<object>:value = '<literal>'` or `ISSUBSET`.
#[derive(Debug, PartialEq, Eq)]
struct Comparison {
    object: Object,
    subset: bool,
    literal: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Ipv4,
    Ipv6,
    Domain,
    /// `url:value`, `email-addr:value`, `file:hashes.*`, `x509-certificate:hashes.*`.
    Token(Token),
}

/// The object of a comparison's path, for the paths iocd reads; `Err` names a hash iocd does
/// not match (a certificate's MD5).
fn object_of(path: &str) -> Result<Option<Object>, String> {
    Ok(Some(match path {
        "ipv4-addr:value" => Object::Ipv4,
        "ipv6-addr:value" => Object::Ipv6,
        "domain-name:value" => Object::Domain,
        "url:value" => Object::Token(Token::Url),
        "email-addr:value" => Object::Token(Token::Email),
        _ => {
            let (cert, hash) = match (
                path.strip_prefix("file:hashes."),
                path.strip_prefix("x509-certificate:hashes."),
            ) {
                (Some(h), _) => (false, h),
                (None, Some(h)) => (true, h),
                (None, None) => return Ok(None),
            };
            // `'SHA-256'`, `SHA256`, `'sha-256'`: STIX names the hash algorithms of its
            // vocabulary with the dash and quoted; producers vary
            let name: String = hash
                .trim_matches('\'')
                .chars()
                .filter(|&c| c != '-')
                .collect::<String>()
                .to_ascii_uppercase();
            Object::Token(match (cert, name.as_str()) {
                (false, "MD5") => Token::Md5,
                (false, "SHA1") => Token::Sha1,
                (false, "SHA256") => Token::Sha256,
                (true, "SHA1") => Token::CertSha1,
                (true, "SHA256") => Token::CertSha256,
                _ => return Err(format!("path {}", what_name(path))),
            })
        }
    }))
}

impl Comparison {
    /// The value, the match mode it takes (a URL's host with `url_https = "host"`: exact), and
    /// whether it was an `https://` URL.
    fn value(&self, url_https: UrlHttps) -> Result<(Value, Option<MatchMode>, bool), String> {
        let s = self.literal.as_str();
        match self.object {
            Object::Token(Token::Url) => super::url_entry(s, url_https),
            Object::Token(t) => value::parse_token(t, s).map(|v| (v, None, false)),
            Object::Domain => value::parse_domain(s).map(|v| (v, None, false)),
            Object::Ipv4 | Object::Ipv6 => {
                let v = if self.subset || s.contains('/') {
                    value::parse_cidr(s)?
                } else {
                    value::parse_ip(s)?
                };
                let v4 = match &v {
                    Value::Ip(a) => a.is_ipv4(),
                    Value::Cidr(n) => matches!(n, ipnet::IpNet::V4(_)),
                    Value::Domain(_) | Value::Token(..) => false,
                };
                match (self.object, v4) {
                    (Object::Ipv4, false) => Err(format!("ipv4-addr with an IPv6 value {s:?}")),
                    (Object::Ipv6, true) => Err(format!("ipv6-addr with an IPv4 value {s:?}")),
                    _ => Ok((v, None, false)),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Open,       // [
    Close,      // ]
    ParenOpen,  // (
    ParenClose, // )
    Comma,      // , in set literals `('a', 'b')`
    /// An object path `type:property...`.
    Path(&'a str),
    /// A keyword or other bare word (`OR`, `AND`, `ISSUBSET`, `true`...).
    Word(&'a str),
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Op(&'a str),
    /// A string literal, unescaped.
    Str(String),
    /// A number, or a typed literal (`t'...'`, `h'...'`, `b'...'`).
    Literal,
}

fn tokenize(p: &str) -> Result<Vec<Tok<'_>>, PatternError> {
    let b = p.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'[' | b']' | b'(' | b')' | b',' => {
                toks.push(match c {
                    b',' => Tok::Comma,
                    b'[' => Tok::Open,
                    b']' => Tok::Close,
                    b'(' => Tok::ParenOpen,
                    _ => Tok::ParenClose,
                });
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                i += 1;
                if b.get(i) == Some(&b'=') {
                    i += 1;
                }
                let op = &p[start..i];
                if op == "!" {
                    return Err(Malformed("`!` without `=`".to_owned()));
                }
                toks.push(Tok::Op(op));
            }
            b'\'' => {
                let (s, end) = string(p, i)?;
                toks.push(Tok::Str(s));
                i = end;
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                toks.push(Tok::Literal);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-')
                {
                    i += 1;
                }
                if b.get(i) == Some(&b'\'') && matches!(&p[start..i], "t" | "h" | "b") {
                    // typed literal: t'2016-01-01T00:00:00Z', h'ff', b'...'
                    i = string(p, i)?.1;
                    toks.push(Tok::Literal);
                } else if b.get(i) == Some(&b':') {
                    i = path_end(b, i + 1)?;
                    toks.push(Tok::Path(&p[start..i]));
                } else {
                    toks.push(Tok::Word(&p[start..i]));
                }
            }
            _ => {
                let ch = p[i..].chars().next().unwrap_or('?');
                return Err(Malformed(format!("unexpected {ch:?}")));
            }
        }
    }
    Ok(toks)
}

/// A string literal starting at the quote at `i`: its unescaped text and the index after it.
fn string(p: &str, i: usize) -> Result<(String, usize), PatternError> {
    let mut s = String::new();
    let mut chars = p[i + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '\'' => return Ok((s, i + 1 + j + 1)),
            '\\' => match chars.next() {
                Some((_, e @ ('\'' | '\\'))) => s.push(e),
                _ => {
                    return Err(Malformed(
                        "bad escape in string (only \\' and \\\\)".to_owned(),
                    ))
                }
            },
            c => s.push(c),
        }
    }
    Err(Malformed("unterminated string".to_owned()))
}

/// The end of an object path's properties starting at `i` (after the `:`): names, `.`, quoted
/// names (`hashes.'SHA-256'`) and list indexes (`[*]`, `[0]`).
fn path_end(b: &[u8], mut i: usize) -> Result<usize, PatternError> {
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.' => i += 1,
            b'\'' => {
                let close = b[i + 1..].iter().position(|&c| c == b'\'');
                i += close.ok_or(Malformed("unterminated quoted path".to_owned()))? + 2;
            }
            b'[' => {
                let close = b[i + 1..].iter().position(|&c| c == b']');
                let close = close.ok_or(Malformed("unterminated path index".to_owned()))?;
                let idx = &b[i + 1..i + 1 + close];
                if idx != b"*" && (idx.is_empty() || !idx.iter().all(u8::is_ascii_digit)) {
                    return Err(Malformed("bad path index".to_owned()));
                }
                i += close + 2;
            }
            _ => break,
        }
    }
    Ok(i)
}

/// The comparisons of a pattern in the supported subset, in order.
fn parse_pattern(p: &str) -> Result<Vec<Comparison>, PatternError> {
    let toks = tokenize(p)?;
    let mut parser = Parser {
        toks: &toks,
        pos: 0,
        found: Vec::new(),
    };
    parser.observations(0)?;
    match parser.toks.get(parser.pos) {
        None => Ok(parser.found),
        Some(t) => Err(parser.unexpected(t)),
    }
}

struct Parser<'t, 'a> {
    toks: &'t [Tok<'a>],
    pos: usize,
    found: Vec<Comparison>,
}

impl<'a> Parser<'_, 'a> {
    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += usize::from(t.is_some());
        t
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.pos)
    }

    /// What an unexpected token means: a keyword beyond the subset, or a syntax error.
    fn unexpected(&self, t: &Tok<'_>) -> PatternError {
        match t {
            Tok::Word(w) => match w.to_ascii_uppercase().as_str() {
                k @ ("AND" | "FOLLOWEDBY" | "NOT" | "EXISTS") => Unsupported(k.to_owned()),
                k @ ("WITHIN" | "REPEATS" | "START" | "STOP") => {
                    Unsupported(format!("qualifier {k}"))
                }
                k @ ("LIKE" | "MATCHES" | "IN" | "ISSUPERSET" | "ISSUBSET") => {
                    Unsupported(format!("operator {k}"))
                }
                _ => Malformed(format!("unexpected \"{}\"", value::cut(w))),
            },
            Tok::Op(op) => Unsupported(format!("operator {op}")),
            t => Malformed(format!("unexpected {t:?}")),
        }
    }

    fn expect(&mut self, want: Tok<'static>) -> Result<(), PatternError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(self.unexpected(&t)),
            None => Err(Malformed(format!("ends where {want:?} was expected"))),
        }
    }

    fn is_or(&self) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("OR"))
    }

    /// observation ( OR observation )*
    fn observations(&mut self, depth: usize) -> Result<(), PatternError> {
        loop {
            self.observation(depth)?;
            if !self.is_or() {
                return Ok(());
            }
            self.pos += 1;
        }
    }

    /// `[ comparisons ]` | `( observations )`
    fn observation(&mut self, depth: usize) -> Result<(), PatternError> {
        if depth >= MAX_PATTERN_DEPTH {
            return Err(Malformed(format!("nested deeper than {MAX_PATTERN_DEPTH}")));
        }
        match self.next() {
            Some(Tok::Open) => {
                self.comparisons(depth + 1)?;
                self.expect(Tok::Close)
            }
            Some(Tok::ParenOpen) => {
                self.observations(depth + 1)?;
                self.expect(Tok::ParenClose)
            }
            Some(t) => Err(self.unexpected(&t)),
            None => Err(Malformed("ends where [ was expected".to_owned())),
        }
    }

    /// comparison ( OR comparison )*
    fn comparisons(&mut self, depth: usize) -> Result<(), PatternError> {
        loop {
            self.comparison(depth)?;
            if !self.is_or() {
                return Ok(());
            }
            self.pos += 1;
        }
    }

    /// `path = 'literal'` | `path ISSUBSET 'cidr'` | `( comparisons )`
    fn comparison(&mut self, depth: usize) -> Result<(), PatternError> {
        if depth >= MAX_PATTERN_DEPTH {
            return Err(Malformed(format!("nested deeper than {MAX_PATTERN_DEPTH}")));
        }
        let path = match self.next() {
            Some(Tok::ParenOpen) => {
                self.comparisons(depth + 1)?;
                return self.expect(Tok::ParenClose);
            }
            Some(Tok::Path(p)) => p,
            Some(t) => return Err(self.unexpected(&t)),
            None => return Err(Malformed("ends where a comparison was expected".to_owned())),
        };
        let object = object_of(path).map_err(Unsupported)?;
        let subset = match self.next() {
            Some(Tok::Op("=")) => false,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ISSUBSET") => true,
            Some(t) => return Err(self.unexpected(&t)),
            None => return Err(Malformed("ends where an operator was expected".to_owned())),
        };
        let literal = match self.next() {
            Some(Tok::Str(s)) => s,
            Some(Tok::Literal | Tok::Word(_)) => {
                return Err(Unsupported("non-string value".to_owned()))
            }
            Some(t) => return Err(self.unexpected(&t)),
            None => return Err(Malformed("ends where a value was expected".to_owned())),
        };
        let Some(object) = object else {
            return Err(Unsupported(format!("path {}", what_name(path))));
        };
        if subset && !matches!(object, Object::Ipv4 | Object::Ipv6) {
            return Err(Unsupported(format!("ISSUBSET on {}", what_name(path))));
        }
        self.found.push(Comparison {
            object,
            subset,
            literal,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};

    const SAMPLE: &str = include_str!("../../../tests/feeds/stix-bundle.json");

    fn run(text: &str) -> Result<Collect, String> {
        let mut c = Collect::default();
        parse(text, &FeedConfig::from_path("b.json".into()), &mut c)?;
        Ok(c)
    }

    fn t(s: &str) -> Option<i64> {
        Some(parse_time(s).unwrap())
    }

    fn ip(s: &str) -> Value {
        Value::Ip(s.parse().unwrap())
    }

    fn dom(s: &str) -> Value {
        Value::Domain(s.as_bytes().to_vec())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bundle_indicators_map_to_entries_skips_and_bad_ones() {
        let c = run(SAMPLE).unwrap();
        let id = |s: &str| format!("indicator--{s}");
        let cs = Fields {
            confidence: Some(85),
            tags: strings(&["cobalt-strike", "c2", "malicious-activity"]),
            description: Some("Team server seen beaconing from victim networks".into()),
            reference: Some("https://blog.example/cobalt-strike-2024".into()),
            valid_from: t("2024-04-30T09:15:00Z"),
            id: Some(id("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
            ..Fields::default()
        };
        let phish = Fields {
            tags: strings(&["malicious-activity", "attribution"]),
            description: Some("Phishing domains".into()),
            valid_from: t("2024-04-29T11:00:00Z"),
            valid_until: t("2024-10-29T11:00:00Z"),
            id: Some(id("0c4c5a3d-8e53-4d2a-9c1d-c3a6ae0d0f18")),
            ..Fields::default()
        };
        let pair = Fields {
            valid_from: t("2024-04-28T00:00:00Z"),
            id: Some(id("1f0b0a1e-6e0b-4f5e-b7a1-0f6d8a5c7e21")),
            ..Fields::default()
        };
        let range = Fields {
            confidence: Some(60),
            description: Some("Bulletproof hosting range".into()),
            valid_from: t("2024-03-01T00:00:00Z"),
            id: Some(id("7a3b5d6c-2f9e-4a8b-b1c0-d4e5f6a7b8c9")),
            ..Fields::default()
        };
        let expired = Fields {
            description: Some("Old sinkholed domain".into()),
            valid_from: t("2023-01-01T00:00:00Z"),
            valid_until: t("2023-06-01T00:00:00Z"),
            id: Some(id("c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f")),
            ..Fields::default()
        };
        let half = Fields {
            valid_from: t("2024-04-01T00:00:00Z"),
            id: Some(id("4e5f6a7b-8c9d-4e0f-8a1b-3c4d5e6f7081")),
            ..Fields::default()
        };
        let sample = Fields {
            description: Some("Loader sample".into()),
            valid_from: t("2024-04-01T00:00:00Z"),
            id: Some(id("f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f708192")),
            ..Fields::default()
        };
        let sha256 = value::parse_token(
            Token::Sha256,
            "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
        )
        .unwrap();
        let url = Fields {
            valid_from: t("2024-04-01T00:00:00Z"),
            id: Some(id("1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e")),
            ..Fields::default()
        };
        let at = |f: &Fields| f.id.clone().unwrap();
        assert_eq!(
            c.entries,
            vec![
                (at(&cs), ip("198.51.100.1"), cs.clone()),
                (at(&phish), dom("evil-login.example"), phish.clone()),
                (at(&phish), dom("cdn.evil-login.example"), phish.clone()),
                (at(&pair), ip("203.0.113.10"), pair.clone()),
                (at(&pair), ip("2001:db8::10"), pair.clone()),
                (
                    at(&range),
                    Value::Cidr("198.51.100.0/24".parse().unwrap()),
                    range.clone()
                ),
                (at(&expired), dom("old-c2.example"), expired.clone()),
                (at(&sample), sha256.clone(), sample.clone()),
                (
                    at(&url),
                    Value::Token(Token::Url, b"evil.example/it's".to_vec()),
                    url.clone()
                ),
                (at(&half), ip("192.0.2.66"), half.clone()),
            ]
        );
        let skipped: Vec<(String, &str)> = c
            .skipped
            .iter()
            .map(|(a, b)| (a.clone(), b.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (id("d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70"), "stix revoked"),
                (
                    id("e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7081"),
                    "stix pattern unsupported: AND"
                ),
                (
                    id("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
                    "stix pattern unsupported: qualifier REPEATS"
                ),
                (
                    id("2c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f"),
                    "stix pattern_type snort"
                ),
            ]
        );
        let bad: Vec<(String, &str)> = c.bad.iter().map(|(a, b)| (a.clone(), b.as_str())).collect();
        assert_eq!(
            bad,
            [
                (
                    id("3d4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70"),
                    "bad pattern: ends where Close was expected"
                ),
                (
                    id("4e5f6a7b-8c9d-4e0f-8a1b-3c4d5e6f7081"),
                    "ipv4-addr with an IPv6 value \"2001:db8::1\""
                ),
                (
                    id("5f6a7b8c-9d0e-4f1a-9b2c-4d5e6f708192"),
                    "bad confidence \"120\": an integer 0 to 100"
                ),
            ]
        );
    }

    fn pattern(p: &str) -> Result<Vec<(Object, bool, &str)>, PatternError> {
        // leak is fine in a test: lets the result borrow nothing from the parser
        let found = parse_pattern(p)?;
        Ok(found
            .into_iter()
            .map(|c| (c.object, c.subset, &*String::leak(c.literal)))
            .collect())
    }

    #[test]
    fn bundle_read_object_by_object_in_any_key_order_and_all_or_nothing() {
        let obj = r#"{"type": "indicator", "id": "indicator--1", "pattern": "[domain-name:value = 'a.example']", "pattern_type": "stix"}"#;
        for text in [
            format!(r#"{{"type": "bundle", "id": "bundle--1", "objects": [{obj}, 7]}}"#),
            format!(r#"{{"objects": [{obj}, 7], "id": "bundle--1", "type": "bundle"}}"#),
        ] {
            let c = run(&text).unwrap();
            assert_eq!(c.entries.len(), 1, "{text}");
            assert_eq!(
                c.bad,
                [("objects[1]".to_owned(), "not a JSON object".to_owned())]
            );
            // cut short: not JSON, and nothing reached the sink
            let mut c = Collect::default();
            let r = parse(
                &text[..text.len() - 2],
                &FeedConfig::from_path("f.json".into()),
                &mut c,
            );
            assert!(r.unwrap_err().starts_with("not JSON"));
            assert!(c.entries.is_empty() && c.bad.is_empty());
        }
        let c = run(obj).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert!(run(r#"{"type": "bundle", "objects": 3}"#).is_err());
        assert!(run(r#"{"type": "malware"}"#).is_err());
    }

    #[test]
    fn pattern_subset_parses() {
        use Object::*;
        assert_eq!(
            pattern("[ipv4-addr:value = '192.0.2.1']"),
            Ok(vec![(Ipv4, false, "192.0.2.1")])
        );
        assert_eq!(
            pattern("([domain-name:value='a.example' OR (ipv6-addr:value = '2001:db8::/32')]) OR [ipv4-addr:value ISSUBSET '10.0.0.0/8']"),
            Ok(vec![(Domain, false, "a.example"), (Ipv6, false, "2001:db8::/32"), (Ipv4, true, "10.0.0.0/8")])
        );
        assert_eq!(
            pattern(r"[domain-name:value = 'it\'s\\here']"),
            Ok(vec![(Domain, false, r"it's\here")]),
            "escapes"
        );
        assert_eq!(
            pattern("[ipv4-addr:value = '192.0.2.1'] or [ipv4-addr:value = '192.0.2.2']")
                .map(|v| v.len()),
            Ok(2)
        );
    }

    #[test]
    fn hash_url_email_and_certificate_paths_load_each_comparison_of_an_or() {
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let sha1 = "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let pattern = format!(
            "[file:hashes.'SHA-256' = '{sha256}' OR file:hashes.MD5 = '{md5}' OR \
             file:hashes.SHA1 = '{sha1}'] OR [x509-certificate:hashes.'SHA-1' = '{sha1}'] OR \
             [x509-certificate:hashes.'SHA-256' = '{sha256}'] OR \
             [email-addr:value = 'Billing@Evil-Invoices.example'] OR \
             [url:value = 'https://dl.evil.example/a/../x.exe']"
        );
        let text = serde_json::json!({
            "type": "indicator", "id": "indicator--1", "pattern": pattern,
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"
        })
        .to_string();
        let c = run(&text).unwrap();
        assert!(c.bad.is_empty() && c.skipped.is_empty(), "{c:?}");
        let got: Vec<(&str, String)> = c
            .entries
            .iter()
            .map(|(_, v, _)| match v {
                Value::Token(t, k) => (t.as_str(), t.text(k)),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("sha256", sha256.to_owned()),
                ("md5", md5.to_owned()),
                ("sha1", sha1.to_owned()),
                ("cert_sha1", sha1.to_owned()),
                ("cert_sha256", sha256.to_owned()),
                ("email", "billing@evil-invoices.example".to_owned()),
                ("url", "dl.evil.example/x.exe".to_owned()),
            ]
        );
        // a decoy: one digit short is a bad entry, not a different hash
        let text = text.replace(md5, &md5[1..]);
        let c = run(&text).unwrap();
        assert_eq!(c.bad.len(), 1, "{c:?}");
        assert!(c.bad[0].1.contains("not a md5"), "{c:?}");
        // AND stays unsupported, whatever its paths
        let and = serde_json::json!({
            "type": "indicator", "id": "indicator--2", "pattern_type": "stix",
            "pattern": format!("[file:hashes.MD5 = '{md5}' AND file:size = 10]"),
        })
        .to_string();
        let c = run(&and).unwrap();
        assert_eq!(c.skipped[0].1, "stix pattern unsupported: AND");
    }

    #[test]
    fn patterns_beyond_the_subset_are_unsupported_with_a_reason() {
        let un = |p: &str| match parse_pattern(p) {
            Err(Unsupported(why)) => why,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(
            un("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']"),
            "AND"
        );
        assert_eq!(
            un("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']"),
            "FOLLOWEDBY"
        );
        assert_eq!(
            un("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS"),
            "qualifier WITHIN"
        );
        assert_eq!(
            un("[ipv4-addr:value = '1.2.3.4'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'"),
            "qualifier START"
        );
        assert_eq!(un("[ipv4-addr:value != '1.2.3.4']"), "operator !=");
        assert_eq!(un("[ipv4-addr:value NOT = '1.2.3.4']"), "NOT");
        assert_eq!(un("[domain-name:value LIKE '%.example']"), "operator LIKE");
        assert_eq!(un("[domain-name:value MATCHES '^a']"), "operator MATCHES");
        assert_eq!(
            un("[ipv4-addr:value IN ('1.2.3.4', '1.2.3.5')]"),
            "operator IN"
        );
        assert_eq!(un("[EXISTS ipv4-addr:value]"), "EXISTS");
        assert_eq!(
            un("[domain-name:value ISSUBSET 'example']"),
            "ISSUBSET on domain-name:value"
        );
        assert_eq!(
            un("[x509-certificate:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']"),
            "path x509-certificate:hashes.MD5"
        );
        assert_eq!(
            un("[file:hashes.'SSDEEP' = '3:a:b']"),
            "path file:hashes.'SSDEEP'"
        );
        assert_eq!(un("[network-traffic:dst_port = 443]"), "non-string value");
        assert_eq!(
            un("[email-message:to_refs[*].value = 'a@b.example']"),
            "path email-message:to_refs[*].value"
        );
        assert_eq!(
            un("[ipv4-addr:resolves_to_refs[0].value = '1.2.3.4']"),
            "path ipv4-addr:resolves_to_refs[0].value"
        );
    }

    #[test]
    fn malformed_patterns_are_errors_and_nesting_is_capped() {
        for p in [
            "",
            "ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = '1.2.3.4]",
            r"[ipv4-addr:value = '1.2\x3.4']",
            "[ipv4-addr:value = '1.2.3.4']]",
            "[ipv4-addr:value '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'] OR",
            "[ipv4-addr:value ! '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'] ; DROP",
        ] {
            assert!(
                matches!(parse_pattern(p), Err(Malformed(_))),
                "{p:?}: {:?}",
                parse_pattern(p)
            );
        }
        let ok = format!(
            "{}[ipv4-addr:value = '1.2.3.4']{}",
            "(".repeat(30),
            ")".repeat(30)
        );
        assert!(parse_pattern(&ok).is_ok());
        let deep = format!(
            "{}[ipv4-addr:value = '1.2.3.4']{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert_eq!(
            parse_pattern(&deep),
            Err(Malformed(format!("nested deeper than {MAX_PATTERN_DEPTH}")))
        );
    }

    #[test]
    fn bare_indicator_and_object_arrays_are_read() {
        let ind = r#"{"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}"#;
        assert_eq!(run(ind).unwrap().entries.len(), 1);
        let arr = format!("[{ind}, {{\"type\": \"identity\"}}, 3]");
        let c = run(&arr).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(
            c.bad,
            vec![("objects[2]".into(), "not a JSON object".into())]
        );
        // no id: located by position; STIX 2.0 had no pattern_type
        let c = run(r#"{"type": "bundle", "objects": [{"type": "indicator", "pattern": "[domain-name:value = 'a.example']"}]}"#).unwrap();
        assert_eq!(
            c.entries,
            vec![("objects[0]".into(), dom("a.example"), Fields::default())]
        );
        let long = format!(
            r#"{{"type": "indicator", "pattern": "{}"}}"#,
            " ".repeat(MAX_PATTERN_LEN + 1)
        );
        assert_eq!(
            run(&long).unwrap().bad[0].1,
            format!("pattern longer than {MAX_PATTERN_LEN} bytes")
        );
    }

    #[test]
    fn unusable_files_are_errors() {
        assert!(run("").unwrap_err().starts_with("not JSON"));
        assert!(run("[ipv4-addr:value = '1.2.3.4']")
            .unwrap_err()
            .starts_with("not JSON"));
        assert!(run(r#"{"type": "malware"}"#)
            .unwrap_err()
            .contains("not a STIX bundle"));
        assert!(run(r#"{"type": "bundle", "objects": {}}"#)
            .unwrap_err()
            .contains("not an array"));
        assert!(run("42").is_err());
    }

    #[test]
    fn truncated_or_mutated_stix_never_panics() {
        let f = FeedConfig::from_path("b.json".into());
        assert_never_panics(SAMPLE, &|s, c| parse(s, &f, c));
        for p in [
            "([domain-name:value='a.example' OR (ipv6-addr:value = '2001:db8::/32')]) OR [ipv4-addr:value ISSUBSET '10.0.0.0/8']",
            "[file:hashes.'SHA-256' = 'ab' AND email-message:to_refs[*].value = 'x'] WITHIN 5 SECONDS",
        ] {
            for (i, _) in p.char_indices() {
                let _ = parse_pattern(&p[..i]);
            }
        }
    }
}
