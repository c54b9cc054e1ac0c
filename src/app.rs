//! The one place that spawns threads and builds channels (the diagram is in the crate docs).
//!
//! Shutdown order: the capture thread finishes and drops its senders; each worker drains its
//! queue and drops its event sender; the sink drains and flushes.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::capture::{CaptureStats, Dispatcher, FileError};
use crate::cli::ReplayArgs;
use crate::config::{Config, FeedConfig};
use crate::config::{OnFull, SinkConfig};
use crate::indicators::{feeds, IndicatorStore};
use crate::input::{self, replay::MAX_MERGE_INPUTS, Input};
use crate::output::{Outputs, SinkStats};
use crate::reload::{Reloader, SighupThread};
use crate::stats::WorkerStats;
use crate::suppress::Suppressor;
use crate::worker::{Context, Worker};

/// Exit status for a configuration that cannot be used (sysexits.h EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit status when some input could not be read or the output failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's, and a bad `--bpf` expression).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the replay completed but some input was damaged: its readable prefix was
/// replayed. [`EXIT_FAILURE`] wins when both apply.
pub const EXIT_DAMAGED: u8 = 3;

/// An error with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad configuration or no usable feed: exit 78.
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// Anything else: exit 1.
    #[error("{0:#}")]
    Other(anyhow::Error),
    /// A bad argument found after parsing (a `--bpf` expression libpcap refuses): exit 2.
    #[error("{0}")]
    Usage(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => EXIT_CONFIG,
            AppError::Other(_) => EXIT_FAILURE,
            AppError::Usage(_) => EXIT_USAGE,
        }
    }
}

/// `iocd replay`: returns the exit status.
pub fn replay(args: ReplayArgs) -> Result<u8, AppError> {
    let (inputs, input_errors, opts) = replay_inputs(&args)?;
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
    // SIGHUP rebuilds the set from the feeds (and the config's feed list) while the replay runs.
    let reloader = Reloader::new(
        args.config.clone(),
        args.feeds
            .iter()
            .cloned()
            .map(FeedConfig::from_path)
            .collect(),
        feed_list,
        store.clone(),
    );
    let sighup = SighupThread::spawn(reloader)
        .context("cannot handle SIGHUP")
        .map_err(AppError::Other)?;

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
        files: inputs.iter().map(Input::name).collect(),
        suppress: suppress.clone(),
    });
    let flush_tx = events.clone();
    let replay_started = Instant::now();
    let run = Run::start(workers, ctx, store, events, inputs, opts);
    let (capture_stats, mut file_errors, worker_stats) = match run {
        Ok(run) => run.finish(),
        Err(e) => {
            sighup.stop();
            outputs.finish();
            return Err(AppError::Other(e));
        }
    };
    sighup.stop();
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
    file_errors.splice(0..0, input_errors);
    print_summary(&capture_stats, &worker_stats, workers, wall, &file_errors);
    print_sink_summary(&sink_stats);
    if let Some(st) = suppress_stats {
        eprintln!(
            "  suppressed {}  follow-ups {}  suppression overflow {}",
            st.suppressed, st.followups, st.overflow
        );
    }
    let mut code = if capture_stats.damaged() > 0 {
        EXIT_DAMAGED
    } else {
        0
    };
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

/// Expand the input arguments (directories, `-R`) and check the replay options that clap
/// cannot: the `--bpf` expression (libpcap's compiler) and the number of `--merge` inputs.
fn replay_inputs(
    args: &ReplayArgs,
) -> Result<(Vec<Input>, Vec<FileError>, input::replay::Options), AppError> {
    if let Some(expr) = &args.bpf {
        input::bpf::validate(expr).map_err(|e| AppError::Usage(format!("--bpf {expr:?}: {e}")))?;
    }
    let (inputs, errors, notes) = input::expand(&args.pcaps, args.recursive);
    for n in notes {
        tracing::info!("{n}");
    }
    if inputs.iter().filter(|i| i.path == Path::new("-")).count() > 1 {
        return Err(AppError::Usage(
            "standard input (-) can be given only once".into(),
        ));
    }
    if args.merge && inputs.len() > MAX_MERGE_INPUTS {
        return Err(AppError::Usage(format!(
            "--merge of {} inputs: at most {MAX_MERGE_INPUTS} at once",
            inputs.len()
        )));
    }
    let opts = input::replay::Options {
        merge: args.merge,
        speed: if args.realtime { Some(1.0) } else { args.speed },
        bpf: args.bpf.clone(),
    };
    Ok((inputs, errors, opts))
}

/// The running pipeline.
struct Run {
    capture: std::thread::JoinHandle<(CaptureStats, Vec<FileError>)>,
    workers: Vec<std::thread::JoinHandle<WorkerStats>>,
}

impl Run {
    /// Start the workers, then the capture thread reading the inputs. Events go to `ev_tx`
    /// (the outputs' fan-out); the workers hold its only clones.
    fn start(
        n: usize,
        ctx: Arc<Context>,
        store: Arc<IndicatorStore>,
        ev_tx: crossbeam_channel::Sender<String>,
        inputs: Vec<Input>,
        opts: input::replay::Options,
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
            .spawn(move || capture_files(dispatcher, &inputs, &opts))
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

/// The capture thread of a replay: every input in order (or merged), lossless. Progress goes
/// to stderr when it is a terminal, nowhere otherwise.
fn capture_files(
    mut dispatcher: Dispatcher,
    inputs: &[Input],
    opts: &input::replay::Options,
) -> (CaptureStats, Vec<FileError>) {
    let total: u64 = inputs.iter().filter_map(Input::size).sum();
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
    let mut progress = |done: u64, file: Option<&str>| {
        bar.set_position(done);
        if let Some(f) = file {
            bar.set_message(f.to_owned());
        }
    };
    let mut log = |f: &dyn Fn()| bar.suspend(f);
    let result = input::replay::run(&mut dispatcher, inputs, opts, &mut progress, &mut log);
    bar.finish_and_clear();
    result
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
        "  packets {}  bytes {}  files with errors {}  damaged files {}  filtered {}",
        cap.packets,
        cap.bytes,
        file_errors.len(),
        cap.damaged(),
        cap.filtered
    );
    input::replay::write_file_summary(&mut s, cap);
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
        "  matches {}  events {}  duplicates {}  dedup_resets {}  allowlisted {}  inactive {}",
        w.matches, w.events, w.duplicates, w.dedup_resets, w.allowlisted, w.inactive
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
