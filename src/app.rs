//! The one place that spawns threads and builds channels (the diagram is in the crate docs).
//!
//! Shutdown order: the capture thread finishes and drops its senders; each worker drains its
//! queue and drops its event sender; the sink drains and flushes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::capture::{self, CaptureStats, Dispatcher, FileError};
use crate::cli::ReplayArgs;
use crate::config::{Config, FeedConfig};
use crate::indicators::{feeds, IndicatorStore};
use crate::output::{OnFull, Outputs, SinkConfig, SinkStats};
use crate::stats::WorkerStats;
use crate::suppress::Suppressor;
use crate::worker::{Context, Worker};

/// Exit status for a configuration that cannot be used (sysexits.h EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit status when some input could not be read or the output failed.
pub const EXIT_FAILURE: u8 = 1;

/// An error with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad configuration or no usable feed: exit 78.
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// Anything else: exit 1.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => EXIT_CONFIG,
            AppError::Other(_) => EXIT_FAILURE,
        }
    }
}

/// `iocd replay`: returns the exit status.
pub fn replay(args: ReplayArgs) -> Result<u8, AppError> {
    let config = match &args.config {
        Some(p) => Config::load(p).map_err(|e| AppError::Config(e.into()))?,
        None => Config::default(),
    };
    let mut feed_list = config.feeds.clone();
    feed_list.extend(args.feeds.iter().cloned().map(FeedConfig::from_path));
    if feed_list.is_empty() {
        return Err(AppError::Config(anyhow::anyhow!(
            "no indicator feed: give --feed FILE or [[feeds]] in the config"
        )));
    }
    let workers = args
        .workers
        .map(usize::from)
        .or(config.workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let sensor = config
        .sensor
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());

    let started = Instant::now();
    let (set, report) = match feeds::build_set(&feed_list) {
        Ok(built) => built,
        Err(e) => {
            if let Some(report) = e.report() {
                log_report(report);
            }
            return Err(AppError::Config(e.into()));
        }
    };
    let load_time = started.elapsed();
    log_report(&report);
    tracing::info!(
        indicators = set.len(),
        "indicators loaded in {:.3}s",
        load_time.as_secs_f64()
    );
    let store = Arc::new(IndicatorStore::new(set));

    let sinks = replay_sinks(&config, args.output.clone());
    let (outputs, events) = Outputs::start(&sinks)
        .context("cannot start the outputs")
        .map_err(AppError::Other)?;

    // Replay suppresses only when the config asks for a window: a hunter wants every event.
    let suppress = config
        .suppress
        .window
        .filter(|w| !w.is_zero())
        .map(|w| Arc::new(Suppressor::new(w, config.home_net())));
    let ctx = Arc::new(Context {
        sensor,
        files: args.pcaps.iter().map(|p| p.display().to_string()).collect(),
        suppress: suppress.clone(),
    });
    let flush_tx = events.clone();
    let replay_started = Instant::now();
    let run = Run::start(workers, ctx, store, events, args.pcaps.clone());
    let (capture_stats, file_errors, worker_stats) = match run {
        Ok(run) => run.finish(),
        Err(e) => {
            outputs.finish();
            return Err(AppError::Other(e));
        }
    };
    // Windows still open at the end of the captures close now.
    let suppress_stats = suppress.as_ref().map(|s| {
        for line in s.flush() {
            let _ = flush_tx.send(line);
        }
        s.stats()
    });
    drop(flush_tx);
    let sink_stats = outputs.finish();
    let wall = replay_started.elapsed();
    print_summary(&capture_stats, &worker_stats, workers, wall, &file_errors);
    print_sink_summary(&sink_stats);
    if let Some(st) = suppress_stats {
        eprintln!(
            "  suppressed {}  follow-ups {}  suppression overflow {}",
            st.suppressed, st.followups, st.overflow
        );
    }
    let mut code = 0;
    for e in &file_errors {
        tracing::error!("{e}");
        code = EXIT_FAILURE;
    }
    for s in sink_stats.iter().filter(|s| s.errors > 0) {
        tracing::error!("sink {}: {} write errors", s.name, s.errors);
        code = EXIT_FAILURE;
    }
    Ok(code)
}

/// The running pipeline.
struct Run {
    capture: std::thread::JoinHandle<(CaptureStats, Vec<FileError>)>,
    workers: Vec<std::thread::JoinHandle<WorkerStats>>,
}

impl Run {
    /// Start the workers, then the capture thread reading `files` in order. Events go to
    /// `ev_tx` (the outputs' fan-out); the workers hold its only clones.
    fn start(
        n: usize,
        ctx: Arc<Context>,
        store: Arc<IndicatorStore>,
        ev_tx: crossbeam_channel::Sender<String>,
        files: Vec<PathBuf>,
    ) -> anyhow::Result<Run> {
        let (dispatcher, queues) = Dispatcher::new(n);
        let mut workers = Vec::with_capacity(n);
        for (i, q) in queues.into_iter().enumerate() {
            let w = Worker::new(ctx.clone(), store.clone(), ev_tx.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || w.run(q))
                    .context("cannot start a worker thread")?,
            );
        }
        let capture = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_files(dispatcher, &files))
            .context("cannot start the capture thread")?;
        Ok(Run { capture, workers })
    }

    /// Wait for the capture to end, then for the workers to drain, in that order.
    fn finish(self) -> (CaptureStats, Vec<FileError>, WorkerStats) {
        let (cap, errors) = self.capture.join().unwrap_or_else(|_| {
            tracing::error!("the capture thread panicked");
            (CaptureStats::default(), Vec::new())
        });
        let mut total = WorkerStats::default();
        for w in self.workers {
            match w.join() {
                Ok(s) => total.add(&s),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
        (cap, errors, total)
    }
}

/// The capture thread of a replay: every file in order, lossless. Progress goes to stderr when
/// it is a terminal, nowhere otherwise.
fn capture_files(mut dispatcher: Dispatcher, files: &[PathBuf]) -> (CaptureStats, Vec<FileError>) {
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut stats = CaptureStats::default();
    let mut errors = Vec::new();
    let mut done_before = 0u64;
    for (i, f) in files.iter().enumerate() {
        bar.set_message(f.display().to_string());
        let mut progress = |consumed: u64| bar.set_position(done_before + consumed);
        if let Err(e) = capture::read_file(f, i as u32, &mut dispatcher, &mut stats, &mut progress)
        {
            bar.suspend(|| tracing::error!("{e}"));
            errors.push(e);
        }
        done_before += std::fs::metadata(f).map_or(0, |m| m.len());
    }
    dispatcher.flush();
    bar.finish_and_clear();
    (stats, errors)
}

/// The replay's sinks: the config's `[[sinks]]`, plus a lossless JSON sink to `-o FILE` (or to
/// standard output when the config has no sinks). A hunter wants every event: it blocks rather
/// than drops.
fn replay_sinks(config: &Config, output: Option<PathBuf>) -> Vec<SinkConfig> {
    let mut sinks = config.sinks.clone();
    if output.is_some() || sinks.is_empty() {
        let path = output.unwrap_or_else(|| PathBuf::from("-"));
        let mut s = SinkConfig::json_file(path, OnFull::Block);
        s.name = Some("output".into());
        s.truncate = true;
        sinks.push(s);
    }
    sinks
}

fn print_sink_summary(sinks: &[SinkStats]) {
    let mut s = String::new();
    use std::fmt::Write as _;
    for k in sinks {
        let _ = writeln!(
            s,
            "  sink {}: sent {} dropped {} errors {}",
            k.name, k.sent, k.dropped, k.errors
        );
    }
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// Tell the operator what each feed gave, and every problem (bad lines are capped per feed by
/// the loader, and the rest are counted).
pub(crate) fn log_report(report: &feeds::LoadReport) {
    for f in &report.feeds {
        if let Some(failure) = &f.failure {
            tracing::error!("feed {}: {failure}", f.name);
            continue;
        }
        for e in &f.errors {
            tracing::warn!("bad line: {e}");
        }
        if f.bad_lines > f.errors.len() {
            tracing::warn!(
                "feed {}: {} more bad lines not shown",
                f.name,
                f.bad_lines - f.errors.len()
            );
        }
        tracing::info!(
            "feed {}: {} indicators ({} duplicates), {} bad lines, from {}",
            f.name,
            f.indicators,
            f.duplicates,
            f.bad_lines,
            f.path.display()
        );
    }
}

fn print_summary(
    cap: &CaptureStats,
    w: &WorkerStats,
    workers: usize,
    wall: Duration,
    file_errors: &[FileError],
) {
    let secs = wall.as_secs_f64().max(1e-9);
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(s, "iocd replay summary");
    let _ = writeln!(
        s,
        "  packets {}  bytes {}  files with errors {}",
        cap.packets,
        cap.bytes,
        file_errors.len()
    );
    for (k, v) in &cap.link_types {
        let _ = writeln!(s, "  link {k}: {v}");
    }
    for (k, v) in &w.observables {
        let _ = writeln!(s, "  observables {k}: {v}");
    }
    let _ = writeln!(
        s,
        "  decode errors: link {} network {} transport {} dns {} tls_malformed {}; tls_incomplete {}; non_ip {}",
        w.errors_link, w.errors_network, w.errors_transport, w.errors_dns, w.tls_malformed, w.tls_incomplete, w.non_ip
    );
    let q = &w.quic;
    let _ = writeln!(
        s,
        "  quic: initials decrypted {} decrypt_failures {} malformed {} bad_frames {}; hellos {} hello_errors {}; evictions {} timeouts {} buffer_caps_hit {}",
        q.initials_decrypted, q.decrypt_failures, q.malformed, q.bad_frames, q.hellos_parsed, q.hello_errors, q.evictions, q.timeouts, q.buffer_caps_hit
    );
    let _ = writeln!(
        s,
        "  decode errors: encapsulation too deep {}",
        w.errors_encap
    );
    for (k, v) in &w.tunnels {
        let _ = writeln!(s, "  tunnel {k}: {v}");
    }
    let d = &w.defrag;
    let _ = writeln!(
        s,
        "  defrag: fragments {} reassembled {} timeouts {} evictions {} overlaps {} invalid {} pending {}",
        d.fragments, d.reassembled, d.timeouts, d.evictions, d.overlaps, d.invalid, d.pending
    );
    let f = &w.flows;
    let _ = writeln!(
        s,
        "  tcp flows: created {} closed {} expired {} evicted {} evicted_bytes {} bypassed {}; unfinished {} prefix_cap {}; segments out_of_order {} dropped {} retransmitted {}",
        f.created, f.closed, f.expired, f.evicted, f.evicted_bytes, f.bypassed, f.unfinished, f.prefix_cap, f.ooo_held, f.ooo_dropped, f.retransmitted
    );
    let _ = writeln!(
        s,
        "  tcp messages: tls_hellos {} (split {}) http_requests {} (errors {}) dns {} (errors {}, capped {})",
        f.tls_hellos, f.tls_split, f.http_requests, f.http_errors, f.dns_messages, f.dns_errors, f.dns_capped
    );
    let _ = writeln!(
        s,
        "  matches {}  events {}  duplicates {}  dedup_resets {}",
        w.matches, w.events, w.duplicates, w.dedup_resets
    );
    let _ = writeln!(
        s,
        "  wall {:.3} s  {:.0} packets/s  {:.3} Gbit/s  workers {}",
        secs,
        cap.packets as f64 / secs,
        cap.bytes as f64 * 8.0 / secs / 1e9,
        workers
    );
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}
