//! The plain format: one indicator per line.
//!
//! `#` starts a comment when it begins the line or follows whitespace (`evil.com # seen 2024-05`
//! is `evil.com`; `evil.com#x` is a bad line, not a silent truncation). Blank lines are ignored,
//! surrounding whitespace is trimmed, a UTF-8 byte-order mark before line 1 is ignored, and CRLF
//! line ends work. The type is read from the text ([`value::parse_value`]). A line carries no
//! context of its own: every entry takes the feed's. A line over [`MAX_LINE_BYTES`] is a bad
//! entry.

use super::{line_too_long, FeedSink, Location, MAX_LINE_BYTES};
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
        if raw.len() > MAX_LINE_BYTES {
            // only its length and a prefix are looked at: nothing of it is copied
            out.bad(at, &line_too_long(), raw);
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::Collect;
    use crate::indicators::value::MAX_ERROR_TEXT_CHARS;
    use crate::indicators::Value;

    /// (line, value) entries and (line, reason, text) errors.
    struct Parsed {
        entries: Vec<Entry>,
        errors: Vec<Bad>,
    }

    #[derive(Debug)]
    struct Entry {
        line: usize,
        value: Value,
    }

    #[derive(Debug)]
    struct Bad {
        line: usize,
        reason: String,
        text: String,
    }

    /// A sink keeping texts too.
    #[derive(Default)]
    struct Keep(Vec<Bad>, Collect);

    impl FeedSink for Keep {
        fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
            self.1.entry(at, value, fields);
        }
        fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
            let Location::Line(line) = at else { panic!() };
            self.0.push(Bad {
                line,
                reason: reason.to_owned(),
                text: value::cut(text),
            });
        }
        fn skipped(&mut self, _: Location<'_>, _: &str) {
            panic!("plain skips nothing");
        }
    }

    fn parse_all(text: &str) -> Parsed {
        let mut k = Keep::default();
        parse(text, 1, &mut k);
        let entries =
            k.1.entries
                .into_iter()
                .map(|(at, value, f)| {
                    assert_eq!(f, Fields::default());
                    Entry {
                        line: at.parse().unwrap(),
                        value,
                    }
                })
                .collect();
        Parsed {
            entries,
            errors: k.0,
        }
    }

    fn parse_pair(text: &str) -> (Vec<Entry>, Vec<Bad>) {
        let p = parse_all(text);
        (p.entries, p.errors)
    }

    /// The single error of a one-line feed.
    fn bad(line: &str) -> Bad {
        let (entries, errors) = parse_pair(line);
        assert!(entries.is_empty(), "{line:?} loaded as {entries:?}");
        assert_eq!(errors.len(), 1, "{line:?}");
        errors.into_iter().next().unwrap()
    }

    fn good(line: &str) -> Value {
        let (entries, errors) = parse_pair(line);
        assert!(errors.is_empty(), "{line:?}: {errors:?}");
        assert_eq!(entries.len(), 1, "{line:?}");
        entries.into_iter().next().unwrap().value
    }

    fn assert_reason(line: &str, needle: &str) {
        let e = bad(line);
        assert!(
            e.reason.contains(needle),
            "{line:?}: reason {:?} lacks {needle:?}",
            e.reason
        );
        assert_eq!(e.line, 1);
    }

    #[test]
    fn each_type_is_detected_from_the_text() {
        assert_eq!(good("192.0.2.1"), Value::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(
            good("2001:DB8::1"),
            Value::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            good("::ffff:1.2.3.4"),
            Value::Ip("::ffff:1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            good("10.0.0.0/8"),
            Value::Cidr("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            good("2001:db8::/32"),
            Value::Cidr("2001:db8::/32".parse().unwrap())
        );
        assert_eq!(good("0.0.0.0/0"), Value::Cidr("0.0.0.0/0".parse().unwrap()));
        assert_eq!(good("Evil.COM."), Value::Domain(b"evil.com".to_vec()));
        assert_eq!(
            good("1.2.3.4.example"),
            Value::Domain(b"1.2.3.4.example".to_vec())
        );
        assert_eq!(
            good("a\\007b.example"),
            Value::Domain(b"a\x07b.example".to_vec())
        );
    }

    #[test]
    fn one_label_name_is_accepted() {
        assert_eq!(good("com"), Value::Domain(b"com".to_vec()));
        assert_eq!(good("localhost"), Value::Domain(b"localhost".to_vec()));
    }

    #[test]
    fn comments_blanks_and_whitespace_are_skipped() {
        let (entries, errors) = parse_pair(
            "# header\n\n   \n  evil.com   # trailing comment\n\t1.2.3.4\t#tab comment\n   # indented\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<_> = entries.iter().map(|e| e.line).collect();
        assert_eq!(got, vec![4, 5]);
        assert_eq!(entries[0].value, Value::Domain(b"evil.com".to_vec()));
    }

    #[test]
    fn hash_glued_to_value_is_not_a_comment() {
        assert_reason("evil.com#frag", "'#'");
    }

    #[test]
    fn bom_on_first_line_and_crlf_are_handled() {
        let (entries, errors) =
            parse_pair("\u{feff}evil.com\r\n1.2.3.4\r\n# c\r\n10.0.0.0/8 # x\r\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].value, Value::Domain(b"evil.com".to_vec()));
        assert_eq!(entries[2].line, 4);
    }

    #[test]
    fn bom_after_line_one_is_ignored_as_idna_maps_it() {
        // UTS #46 maps U+FEFF (zero-width no-break space) to nothing, as browsers do
        let (entries, errors) = parse_pair("a.com\n\u{feff}b.com\n");
        assert!(errors.is_empty());
        assert_eq!(entries[1].value, Value::Domain(b"b.com".to_vec()));
    }

    #[test]
    fn bad_ipv4_is_not_taken_for_a_domain() {
        assert_reason("1.2.3.256", "invalid IPv4 address");
        assert_reason("1.2.3", "invalid IPv4 address");
        assert_reason("1.2.3.4.5", "invalid IPv4 address");
        assert_reason("010.1.1.1", "invalid IPv4 address");
    }

    #[test]
    fn bad_ipv6_is_not_taken_for_a_domain() {
        assert_reason("2001:db8::g", "invalid IPv6 address");
        assert_reason("2001:db8:::1", "invalid IPv6 address");
        assert_reason("fe80::1%eth0", "invalid IPv6 address");
    }

    #[test]
    fn all_numeric_last_label_is_refused() {
        assert_reason("host.123", "all digits");
        // an address written with escapes is still not a domain
        assert_reason("\\049.2.3.4", "all digits");
    }

    #[test]
    fn bad_prefix_length_is_refused() {
        assert_reason("10.0.0.0/33", "bad prefix length \"33\": must be 0 to 32");
        assert_reason("2001:db8::/129", "must be 0 to 128");
        assert_reason("10.0.0.0/", "bad prefix length");
        assert_reason("10.0.0.0/x", "bad prefix length");
        assert_reason("10.0.0.0/+8", "bad prefix length");
        assert_reason("10.0.0.0/8/8", "bad prefix length");
    }

    #[test]
    fn bad_address_in_cidr_is_refused() {
        assert_reason(
            "10.0.0.256/24",
            "invalid IPv4 address before the prefix length",
        );
        assert_reason(
            "2001:zz8::/32",
            "invalid IPv6 address before the prefix length",
        );
    }

    #[test]
    fn cidr_with_host_bits_set_is_refused_naming_the_network() {
        assert_reason("10.1.2.3/8", "host bits set");
        assert_reason("10.1.2.3/8", "10.0.0.0/8 is");
        assert_reason("2001:db8::1/64", "2001:db8::/64 is");
    }

    #[test]
    fn bad_domain_char_is_refused() {
        assert_reason("evil,com", "','");
        assert_reason("user@evil.com", "'@'");
        assert_reason("bad name.com", "' '");
        assert_reason("evil.com/path", "'/'");
    }

    #[test]
    fn label_too_long_is_refused() {
        assert_reason(&format!("{}.com", "a".repeat(64)), "label longer than 63");
    }

    #[test]
    fn name_too_long_is_refused() {
        assert_reason(&["abcdefghi"; 26].join("."), "name longer than 253");
    }

    #[test]
    fn bad_escape_is_refused() {
        assert_reason("a\\25.com", "bad escape");
        assert_reason("a\\256.com", "bad escape");
        assert_reason("a\\x41.com", "bad escape");
    }

    #[test]
    fn empty_label_is_refused() {
        assert_reason("a..com", "empty label");
        assert_reason(".com", "empty label");
    }

    #[test]
    fn url_instead_of_domain_is_refused() {
        assert_reason("http://evil.com/login", "a URL");
        assert_reason("hxxps://evil.com", "a URL");
    }

    #[test]
    fn line_over_max_line_bytes_is_bad_and_its_neighbours_load() {
        use crate::indicators::formats::MAX_LINE_BYTES;
        let long = "a".repeat(MAX_LINE_BYTES + 1);
        // exactly MAX_LINE_BYTES is still a line (a name and a long comment)
        let at_limit = format!("b.com #{}", "x".repeat(MAX_LINE_BYTES - 7));
        assert_eq!(at_limit.len(), MAX_LINE_BYTES);
        let (entries, errors) = parse_pair(&format!("a.com\n{long}\n{at_limit}\nc.com\n"));
        let lines: Vec<_> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(
            errors[0].reason,
            format!("line longer than {MAX_LINE_BYTES} bytes")
        );
        assert_eq!(errors[0].text.len(), MAX_ERROR_TEXT_CHARS + 3);
    }

    #[test]
    fn long_bad_line_text_is_cut() {
        let e = bad(&format!("{}!", "a".repeat(300)));
        assert_eq!(e.text.chars().count(), MAX_ERROR_TEXT_CHARS + 3);
        assert!(e.text.ends_with("..."));
    }

    #[test]
    fn good_lines_around_bad_ones_load_with_their_line_numbers() {
        let text = "\
# feed
evil.com
1.2.3.256
10.0.0.0/8

10.1.2.3/8
2001:db8::1 # v6
http://x.com/
bad..name
good.example
";
        let (entries, errors) = parse_pair(text);
        let lines: Vec<_> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 7, 10]);
        let bad: Vec<_> = errors.iter().map(|e| (e.line, e.text.as_str())).collect();
        assert_eq!(
            bad,
            vec![
                (3, "1.2.3.256"),
                (6, "10.1.2.3/8"),
                (8, "http://x.com/"),
                (9, "bad..name")
            ]
        );
        assert_eq!(errors[0].reason, "invalid IPv4 address");
    }

    #[test]
    fn unicode_names_load_as_punycode() {
        assert_eq!(
            good("bücher.de"),
            Value::Domain(b"xn--bcher-kva.de".to_vec())
        );
    }
}
