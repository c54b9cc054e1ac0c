//! Reloading the indicator set: re-read the config's feed list, rebuild every feed off the hot
//! path ([`feeds::rebuild`]: a broken feed keeps its last good entries), and swap the new set in
//! whole. Workers never wait: they pick the new set up at their next batch. The control loop
//! (in the pipeline) calls [`Reloader::reload`] on `Control::Reload`, in every mode.
//!
//! Only the feeds are applied live. A reloaded config that changes anything else (sinks,
//! capture, workers, ...) is named in the log: those changes need a restart, and the running
//! values stay.
//!
//! While a rebuild runs, the store's set (which the workers use) and the set being built exist;
//! this side drops its handle on the old set before swapping, so once every worker has moved to
//! its next batch the old set is freed. Reloads run one at a time (on one thread), so there are
//! never two new sets.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, FeedConfig};
use crate::indicators::{feeds, IndicatorStore};

/// Reload counters, shared with whoever reports stats.
#[derive(Debug, Default)]
pub struct ReloadStats {
    /// Reloads where every feed loaded fresh.
    pub ok: AtomicU64,
    /// Reloads where the config could not be read, or some feed failed (and kept its last good
    /// entries, or had none to keep).
    pub failed: AtomicU64,
    /// End of the last reload, Unix seconds; 0 before the first.
    pub last_unix: AtomicI64,
}

/// Rebuilds the set on request.
pub struct Reloader {
    /// Re-read at each reload, so `systemctl reload` picks up added or removed feeds.
    config_path: Option<PathBuf>,
    /// Feeds given on the command line, added to the config's.
    extra_feeds: Vec<FeedConfig>,
    /// The feed list of the last reload (used when the config has become unreadable).
    feeds: Vec<FeedConfig>,
    /// The config in force, to name what a reloaded one changes that needs a restart.
    running: Option<Config>,
    store: Arc<IndicatorStore>,
    pub stats: Arc<ReloadStats>,
}

impl Reloader {
    pub fn new(
        config_path: Option<PathBuf>,
        extra_feeds: Vec<FeedConfig>,
        feeds: Vec<FeedConfig>,
        store: Arc<IndicatorStore>,
    ) -> Self {
        Reloader {
            config_path,
            extra_feeds,
            feeds,
            running: None,
            store,
            stats: Arc::new(ReloadStats::default()),
        }
    }

    /// Name what a reloaded config changes beyond the feeds against `running`, the config
    /// the process started with.
    pub fn with_running_config(mut self, running: Config) -> Self {
        self.running = Some(running);
        self
    }

    /// Rebuild and swap. Returns whether every feed loaded fresh. Logs one line per feed and
    /// one summary line.
    pub fn reload(&mut self) -> bool {
        let started = Instant::now();
        let mut ok = true;
        if let Some(path) = &self.config_path {
            match Config::load(path) {
                Ok(c) => {
                    if let Some(old) = &self.running {
                        let changed = old.restart_needed(&c);
                        if !changed.is_empty() {
                            tracing::warn!(
                                "reload: changes to {} need a restart; they are not applied (the feeds are)",
                                changed.join(", ")
                            );
                        }
                    }
                    let mut list = c.feeds;
                    list.extend(self.extra_feeds.iter().cloned());
                    self.feeds = list;
                }
                Err(e) => {
                    tracing::error!("reload: {e}; keeping the previous feed list");
                    ok = false;
                }
            }
        }
        let previous = self.store.load();
        let (set, report) = feeds::rebuild(&self.feeds, &previous);
        drop(previous);
        log_report(&report);
        ok &= report.failed_feeds() == 0;
        let n = set.len();
        self.store.swap(set);
        let counter = if ok {
            &self.stats.ok
        } else {
            &self.stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        self.stats.last_unix.store(now, Ordering::Relaxed);
        if ok {
            tracing::info!(
                indicators = n,
                "reload done in {:.3}s: {} feeds loaded",
                started.elapsed().as_secs_f64(),
                report.feeds.len()
            );
        } else {
            tracing::warn!(
                indicators = n,
                "reload done in {:.3}s with failures: {} of {} feeds failed (see above)",
                started.elapsed().as_secs_f64(),
                report.failed_feeds(),
                report.feeds.len()
            );
        }
        ok
    }
}

/// Tell the operator what each feed gave: one line per feed, then every kept problem (bad
/// entries and refused values are capped per feed by the loader, and the rest are counted).
pub fn log_report(report: &feeds::LoadReport) {
    for f in &report.feeds {
        if f.failure.is_some() {
            tracing::error!("{}", f.summary());
        } else {
            tracing::info!("{}", f.summary());
        }
        for (what, n) in &f.skipped {
            tracing::info!("feed {:?}: skipped {n}: {what}", f.name);
        }
        for e in &f.errors {
            tracing::warn!("{e}");
        }
        let unshown = (f.bad + f.too_broad).saturating_sub(f.errors.len());
        if unshown > 0 {
            tracing::warn!("feed {:?}: {unshown} more problems not shown", f.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reload_keeps_the_last_good_set_and_a_good_one_swaps() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.txt");
        std::fs::write(&good, "evil.test\n10.0.0.0/8\n").unwrap();
        let feeds = vec![FeedConfig::from_path(good.clone())];
        let (set, _) = feeds::build_set(&feeds).unwrap();
        let store = Arc::new(IndicatorStore::new(set));
        let mut r = Reloader::new(None, Vec::new(), feeds, store.clone());
        std::fs::remove_file(&good).unwrap();
        assert!(!r.reload());
        assert_eq!(store.load().len(), 2);
        std::fs::write(&good, "evil.test\n10.0.0.0/8\nbad.test\n").unwrap();
        assert!(r.reload());
        assert_eq!(store.load().len(), 3);
        assert_eq!(r.stats.ok.load(Ordering::Relaxed), 1);
        assert_eq!(r.stats.failed.load(Ordering::Relaxed), 1);
    }
}
