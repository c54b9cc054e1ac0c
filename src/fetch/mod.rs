//! Feeds iocd fetches itself (`url = ...` in `[[feeds]]`): one round over the remote feeds
//! ([`round`], `iocd feeds update`), and the daemon's schedule ([`run`], on the thread
//! `pipeline.rs` makes for it: never a packet thread).
//!
//! Each remote feed's local copy is its `path`, placed by the config loader in
//! `<state_dir>/feeds/<name>` (a directory for MISP); beside it `<name>.fetch.json` keeps what
//! the next fetch needs (ETag, Last-Modified, TAXII's `added_after`) and what `iocd check`
//! shows (last fetch, its outcome, the copy's age and entry count). A download is written to a
//! temporary file, read as the feed's format (the same loader the daemon uses), and only if it
//! is usable — parses, is not over `max_bad_ratio`, did not shrink by more than `max_shrink` —
//! renamed over the copy (after fsync). Anything else keeps the last good copy and is
//! reported. The reloader then sees the copy's file identity change and rebuilds; an
//! unchanged feed (304) is not written, so costs one request and no rebuild.

pub mod http;
pub mod misp;
pub mod taxii;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{FeedConfig, FeedFormat};
use http::{with_suffix, Client, Got, Validators};

/// Largest jitter added to a feed's schedule: 5 minutes, or a tenth of its `refresh` when that
/// is shorter. Enough to spread a fleet's requests over the feed server's rate-limit windows
/// (abuse.ch and MISP instances count per minute) without delaying a fresh feed much.
pub const MAX_JITTER: Duration = Duration::from_secs(300);

/// Largest `.fetch.json` sidecar read: it holds a few short strings.
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// What one fetch of one feed did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said the copy is current (304), or the TAXII collection had nothing new.
    Unchanged,
    /// A new copy is in place, with this many entries.
    Updated(usize),
    /// The fetch or the download failed; the last good copy stays. Why.
    Failed(String),
}

impl Outcome {
    /// One word and the reason, for the log, `iocd feeds update` and `iocd check`.
    pub fn text(&self) -> String {
        match self {
            Outcome::Unchanged => "unchanged".into(),
            Outcome::Updated(n) => format!("updated ({n} entries)"),
            Outcome::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// The sidecar `<copy>.fetch.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FetchState {
    /// The URL these validators are for: a changed `url` fetches unconditionally.
    pub url: String,
    #[serde(default)]
    pub validators: Validators,
    /// Unix seconds of the last fetch attempt (0: never).
    #[serde(default)]
    pub last_fetch: i64,
    /// Its outcome ([`Outcome::text`]).
    #[serde(default)]
    pub last_outcome: String,
    /// Unix seconds when the copy in use was written (0: none written by iocd).
    #[serde(default)]
    pub updated: i64,
    /// Entries in the copy in use (for the shrink check).
    #[serde(default)]
    pub entries: Option<usize>,
    /// TAXII: the `X-TAXII-Date-Added-Last` of the last page read: the next poll's
    /// `added_after`.
    #[serde(default)]
    pub added_after: Option<String>,
}

/// The sidecar of `feed`'s copy.
pub fn state_path(feed: &FeedConfig) -> PathBuf {
    with_suffix(&feed.path, ".fetch.json")
}

/// The sidecar as last written; the default when there is none or it cannot be read (the
/// next fetch is then unconditional, never wrong).
pub fn load_state(feed: &FeedConfig) -> FetchState {
    use std::io::Read as _;
    let mut s = String::new();
    let ok = std::fs::File::open(state_path(feed))
        .and_then(|f| f.take(MAX_STATE_BYTES).read_to_string(&mut s))
        .is_ok();
    if !ok {
        return FetchState::default();
    }
    serde_json::from_str(&s).unwrap_or_default()
}

fn save_state(feed: &FeedConfig, st: &FetchState) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(st).map_err(|e| e.to_string())?;
    write_atomic(&state_path(feed), &text)
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Write `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = with_suffix(path, ".tmp");
    let mut f =
        std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    install(&tmp, path)
}

/// Move the finished temporary file `tmp` over `dst`: fsync, rename, fsync of the directory.
pub fn install(tmp: &Path, dst: &Path) -> Result<(), String> {
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
    std::fs::rename(tmp, dst).map_err(|e| format!("cannot rename into {}: {e}", dst.display()))?;
    if let Some(dir) = dst.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Create `dir` (and its parents) if missing. Run as root (`iocd feeds update` from a root
/// shell, the first fetch of `iocd run` before it drops privileges), a directory it creates is
/// given to the owner of its parent (the state directory's owner, `iocd`), so the daemon can
/// replace the copies in it after the drop (a rename needs only the directory's write bit).
pub fn ensure_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent)?;
    }
    std::fs::create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt as _;
        if let Some(m) = dir.parent().and_then(|p| std::fs::metadata(p).ok()) {
            let _ = nix::unistd::chown(
                dir,
                Some(nix::unistd::Uid::from_raw(m.uid())),
                Some(nix::unistd::Gid::from_raw(m.gid())),
            );
        }
    }
    Ok(())
}

/// Read `candidate` (a file, or a directory for MISP) as `feed` would be read: the entries it
/// gives, or why it is unusable, including a shrink of more than `max_shrink` from `prev`.
pub fn check_candidate(
    feed: &FeedConfig,
    candidate: &Path,
    prev: Option<usize>,
) -> Result<usize, String> {
    let mut f = feed.clone();
    f.path = candidate.to_owned();
    let (_, report) =
        crate::indicators::feeds::build_set(std::slice::from_ref(&f), &[]).map_err(|e| match e
            .report()
            .and_then(|r| r.feeds.first())
        {
            Some(r) => r.failure.clone().unwrap_or_else(|| e.to_string()),
            None => e.to_string(),
        })?;
    let r = report.feeds.first().ok_or("no report")?;
    if let Some(why) = &r.failure {
        return Err(why.clone());
    }
    let n = r.entries;
    if let Some(prev) = prev.filter(|&p| p > 0) {
        if (n as f64) < prev as f64 * (1.0 - feed.max_shrink) {
            return Err(format!(
                "shrank from {prev} to {n} entries, more than max_shrink = {}",
                feed.max_shrink
            ));
        }
    }
    Ok(n)
}

/// Counters of the fetches since start, shared with the stats record.
#[derive(Debug, Default)]
pub struct FetchCounters {
    pub rounds: AtomicU64,
    pub unchanged: AtomicU64,
    pub updated: AtomicU64,
    pub failed: AtomicU64,
}

impl FetchCounters {
    pub fn snapshot(&self) -> crate::stats::FetchStats {
        crate::stats::FetchStats {
            rounds: self.rounds.load(Relaxed),
            unchanged: self.unchanged.load(Relaxed),
            updated: self.updated.load(Relaxed),
            failed: self.failed.load(Relaxed),
        }
    }

    fn count(&self, o: &Outcome) {
        match o {
            Outcome::Unchanged => &self.unchanged,
            Outcome::Updated(_) => &self.updated,
            Outcome::Failed(_) => &self.failed,
        }
        .fetch_add(1, Relaxed);
    }
}

/// Fetch one remote feed now; the outcome is logged, counted and kept in its sidecar.
pub fn fetch_feed(feed: &FeedConfig, counters: &FetchCounters) -> Outcome {
    let Some(url) = feed.url.as_deref() else {
        return Outcome::Failed("not a remote feed".into());
    };
    let name = feed.display_name();
    let started = Instant::now();
    let mut st = load_state(feed);
    if !feed.path.exists() {
        // the copy is gone: nothing to be conditional on, nothing to compare with
        st = FetchState::default();
    }
    if st.url != url {
        // another URL: its validators and TAXII position are not this one's (the copy and
        // its entry count stay, for the shrink check)
        st.url = url.to_owned();
        st.validators = Validators::default();
        st.added_after = None;
    }
    let result = feed
        .path
        .parent()
        .map_or(Ok(()), ensure_dir)
        .and_then(|()| Client::new(feed))
        .and_then(|client| match feed.format {
            FeedFormat::Taxii => taxii::fetch(feed, &client, url, &mut st),
            FeedFormat::Misp => misp::fetch(feed, &client, url, &mut st),
            _ => fetch_file(feed, &client, url, &mut st),
        });
    let outcome = match result {
        Ok(None) => Outcome::Unchanged,
        Ok(Some(n)) => {
            st.updated = now_unix();
            st.entries = Some(n);
            Outcome::Updated(n)
        }
        Err(why) => Outcome::Failed(why),
    };
    st.last_fetch = now_unix();
    st.last_outcome = outcome.text();
    if let Err(e) = save_state(feed, &st) {
        tracing::warn!("feed {name:?}: {e}");
    }
    counters.count(&outcome);
    let took = started.elapsed().as_secs_f64();
    match &outcome {
        Outcome::Failed(why) => tracing::error!(
            "feed {name:?}: fetch FAILED in {took:.3}s: {why}; the last good copy stays{}",
            if feed.path.exists() {
                ""
            } else {
                " (there is none yet)"
            }
        ),
        o => tracing::info!("feed {name:?}: fetch {} in {took:.3}s", o.text()),
    }
    outcome
}

/// A plain file feed (any format read from one file): a conditional GET, unpacked, checked,
/// installed. `Some(entries)` when a new copy is in place.
fn fetch_file(
    feed: &FeedConfig,
    client: &Client,
    url: &str,
    st: &mut FetchState,
) -> Result<Option<usize>, String> {
    let tmp = with_suffix(&feed.path, ".tmp");
    let got = client.get(url, &st.validators, None, &tmp);
    let result = (|| match got?.0 {
        Got::NotModified => Ok(None),
        Got::Body(v) => {
            let n = check_candidate(feed, &tmp, st.entries)?;
            install(&tmp, &feed.path)?;
            st.validators = v;
            Ok(Some(n))
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Fetch every remote feed of `feeds` once, in order. Returns each one's name and outcome.
pub fn round(feeds: &[FeedConfig], counters: &FetchCounters) -> Vec<(String, Outcome)> {
    counters.rounds.fetch_add(1, Relaxed);
    feeds
        .iter()
        .filter(|f| f.is_remote())
        .map(|f| (f.display_name(), fetch_feed(f, counters)))
        .collect()
}

/// This sensor's offset in a feed's schedule: derived from the sensor's and the feed's names
/// (FNV-1a), so it is stable across restarts and differs between sensors; at most a tenth of
/// `refresh`, and [`MAX_JITTER`].
pub fn jitter(sensor: &str, feed: &str, refresh: Duration) -> Duration {
    let cap = (refresh / 10).min(MAX_JITTER);
    let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    if cap_ms == 0 {
        return Duration::ZERO;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sensor.bytes().chain([0]).chain(feed.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Duration::from_millis(h % cap_ms)
}

/// How often [`run`] looks at its stop flag while it waits.
const POLL: Duration = Duration::from_millis(200);

/// The daemon's fetcher: each remote feed on its own `refresh` schedule, offset by this
/// sensor's [`jitter`], the first fetch right after start (the copy on disk already serves).
/// When a round updated some feed, `changed` asks the control loop for a reload. Returns when
/// `stop` is set. Blocking; the pipeline runs it on its own thread.
pub fn run(
    feeds: &[FeedConfig],
    sensor: &str,
    counters: &FetchCounters,
    stop: &AtomicBool,
    changed: &dyn Fn(),
) {
    let start = Instant::now();
    let remote: Vec<&FeedConfig> = feeds.iter().filter(|f| f.is_remote()).collect();
    let mut due: Vec<Instant> = remote
        .iter()
        .map(|f| start + jitter(sensor, &f.display_name(), f.refresh()))
        .collect();
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let mut any = false;
        let mut updated = false;
        for (f, d) in remote.iter().zip(&mut due) {
            if stop.load(Relaxed) {
                return;
            }
            if *d > now {
                continue;
            }
            if !any {
                counters.rounds.fetch_add(1, Relaxed);
                any = true;
            }
            updated |= matches!(fetch_feed(f, counters), Outcome::Updated(_));
            // the next one on the schedule; a fetch that overran a whole period skips it
            *d += f.refresh();
            if *d <= Instant::now() {
                *d = Instant::now() + f.refresh();
            }
        }
        if updated {
            changed();
        }
        let next = due.iter().min().copied();
        let wait = next.map_or(POLL, |n| n.saturating_duration_since(Instant::now()));
        std::thread::sleep(wait.min(POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_stable_per_sensor_bounded_and_spread() {
        let h = Duration::from_secs(3600);
        assert_eq!(jitter("a", "f", h), jitter("a", "f", h));
        let all: std::collections::HashSet<Duration> =
            (0..50).map(|i| jitter(&format!("s{i}"), "f", h)).collect();
        assert!(all.len() > 40, "sensors spread: {}", all.len());
        assert!(all.iter().all(|d| *d < MAX_JITTER));
        assert!(jitter("a", "f", Duration::from_secs(10)) < Duration::from_secs(1));
        assert_eq!(jitter("a", "f", Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_candidate_that_shrank_too_much_or_does_not_parse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut feed = FeedConfig::from_path(dir.path().join("x"));
        feed.name = Some("x".into());
        let c = dir.path().join("c");
        std::fs::write(&c, "a.test\nb.test\nc.test\nd.test\n").unwrap();
        assert_eq!(check_candidate(&feed, &c, None), Ok(4));
        assert_eq!(check_candidate(&feed, &c, Some(8)), Ok(4));
        let e = check_candidate(&feed, &c, Some(9)).unwrap_err();
        assert!(e.contains("shrank from 9 to 4"), "{e}");
        std::fs::write(&c, "\u{1}\u{2} garbage\nmore garbage !!\n").unwrap();
        assert!(check_candidate(&feed, &c, None).is_err());
    }

    #[test]
    fn a_created_directory_takes_its_parents_owner() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("feeds/misp");
        ensure_dir(&d).unwrap();
        assert!(d.is_dir());
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
            let e = dir.path().join("e/f");
            ensure_dir(&e).unwrap();
            assert_eq!(std::fs::metadata(&e).unwrap().uid(), 65534);
            assert_eq!(
                std::fs::metadata(dir.path().join("e")).unwrap().uid(),
                65534
            );
        }
    }

    #[test]
    fn the_sidecar_round_trips_and_a_broken_one_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut feed = FeedConfig::from_path(dir.path().join("x"));
        feed.url = Some("https://e.test/x".into());
        let st = FetchState {
            url: "https://e.test/x".into(),
            validators: Validators {
                etag: Some("\"1\"".into()),
                last_modified: None,
            },
            entries: Some(3),
            ..FetchState::default()
        };
        save_state(&feed, &st).unwrap();
        let back = load_state(&feed);
        assert_eq!(back.validators, st.validators);
        assert_eq!(back.entries, Some(3));
        std::fs::write(state_path(&feed), "{not json").unwrap();
        assert_eq!(load_state(&feed).entries, None);
    }
}
