//! THE place threads and channels are made, for `replay` and `run` alike (the diagram is in the
//! crate docs and ARCHITECTURE.md):
//!
//! ```text
//!  capture ──batches──▶ worker × N ──Output──▶ output stage ──▶ sink tasks (tokio)
//!     ▲ stop                 ▲ set swap          ▲ stats, ticks
//!     └──────── control loop (this thread): signals → Reload | Shutdown, tick ─┘
//! ```
//!
//! A mode gives the capture (a closure that reads a source into the [`Dispatcher`]) and a
//! [`Policy`] for the control loop's hooks; everything else is the same.
//!
//! Start order: outputs (stage, sinks) → workers → capture → signals. Shutdown order: the
//! capture stops and flushes its batches; the workers drain their queues; the stage closes its
//! suppression windows; the mode's last record (the final stats record of `run`) goes out;
//! the sinks drain and flush within [`crate::output::MAX_FINISH_WAIT`].

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::capture::{Batch, Dispatcher};
use crate::config::SinkConfig;
use crate::control::{self, Control, TICK};
use crate::event::Record;
use crate::indicators::IndicatorStore;
use crate::output::suppress::Suppressor;
use crate::output::{Options, Output, OutputTx, Outputs, Stage};
use crate::reload::Reloader;
use crate::stats::{Counters as _, SinkStats, SuppressStats, WorkerStats};
use crate::worker::{self, Worker};

/// How long a file replay's capture gets to see the stop flag: a file reader sees it at its
/// next batch (milliseconds); one blocked reading a FIFO or stdin that stays open never does,
/// and is left behind after this (what it read is still drained).
pub const CAPTURE_STOP_WAIT: Duration = Duration::from_secs(2);

/// What to build.
pub struct Spec {
    pub workers: usize,
    pub context: worker::Context,
    pub store: Arc<IndicatorStore>,
    pub sinks: Vec<SinkConfig>,
    /// The suppression stage, when on.
    pub suppress: Option<Suppressor>,
    /// Runs once the sinks are open and before any thread starts: `iocd run` drops root here,
    /// so no thread ever parses traffic as root.
    pub before_threads: Option<Box<dyn FnOnce() -> anyhow::Result<()>>>,
    /// Signals and control messages, installed before anything slow (see [`install_signals`]).
    pub control: ControlChannel,
    /// How long [`Pipeline::finish`] waits for the capture thread to see the stop flag before
    /// it leaves the thread behind ([`CAPTURE_STOP_WAIT`] for files; live capture: its read
    /// timeout and more).
    pub capture_stop_wait: Duration,
    /// The retro-hunt memory, when on: workers remember into it, a reload that swaps a set
    /// hunts it, the end hunts its end set and writes it ([`crate::retro`]).
    pub retro: Option<crate::retro::Hunter>,
    /// Aggregates per (indicator, internal host), when on (`[aggregate]`).
    pub aggregate: Option<crate::output::aggregate::Aggregator>,
}

/// What a capture thread runs: read a source into its dispatcher until the stop flag.
pub type CaptureFn<C> = Box<dyn FnOnce(Dispatcher) -> C + Send + 'static>;

/// A mode's hooks on the control loop.
pub trait Policy {
    /// Every turn of the loop (about every [`TICK`]).
    fn tick(&mut self, _p: &Core) {}
    /// Before a reload.
    fn reloading(&mut self) {}
    /// After a reload; `ok` when every feed loaded fresh.
    fn reloaded(&mut self, _p: &Core, _ok: bool) {}
}

/// The parts of a running pipeline a mode reads and talks to.
pub struct Core {
    pub store: Arc<IndicatorStore>,
    pub outputs: Outputs,
    /// The control loop's own way into the output stage (stats records, wall-clock ticks).
    events: Option<OutputTx>,
    slots: Vec<Arc<Mutex<WorkerStats>>>,
    depth: Vec<Receiver<Batch>>,
    stop: Arc<AtomicBool>,
}

impl Core {
    /// The workers' counters, as last published (about once a second), added up.
    pub fn workers(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for s in &self.slots {
            if let Ok(g) = s.lock() {
                total.add(&g);
            }
        }
        total
    }

    /// Batches waiting in each worker's queue.
    pub fn queue_depth(&self) -> Vec<usize> {
        self.depth.iter().map(Receiver::len).collect()
    }

    /// Hand `m` to the output stage without waiting (the control loop must never stall on a
    /// full queue); false when it was not taken.
    pub fn try_send(&self, m: Output) -> bool {
        self.events.as_ref().is_some_and(|e| e.try_send(m).is_ok())
    }
}

/// How the control loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The capture finished by itself (end of the inputs, or a failed live capture).
    CaptureDone,
    /// SIGTERM/SIGINT.
    Shutdown,
}

/// What a finished pipeline reports.
pub struct Finished<C> {
    /// What the capture returned (with several capture threads: the first's); `None` if a
    /// capture thread panicked or was left blocked.
    pub capture: Option<C>,
    pub workers: WorkerStats,
    /// A worker thread panicked (its counters are missing).
    pub worker_panicked: bool,
    pub sinks: Vec<SinkStats>,
    pub suppress: Option<SuppressStats>,
    /// What putting the events in packet order did (replay).
    pub order: Option<crate::output::order::OrderStats>,
    /// What the aggregates did, when on.
    pub aggregate: Option<crate::stats::AggregateStats>,
}

/// Every thread of a run.
pub struct Pipeline<C> {
    pub core: Core,
    /// The capture threads: one, or `[capture] threads` of a fanout.
    captures: Vec<JoinHandle<C>>,
    workers: Vec<JoinHandle<WorkerStats>>,
    stage: Option<JoinHandle<()>>,
    sinks: Option<JoinHandle<std::io::Result<()>>>,
    control: ControlChannel,
    /// The reload thread, once [`Pipeline::control`] has started it.
    reload: Option<(Sender<()>, JoinHandle<()>, Arc<AtomicBool>)>,
    /// Set when the capture thread is left behind: workers end once their queue is empty.
    abandon: Arc<AtomicBool>,
    /// The feed fetcher thread and its stop flag, once [`Pipeline::start_fetcher`] started it.
    fetcher: Option<(JoinHandle<()>, Arc<AtomicBool>)>,
    stop_wait: Duration,
    /// The metrics endpoint's thread, once [`Pipeline::serve_metrics`] has started it.
    metrics: Option<JoinHandle<()>>,
    /// See [`Spec::retro`].
    hunter: Option<Arc<crate::retro::Hunter>>,
    /// The reload thread's way into the output stage for retro events; emptied before the
    /// outputs are joined, so that a reload left running never holds the stage open.
    retro_tx: Arc<Mutex<Option<OutputTx>>>,
}

/// The control channel and the signal thread feeding it. Made first, before the feeds load,
/// so that a SIGHUP or SIGTERM during startup is queued rather than killing the process with
/// the default action (issue 11).
pub struct ControlChannel {
    tx: Sender<Control>,
    rx: Receiver<Control>,
    signals: Option<(signal_hook::iterator::Handle, JoinHandle<()>)>,
}

impl ControlChannel {
    fn close(&mut self) {
        if let Some((handle, thread)) = self.signals.take() {
            handle.close();
            let _ = thread.join();
        }
    }
}

/// Handle SIGHUP, SIGINT and SIGTERM from now on: they become [`Control`] messages, queued
/// until the control loop runs (see [`control::forward_signals`]).
pub fn install_signals() -> anyhow::Result<ControlChannel> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut signals = signal_hook::iterator::Signals::new(control::SIGNALS)
        .context("cannot install signal handlers")?;
    let handle = signals.handle();
    let fwd = tx.clone();
    let thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || control::forward_signals(&mut signals, &fwd))
        .context("cannot start the signal thread")?;
    Ok(ControlChannel {
        tx,
        rx,
        signals: Some((handle, thread)),
    })
}

/// After a reload: hunt the retro memory when the set was swapped (`old` → `new`), sending
/// the retro events into the output stage while it still takes them.
fn retro_hunt(
    hunter: &crate::retro::Hunter,
    old: &crate::indicators::IndicatorSet,
    new: &crate::indicators::IndicatorSet,
    tx: &Mutex<Option<OutputTx>>,
) {
    if old.generation() == new.generation() {
        return;
    }
    let Some(tx) = tx.lock().ok().and_then(|g| g.clone()) else {
        return;
    };
    hunter.hunt(new, Some(old), &mut |r| {
        let _ = tx.send(Output::Record(r));
    });
}

/// Start the output stage and the sink runtime on their threads; what
/// [`Pipeline::start`] does first, and what a program that only needs the outputs uses.
pub fn start_outputs(
    sinks: &[SinkConfig],
    suppress: Option<Suppressor>,
) -> anyhow::Result<(Outputs, OutputTx, OutputThreads)> {
    let opts = Options {
        suppress,
        ..Options::default()
    };
    let (outputs, tx, stage, runtime) =
        Outputs::new(sinks, opts).context("cannot start the outputs")?;
    let threads = spawn_outputs(stage, runtime)?;
    Ok((outputs, tx, threads))
}

fn spawn_outputs(
    stage: Stage,
    runtime: crate::output::SinkRuntime,
) -> anyhow::Result<OutputThreads> {
    let sinks = std::thread::Builder::new()
        .name("sinks".into())
        .spawn(move || runtime.run())
        .context("cannot start the sink thread")?;
    let stage = std::thread::Builder::new()
        .name("output".into())
        .spawn(move || Stage::run(stage))
        .context("cannot start the output thread")?;
    Ok(OutputThreads {
        stage: Some(stage),
        sinks: Some(sinks),
    })
}

/// The threads of the outputs.
pub struct OutputThreads {
    stage: Option<JoinHandle<()>>,
    sinks: Option<JoinHandle<std::io::Result<()>>>,
}

impl OutputThreads {
    /// Drain and stop, once every sender is gone: the stage takes what is queued, the sinks
    /// write it within [`crate::output::MAX_FINISH_WAIT`]; returns the sinks' counters.
    pub fn finish(mut self, outputs: &mut Outputs) -> Vec<SinkStats> {
        join_outputs(outputs, self.stage.take(), self.sinks.take());
        outputs.stats()
    }
}

fn join_outputs(
    outputs: &mut Outputs,
    stage: Option<JoinHandle<()>>,
    sinks: Option<JoinHandle<std::io::Result<()>>>,
) {
    // The deadline starts before the stage is joined: a blocking sink that never drains
    // must not hold the stage (and us) for ever.
    outputs.start_finishing();
    if let Some(h) = stage {
        if h.join().is_err() {
            tracing::error!("the output thread panicked");
        }
    }
    if let Some(h) = sinks {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("the sink runtime failed: {e}"),
            Err(_) => tracing::error!("the sink thread panicked"),
        }
    }
}

impl<C: Send + 'static> Pipeline<C> {
    /// Build and start every thread: outputs, workers, the capture running `capture` (which
    /// must return when the dispatcher's stop flag, `stop`, is set), and the signal thread.
    pub fn start(
        spec: Spec,
        stop: Arc<AtomicBool>,
        capture: impl FnOnce(Dispatcher) -> C + Send + 'static,
    ) -> anyhow::Result<Pipeline<C>> {
        Pipeline::start_many(spec, stop, vec![Box::new(capture)])
    }

    /// [`Pipeline::start`] with one capture thread per closure (a fanout capture), each
    /// with its own handle on the same workers ([`Dispatcher::split`]). The control loop
    /// ends when any of them ends.
    pub fn start_many(
        spec: Spec,
        stop: Arc<AtomicBool>,
        captures: Vec<CaptureFn<C>>,
    ) -> anyhow::Result<Pipeline<C>> {
        anyhow::ensure!(
            !(spec.context.ordered && captures.len() > 1),
            "an ordered capture has one reader"
        );
        let opts = Options {
            suppress: spec.suppress,
            sensor: Some(spec.context.sensor.to_string()),
            ordered: spec.context.ordered.then_some(spec.workers),
            aggregate: spec.aggregate,
        };
        let (outputs, events, stage, runtime) =
            Outputs::new(&spec.sinks, opts).context("cannot start the outputs")?;
        if let Some(f) = spec.before_threads {
            f()?;
        }
        let OutputThreads { stage, sinks } = spawn_outputs(stage, runtime)?;
        let (mut dispatcher, queues) = Dispatcher::with_stop(spec.workers, stop.clone());
        if spec.context.ordered {
            dispatcher = dispatcher.ordered();
        }
        let depth = queues.iter().map(|q| q.batches.clone()).collect();
        let context = Arc::new(spec.context);
        let mut p = Pipeline {
            core: Core {
                store: spec.store.clone(),
                outputs,
                events: Some(events.clone()),
                slots: Vec::new(),
                depth,
                stop,
            },
            captures: Vec::new(),
            workers: Vec::new(),
            stage,
            sinks,
            control: spec.control,
            reload: None,
            fetcher: None,
            abandon: Arc::new(AtomicBool::new(false)),
            stop_wait: spec.capture_stop_wait,
            metrics: None,
            retro_tx: Arc::new(Mutex::new(spec.retro.is_some().then(|| events.clone()))),
            hunter: spec.retro.map(Arc::new),
        };
        for (i, q) in queues.into_iter().enumerate() {
            let slot = Arc::new(Mutex::new(WorkerStats::default()));
            p.core.slots.push(slot.clone());
            let mut w = Worker::new(context.clone(), spec.store.clone(), events.clone())
                .numbered(i)
                .publish_to(slot)
                .abandon_on(p.abandon.clone());
            if let Some(h) = &p.hunter {
                w = w.remember_in(h.shard(i));
            }
            let h = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || w.run(q))
                .context("cannot start a worker thread");
            match h {
                Ok(h) => p.workers.push(h),
                Err(e) => {
                    drop(dispatcher);
                    drop(events);
                    p.abort();
                    return Err(e);
                }
            }
        }
        drop(events);
        let n = captures.len();
        for (i, (capture, dispatcher)) in captures.into_iter().zip(dispatcher.split(n)).enumerate()
        {
            let ended = p.control.tx.clone();
            let name = if n == 1 {
                "capture".to_owned()
            } else {
                format!("capture-{i}")
            };
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let r = capture(dispatcher);
                    let _ = ended.send(Control::CaptureEnded);
                    r
                })
                .context("cannot start a capture thread");
            match h {
                Ok(h) => p.captures.push(h),
                Err(e) => {
                    p.abort();
                    return Err(e);
                }
            }
        }
        Ok(p)
    }

    /// Serve the metrics `page` on `listener` ([`crate::metrics::serve`]) on a thread of its
    /// own until the pipeline stops; the control loop keeps the page current.
    pub fn serve_metrics(
        &mut self,
        listener: std::net::TcpListener,
        page: Arc<crate::metrics::Page>,
    ) -> anyhow::Result<()> {
        let stop = self.core.stop.clone();
        let h = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || crate::metrics::serve(listener, &page, &stop))
            .context("cannot start the metrics thread")?;
        self.metrics = Some(h);
        Ok(())
    }

    /// Is every capture thread still running?
    pub fn capturing(&self) -> bool {
        !self.captures.is_empty() && self.captures.iter().all(|h| !h.is_finished())
    }

    /// The control loop: return on [`Control::Shutdown`] or when the capture ends; on
    /// [`Control::Reload`] reopen file sinks and ask the reload thread (started here, owning
    /// `reloader`) to rebuild the set, so that a slow rebuild never holds the loop (watchdog,
    /// SIGTERM, stats); reloads asked for while one runs are folded into one more. The policy's
    /// hooks run at each turn and around reloads.
    pub fn control(&mut self, mut reloader: Reloader, policy: &mut dyn Policy) -> Ended {
        let (req_tx, req_rx) = crossbeam_channel::bounded::<()>(1);
        let done = self.control.tx.clone();
        let busy = Arc::new(AtomicBool::new(false));
        let busy_flag = busy.clone();
        let retro = self
            .hunter
            .clone()
            .map(|h| (h, self.core.store.clone(), self.retro_tx.clone()));
        match std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                lower_thread_priority(RELOAD_NICE);
                for () in req_rx {
                    busy_flag.store(true, Relaxed);
                    let before = retro.as_ref().map(|(_, store, _)| store.load());
                    let ok = reloader.reload();
                    if let (Some((hunter, store, tx)), Some(old)) = (&retro, before) {
                        retro_hunt(hunter, &old, &store.load(), tx);
                    }
                    busy_flag.store(false, Relaxed);
                    if done.send(Control::Reloaded(ok)).is_err() {
                        break;
                    }
                }
            }) {
            Ok(h) => self.reload = Some((req_tx, h, busy)),
            Err(e) => tracing::error!("cannot start the reload thread: {e}; SIGHUP is ignored"),
        }
        loop {
            match self.control.rx.recv_timeout(TICK) {
                Ok(Control::Reload) => {
                    policy.reloading();
                    self.core.outputs.reopen();
                    if let Some((tx, _, _)) = &self.reload {
                        // Full: one is already queued behind the running one, and it will
                        // read the files as they are then.
                        let _ = tx.try_send(());
                    }
                }
                Ok(Control::Fetched) => {
                    // a feed's copy changed on disk: the reload rebuilds the set from every
                    // feed's file (a round with nothing new sends nothing); sinks are not
                    // reopened
                    policy.reloading();
                    if let Some((tx, _, _)) = &self.reload {
                        let _ = tx.try_send(());
                    }
                }
                Ok(Control::Reloaded(ok)) => policy.reloaded(&self.core, ok),
                Ok(Control::CaptureEnded) => return Ended::CaptureDone,
                Ok(Control::Shutdown) => return Ended::Shutdown,
                Err(RecvTimeoutError::Disconnected) => return Ended::Shutdown,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !self.capturing() {
                return Ended::CaptureDone;
            }
            policy.tick(&self.core);
        }
    }

    /// Stop and drain everything in order (see the module docs); `last` makes the record that
    /// goes out after every other (the final stats record), given the workers' final counters.
    pub fn finish(
        mut self,
        last: impl FnOnce(&Core, &WorkerStats) -> Option<Record>,
    ) -> Finished<C> {
        self.core.stop.store(true, Relaxed);
        let waited = Instant::now();
        while !self.captures.iter().all(JoinHandle::is_finished)
            && waited.elapsed() < self.stop_wait
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut capture = None;
        let mut lost = self.captures.is_empty();
        for h in self.captures.drain(..) {
            if !h.is_finished() {
                if !lost {
                    tracing::warn!(
                        "the capture is blocked reading its input; draining what was read without it"
                    );
                }
                self.abandon.store(true, Relaxed);
                lost = true;
                continue;
            }
            match h.join() {
                Ok(c) => {
                    if capture.is_none() {
                        capture = Some(c);
                    }
                }
                Err(_) => {
                    tracing::error!("the capture thread panicked");
                    lost = true;
                }
            }
        }
        let capture = if lost { None } else { capture };
        let mut workers = WorkerStats::default();
        let mut worker_panicked = false;
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(s) => workers.add(&s),
                Err(_) => {
                    tracing::error!("a worker thread panicked");
                    worker_panicked = true;
                }
            }
        }
        if let Ok(mut g) = self.retro_tx.lock() {
            *g = None;
        }
        if let Some(tx) = self.core.events.take() {
            if let Some(h) = &self.hunter {
                // Workers are done: every memory is back in its shard.
                h.finish(&mut |r| {
                    let _ = tx.send(Output::Record(r));
                });
                // With the end's hunt counted (the workers' last copies predate it).
                workers.retro = h.stats();
            }
            // Open suppression windows close before the last record, which must stay last.
            let _ = tx.send(Output::Flush);
            if let Some(rec) = last(&self.core, &workers) {
                let _ = tx.send(Output::Record(rec));
            }
        }
        join_outputs(&mut self.core.outputs, self.stage.take(), self.sinks.take());
        self.stop_signals();
        self.stop_metrics();
        Finished {
            capture,
            workers,
            worker_panicked,
            sinks: self.core.outputs.stats(),
            suppress: self.core.outputs.suppress_stats(),
            order: self.core.outputs.order_stats(),
            aggregate: self.core.outputs.aggregate_stats(),
        }
    }

    /// Fetch the remote feeds of `feeds` in the background, each on its `refresh` schedule
    /// ([`crate::fetch::run`], on its own thread: never a packet thread); a fetch that put a new
    /// copy in place asks this loop for a reload ([`Control::Fetched`]).
    pub fn start_fetcher(
        &mut self,
        feeds: Vec<crate::config::FeedConfig>,
        sensor: String,
        counters: Arc<crate::fetch::FetchCounters>,
    ) {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let tx = self.control.tx.clone();
        match std::thread::Builder::new()
            .name("fetch".into())
            .spawn(move || {
                crate::fetch::run(&feeds, &sensor, &counters, &flag, &|| {
                    let _ = tx.send(Control::Fetched);
                });
            }) {
            Ok(h) => self.fetcher = Some((h, stop)),
            Err(e) => tracing::error!(
                "cannot start the fetch thread: {e}; remote feeds are not refreshed"
            ),
        }
    }

    fn stop_signals(&mut self) {
        // A fetch in flight is not waited for (it may wait up to its timeout): its copy is
        // written atomically, so abandoning it leaves the last good one.
        if let Some((h, stop)) = self.fetcher.take() {
            stop.store(true, Relaxed);
            if h.is_finished() {
                let _ = h.join();
            }
        }
        self.control.close();
        // A reload still running is not waited for: the set it builds would serve nothing.
        if let Some((tx, h, busy)) = self.reload.take() {
            let queued = !tx.is_empty();
            drop(tx);
            if busy.load(Relaxed) || queued {
                tracing::info!("a reload was still running at shutdown: abandoned");
            } else {
                // Idle: it sees the closed request channel at once.
                let _ = h.join();
            }
        }
    }

    /// The metrics thread sees the stop flag within its poll interval; a scrape in progress
    /// ends within [`crate::metrics::IO_TIMEOUT`].
    fn stop_metrics(&mut self) {
        if let Some(h) = self.metrics.take() {
            if h.join().is_err() {
                tracing::error!("the metrics thread panicked");
            }
        }
    }

    /// A failed start: stop what was started.
    fn abort(&mut self) {
        self.core.stop.store(true, Relaxed);
        self.core.events = None;
        for h in self.captures.drain(..) {
            let _ = h.join();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        join_outputs(&mut self.core.outputs, self.stage.take(), self.sinks.take());
        self.stop_signals();
        self.stop_metrics();
    }
}

/// Nice value of the reload thread: a rebuild of millions of indicators (and the parser threads
/// it starts, which inherit the value) yields the cores to the capture and worker threads of a
/// live sensor, which stay at the service's own priority (issue 13). 10 is `nice`'s default.
const RELOAD_NICE: i32 = 10;

/// Lower the calling thread's priority to nice `nice` (Linux: `setpriority` on a thread id
/// sets that thread alone). Raising nice needs no privilege; a failure is logged, not fatal.
fn lower_thread_priority(nice: i32) {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::debug!("cannot lower the reload thread's priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    /// The nice value of the calling thread, from /proc (field 19 of its stat line).
    fn thread_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // the command name (field 2) may hold spaces: count fields after its ')'
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn the_reload_priority_applies_to_the_calling_thread_and_what_it_starts() {
        let before = thread_nice();
        let (own, child) = std::thread::spawn(|| {
            super::lower_thread_priority(super::RELOAD_NICE);
            (
                thread_nice(),
                std::thread::spawn(thread_nice).join().unwrap(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(own, super::RELOAD_NICE);
        assert_eq!(child, super::RELOAD_NICE, "threads it starts inherit it");
        assert_eq!(
            thread_nice(),
            before,
            "the rest of the process keeps its priority"
        );
    }
}
