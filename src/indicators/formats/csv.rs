//! CSV with a column mapping (`format = "csv"`, `[feeds.csv]`).
//!
//! Rows are read with the `csv` crate: RFC 4180 quoting (a quoted field may span lines and
//! contain the delimiter; `""` is a quote), rows of any length, a configurable one-byte
//! `delimiter` (default `,`). Lines starting with `comment` (default `#`) are comments; blank
//! lines are ignored; a UTF-8 byte-order mark is ignored.
//!
//! **Columns** are given per field in `[feeds.csv.columns]`, by header name (compared trimmed and
//! case-insensitively) or by 1-based number. With `header = true` (the default) the header is
//! the first row that is not a comment. When that row does not name every configured column,
//! the last comment line before it is tried instead: abuse.ch feeds write the header as a
//! comment (URLhaus: `# id,dateadded,url,url_status,...`), and the first row is then data. A
//! file where neither names the configured columns is unusable (`Err`). When every column is
//! given by number, the first row is taken as the header, except when the last comment line
//! before it has as many (two or more) fields — the abuse.ch shape again — when it is data.
//! With `header = false` every column must be a number and every row is data.
//!
//! **What maps to what** (all optional except `value`; an empty cell leaves the field unset, so
//! the feed's default applies):
//!
//! | column        | field                                                                  |
//! |---------------|------------------------------------------------------------------------|
//! | `value`       | the indicator                                                          |
//! | `type`        | how to read `value`: `ip`, `ipv4`, `ipv6` (address); `ip-src`, `ip-dst` (address or CIDR, as MISP allows); `cidr`, `subnet`; `domain`, `hostname`, `fqdn`; `ip:port`; `url`; `md5`, `sha1`, `sha256` (ThreatFox `md5_hash`, `sha1_hash`, `sha256_hash`); `email` (`email-src`, `email-dst`); `ja3`, `ja3s`, `ja4`, `ja4s`; `cert_sha1`, `cert_sha256` (`x509-fingerprint-sha1`...) — any case. Other types are skipped as `csv type <type>`. Without a type column (or with an empty cell) the feed's `type` applies, else the type the value column's name says (`ja3_md5`, `sha256_hash`, `url`), else the type is read from the text |
//! | `confidence`  | integer 0–100                                                          |
//! | `severity`    | `info`, `low`, `medium`, `high`, `critical` (and synonyms)             |
//! | `tags`        | split on `tag_separator` (default `,`), trimmed, empties dropped        |
//! | `description`, `reference`, `id` | as is, trimmed                                      |
//! | `valid_from`, `valid_until` | RFC 3339 time, `2024-05-01 12:00:00` (UTC), date, or Unix seconds |
//! | `action`      | `alert` or `allow`                                                     |
//! | `match`       | `exact`, `subdomain` or `subdomains_only`                              |
//! | `port`        | 1–65535: the port the feed names with the value (Feodo `dst_port`)    |
//!
//! A value written `host:port` (`1.2.3.4:443`, `[2001:db8::1]:443`, `evil.com:8080`; ThreatFox's
//! type `ip:port`) is the host, with that port unless a `port` column gives one.
//!
//! **Read from the text** (no type cell, no feed `type`, a column name that says nothing): an
//! address, CIDR or name; `host:port`; a URL (`http://`, `https://`: a URL indicator, see
//! [`crate::url`]; with the feed's `url_https = "host"` an `https://` URL is its host, exact);
//! 32, 40 or 64 hex digits (an MD5, SHA-1 or SHA-256 file hash); `local@domain` (an e-mail
//! address). A JA3 or a certificate SHA-1 looks like a file MD5 or SHA-1: such a feed declares
//! `type = "ja3"` / `"cert_sha1"` (SSLBL), or names its column so (`ja3_md5`).
//!
//! Rows that put a space after each delimiter (`"a", "b"`, as ThreatFox and MalwareBazaar
//! write them) are read as if it were not there, so a quoted cell holding the delimiter stays
//! one cell.
//!
//! A row whose value or any mapped field does not parse is a bad entry (line and reason), and
//! the row is not loaded. Line numbers are the file's, counting comment lines and the extra
//! lines of multi-line quoted fields.

use ::csv::{ReaderBuilder, StringRecord};

use super::{
    hash_by_shape, parse_confidence, plain, push_tags, token_type, unmatched_type, url_entry,
    what_name, FeedSink, Location,
};
use crate::config::{CsvColumn, CsvColumns, FeedConfig, UrlHttps};
use crate::indicators::{parse_time, value, Action, Fields, MatchMode, Severity, Value};
use crate::observe::Token;

/// Column indexes (0-based) of the configured fields.
#[derive(Debug, Default)]
struct Columns {
    value: usize,
    kind: Option<usize>,
    confidence: Option<usize>,
    severity: Option<usize>,
    tags: Option<usize>,
    description: Option<usize>,
    reference: Option<usize>,
    valid_from: Option<usize>,
    valid_until: Option<usize>,
    action: Option<usize>,
    match_mode: Option<usize>,
    id: Option<usize>,
    port: Option<usize>,
}

/// Parse a CSV feed with the column mapping of `feed.csv`.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let cfg = feed
        .csv
        .as_ref()
        .ok_or("format \"csv\" needs a [feeds.csv] table")?;
    let delimiter = ascii_byte(cfg.delimiter.unwrap_or(','), "delimiter")?;
    let comment = ascii_byte(cfg.comment.unwrap_or('#'), "comment")?;
    let tag_sep = cfg.tag_separator.unwrap_or(',');
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // the csv crate copies each record: no line over MAX_LINE_BYTES reaches it
    let text = &*super::blank_long_lines(text, 1, out);
    let text = &*join_spaced_quotes(text, delimiter, comment);
    let opts = Opts {
        declared: feed.kind,
        hint: match &cfg.columns.value {
            Some(CsvColumn::Name(n)) => column_hint(n),
            _ => None,
        },
        url_https: feed.url_https,
    };

    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .comment(Some(comment))
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut first_data = None;
    let cols = if cfg.header.unwrap_or(true) {
        let first = match records.next() {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => return Err(format!("cannot read the header row: {e}")),
            None => None,
        };
        let comment_header = comment_header(text, comment, delimiter);
        let all_numbers = resolve(&cfg.columns, None).ok();
        if let Some(cols) = all_numbers {
            // abuse.ch shape: the header is the comment, the first row is data
            if let (Some(f), Some(c)) = (&first, &comment_header) {
                if c.len() >= 2 && c.len() == f.len() {
                    first_data = first;
                }
            }
            cols
        } else if let Some(cols) = first
            .as_ref()
            .and_then(|f| resolve(&cfg.columns, Some(f)).ok())
        {
            cols
        } else if let Some(cols) = comment_header
            .as_ref()
            .and_then(|c| resolve(&cfg.columns, Some(c)).ok())
        {
            first_data = first;
            cols
        } else {
            let missing = resolve(&cfg.columns, first.as_ref())
                .err()
                .unwrap_or_default();
            return Err(match first {
                None => "no header row naming the configured columns (empty file)".to_owned(),
                Some(f) => format!(
                    "the header row (line {}) does not name column(s) {}, nor does a comment line before it",
                    line_of(text, &f, Some(comment)),
                    missing.join(", ")
                ),
            });
        }
    } else {
        resolve(&cfg.columns, None).map_err(|names| {
            format!(
                "header = false, so columns must be numbers, not names ({})",
                names.join(", ")
            )
        })?
    };

    let delim = char::from(delimiter);
    for rec in first_data.into_iter().map(Ok).chain(records) {
        match rec {
            Ok(rec) => {
                let at = Location::Line(line_of(text, &rec, Some(comment)));
                row(at, &rec, &cols, opts, tag_sep, delim, out)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.bad(Location::Line(line), &format!("unreadable row: {e}"), "");
            }
        }
    }
    Ok(())
}

/// The type a value column's name says (`ja3_md5`, `sha256_hash`, `url`): a fingerprint's 32
/// hex digits are an MD5 file hash by shape, and a cut digest in a hash column is a bad entry,
/// not a one-label name.
fn column_hint(name: &str) -> Option<Token> {
    token_type(name)
}

fn ascii_byte(c: char, what: &str) -> Result<u8, String> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| format!("[feeds.csv] {what} must be one ASCII character, not {c:?}"))
}

/// The 1-based file line where `rec` starts. The `csv` crate's position is where the previous
/// record ended, so the blank and comment lines it skipped before this record are counted here.
pub(super) fn line_of(text: &str, rec: &StringRecord, comment: Option<u8>) -> usize {
    let Some(p) = rec.position() else {
        return 0;
    };
    let mut line = p.line() as usize;
    let mut rest = text.as_bytes().get(p.byte() as usize..).unwrap_or_default();
    loop {
        let (first, nl) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], Some(i)),
            None => (rest, None),
        };
        let skipped = first.is_empty()
            || first == b"\r"
            || comment.is_some_and(|c| first.first() == Some(&c));
        match nl {
            Some(i) if skipped => {
                rest = &rest[i + 1..];
                line += 1;
            }
            _ => return line,
        }
    }
}

/// The last comment line of the comment block that opens the file, without its comment
/// character, as a row (the abuse.ch header). Nothing precedes it, so no quoted field can
/// make a `#` line part of a record.
fn comment_header(text: &str, comment: u8, delimiter: u8) -> Option<StringRecord> {
    let mut last = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match line.as_bytes().first() {
            Some(&b) if b == comment => last = Some(&line[1..]),
            _ => break,
        }
    }
    let mut r = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .trim(::csv::Trim::All)
        .from_reader(last?.trim().as_bytes());
    r.records().next()?.ok()
}

/// Column indexes for the configured columns, names looked up in `header`; `Err` lists the
/// names not found (all of them when there is no header).
fn resolve(c: &CsvColumns, header: Option<&StringRecord>) -> Result<Columns, Vec<String>> {
    let mut missing = Vec::new();
    let mut find = |col: &Option<CsvColumn>| -> Option<usize> {
        match col.as_ref()? {
            // 0 is refused by config checks; here it names no column
            CsvColumn::Number(n) => match n.checked_sub(1) {
                Some(i) => Some(i),
                None => {
                    missing.push("0 (numbers start at 1)".to_owned());
                    None
                }
            },
            CsvColumn::Name(name) => {
                let want = name.trim();
                let found = header
                    .and_then(|h| h.iter().position(|f| unquote(f).eq_ignore_ascii_case(want)));
                if found.is_none() {
                    missing.push(format!("{want:?}"));
                }
                found
            }
        }
    };
    let value = find(&c.value);
    let cols = Columns {
        value: value.unwrap_or(0),
        kind: find(&c.kind),
        confidence: find(&c.confidence),
        severity: find(&c.severity),
        tags: find(&c.tags),
        description: find(&c.description),
        reference: find(&c.reference),
        valid_from: find(&c.valid_from),
        valid_until: find(&c.valid_until),
        action: find(&c.action),
        match_mode: find(&c.match_mode),
        id: find(&c.id),
        port: find(&c.port),
    };
    if c.value.is_none() {
        missing.push("value (not configured)".to_owned());
    }
    if missing.is_empty() && value.is_some() {
        Ok(cols)
    } else {
        Err(missing)
    }
}

/// What the feed's config says about its values, beyond the columns.
#[derive(Debug, Clone, Copy)]
struct Opts {
    /// The feed's `type`: the type of a value whose row has no type cell.
    declared: Option<Token>,
    /// The type the value column's configured name says (`ja3_md5`: the SSLBL JA3 list).
    hint: Option<Token>,
    url_https: UrlHttps,
}

fn row(
    at: Location<'_>,
    rec: &StringRecord,
    cols: &Columns,
    opts: Opts,
    tag_sep: char,
    delim: char,
    out: &mut dyn FeedSink,
) {
    let text = || rec.iter().collect::<Vec<_>>().join(&delim.to_string());
    let get = |i: Option<usize>| {
        i.and_then(|i| rec.get(i))
            .map(unquote)
            .filter(|s| !s.is_empty())
    };
    let Some(v) = get(Some(cols.value)) else {
        let reason = if rec.len() <= cols.value {
            format!(
                "{} field(s), the value is column {}",
                rec.len(),
                cols.value + 1
            )
        } else {
            "empty value".to_owned()
        };
        return out.bad(at, &reason, &text());
    };
    let mut port = None;
    let kind = get(cols.kind).map(str::to_ascii_lowercase);
    let typed = kind.is_some() || opts.declared.is_some() || opts.hint.is_some();
    let host_port = match kind.as_deref() {
        Some("ip:port") => plain::parse_host_port(v),
        None if !typed => plain::parse_host_port(v),
        _ => None,
    };
    let plain = |r: Result<Value, String>| r.map(|v| (v, None, false));
    let token = |t: Token| match t {
        Token::Url => url_entry(v, opts.url_https),
        t => plain(value::parse_token(t, v)),
    };
    let parsed = match (kind.as_deref(), host_port) {
        (_, Some(Ok((value, p)))) => {
            port = Some(p);
            Ok((value, None, false))
        }
        (_, Some(Err(reason))) => Err(reason),
        (Some("ip:port"), None) => Err("type ip:port but not address:port".to_owned()),
        (kind, None) => match kind {
            Some("ip" | "ipv4" | "ipv6") => plain(value::parse_ip(v)),
            Some("ip-src" | "ip-dst" | "cidr" | "subnet") => plain(value::parse_cidr(v)),
            Some("domain" | "hostname" | "fqdn") => plain(value::parse_domain(v)),
            Some(other) => match (token_type(other), unmatched_type(other)) {
                (Some(t), _) => token(t),
                (None, Some(why)) => return out.skipped(at, &format!("csv type {why}")),
                (None, None) => return out.skipped(at, &format!("csv type {}", what_name(other))),
            },
            None => match opts.declared.or(opts.hint) {
                Some(t) => token(t),
                None if v.contains("://") => url_entry(v, opts.url_https),
                None => match hash_by_shape(v) {
                    Some(t) => token(t),
                    None if v.contains('@') && !v.contains(char::is_whitespace) => {
                        token(Token::Email)
                    }
                    None => plain(value::parse_value(v)),
                },
            },
        },
    };
    let (value, url_mode, https) = match parsed {
        Ok(p) => p,
        Err(reason) => return out.bad(at, &reason, &text()),
    };
    match fields(&get, cols, tag_sep) {
        Ok(mut fields) => {
            if fields.port.is_none() {
                fields.port = port;
            }
            if fields.match_mode.is_none() {
                fields.match_mode = url_mode;
            }
            out.entry(at, value, fields);
            if https {
                out.https_url();
            }
        }
        Err(reason) => out.bad(at, &reason, &text()),
    }
}

/// A cell trimmed, and unquoted when it was quoted after a space: the csv crate takes
/// `"a", "b"` (ThreatFox writes a space after each comma) as `"a"` and ` "b"`, quotes kept.
fn unquote(s: &str) -> &str {
    let t = s.trim();
    match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if t.len() >= 2 => inner.trim(),
        _ => t,
    }
}

/// Rows written `"a", "b", "c"` (ThreatFox's CSV: a space after each delimiter) as `"a","b","c"`,
/// so that a quoted cell holding the delimiter (`"tag1,tag2"`) stays one cell; `text` itself
/// when its first data row is not of that shape.
fn join_spaced_quotes(text: &str, delimiter: u8, comment: u8) -> std::borrow::Cow<'_, str> {
    let spaced = [b'"', delimiter, b' ', b'"'];
    let first_data = text
        .lines()
        .find(|l| !l.trim().is_empty() && l.as_bytes().first() != Some(&comment));
    match first_data {
        Some(l) if l.starts_with('"') && memchr::memmem::find(l.as_bytes(), &spaced).is_some() => {
            let from = std::str::from_utf8(&spaced).unwrap_or_default();
            let to = format!("\"{}\"", char::from(delimiter));
            std::borrow::Cow::Owned(text.replace(from, &to))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// The context columns of a row; the first that does not parse is the error.
fn fields<'r>(
    get: &dyn Fn(Option<usize>) -> Option<&'r str>,
    cols: &Columns,
    tag_sep: char,
) -> Result<Fields, String> {
    let time = |i, name| {
        get(i)
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    };
    let mut f = Fields {
        confidence: get(cols.confidence).map(parse_confidence).transpose()?,
        severity: get(cols.severity).map(str::parse::<Severity>).transpose()?,
        description: get(cols.description).map(str::to_owned),
        reference: get(cols.reference).map(str::to_owned),
        valid_from: time(cols.valid_from, "valid_from")?,
        valid_until: time(cols.valid_until, "valid_until")?,
        action: get(cols.action).map(str::parse::<Action>).transpose()?,
        match_mode: get(cols.match_mode)
            .map(str::parse::<MatchMode>)
            .transpose()?,
        id: get(cols.id).map(str::to_owned),
        port: get(cols.port).map(plain::parse_port).transpose()?,
        ..Fields::default()
    };
    if let Some(t) = get(cols.tags) {
        push_tags(&mut f.tags, t, tag_sep);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CsvConfig;
    use crate::indicators::formats::{assert_never_panics, Collect};

    const FEODO: &str = include_str!("../../../tests/feeds/feodo-ipblocklist.csv");
    const URLHAUS: &str = include_str!("../../../tests/feeds/urlhaus-online.csv");
    const LOCAL: &str = include_str!("../../../tests/feeds/indicators.csv");

    fn name(s: &str) -> Option<CsvColumn> {
        Some(CsvColumn::Name(s.to_owned()))
    }

    fn feed(columns: CsvColumns) -> FeedConfig {
        let mut f = FeedConfig::from_path("feed.csv".into());
        f.format = crate::config::FeedFormat::Csv;
        f.csv = Some(CsvConfig {
            columns,
            ..CsvConfig::default()
        });
        f
    }

    fn run(text: &str, feed: &FeedConfig) -> Collect {
        let mut c = Collect::default();
        parse(text, feed, &mut c).expect("usable file");
        c
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

    fn feodo_feed() -> FeedConfig {
        feed(CsvColumns {
            value: name("dst_ip"),
            valid_from: name("First_Seen_UTC "),
            tags: name("malware"),
            ..CsvColumns::default()
        })
    }

    #[test]
    fn feodo_quoted_header_row_names_the_columns() {
        let c = run(FEODO, &feodo_feed());
        let fields = |from: &str, tag: &str| Fields {
            valid_from: t(from),
            tags: vec![tag.to_owned()],
            ..Fields::default()
        };
        assert_eq!(
            c.entries,
            vec![
                (
                    "10".into(),
                    ip("198.51.100.32"),
                    fields("2021-01-17 07:44:46", "Dridex")
                ),
                (
                    "11".into(),
                    ip("203.0.113.94"),
                    fields("2023-09-12 14:02:31", "QakBot")
                ),
                (
                    "12".into(),
                    ip("192.0.2.146"),
                    fields("2024-02-20 09:13:55", "Emotet")
                ),
                (
                    "13".into(),
                    ip("198.51.100.246"),
                    fields("2024-04-28 19:21:09", "Pikabot")
                ),
                (
                    "15".into(),
                    ip("2001:db8:4f::17"),
                    fields("2024-04-30 22:58:02", "BumbleBee")
                ),
            ]
        );
        // `2021-01-17 07:44:46` is UTC
        assert_eq!(c.entries[0].2.valid_from, Some(1_610_869_486_000_000));
        assert_eq!(c.bad.len(), 2, "{:?}", c.bad);
        assert_eq!(c.bad[0], ("14".into(), "invalid IPv4 address".into()));
        assert_eq!(c.bad[1].0, "16");
        assert!(
            c.bad[1].1.starts_with("valid_from: bad time"),
            "{}",
            c.bad[1].1
        );
        assert!(c.skipped.is_empty());
    }

    #[test]
    fn a_port_column_and_host_port_values_give_the_port() {
        let mut f = feodo_feed();
        if let Some(c) = f.csv.as_mut() {
            c.columns.port = name("dst_port");
        }
        let c = run(FEODO, &f);
        let ports: Vec<(&str, Option<u16>)> = c
            .entries
            .iter()
            .map(|(at, _, f)| (at.as_str(), f.port))
            .collect();
        assert_eq!(
            ports,
            [
                ("10", Some(4643)),
                ("11", Some(443)),
                ("12", Some(8080)),
                ("13", Some(2222)),
                ("15", Some(443))
            ]
        );
        // ThreatFox CSV: `ip:port` values, typed or not
        let threatfox = "\
\"ioc_value\",\"ioc_type\"
\"198.51.100.7:8443\",\"ip:port\"
\"[2001:db8::5]:443\",\"\"
\"c2.example:4443\",\"\"
\"c2.example\",\"ip:port\"
\"198.51.100.8:99999\",\"ip:port\"
";
        let f = feed(CsvColumns {
            value: name("ioc_value"),
            kind: name("ioc_type"),
            ..CsvColumns::default()
        });
        let c = run(threatfox, &f);
        let got: Vec<(&str, &Value, Option<u16>)> = c
            .entries
            .iter()
            .map(|(at, v, f)| (at.as_str(), v, f.port))
            .collect();
        assert_eq!(
            got,
            [
                ("2", &ip("198.51.100.7"), Some(8443)),
                ("3", &ip("2001:db8::5"), Some(443)),
                ("4", &dom("c2.example"), Some(4443)),
            ]
        );
        let bad: Vec<(&str, &str)> = c
            .bad
            .iter()
            .map(|(a, r)| (a.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            bad,
            [
                ("5", "type ip:port but not address:port"),
                ("6", "bad port \"99999\": must be 1 to 65535")
            ]
        );
    }

    #[test]
    fn urlhaus_comment_header_and_url_values_load_as_urls() {
        // URLhaus `csv_online` (https://urlhaus.abuse.ch/downloads/csv_online/): the header is
        // the last comment line, `# id,dateadded,url,url_status,last_online,threat,tags,
        // urlhaus_link,reporter`, every cell quoted
        let mut f = feed(CsvColumns {
            value: name("url"),
            valid_from: name("dateadded"),
            tags: name("tags"),
            description: name("threat"),
            reference: name("urlhaus_link"),
            id: name("id"),
            ..CsvColumns::default()
        });
        let c = run(URLHAUS, &f);
        let fields = |id: &str, tags: &[&str], exact: bool| Fields {
            valid_from: c
                .entries
                .iter()
                .find(|e| e.2.id.as_deref() == Some(id))
                .and_then(|e| e.2.valid_from),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            description: Some("malware_download".into()),
            reference: Some(format!("https://urlhaus.abuse.ch/url/{id}/")),
            id: Some(id.into()),
            match_mode: exact.then_some(MatchMode::Exact),
            ..Fields::default()
        };
        let url = |k: &str| Value::Token(Token::Url, k.as_bytes().to_vec());
        let want = vec![
            (
                "10".to_owned(),
                url("198.51.100.79:42217/i"),
                fields("2840061", &["32-bit", "elf", "mips", "Mozi"], false),
            ),
            (
                "11".to_owned(),
                url("update-check.example/files/Invoice_0501.zip"),
                fields("2840060", &["AsyncRAT", "zip"], false),
            ),
            (
                "12".to_owned(),
                url("[2001:db8::7]/bins/sora.x86"),
                fields("2840058", &["elf", "mirai"], false),
            ),
            (
                "13".to_owned(),
                url("xn--bcher-download-gsb.example/setup.exe"),
                fields("2840057", &["exe"], false),
            ),
            (
                "15".to_owned(),
                url("203.0.113.5:8088/Mozi.a"),
                fields("2840052", &[], false),
            ),
        ];
        assert_eq!(c.entries, want);
        assert_eq!(c.entries[0].2.valid_from, t("2024-05-01T12:01:08Z"));
        assert_eq!(c.bad.len(), 1);
        assert_eq!(c.bad[0].0, "14");
        assert!(
            c.bad[0].1.starts_with("URL without a valid host"),
            "{:?}",
            c.bad
        );
        assert!(c.skipped.is_empty());

        // url_https = "host": the one https URL is its host, exact; the others stay URLs
        f.url_https = UrlHttps::Host;
        let c = run(URLHAUS, &f);
        assert_eq!(c.entries[1].1, dom("update-check.example"));
        assert_eq!(
            c.entries[1].2,
            fields("2840060", &["AsyncRAT", "zip"], true)
        );
        assert_eq!(c.entries[0].1, url("198.51.100.79:42217/i"));
    }

    /// (line, type, presentation) of every entry.
    fn typed(c: &Collect) -> Vec<(String, String, String)> {
        c.entries
            .iter()
            .map(|(at, v, _)| {
                let shown = match v {
                    Value::Token(t, k) => t.text(k),
                    Value::Domain(n) => String::from_utf8_lossy(n).into_owned(),
                    Value::Ip(a) => a.to_string(),
                    Value::Cidr(n) => n.to_string(),
                };
                (at.clone(), v.kind().as_str().to_owned(), shown)
            })
            .collect()
    }

    fn r(at: &str, kind: &str, v: &str) -> (String, String, String) {
        (at.into(), kind.into(), v.into())
    }

    #[test]
    fn sslbl_certificate_list_loads_cert_sha1_with_its_reason() {
        // SSLBL `sslblacklist.csv` (https://sslbl.abuse.ch/blacklist/sslblacklist.csv): header
        // in the last comment line, `# Listingdate,SHA1,Listingreason`, cells unquoted. Its
        // 40 hex digits would be a file SHA-1 by shape: the feed declares type = "cert_sha1".
        let mut f = feed(CsvColumns {
            value: name("SHA1"),
            valid_from: name("Listingdate"),
            description: name("Listingreason"),
            ..CsvColumns::default()
        });
        f.kind = Some(crate::config::Token::CertSha1);
        let c = run(include_str!("../../../tests/feeds/sslbl-certs.csv"), &f);
        assert_eq!(
            typed(&c),
            [
                r(
                    "10",
                    "cert_sha1",
                    "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9"
                ),
                r(
                    "11",
                    "cert_sha1",
                    "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
                ),
                r(
                    "13",
                    "cert_sha1",
                    "0fd3e8a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1"
                ),
            ][..]
        );
        assert_eq!(c.entries[0].2.description.as_deref(), Some("AsyncRAT C&C"));
        assert_eq!(c.bad.len(), 1, "{:?}", c.bad);
        assert_eq!(c.bad[0].0, "12");
        assert!(
            c.bad[0].1.contains("not a cert_sha1: 40 hex digits"),
            "{:?}",
            c.bad
        );
        // undeclared, the same digits are file SHA-1s
        f.kind = None;
        let c = run(include_str!("../../../tests/feeds/sslbl-certs.csv"), &f);
        assert_eq!(typed(&c)[0].1, "sha1");
    }

    #[test]
    fn sslbl_ja3_list_is_ja3_by_its_column_name() {
        // SSLBL `ja3_fingerprints.csv` (https://sslbl.abuse.ch/blacklist/ja3_fingerprints.csv):
        // `# ja3_md5,Firstseen,Lastseen,Listingreason` in the last comment line. The column's
        // name says JA3: its 32 hex digits are not taken for an MD5 file hash.
        let f = feed(CsvColumns {
            value: name("ja3_md5"),
            valid_from: name("Firstseen"),
            description: name("Listingreason"),
            ..CsvColumns::default()
        });
        let c = run(include_str!("../../../tests/feeds/sslbl-ja3.csv"), &f);
        assert_eq!(
            typed(&c),
            [
                r("10", "ja3", "1aa7bf8b97e540ca5edd75f7b8384bfa"),
                r("11", "ja3", "8916410db85077a5460817142dcbc8de"),
            ][..]
        );
        assert_eq!(c.entries[1].2.description.as_deref(), Some("Tofsee"));
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["12"], "{:?}", c.bad);
    }

    #[test]
    fn malwarebazaar_hash_columns_and_spaced_quotes() {
        // MalwareBazaar CSV export (https://bazaar.abuse.ch/export/csv/recent/): the header is
        // the last comment line, `# "first_seen_utc","sha256_hash","md5_hash","sha1_hash",
        // "reporter","file_name",...`, and data rows put a space after each comma:
        // `"2024-05-01 12:04:51", "2c26...", ...`. One column is the value: the feed chooses
        // which digest (sha256_hash here).
        let f = feed(CsvColumns {
            value: name("sha256_hash"),
            description: name("file_name"),
            tags: name("signature"),
            ..CsvColumns::default()
        });
        let c = run(include_str!("../../../tests/feeds/malwarebazaar.csv"), &f);
        assert_eq!(
            typed(&c),
            [
                r(
                    "10",
                    "sha256",
                    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
                ),
                r(
                    "11",
                    "sha256",
                    "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
                ),
            ][..]
        );
        assert_eq!(
            c.entries[0].2.description.as_deref(),
            Some("Invoice_0501.exe")
        );
        // a quoted cell with the delimiter in it stays one cell
        assert_eq!(c.entries[1].2.tags, ["Lumma", "Stealer"]);
        assert_eq!(c.bad.len(), 1, "{:?}", c.bad);
        assert_eq!(c.bad[0].0, "12");
        assert!(c.bad[0].1.contains("not a sha256"), "{:?}", c.bad);
        let md5 = feed(CsvColumns {
            value: name("md5_hash"),
            ..CsvColumns::default()
        });
        let c = run(include_str!("../../../tests/feeds/malwarebazaar.csv"), &md5);
        assert_eq!(
            typed(&c)[0],
            r("10", "md5", "acbd18db4cc2f85cedef654fccc4a4d8")
        );
    }

    #[test]
    fn threatfox_ioc_types_choose_each_row_type() {
        // ThreatFox CSV export (https://threatfox.abuse.ch/export/csv/recent/): header
        // `# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type",...,"tags",...` in
        // the last comment line, rows with a space after each comma; `ioc_type` is `ip:port`,
        // `domain`, `url`, `md5_hash`, `sha1_hash`, `sha256_hash` (others skipped).
        let f = feed(CsvColumns {
            value: name("ioc_value"),
            kind: name("ioc_type"),
            confidence: name("confidence_level"),
            tags: name("tags"),
            description: name("malware_printable"),
            id: name("ioc_id"),
            ..CsvColumns::default()
        });
        let c = run(include_str!("../../../tests/feeds/threatfox.csv"), &f);
        assert_eq!(
            typed(&c),
            [
                r("10", "ipv4", "198.51.100.7"),
                r("11", "domain", "c2.evil.example"),
                r("12", "url", "dl.evil.example/load/x.bin"),
                r(
                    "13",
                    "sha256",
                    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
                ),
                r("14", "md5", "acbd18db4cc2f85cedef654fccc4a4d8"),
            ][..]
        );
        // the alias cell with commas did not shift the columns after it
        assert_eq!(c.entries[0].2.tags, ["c2", "CobaltStrike"]);
        assert_eq!(c.entries[0].2.confidence, Some(100));
        assert_eq!(c.entries[0].2.port, Some(443));
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["15"], "{:?}", c.bad);
        assert_eq!(c.skipped, [("16".into(), "csv type sha3_384_hash".into())]);
    }

    #[test]
    fn every_column_mapped_with_custom_delimiters_and_a_multiline_field() {
        let mut f = feed(CsvColumns {
            value: name("indicator"),
            kind: name("type"),
            confidence: name("confidence"),
            severity: name("severity"),
            tags: name("tags"),
            description: name("notes"),
            reference: name("link"),
            valid_from: name("first seen"),
            valid_until: name("expires"),
            action: name("action"),
            match_mode: name("match"),
            id: name("ticket"),
            port: None,
        });
        let cfg = f.csv.as_mut().unwrap();
        cfg.delimiter = Some(';');
        cfg.tag_separator = Some('|');
        let c = run(LOCAL, &f);
        let id = |s: &str| Some(s.to_owned());
        assert_eq!(
            c.entries,
            vec![
                (
                    "4".into(),
                    dom("evil-updates.example"),
                    Fields {
                        confidence: Some(90),
                        severity: Some(Severity::High),
                        tags: vec!["phishing".into(), "kit".into()],
                        description: Some("Credential phishing kit,\nsecond stage".into()),
                        reference: Some("https://tracker.example/T-101".into()),
                        valid_from: t("2024-04-01T00:00:00Z"),
                        valid_until: t("2024-07-01T00:00:00Z"),
                        action: Some(Action::Alert),
                        match_mode: Some(MatchMode::Exact),
                        id: id("T-101"),
                        port: None,
                    }
                ),
                (
                    "6".into(),
                    Value::Cidr("198.51.100.0/24".parse().unwrap()),
                    Fields {
                        confidence: Some(70),
                        severity: Some(Severity::Medium),
                        tags: vec!["bulletproof".into()],
                        description: Some("Hosting range".into()),
                        valid_from: t("2024-03-15"),
                        action: Some(Action::Alert),
                        id: id("T-102"),
                        ..Fields::default()
                    }
                ),
                (
                    "7".into(),
                    ip("192.0.2.10"),
                    Fields {
                        severity: Some(Severity::Low),
                        action: Some(Action::Allow),
                        id: id("T-103"),
                        ..Fields::default()
                    }
                ),
                (
                    "8".into(),
                    Value::Token(Token::Url, b"dl.example/x".to_vec()),
                    Fields {
                        confidence: Some(80),
                        severity: Some(Severity::High),
                        id: id("T-104"),
                        ..Fields::default()
                    }
                ),
                (
                    "10".into(),
                    dom("partner.example"),
                    Fields {
                        confidence: Some(50),
                        severity: Some(Severity::Info),
                        tags: vec!["partner".into()],
                        description: Some("Known good".into()),
                        action: Some(Action::Allow),
                        match_mode: Some(MatchMode::Subdomain),
                        id: id("T-106"),
                        ..Fields::default()
                    }
                ),
                (
                    "11".into(),
                    Value::Cidr("2001:db8::/32".parse().unwrap()),
                    Fields {
                        confidence: Some(60),
                        severity: Some(Severity::High),
                        id: id("T-107"),
                        ..Fields::default()
                    }
                ),
            ]
        );
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["9", "12", "13"], "{:?}", c.bad);
        assert!(
            c.bad[0].1.contains("bad confidence \"150\""),
            "{}",
            c.bad[0].1
        );
        assert!(
            c.bad[2].1.contains("bad severity \"urgent\""),
            "{}",
            c.bad[2].1
        );
    }

    #[test]
    fn numbered_columns_tell_a_header_row_from_an_abuse_ch_comment_header() {
        let by_number = |n| {
            feed(CsvColumns {
                value: Some(CsvColumn::Number(n)),
                ..CsvColumns::default()
            })
        };
        // Feodo: the quoted first row is the header, not a bad value
        let c = run(FEODO, &by_number(2));
        assert_eq!(c.entries.len(), 6);
        assert_eq!(c.entries[0].0, "10");
        assert_eq!(c.bad, vec![("14".into(), "invalid IPv4 address".into())]);
        // URLhaus: the header is the comment, so the first row is data
        let c = run(URLHAUS, &by_number(3));
        assert_eq!(
            c.entries[0],
            (
                "10".into(),
                Value::Token(Token::Url, b"198.51.100.79:42217/i".to_vec()),
                Fields::default()
            )
        );
        assert_eq!(c.entries.len(), 5);
        // header = false: every row is data
        let mut f = by_number(2);
        f.csv.as_mut().unwrap().header = Some(false);
        let c = run(FEODO, &f);
        assert_eq!(
            c.entries[0],
            ("9".into(), dom("dst_ip"), Fields::default()),
            "the header row is data (a single-label name)"
        );
    }

    #[test]
    fn a_type_column_of_ja3_or_ja4_loads_client_fingerprints() {
        let f = feed(CsvColumns {
            value: name("value"),
            kind: name("type"),
            ..CsvColumns::default()
        });
        let ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
        let text = format!(
            "type,value\nJA3,ADA70206E40642A3E4461F35503241D5\nja4,{ja4}\nja3,nothex\njarm,x\n"
        );
        let c = run(&text, &f);
        let md5: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&"ada70206e40642a3e4461f35503241d5"[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(c.entries[0].1, Value::Token(Token::Ja3, md5));
        assert_eq!(
            c.entries[1].1,
            Value::Token(Token::Ja4, ja4.as_bytes().to_vec())
        );
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.bad.len(), 1, "{:?}", c.bad);
        assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
    }

    #[test]
    fn short_rows_and_empty_values_are_bad_lines() {
        let f = feed(CsvColumns {
            value: name("ip"),
            ..CsvColumns::default()
        });
        let c = run("name,ip\nx,192.0.2.1\ny\nz,\n", &f);
        assert_eq!(c.entries.len(), 1);
        assert_eq!(
            c.bad,
            vec![
                ("3".into(), "1 field(s), the value is column 2".into()),
                ("4".into(), "empty value".into())
            ]
        );
    }

    #[test]
    fn line_numbers_count_comments_blank_lines_and_multiline_fields() {
        let f = feed(CsvColumns {
            value: Some(CsvColumn::Number(1)),
            description: Some(CsvColumn::Number(2)),
            ..CsvColumns::default()
        });
        let text =
            "# c\n\nip,note\n192.0.2.1,a\n# mid\n\r\n\n192.0.2.2,\"two\nlines\"\n192.0.2.3,b\n";
        let lines: Vec<String> = run(text, &f).entries.into_iter().map(|e| e.0).collect();
        assert_eq!(lines, ["4", "8", "10"]);
    }

    #[test]
    fn unusable_files_are_errors() {
        let f = feed(CsvColumns {
            value: name("indicator"),
            ..CsvColumns::default()
        });
        let err = |text: &str, f: &FeedConfig| parse(text, f, &mut Collect::default()).unwrap_err();
        assert!(err(FEODO, &f).contains("does not name column(s) \"indicator\""));
        assert!(err("", &f).contains("empty file"));
        assert!(err("# only comments\n", &f).contains("empty file"));
        let mut no_header = f.clone();
        no_header.csv.as_mut().unwrap().header = Some(false);
        assert!(err(FEODO, &no_header).contains("must be numbers"));
        let mut bad_delim = f.clone();
        bad_delim.csv.as_mut().unwrap().delimiter = Some('¦');
        assert!(err(FEODO, &bad_delim).contains("one ASCII character"));
        let mut no_table = f;
        no_table.csv = None;
        assert!(err(FEODO, &no_table).contains("[feeds.csv]"));
    }

    #[test]
    fn truncated_or_mutated_csv_never_panics() {
        let f = feodo_feed();
        assert_never_panics(FEODO, &|s, c| parse(s, &f, c));
        let f = feed(CsvColumns {
            value: name("url"),
            tags: name("tags"),
            ..CsvColumns::default()
        });
        assert_never_panics(URLHAUS, &|s, c| parse(s, &f, c));
    }
}
