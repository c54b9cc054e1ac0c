//! The plain format: one indicator per line.
//!
//! `#` starts a comment when it begins the line or follows whitespace (`evil.com # seen 2024-05`
//! is `evil.com`; `evil.com#x` is a bad line, not a silent truncation). Blank lines are ignored,
//! surrounding whitespace is trimmed, a UTF-8 byte-order mark before line 1 is ignored, and CRLF
//! line ends work. The type is read from the text ([`value::parse_value`]). A line carries no
//! context of its own: every entry takes the feed's.

use super::{FeedSink, Location};
use crate::indicators::{value, Fields};

/// Parse `text`, whose first line is line `first_line` of the file (the loader parses large
/// feeds in chunks).
pub fn parse(text: &str, first_line: usize, out: &mut dyn FeedSink) {
    let text = if first_line == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    };
    // `lines` splits on `\n` and drops a `\r` before it, so CRLF files work.
    for (i, raw) in text.lines().enumerate() {
        let at = Location::Line(first_line + i);
        let trimmed = raw.trim();
        let v = strip_comment(trimmed);
        if v.is_empty() {
            continue;
        }
        match value::parse_value(v) {
            Ok(value) => out.entry(at, value, Fields::default()),
            Err(reason) => out.bad(at, &reason, trimmed),
        }
    }
}

/// The text before a `#` that starts the line or follows whitespace; also for other line
/// formats' comment rules.
pub fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    line
}
