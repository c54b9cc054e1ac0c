//! The plain format: one indicator per line, in the shapes blocklists are published in.
//!
//! `#` starts a comment when it begins the line or follows whitespace (`evil.com # seen 2024-05`
//! is `evil.com`; `evil.com#x` is a bad line, not a silent truncation); so do `!` (adblock) and
//! `;` (zone files) at the start of a line. Blank lines are ignored, surrounding whitespace is
//! trimmed, a UTF-8 byte-order mark before line 1 is ignored, and CRLF line ends work. A line
//! over [`MAX_LINE_BYTES`] is a bad entry. Each line is one of:
//!
//! | line | loads as | match |
//! |---|---|---|
//! | `evil.com`, `1.2.3.4`, `10.0.0.0/8`, `2001:db8::1` | the value ([`value::parse_value`]) | the feed's `match` |
//! | `*.evil.com` (hagezi wildcard, RPZ) | `evil.com` | its subdomains only, not evil.com itself (RFC 4592 wildcard) |
//! | `.evil.com` (Squid `dstdomain`, MISP warninglists) | `evil.com` | evil.com and its subdomains |
//! | `\|\|evil.com^` (adblock / AdGuard DNS) | `evil.com` | evil.com and its subdomains |
//! | `0.0.0.0 evil.com [more.com...]` (hosts file) | each name | the feed's `match` |
//! | `evil.com CNAME .`, `*.evil.com CNAME .` (RPZ zone) | the owner name | exact; `*.` subdomains only |
//! | `1.2.3.4:443`, `[2001:db8::1]:443`, `evil.com:8080` (Maltrail, Feodo, ThreatFox) | the host, its port as context | as without the port |
//!
//! | `http://evil.com/x.php`, `https://...`, `evil.com/x.php`, `1.2.3.4/bins/x.sh` (URLhaus, Maltrail) | a URL ([`crate::url::parse`]; no scheme is `http`) | exact; `https://` per the feed's `url_https` |
//! | `d41d8cd98f00b204e9800998ecf8427e` (32, 40 or 64 hex digits) | an MD5, SHA-1 or SHA-256 file hash | exact |
//! | `bad.guy@evil.com` | an e-mail address | exact |
//!
//! A value of a type its shape cannot tell may say its type before a colon: `ja3:<hex>`,
//! `ja3s:`, `cert_sha1:`, `cert_sha256:`, `md5:`, `sha1:`, `sha256:`, `ja4:`, `email:`.
//!
//! A feed that declares `type = "ja3"` (or any other indicator type: `ja3s`, `ja4`, `ja4s`,
//! `cert_sha1`, `cert_sha256`, `md5`, `sha1`, `sha256`, `email`, `url`) reads every line as a
//! value of that type ([`value::parse_token`]), and a line that is not one is a bad entry: the
//! same 32 hex digits are an MD5 file hash in an undeclared list and a JA3 in a `ja3` one. A
//! shape is only ever checked on a line that already failed as an address or a name, or on a
//! dot-less name of exactly 32, 40 or 64 characters, so a list of names and addresses costs
//! what it did.
//!
//! Counted as skipped, never indicators: a hosts file's own names (`127.0.0.1 localhost`,
//! `255.255.255.255 broadcasthost`, `::1 ip6-localhost`, `0.0.0.0 0.0.0.0`), URL paths without a
//! host (`/gate.php`, Maltrail), adblock
//! exceptions (`@@`) and rules other than `||name^`, zone records other than policies (`$TTL`,
//! SOA, NS and their continuation lines), `rpz-passthru.` rules, and RPZ triggers other than a
//! query name (`.rpz-ip`, `.rpz-nsdname`...). RPZ owner names are taken as written: relative to
//! the zone's origin, as RPZ exports write them.

use std::net::IpAddr;

use super::{emit_url, hash_by_shape, line_too_long, FeedSink, Location, MAX_LINE_BYTES};
use crate::config::UrlHttps;
use crate::indicators::{value, Fields, MatchMode, Value};
use crate::observe::Token;

/// What the feed's config says about its values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    /// The declared `type`: every line is a value of this kind.
    pub kind: Option<Token>,
    /// What an `https://` URL loads as.
    pub url_https: UrlHttps,
}

/// Names a hosts file maps for the machine itself: its preamble, skipped on hosts-file lines
/// (alone on a line, such a name is a one-label name like any other).
const HOSTS_OWN_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
];

/// Skip reasons of the plain format, counted by their text.
pub const SKIP_HOSTS_OWN: &str = "hosts-file own name (localhost, broadcasthost, ip6-*, 0.0.0.0)";
pub const SKIP_URL_PATH: &str = "URL path without a host (a URL indicator needs one)";
pub const SKIP_ADBLOCK_EXCEPTION: &str = "adblock exception @@ (an allow rule: not loaded)";
pub const SKIP_ADBLOCK_OTHER: &str = "adblock rule other than ||name^";
pub const SKIP_ZONE_RECORD: &str = "zone file record ($TTL, SOA, NS)";
pub const SKIP_RPZ_PASSTHRU: &str = "rpz-passthru (an allow rule: not loaded)";
pub const SKIP_RPZ_TRIGGER: &str = "RPZ trigger other than a query name (rpz-ip, rpz-nsdname...)";

/// Parse `text`, whose first line is line `first_line` of the file (the loader parses large
/// feeds in chunks).
pub fn parse(text: &str, first_line: usize, opts: Opts, out: &mut dyn FeedSink) {
    let text = if first_line == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    };
    // inside a zone record's `( ... )` (an SOA spread over lines)
    let mut in_parens = false;
    // `lines` splits on `\n` and drops a `\r` before it, so CRLF files work.
    for (i, raw) in text.lines().enumerate() {
        let at = Location::Line(first_line + i);
        if raw.len() > MAX_LINE_BYTES {
            // only its length and a prefix are looked at: nothing of it is copied
            out.bad(at, &line_too_long(), raw);
            continue;
        }
        let trimmed = raw.trim();
        if in_parens {
            in_parens = !strip_semicolon(trimmed).contains(')');
            continue;
        }
        let v = strip_comment(trimmed);
        if v.is_empty() {
            continue;
        }
        match opts.kind {
            None => line(v, trimmed, at, opts, out, &mut in_parens),
            Some(Token::Url) => emit_url(v, opts.url_https, at, Fields::default(), trimmed, out),
            Some(kind) => match value::parse_token(kind, v) {
                Ok(value) => out.entry(at, value, Fields::default()),
                Err(reason) => out.bad(at, &reason, trimmed),
            },
        }
    }
}

/// One line with its comment removed (`v`; `trimmed` is the whole line, for messages).
fn line(
    v: &str,
    trimmed: &str,
    at: Location<'_>,
    opts: Opts,
    out: &mut dyn FeedSink,
    in_parens: &mut bool,
) {
    let b = v.as_bytes();
    match b[0] {
        b'!' | b';' => return,
        b'$' => return out.skipped(at, SKIP_ZONE_RECORD),
        b'/' => return out.skipped(at, SKIP_URL_PATH),
        b'@' if v.starts_with("@@") => return out.skipped(at, SKIP_ADBLOCK_EXCEPTION),
        b'|' if v.starts_with("||") => return adblock(&v[2..], trimmed, at, out),
        b'[' if !v.contains("]:") && v.ends_with(']') => return, // `[Adblock Plus 2.0]`
        _ => {}
    }
    let has_space = || b.iter().any(u8::is_ascii_whitespace);
    match b[0] {
        b'*' if !has_space() => {
            return match v.strip_prefix("*.") {
                Some(rest) if !rest.contains('*') => {
                    name(rest, MatchMode::SubdomainsOnly, trimmed, at, out)
                }
                _ => out.bad(at, WILDCARD_ONLY_FIRST, trimmed),
            }
        }
        b'.' if !has_space() => return name(&v[1..], MatchMode::Subdomain, trimmed, at, out),
        _ => {}
    }
    // Most lines are a value: they cost what they did before the other shapes were known.
    let err = match value::parse_value(v) {
        // a dot-less "name" of a digest's length may be a hex digest: only those are looked at
        Ok(Value::Domain(n)) => match hash_by_shape(v).filter(|_| !n.contains(&b'.')) {
            None => return out.entry_name(at, &n),
            Some(kind) => return token(kind, v, trimmed, at, out),
        },
        Ok(value) => return out.entry(at, value, Fields::default()),
        Err(e) => e,
    };
    if v.contains("://") {
        return emit_url(v, opts.url_https, at, Fields::default(), trimmed, out);
    }
    if let Some(kind) = hash_by_shape(v) {
        // a SHA-256's 64 digits are one label too long for a name
        return token(kind, v, trimmed, at, out);
    }
    if let Some((kind, rest)) = typed_prefix(v) {
        return match kind {
            Token::Url => emit_url(rest, opts.url_https, at, Fields::default(), trimmed, out),
            kind => token(kind, rest, trimmed, at, out),
        };
    }
    if b.contains(&b'@') && !has_space() {
        return token(Token::Email, v, trimmed, at, out);
    }
    // Not a value: a hosts-file line, a zone record, host:port, or a URL; else `err` says why.
    if has_space() {
        return words(v, trimmed, at, out, in_parens);
    }
    let (colon, slash) = (v.contains(':'), v.contains('/'));
    if colon && !v.contains("://") && v.parse::<IpAddr>().is_err() {
        if let Some((host, port)) = split_port(v) {
            let port = match parse_port(port) {
                Ok(p) => p,
                Err(why) => return out.bad(at, &why, trimmed),
            };
            if host.contains('/') {
                return emit_url(v, opts.url_https, at, Fields::default(), trimmed, out);
            }
            let fields = Fields {
                port: Some(port),
                ..Fields::default()
            };
            return match host_value(host) {
                Ok(value) => out.entry(at, value, fields),
                Err(why) => out.bad(at, &why, trimmed),
            };
        }
    }
    if slash {
        if let Some((host, path)) = v.split_once('/') {
            // `10.0.0.0/8` is a CIDR (and `10.0.0.0/x` a bad one); an address with a longer path
            // (`1.2.3.4/bins/x.sh`), or a name (with a port or not) with any path, is a URL
            let host = split_port(host).map_or(host, |(h, _)| h);
            let address = host.parse::<IpAddr>().is_ok();
            let ipv4_with_port = address && host.len() < v.find('/').unwrap_or(0);
            if (address && (path.len() > 3 || ipv4_with_port))
                || (!address && !host.contains(':') && value::parse_domain(host).is_ok())
            {
                return emit_url(v, opts.url_https, at, Fields::default(), trimmed, out);
            }
        }
    }
    out.bad(at, &err, trimmed)
}

/// `ja3:<hex>`, `cert_sha1:<hex>`, `sha256:<hex>`... (a type name, a colon, the value): a value
/// whose type its text alone cannot say, in a list of mixed types. Not `http:`/`https:` (URLs).
fn typed_prefix(v: &str) -> Option<(Token, &str)> {
    let (name, rest) = v.split_once(':')?;
    if name.len() > 16 || rest.starts_with("//") {
        return None;
    }
    Some((super::token_type(name)?, rest))
}

/// A token entry of `kind`.
fn token(kind: Token, v: &str, trimmed: &str, at: Location<'_>, out: &mut dyn FeedSink) {
    match value::parse_token(kind, v) {
        Ok(value) => out.entry(at, value, Fields::default()),
        Err(reason) => out.bad(at, &reason, trimmed),
    }
}

/// A name entry in `mode`.
fn name(text: &str, mode: MatchMode, trimmed: &str, at: Location<'_>, out: &mut dyn FeedSink) {
    match value::parse_domain(text) {
        Ok(v) => out.entry(
            at,
            v,
            Fields {
                match_mode: Some(mode),
                ..Fields::default()
            },
        ),
        Err(reason) => out.bad(at, &reason, trimmed),
    }
}

/// `host:port` (`1.2.3.4:443`, `[2001:db8::1]:443`, `evil.com:8080`, as Maltrail and ThreatFox
/// write them) as the host's value and the port; `None` when `v` has no such shape (a bare IPv6
/// address has colons of its own).
pub(crate) fn parse_host_port(v: &str) -> Option<Result<(Value, u16), String>> {
    if !v.contains(':') || v.contains("://") || v.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (host, port) = split_port(v)?;
    Some(parse_port(port).and_then(|p| host_value(host).map(|h| (h, p))))
}

/// A port: 1 to 65535.
pub(crate) fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("bad port {:?}: must be 1 to 65535", value::cut(p)))
}

/// The address or name before a `:port`.
fn host_value(host: &str) -> Result<Value, String> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return value::parse_ip(v6);
    }
    if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return value::parse_ip(host).map_err(|_| "invalid IPv4 address before the port".into());
    }
    value::parse_domain(host)
}

/// `host:port` where the port is digits and the host is `[v6]`, an IPv4 address or a name (a
/// bare IPv6 address has colons of its own: it is not split).
fn split_port(v: &str) -> Option<(&str, &str)> {
    let (host, port) = v.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    (bracketed || !host.contains(':')).then_some((host, port))
}

/// `||name^` with no options (`$important` allowed): the name and its subdomains.
fn adblock(rule: &str, trimmed: &str, at: Location<'_>, out: &mut dyn FeedSink) {
    let Some((host, rest)) = rule.split_once('^') else {
        return out.skipped(at, SKIP_ADBLOCK_OTHER);
    };
    if !(rest.is_empty() || rest == "$important") || host.contains(['/', '*']) {
        return out.skipped(at, SKIP_ADBLOCK_OTHER);
    }
    match value::parse_value(host) {
        Ok(Value::Domain(n)) => out.entry(
            at,
            Value::Domain(n),
            Fields {
                match_mode: Some(MatchMode::Subdomain),
                ..Fields::default()
            },
        ),
        Ok(v) => out.entry(at, v, Fields::default()),
        Err(reason) => out.bad(at, &reason, trimmed),
    }
}

/// A line of several words: a hosts-file line (an address, then names) or a zone-file record
/// (`owner [ttl] [class] type rdata`); anything else is a bad entry.
fn words(v: &str, trimmed: &str, at: Location<'_>, out: &mut dyn FeedSink, in_parens: &mut bool) {
    let v = strip_semicolon(v);
    let mut w = v.split_ascii_whitespace();
    let first = w.next().unwrap_or_default();
    // `fe80::1%lo0 localhost` (macOS): the zone does not matter, the names are skipped anyway
    let addr = first.split_once('%').map_or(first, |(a, _)| a);
    if addr.parse::<IpAddr>().is_ok() {
        for n in w {
            if hosts_own_name(n) || n.parse::<IpAddr>().is_ok() {
                out.skipped(at, SKIP_HOSTS_OWN);
                continue;
            }
            match value::parse_domain(n) {
                Ok(value) => out.entry(at, value, Fields::default()),
                Err(reason) => out.bad(at, &reason, n),
            }
        }
        return;
    }
    if is_rr_type(first) {
        // a record with the owner left out (the previous line's): a zone's NS, most likely
        return out.skipped(at, SKIP_ZONE_RECORD);
    }
    let rest: Vec<&str> = w.collect();
    let Some(k) = rest
        .iter()
        .take(3)
        .position(|t| is_rr_type(t))
        .filter(|&k| rest[..k].iter().all(|t| is_ttl_or_class(t)))
        .filter(|&k| rdata_fits(rest[k], &rest[k + 1..]))
    else {
        return out.bad(at, SEVERAL_WORDS, trimmed);
    };
    if v.contains('(') && !v.contains(')') {
        *in_parens = true;
    }
    let (kind, rdata) = (rest[k], rest.get(k + 1).copied().unwrap_or_default());
    if first == "@" || kind.eq_ignore_ascii_case("SOA") || kind.eq_ignore_ascii_case("NS") {
        return out.skipped(at, SKIP_ZONE_RECORD);
    }
    if kind.eq_ignore_ascii_case("CNAME") && rdata.eq_ignore_ascii_case("rpz-passthru.") {
        return out.skipped(at, SKIP_RPZ_PASSTHRU);
    }
    let owner = first.trim_end_matches('.').to_ascii_lowercase();
    if [".rpz-ip", ".rpz-nsdname", ".rpz-nsip", ".rpz-client-ip"]
        .iter()
        .any(|t| owner.ends_with(t))
    {
        return out.skipped(at, SKIP_RPZ_TRIGGER);
    }
    match owner.strip_prefix("*.") {
        Some(n) => name(n, MatchMode::SubdomainsOnly, trimmed, at, out),
        None => name(&owner, MatchMode::Exact, trimmed, at, out),
    }
}

/// Why a `*` anywhere but a leading `*.` label is bad.
const WILDCARD_ONLY_FIRST: &str = value::WILDCARD;

/// Why a line of several words that is neither a hosts-file line nor a zone record is bad.
const SEVERAL_WORDS: &str =
    "several words: not an address, a name, a hosts-file line or a zone record";

/// Resource record types an RPZ policy or a zone's own records use.
fn is_rr_type(t: &str) -> bool {
    [
        "CNAME", "A", "AAAA", "TXT", "SOA", "NS", "DNAME", "MX", "PTR", "SRV",
    ]
    .iter()
    .any(|r| t.eq_ignore_ascii_case(r))
}

/// A zone record's TTL (`300`, `1h`) or class (`IN`) between its owner and its type.
fn is_ttl_or_class(t: &str) -> bool {
    ["IN", "CH", "HS"].iter().any(|c| t.eq_ignore_ascii_case(c))
        || t.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `rdata` is what a record of type `kind` holds, so that a line of words is taken for
/// a zone record only when it is one (`not a domain!` has an `a` in it, but no address after).
fn rdata_fits(kind: &str, rdata: &[&str]) -> bool {
    let one = |f: &dyn Fn(&str) -> bool| matches!(rdata, [r] if f(r));
    match kind.to_ascii_uppercase().as_str() {
        "A" => one(&|r| r.parse::<std::net::Ipv4Addr>().is_ok()),
        "AAAA" => one(&|r| r.parse::<std::net::Ipv6Addr>().is_ok()),
        "CNAME" | "DNAME" | "NS" | "PTR" => {
            one(&|r| r.ends_with('.') || r.starts_with("rpz-") || value::parse_domain(r).is_ok())
        }
        "TXT" => rdata.first().is_some_and(|r| r.starts_with('"')),
        _ => !rdata.is_empty(), // SOA, MX, SRV
    }
}

/// The text before a `;` that starts it or follows whitespace (zone-file comments).
fn strip_semicolon(line: &str) -> &str {
    match line.find(';') {
        Some(0) => "",
        Some(i) if line.as_bytes()[i - 1].is_ascii_whitespace() => line[..i].trim_end(),
        _ => line,
    }
}

/// One of a hosts file's own names.
fn hosts_own_name(v: &str) -> bool {
    HOSTS_OWN_NAMES.iter().any(|n| n.eq_ignore_ascii_case(v))
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
        fn skipped(&mut self, at: Location<'_>, what: &str) {
            self.1.skipped(at, what);
        }
    }

    fn parse_all(text: &str) -> Parsed {
        let mut k = Keep::default();
        parse(text, 1, Opts::default(), &mut k);
        assert!(k.1.skipped.is_empty(), "{:?}", k.1.skipped);
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
        assert_reason("us er@evil.com", SEVERAL_WORDS);
        assert_reason("user@evil..com", "empty label");
        assert_reason("bad name.com", SEVERAL_WORDS);
        // words that look like a record but are not one
        assert_reason("not a domain!", SEVERAL_WORDS);
        assert_reason("evil.com CNAME", SEVERAL_WORDS);
        assert_reason("evil.com 300 IN A 1.2.3", SEVERAL_WORDS);
        assert_reason("evil,com/path", "','");
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
        assert_reason("..com", "empty label");
    }

    #[test]
    fn urls_without_an_http_scheme_are_refused() {
        assert_reason("hxxps://evil.com", "not an http:// or https:// URL");
        assert_reason("ftp://evil.com/a", "not an http:// or https:// URL");
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
        assert_eq!(lines, vec![2, 4, 7, 8, 10]);
        let bad: Vec<_> = errors.iter().map(|e| (e.line, e.text.as_str())).collect();
        assert_eq!(
            bad,
            vec![(3, "1.2.3.256"), (6, "10.1.2.3/8"), (9, "bad..name")]
        );
        assert_eq!(errors[0].reason, "invalid IPv4 address");
    }

    /// (line, value text, match mode, port) of an entry.
    type Row = (String, String, Option<MatchMode>, Option<u16>);

    /// (line, value text, match mode, port) of every entry, and (line, skip reason) of every
    /// skip, for the shapes that set fields.
    fn shapes(text: &str) -> (Vec<Row>, Collect) {
        let mut k = Keep::default();
        parse(text, 1, Opts::default(), &mut k);
        assert!(k.0.is_empty(), "{:?}", k.0);
        let entries =
            k.1.entries
                .iter()
                .map(|(at, v, f)| {
                    let text = match v {
                        Value::Domain(n) => String::from_utf8(n.clone()).unwrap(),
                        Value::Ip(a) => a.to_string(),
                        Value::Cidr(n) => n.to_string(),
                        Value::Token(t, k) => t.text(k),
                    };
                    (at.clone(), text, f.match_mode, f.port)
                })
                .collect();
        (entries, k.1)
    }

    fn row(line: &str, v: &str, m: Option<MatchMode>, p: Option<u16>) -> Row {
        (line.into(), v.into(), m, p)
    }

    #[test]
    fn wildcard_dot_and_adblock_names_say_what_they_cover() {
        use MatchMode::*;
        let text = "\
[Adblock Plus 2.0]
! Title: hagezi-style
*.evil.com
.squid.example
||ads.example^
||ads2.example^$important
@@||good.example^
||x.example^$third-party
||x.example/path^
";
        let (e, c) = shapes(text);
        assert_eq!(
            e,
            [
                row("3", "evil.com", Some(SubdomainsOnly), None),
                row("4", "squid.example", Some(Subdomain), None),
                row("5", "ads.example", Some(Subdomain), None),
                row("6", "ads2.example", Some(Subdomain), None),
            ][..]
        );
        let skips: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, w)| (a.as_str(), w.as_str()))
            .collect();
        assert_eq!(
            skips,
            [
                ("7", SKIP_ADBLOCK_EXCEPTION),
                ("8", SKIP_ADBLOCK_OTHER),
                ("9", SKIP_ADBLOCK_OTHER)
            ]
        );
        assert_eq!(c.bad.len(), 0);
        // `*` anywhere but a leading `*.` label is bad
        assert_reason("*evil.com", "a wildcard is only `*.`");
        assert_reason("a.*.evil.com", "a wildcard is only `*.`");
        assert_reason("*.*.evil.com", "a wildcard is only `*.`");
    }

    #[test]
    fn hosts_file_lines_give_their_names_and_skip_their_own() {
        let text = "\
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
255.255.255.255 broadcasthost
::1 localhost ip6-localhost ip6-loopback
fe80::1%lo0 localhost
0.0.0.0 0.0.0.0
0.0.0.0 evil.com
127.0.0.1\tbad.example  # tracker
0.0.0.0 a.example b.example
";
        let (e, c) = shapes(text);
        assert_eq!(
            e,
            [
                row("7", "evil.com", None, None),
                row("8", "bad.example", None, None),
                row("9", "a.example", None, None),
                row("9", "b.example", None, None),
            ][..]
        );
        let lines: Vec<&str> = c.skipped.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(lines, ["1", "2", "3", "4", "4", "4", "5", "6"]);
        assert!(c.skipped.iter().all(|(_, w)| w == SKIP_HOSTS_OWN));
        assert_reason("0.0.0.0 bad..name", "empty label");
    }

    #[test]
    fn rpz_records_are_exact_or_subdomains_only_and_zone_records_are_skipped() {
        use MatchMode::*;
        let text = "\
$TTL 300
@ IN SOA localhost. root.localhost. (
        2024050101 ; serial
        3600 )
@ IN NS localhost.
  NS localhost.
evil.com CNAME .
*.evil.com CNAME .
Bad.Example 300 IN CNAME *. ; nodata
walled.example CNAME garden.example.
ok.example CNAME rpz-passthru.
32.1.2.0.192.rpz-ip CNAME .
ns.evil.rpz-nsdname CNAME .
";
        let (e, c) = shapes(text);
        assert_eq!(
            e,
            [
                row("7", "evil.com", Some(Exact), None),
                row("8", "evil.com", Some(SubdomainsOnly), None),
                row("9", "bad.example", Some(Exact), None),
                row("10", "walled.example", Some(Exact), None),
            ][..]
        );
        let skips: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, w)| (a.as_str(), w.as_str()))
            .collect();
        assert_eq!(
            skips,
            [
                ("1", SKIP_ZONE_RECORD),
                ("2", SKIP_ZONE_RECORD),
                ("5", SKIP_ZONE_RECORD),
                ("6", SKIP_ZONE_RECORD),
                ("11", SKIP_RPZ_PASSTHRU),
                ("12", SKIP_RPZ_TRIGGER),
                ("13", SKIP_RPZ_TRIGGER),
            ]
        );
    }

    #[test]
    fn host_and_port_entries_keep_the_port_and_host_paths_are_urls() {
        let text = "\
# Maltrail-style trail
1.2.3.4:443
[2001:db8::1]:8443
evil.com:8080
2001:db8::2
/guids/upload.php
evil.com/gate.php
1.2.3.4/bins/mips
evil.com:8080/x
";
        let (e, c) = shapes(text);
        assert_eq!(
            e,
            [
                row("2", "1.2.3.4", None, Some(443)),
                row("3", "2001:db8::1", None, Some(8443)),
                row("4", "evil.com", None, Some(8080)),
                row("5", "2001:db8::2", None, None),
                row("7", "evil.com/gate.php", None, None),
                row("8", "1.2.3.4/bins/mips", None, None),
                row("9", "evil.com:8080/x", None, None),
            ][..]
        );
        let skips: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, w)| (a.as_str(), w.as_str()))
            .collect();
        assert_eq!(skips, [("6", SKIP_URL_PATH)]);
        assert_reason("1.2.3.4:0", "bad port \"0\": must be 1 to 65535");
        assert_reason("1.2.3.4:65536", "bad port");
        assert_reason("1.2.3.999:80", "invalid IPv4 address before the port");
        assert_reason("[2001:db8::g]:80", "not an IP address");
        assert_reason("evil..com:80", "empty label");
        // a colon that is not a port is still not taken for a name
        assert_reason("evil.com:http", "invalid IPv6 address");
    }

    #[test]
    fn unicode_names_load_as_punycode() {
        assert_eq!(
            good("bücher.de"),
            Value::Domain(b"xn--bcher-kva.de".to_vec())
        );
    }

    /// (line, type, presentation) of an entry.
    type Typed = (String, String, String);

    /// Entries as (line, type, presentation) and bad lines, with `opts`; plus the https count.
    fn typed(text: &str, opts: Opts) -> (Vec<Typed>, Vec<(String, String)>, usize) {
        #[derive(Default)]
        struct K(Collect, usize);
        impl FeedSink for K {
            fn entry(&mut self, at: Location<'_>, value: Value, fields: Fields) {
                self.0.entry(at, value, fields)
            }
            fn bad(&mut self, at: Location<'_>, reason: &str, text: &str) {
                self.0.bad(at, reason, text)
            }
            fn skipped(&mut self, at: Location<'_>, what: &str) {
                self.0.skipped(at, what)
            }
            fn https_url(&mut self) {
                self.1 += 1;
            }
        }
        let mut k = K::default();
        parse(text, 1, opts, &mut k);
        let e =
            k.0.entries
                .iter()
                .map(|(at, v, _)| {
                    let shown = match v {
                        Value::Domain(n) => String::from_utf8(n.clone()).unwrap(),
                        Value::Ip(a) => a.to_string(),
                        Value::Cidr(n) => n.to_string(),
                        Value::Token(t, key) => t.text(key),
                    };
                    (at.clone(), v.kind().as_str().to_owned(), shown)
                })
                .collect();
        (e, k.0.bad, k.1)
    }

    fn r(at: &str, kind: &str, v: &str) -> Typed {
        (at.into(), kind.into(), v.into())
    }

    #[test]
    fn hashes_addresses_and_urls_are_recognised_by_shape() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let text = format!(
            "{md5}\n{sha1}\n{sha256}\nBad.Guy@Evil.example\nhttp://Evil.example:80/a/../b?q#f\n\
             https://cdn.example/x.exe\nevil.example/gate.php\n\
             # decoys: one hex digit short, a non-hex digit, a dotted hex name\n\
             {}\n{}z\n{}.example\n",
            &md5[1..],
            &sha1[1..],
            &md5[..20]
        );
        let (e, bad, https) = typed(&text, Opts::default());
        assert_eq!(
            e,
            [
                r("1", "md5", &md5.to_ascii_lowercase()),
                r("2", "sha1", sha1),
                r("3", "sha256", sha256),
                r("4", "email", "bad.guy@evil.example"),
                r("5", "url", "evil.example/b?q"),
                r("6", "url", "cdn.example/x.exe"),
                r("7", "url", "evil.example/gate.php"),
                // 31 hex digits: a one-label name, as before (not a hash)
                r("9", "domain", &md5[1..].to_ascii_lowercase()),
                r("10", "domain", &format!("{}z", &sha1[1..])),
                r(
                    "11",
                    "domain",
                    &format!("{}.example", &md5[..20].to_ascii_lowercase())
                ),
            ][..]
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(https, 1);
    }

    #[test]
    fn a_declared_type_reads_every_line_as_it() {
        let ja3 = "e7d705a3286e19ea42f587b344ee6865";
        let opts = |k| Opts {
            kind: Some(k),
            ..Opts::default()
        };
        let (e, bad, _) = typed(
            &format!("# SSLBL JA3\n{ja3}\n{}\nevil.example\n", &ja3[1..]),
            opts(Token::Ja3),
        );
        assert_eq!(e, [r("2", "ja3", ja3)]);
        let lines: Vec<&str> = bad.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(lines, ["3", "4"]);
        assert!(
            bad[0].1.contains("not a ja3: 32 hex digits expected"),
            "{bad:?}"
        );
        // 40 hex digits: a certificate SHA-1 where declared, a file SHA-1 otherwise
        let h = "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9";
        assert_eq!(typed(h, opts(Token::CertSha1)).0, [r("1", "cert_sha1", h)]);
        assert_eq!(typed(h, Opts::default()).0, [r("1", "sha1", h)]);
        let ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
        assert_eq!(typed(ja4, opts(Token::Ja4)).0, [r("1", "ja4", ja4)]);
        assert_eq!(typed(ja4, opts(Token::Ja4s)).1.len(), 1);
        // in an undeclared list, a type prefix says what 32 hex digits are
        let (e, bad, _) = typed(
            &format!("ja3:{ja3}\ncert_sha1:{h}\nja3:{}\n", &ja3[1..]),
            Opts::default(),
        );
        assert_eq!(e, [r("1", "ja3", ja3), r("2", "cert_sha1", h)]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        // a declared url list reads host/path lines and bare hosts as URLs
        assert_eq!(
            typed("evil.example\n", opts(Token::Url)).0,
            [r("1", "url", "evil.example/")]
        );
    }

    #[test]
    fn https_urls_load_as_their_host_when_the_feed_says_so() {
        let opts = Opts {
            url_https: UrlHttps::Host,
            ..Opts::default()
        };
        let (e, bad, https) = typed(
            "https://Cdn.Example/x.exe\nhttps://[2001:db8::7]/a\nhttp://evil.example/a\n",
            opts,
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            e,
            [
                r("1", "domain", "cdn.example"),
                r("2", "ipv6", "2001:db8::7"),
                r("3", "url", "evil.example/a"),
            ][..]
        );
        assert_eq!(https, 2);
    }
}
