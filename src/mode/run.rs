//! `iocd run`: live capture on one interface, for systemd (or a shell).
//!
//! Start order: config → feeds → sinks opened → capture opened → privilege drop → the pipeline's
//! threads → READY=1. The control loop ([`crate::pipeline`]) adds, through this mode's
//! [`Policy`]: the watchdog, STATUS=, RELOADING=1/READY=1 around reloads, the periodic stats
//! record, and wall-clock ticks that close the suppression windows of an idle link.
//!
//! Shutdown: the pipeline drains (see [`crate::pipeline`]); the final stats record is the last
//! line of every sink.
//!
//! Backpressure: the capture thread never waits. A batch for a worker whose queue is full is
//! dropped and counted (`queue_full`); an event for a sink whose queue is full is dropped and
//! counted for that sink. Kernel and interface drops come from `pcap_stats`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use super::{load_set, AppError, EXIT_FAILURE};
use crate::capture::live::{self, Counting, Shared};
use crate::cli::RunArgs;
use crate::config::capture::{CaptureMethod, DEFAULT_TIMEOUT};
use crate::config::stats::DEFAULT_STATS_INTERVAL;
use crate::config::suppress::DEFAULT_WINDOW;
use crate::config::DaemonConfig;
use crate::event::{Record, SCHEMA_VERSION};
use crate::indicators::IndicatorStore;
use crate::metrics;
use crate::output::suppress::Suppressor;
use crate::output::Output;
use crate::pipeline::{CaptureFn, Core, Ended, Pipeline, Policy, Spec};
use crate::reload::{ReloadStats, Reloader};
use crate::settings::Settings;
use crate::stats::{Drops, Reloads, StatsRecord, WorkerStats};
use crate::worker;

/// Wall-clock microseconds since the Unix epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// `iocd run`: returns the exit status.
pub fn run(args: RunArgs) -> Result<u8, AppError> {
    let (settings, as_read) =
        Settings::for_run(&args.config, args.instance.as_deref()).map_err(AppError::Config)?;
    let config_path = settings.config_path.clone().unwrap_or(args.config.clone());
    // Before the feeds load: a SIGHUP before READY is queued (its default action would kill
    // us), a SIGTERM stops us at the first turn of the control loop.
    let control = crate::pipeline::install_signals().map_err(AppError::Other)?;
    let config = &settings.config;
    let mut problems = Vec::new();
    let interface = args
        .interface
        .clone()
        .or(config.capture.interface.clone())
        .or(args.instance.clone());
    if interface.is_none() {
        problems.push("no interface: give --interface IF or [capture] interface".to_owned());
    }
    if config.feeds.is_empty() {
        problems.push("no indicator feed: [[feeds]] in the config".into());
    }
    // The user to switch to is looked up now: a missing one is a config error (78), found
    // before the capture opens, not a runtime failure after.
    let target = match target_user(&config.daemon) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if !problems.is_empty() {
        return Err(AppError::Config(
            crate::config::ConfigError::Invalid {
                path: config_path,
                problems,
            }
            .into(),
        ));
    }
    let interface = interface.unwrap_or_default();
    // A remote feed with a local copy starts from it at once (the fetcher refreshes it once
    // capturing); one with no copy yet is fetched now, before the set is built.
    let fetch_counters = Arc::new(crate::fetch::FetchCounters::default());
    for f in settings
        .feeds
        .iter()
        .filter(|f| f.is_remote() && !f.path.exists())
    {
        tracing::info!(
            "feed {:?}: no local copy yet: fetching it before start",
            f.display_name()
        );
        crate::fetch::fetch_feed(f, &fetch_counters);
    }
    // The files' identities before they are read: a reload that finds them unchanged (or gone)
    // keeps the set without rebuilding it.
    let ids = crate::reload::file_ids(&settings.feeds);
    let (set, report) = load_set(&settings.feeds, &config.home_net())?;
    let store = Arc::new(IndicatorStore::new(set));

    let fanout = config.capture.method == CaptureMethod::AfPacket;
    let caps = if fanout {
        live::open_fanout(&interface, &config.capture).map_err(AppError::Other)?
    } else {
        vec![live::open_capture(&interface, &config.capture).map_err(AppError::Other)?]
    };
    // Bound before the privilege drop (a port below 1024 needs root); refused as a config
    // error the operator can act on.
    let metrics = match config.metrics.addr() {
        Some(addr) => Some(std::net::TcpListener::bind(addr).map_err(|e| {
            AppError::Config(
                crate::config::ConfigError::Invalid {
                    path: config_path.clone(),
                    problems: vec![format!(
                        "metrics.listen = \"{addr}\": cannot listen there: {e}; choose a free port or address"
                    )],
                }
                .into(),
            )
        })?),
        None => None,
    };
    let window = config.suppress.window.unwrap_or(DEFAULT_WINDOW);
    let suppress = (!window.is_zero()).then(|| Suppressor::new(window, config.home_net()));
    let files: Vec<std::path::PathBuf> = config
        .sinks
        .iter()
        .filter_map(|s| s.path.clone())
        .filter(|p| p.as_os_str() != "-")
        .collect();
    let spec = Spec {
        workers: settings.workers,
        context: worker::Context {
            sensor: settings.sensor.clone(),
            files: Vec::new(),
            suppress: suppress.is_some(),
            tables: worker::table_caps(settings.config.tables.memory()),
            iface: Some(Arc::from(interface.as_str())),
            home_net: settings.config.home_net.clone(),
            // Live events go out as they come: waiting for the slowest worker would only
            // delay them.
            ordered: false,
            max_file_size: settings.config.tables.max_file_size(),
        },
        store: store.clone(),
        sinks: config.sinks.clone(),
        suppress,
        before_threads: Some(Box::new(move || drop_privileges(target.as_ref(), &files))),
        // The capture loop checks the flag after each read, which waits at most the read
        // timeout; the rest is its final flush.
        capture_stop_wait: config.capture.timeout.unwrap_or(DEFAULT_TIMEOUT)
            + Duration::from_secs(5),
        control,
        // The retro-hunt memory, read back from the state directory (entries past the window
        // by the wall clock dropped) and written there at shutdown.
        retro: config.retro.enabled.then(|| {
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            crate::retro::Hunter::from_config(
                &config.retro,
                None,
                settings.workers,
                settings.sensor.clone(),
                settings.config.home_net.clone(),
            )
            .persist_in(&config.daemon.state_dir().join("retro"), Some(now_us))
        }),
        aggregate: settings.config.aggregate.interval().map(|i| {
            crate::output::aggregate::Aggregator::new(
                i,
                settings.config.home_net(),
                settings.sensor.clone(),
            )
        }),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared::with_threads(stop.clone(), caps.len()));
    let timeout = config.capture.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let captures: Vec<CaptureFn<()>> = caps
        .into_iter()
        .enumerate()
        .map(|(i, cap)| {
            let shared = shared.clone();
            let counting = if fanout {
                Counting::Fanout {
                    interface_drops: (i == 0).then(|| interface.clone()),
                }
            } else {
                Counting::Pcap
            };
            let f: CaptureFn<()> =
                Box::new(move |d| live::capture_live(cap, d, &shared, timeout, i, counting));
            f
        })
        .collect();
    let mut p = Pipeline::start_many(spec, stop, captures).map_err(AppError::Other)?;
    let page = Arc::new(metrics::Page::default());
    if let Some(listener) = metrics {
        let addr = listener.local_addr().ok();
        p.serve_metrics(listener, page.clone())
            .map_err(AppError::Other)?;
        tracing::info!(addr = ?addr, "metrics endpoint: GET /metrics");
    }
    if settings.feeds.iter().any(|f| f.is_remote()) {
        p.start_fetcher(
            settings.feeds.clone(),
            settings.sensor.to_string(),
            fetch_counters.clone(),
        );
    }
    // Re-reads the config's feed list at each reload; a broken feed keeps its last good entries.
    let reloader = Reloader::new(
        Some(config_path.clone()),
        Vec::new(),
        settings.feeds.clone(),
        store,
    )
    .with_running_config(as_read)
    .with_loaded(ids, &report);
    let mut policy = Live {
        view: StatsView {
            sensor: settings.sensor.clone(),
            interface: interface.clone(),
            shared,
            reloads: reloader.stats.clone(),
            fetches: settings
                .feeds
                .iter()
                .any(|f| f.is_remote())
                .then(|| fetch_counters.clone()),
        },
        suppress: config.suppress.window.unwrap_or(DEFAULT_WINDOW) > Duration::ZERO,
        interval: config.stats.interval.unwrap_or(DEFAULT_STATS_INTERVAL),
        watchdog: sd_notify::watchdog_enabled().map(|d| d / 2),
        last_watchdog: Instant::now(),
        last_stats: Instant::now(),
        last_status: (Instant::now(), 0),
        metrics: config.metrics.listen.is_some().then(|| Metrics {
            page,
            feeds: settings
                .feeds
                .iter()
                .map(|f| (f.display_name(), f.path.clone()))
                .collect(),
            last: None,
        }),
    };
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&policy.view.status(&p.core, 0.0)),
    ]);
    tracing::info!(
        interface = %interface,
        workers = settings.workers,
        sensor = %settings.sensor,
        config = %config_path.display(),
        "capturing; READY"
    );

    let ended = p.control(reloader, &mut policy);
    let capture_failed = ended == Ended::CaptureDone;
    if capture_failed {
        tracing::error!("the capture stopped; shutting down");
    }
    notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: draining queues");
    let view = &policy.view;
    let done = p.finish(|core, workers| {
        let rec = view.record(core, workers.clone(), true);
        log_stats(&rec);
        Some(Record::Stats(Box::new(rec)))
    });
    for s in &done.sinks {
        tracing::info!(
            "sink {}: sent {} dropped {} errors {}",
            s.name,
            s.sent,
            s.dropped,
            s.errors
        );
    }
    let failed = capture_failed || done.capture.is_none() || done.worker_panicked;
    Ok(if failed { EXIT_FAILURE } else { 0 })
}

/// What `iocd run` adds to the control loop.
struct Live {
    view: StatsView,
    /// Suppression is on: wall time closes the windows of an idle link.
    suppress: bool,
    interval: Duration,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
    last_stats: Instant,
    last_status: (Instant, u64),
    /// The metrics endpoint's page, when `[metrics] listen` is set.
    metrics: Option<Metrics>,
}

/// How often the control loop renders the metrics page: as often as the capture threads and
/// workers publish their counters.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// What the control loop keeps for the metrics page.
struct Metrics {
    page: Arc<metrics::Page>,
    /// The feeds of the config: name and file.
    feeds: Vec<(String, std::path::PathBuf)>,
    last: Option<Instant>,
}

impl Metrics {
    fn render(&mut self, view: &StatsView, p: &Core) {
        if self.last.is_some_and(|t| t.elapsed() < METRICS_INTERVAL) {
            return;
        }
        self.last = Some(Instant::now());
        let rec = view.record(p, p.workers(), false);
        let set = p.store.load();
        let feeds: Vec<metrics::FeedGauge> = self
            .feeds
            .iter()
            .map(|(name, path)| metrics::FeedGauge {
                name: name.clone(),
                path: Some(path.clone()),
                indicators: set.feed_len(name),
            })
            .collect();
        self.page.store(metrics::render(&rec, &feeds));
    }
}

impl Policy for Live {
    fn tick(&mut self, p: &Core) {
        if let Some(m) = &mut self.metrics {
            m.render(&self.view, p);
        }
        if self.suppress {
            // An idle link sends no packets to close windows: wall time does it (live packet
            // times are wall times). The stage never waits on a dropping sink.
            p.try_send(Output::Tick(now_us()));
        }
        if let Some(half) = self.watchdog {
            // Ping only while the capture thread turns: a wedged capture gets restarted.
            let shared = &self.view.shared;
            let beat_age = shared.now_ms() - shared.oldest_beat_ms();
            if self.last_watchdog.elapsed() >= half
                && beat_age < i64::try_from(half.as_millis()).unwrap_or(i64::MAX)
            {
                notify(&[sd_notify::NotifyState::Watchdog]);
                self.last_watchdog = Instant::now();
            }
        }
        if self.last_status.0.elapsed() >= Duration::from_secs(5) {
            let packets = self.view.shared.stats().packets;
            let rate = packets.saturating_sub(self.last_status.1) as f64
                / self.last_status.0.elapsed().as_secs_f64();
            notify(&[sd_notify::NotifyState::Status(&self.view.status(p, rate))]);
            self.last_status = (Instant::now(), packets);
        }
        if !self.interval.is_zero() && self.last_stats.elapsed() >= self.interval {
            self.last_stats = Instant::now();
            let rec = self.view.record(p, p.workers(), false);
            log_stats(&rec);
            // Never block the control loop on a full stage queue; the next record comes.
            if !p.try_send(Output::Record(Record::Stats(Box::new(rec)))) {
                tracing::warn!("stats record not queued: the event queue is full");
            }
        }
    }

    fn reloading(&mut self) {
        let _ = sd_notify::NotifyState::monotonic_usec_now().map(|m| {
            notify(&[sd_notify::NotifyState::Reloading, m]);
        });
    }

    fn reloaded(&mut self, p: &Core, _ok: bool) {
        notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&self.view.status(p, 0.0)),
        ]);
    }
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("sd_notify: {e}");
    }
}

/// Who `iocd run` switches to once the capture is open.
struct Target {
    name: String,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

/// When running as root: the `[daemon] user` (default "iocd") and group, looked up; `None` when
/// not root or when the user is "root". The error names the key and what to do.
fn target_user(d: &DaemonConfig) -> Result<Option<Target>, String> {
    use nix::unistd::{Group, Uid, User};
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = d.user.as_deref().unwrap_or("iocd");
    if name == "root" {
        tracing::warn!("[daemon] user = \"root\": keeping root privileges");
        return Ok(None);
    }
    let set = if d.user.is_some() {
        ""
    } else {
        " (the default)"
    };
    let user = User::from_name(name)
        .map_err(|e| format!("daemon.user = {name:?}{set}: cannot look it up: {e}"))?
        .ok_or_else(|| {
            format!(
                "daemon.user = {name:?}{set}: no such user; create it (systemd-sysusers, see systemd/iocd.sysusers) or name another, e.g. user = \"iocd\""
            )
        })?;
    let gid = match &d.group {
        Some(g) => {
            Group::from_name(g)
                .map_err(|e| format!("daemon.group = {g:?}: cannot look it up: {e}"))?
                .ok_or_else(|| {
                    format!("daemon.group = {g:?}: no such group; create it or leave group unset (the user's primary group)")
                })?
                .gid
        }
        None => user.gid,
    };
    Ok(Some(Target {
        name: name.to_owned(),
        uid: user.uid,
        gid,
    }))
}

/// When started as root (outside systemd, which starts us as User=iocd), switch to the
/// configured user after the capture is open: the open socket keeps working, CAP_NET_RAW is no
/// longer needed, and root cannot be regained.
/// The JSON sink `files` are handed to that user first, so SIGHUP can reopen them.
fn drop_privileges(target: Option<&Target>, files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    use nix::unistd::{fchown, setgid, setgroups, setuid, Uid};
    let Some(Target { name, uid, gid }) = target else {
        return Ok(());
    };
    let (uid, gid) = (*uid, *gid);
    for f in files {
        // By descriptor, on the file the sink opened (no symlink followed, see
        // `output::sink::open_file`): never a file some link points at.
        let file = crate::output::sink::open_file(f, false)
            .with_context(|| format!("cannot hand {} to {name}", f.display()))?;
        if file.metadata().is_ok_and(|m| m.is_file()) {
            fchown(&file, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to {name}", f.display()))?;
        }
    }
    setgroups(&[gid]).context("setgroups")?;
    setgid(gid).context("setgid")?;
    setuid(uid).context("setuid")?;
    if setuid(Uid::from_raw(0)).is_ok() {
        anyhow::bail!("privilege drop failed: root could be regained");
    }
    tracing::info!(user = %name, uid = uid.as_raw(), "dropped root privileges");
    Ok(())
}

/// Everything the stats record reads besides the pipeline.
struct StatsView {
    sensor: Arc<str>,
    interface: String,
    shared: Arc<Shared>,
    reloads: Arc<ReloadStats>,
    /// The fetcher's counters, when some feed is remote.
    fetches: Option<Arc<crate::fetch::FetchCounters>>,
}

impl StatsView {
    fn status(&self, p: &Core, rate: f64) -> String {
        format!(
            "{} indicators; {:.0} packets/s; {} events",
            p.store.load().len(),
            rate,
            p.workers().events
        )
    }

    /// The `"event_type":"stats"` record.
    fn record(&self, p: &Core, workers: WorkerStats, last: bool) -> StatsRecord {
        let c = self.shared.stats();
        let sinks = p.outputs.stats();
        let last_unix = self.reloads.last_unix.load(Relaxed);
        StatsRecord {
            schema_version: SCHEMA_VERSION,
            timestamp: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            event_type: "stats",
            sensor: self.sensor.clone(),
            interface: self.interface.clone(),
            last,
            uptime_s: self.shared.started.elapsed().as_secs(),
            packets: c.packets,
            bytes: c.bytes,
            received: c.received,
            drops: Drops {
                kernel: c.kernel_drops,
                interface: c.interface_drops,
                queue_full: c.queue_full,
                sink: sinks.iter().map(|s| s.dropped).sum(),
            },
            queue_depth: p.queue_depth(),
            workers,
            sinks,
            indicators: p.store.load().len(),
            reloads: Reloads {
                ok: self.reloads.ok.load(Relaxed),
                failed: self.reloads.failed.load(Relaxed),
                last: (last_unix > 0).then(|| crate::event::format_time(last_unix * 1_000_000)),
            },
            suppression: p.outputs.suppress_stats(),
            capture: self.shared.per_thread(),
            fetches: self.fetches.as_ref().map(|f| f.snapshot()),
            aggregate: p.outputs.aggregate_stats(),
        }
    }
}

fn log_stats(r: &StatsRecord) {
    let d = &r.drops;
    tracing::info!(
        "stats: packets {} bytes {} drops kernel {} interface {} queue_full {} sink {}; matches {} events {} indicators {} reloads ok {} failed {}",
        r.packets, r.bytes, d.kernel, d.interface, d.queue_full, d.sink,
        r.workers.matches, r.workers.events, r.indicators, r.reloads.ok, r.reloads.failed
    );
    if r.capture.len() > 1 {
        for (i, c) in r.capture.iter().enumerate() {
            tracing::info!(
                "stats: capture thread {i}: packets {} received {} kernel drops {} freezes {} queue_full {}",
                c.packets, c.received, c.kernel_drops, c.kernel_freezes, c.queue_full
            );
        }
    }
}
