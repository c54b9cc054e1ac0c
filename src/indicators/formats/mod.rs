//! Feed file formats. Each parser reads a whole feed's text and hands every entry to a
//! [`FeedSink`]: good entries with the context fields they set themselves, bad ones with a
//! location and a reason (the good ones around them still load), and well-formed entries that
//! iocd does not use (a URL indicator, a revoked STIX object) as counted skips. A parser returns
//! `Err` only when the file as a whole is unusable (not JSON, no header naming the value
//! column): the loader then treats the feed as failed, and a reload keeps its last good entries.
//!
//! Parsers validate values (see [`super::value`]) but apply no policy: feed defaults, over-broad
//! values and duplicates are the loader's.

pub mod plain;

use super::{Fields, Value};

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
    /// A bad entry: why, and the offending text (cut to a readable length by the sink).
    fn bad(&mut self, at: Location<'_>, reason: &str, text: &str);
    /// A well-formed entry iocd does not use, counted under `what` (e.g. `"zeek Intel::URL"`,
    /// `"stix revoked"`, `"misp to_ids=false"`).
    fn skipped(&mut self, at: Location<'_>, what: &str);
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
