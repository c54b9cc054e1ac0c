//! Settings resolved once, from the command line and the config file, for every subcommand:
//! the modes read these and nothing else of the CLI or the TOML.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, FeedConfig};

/// Config used by `check` and `lookup` when neither `--config` nor `--feed` is given.
pub const DEFAULT_CONFIG: &str = "/etc/iocd/iocd.toml";

/// What every mode runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file (defaults when there is none).
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// Feeds given with `--feed`: plain lists, added to the config's at every reload.
    pub cli_feeds: Vec<FeedConfig>,
    /// The config's feeds, then the command line's.
    pub feeds: Vec<FeedConfig>,
    /// Worker threads: `--workers`, else `workers`, else the available cores.
    pub workers: usize,
    /// Name of this sensor in events: `sensor`, else the hostname.
    pub sensor: Arc<str>,
}

impl Settings {
    /// Read `config` (if any) and add `--feed` files. The error, a config that cannot be used,
    /// names the file and every problem (the modes exit 78 with it).
    pub fn resolve(
        config: Option<&Path>,
        feeds: &[PathBuf],
        workers: Option<usize>,
    ) -> anyhow::Result<Settings> {
        let cfg = match config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        let cli_feeds: Vec<FeedConfig> = feeds.iter().cloned().map(FeedConfig::from_path).collect();
        let mut all = cfg.feeds.clone();
        all.extend(cli_feeds.iter().cloned());
        let workers = workers
            .or(cfg.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let sensor: Arc<str> = match &cfg.sensor {
            Some(s) => Arc::from(s.as_str()),
            None => Arc::from(gethostname::gethostname().to_string_lossy().as_ref()),
        };
        Ok(Settings {
            config: cfg,
            config_path: config.map(Path::to_owned),
            cli_feeds,
            feeds: all,
            workers,
            sensor,
        })
    }

    /// `check` and `lookup`: `--config`, else the default config when no `--feed` is given.
    pub fn for_feeds(config: Option<&Path>, feeds: &[PathBuf]) -> anyhow::Result<Settings> {
        let default = PathBuf::from(DEFAULT_CONFIG);
        let path = match (config, feeds.is_empty()) {
            (Some(p), _) => Some(p),
            (None, true) => Some(default.as_path()),
            (None, false) => None,
        };
        let s = Settings::resolve(path, feeds, None)?;
        if s.feeds.is_empty() {
            let at = path.unwrap_or(Path::new("-"));
            anyhow::bail!(
                "no indicator feed in {}: add [[feeds]] or give --feed FILE",
                at.display()
            );
        }
        Ok(s)
    }
}
