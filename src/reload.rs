//! Reloading the indicator set: re-read the config's feed list, rebuild every feed off the hot
//! path ([`feeds::rebuild`]: a broken feed keeps its last good entries), and swap the new set in
//! whole. Workers never wait: they pick the new set up at their next batch.
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
            store,
            stats: Arc::new(ReloadStats::default()),
        }
    }

    /// Rebuild and swap. Returns whether every feed loaded fresh. Logs one line per feed and
    /// one summary line.
    pub fn reload(&mut self) -> bool {
        let started = Instant::now();
        let mut ok = true;
        if let Some(path) = &self.config_path {
            match Config::load(path) {
                Ok(c) => {
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
        crate::app::log_report(&report);
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

/// A thread that reloads on every SIGHUP until [`SighupThread::stop`].
pub struct SighupThread {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl SighupThread {
    pub fn spawn(mut reloader: Reloader) -> std::io::Result<SighupThread> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                // several SIGHUPs during one rebuild are delivered as one: the next rebuild
                // reads the files as they are then
                for _ in signals.forever() {
                    tracing::info!("SIGHUP: reloading feeds");
                    reloader.reload();
                }
            })?;
        Ok(SighupThread { handle, thread })
    }

    /// Stop listening and wait for a reload in progress to finish.
    pub fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}
