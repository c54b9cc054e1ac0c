//! The TOML configuration: serde structs that reject unknown keys, and a loader that reports
//! every problem at once with the file name.
//!
//! `config/iocd.toml` documents every key; a test loads every file in `config/`.
//!
//! One file per TOML section, each with its `problems()`. This module is the bottom layer: every
//! other module may read it, and it imports none of them (the vocabulary feeds and the config
//! share — severity, action, match mode, times — is defined here, in [`feeds`]).

pub mod aggregate;
pub mod capture;
pub mod daemon;
pub mod explain;
pub mod feeds;
pub mod metrics;
pub mod retro;
pub mod sinks;
pub mod stats;
pub mod suppress;
pub mod tables;

pub use aggregate::AggregateConfig;
pub use capture::CaptureConfig;
pub use daemon::DaemonConfig;
pub use feeds::{
    parse_time, Action, AllowOverride, AuthConfig, CsvColumn, CsvColumns, CsvConfig, FeedConfig,
    FeedFormat, MatchMode, Severity, Token, UrlHttps,
};
pub use metrics::MetricsConfig;
pub use retro::RetroConfig;
pub use sinks::{OnFull, Payload, SinkConfig, SinkKind, SyslogFormat, Transport};
pub use stats::StatsConfig;
pub use suppress::SuppressConfig;
pub use tables::TablesConfig;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of this sensor in events; the hostname when unset.
    pub sensor: Option<String>,
    /// Worker threads; available cores when unset.
    pub workers: Option<usize>,
    /// Where IoA events go: `[[sinks]]` tables (see [`sinks`]).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Indicator feeds.
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    /// Networks inside the protected site (suppression's "internal host"); CIDRs. Default:
    /// [`DEFAULT_HOME_NET`].
    pub home_net: Option<Vec<ipnet::IpNet>>,
    /// `[suppress]`: alert suppression window.
    #[serde(default)]
    pub suppress: SuppressConfig,
    /// `[capture]`: live capture (`iocd run`).
    #[serde(default)]
    pub capture: CaptureConfig,
    /// `[daemon]`: privilege drop (`iocd run`).
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// `[stats]`: periodic stats record (`iocd run`).
    #[serde(default)]
    pub stats: StatsConfig,
    /// `[tables]`: memory budget of each worker's connection tables.
    #[serde(default)]
    pub tables: TablesConfig,
    /// `[metrics]`: the Prometheus endpoint (`iocd run`).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[retro]`: the retro-hunt memory.
    #[serde(default)]
    pub retro: RetroConfig,
    /// `[aggregate]`: periodic summaries per (indicator, internal host).
    #[serde(default)]
    pub aggregate: AggregateConfig,
}

/// `home_net` when the config has none: RFC 1918 and RFC 6598 (CGNAT) IPv4, RFC 4193 unique
/// local IPv6, loopback and link-local of both families.
pub const DEFAULT_HOME_NET: [&str; 9] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "::1/128",
    "fe80::/10",
];

/// The networks of the default `home_net`.
pub fn default_home_net() -> Vec<ipnet::IpNet> {
    DEFAULT_HOME_NET
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// A configuration that cannot be used, with enough context to fix it: one line per problem,
/// each naming the file (and line, where known) and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is part of this message and not a `source`: printed as a chain it would
    /// appear twice.
    #[error("cannot read config {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid config {}:\n  {}", path.display(), at(path, problem.line, &problem.message))]
    Parse {
        path: PathBuf,
        problem: explain::ParseProblem,
    },
    #[error("invalid config {}: {} problem{}:{}", path.display(), problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(|p| format!("\n  {}", at(path, None, p))).collect::<String>())]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// `file:line: message`, or `file: message`.
fn at(path: &Path, line: Option<usize>, message: &str) -> String {
    match line {
        Some(l) => format!("{}:{l}: {message}", path.display()),
        None => format!("{}: {message}", path.display()),
    }
}

impl Config {
    /// Read, parse and check a config file. Relative feed paths are resolved against the
    /// directory of the config file, so a config works from any working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let mut config: Config = explain::parse(&text).map_err(|problem| ConfigError::Parse {
            path: path.to_owned(),
            problem,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        // a remote feed's path is its local copy in the state directory
        let mut placed = Vec::new();
        let state_dir = base.join(config.daemon.state_dir());
        for (i, feed) in config.feeds.iter_mut().enumerate() {
            let prefix = format!("feeds[{i}] ({})", feed.display_name());
            feed.place_remote(&state_dir, &prefix, &mut placed);
            if feed.path.is_relative() {
                feed.path = base.join(&feed.path);
            }
        }
        config.resolve_paths(base);
        let mut problems = placed;
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Parse TOML text; the message names the line, the key and the form expected (see
    /// [`explain`]).
    pub fn parse(text: &str) -> Result<Config, String> {
        explain::parse(text).map_err(|p| p.to_string())
    }

    /// The sections of `new` that differ from these and cannot be applied to a running
    /// process (everything but the feeds), by their TOML names.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name, same: bool| {
            if !same {
                out.push(name);
            }
        };
        check("sensor", self.sensor == new.sensor);
        check("workers", self.workers == new.workers);
        check("home_net", self.home_net == new.home_net);
        check("[[sinks]]", self.sinks == new.sinks);
        check("[suppress]", self.suppress == new.suppress);
        check("[capture]", self.capture == new.capture);
        check("[daemon]", self.daemon == new.daemon);
        check("[stats]", self.stats == new.stats);
        check("[tables]", self.tables == new.tables);
        check("[metrics]", self.metrics == new.metrics);
        check("[retro]", self.retro == new.retro);
        check("[aggregate]", self.aggregate == new.aggregate);
        out
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
        out.extend(self.section_problems());
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
        // an allowlist scoped to a feed that does not exist would silently suppress nothing
        for (i, feed) in self.feeds.iter().enumerate() {
            for target in feed.applies_to.iter().flatten() {
                if !names.contains(target) {
                    out.push(format!(
                        "feeds[{i}] ({}): applies_to names {target:?}, which is no configured feed",
                        feed.display_name()
                    ));
                }
            }
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
        self.home_net.clone().unwrap_or_else(default_home_net)
    }

    /// Relative sink paths (not `-`) resolve against the config file's directory, like feeds.
    fn resolve_paths(&mut self, base: &Path) {
        for s in &mut self.sinks {
            for p in [
                &mut s.path,
                &mut s.socket,
                &mut s.password_file,
                &mut s.ca_file,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() && p.as_os_str() != "-" {
                    *p = base.join(&*p);
                }
            }
        }
    }

    /// The problems of every section but the feeds.
    fn section_problems(&self) -> Vec<String> {
        let mut out = self.capture.problems();
        out.extend(self.daemon.problems());
        out.extend(self.stats.problems());
        out.extend(self.suppress.problems());
        out.extend(self.tables.problems());
        out.extend(self.metrics.problems());
        out.extend(self.retro.problems());
        out.extend(self.aggregate.problems());
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
    fn allowlist_scope_and_warninglist_use_are_checked() {
        let c = Config::parse(
            r#"
[[feeds]]
name = "bad"
path = "bad.txt"
[[feeds]]
name = "cdn"
path = "cdn.txt"
action = "allow"
applies_to = ["bad", "typo"]
override = "all"
[[feeds]]
path = "lists/cloudflare/list.json"
format = "misp_warninglist"
[[feeds]]
name = "plain-alert"
path = "p.txt"
applies_to = ["bad"]
override = "all"
[[feeds]]
path = "lists/top/list.json"
format = "misp_warninglist"
action = "flag"
"#,
        )
        .unwrap();
        assert_eq!(c.feeds[1].allow_override, AllowOverride::All);
        assert_eq!(c.feeds[2].display_name(), "cloudflare");
        assert_eq!(c.feeds[4].display_name(), "top");
        let p = c.problems();
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(
            p.iter().any(|m| m.starts_with(
                "feeds[2] (cloudflare): format \"misp_warninglist\" needs action = \"allow\""
            )),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m
                == "feeds[3] (plain-alert): applies_to is for allowlists (action = \"allow\")"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m
                    == "feeds[3] (plain-alert): override is for allowlists (action = \"allow\")"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m
                    == "feeds[1] (cdn): applies_to names \"typo\", which is no configured feed"),
            "{p:?}"
        );
        let err =
            Config::parse("[[feeds]]\npath = \"a\"\naction = \"allow\"\noverride = \"some\"\n")
                .unwrap_err();
        assert!(err.contains("some"), "{err}");
    }

    #[test]
    fn every_file_in_config_dir_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dirs = [root.join("config"), root.join("config/production")];
        let mut n = 0;
        for entry in dirs.iter().flat_map(|d| std::fs::read_dir(d).unwrap()) {
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
        assert!(n >= 2, "no config files in {dirs:?}");
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
    fn commented_remote_feed_examples_in_the_documented_config_parse() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.toml"))
                .unwrap();
        let start = text.find("## Feeds iocd fetches itself").unwrap();
        let example: String = text[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, &example).unwrap();
        let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}\n{example}"));
        let names: Vec<String> = c.feeds.iter().map(FeedConfig::display_name).collect();
        assert_eq!(names, ["feodo-remote", "cti", "misp-osint"]);
        assert!(c.feeds.iter().all(FeedConfig::is_remote));
        assert_eq!(c.feeds[1].format, FeedFormat::Taxii);
    }

    #[test]
    fn commented_warninglist_example_in_the_documented_config_parses() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.toml"))
                .unwrap();
        let start = text.find("# MISP warninglists: ").unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        let example: String = text[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with("MISP") && !l.starts_with("flag"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut c = Config::parse(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        let names: Vec<String> = c.feeds.iter().map(FeedConfig::display_name).collect();
        assert_eq!(names, ["cloudflare", "tranco"]);
        // with the two feeds it names, it has no problem
        c.feeds.insert(0, Config::parse("[[feeds]]\nname = \"demo-ips\"\npath = \"a\"\n[[feeds]]\nname = \"demo-domains\"\npath = \"b\"\n").unwrap().feeds.remove(0));
        c.feeds.insert(
            1,
            Config::parse("[[feeds]]\nname = \"demo-domains\"\npath = \"b\"\n")
                .unwrap()
                .feeds
                .remove(0),
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn a_reload_names_every_section_that_needs_a_restart_and_not_the_feeds() {
        let old = Config::parse("workers = 2\n[[feeds]]\npath = \"a\"\n").unwrap();
        let new = Config::parse(
            "workers = 3\n[capture]\ninterface = \"eth1\"\n[[sinks]]\ntype = \"json\"\npath = \"-\"\n[[feeds]]\npath = \"b\"\n[tables]\nmemory = \"64MiB\"\n",
        )
        .unwrap();
        assert_eq!(
            old.restart_needed(&new),
            ["workers", "[[sinks]]", "[capture]", "[tables]"]
        );
        assert!(old.restart_needed(&old).is_empty());
    }

    #[test]
    fn a_remote_feed_reads_its_copy_in_the_state_dir_and_its_auth_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[daemon]\nstate_dir = \"st\"\n[[feeds]]\nname = \"feodo\"\nurl = \"https://e.test/f.csv\"\nrefresh = \"15m\"\nauth = { header = \"X-API-Key\", value_env = \"FEED_KEY\" }\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.feeds[0].path, dir.path().join("st/feeds/feodo"));
        assert_eq!(c.feeds[0].refresh(), std::time::Duration::from_secs(900));
        assert!(c.feeds[0].is_remote());
        for (auth, want) in [
            (
                "{ header = \"X-API-Key\" }",
                "header goes with one of value_file or value_env",
            ),
            (
                "{ bearer_env = \"MY TOKEN\" }",
                "is not an environment variable name",
            ),
            (
                "{ basic_user = \"u\", password_file = \"a\", bearer_file = \"b\" }",
                "auth needs one of",
            ),
            (
                "{ token = \"abc\" }",
                "auth.token: a secret never goes in the config text",
            ),
        ] {
            std::fs::write(
                &p,
                format!("[[feeds]]\nname = \"x\"\nurl = \"https://e.test/x\"\nauth = {auth}\n"),
            )
            .unwrap();
            let e = Config::load(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{auth}: {e}");
        }
        std::fs::write(
            &p,
            "[[feeds]]\nname = \"x\"\nurl = \"https://u:hunter2@e.test/x\"\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("credentials in the URL") && !e.contains("hunter2"),
            "{e}"
        );
        std::fs::write(
            &p,
            "[[feeds]]\nurl = \"ftp://e.test/x\"\nrefresh = \"0s\"\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("a feed with url needs a name"), "{e}");
        std::fs::write(
            &p,
            "[[feeds]]\nname = \"../x\"\nurl = \"ftp://e.test/x\"\nrefresh = \"0s\"\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("names the local copy")
                && e.contains("must start with https://")
                && e.contains("refresh must be at least 1s"),
            "{e}"
        );
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
