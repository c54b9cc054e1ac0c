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

/// The identity of a feed file as loaded: device, inode, size and modification time. A
/// download renamed into place, an edit or a truncation changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

/// The identity of each feed's file now; `None` for what is not a regular file (a MISP
/// directory, whose events can change without its own metadata changing) or cannot be read.
pub fn file_ids(feeds: &[FeedConfig]) -> Vec<Option<FileId>> {
    use std::os::unix::fs::MetadataExt as _;
    feeds
        .iter()
        .map(|f| {
            let m = std::fs::metadata(&f.path).ok().filter(|m| m.is_file())?;
            Some(FileId {
                dev: m.dev(),
                ino: m.ino(),
                size: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            })
        })
        .collect()
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
    /// Each feed of the set in force with the identity of the file its entries came from
    /// (`None`: unknown, a directory, or nothing loaded): a reload where every feed is either
    /// unchanged or gone keeps the set as it is, with no rebuild.
    loaded: Vec<(FeedConfig, Option<FileId>)>,
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
            loaded: Vec::new(),
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

    /// The feeds of the set in force were read from files that then had `ids` (taken before
    /// they were read, [`file_ids`]); `report` says which loaded fresh.
    pub fn with_loaded(mut self, ids: Vec<Option<FileId>>, report: &feeds::LoadReport) -> Self {
        self.remember(&ids, report);
        self
    }

    fn remember(&mut self, ids: &[Option<FileId>], report: &feeds::LoadReport) {
        let old = std::mem::take(&mut self.loaded);
        self.loaded = self
            .feeds
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (f, id))| {
                let fresh = report.feeds.get(i).is_some_and(|r| r.failure.is_none());
                let kept = || old.iter().find(|(o, _)| o == f).and_then(|(_, id)| *id);
                (f.clone(), if fresh { *id } else { kept() })
            })
            .collect();
    }

    /// Every feed is as it was loaded, or its file is gone (it would fail and keep its last
    /// good entries): the set in force is already the answer. The feeds gone, if so.
    fn nothing_new(&self, ids: &[Option<FileId>]) -> Option<Vec<&FeedConfig>> {
        if self.loaded.len() != self.feeds.len() || ids.len() != self.feeds.len() {
            return None;
        }
        let mut gone = Vec::new();
        for ((f, (lf, lid)), id) in self.feeds.iter().zip(&self.loaded).zip(ids) {
            if f != lf || lid.is_none() {
                return None;
            }
            if id != lid {
                let missing = matches!(std::fs::symlink_metadata(&f.path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
                if !missing {
                    return None;
                }
                gone.push(f);
            }
        }
        Some(gone)
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
        let ids = file_ids(&self.feeds);
        let current = self.store.load();
        if let Some(gone) = self.nothing_new(&ids) {
            // Issue 11: keeping a failed feed's last good entries must not cost a rebuild.
            for f in &gone {
                let name = f.display_name();
                tracing::error!(
                    "feed {name:?}: FAILED (cannot read {}: gone); kept its {} last good entries as they are (no rebuild)",
                    f.path.display(),
                    current.feed_len(&name)
                );
            }
            ok &= gone.is_empty();
            let n = current.len();
            drop(current);
            return self.done(
                ok,
                started,
                n,
                self.feeds.len(),
                gone.len(),
                "no rebuild: every feed unchanged or gone",
            );
        }
        // home_net is not reloaded (a change needs a restart): the running config's
        let home_net = self
            .running
            .as_ref()
            .map_or_else(crate::config::default_home_net, Config::home_net);
        let (set, report) = feeds::rebuild(&self.feeds, &home_net, &current);
        drop(current);
        log_report(&report);
        ok &= report.failed_feeds() == 0;
        let n = set.len();
        self.store.swap(set);
        self.remember(&ids, &report);
        self.done(
            ok,
            started,
            n,
            report.feeds.len(),
            report.failed_feeds(),
            "",
        )
    }

    /// Count and log the end of a reload.
    fn done(
        &self,
        ok: bool,
        started: Instant,
        n: usize,
        feeds: usize,
        failed: usize,
        how: &str,
    ) -> bool {
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
        let how = if how.is_empty() {
            String::new()
        } else {
            format!(" ({how})")
        };
        if ok {
            tracing::info!(
                indicators = n,
                "reload done in {:.3}s: {feeds} feeds loaded{how}",
                started.elapsed().as_secs_f64(),
            );
        } else {
            tracing::warn!(
                indicators = n,
                "reload done in {:.3}s with failures: {failed} of {feeds} feeds failed (see above){how}",
                started.elapsed().as_secs_f64(),
            );
        }
        ok
    }
}

/// Problems logged per feed at a load or reload: enough to see what is wrong, few enough that a
/// feed with a thousand bad lines does not bury the summary (`iocd check` lists more).
pub const MAX_LOGGED_PROBLEMS_PER_FEED: usize = 20;

/// Tell the operator what each feed gave: one line per feed, then its first
/// [`MAX_LOGGED_PROBLEMS_PER_FEED`] problems (bad entries, refused values, warnings) and how many
/// more there are.
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
        for e in f.errors.iter().take(MAX_LOGGED_PROBLEMS_PER_FEED) {
            tracing::warn!("{e}");
        }
        let unshown = f
            .problems()
            .saturating_sub(f.errors.len().min(MAX_LOGGED_PROBLEMS_PER_FEED));
        if unshown > 0 {
            tracing::warn!(
                "feed {:?}: {unshown} more problems not logged (`iocd check` lists up to {} with file and line)",
                f.name,
                feeds::MAX_KEPT_ERRORS_PER_FEED
            );
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
        let (set, _) = feeds::build_set(&feeds, &[]).unwrap();
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

    #[test]
    fn a_reload_where_feeds_are_unchanged_or_gone_keeps_the_set_without_rebuilding() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        std::fs::write(&a, "evil.test\n").unwrap();
        std::fs::write(&b, "10.0.0.0/8\nbad.test\n").unwrap();
        let feeds = vec![
            FeedConfig::from_path(a.clone()),
            FeedConfig::from_path(b.clone()),
        ];
        let ids = file_ids(&feeds);
        let (set, report) = feeds::build_set(&feeds, &[]).unwrap();
        let store = Arc::new(IndicatorStore::new(set));
        let mut r = Reloader::new(None, Vec::new(), feeds, store.clone()).with_loaded(ids, &report);
        let before = store.load();
        assert!(r.reload(), "nothing changed");
        assert!(Arc::ptr_eq(&before, &store.load()), "no rebuild, no swap");
        std::fs::remove_file(&b).unwrap();
        assert!(!r.reload(), "a feed gone is a failed reload");
        assert!(
            Arc::ptr_eq(&before, &store.load()),
            "its entries kept as they are"
        );
        assert_eq!(store.load().len(), 3);
        // b comes back changed: a rebuild, and the set has its new entries
        std::fs::write(&b, "10.0.0.0/8\n").unwrap();
        assert!(r.reload());
        assert!(!Arc::ptr_eq(&before, &store.load()));
        assert_eq!(store.load().len(), 2);
        // a edited in place: noticed (size and mtime change)
        std::fs::write(&a, "evil.test\nnew.test\n").unwrap();
        assert!(r.reload());
        assert_eq!(store.load().len(), 3);
    }
}
