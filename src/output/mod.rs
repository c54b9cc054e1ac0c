//! The output stage: typed records from the workers → suppression → every sink's bounded queue
//! → sink tasks that encode and write.
//!
//! ```text
//!  workers ──Output──▶ stage: suppress ─ fan-out ──try_send──▶ queue ─▶ sink task (json file / socket)
//!  control ──Output──▶ (one thread, no lock)     ──try_send──▶ queue ─▶ sink task (syslog unix/udp/tcp)
//!          (crossbeam, bounded)                                         (tokio, one thread)
//! ```
//!
//! [`Outputs::new`] builds the stage and the sink tasks; the pipeline runs them on their
//! threads ([`Stage::run`], [`SinkRuntime::run`]). A record is encoded only at its sink
//! ([`encode`]): JSON lines or syslog records.
//!
//! A sink whose queue is full loses the record, counted in its `dropped` (`on_full = "drop"`,
//! the default), so workers and capture never wait on a slow or dead sink; `on_full = "block"`
//! waits instead (the replay's lossless JSON output). Stream sinks (TCP syslog, a JSON unix
//! socket) reconnect by themselves with exponential backoff and retry the record they hold;
//! datagram and file sinks retry a failed write [`MAX_SEND_ATTEMPTS`] times and then count it
//! as dropped. Every record offered to a sink ends up in exactly one of `sent` and `dropped`.

pub mod aggregate;
pub mod ecs;
pub mod encode;
pub mod eve;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod order;
pub mod redis;
pub mod sighting;
pub mod sink;
pub mod suppress;

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use crate::config::sinks::{self as config, OnFull, SinkConfig};
use crate::event::{Ioa, Record};
use crate::stats::{SinkStats, SuppressStats};
use order::{OrderStats, Reorder};
use sink::{Counters, SinkTask};
use suppress::Suppressor;

/// Messages waiting between the workers and the stage: one default sink queue's worth.
pub const STAGE_QUEUE: usize = config::DEFAULT_QUEUE;
/// How long the pipeline's shutdown lets the sinks drain before what is left is counted as
/// dropped: long enough to write a full default queue to a disk or a LAN collector (8192 events
/// × ~500 bytes), short enough that `systemctl stop` (default TimeoutStopSec=90s) never kills us.
pub const MAX_FINISH_WAIT: Duration = Duration::from_secs(5);
/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between reconnect attempts: a restarted collector is picked up within 5 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Resolves once shutdown's drain deadline has passed (or the outputs are gone): what every
/// sink task (file, socket, Redis, Kafka) races its waits against.
async fn aborted(abort: &mut watch::Receiver<bool>) {
    let _ = abort.wait_for(|a| *a).await;
}

/// Wait `backoff` (then double it, up to [`MAX_BACKOFF`]); false if shutdown's deadline came
/// first. A sink's reconnect loop.
async fn backoff(abort: &mut watch::Receiver<bool>, backoff: &mut Duration) -> bool {
    let d = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    tokio::select! {
        biased;
        _ = aborted(abort) => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// Writes of one event to a file or datagram socket before it is dropped: retrying a full disk
/// or an oversized datagram for ever would stall the sink; 3 rides out a transient error.
pub const MAX_SEND_ATTEMPTS: u32 = 3;
/// Default syslog port (RFC 5426 §3.3 for UDP; 514 is also what rsyslog listens on for TCP).
pub const SYSLOG_PORT: u16 = 514;
/// Default local syslog socket.
pub const DEV_LOG: &str = "/dev/log";

/// What the stage receives.
#[derive(Debug)]
pub enum Output {
    /// A record for the sinks (through suppression, for an IoA).
    Record(Record),
    /// The time is now `µs` (packet time from a worker, wall time from `iocd run`'s control
    /// loop): close the suppression windows it ends.
    Tick(i64),
    /// Close every suppression window now (end of the capture).
    Flush,
    /// Worker `worker` has done every packet of its own up to sequence number `upto`
    /// (`u64::MAX`: it has ended): events up to the smallest such number over the workers may
    /// leave the ordered stage ([`order`]).
    Done { worker: usize, upto: u64 },
}

/// What the outputs are built with besides the sinks.
#[derive(Debug, Default)]
pub struct Options {
    /// The suppression stage, when on.
    pub suppress: Option<Suppressor>,
    /// The HOSTNAME of syslog records: the sensor's name; the machine's hostname when `None`.
    pub sensor: Option<String>,
    /// Put events in packet order over this many workers (replay; see [`order`]). The stage
    /// then runs the suppression clock from the events' own times, so a replay's output is
    /// the same whatever the number of workers.
    pub ordered: Option<usize>,
    /// Aggregates per (indicator, internal host), when on (`[aggregate]`).
    pub aggregate: Option<aggregate::Aggregator>,
}

/// The sending end of the stage, for workers and the control loop.
pub type OutputTx = crossbeam_channel::Sender<Output>;

/// The fan-out's end of one sink.
struct SinkTx {
    tx: mpsc::Sender<Arc<Record>>,
    on_full: OnFull,
    counters: Arc<Counters>,
}

/// The output stage: suppression, then every sink's queue. Runs on one thread.
pub struct Stage {
    rx: crossbeam_channel::Receiver<Output>,
    sinks: Vec<SinkTx>,
    suppress: Option<Suppressor>,
    suppress_stats: Arc<Mutex<SuppressStats>>,
    order: Option<Reorder>,
    order_stats: Arc<Mutex<OrderStats>>,
    /// Scratch list of events leaving the reorder buffer (boxed all the way: see
    /// output::suppress).
    #[allow(clippy::vec_box)]
    released: Vec<Box<Ioa>>,
    aggregate: Option<aggregate::Aggregator>,
    aggregate_stats: Arc<Mutex<crate::stats::AggregateStats>>,
}

/// One sink's task, not yet started.
type SinkFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The sink tasks, to run on a tokio runtime of their own.
pub struct SinkRuntime {
    tasks: Vec<SinkFuture>,
    abort: watch::Sender<bool>,
    finishing: tokio::sync::oneshot::Receiver<()>,
}

/// The handle on running outputs: counters, reopen, finish.
pub struct Outputs {
    names: Vec<String>,
    counters: Vec<Arc<Counters>>,
    reopen: Vec<Arc<Notify>>,
    suppress_stats: Option<Arc<Mutex<SuppressStats>>>,
    order_stats: Option<Arc<Mutex<OrderStats>>>,
    finishing: Option<tokio::sync::oneshot::Sender<()>>,
    aggregate_stats: Option<Arc<Mutex<crate::stats::AggregateStats>>>,
}

impl Outputs {
    /// Check every sink (files are created now, so a bad path fails here) and build the stage
    /// and the sink tasks as `opts` says. Nothing runs until the pipeline starts
    /// [`Stage::run`] and [`SinkRuntime::run`].
    pub fn new(
        sinks: &[SinkConfig],
        opts: Options,
    ) -> io::Result<(Outputs, OutputTx, Stage, SinkRuntime)> {
        let Options {
            suppress,
            sensor,
            ordered,
            aggregate,
        } = opts;
        let (tx, rx) = crossbeam_channel::bounded::<Output>(STAGE_QUEUE);
        let (abort_tx, abort_rx) = watch::channel(false);
        let (finishing_tx, finishing_rx) = tokio::sync::oneshot::channel::<()>();
        let suppress_stats = Arc::new(Mutex::new(SuppressStats::default()));
        let order_stats = Arc::new(Mutex::new(OrderStats::default()));
        let aggregate_stats = Arc::new(Mutex::new(crate::stats::AggregateStats::default()));
        let mut outputs = Outputs {
            names: Vec::new(),
            counters: Vec::new(),
            reopen: Vec::new(),
            suppress_stats: suppress.is_some().then(|| suppress_stats.clone()),
            order_stats: ordered.is_some().then(|| order_stats.clone()),
            finishing: Some(finishing_tx),
            aggregate_stats: aggregate.is_some().then(|| aggregate_stats.clone()),
        };
        let mut tasks = Vec::new();
        let mut txs = Vec::new();
        for (i, s) in sinks.iter().enumerate() {
            let name = s.display_name(i);
            let (q_tx, q_rx) = mpsc::channel(s.queue.clamp(1, config::MAX_QUEUE));
            let counters = Arc::new(Counters::default());
            let reopen = Arc::new(Notify::new());
            txs.push(SinkTx {
                tx: q_tx,
                on_full: s.on_full,
                counters: counters.clone(),
            });
            let task: SinkFuture = match s.kind {
                config::SinkKind::Redis => {
                    Box::pin(redis::task(s, &name, q_rx, counters.clone(), abort_rx.clone())?.run())
                }
                #[cfg(feature = "kafka")]
                config::SinkKind::Kafka => {
                    Box::pin(kafka::task(s, &name, q_rx, counters.clone(), abort_rx.clone())?.run())
                }
                #[cfg(not(feature = "kafka"))]
                config::SinkKind::Kafka => {
                    return Err(io::Error::other(format!(
                        "sink {name}: this iocd was built without the kafka feature"
                    )))
                }
                config::SinkKind::Json | config::SinkKind::Syslog => {
                    let (endpoint, encoder, initial) = sink::endpoint(s, &name, sensor.as_deref())?;
                    Box::pin(
                        SinkTask {
                            name: name.clone(),
                            endpoint,
                            encoder,
                            rx: q_rx,
                            counters: counters.clone(),
                            reopen: reopen.clone(),
                            abort: abort_rx.clone(),
                            initial,
                            batch: Default::default(),
                        }
                        .run(),
                    )
                }
            };
            tasks.push(task);
            outputs.names.push(name);
            outputs.counters.push(counters);
            outputs.reopen.push(reopen);
        }
        let stage = Stage {
            rx,
            sinks: txs,
            suppress,
            suppress_stats,
            order: ordered.map(Reorder::new),
            order_stats,
            released: Vec::new(),
            aggregate,
            aggregate_stats,
        };
        let runtime = SinkRuntime {
            tasks,
            abort: abort_tx,
            finishing: finishing_rx,
        };
        Ok((outputs, tx, stage, runtime))
    }

    /// Ask file sinks to reopen their file (after logrotate moved it).
    pub fn reopen(&self) {
        for n in &self.reopen {
            n.notify_one();
        }
    }

    /// Counters of every sink, in configuration order.
    pub fn stats(&self) -> Vec<SinkStats> {
        self.names
            .iter()
            .zip(&self.counters)
            .map(|(name, c)| c.snapshot(name))
            .collect()
    }

    /// Counters of the suppression stage, when it is on.
    pub fn suppress_stats(&self) -> Option<SuppressStats> {
        let s = self.suppress_stats.as_ref()?;
        s.lock().ok().map(|g| g.clone())
    }

    /// What the ordering step did, when the events are put in packet order.
    pub fn order_stats(&self) -> Option<OrderStats> {
        let s = self.order_stats.as_ref()?;
        s.lock().ok().map(|g| *g)
    }

    /// The aggregates' counters, when they are on (read after the stage has ended).
    pub fn aggregate_stats(&self) -> Option<crate::stats::AggregateStats> {
        self.aggregate_stats
            .as_ref()
            .and_then(|s| s.lock().ok().map(|g| g.clone()))
    }

    /// Start the drain deadline: from now the sinks have [`MAX_FINISH_WAIT`] to write what is
    /// queued; what is left then is counted as dropped. Call after every sender is dropped;
    /// the pipeline then joins the stage and sink threads.
    pub fn start_finishing(&mut self) {
        if let Some(f) = self.finishing.take() {
            let _ = f.send(());
        }
    }
}

impl Stage {
    /// Take messages until every sender is gone; then close what windows are left open.
    pub fn run(mut self) {
        let mut follow = Vec::new();
        while let Ok(m) = self.rx.recv() {
            match m {
                Output::Record(Record::Ioa(ev)) => match &mut self.order {
                    Some(o) => {
                        o.push(ev, &mut self.released);
                        self.release();
                    }
                    None => self.ioa(ev),
                },
                Output::Record(r) => self.offer(r),
                Output::Done { worker, upto } => {
                    if let Some(o) = &mut self.order {
                        o.done(worker, upto, &mut self.released);
                        self.release();
                    }
                }
                Output::Tick(now) => {
                    if let Some(s) = &mut self.suppress {
                        follow = s.tick(now);
                    }
                    self.followups(&mut follow);
                    self.aggregates(Some(now));
                }
                Output::Flush => {
                    self.drain_order();
                    if let Some(s) = &mut self.suppress {
                        follow = s.flush();
                    }
                    self.followups(&mut follow);
                    self.aggregates(None);
                }
            }
        }
        self.drain_order();
        if let Some(s) = &mut self.suppress {
            follow = s.flush();
        }
        self.followups(&mut follow);
        self.aggregates(None);
    }

    /// Close the aggregates' interval if `now` has passed it (`None`: the end, close it).
    fn aggregates(&mut self, now: Option<i64>) {
        let Some(a) = &mut self.aggregate else { return };
        let mut out = Vec::new();
        match now {
            Some(t) => a.tick(t, &mut out),
            None => a.flush(&mut out),
        }
        if let Ok(mut g) = self.aggregate_stats.lock() {
            *g = a.stats.clone();
        }
        for r in out {
            self.offer(r);
        }
    }

    /// Release everything the reorder buffer holds, and publish its counters (read once the
    /// stage has ended: not on every event).
    fn drain_order(&mut self) {
        if let Some(o) = &mut self.order {
            o.drain(&mut self.released);
            if let Ok(mut g) = self.order_stats.lock() {
                *g = o.stats();
            }
            self.release();
        }
    }

    /// Events leaving the reorder buffer, in packet order: each first moves the suppression
    /// clock to its own time (so that follow-ups fall between the same events whatever the
    /// number of workers), then goes through suppression.
    fn release(&mut self) {
        let mut follow = Vec::new();
        let mut released = std::mem::take(&mut self.released);
        for ev in released.drain(..) {
            if let Some(s) = &mut self.suppress {
                follow = s.tick(ev.ts_us);
            }
            self.followups(&mut follow);
            self.ioa(ev);
        }
        self.released = released;
    }

    fn ioa(&mut self, ev: Box<Ioa>) {
        if let Some(a) = &mut self.aggregate {
            let mut out = Vec::new();
            a.add(&ev, &mut out);
            // Once per alert (not per packet): an uncontended lock.
            if let Ok(mut g) = self.aggregate_stats.lock() {
                *g = a.stats.clone();
            }
            for r in out {
                self.offer(r);
            }
        }
        let Some(s) = &mut self.suppress else {
            return self.offer(Record::Ioa(ev));
        };
        let admit = s.admit(&ev);
        if let Ok(mut g) = self.suppress_stats.lock() {
            *g = s.stats();
        }
        if let Some(f) = admit.followup {
            self.offer(Record::Ioa(f));
        }
        if admit.send {
            self.offer(Record::Ioa(ev));
        }
    }

    #[allow(clippy::vec_box)] // see output::suppress
    fn followups(&mut self, follow: &mut Vec<Box<Ioa>>) {
        if let Some(s) = &self.suppress {
            if let Ok(mut g) = self.suppress_stats.lock() {
                *g = s.stats();
            }
        }
        for f in follow.drain(..) {
            self.offer(Record::Ioa(f));
        }
    }

    /// Offer a record to every sink.
    fn offer(&self, rec: Record) {
        let rec = Arc::new(rec);
        for s in &self.sinks {
            let ok = match s.on_full {
                OnFull::Drop => s.tx.try_send(rec.clone()).is_ok(),
                OnFull::Block => s.tx.blocking_send(rec.clone()).is_ok(),
            };
            if ok {
                s.counters.queued.fetch_add(1, Relaxed);
            } else {
                s.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

impl SinkRuntime {
    /// Run every sink task until its queue closes (the stage is done) or the drain deadline
    /// after [`Outputs::start_finishing`] passes.
    pub fn run(self) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let SinkRuntime {
            tasks,
            abort,
            finishing,
        } = self;
        rt.block_on(async move {
            let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
            // The drain deadline starts when finishing is signalled.
            tokio::spawn(async move {
                if finishing.await.is_ok() {
                    tokio::time::sleep(MAX_FINISH_WAIT).await;
                }
                let _ = abort.send(true);
            });
            for h in handles {
                let _ = h.await;
            }
        });
        Ok(())
    }
}
