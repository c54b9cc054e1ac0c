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

    /// `iocd run`: `config`, or for `--instance NAME` (iocd@NAME.service) the instance's own
    /// `NAME.toml` beside it when that exists. Returns the settings and the config as read
    /// (what a reload compares a re-read config with).
    ///
    /// An instance running on the shared config gets its own identity, so two instances never
    /// write the same file under the same sensor name: the sensor is `SENSOR-NAME` (the
    /// hostname's when `sensor` is unset) and each JSON sink file `events.json` becomes
    /// `events.NAME.json`. An instance with its own file gets its settings as written, but
    /// `sensor` unset means `HOSTNAME-NAME` there too.
    pub fn for_run(config: &Path, instance: Option<&str>) -> anyhow::Result<(Settings, Config)> {
        let Some(name) = instance else {
            let s = Settings::resolve(Some(config), &[], None)?;
            let read = s.config.clone();
            return Ok((s, read));
        };
        if !instance_name_ok(name) {
            anyhow::bail!(
                "bad instance name {name:?}: letters, digits, '.', '-', '_' and '@' only, not starting with '.'"
            );
        }
        let own = instance_config(config, name);
        let shared = !own.exists();
        let path = if shared { config } else { own.as_path() };
        let mut s = Settings::resolve(Some(path), &[], None)?;
        let read = s.config.clone();
        if s.config.sensor.is_none() || shared {
            let base = s
                .config
                .sensor
                .clone()
                .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
            s.sensor = Arc::from(format!("{base}-{name}").as_str());
        }
        if shared {
            for sink in &mut s.config.sinks {
                if let Some(p) = &mut sink.path {
                    if p.as_os_str() != "-" {
                        *p = instance_file(p, name);
                    }
                }
            }
            // The shared file's interface is iocd.service's; an instance captures on its name.
            s.config.capture.interface = None;
        }
        Ok((s, read))
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

/// The config of instance `name`: `NAME.toml` in the directory of the shared `config`.
pub fn instance_config(config: &Path, name: &str) -> PathBuf {
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{name}.toml"))
}

/// An instance name usable in a file name: what systemd allows in an instance (`%i`, unescaped)
/// less `/`, `\` and a leading dot.
fn instance_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | ':'))
}

/// `events.json` → `events.NAME.json`; `events` → `events.NAME`.
fn instance_file(path: &Path, name: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let file = match path.extension() {
        Some(ext) => format!("{stem}.{name}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{name}"),
    };
    path.with_file_name(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const SHARED: &str = "sensor = \"s1\"\n[capture]\ninterface = \"eth9\"\n[[sinks]]\ntype = \"json\"\npath = \"/var/log/iocd/events.json\"\n[[sinks]]\ntype = \"json\"\npath = \"-\"\n";

    #[test]
    fn an_instance_on_the_shared_config_gets_its_own_sensor_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let shared = write(dir.path(), "iocd.toml", SHARED);
        let (a, read) = Settings::for_run(&shared, Some("eth1")).unwrap();
        let (b, _) = Settings::for_run(&shared, Some("eth2")).unwrap();
        assert_eq!(&*a.sensor, "s1-eth1");
        assert_eq!(&*b.sensor, "s1-eth2");
        assert_eq!(
            a.config.sinks[0].path.as_deref(),
            Some(Path::new("/var/log/iocd/events.eth1.json"))
        );
        assert_eq!(
            b.config.sinks[0].path.as_deref(),
            Some(Path::new("/var/log/iocd/events.eth2.json"))
        );
        assert_eq!(a.config.sinks[1].path.as_deref(), Some(Path::new("-")));
        assert_eq!(a.config.capture.interface, None);
        // What a reload compares with is the file as written.
        assert_eq!(read.sensor.as_deref(), Some("s1"));
        assert_eq!(read.capture.interface.as_deref(), Some("eth9"));
    }

    #[test]
    fn an_instance_with_its_own_file_reads_it_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let shared = write(dir.path(), "iocd.toml", SHARED);
        write(
            dir.path(),
            "dmz.toml",
            "[capture]\ninterface = \"eth3\"\n[[sinks]]\ntype = \"json\"\npath = \"/x/dmz.json\"\n",
        );
        let (s, _) = Settings::for_run(&shared, Some("dmz")).unwrap();
        assert_eq!(
            s.config_path.as_deref(),
            Some(dir.path().join("dmz.toml").as_path())
        );
        assert_eq!(s.config.capture.interface.as_deref(), Some("eth3"));
        assert_eq!(
            s.config.sinks[0].path.as_deref(),
            Some(Path::new("/x/dmz.json"))
        );
        // No sensor in the file: the hostname's, with the instance.
        assert!(s.sensor.ends_with("-dmz"), "{}", s.sensor);
        let (plain, _) = Settings::for_run(&shared, None).unwrap();
        assert_eq!(&*plain.sensor, "s1");
        assert_eq!(plain.config.capture.interface.as_deref(), Some("eth9"));
    }

    #[test]
    fn instance_names_that_are_not_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = write(dir.path(), "iocd.toml", SHARED);
        for bad in ["../etc/passwd", ".hidden", "", "a/b"] {
            assert!(Settings::for_run(&shared, Some(bad)).is_err(), "{bad}");
        }
    }
}
