//! The TOML configuration: serde structs that reject unknown keys, and a loader that reports
//! every problem at once with the file name.
//!
//! `config/iocd.toml` documents every key; a test loads every file in `config/`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::indicators::{parse_time, Action, MatchMode, Severity};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of this sensor in events; the hostname when unset.
    pub sensor: Option<String>,
    /// Worker threads; available cores when unset.
    pub workers: Option<usize>,
    /// Where IoA events go: `[[sinks]]` tables (see [`crate::output`]).
    #[serde(default)]
    pub sinks: Vec<crate::output::SinkConfig>,
    /// Indicator feeds.
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    /// Networks inside the protected site (suppression's "internal host"); CIDRs. Default:
    /// [`crate::suppress::DEFAULT_HOME_NET`].
    pub home_net: Option<Vec<ipnet::IpNet>>,
    /// `[suppress]`: alert suppression window.
    #[serde(default)]
    pub suppress: crate::suppress::SuppressConfig,
    /// `[capture]`: live capture (`iocd run`).
    #[serde(default)]
    pub capture: crate::daemon::CaptureConfig,
    /// `[daemon]`: privilege drop (`iocd run`).
    #[serde(default)]
    pub daemon: crate::daemon::DaemonConfig,
    /// `[stats]`: periodic stats record (`iocd run`).
    #[serde(default)]
    pub stats: crate::daemon::StatsConfig,
}

/// One `[[feeds]]` entry: where the feed is, its format, and the context its entries take
/// unless they set their own (see [`crate::indicators::Fields`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Name carried in events as `indicator.feed`; the file stem when unset.
    pub name: Option<String>,
    /// Path of the feed file (a directory for `misp`); relative paths are relative to the config
    /// file's directory.
    pub path: PathBuf,
    /// Format of the file.
    #[serde(default)]
    pub format: FeedFormat,
    /// `alert` (default) or `allow`: an allowlist suppresses matches of what it covers.
    #[serde(default)]
    pub action: Action,
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
    /// Accept values that match nearly everything (`com`, a public suffix, `0.0.0.0/0`, CIDRs
    /// shorter than /8 or /16 for IPv6); refused with a warning by default.
    #[serde(default)]
    pub allow_broad: bool,
    /// Column mapping for `format = "csv"`.
    pub csv: Option<CsvConfig>,
}

fn default_max_shrink() -> f64 {
    0.5
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
            match_mode: MatchMode::Subdomain,
            confidence: None,
            severity: Severity::Medium,
            tags: Vec::new(),
            description: None,
            reference: None,
            valid_from: None,
            valid_until: None,
            max_shrink: default_max_shrink(),
            allow_broad: false,
            csv: None,
        }
    }

    /// The feed's name: `name`, else the file stem, else the path.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// Problems with this feed's settings, each prefixed with `prefix`.
    fn problems(&self, prefix: &str, out: &mut Vec<String>) {
        if self.confidence.is_some_and(|c| c > 100) {
            out.push(format!("{prefix}: confidence must be 0 to 100"));
        }
        if !(0.0..=1.0).contains(&self.max_shrink) {
            out.push(format!("{prefix}: max_shrink must be 0.0 to 1.0"));
        }
        for (key, v) in [
            ("valid_from", &self.valid_from),
            ("valid_until", &self.valid_until),
        ] {
            if let Some(Err(e)) = v.as_deref().map(parse_time) {
                out.push(format!("{prefix}: {key}: {e}"));
            }
        }
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
}

/// A configuration that cannot be used, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config {path}: {}", problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl Config {
    /// Read, parse and check a config file. Relative feed paths are resolved against the
    /// directory of the config file, so a config works from any working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for feed in &mut config.feeds {
            if feed.path.is_relative() {
                feed.path = base.join(&feed.path);
            }
        }
        config.resolve_paths(base);
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Parse TOML text; the message names the offending key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " | "))
    }

    /// Every semantic problem, not just the first.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.workers == Some(0) {
            out.push("workers must be at least 1".to_owned());
        }
        if let Some(s) = &self.sensor {
            if s.trim().is_empty() {
                out.push("sensor must not be empty".to_owned());
            }
        }
        out.extend(self.sink_problems());
        let mut names = std::collections::HashSet::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            let name = feed.display_name();
            if name.trim().is_empty() {
                out.push(format!("feeds[{i}]: name must not be empty"));
            }
            if !names.insert(name.clone()) {
                out.push(format!("feeds[{i}]: duplicate feed name {name:?}"));
            }
            feed.problems(&format!("feeds[{i}] ({name})"), &mut out);
        }
        out
    }
}

/// A duration written as text: "60s", "1m 30s", "500ms", "0s" (humantime).
pub fn de_opt_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

impl Config {
    /// Home networks: `home_net`, else the default private ranges.
    pub fn home_net(&self) -> Vec<ipnet::IpNet> {
        self.home_net
            .clone()
            .unwrap_or_else(crate::suppress::default_home_net)
    }

    /// Relative sink paths (not `-`) resolve against the config file's directory, like feeds.
    fn resolve_paths(&mut self, base: &Path) {
        for s in &mut self.sinks {
            for p in [&mut s.path, &mut s.socket].into_iter().flatten() {
                if p.is_relative() && p.as_os_str() != "-" {
                    *p = base.join(&*p);
                }
            }
        }
    }

    fn sink_problems(&self) -> Vec<String> {
        let mut out = self.capture.problems();
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            out.extend(s.problems(&format!("sinks[{i}]")));
            let name = s.display_name(i);
            if !names.insert(name.clone()) {
                out.push(format!("sinks[{i}]: duplicate sink name {name:?}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = Config::parse("sensor = \"a\"\nworkerz = 2\n").unwrap_err();
        assert!(err.contains("workerz"), "{err}");
        let err = Config::parse("[[feeds]]\npath = \"x\"\nfromat = \"plain\"\n").unwrap_err();
        assert!(err.contains("fromat"), "{err}");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let c = Config::parse(
            "workers = 0\n[[feeds]]\nname = \"a\"\npath = \"x\"\n[[feeds]]\nname = \"a\"\npath = \"y\"\n",
        )
        .unwrap();
        let p = c.problems();
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn every_file_in_config_dir_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                for f in &c.feeds {
                    assert!(
                        f.path.exists(),
                        "{}: feed {} missing",
                        path.display(),
                        f.path.display()
                    );
                }
                n += 1;
            }
        }
        assert!(n >= 1, "no config files in {}", dir.display());
    }

    #[test]
    fn commented_csv_example_in_the_documented_config_parses() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.toml"))
                .unwrap();
        let start = text.find("# [[feeds]]\n# name = \"feodo\"").unwrap();
        let example: String = text[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = Config::parse(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let csv = c.feeds[0].csv.as_ref().unwrap();
        assert_eq!(csv.columns.value, Some(CsvColumn::Name("dst_ip".into())));
        assert_eq!(csv.columns.confidence, Some(CsvColumn::Number(3)));
    }

    #[test]
    fn relative_feed_paths_resolve_against_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[feeds]]\npath = \"feeds/a.txt\"\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.feeds[0].path, dir.path().join("feeds/a.txt"));
        assert_eq!(c.feeds[0].display_name(), "a");
    }
}
