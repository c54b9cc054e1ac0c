//! `iocd run`: live capture on one interface, for systemd (or a shell).
//!
//! Start order: config → feeds → outputs → capture open → privilege drop → workers → capture
//! thread → signal thread → READY=1. The main thread then runs the control loop: signals
//! (SIGHUP reload, SIGTERM/SIGINT stop), the watchdog, STATUS=, the periodic stats record and
//! the suppression windows of an idle link.
//!
//! Shutdown order: the capture thread stops reading and flushes its batches; the workers drain
//! their queues; open suppression windows are flushed; the final stats record is sent (it is
//! the last line of every JSON sink); the outputs drain and flush within their deadline.
//!
//! Backpressure: the capture thread never waits. A batch for a worker whose queue is full is
//! dropped and counted (`queue_full`); an event for a sink whose queue is full is dropped and
//! counted for that sink. Kernel and interface drops come from `pcap_stats`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde_json::json;

use crate::app::{AppError, EXIT_FAILURE};
use crate::capture::{Dispatcher, Meta, Origin};
use crate::cli::RunArgs;
use crate::config::capture::{DEFAULT_BUFFER_SIZE, DEFAULT_TIMEOUT, MAX_BUFFER_SIZE, MAX_SNAPLEN};
use crate::config::stats::DEFAULT_STATS_INTERVAL;
use crate::config::suppress::DEFAULT_WINDOW;
use crate::config::{CaptureConfig, Config, DaemonConfig};
use crate::decode::Link;
use crate::indicators::{feeds, IndicatorStore};
use crate::output::{Outputs, SinkStats};
use crate::reload::Reloader;
use crate::stats::WorkerStats;
use crate::suppress::Suppressor;
use crate::worker::{Context, Worker};

/// Longest time a captured packet waits in a partly filled batch on a slow link.
pub const MAX_BATCH_DELAY: Duration = Duration::from_millis(100);
/// How often the capture thread reads pcap_stats and publishes its counters.
pub const CAPTURE_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// Control loop tick: signals are handled at once, timers (watchdog, stats) at this grain.
const TICK: Duration = Duration::from_millis(200);

/// Wall-clock microseconds since the Unix epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Messages to the control loop; every trigger (signal, test) sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// Counters of the live capture thread, published about once a second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LiveStats {
    /// Frames read from libpcap.
    pub packets: u64,
    pub bytes: u64,
    /// Packets dropped because their worker's queue was full.
    pub queue_full: u64,
    /// pcap_stats: packets received by the filter, dropped by the kernel (ring full), dropped
    /// by the interface or driver. Widened from libpcap's 32-bit counters across wraps.
    pub received: u64,
    pub kernel_drops: u64,
    pub interface_drops: u64,
}

/// Widen a 32-bit pcap counter that may wrap into a 64-bit one.
#[derive(Debug, Default, Clone, Copy)]
struct Wide {
    last: u32,
    total: u64,
}

impl Wide {
    fn update(&mut self, now: u32) -> u64 {
        self.total += u64::from(now.wrapping_sub(self.last));
        self.last = now;
        self.total
    }
}

/// State shared by the control loop and the threads it watches.
struct Shared {
    stop: AtomicBool,
    /// Monotonic milliseconds of the capture thread's last loop turn (watchdog).
    capture_beat_ms: AtomicI64,
    capture: Mutex<LiveStats>,
    started: Instant,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload: Mutex<Option<SystemTime>>,
}

impl Shared {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// `iocd run`: returns the exit status.
pub fn run(args: RunArgs) -> Result<u8, AppError> {
    let config = Config::load(&args.config).map_err(|e| AppError::Config(e.into()))?;
    let mut problems = config.capture.problems();
    let interface = args.interface.clone().or(config.capture.interface.clone());
    if interface.is_none() {
        problems.push("no interface: give --interface IF or [capture] interface".into());
    }
    if config.feeds.is_empty() {
        problems.push("no indicator feed: [[feeds]] in the config".into());
    }
    if !problems.is_empty() {
        return Err(AppError::Config(anyhow::anyhow!(
            "invalid config {}: {}",
            args.config.display(),
            problems.join("; ")
        )));
    }
    let interface = interface.unwrap_or_default();
    let sensor = config
        .sensor
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let (set, report) = match feeds::build_set(&config.feeds) {
        Ok(b) => b,
        Err(e) => {
            if let Some(r) = e.report() {
                crate::app::log_report(r);
            }
            return Err(AppError::Config(e.into()));
        }
    };
    crate::app::log_report(&report);
    tracing::info!(indicators = set.len(), "indicators loaded");
    let store = Arc::new(IndicatorStore::new(set));

    let (outputs, events) = Outputs::start(&config.sinks)
        .context("cannot start the outputs")
        .map_err(AppError::Other)?;

    let cap = open_capture(&interface, &config.capture).map_err(AppError::Other)?;
    let files: Vec<&std::path::Path> = config
        .sinks
        .iter()
        .filter_map(|s| s.path.as_deref())
        .filter(|p| p.as_os_str() != "-")
        .collect();
    drop_privileges(&config.daemon, &files).map_err(AppError::Other)?;

    let window = config.suppress.window.unwrap_or(DEFAULT_WINDOW);
    let suppress =
        (!window.is_zero()).then(|| Arc::new(Suppressor::new(window, config.home_net())));
    let ctx = Arc::new(Context {
        sensor: sensor.clone(),
        files: Vec::new(),
        suppress: suppress.clone(),
    });
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        capture_beat_ms: AtomicI64::new(0),
        capture: Mutex::new(LiveStats::default()),
        started: Instant::now(),
        reloads_ok: AtomicU64::new(0),
        reloads_failed: AtomicU64::new(0),
        last_reload: Mutex::new(None),
    });

    let (dispatcher, queues) = Dispatcher::new(workers);
    let depth: Vec<_> = queues.iter().map(|q| q.batches.clone()).collect();
    let mut slots = Vec::new();
    let mut worker_threads = Vec::new();
    for (i, q) in queues.into_iter().enumerate() {
        let slot = Arc::new(Mutex::new(WorkerStats::default()));
        slots.push(slot.clone());
        let w = Worker::new(ctx.clone(), store.clone(), events.clone()).publish_to(slot);
        worker_threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || w.run(q))
                .context("cannot start a worker thread")
                .map_err(AppError::Other)?,
        );
    }
    let timeout = config.capture.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let capture_thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_live(cap, dispatcher, &shared, timeout))
            .context("cannot start the capture thread")
            .map_err(AppError::Other)?
    };
    let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
    spawn_signal_thread(ctl_tx).map_err(AppError::Other)?;
    // Re-reads the config's feed list at each reload; a broken feed keeps its last good entries.
    let mut reloader = Reloader::new(
        Some(args.config.clone()),
        Vec::new(),
        config.feeds.clone(),
        store.clone(),
    );

    let view = StatsView {
        sensor: &sensor,
        interface: &interface,
        shared: &shared,
        slots: &slots,
        depth: &depth,
        outputs: &outputs,
        store: &store,
        suppress: suppress.as_deref(),
    };
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&view.status(0.0)),
    ]);
    tracing::info!(
        interface = %interface,
        workers,
        "capturing; READY"
    );

    let interval = config.stats.interval.unwrap_or(DEFAULT_STATS_INTERVAL);
    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut last_watchdog = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_status = (Instant::now(), 0u64);
    let mut capture_failed = false;
    loop {
        match ctl_rx.recv_timeout(TICK) {
            Ok(Control::Reload) => {
                let _ = sd_notify::NotifyState::monotonic_usec_now().map(|m| {
                    notify(&[sd_notify::NotifyState::Reloading, m]);
                });
                reload_all(&mut reloader, &outputs, &shared);
                notify(&[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status(&view.status(0.0)),
                ]);
            }
            Ok(Control::Shutdown) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if capture_thread.is_finished() {
            tracing::error!("the capture stopped; shutting down");
            capture_failed = true;
            break;
        }
        if let Some(s) = &suppress {
            // An idle link sends no packets to close windows: wall time does it (live packet
            // times are wall times).
            let now_us = now_us();
            for line in s.tick(now_us) {
                // The fan-out never waits on a dropping sink, so this does not stall.
                let _ = events.send(line);
            }
        }
        if let Some(half) = watchdog {
            // Ping only while the capture thread turns: a wedged capture gets restarted.
            let beat_age = shared.now_ms() - shared.capture_beat_ms.load(Relaxed);
            if last_watchdog.elapsed() >= half
                && beat_age < i64::try_from(half.as_millis()).unwrap_or(i64::MAX)
            {
                notify(&[sd_notify::NotifyState::Watchdog]);
                last_watchdog = Instant::now();
            }
        }
        if last_status.0.elapsed() >= Duration::from_secs(5) {
            let packets = shared.capture.lock().map(|c| c.packets).unwrap_or(0);
            let rate = packets.saturating_sub(last_status.1) as f64
                / last_status.0.elapsed().as_secs_f64();
            notify(&[sd_notify::NotifyState::Status(&view.status(rate))]);
            last_status = (Instant::now(), packets);
        }
        if !interval.is_zero() && last_stats.elapsed() >= interval {
            last_stats = Instant::now();
            let rec = view.record(false);
            log_stats(&rec);
            // Never block the control loop on a full fan-out queue; the next record comes.
            if events.try_send(rec.to_string()).is_err() {
                tracing::warn!("stats record not queued: the event queue is full");
            }
        }
    }

    // Shutdown: capture, workers, suppression, final record, outputs.
    notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: draining queues");
    shared.stop.store(true, Relaxed);
    if capture_thread.join().is_err() {
        tracing::error!("the capture thread panicked");
        capture_failed = true;
    }
    for w in worker_threads {
        if w.join().is_err() {
            tracing::error!("a worker thread panicked");
        }
    }
    if let Some(s) = &suppress {
        for line in s.flush() {
            let _ = events.send(line);
        }
    }
    let rec = view.record(true);
    log_stats(&rec);
    let _ = events.send(rec.to_string());
    drop(events);
    let sinks = outputs.finish();
    for s in &sinks {
        tracing::info!(
            "sink {}: sent {} dropped {} errors {}",
            s.name,
            s.sent,
            s.dropped,
            s.errors
        );
    }
    Ok(if capture_failed { EXIT_FAILURE } else { 0 })
}

/// SIGHUP: reload the feeds (re-reading the config's feed list; see [`Reloader`]) and reopen
/// file sinks. A feed that fails keeps its last good entries; the reload then counts as failed.
fn reload_all(reloader: &mut Reloader, outputs: &Outputs, shared: &Shared) {
    if reloader.reload() {
        shared.reloads_ok.fetch_add(1, Relaxed);
    } else {
        shared.reloads_failed.fetch_add(1, Relaxed);
    }
    if let Ok(mut t) = shared.last_reload.lock() {
        *t = Some(SystemTime::now());
    }
    outputs.reopen();
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("sd_notify: {e}");
    }
}

/// SIGHUP → reload; SIGTERM/SIGINT → shutdown; a second SIGTERM/SIGINT exits at once.
fn spawn_signal_thread(tx: crossbeam_channel::Sender<Control>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stopping = false;
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        let _ = tx.send(Control::Reload);
                    }
                    _ if stopping => {
                        eprintln!("iocd: second termination signal: exiting now");
                        std::process::exit(i32::from(EXIT_FAILURE));
                    }
                    _ => {
                        stopping = true;
                        let _ = tx.send(Control::Shutdown);
                    }
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

fn open_capture(interface: &str, c: &CaptureConfig) -> anyhow::Result<pcap::Capture<pcap::Active>> {
    let timeout = c.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let buffer = c
        .buffer_size
        .unwrap_or(DEFAULT_BUFFER_SIZE)
        .min(MAX_BUFFER_SIZE);
    let mut cap = pcap::Capture::from_device(interface)
        .and_then(|i| {
            i.promisc(c.promiscuous)
                .snaplen(i32::try_from(c.snaplen.unwrap_or(MAX_SNAPLEN)).unwrap_or(i32::MAX))
                .buffer_size(i32::try_from(buffer).unwrap_or(i32::MAX))
                .immediate_mode(c.immediate)
                .timeout(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
                .open()
        })
        .with_context(|| format!("cannot capture on {interface}"))?;
    if let Some(bpf) = &c.bpf {
        cap.filter(bpf, true)
            .with_context(|| format!("bad [capture] bpf {bpf:?}"))?;
    }
    tracing::info!(
        interface,
        promiscuous = c.promiscuous,
        link = %Link::from_dlt(cap.get_datalink().0).name(),
        "capture open"
    );
    Ok(cap)
}

/// When started as root (outside systemd, which starts us as User=iocd), switch to the
/// configured user after the capture is open: the open socket keeps working, CAP_NET_RAW is no
/// longer needed, and root cannot be regained.
/// The JSON sink `files` are handed to that user first, so SIGHUP can reopen them.
fn drop_privileges(d: &DaemonConfig, files: &[&std::path::Path]) -> anyhow::Result<()> {
    use nix::unistd::{chown, setgid, setgroups, setuid, Group, Uid, User};
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let name = d.user.as_deref().unwrap_or("iocd");
    if name == "root" {
        tracing::warn!("[daemon] user = \"root\": keeping root privileges");
        return Ok(());
    }
    let user = User::from_name(name)
        .with_context(|| format!("cannot look up user {name}"))?
        .with_context(|| {
            format!("no user {name:?}: create it (systemd-sysusers systemd/iocd.sysusers) or set [daemon] user")
        })?;
    let gid = match &d.group {
        Some(g) => {
            Group::from_name(g)
                .with_context(|| format!("cannot look up group {g}"))?
                .with_context(|| format!("no group {g:?}"))?
                .gid
        }
        None => user.gid,
    };
    for f in files {
        chown(*f, Some(user.uid), Some(gid))
            .with_context(|| format!("cannot hand {} to {name}", f.display()))?;
    }
    setgroups(&[gid]).context("setgroups")?;
    setgid(gid).context("setgid")?;
    setuid(user.uid).context("setuid")?;
    if setuid(Uid::from_raw(0)).is_ok() {
        anyhow::bail!("privilege drop failed: root could be regained");
    }
    tracing::info!(
        user = name,
        uid = user.uid.as_raw(),
        "dropped root privileges"
    );
    Ok(())
}

/// Packets read in one go before the loop checks its timers and the stop flag.
const MAX_READ_BURST: usize = 4096;

/// The live capture loop: the handle is non-blocking; read what is there, else wait for the
/// socket for at most the read timeout (libpcap's own blocking read on TPACKET_V3 waits
/// without limit on an idle link, which would starve the stop flag and the watchdog).
fn capture_live(
    cap: pcap::Capture<pcap::Active>,
    mut dispatcher: Dispatcher,
    shared: &Shared,
    timeout: Duration,
) {
    let link = Link::from_dlt(cap.get_datalink().0);
    let mut cap = match cap.setnonblock() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot make the capture non-blocking: {e}");
            return;
        }
    };
    let poll_ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut st = LiveStats::default();
    let mut wide = [Wide::default(); 3];
    let mut last_flush = Instant::now();
    let mut last_publish = Instant::now();
    let publish = |st: &mut LiveStats,
                   cap: &mut pcap::Capture<pcap::Active>,
                   wide: &mut [Wide; 3],
                   queue_full| {
        if let Ok(s) = cap.stats() {
            st.received = wide[0].update(s.received);
            st.kernel_drops = wide[1].update(s.dropped);
            st.interface_drops = wide[2].update(s.if_dropped);
        }
        st.queue_full = queue_full;
        if let Ok(mut g) = shared.capture.lock() {
            *g = *st;
        }
    };
    'outer: while !shared.stop.load(Relaxed) {
        shared.capture_beat_ms.store(shared.now_ms(), Relaxed);
        let mut got = 0;
        while got < MAX_READ_BURST {
            match cap.next_packet() {
                Ok(pkt) => {
                    got += 1;
                    let h = pkt.header;
                    #[allow(clippy::useless_conversion)]
                    let ts_us = i64::from(h.ts.tv_sec) * 1_000_000 + i64::from(h.ts.tv_usec);
                    st.packets += 1;
                    st.bytes += u64::from(h.len);
                    let meta = Meta {
                        ts_us,
                        start: 0,
                        caplen: 0,
                        wire_len: h.len,
                        link,
                        origin: Origin {
                            file: 0,
                            packet: st.packets,
                        },
                    };
                    if !dispatcher.try_push(pkt.data, meta) {
                        tracing::error!("every worker has stopped");
                        break 'outer;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => {
                    tracing::error!("capture failed: {e}");
                    break 'outer;
                }
            }
        }
        if got == 0 {
            use std::os::fd::AsFd as _;
            let mut fds = [nix::poll::PollFd::new(
                cap.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if let Err(e) = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(poll_ms)) {
                if e != nix::errno::Errno::EINTR {
                    tracing::error!("capture poll failed: {e}");
                    break;
                }
            }
        }
        if got == 0 || last_flush.elapsed() >= MAX_BATCH_DELAY {
            // Quiet for now, or a partial batch waited long enough: hand it over.
            dispatcher.try_flush();
            last_flush = Instant::now();
        }
        if last_publish.elapsed() >= CAPTURE_PUBLISH_INTERVAL {
            publish(&mut st, &mut cap, &mut wide, dispatcher.queue_full);
            last_publish = Instant::now();
        }
    }
    // Shutdown: the workers are draining, so waiting for room loses nothing.
    dispatcher.flush();
    publish(&mut st, &mut cap, &mut wide, dispatcher.queue_full);
}

/// Everything the stats record reads.
struct StatsView<'a> {
    sensor: &'a str,
    interface: &'a str,
    shared: &'a Shared,
    slots: &'a [Arc<Mutex<WorkerStats>>],
    depth: &'a [crossbeam_channel::Receiver<crate::capture::Batch>],
    outputs: &'a Outputs,
    store: &'a IndicatorStore,
    suppress: Option<&'a Suppressor>,
}

impl StatsView<'_> {
    fn workers(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for s in self.slots {
            if let Ok(g) = s.lock() {
                total.add(&g);
            }
        }
        total
    }

    fn status(&self, rate: f64) -> String {
        let w = self.workers();
        format!(
            "{} indicators; {:.0} packets/s; {} events",
            self.store.load().len(),
            rate,
            w.events
        )
    }

    /// The `"event_type":"stats"` record.
    fn record(&self, last: bool) -> serde_json::Value {
        let c = self.shared.capture.lock().map(|g| *g).unwrap_or_default();
        let w = self.workers();
        let sinks: Vec<SinkStats> = self.outputs.stats();
        let sink_drops: u64 = sinks.iter().map(|s| s.dropped).sum();
        let last_reload = self
            .shared
            .last_reload
            .lock()
            .ok()
            .and_then(|t| *t)
            .map(|t| humantime::format_rfc3339_micros(t).to_string());
        json!({
            "schema_version": crate::event::SCHEMA_VERSION,
            "timestamp": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            "event_type": "stats",
            "sensor": self.sensor,
            "interface": self.interface,
            "final": last,
            "uptime_s": self.shared.started.elapsed().as_secs(),
            "packets": c.packets,
            "bytes": c.bytes,
            "received": c.received,
            "drops": {
                "kernel": c.kernel_drops,
                "interface": c.interface_drops,
                "queue_full": c.queue_full,
                "sink": sink_drops,
            },
            "queue_depth": self.depth.iter().map(|r| r.len()).collect::<Vec<_>>(),
            "worker_packets": w.packets,
            "decode_errors": {
                "link": w.errors_link,
                "network": w.errors_network,
                "transport": w.errors_transport,
                "encapsulation": w.errors_encap,
                "dns": w.errors_dns,
                "tls_malformed": w.tls_malformed,
            },
            "observables": w.observables,
            "matches": w.matches,
            "events": w.events,
            "duplicates": w.duplicates,
            "sinks": sinks,
            "flows": {
                "created": w.flows.created,
                "closed": w.flows.closed,
                "expired": w.flows.expired,
                "evicted": w.flows.evicted,
            },
            "indicators": self.store.load().len(),
            "reloads": {
                "ok": self.shared.reloads_ok.load(Relaxed),
                "failed": self.shared.reloads_failed.load(Relaxed),
                "last": last_reload,
            },
            "suppression": self.suppress.map(|s| s.stats()),
        })
    }
}

fn log_stats(rec: &serde_json::Value) {
    let d = &rec["drops"];
    tracing::info!(
        "stats: packets {} bytes {} drops kernel {} interface {} queue_full {} sink {}; matches {} events {} indicators {} reloads ok {} failed {}",
        rec["packets"], rec["bytes"], d["kernel"], d["interface"], d["queue_full"], d["sink"],
        rec["matches"], rec["events"], rec["indicators"], rec["reloads"]["ok"], rec["reloads"]["failed"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    #[test]
    fn wide_counter_survives_a_32_bit_wrap() {
        let mut w = Wide::default();
        assert_eq!(w.update(10), 10);
        assert_eq!(w.update(u32::MAX), u64::from(u32::MAX));
        assert_eq!(w.update(5), u64::from(u32::MAX) + 6);
    }

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
    }
}
