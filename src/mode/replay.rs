//! `iocd replay`: read capture files (in order or merged by time, at full speed or paced) into
//! the pipeline, losslessly: the capture waits for the workers and the JSON output blocks
//! rather than drops. SIGHUP reloads the feeds mid-replay; SIGINT/SIGTERM stop reading and
//! drain what was read. The exit status says whether every input was read whole and every
//! event written.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{load_set, AppError, EXIT_DAMAGED, EXIT_FAILURE};
use crate::capture::file::{self, replay::MAX_MERGE_INPUTS, Input};
use crate::capture::{CaptureStats, Dispatcher, FileError};
use crate::cli::ReplayArgs;
use crate::config::{Config, OnFull, SinkConfig};
use crate::indicators::IndicatorStore;
use crate::output::suppress::Suppressor;
use crate::pipeline::{Ended, Pipeline, Policy, Spec};
use crate::reload::Reloader;
use crate::settings::Settings;
use crate::stats::{SinkStats, SuppressStats, WorkerStats};
use crate::worker;

/// Replay adds nothing to the control loop.
struct Replay;

impl Policy for Replay {}

/// `iocd replay`: returns the exit status.
pub fn replay(args: ReplayArgs) -> Result<u8, AppError> {
    let (inputs, input_errors, opts) = replay_inputs(&args)?;
    // Before the feeds load: a SIGHUP or SIGTERM during a long load is queued, not fatal.
    let control = crate::pipeline::install_signals().map_err(AppError::Other)?;
    let settings = Settings::resolve(
        args.config.as_deref(),
        &args.feeds,
        args.workers.map(usize::from),
    )
    .map_err(AppError::Config)?;
    if settings.feeds.is_empty() {
        return Err(AppError::Config(anyhow::anyhow!(
            "no indicator feed: give --feed FILE or [[feeds]] in the config"
        )));
    }
    // The files' identities before they are read: a reload that finds them unchanged (or gone)
    // keeps the set without rebuilding it.
    let ids = crate::reload::file_ids(&settings.feeds);
    let (set, report) = load_set(&settings.feeds, &settings.config.home_net())?;
    let store = Arc::new(IndicatorStore::new(set));
    // SIGHUP rebuilds the set from the feeds (and the config's feed list) while the replay runs.
    let reloader = Reloader::new(
        settings.config_path.clone(),
        settings.cli_feeds.clone(),
        settings.feeds.clone(),
        store.clone(),
    )
    .with_running_config(settings.config.clone())
    .with_loaded(ids, &report);
    // Replay suppresses only when the config asks for a window: a hunter wants every event.
    let suppress = settings
        .config
        .suppress
        .window
        .filter(|w| !w.is_zero())
        .map(|w| Suppressor::new(w, settings.config.home_net()));
    let retro = replay_retro(&args, &settings)?;
    let spec = Spec {
        workers: settings.workers,
        context: worker::Context {
            sensor: settings.sensor.clone(),
            files: inputs
                .iter()
                .map(|i| Arc::from(i.name().as_str()))
                .collect(),
            suppress: suppress.is_some(),
            tables: worker::table_caps(settings.config.tables.memory()),
            // A pcapng names its interfaces itself (if_name); a classic pcap has none.
            iface: None,
            home_net: settings.config.home_net.clone(),
            // Byte-identical output whatever the number of workers.
            ordered: true,
            max_file_size: settings.config.tables.max_file_size(),
        },
        store,
        sinks: replay_sinks(&settings.config, args.output.clone()),
        suppress,
        before_threads: None,
        capture_stop_wait: crate::pipeline::CAPTURE_STOP_WAIT,
        control,
        retro,
        aggregate: settings.config.aggregate.interval().map(|i| {
            crate::output::aggregate::Aggregator::new(
                i,
                settings.config.home_net(),
                settings.sensor.clone(),
            )
        }),
    };
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut p = Pipeline::start(spec, stop, move |d| capture_files(d, &inputs, &opts))
        .map_err(AppError::Other)?;
    let ended = p.control(reloader, &mut Replay);
    if ended == Ended::Shutdown {
        tracing::warn!("interrupted: stopping the replay and draining what was read");
    }
    let done = p.finish(|_, _| None);
    let wall = started.elapsed();
    let (capture_stats, mut file_errors) = done.capture.unwrap_or_else(|| {
        tracing::warn!("the capture's counters are lost (its thread was left behind)");
        Default::default()
    });
    file_errors.splice(0..0, input_errors);
    print_summary(
        &capture_stats,
        &done.workers,
        settings.workers,
        wall,
        &file_errors,
    );
    print_sink_summary(&done.sinks, done.suppress.as_ref());
    if let Some(a) = &done.aggregate {
        eprintln!("  aggregate: records {} dropped {}", a.records, a.dropped);
    }
    if let Some(o) = done.order.filter(|_| settings.workers > 1) {
        // Put in packet order: how many events waited at most, and how many could not.
        eprintln!(
            "  order: held at most {} events, released early {}",
            o.held_max, o.early
        );
    }
    if let Some(o) = done.order.filter(|o| o.early > 0) {
        tracing::warn!(
            "{} events left the reorder buffer early (more than {} held at once): the output may be out of packet order around them",
            o.early,
            crate::output::order::MAX_HELD
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
    for s in done.sinks.iter().filter(|s| s.errors > 0 || s.dropped > 0) {
        tracing::error!(
            "sink {}: {} events dropped, {} write errors: the output is incomplete",
            s.name,
            s.dropped,
            s.errors
        );
        code = EXIT_FAILURE;
    }
    if ended == Ended::Shutdown || done.worker_panicked {
        code = EXIT_FAILURE;
    }
    Ok(code)
}

/// The retro-hunt of a replay: on with `--retro-window`, `--retro-feed` or `[retro] enabled`.
/// The memory is kept in the state directory only when the config enables `[retro]` (a
/// replay's `--retro-window` alone is a hunt of its own, forgotten after). Entries read back
/// expire by the clock saved with them (packet time), not the wall clock.
fn replay_retro(
    args: &ReplayArgs,
    settings: &Settings,
) -> Result<Option<crate::retro::Hunter>, AppError> {
    let cfg = &settings.config.retro;
    if args.retro_window.is_none() && args.retro_feeds.is_empty() && !cfg.enabled {
        return Ok(None);
    }
    let mut h = crate::retro::Hunter::from_config(
        cfg,
        args.retro_window,
        settings.workers,
        settings.sensor.clone(),
        settings.config.home_net.clone(),
    );
    if !args.retro_feeds.is_empty() {
        let feeds: Vec<_> = args
            .retro_feeds
            .iter()
            .cloned()
            .map(crate::config::FeedConfig::from_path)
            .collect();
        let (set, _) = load_set(&feeds, &settings.config.home_net())?;
        h = h.hunt_at_end(set);
    }
    if cfg.enabled {
        h = h.persist_in(&settings.config.daemon.state_dir().join("retro"), None);
    }
    Ok(Some(h))
}

/// Expand the input arguments (directories, `-R`) and check the replay options that clap
/// cannot: the `--bpf` expression (libpcap's compiler) and the number of `--merge` inputs.
fn replay_inputs(
    args: &ReplayArgs,
) -> Result<(Vec<Input>, Vec<FileError>, file::replay::Options), AppError> {
    if let Some(expr) = &args.bpf {
        file::bpf::validate(expr).map_err(|e| AppError::Usage(format!("--bpf {expr:?}: {e}")))?;
    }
    let (inputs, errors, notes) = file::expand(&args.pcaps, args.recursive);
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
    let opts = file::replay::Options {
        merge: args.merge,
        speed: if args.realtime { Some(1.0) } else { args.speed },
        bpf: args.bpf.clone(),
    };
    Ok((inputs, errors, opts))
}

/// The capture thread of a replay: every input in order (or merged), lossless. Progress goes
/// to stderr when it is a terminal, nowhere otherwise.
fn capture_files(
    mut dispatcher: Dispatcher,
    inputs: &[Input],
    opts: &file::replay::Options,
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
    let result = file::replay::run(&mut dispatcher, inputs, opts, &mut progress, &mut log);
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

fn print_sink_summary(sinks: &[SinkStats], suppress: Option<&SuppressStats>) {
    let mut s = String::new();
    use std::fmt::Write as _;
    for k in sinks {
        let _ = writeln!(
            s,
            "  sink {}: sent {} dropped {} errors {}",
            k.name, k.sent, k.dropped, k.errors
        );
    }
    if let Some(st) = suppress {
        let _ = writeln!(
            s,
            "  suppressed {}  follow-ups {}  suppression overflow {}",
            st.suppressed, st.followups, st.overflow
        );
    }
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// The summary on stderr: the capture's counters, then every worker counter (from their one
/// definition, [`crate::stats::WorkerStats`]), then the rate.
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
    file::replay::write_file_summary(&mut s, cap);
    for (k, v) in &cap.link_types {
        let _ = writeln!(s, "  link {k}: {v}");
    }
    s.push_str(&crate::stats::summary(w));
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
