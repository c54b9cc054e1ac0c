//! MISP warninglists (`format = "misp_warninglist"`): one `list.json` of the
//! [misp-warninglists](https://github.com/MISP/misp-warninglists) repository, the lists of
//! known-benign values (CDN ranges, top sites, public resolvers) MISP checks attributes against:
//!
//! ```json
//! {"description": "List of known Cloudflare IP ranges (https://www.cloudflare.com/ips/)",
//!  "list": ["103.21.244.0/22", "104.16.0.0/13", "2400:cb00::/32"],
//!  "matching_attributes": ["ip-src", "ip-dst", "domain|ip"],
//!  "name": "List of known Cloudflare IP ranges", "type": "cidr", "version": 20241104}
//! ```
//!
//! The list's `type` says how MISP matches its entries, and so how they load:
//!
//! | `type`      | MISP matches                        | loaded as                               |
//! |-------------|-------------------------------------|-----------------------------------------|
//! | `cidr`      | an address inside an entry          | addresses and CIDRs                     |
//! | `hostname`  | the name or any name below it       | names in `subdomain` mode; addresses    |
//! | `string`    | the whole value, exactly            | addresses; names of two or more labels in `exact` mode; MD5/SHA-1/SHA-256 hex digests (`lists/empty-hashes`: file hashes), e-mail addresses and `http(s)://` URLs as those indicator types; anything else (bare TLDs, CIDR text) skipped and counted |
//! | `substring`, `regex` | inside the value / a pattern | refused: the feed is unusable, with a message naming the type (iocd's tables match whole values, suffixes and prefixes only) |
//!
//! `matching_attributes` is not used: an observable on the wire is an address or a name, and
//! the entry's shape says which. `name`, `description` and `version` are not loaded. What the
//! list does is the feed's `action`: `allow` (an allowlist) or `flag` (events whose observable
//! is on the list name it in `"warninglist"`). Bad entries are reported at their file line.

use std::borrow::Cow;

use serde::Deserialize;

use super::{what_name, FeedSink, Location};
use crate::config::FeedConfig;
use crate::indicators::{value, Fields, MatchMode, Value};
use crate::observe::Token;

#[derive(Deserialize)]
struct List<'a> {
    #[serde(rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    list: Option<Vec<Entry<'a>>>,
}

/// A list entry, borrowed from the text unless it has a JSON escape (serde borrows a `Cow`
/// only when it is a field of its own, not inside a `Vec`).
#[derive(Deserialize)]
struct Entry<'a>(#[serde(borrow)] Cow<'a, str>);

/// Parse one warninglist `list.json`.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc: List<'_> = serde_json::from_str(text).map_err(|e| {
        format!("not a MISP warninglist (a JSON object with \"type\" and \"list\"): {e}")
    })?;
    let kind = doc
        .kind
        .ok_or("not a MISP warninglist: no \"type\"")?
        .to_ascii_lowercase();
    let mode = match kind.as_str() {
        "cidr" => None,
        "hostname" => Some(MatchMode::Subdomain),
        "string" => Some(MatchMode::Exact),
        "substring" | "regex" => {
            return Err(format!(
                "MISP warninglist type \"{kind}\" is not supported: its entries match {} a value, \
                 which iocd's exact, subdomain and CIDR tables cannot do (cidr, hostname and string \
                 lists load)",
                if kind == "regex" { "as patterns over" } else { "anywhere inside" }
            ))
        }
        other => {
            return Err(format!(
                "unknown MISP warninglist type \"{}\" (cidr, hostname, string, substring, regex)",
                what_name(other)
            ))
        }
    };
    let list = doc.list.ok_or("not a MISP warninglist: no \"list\"")?;
    let mut lines = LineOf::new(text);
    for Entry(entry) in &list {
        let at = Location::Line(lines.of(entry));
        let v = entry.trim();
        if v.is_empty() {
            out.bad(at, "empty entry", v);
            continue;
        }
        match mode {
            None => match value::parse_cidr(v) {
                Ok(value) => out.entry(at, value, Fields::default()),
                Err(reason) => out.bad(at, &reason, v),
            },
            // hostname lists (a warninglist has no subdomains-only type)
            Some(m @ (MatchMode::Subdomain | MatchMode::SubdomainsOnly | MatchMode::Prefix)) => {
                match value::parse_value(v) {
                    Ok(Value::Domain(name)) => name_entry(at, &name, m, feed, out),
                    Ok(value) => out.entry(at, value, Fields::default()),
                    Err(reason) => out.bad(at, &reason, v),
                }
            }
            Some(MatchMode::Exact) => match value::parse_value(v) {
                Ok(Value::Ip(ip)) => out.entry(at, Value::Ip(ip), Fields::default()),
                Ok(Value::Domain(name)) if name.contains(&b'.') && hostname_shaped(v) => {
                    name_entry(at, &name, MatchMode::Exact, feed, out)
                }
                // `lists/empty-hashes` and the like: digests, addresses, URLs are exact values too
                _ => match super::hash_by_shape(v) {
                    Some(kind) => token(kind, v, at, out),
                    None if v.contains("://") => {
                        super::emit_url(v, feed.url_https, at, Fields::default(), v, out)
                    }
                    None if v.contains('@') && !v.contains(char::is_whitespace) => {
                        token(Token::Email, v, at, out)
                    }
                    None => out.skipped(
                        at,
                        "misp_warninglist string value not an address, a name, a hash, an e-mail address or a URL",
                    ),
                },
            },
        }
    }
    Ok(())
}

/// A hash or e-mail entry of `kind`.
fn token(kind: Token, v: &str, at: Location<'_>, out: &mut dyn FeedSink) {
    match value::parse_token(kind, v) {
        Ok(value) => out.entry(at, value, Fields::default()),
        Err(reason) => out.bad(at, &reason, v),
    }
}

/// A name entry in `mode`: the loader's fast path when that is the feed's own mode.
fn name_entry(
    at: Location<'_>,
    name: &[u8],
    mode: MatchMode,
    feed: &FeedConfig,
    out: &mut dyn FeedSink,
) {
    if mode == feed.match_mode {
        out.entry_name(at, name);
    } else {
        let fields = Fields {
            match_mode: Some(mode),
            ..Fields::default()
        };
        out.entry(at, Value::Domain(name.to_vec()), fields);
    }
}

/// Letters, digits, `-`, `_` and dots only: a string entry that is a host name, not a hash
/// with a dot in it or a path.
fn hostname_shaped(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The 1-based line of each entry borrowed from `text`, for entries in file order (counting
/// newlines once over the file); an entry copied out of the text (it had a JSON escape) gets
/// the line of the entry before it.
struct LineOf<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
}

impl<'t> LineOf<'t> {
    fn new(text: &'t str) -> Self {
        LineOf {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// `entry` is borrowed from the text or a copy (a live copy never lies inside the text).
    fn of(&mut self, entry: &str) -> usize {
        let start = self.text.as_ptr() as usize;
        let at = (entry.as_ptr() as usize).wrapping_sub(start);
        if at <= self.text.len() && at >= self.pos {
            let between = self.text.as_bytes().get(self.pos..at).unwrap_or_default();
            self.line += memchr::memchr_iter(b'\n', between).count();
            self.pos = at;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};

    fn feed() -> FeedConfig {
        let mut f = FeedConfig::from_path("lists/x/list.json".into());
        f.format = crate::config::FeedFormat::MispWarninglist;
        f
    }

    fn sample(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/feeds/warninglists")
            .join(name)
            .join("list.json");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn values(c: &Collect) -> Vec<String> {
        c.entries
            .iter()
            .map(|(_, v, f)| {
                let text = match v {
                    Value::Ip(a) => a.to_string(),
                    Value::Cidr(n) => n.to_string(),
                    Value::Domain(d) => crate::name::escape(d),
                    Value::Token(t, k) => t.text(k),
                };
                match f.match_mode {
                    Some(m) => format!("{text} {}", m.as_str()),
                    None => text,
                }
            })
            .collect()
    }

    #[test]
    fn a_cidr_list_loads_addresses_and_ranges_and_reports_bad_ones_at_their_line() {
        let mut c = Collect::default();
        parse(&sample("cloudflare"), &feed(), &mut c).unwrap();
        let v = values(&c);
        assert!(v.contains(&"104.16.0.0/13".to_owned()), "{v:?}");
        assert!(v.contains(&"2606:4700::/32".to_owned()), "{v:?}");
        assert_eq!(v.len(), 8, "{v:?}");
        // the entry on line 4 is a CIDR
        assert_eq!(c.entries[0].0, "4");
        let text = r#"{"type": "cidr",
"list": ["192.0.2.0/24",
 "192.0.2.300",
 "2001:db8::1"], "name": "x"}"#;
        let mut c = Collect::default();
        parse(text, &feed(), &mut c).unwrap();
        assert_eq!(values(&c), ["192.0.2.0/24", "2001:db8::1"]);
        assert_eq!(c.bad.len(), 1);
        assert_eq!(c.bad[0].0, "3", "{:?}", c.bad);
    }

    #[test]
    fn a_hostname_list_covers_subdomains_and_a_string_list_exact_values_only() {
        let mut c = Collect::default();
        parse(&sample("top-sites"), &feed(), &mut c).unwrap();
        // hostname: subdomain mode, the feed's default, so no field of its own
        let v = values(&c);
        assert!(v.contains(&"example.net".to_owned()), "{v:?}");
        assert!(c.bad.is_empty() && c.skipped.is_empty(), "{c:?}");

        let mut c = Collect::default();
        parse(&sample("resolvers-and-hashes"), &feed(), &mut c).unwrap();
        let v = values(&c);
        assert!(v.contains(&"9.9.9.9".to_owned()), "{v:?}");
        assert!(v.contains(&"dns.quad9.net exact".to_owned()), "{v:?}");
        // a hash, an e-mail address and a URL are exact values of their types (an empty file's
        // MD5 flagged or allowed); a bare TLD and CIDR text are no observable's value
        assert!(
            v.contains(&"d41d8cd98f00b204e9800998ecf8427e".to_owned()),
            "{v:?}"
        );
        assert!(v.contains(&"abuse@example.com".to_owned()), "{v:?}");
        assert!(v.contains(&"www.example.com/".to_owned()), "{v:?}");
        let kinds: Vec<&str> = c
            .entries
            .iter()
            .map(|(_, v, _)| v.kind().as_str())
            .collect();
        assert!(kinds.contains(&"md5") && kinds.contains(&"email") && kinds.contains(&"url"));
        let skipped: Vec<&str> = c.skipped.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(skipped.len(), 2, "{c:?}");
        assert!(c.bad.is_empty(), "{c:?}");
    }

    #[test]
    fn substring_and_regex_lists_are_refused_naming_the_type() {
        for t in ["substring", "regex", "REGEX"] {
            let text = format!(r#"{{"name": "n", "type": "{t}", "list": ["a"]}}"#);
            let mut c = Collect::default();
            let e = parse(&text, &feed(), &mut c).unwrap_err();
            assert!(
                e.contains(&format!("type \"{}\" is not supported", t.to_lowercase())),
                "{e}"
            );
            assert!(c.entries.is_empty());
        }
        let mut c = Collect::default();
        let e = parse(r#"{"type": "glob", "list": []}"#, &feed(), &mut c).unwrap_err();
        assert!(e.contains("unknown MISP warninglist type \"glob\""), "{e}");
        let e = parse(r#"{"list": ["1.2.3.4"]}"#, &feed(), &mut c).unwrap_err();
        assert!(e.contains("no \"type\""), "{e}");
        let e = parse("1.2.3.4\n", &feed(), &mut c).unwrap_err();
        assert!(e.starts_with("not a MISP warninglist"), "{e}");
    }

    #[test]
    fn escaped_entries_still_load() {
        let text = "{\"type\": \"hostname\",\n\"list\": [\"a.example\",\n\"b\\u002eexample\"]}";
        let mut c = Collect::default();
        parse(text, &feed(), &mut c).unwrap();
        assert_eq!(values(&c), ["a.example", "b.example"]);
    }

    #[test]
    fn never_panics() {
        let sample = sample("cloudflare");
        assert_never_panics(&sample, &|t, c| parse(t, &feed(), c));
    }
}
