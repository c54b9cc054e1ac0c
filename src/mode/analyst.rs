//! The analyst's commands: `iocd check` (is every feed usable, and what is wrong with it) and
//! `iocd lookup` (what would match this value, with which context).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::{AppError, EXIT_FAILURE};
use crate::cli::{FeedArgs, LookupArgs};
use crate::config::FeedConfig;
use crate::event::{format_time, IndicatorRef};
use crate::indicators::{
    feeds, parse_time, value, Action, AllowVerdict, Decision, Hit, IndicatorSet, Value,
};
use crate::observe::Token;
use crate::settings::Settings;

/// The feed list from `--config` (or the default config) and `--feed`, and the config's
/// `home_net`.
fn feed_list(args: &FeedArgs) -> Result<(Vec<FeedConfig>, Vec<ipnet::IpNet>), AppError> {
    Settings::for_feeds(args.config.as_deref(), &args.feeds)
        .map(|s| (s.feeds, s.config.home_net()))
        .map_err(AppError::Config)
}

/// A remote feed's line in `iocd check`: where it comes from, its last fetch and outcome, and
/// the age of the copy in use (from its sidecar, see [`crate::fetch::FetchState`]).
fn remote_line(feed: &crate::config::FeedConfig) -> String {
    let st = crate::fetch::load_state(feed);
    let now = crate::fetch::now_unix();
    let when = |t: i64| {
        if t <= 0 {
            "never".to_owned()
        } else {
            format!(
                "{} ({} ago)",
                crate::event::format_time(t * 1_000_000),
                humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(now - t).unwrap_or(0)
                ))
            )
        }
    };
    format!(
        "  remote {}: last fetch {}: {}; copy in use written {}\n",
        feed.url.as_deref().unwrap_or(""),
        when(st.last_fetch),
        if st.last_outcome.is_empty() {
            "-"
        } else {
            &st.last_outcome
        },
        when(st.updated),
    )
}

/// `iocd check`.
pub fn check(args: FeedArgs) -> Result<u8, AppError> {
    let (list, home_net) = feed_list(&args)?;
    let (_set, report) = match feeds::build_set(&list, &home_net) {
        Ok(built) => built,
        Err(e) => match e.report() {
            Some(r) => (IndicatorSet::default(), r.clone()),
            None => return Err(AppError::Config(e.into())),
        },
    };
    let mut out = String::new();
    let mut unusable = 0;
    for (i, f) in report.feeds.iter().enumerate() {
        let [v4, v6, cidr, dom] = f.by_type;
        let _ = write!(out, "feed {:?} ({}): ", f.name, f.path.display());
        let remote = list
            .get(i)
            .filter(|c| c.is_remote())
            .map(remote_line)
            .unwrap_or_default();
        if let Some(why) = &f.failure {
            unusable += 1;
            let _ = writeln!(out, "UNUSABLE: {why}");
            out.push_str(&remote);
            // too many bad entries: show them (escaped, cut), they say what is wrong
            if f.unusable {
                print_problems(&mut out, f);
            }
            continue;
        }
        let mut tokens = String::new();
        for (kind, n) in Token::ALL.iter().zip(f.by_token) {
            if n > 0 {
                let _ = write!(tokens, ", {} {n}", kind.as_str());
            }
        }
        let _ = write!(
            out,
            "{} indicators: ipv4 {v4}, ipv6 {v6}, cidr {cidr}, domain {dom}{tokens}; {} duplicates, {} bad, {} too broad, {} skipped, {} already expired",
            f.stored(),
            f.duplicates,
            f.bad,
            f.too_broad,
            f.skipped_total(),
            f.expired_now
        );
        if f.https_urls > 0 {
            let _ = write!(
                out,
                ", {} https URLs ({})",
                f.https_urls,
                if f.https_as_host {
                    "loaded as their hosts: url_https = \"host\""
                } else {
                    "seen in clear only through a proxy; url_https = \"host\" matches their hosts by SNI instead"
                }
            );
        }
        if f.narrowed > 0 {
            let _ = write!(out, ", {} public suffixes as exact", f.narrowed);
        }
        if f.home_net_overlap + f.home_net_excluded > 0 {
            let _ = write!(
                out,
                ", {} overlap home_net ({} refused)",
                f.home_net_overlap + f.home_net_excluded,
                f.home_net_excluded
            );
        }
        let _ = writeln!(out);
        out.push_str(&remote);
        if f.stored() == 0 {
            unusable += 1;
            let _ = writeln!(out, "  UNUSABLE: no indicator in this feed (wrong format?)");
        }
        for (what, n) in &f.skipped {
            let _ = writeln!(out, "  skipped {n}: {what}");
        }
        print_problems(&mut out, f);
    }
    let _ = writeln!(
        out,
        "total: {} indicators, {} contexts, {} of {} feeds usable, loaded in {:.3}s",
        report.indicators,
        report.contexts,
        report.feeds.len() - unusable,
        report.feeds.len(),
        report.duration.as_secs_f64()
    );
    print(&out)?;
    Ok(if unusable > 0 { EXIT_FAILURE } else { 0 })
}

/// A feed's kept problems, one `file:line: reason: "text"` a line, and how many are not shown.
fn print_problems(out: &mut String, f: &feeds::FeedReport) {
    for e in &f.errors {
        let _ = writeln!(out, "  {e}");
    }
    let unshown = f.problems().saturating_sub(f.errors.len());
    if unshown > 0 {
        let _ = writeln!(out, "  ... and {unshown} more problems not shown");
    }
}

/// One matching indicator as `lookup --json` prints it.
#[derive(Serialize)]
struct Found {
    #[serde(flatten)]
    indicator: IndicatorRef,
    action: &'static str,
    /// Whether the validity window covers the lookup time.
    valid: bool,
    /// For a valid alert indicator covered by an allowlist entry: what the allowlist does.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowlist: Option<AllowNote>,
}

/// An allowlist entry covering an alert indicator, and whether it suppresses it.
#[derive(Serialize)]
struct AllowNote {
    /// `suppressed`, or `kept` (the indicator is more specific than the entry).
    verdict: &'static str,
    feed: String,
    value: String,
}

#[derive(Serialize)]
struct Answer<'a> {
    value: &'a str,
    /// Why the value could not be looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What traffic with this value would do at the lookup time: `alert`, `suppressed` (by an
    /// allowlist), `inactive` (no indicator valid), `listed` (only allowlist or warninglist
    /// entries), `none` (no match).
    verdict: &'static str,
    /// The verdict in words, as the text output prints it.
    reason: String,
    /// On `alert`: the warninglists (flag feeds) that list the value too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warninglist: Vec<String>,
    matches: Vec<Found>,
}

/// What `set.decide` makes of `hits` at `at_us`, explained: (verdict, reason, warninglists).
fn verdict(set: &IndicatorSet, hits: &[Hit], at_us: i64) -> (&'static str, String, Vec<String>) {
    if hits.is_empty() {
        return ("none", "no match".into(), Vec::new());
    }
    let valid: Vec<Hit> = hits
        .iter()
        .copied()
        .filter(|h| set.context(h.ctx).valid_at(at_us))
        .collect();
    let mut decided = hits.to_vec();
    let describe = |h: &Hit| {
        let m = set.resolve(h);
        format!(
            "{} {} of feed {}",
            m.itype.as_str(),
            m.value,
            m.context.feed
        )
    };
    match set.decide(&mut decided, at_us) {
        Decision::Inactive => (
            "inactive",
            "no alert: no indicator is valid at the lookup time".into(),
            Vec::new(),
        ),
        Decision::Listed => {
            let feeds: Vec<String> = valid
                .iter()
                .map(|h| set.context(h.ctx).feed.to_string())
                .collect();
            (
                "listed",
                format!(
                    "no alert: only allowlist or warninglist entries ({})",
                    dedup(feeds).join(", ")
                ),
                Vec::new(),
            )
        }
        Decision::Allowed => {
            let by: Vec<String> = valid
                .iter()
                .filter(|h| set.context(h.ctx).action == Action::Alert)
                .filter_map(|h| match set.allow_verdict(h, &valid) {
                    AllowVerdict::Suppressed(a) => Some(allow_entry(set, a)),
                    _ => None,
                })
                .collect();
            (
                "suppressed",
                format!("suppressed by allowlist {}", dedup(by).join(", ")),
                Vec::new(),
            )
        }
        Decision::Alert => {
            let (alerts, flags) = decided.split_at(set.alert_count(&decided));
            let lists: Vec<String> = set
                .list_names(flags)
                .iter()
                .map(|f| f.to_string())
                .collect();
            let mut reason = String::from("alert: ");
            if let Some(first) = alerts.first() {
                reason += &describe(first);
                if let AllowVerdict::Kept(a) = set.allow_verdict(first, &valid) {
                    let _ = write!(
                        reason,
                        ", more specific than allowlist {}",
                        allow_entry(set, a)
                    );
                }
            }
            if !lists.is_empty() {
                let _ = write!(reason, "; on warninglist {}", lists.join(", "));
            }
            ("alert", reason, lists)
        }
    }
}

/// `feed (value)` of an allow entry.
fn allow_entry(set: &IndicatorSet, a: &Hit) -> String {
    format!("{} ({})", set.context(a.ctx).feed, set.value_text(&a.value))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

/// `iocd lookup`.
pub fn lookup(args: LookupArgs) -> Result<u8, AppError> {
    let at_us = match &args.at {
        Some(t) => parse_time(t).map_err(|e| AppError::Config(anyhow::anyhow!("--at: {e}")))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
    };
    let (list, home_net) = feed_list(&args.source)?;
    let (set, report) = match feeds::build_set(&list, &home_net) {
        Ok(built) => built,
        Err(e) => {
            if let Some(r) = e.report() {
                crate::reload::log_report(r);
            }
            return Err(AppError::Config(e.into()));
        }
    };
    if report.failed_feeds() > 0 {
        crate::reload::log_report(&report);
    }
    let mut out = String::new();
    let mut any = false;
    let mut hits = Vec::new();
    for v in &args.values {
        hits.clear();
        let error = observe(&set, v, &mut hits).err();
        set.rank(&mut hits);
        any |= !hits.is_empty();
        let (verdict, reason, warninglist) = verdict(&set, &hits, at_us);
        let valid: Vec<Hit> = hits
            .iter()
            .copied()
            .filter(|h| set.context(h.ctx).valid_at(at_us))
            .collect();
        let found: Vec<Found> = hits
            .iter()
            .map(|h| {
                let c = set.context(h.ctx);
                let valid_now = c.valid_at(at_us);
                let allowlist = match (c.action, valid_now) {
                    (Action::Alert, true) => match set.allow_verdict(h, &valid) {
                        AllowVerdict::NotCovered => None,
                        AllowVerdict::Suppressed(a) => Some(("suppressed", a)),
                        AllowVerdict::Kept(a) => Some(("kept", a)),
                    },
                    _ => None,
                }
                .map(|(verdict, a)| AllowNote {
                    verdict,
                    feed: set.context(a.ctx).feed.to_string(),
                    value: set.value_text(&a.value),
                });
                Found {
                    indicator: IndicatorRef::new(&set, h),
                    action: c.action.as_str(),
                    valid: valid_now,
                    allowlist,
                }
            })
            .collect();
        if args.json {
            let a = Answer {
                value: v,
                error,
                verdict,
                reason,
                warninglist,
                matches: found,
            };
            let _ = writeln!(out, "{}", serde_json::to_string(&a).unwrap_or_default());
            continue;
        }
        if let Some(e) = error {
            let _ = writeln!(out, "{v}: cannot look up: {e}");
        } else if found.is_empty() {
            let _ = writeln!(out, "{v}: no match");
        } else {
            let _ = writeln!(out, "{v}: {} indicators", found.len());
        }
        for f in &found {
            text_indicator(&mut out, f);
        }
        if !found.is_empty() {
            let _ = writeln!(out, "  verdict: {reason}");
        }
    }
    print(&out)?;
    Ok(if any { 0 } else { EXIT_FAILURE })
}

/// Look `v` up as an observable: an address; a URL (its key, and its host as traffic with it
/// shows the host too); a hex digest under every kind its length can be (32 digits: MD5, JA3,
/// JA3S; 40: SHA-1, certificate SHA-1; 64: SHA-256, certificate SHA-256), the hit's type
/// saying which matched; a JA4 or JA4S; an e-mail address (and its domain, as the wire checks
/// both); else a name (normalised like traffic names).
fn observe(set: &IndicatorSet, v: &str, hits: &mut Vec<Hit>) -> Result<(), String> {
    let v = v.trim();
    if let Ok(ip) = v.parse::<IpAddr>() {
        set.lookup_ip(ip, hits);
        return Ok(());
    }
    let hex: String = v.chars().filter(|&c| c != ':').collect();
    let kinds: &[Token] = if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        match hex.len() {
            32 => &[Token::Md5, Token::Ja3, Token::Ja3s],
            40 => &[Token::Sha1, Token::CertSha1],
            64 => &[Token::Sha256, Token::CertSha256],
            _ => &[],
        }
    } else {
        &[]
    };
    if !kinds.is_empty() {
        for &k in kinds {
            if let Ok(Value::Token(k, key)) = value::parse_token(k, &hex) {
                set.lookup_token(k, &key, hits);
            }
        }
        return Ok(());
    }
    for k in [Token::Ja4, Token::Ja4s] {
        if let Ok(Value::Token(k, key)) = value::parse_token(k, v) {
            set.lookup_token(k, &key, hits);
            return Ok(());
        }
    }
    if v.contains('@') {
        let Value::Token(_, key) = value::parse_token(Token::Email, v)? else {
            return Err("not an e-mail address".into());
        };
        set.lookup_token(Token::Email, &key, hits);
        if let Some(at) = key.iter().rposition(|&b| b == b'@') {
            set.lookup_domain(&key[at + 1..], hits);
        }
        return Ok(());
    }
    if v.contains("://") || (v.contains('/') && value::parse_cidr(v).is_err()) {
        let u = crate::url::parse(v).map_err(|e| e.to_string())?;
        set.lookup_token(Token::Url, &u.key, hits);
        let host = std::str::from_utf8(&u.host).unwrap_or_default();
        match host.parse::<IpAddr>() {
            Ok(ip) => set.lookup_ip(ip, hits),
            Err(_) => set.lookup_domain(&u.host, hits),
        }
        return Ok(());
    }
    match value::parse_domain(v)? {
        Value::Domain(name) => set.lookup_domain(&name, hits),
        _ => {
            return Err(
                "not an address, a name, a URL, a hash, a fingerprint or an e-mail address".into(),
            )
        }
    }
    Ok(())
}

fn text_indicator(out: &mut String, f: &Found) {
    let i = &f.indicator;
    let c = &i.context;
    let _ = write!(
        out,
        "  {} {} ({}) feed={} action={} severity={} confidence={}",
        i.kind,
        i.value,
        i.match_kind,
        c.feed,
        f.action,
        c.severity.as_str(),
        c.confidence.map_or("-".to_owned(), |c| c.to_string())
    );
    if let Some(p) = c.port {
        let only = if c.port_only { " (match_port)" } else { "" };
        let _ = write!(out, " port={p}{only}");
    }
    if !c.tags.is_empty() {
        let tags: Vec<&str> = c.tags.iter().map(|t| &**t).collect();
        let _ = write!(out, " tags={}", tags.join(","));
    }
    if c.valid_from.is_some() || c.valid_until.is_some() {
        let _ = write!(
            out,
            " valid={}..{}",
            c.valid_from.map(format_time).unwrap_or_default(),
            c.valid_until.map(format_time).unwrap_or_default()
        );
    }
    if !f.valid {
        let _ = write!(out, " [NOT VALID at the lookup time]");
    }
    match &f.allowlist {
        Some(n) if n.verdict == "suppressed" => {
            let _ = write!(out, " [suppressed by allowlist {} ({})]", n.feed, n.value);
        }
        Some(n) => {
            let _ = write!(
                out,
                " [more specific than allowlist {} ({}): not suppressed]",
                n.feed, n.value
            );
        }
        None => {}
    }
    let _ = writeln!(out);
    if let Some(d) = c.description.as_deref() {
        let _ = writeln!(out, "    description: {}", escape_text(d));
    }
    if let Some(r) = c.reference.as_deref() {
        let _ = writeln!(out, "    reference: {}", escape_text(r));
    }
    if let Some(id) = c.id.as_deref() {
        let _ = writeln!(out, "    id: {}", escape_text(id));
    }
}

/// Feed text may carry control characters: show them escaped, never raw on a terminal.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn print(s: &str) -> Result<(), AppError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| AppError::Other(anyhow::anyhow!("writing to stdout: {e}")))
}
