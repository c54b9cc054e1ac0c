//! Feed file formats. Each parser reads a whole feed's text and hands every entry to a
//! [`FeedSink`]: good entries with the context fields they set themselves, bad ones with a
//! location and a reason (the good ones around them still load), and well-formed entries that
//! iocd does not use (a URL indicator, a revoked STIX object) as counted skips. A parser returns
//! `Err` only when the file as a whole is unusable (not JSON, no header naming the value
//! column): the loader then treats the feed as failed, and a reload keeps its last good entries.
//!
//! Parsers validate values (see [`super::value`]) but apply no policy: feed defaults, over-broad
//! values and duplicates are the loader's.

pub mod csv;
pub mod misp;
pub mod misp_csv;
pub mod plain;
pub mod stix;
pub mod zeek;

use super::{value, Fields, Value};

/// Longest feed-supplied name (a type, a pattern type) kept in a skip reason, in characters: skip
/// reasons are counted by their text, so a hostile feed must not be able to mint unbounded
/// distinct long keys. 40 fits every real type name (`Intel::PUBKEY_HASH`, `x509-fingerprint-sha256`).
pub const MAX_WHAT_NAME_CHARS: usize = 40;

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
    /// A well-formed entry iocd does not use, counted under `what` (e.g. `"zeek Intel::URL"`,
    /// `"stix revoked"`, `"misp to_ids=false"`).
    fn skipped(&mut self, at: Location<'_>, what: &str);
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
        .ok_or_else(|| format!("bad confidence {:?}: an integer 0 to 100", value::cut(t)))
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
