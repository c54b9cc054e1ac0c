//! Zeek intel framework files (`format = "zeek"`): the TSV that Zeek's `Intel::read_files`
//! loads, as CIF, CriticalStack and MISP's Zeek export write it (tab-separated; shown here
//! with spaces):
//!
//! ```text
//! #fields  indicator  indicator_type  meta.source  meta.desc  meta.url  meta.do_notice
//! 198.51.100.23  Intel::ADDR  feodo  Emotet C2  https://example.net/ioc/1  T
//! ```
//!
//! The `#fields` line names the columns, in any order; it must name `indicator` and
//! `indicator_type`, else the file is unusable (`Err`). Columns iocd does not use
//! (`meta.do_notice`, `meta.if_in`, `meta.whitelist`...) are ignored. Header lines
//! `#separator \x09` (default tab), `#set_separator`, `#unset_field` (default `-`) and
//! `#empty_field` (default `(empty)`) are honoured; every other `#` line (`#path`, `#open`,
//! `#types`, comments) is ignored. If a file lists its names space-separated instead of with
//! the separator (hand-written files), the `#fields` line is split on whitespace. A data line
//! must have as many fields as `#fields` names, else it is a bad entry. A later `#fields` line
//! (concatenated files) replaces the earlier one.
//!
//! **What maps to what** (an unset `-` or empty `(empty)` field leaves the field unset):
//!
//! | Zeek                         | iocd                                                     |
//! |------------------------------|----------------------------------------------------------|
//! | `Intel::ADDR`                | an address                                               |
//! | `Intel::SUBNET`              | a CIDR                                                   |
//! | `Intel::DOMAIN`              | a domain (normalised: lowercase, IDN → punycode)          |
//! | `Intel::URL`                 | a URL (Zeek writes it without the scheme: `evil.example/gate.php`; see [`crate::url`]) |
//! | `Intel::FILE_HASH`           | a file hash: MD5, SHA-1 or SHA-256 by its length (32, 40, 64 hex digits) |
//! | `Intel::CERT_HASH`           | a certificate hash: SHA-1 (40 hex digits, what Zeek computes by default) or SHA-256 (64) |
//! | `Intel::EMAIL`               | an e-mail address                                        |
//! | `Intel::JA3` (the JA3 package's type) | a JA3                                           |
//! | other `Intel::` types (`USER_NAME`, `SOFTWARE`, `FILE_NAME`, `PUBKEY_HASH`...) | skipped, counted as `zeek Intel::SOFTWARE` etc. |
//! | `meta.desc`                  | description                                              |
//! | `meta.url`                   | reference                                                |
//! | `meta.source`                | tag `source:<source>` (the feed's name stays the config's) |
//! | `meta.cif_tags`              | tags (comma-separated)                                   |
//! | `meta.cif_confidence`        | confidence: 0–10 (CIF v3 scale) ×10; above 10, taken as 0–100 (CIF v1/v2) |
//! | `meta.confidence`            | confidence 0–100                                         |
//!
//! Zeek itself matches `Intel::DOMAIN` exactly (the name, not names below it); iocd leaves the
//! match mode to the feed's `match` key (default `subdomain`): set `match = "exact"` for Zeek
//! semantics.

use super::{push_tag, push_tags, what_name, FeedSink, Location};
use crate::config::{FeedConfig, UrlHttps};
use crate::indicators::{value, Fields};
use crate::observe::Token;

/// Column positions named by a `#fields` line.
#[derive(Debug, Clone)]
struct Layout {
    count: usize,
    indicator: usize,
    kind: usize,
    source: Option<usize>,
    desc: Option<usize>,
    url: Option<usize>,
    cif_confidence: Option<usize>,
    confidence: Option<usize>,
    cif_tags: Option<usize>,
}

/// Parse a Zeek intel file.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // a line over MAX_LINE_BYTES is reported once, here, and read as blank below
    let text = &*super::blank_long_lines(text, 1, out);
    let mut sep = "\t".to_owned();
    let mut unset = "-".to_owned();
    let mut empty = "(empty)".to_owned();
    // A file without any usable `#fields` line is unusable: check before reporting lines.
    let mut scan_sep = sep.clone();
    let mut usable = false;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix('#') else {
            continue;
        };
        match header(rest, &scan_sep) {
            ("separator", arg) => {
                scan_sep = unescape(arg).filter(|s| !s.is_empty()).unwrap_or(scan_sep)
            }
            ("fields", _) => usable |= layout(l, &scan_sep).is_some(),
            _ => {}
        }
    }
    if !usable {
        return Err("no #fields line naming indicator and indicator_type".to_owned());
    }
    let mut cur: Option<Layout> = None;
    for (i, raw) in text.lines().enumerate() {
        let at = Location::Line(i + 1);
        if let Some(rest) = raw.strip_prefix('#') {
            let (key, arg) = header(rest, &sep);
            match key {
                "separator" => match unescape(arg) {
                    Some(s) if !s.is_empty() => sep = s,
                    _ => out.bad(at, "bad #separator", raw),
                },
                "unset_field" => unset = arg.to_owned(),
                "empty_field" => empty = arg.to_owned(),
                "fields" => {
                    cur = layout(raw, &sep);
                    if cur.is_none() {
                        out.bad(at, "#fields names no indicator and indicator_type", raw);
                    }
                }
                // #set_separator (our sets are single strings), #path, #types, comments
                _ => {}
            }
            continue;
        }
        if raw.trim().is_empty() {
            continue;
        }
        let Some(l) = &cur else {
            out.bad(at, "data before a usable #fields line", raw);
            continue;
        };
        let cells: Vec<&str> = raw.split(sep.as_str()).collect();
        if cells.len() != l.count {
            let reason = format!("{} fields, #fields names {}", cells.len(), l.count);
            out.bad(at, &reason, raw);
            continue;
        }
        let get = |i: Option<usize>| {
            i.and_then(|i| cells.get(i))
                .map(|c| c.trim())
                .filter(|c| !c.is_empty() && *c != unset && *c != empty)
        };
        line(raw, at, &get, l, feed.url_https, out);
    }
    Ok(())
}

/// `separator \x09` → (`separator`, `\x09`); `fields<sep>a<sep>b` → (`fields`, `a<sep>b`).
fn header<'a>(rest: &'a str, sep: &str) -> (&'a str, &'a str) {
    let end = rest
        .find(|c: char| c.is_whitespace() || sep.starts_with(c))
        .unwrap_or(rest.len());
    let (key, arg) = rest.split_at(end);
    let arg = arg.strip_prefix(sep).unwrap_or(arg).trim_start_matches(' ');
    (key, arg.trim_end_matches('\r'))
}

/// Zeek writes the separator with `\xHH` escapes.
fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let hex = s.get(i + 2..i + 4)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn layout(line: &str, sep: &str) -> Option<Layout> {
    let line = line.trim_end_matches('\r');
    let mut names: Vec<&str> = line.split(sep).collect();
    if names.len() == 1 {
        names = line.split_whitespace().collect();
    }
    let names = names.get(1..)?; // after `#fields`
    let pos = |n: &str| names.iter().position(|x| x.trim() == n);
    Some(Layout {
        count: names.len(),
        indicator: pos("indicator")?,
        kind: pos("indicator_type")?,
        source: pos("meta.source"),
        desc: pos("meta.desc"),
        url: pos("meta.url"),
        cif_confidence: pos("meta.cif_confidence"),
        confidence: pos("meta.confidence"),
        cif_tags: pos("meta.cif_tags"),
    })
}

fn line<'r>(
    raw: &str,
    at: Location<'_>,
    get: &dyn Fn(Option<usize>) -> Option<&'r str>,
    l: &Layout,
    url_https: UrlHttps,
    out: &mut dyn FeedSink,
) {
    let Some(indicator) = get(Some(l.indicator)) else {
        return out.bad(at, "no indicator", raw);
    };
    let kind = get(Some(l.kind)).unwrap_or_default();
    let digest = |kinds: [Token; 2], len_of_first: usize| {
        let t = if indicator.trim().len() == len_of_first {
            kinds[0]
        } else {
            kinds[1]
        };
        value::parse_token(t, indicator)
    };
    let mut url = None;
    let parsed = match kind {
        "Intel::ADDR" => value::parse_ip(indicator),
        "Intel::SUBNET" => value::parse_cidr(indicator),
        "Intel::DOMAIN" => value::parse_domain(indicator),
        "Intel::URL" => match super::url_entry(indicator, url_https) {
            Ok((v, mode, https)) => {
                url = Some((mode, https));
                Ok(v)
            }
            Err(e) => Err(e),
        },
        "Intel::FILE_HASH" => match super::hash_by_shape(indicator.trim()) {
            Some(t) => value::parse_token(t, indicator),
            None => Err(format!(
                "not a file hash (32, 40 or 64 hex digits: MD5, SHA-1, SHA-256): \"{}\"",
                value::cut(indicator)
            )),
        },
        "Intel::CERT_HASH" => digest([Token::CertSha256, Token::CertSha1], 64),
        "Intel::EMAIL" => value::parse_token(Token::Email, indicator),
        "Intel::JA3" => value::parse_token(Token::Ja3, indicator),
        k if k.starts_with("Intel::") && k.len() > "Intel::".len() => {
            return out.skipped(at, &format!("zeek {}", what_name(k)));
        }
        k => {
            let reason = format!("unknown indicator_type \"{}\"", value::cut(k));
            return out.bad(at, &reason, raw);
        }
    };
    let v = match parsed {
        Ok(v) => v,
        Err(reason) => return out.bad(at, &reason, raw),
    };
    let mut f = Fields {
        description: get(l.desc).map(str::to_owned),
        reference: get(l.url).map(str::to_owned),
        ..Fields::default()
    };
    if let Some(s) = get(l.source) {
        push_tag(&mut f.tags, &format!("source:{s}"));
    }
    if let Some(t) = get(l.cif_tags) {
        push_tags(&mut f.tags, t, ',');
    }
    let conf = match (get(l.cif_confidence), get(l.confidence)) {
        (Some(c), _) => Some(confidence(c, true)),
        (None, Some(c)) => Some(confidence(c, false)),
        (None, None) => None,
    };
    match conf.transpose() {
        Ok(c) => f.confidence = c,
        Err(reason) => return out.bad(at, &reason, raw),
    }
    if let Some((mode, _)) = url {
        f.match_mode = mode;
    }
    out.entry(at, v, f);
    if url.is_some_and(|(_, https)| https) {
        out.https_url();
    }
}

/// A confidence: CIF's 0–10 scale (×10) when `cif` and at most 10, else 0–100; fractions are
/// rounded.
fn confidence(s: &str, cif: bool) -> Result<u8, String> {
    let c: f64 = s
        .parse()
        .ok()
        .filter(|c: &f64| (0.0..=100.0).contains(c))
        .ok_or_else(|| {
            format!(
                "bad confidence \"{}\": 0 to 10 (CIF) or 0 to 100",
                value::cut(s)
            )
        })?;
    let c = if cif && c <= 10.0 { c * 10.0 } else { c };
    // in 0..=100 by the filter above
    Ok(c.round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};
    use crate::indicators::Value;

    const SAMPLE: &str = include_str!("../../../tests/feeds/zeek-intel.dat");

    fn run(text: &str) -> Result<Collect, String> {
        let mut c = Collect::default();
        parse(text, &FeedConfig::from_path("intel.dat".into()), &mut c)?;
        Ok(c)
    }

    fn token(kind: Token, text: &str) -> Value {
        value::parse_token(kind, text).unwrap()
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sample_maps_types_and_meta_fields() {
        let c = run(SAMPLE).unwrap();
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            c.entries,
            vec![
                (
                    "8".into(),
                    Value::Ip("198.51.100.23".parse().unwrap()),
                    Fields {
                        confidence: Some(85),
                        tags: tags(&["source:feodotracker", "botnet", "c2"]),
                        description: s("Emotet epoch5 C2"),
                        reference: s("https://feodotracker.abuse.ch/browse/host/198.51.100.23/"),
                        ..Fields::default()
                    }
                ),
                (
                    "9".into(),
                    Value::Cidr("203.0.113.0/24".parse().unwrap()),
                    Fields {
                        confidence: Some(90),
                        tags: tags(&["source:spamhaus-drop", "hijacked"]),
                        description: s("SBL123456"),
                        reference: s("https://www.spamhaus.org/sbl/query/SBL123456"),
                        ..Fields::default()
                    }
                ),
                (
                    "10".into(),
                    Value::Domain(b"login-microsoftonline.example".to_vec()),
                    Fields {
                        tags: tags(&["source:phishtank"]),
                        description: s("Office 365 phishing"),
                        ..Fields::default()
                    }
                ),
                (
                    "11".into(),
                    Value::Token(Token::Url, b"203.0.113.9/gate.php".to_vec()),
                    Fields {
                        confidence: Some(70),
                        tags: tags(&["source:urlhaus", "malware"]),
                        description: s("Smoke Loader gate"),
                        ..Fields::default()
                    }
                ),
                (
                    "12".into(),
                    token(Token::Md5, "44d88612fea8a8f36de82e1278abb02f"),
                    Fields {
                        confidence: Some(50),
                        tags: tags(&["source:malwarebazaar"]),
                        description: s("EICAR test file"),
                        ..Fields::default()
                    }
                ),
                (
                    "13".into(),
                    token(Token::Email, "billing@evil-invoices.example"),
                    Fields {
                        tags: tags(&["source:local"]),
                        description: s("BEC sender"),
                        ..Fields::default()
                    }
                ),
                (
                    "14".into(),
                    Value::Ip("2001:db8::dead:beef".parse().unwrap()),
                    Fields {
                        tags: tags(&["source:local"]),
                        ..Fields::default()
                    }
                ),
                (
                    "16".into(),
                    token(Token::Ja3, "e7d705a3286e19ea42f587b344ee6865"),
                    Fields {
                        confidence: Some(80),
                        tags: tags(&["source:sslbl"]),
                        description: s("Dridex JA3"),
                        reference: s("https://sslbl.abuse.ch/ja3-fingerprints/e7d705a3286e19ea42f587b344ee6865/"),
                        ..Fields::default()
                    }
                ),
                (
                    "18".into(),
                    Value::Domain(b"c2.evil.example".to_vec()),
                    Fields {
                        confidence: Some(42),
                        tags: tags(&["source:cif", "c2"]),
                        description: s("C2 domain"),
                        ..Fields::default()
                    }
                ),
                (
                    "21".into(),
                    token(Token::CertSha1, "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9"),
                    Fields {
                        tags: tags(&["source:sslbl"]),
                        description: s("AsyncRAT C&C"),
                        ..Fields::default()
                    }
                ),
                (
                    "22".into(),
                    token(
                        Token::Sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                    ),
                    Fields {
                        tags: tags(&["source:local"]),
                        description: s("empty file"),
                        ..Fields::default()
                    }
                ),
            ]
        );
        let skipped: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(skipped, [("23", "zeek Intel::SOFTWARE")]);
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["15", "17", "19", "20", "24"], "{:?}", c.bad);
        assert!(c.bad[4].1.starts_with("not a file hash"), "{}", c.bad[4].1);
        assert!(c.bad[0].1.contains("prefix length"), "{}", c.bad[0].1);
        assert_eq!(c.bad[1].1, "4 fields, #fields names 9");
        assert_eq!(c.bad[2].1, "unknown indicator_type \"ADDR\"");
        assert!(
            c.bad[3].1.starts_with("bad confidence \"-5\""),
            "{}",
            c.bad[3].1
        );
    }

    #[test]
    fn confidence_scales() {
        assert_eq!(confidence("8.5", true), Ok(85));
        assert_eq!(confidence("10", true), Ok(100));
        assert_eq!(confidence("65", true), Ok(65), "CIF v1 wrote 0-100");
        assert_eq!(confidence("7", false), Ok(7));
        assert!(confidence("101", false).is_err());
        assert!(confidence("NaN", true).is_err());
    }

    #[test]
    fn other_separators_and_space_separated_field_names() {
        let c = run("#separator \\x2c\n#fields,indicator,indicator_type,meta.desc\n192.0.2.1,Intel::ADDR,x\n").unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].2.description.as_deref(), Some("x"));
        let c = run("#fields indicator indicator_type\n192.0.2.1\tIntel::ADDR\r\n").unwrap();
        assert_eq!(c.entries.len(), 1, "{:?}", c.bad);
    }

    #[test]
    fn data_before_fields_is_bad_and_a_later_fields_line_takes_over() {
        let c = run("192.0.2.1\tIntel::ADDR\n#fields\tindicator_type\tindicator\nIntel::DOMAIN\tevil.example\n").unwrap();
        assert_eq!(
            c.bad,
            vec![("1".into(), "data before a usable #fields line".into())]
        );
        assert_eq!(c.entries[0].0, "3");
        assert_eq!(c.entries[0].1, Value::Domain(b"evil.example".to_vec()));
    }

    #[test]
    fn no_usable_fields_line_is_an_error() {
        for text in [
            "",
            "192.0.2.1\tIntel::ADDR\n",
            "#fields\tindicator\tmeta.source\n1.2.3.4\tx\n",
        ] {
            assert!(run(text).unwrap_err().contains("#fields"), "{text:?}");
        }
    }

    #[test]
    fn truncated_or_mutated_zeek_never_panics() {
        let f = FeedConfig::from_path("intel.dat".into());
        assert_never_panics(SAMPLE, &|s, c| parse(s, &f, c));
    }
}
