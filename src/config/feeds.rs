//! `[[feeds]]`: where each feed is, its format, and the context its entries take unless they
//! set their own; and the vocabulary feeds and config share (severity, action, match mode,
//! times), defined here so that `config` imports nothing and `indicators` reads it.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One `[[feeds]]` entry: where the feed is, its format, and the context its entries take
/// unless they set their own (an entry's own fields, when its format has them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Name carried in events as `indicator.feed`; the file stem when unset.
    pub name: Option<String>,
    /// Path of the feed file (a directory for `misp`); relative paths are relative to the config
    /// file's directory. Empty for a remote feed (`url`), whose local copy the config loader
    /// places in `<state_dir>/feeds/` ([`FeedConfig::place_remote`]).
    #[serde(default)]
    pub path: PathBuf,
    /// Format of the file.
    #[serde(default)]
    pub format: FeedFormat,
    /// `alert` (default), `allow` (an allowlist: suppresses matches of what it covers, see
    /// `applies_to` and `override`) or `flag` (a warninglist: its matches raise no event, they
    /// name the list in the `warninglist` field of other feeds' events on the same observable).
    #[serde(default)]
    pub action: Action,
    /// For an allowlist: the feeds whose matches it may suppress, by name. Unset: every feed.
    pub applies_to: Option<Vec<String>>,
    /// For an allowlist: `specific` (default: a matching indicator more specific than the allow
    /// entry still alerts) or `all` (every match it covers is suppressed).
    #[serde(default, rename = "override")]
    pub allow_override: AllowOverride,
    /// For domains: `subdomain` (default: the name and every name below it) or `exact`.
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    /// 0-100; unset means unknown (shown as null).
    pub confidence: Option<u8>,
    /// Default `medium`.
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// A URL about the feed.
    pub reference: Option<String>,
    /// RFC 3339 time or date: entries match no packet before it.
    pub valid_from: Option<String>,
    /// RFC 3339 time or date: entries match no packet at or after it.
    pub valid_until: Option<String>,
    /// On reload, a feed that lost more than this fraction of its entries keeps its previous
    /// entries instead (a truncated download must not empty a feed). 0.0-1.0, default 0.5;
    /// 1.0 disables the check.
    #[serde(default = "default_max_shrink")]
    pub max_shrink: f64,
    /// A feed whose bad entries are more than this fraction of its entries (good and bad;
    /// skipped ones not counted) is unusable: not loaded at startup, its previous entries kept
    /// on reload (random bytes or the wrong format must not pass for a feed because one line
    /// parsed). 0.0-1.0, default 0.1; 1.0 disables the check.
    #[serde(default = "default_max_bad_ratio")]
    pub max_bad_ratio: f64,
    /// Accept values that match nearly everything (`com`, a public suffix, `0.0.0.0/0`, CIDRs
    /// shorter than /8 or /16 for IPv6); refused with a warning by default.
    #[serde(default)]
    pub allow_broad: bool,
    /// Entries written `address:port` or `name:port` (Maltrail, Feodo, ThreatFox) keep their
    /// port as context (`indicator.port` in events); with this set they match only a flow with
    /// that port on either side (source or destination). Default false: the port is context.
    #[serde(default)]
    pub match_port: bool,
    /// Refuse the address and CIDR entries that overlap `home_net` (a bogon list holds
    /// 10.0.0.0/8: every internal flow would match). By default they load with a warning that
    /// names them.
    #[serde(default)]
    pub exclude_home_net: bool,
    /// A wildcard entry `*.x` covers only the names below x (DNS and RPZ wildcards: not x
    /// itself). With this set it covers x too, as `x` in `subdomain` mode does.
    #[serde(default)]
    pub wildcard_includes_base: bool,
    /// Column mapping for `format = "csv"`.
    pub csv: Option<CsvConfig>,
    /// What the feed's bare values are, where their text alone cannot say: a 32-hex value is an
    /// MD5 file hash unless the feed declares `type = "ja3"`, a 40-hex one a file SHA-1 unless
    /// `type = "cert_sha1"`. Every value must then be of that type (else it is a bad entry).
    /// Unset: read from each value's shape (and a format's own type field).
    #[serde(default, rename = "type")]
    pub kind: Option<Token>,
    /// What an `https://` URL entry loads as: `url` (default; seen in clear only through a
    /// proxy) or `host` (its host, as an exact domain or address indicator, matched by SNI, DNS
    /// and Host).
    #[serde(default)]
    pub url_https: UrlHttps,
    /// `https://` (or `http://`) URL of a feed iocd fetches itself, instead of `path`: the feed
    /// file; for `format = "taxii"` the collection (or its `objects/` endpoint); for
    /// `format = "misp"` the feed directory (its `manifest.json` is read from there).
    pub url: Option<String>,
    /// How often the daemon fetches a `url` feed again (humantime: "1h", "15m"); default 1h.
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub refresh: Option<std::time::Duration>,
    /// Give up on a request after this long (connect, headers and body); default 60s.
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub timeout: Option<std::time::Duration>,
    /// Refuse a download larger than this many bytes (after decompression); default
    /// [`DEFAULT_MAX_DOWNLOAD_BYTES`].
    pub max_bytes: Option<u64>,
    /// PEM file of CA certificates trusted for this feed's server, besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// For a zip payload: the member to read; default the first file in the archive.
    pub zip_member: Option<String>,
    /// Credentials, read from a file or the environment (never written in the config).
    pub auth: Option<AuthConfig>,
}

/// `auth = { ... }`: where a remote feed's credentials come from. One of `bearer_file`,
/// `basic_user` + `password_file`/`password_env`, or `header` + `value_file`/`value_env`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Keys that would hold a secret in the config text: refused (exit 78) with a message
    /// saying to use a file or an environment variable.
    pub password: Option<serde::de::IgnoredAny>,
    pub token: Option<serde::de::IgnoredAny>,
    pub bearer: Option<serde::de::IgnoredAny>,
    pub value: Option<serde::de::IgnoredAny>,
    pub api_key: Option<serde::de::IgnoredAny>,
    pub key: Option<serde::de::IgnoredAny>,
    /// File holding a token sent as `Authorization: Bearer <token>`.
    pub bearer_file: Option<PathBuf>,
    /// Environment variable holding such a token.
    pub bearer_env: Option<String>,
    /// User name for HTTP basic authentication (not a secret).
    pub basic_user: Option<String>,
    /// File holding the basic-auth password.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the basic-auth password.
    pub password_env: Option<String>,
    /// A header to send (`Authorization` for MISP, `X-API-Key`, ...), its value from
    /// `value_file` or `value_env`.
    pub header: Option<String>,
    pub value_file: Option<PathBuf>,
    pub value_env: Option<String>,
}

/// Largest download accepted by default (after decompression): 256 MiB, a quarter of
/// `MAX_FEED_BYTES` (1 GiB, the largest feed file read): the biggest public feeds (URLhaus full,
/// Tranco top 1M) are under 100 MB; set `max_bytes` for more.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// Default `refresh` of a remote feed.
pub const DEFAULT_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

/// Shortest `refresh` accepted: one second (tests); feed servers ask for minutes.
pub const MIN_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Default request timeout of a remote feed.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl FeedConfig {
    pub fn refresh(&self) -> std::time::Duration {
        self.refresh.unwrap_or(DEFAULT_REFRESH)
    }
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.unwrap_or(DEFAULT_MAX_DOWNLOAD_BYTES)
    }
}

/// The indicator types matched by exact key, beyond addresses and names: hashes, fingerprints,
/// e-mail addresses and URLs; also a feed's `type = ...` (the type of its bare values). An observable of one of these kinds is an `observe::Observed::Token`;
/// an indicator is a `Value::Token` of the same kind, and the two match when their keys are
/// equal (see [`Token`]'s key forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Token {
    /// JA3 of a ClientHello: key is the 16 MD5 bytes.
    Ja3,
    /// JA3S of a ServerHello: key is the 16 MD5 bytes.
    Ja3s,
    /// JA4 of a ClientHello: key is the 36 ASCII bytes (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
    Ja4,
    /// JA4S of a ServerHello: key is the 25 ASCII bytes (`t130200_1301_234ea6891581`).
    Ja4s,
    /// SHA-1 of a certificate's DER: key is the 20 digest bytes.
    CertSha1,
    /// SHA-256 of a certificate's DER: key is the 32 digest bytes.
    CertSha256,
    /// MD5 of a file: 16 bytes.
    Md5,
    /// SHA-1 of a file: 20 bytes.
    Sha1,
    /// SHA-256 of a file: 32 bytes.
    Sha256,
    /// An e-mail address: key is `local@domain`, lowercased, the domain in punycode.
    Email,
    /// A URL, normalised: `host[:port]/path[?query]` (see `crate::url`).
    Url,
}

impl Token {
    pub const ALL: [Token; 11] = [
        Token::Ja3,
        Token::Ja3s,
        Token::Ja4,
        Token::Ja4s,
        Token::CertSha1,
        Token::CertSha256,
        Token::Md5,
        Token::Sha1,
        Token::Sha256,
        Token::Email,
        Token::Url,
    ];

    /// The indicator type's name, in configs (`type = "ja3"`), events and `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Token::Ja3 => "ja3",
            Token::Ja3s => "ja3s",
            Token::Ja4 => "ja4",
            Token::Ja4s => "ja4s",
            Token::CertSha1 => "cert_sha1",
            Token::CertSha256 => "cert_sha256",
            Token::Md5 => "md5",
            Token::Sha1 => "sha1",
            Token::Sha256 => "sha256",
            Token::Email => "email",
            Token::Url => "url",
        }
    }

    /// Digest length in bytes for the kinds whose key is a binary digest (shown as lowercase
    /// hex); `None` for the text kinds.
    pub fn digest_len(self) -> Option<usize> {
        match self {
            Token::Ja3 | Token::Ja3s | Token::Md5 => Some(16),
            Token::CertSha1 | Token::Sha1 => Some(20),
            Token::CertSha256 | Token::Sha256 => Some(32),
            Token::Ja4 | Token::Ja4s | Token::Email | Token::Url => None,
        }
    }

    /// The key in presentation form: lowercase hex for digests, the text itself otherwise.
    pub fn text(self, key: &[u8]) -> String {
        if self.digest_len().is_some() {
            use std::fmt::Write as _;
            let mut s = String::with_capacity(key.len() * 2);
            for b in key {
                let _ = write!(s, "{b:02x}");
            }
            s
        } else {
            String::from_utf8_lossy(key).into_owned()
        }
    }

    /// Bit of this kind in a `observe::Wants` mask.
    #[inline]
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// `url_https = ...`: what an `https://` URL entry loads as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlHttps {
    /// A URL indicator (matched only where the URL is seen in clear: through a proxy).
    #[default]
    Url,
    /// Its host, as an exact domain (or address) indicator.
    Host,
}

fn default_max_shrink() -> f64 {
    0.5
}

fn default_max_bad_ratio() -> f64 {
    0.1
}

/// `[feeds.csv]`: how to read a CSV feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// One ASCII character; default `,`.
    pub delimiter: Option<char>,
    /// Whether the first row naming the columns is present (default true). Feeds that put it in
    /// a comment (`# id,dateadded,url,...`, abuse.ch style) are recognised.
    pub header: Option<bool>,
    /// Lines starting with this character are comments; default `#`.
    pub comment: Option<char>,
    /// Separator between several tags in the tags column; default `,`.
    pub tag_separator: Option<char>,
    /// Which column holds each field.
    pub columns: CsvColumns,
}

/// `[feeds.csv.columns]`: a header name, or a 1-based column number, per field. Only `value` is
/// required; `type` is only needed when the value column mixes types ambiguously.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvColumns {
    pub value: Option<CsvColumn>,
    #[serde(rename = "type")]
    pub kind: Option<CsvColumn>,
    pub confidence: Option<CsvColumn>,
    pub severity: Option<CsvColumn>,
    pub tags: Option<CsvColumn>,
    pub description: Option<CsvColumn>,
    pub reference: Option<CsvColumn>,
    pub valid_from: Option<CsvColumn>,
    pub valid_until: Option<CsvColumn>,
    pub action: Option<CsvColumn>,
    #[serde(rename = "match")]
    pub match_mode: Option<CsvColumn>,
    pub id: Option<CsvColumn>,
    /// The port the feed names with the value (Feodo's `dst_port`): context in events, a
    /// condition with `match_port`.
    pub port: Option<CsvColumn>,
}

/// A CSV column by header name or 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CsvColumn {
    Number(usize),
    Name(String),
}

impl FeedConfig {
    /// A feed given on the command line: plain format, named after the file stem, defaults.
    pub fn from_path(path: PathBuf) -> Self {
        FeedConfig {
            name: None,
            path,
            format: FeedFormat::Plain,
            action: Action::Alert,
            applies_to: None,
            allow_override: AllowOverride::Specific,
            match_mode: MatchMode::Subdomain,
            confidence: None,
            severity: Severity::Medium,
            tags: Vec::new(),
            description: None,
            reference: None,
            valid_from: None,
            valid_until: None,
            max_shrink: default_max_shrink(),
            max_bad_ratio: default_max_bad_ratio(),
            allow_broad: false,
            match_port: false,
            exclude_home_net: false,
            wildcard_includes_base: false,
            csv: None,
            kind: None,
            url_https: UrlHttps::Url,
            url: None,
            refresh: None,
            timeout: None,
            max_bytes: None,
            ca_file: None,
            zip_member: None,
            auth: None,
        }
    }

    /// Whether iocd fetches this feed itself (`url` set).
    pub fn is_remote(&self) -> bool {
        self.url.is_some()
    }

    /// Give a remote feed its local copy in `<state_dir>/feeds/`: `<name>` (a directory for
    /// MISP, a STIX bundle for TAXII). A feed with both `url` and `path`, or neither, is a
    /// problem named here (the path is then left as written).
    pub fn place_remote(
        &mut self,
        state_dir: &std::path::Path,
        prefix: &str,
        out: &mut Vec<String>,
    ) {
        let has_path = !self.path.as_os_str().is_empty();
        match (&self.url, has_path) {
            (Some(_), true) => out.push(format!(
                "{prefix}: give url (a feed iocd fetches) or path (a local file), not both"
            )),
            (None, false) => out.push(format!(
                "{prefix}: needs path (a local file) or url (a feed iocd fetches)"
            )),
            (None, true) => {}
            (Some(_), false) => match &self.name {
                Some(n) if safe_file_name(n) => {
                    self.path = state_dir.join("feeds").join(n);
                }
                Some(n) => out.push(format!(
                    "{prefix}: name {n:?} names the local copy of a remote feed: use letters, digits, '.', '-', '_'"
                )),
                None => out.push(format!(
                    "{prefix}: a feed with url needs a name (it names the local copy in <state_dir>/feeds/)"
                )),
            },
        }
    }

    /// The feed's name: `name`, else the file stem, else the path. A MISP warninglist is
    /// published as `lists/<name>/list.json`, so for `format = "misp_warninglist"` a file stem
    /// of `list` gives the directory's name (`cloudflare`).
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        if self.format == FeedFormat::MispWarninglist
            && self.path.file_stem().is_some_and(|s| s == "list")
        {
            if let Some(dir) = self.path.parent().and_then(|p| p.file_name()) {
                return dir.to_string_lossy().into_owned();
            }
        }
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// Problems with this feed's settings, each prefixed with `prefix`.
    pub fn problems(&self, prefix: &str, out: &mut Vec<String>) {
        if self.confidence.is_some_and(|c| c > 100) {
            out.push(format!("{prefix}: confidence must be 0 to 100"));
        }
        if !(0.0..=1.0).contains(&self.max_shrink) {
            out.push(format!("{prefix}: max_shrink must be 0.0 to 1.0"));
        }
        if !(0.0..=1.0).contains(&self.max_bad_ratio) {
            out.push(format!("{prefix}: max_bad_ratio must be 0.0 to 1.0"));
        }
        for (key, v) in [
            ("valid_from", &self.valid_from),
            ("valid_until", &self.valid_until),
        ] {
            if let Some(Err(e)) = v.as_deref().map(parse_time) {
                out.push(format!("{prefix}: {key}: {e}"));
            }
        }
        if self.format == FeedFormat::MispWarninglist && self.action == Action::Alert {
            out.push(format!(
                "{prefix}: format \"misp_warninglist\" needs action = \"allow\" (suppress matches of \
                 what the list covers) or action = \"flag\" (name the list in events): a warninglist \
                 lists known-benign values"
            ));
        }
        // Only an allowlist, or a CSV feed whose action column can make entries allow ones,
        // has allow entries for these to act on.
        let may_allow = self.action == Action::Allow
            || (self.format == FeedFormat::Csv && self.action == Action::Alert);
        if !may_allow {
            if self.applies_to.is_some() {
                out.push(format!(
                    "{prefix}: applies_to is for allowlists (action = \"allow\")"
                ));
            }
            if self.allow_override != AllowOverride::Specific {
                out.push(format!(
                    "{prefix}: override is for allowlists (action = \"allow\")"
                ));
            }
        }
        if self.match_mode == MatchMode::Prefix && !matches!(self.kind, None | Some(Token::Url)) {
            out.push(format!(
                "{prefix}: match = \"prefix\" is for URLs, not type = {:?}",
                self.kind.map_or("", Token::as_str)
            ));
        }
        if self.applies_to.as_ref().is_some_and(|a| a.is_empty()) {
            out.push(format!(
                "{prefix}: applies_to is empty: the allowlist would suppress nothing (leave it out to apply to every feed)"
            ));
        }
        self.remote_problems(prefix, out);
        match (&self.format, &self.csv) {
            (FeedFormat::Csv, None) => out.push(format!(
                "{prefix}: format \"csv\" needs a [feeds.csv] table with columns.value"
            )),
            (FeedFormat::Csv, Some(c)) if c.columns.value.is_none() => {
                out.push(format!("{prefix}: [feeds.csv.columns] needs value"))
            }
            (FeedFormat::Csv, _) => {}
            (_, Some(_)) => out.push(format!(
                "{prefix}: [feeds.csv] is only for format = \"csv\""
            )),
            (_, None) => {}
        }
    }
}

/// A name usable as a file name in the state directory.
fn safe_file_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl FeedConfig {
    fn remote_problems(&self, prefix: &str, out: &mut Vec<String>) {
        let r = self;
        let Some(url) = &r.url else {
            if self.format == FeedFormat::Taxii {
                out.push(format!(
                    "{prefix}: format \"taxii\" needs url (the collection)"
                ));
            }
            for (key, set) in [
                ("refresh", r.refresh.is_some()),
                ("timeout", r.timeout.is_some()),
                ("max_bytes", r.max_bytes.is_some()),
                ("ca_file", r.ca_file.is_some()),
                ("zip_member", r.zip_member.is_some()),
                ("auth", r.auth.is_some()),
            ] {
                if set {
                    out.push(format!("{prefix}: {key} is for a feed with url"));
                }
            }
            return;
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            out.push(format!(
                "{prefix}: url {url:?} must start with https:// (or http://)"
            ));
        } else if url::Url::parse(url)
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
        {
            // the URL itself is not repeated: it holds the secret
            out.push(format!(
                "{prefix}: url: credentials in the URL are a secret in the config text; put them in a file or an environment variable and name it in auth (basic_user with password_file or password_env)"
            ));
        }
        if r.refresh.is_some_and(|d| d < MIN_REFRESH) {
            out.push(format!("{prefix}: refresh must be at least 1s"));
        }
        if r.timeout.is_some_and(|d| d.is_zero()) {
            out.push(format!("{prefix}: timeout must be more than 0s"));
        }
        if r.max_bytes == Some(0) {
            out.push(format!("{prefix}: max_bytes must be more than 0"));
        }
        if matches!(self.format, FeedFormat::MispWarninglist) {
            out.push(format!(
                "{prefix}: format \"misp_warninglist\" is read from a path"
            ));
        }
        if let Some(a) = &r.auth {
            a.problems(prefix, out);
        }
    }
}

impl AuthConfig {
    fn problems(&self, prefix: &str, out: &mut Vec<String>) {
        for (key, v) in [
            ("password", &self.password),
            ("token", &self.token),
            ("bearer", &self.bearer),
            ("value", &self.value),
            ("api_key", &self.api_key),
            ("key", &self.key),
        ] {
            if v.is_some() {
                out.push(format!(
                    "{prefix}: auth.{key}: a secret never goes in the config text; put it in a file readable only by iocd (bearer_file, password_file, value_file) or an environment variable (bearer_env, password_env, value_env) and name that"
                ));
                return;
            }
        }
        let bearer = self.bearer_file.is_some() || self.bearer_env.is_some();
        let basic = self.basic_user.is_some();
        let header = self.header.is_some();
        let kinds = usize::from(bearer) + usize::from(basic) + usize::from(header);
        if kinds != 1 {
            out.push(format!(
                "{prefix}: auth needs one of bearer_file/bearer_env, basic_user (with password_file or password_env), or header (with value_file or value_env)"
            ));
        }
        let one = |a: bool, b: bool| usize::from(a) + usize::from(b) == 1;
        if bearer && !one(self.bearer_file.is_some(), self.bearer_env.is_some()) {
            out.push(format!(
                "{prefix}: auth: give bearer_file or bearer_env, not both"
            ));
        }
        if basic != (self.password_file.is_some() || self.password_env.is_some())
            || (basic && !one(self.password_file.is_some(), self.password_env.is_some()))
        {
            out.push(format!(
                "{prefix}: auth: basic_user goes with one of password_file or password_env"
            ));
        }
        if header != (self.value_file.is_some() || self.value_env.is_some())
            || (header && !one(self.value_file.is_some(), self.value_env.is_some()))
        {
            out.push(format!(
                "{prefix}: auth: header goes with one of value_file or value_env"
            ));
        }
        if let Some(h) = &self.header {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                out.push(format!("{prefix}: auth: header {h:?} is not a header name"));
            }
        }
        for (key, v) in [
            ("bearer_env", &self.bearer_env),
            ("password_env", &self.password_env),
            ("value_env", &self.value_env),
        ] {
            if let Some(v) = v {
                if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || v.is_empty() {
                    out.push(format!(
                        "{prefix}: auth: {key} {v:?} is not an environment variable name; a secret never goes in the config: put it in a file (bearer_file, password_file, value_file) or an environment variable and name that"
                    ));
                }
            }
        }
    }
}

/// Feed file formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// One indicator per line: IP, CIDR or domain; `#` comments.
    #[default]
    Plain,
    /// CSV with a column mapping (`[feeds.csv]`).
    Csv,
    /// Zeek intel framework TSV (`#fields indicator indicator_type meta.source ...`).
    Zeek,
    /// STIX 2.1 bundle (JSON) of `indicator` objects with STIX patterns.
    Stix,
    /// MISP feed: a directory of event JSON files (or one file).
    Misp,
    /// MISP CSV export (`uuid,event_id,category,type,value,...`).
    MispCsv,
    /// A MISP warninglist `list.json` (`{"name", "type", "list": [...]}`), types `cidr`,
    /// `hostname` and `string`; with `action = "allow"` or `"flag"`.
    MispWarninglist,
    /// A TAXII 2.1 collection polled by iocd (`url`); its objects are kept as a STIX bundle in
    /// the state directory and read as `stix`.
    Taxii,
}

/// What a domain indicator covers: the name only, the name and every name below it, or only
/// the names below it (a wildcard `*.x`, as in DNS (RFC 4592) and RPZ).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    Exact,
    #[default]
    Subdomain,
    /// The names below it, not the name itself: what `*.x` means.
    SubdomainsOnly,
    /// For URLs only: the URL and every URL whose path continues it past a `/` boundary
    /// (`x.example/dl/` covers `x.example/dl/a.exe`; `x.example/dl` covers `x.example/dl/a`
    /// but not `x.example/dlx`). Domains and addresses take it as their default mode.
    Prefix,
}

impl MatchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Exact => "exact",
            MatchMode::Subdomain => "subdomain",
            MatchMode::SubdomainsOnly => "subdomains_only",
            MatchMode::Prefix => "prefix",
        }
    }
}

impl FromStr for MatchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exact" => Ok(MatchMode::Exact),
            "subdomain" | "subdomains" | "suffix" => Ok(MatchMode::Subdomain),
            "subdomains_only" | "wildcard" => Ok(MatchMode::SubdomainsOnly),
            "prefix" => Ok(MatchMode::Prefix),
            _ => Err(format!(
                "bad match mode {s:?}: exact, subdomain, subdomains_only or prefix (URLs)"
            )),
        }
    }
}

/// Severity of an indicator, lowest first (so `Ord` ranks them).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    /// The five names, any case, plus the common synonyms feeds use (`informational`,
    /// `moderate`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" | "information" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" | "moderate" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "bad severity {s:?}: info, low, medium, high or critical"
            )),
        }
    }
}

/// What a match does: raise an event, suppress the events of the values it covers, or flag
/// other feeds' events on the values it covers (a warninglist).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Alert,
    Allow,
    Flag,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Allow => "allow",
            Action::Flag => "flag",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Ok(Action::Alert),
            "allow" => Ok(Action::Allow),
            "flag" => Ok(Action::Flag),
            _ => Err(format!("bad action {s:?}: alert, allow or flag")),
        }
    }
}

/// Which matches an allowlist entry suppresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowOverride {
    /// Those of indicators no more specific than the allow entry: an exact address inside an
    /// allowed CIDR, a longer prefix, or a name below an allowed domain still alerts.
    #[default]
    Specific,
    /// Every match the allow entry covers.
    All,
}

/// Parse a time as feeds write it, to µs since the epoch: RFC 3339 (`2024-05-01T12:00:00Z`,
/// fractional seconds, `+02:00` offsets, a space instead of `T`, no zone meaning UTC), a date
/// alone (`2024-05-01`, midnight UTC), or integer Unix seconds (MISP writes those).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad =
        || format!("bad time {t:?}: RFC 3339 (2024-05-01T12:00:00Z), a date, or Unix seconds");
    if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().map_err(|_| bad())?;
        return Ok(secs * 1_000_000);
    }
    if t.len() == 10 {
        let d = humantime::parse_rfc3339_weak(&format!("{t} 00:00:00")).map_err(|_| bad())?;
        return to_us(d).ok_or_else(bad);
    }
    // humantime takes `Z` or no zone; apply a numeric offset ourselves.
    let (body, offset_s) = split_offset(t).ok_or_else(bad)?;
    let body = body.strip_suffix(['Z', 'z']).unwrap_or(body);
    let d = humantime::parse_rfc3339_weak(body).map_err(|_| bad())?;
    Ok(to_us(d).ok_or_else(bad)? - offset_s * 1_000_000)
}

fn to_us(t: std::time::SystemTime) -> Option<i64> {
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

/// `2024-05-01T12:00:00+02:00` → (`2024-05-01T12:00:00`, 7200). No offset → 0.
fn split_offset(t: &str) -> Option<(&str, i64)> {
    // the offset follows the time part, after the `T`/space at index 10
    let tail = t.get(11..)?;
    let Some(pos) = tail.rfind(['+', '-']) else {
        return Some((t, 0));
    };
    let (body, off) = t.split_at(11 + pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: Vec<&str> = off[1..].split(':').collect();
    let (h, m) = match digits.as_slice() {
        [hm] if hm.len() == 4 => (hm.get(..2)?, hm.get(2..)?),
        [h, m] => (*h, *m),
        _ => return None,
    };
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    Some((body, sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_bad_ratio_outside_zero_to_one_is_a_problem() {
        let mut f = FeedConfig::from_path("f.txt".into());
        assert_eq!(f.max_bad_ratio, 0.1);
        let mut out = Vec::new();
        f.problems("feeds[0]", &mut out);
        assert!(out.is_empty(), "{out:?}");
        for bad in [-0.1, 1.5, f64::NAN] {
            f.max_bad_ratio = bad;
            let mut out = Vec::new();
            f.problems("feeds[0]", &mut out);
            assert_eq!(out, ["feeds[0]: max_bad_ratio must be 0.0 to 1.0"], "{bad}");
        }
    }

    #[test]
    fn prefix_match_is_for_urls_only() {
        let mut f = FeedConfig::from_path("f.txt".into());
        f.match_mode = "prefix".parse().unwrap();
        let mut out = Vec::new();
        f.problems("feeds[0]", &mut out);
        assert!(out.is_empty(), "an undeclared feed may hold URLs: {out:?}");
        f.kind = Some(Token::Url);
        f.problems("feeds[0]", &mut out);
        assert!(out.is_empty(), "{out:?}");
        f.kind = Some(Token::Ja3);
        f.problems("feeds[0]", &mut out);
        assert_eq!(
            out,
            ["feeds[0]: match = \"prefix\" is for URLs, not type = \"ja3\""]
        );
    }

    #[test]
    fn times_in_the_shapes_feeds_use() {
        let t = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z
        assert_eq!(parse_time("2024-05-01T12:00:00Z"), Ok(t));
        assert_eq!(parse_time("2024-05-01T12:00:00.000Z"), Ok(t));
        assert_eq!(parse_time("2024-05-01 12:00:00"), Ok(t));
        assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Ok(t));
        assert_eq!(parse_time("2024-05-01T07:30:00-0430"), Ok(t));
        assert_eq!(parse_time("1714564800"), Ok(t));
        assert_eq!(parse_time("2024-05-01"), Ok(t - 12 * 3600 * 1_000_000));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.25Z"),
            Ok(t + 250_000),
            "fractions"
        );
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-05-01T12:00:00+25:00",
            "12:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_parse_any_case_and_order_severities() {
        assert_eq!("HIGH".parse(), Ok(Severity::High));
        assert_eq!("informational".parse(), Ok(Severity::Info));
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("Allow".parse(), Ok(Action::Allow));
        assert_eq!("exact".parse(), Ok(MatchMode::Exact));
    }
}
