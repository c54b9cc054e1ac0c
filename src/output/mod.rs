//! Event outputs: a fan-out thread takes each event line from the workers' channel and offers
//! it to every sink's bounded queue; the sinks run as tasks on a tokio runtime in a thread of
//! their own.
//!
//! ```text
//!  workers ──String──▶ fan-out thread ──try_send──▶ queue ─▶ sink task (json file / socket)
//!  (crossbeam, bounded)                ──try_send──▶ queue ─▶ sink task (syslog unix/udp/tcp)
//! ```
//!
//! A sink whose queue is full loses the event, counted in its `dropped` (`on_full = "drop"`, the
//! default), so workers and capture never wait on a slow or dead sink; `on_full = "block"` waits
//! instead (the replay's lossless JSON output). Stream sinks (TCP syslog, a JSON unix socket)
//! reconnect by themselves with exponential backoff and retry the event they hold; datagram and
//! file sinks retry a failed write [`MAX_SEND_ATTEMPTS`] times and then count it as dropped.
//! Every event offered to a sink ends up in exactly one of `sent` and `dropped`.

pub mod syslog;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncWrite, AsyncWriteExt as _, BufWriter};
use tokio::sync::{mpsc, watch, Notify};

use crate::config::sinks::{self as config, OnFull, SinkConfig, SinkKind, Transport};

/// Event lines waiting between the workers and the fan-out: one default sink queue's worth.
pub const FANOUT_QUEUE: usize = config::DEFAULT_QUEUE;
/// How long [`Outputs::finish`] lets the sinks drain before what is left is counted as
/// dropped: long enough to write a full default queue to a disk or a LAN collector (8192 events
/// × ~500 bytes), short enough that `systemctl stop` (default TimeoutStopSec=90s) never kills us.
pub const MAX_FINISH_WAIT: Duration = Duration::from_secs(5);
/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between reconnect attempts: a restarted collector is picked up within 5 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Writes of one event to a file or datagram socket before it is dropped: retrying a full disk
/// or an oversized datagram for ever would stall the sink; 3 rides out a transient error.
pub const MAX_SEND_ATTEMPTS: u32 = 3;
/// Default syslog port (RFC 5426 §3.3 for UDP; 514 is also what rsyslog listens on for TCP).
pub const SYSLOG_PORT: u16 = 514;
/// Default local syslog socket.
pub const DEV_LOG: &str = "/dev/log";

/// Counters of one sink, shared between the fan-out, the sink task and [`Outputs::stats`].
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    queued: AtomicI64,
}

/// A snapshot of one sink's counters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkStats {
    pub name: String,
    /// Events written (for datagrams: handed to the kernel).
    pub sent: u64,
    /// Events lost: queue full, given up after errors, or left at shutdown.
    pub dropped: u64,
    /// Failed I/O operations (connects, writes, reopens).
    pub errors: u64,
    /// Events waiting in the queue now.
    pub queued: u64,
}

/// Where a sink writes.
#[derive(Debug, Clone)]
enum Endpoint {
    Stdout,
    File(PathBuf),
    UnixStream(PathBuf),
    UnixDgram(PathBuf),
    Udp(String),
    Tcp(String),
}

impl Endpoint {
    /// A stream that can come back: reconnect and retry the same event until shutdown.
    fn reconnects(&self) -> bool {
        matches!(self, Endpoint::UnixStream(_) | Endpoint::Tcp(_))
    }
}

/// An open endpoint.
enum Conn {
    Out(BufWriter<Box<dyn AsyncWrite + Send + Unpin>>),
    UnixStream(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
    UnixDgram(tokio::net::UnixDatagram),
    Udp(tokio::net::UdpSocket),
}

/// `host:port`, the port defaulting to 514.
fn with_port(addr: &str) -> String {
    let has_port = if let Some(rest) = addr.strip_prefix('[') {
        rest.contains("]:")
    } else {
        addr.matches(':').count() == 1
    };
    if has_port {
        addr.to_owned()
    } else if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]:{SYSLOG_PORT}")
    } else {
        format!("{addr}:{SYSLOG_PORT}")
    }
}

async fn open(ep: &Endpoint) -> io::Result<Conn> {
    Ok(match ep {
        Endpoint::Stdout => Conn::Out(BufWriter::with_capacity(
            64 * 1024,
            Box::new(tokio::io::stdout()),
        )),
        Endpoint::File(p) => {
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .await?;
            Conn::Out(BufWriter::with_capacity(64 * 1024, Box::new(f)))
        }
        Endpoint::UnixStream(p) => Conn::UnixStream(tokio::net::UnixStream::connect(p).await?),
        Endpoint::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(with_port(a)).await?;
            s.set_nodelay(true)?;
            Conn::Tcp(s)
        }
        Endpoint::UnixDgram(p) => {
            let s = tokio::net::UnixDatagram::unbound()?;
            s.connect(p)?;
            Conn::UnixDgram(s)
        }
        Endpoint::Udp(a) => {
            let target = tokio::net::lookup_host(with_port(a))
                .await?
                .next()
                .ok_or_else(|| io::Error::other(format!("{a}: no address")))?;
            let local: std::net::SocketAddr = if target.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = tokio::net::UdpSocket::bind(local).await?;
            s.connect(target).await?;
            Conn::Udp(s)
        }
    })
}

/// A stream whose peer has closed or reset is readable; a collector never sends us anything, so
/// readable means gone. Checked before each write, so an event is not written into a socket
/// the peer already closed (the kernel would accept it and the peer's RST would lose it).
fn peer_gone(try_read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> bool {
    let mut b = [0u8; 64];
    !matches!(try_read(&mut b), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Out(w) => w.write_all(bytes).await,
            Conn::UnixStream(s) => {
                if peer_gone(|b| s.try_read(b)) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "peer closed",
                    ));
                }
                s.write_all(bytes).await
            }
            Conn::Tcp(s) => {
                if peer_gone(|b| s.try_read(b)) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "peer closed",
                    ));
                }
                s.write_all(bytes).await
            }
            Conn::UnixDgram(s) => s.send(bytes).await.map(drop),
            Conn::Udp(s) => s.send(bytes).await.map(drop),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Out(w) => w.flush().await,
            _ => Ok(()),
        }
    }
}

/// How a sink turns an event line into bytes.
enum Encoder {
    JsonLine,
    Syslog { header: syslog::Header, tcp: bool },
}

impl Encoder {
    fn encode(&self, line: &str) -> Vec<u8> {
        match self {
            Encoder::JsonLine => {
                let mut v = Vec::with_capacity(line.len() + 1);
                v.extend_from_slice(line.as_bytes());
                v.push(b'\n');
                v
            }
            Encoder::Syslog { header, tcp } => {
                let rec = syslog::format_record(header, line, SystemTime::now());
                if *tcp {
                    syslog::octet_counted(&rec)
                } else {
                    rec.into_bytes()
                }
            }
        }
    }
}

/// The fan-out's end of one sink.
struct SinkTx {
    tx: mpsc::Sender<Arc<str>>,
    on_full: OnFull,
    counters: Arc<Counters>,
}

/// One sink task's state.
struct SinkTask {
    name: String,
    endpoint: Endpoint,
    encoder: Encoder,
    rx: mpsc::Receiver<Arc<str>>,
    counters: Arc<Counters>,
    reopen: Arc<Notify>,
    abort: watch::Receiver<bool>,
    /// The connection opened by [`Outputs::start`] (files), used first.
    initial: Option<Conn>,
}

/// The running outputs.
pub struct Outputs {
    names: Vec<String>,
    counters: Vec<Arc<Counters>>,
    reopen: Vec<Arc<Notify>>,
    fanout: Option<JoinHandle<()>>,
    runtime: Option<JoinHandle<()>>,
    finishing: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Outputs {
    /// Check every sink (files are created now, so a bad path fails here), start the sink
    /// runtime and the fan-out. Events sent on the returned channel reach every sink; drop every
    /// clone of it before [`Outputs::finish`].
    pub fn start(sinks: &[SinkConfig]) -> io::Result<(Outputs, crossbeam_channel::Sender<String>)> {
        let (ev_tx, ev_rx) = crossbeam_channel::bounded::<String>(FANOUT_QUEUE);
        let (abort_tx, abort_rx) = watch::channel(false);
        let (finishing_tx, finishing_rx) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = Vec::new();
        let mut txs = Vec::new();
        let mut outputs = Outputs {
            names: Vec::new(),
            counters: Vec::new(),
            reopen: Vec::new(),
            fanout: None,
            runtime: None,
            finishing: Some(finishing_tx),
        };
        for (i, s) in sinks.iter().enumerate() {
            let name = s.display_name(i);
            let mut initial = None;
            let (endpoint, encoder) = match s.kind {
                SinkKind::Json => {
                    let ep = match (&s.path, &s.socket) {
                        (Some(p), _) if p.as_os_str() == "-" => Endpoint::Stdout,
                        (Some(p), _) => {
                            // Open now: a bad path fails here, with its name, and the file
                            // stays writable after the daemon drops root.
                            let f = std::fs::OpenOptions::new()
                                .create(true)
                                .append(!s.truncate)
                                .write(true)
                                .truncate(s.truncate)
                                .open(p)
                                .map_err(|e| {
                                    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
                                })?;
                            initial = Some(Conn::Out(BufWriter::with_capacity(
                                64 * 1024,
                                Box::new(tokio::fs::File::from_std(f)),
                            )));
                            Endpoint::File(p.clone())
                        }
                        (None, Some(sock)) => Endpoint::UnixStream(sock.clone()),
                        (None, None) => {
                            return Err(io::Error::other(format!(
                                "sink {name}: json needs path or socket"
                            )))
                        }
                    };
                    (ep, Encoder::JsonLine)
                }
                SinkKind::Syslog => {
                    let transport = s.transport.unwrap_or_default();
                    let addr = s.address.clone();
                    let ep = match transport {
                        Transport::Unix => {
                            Endpoint::UnixDgram(addr.unwrap_or_else(|| DEV_LOG.into()).into())
                        }
                        Transport::Udp => Endpoint::Udp(addr.unwrap_or_default()),
                        Transport::Tcp => Endpoint::Tcp(addr.unwrap_or_default()),
                    };
                    let facility = s.facility_code().ok_or_else(|| {
                        io::Error::other(format!("sink {name}: unknown facility"))
                    })?;
                    let header = syslog::Header::new(s.format.unwrap_or_default(), facility);
                    (
                        ep,
                        Encoder::Syslog {
                            header,
                            tcp: transport == Transport::Tcp,
                        },
                    )
                }
            };
            let (tx, rx) = mpsc::channel(s.queue.clamp(1, config::MAX_QUEUE));
            let counters = Arc::new(Counters::default());
            let reopen = Arc::new(Notify::new());
            txs.push(SinkTx {
                tx,
                on_full: s.on_full,
                counters: counters.clone(),
            });
            tasks.push(SinkTask {
                name: name.clone(),
                endpoint,
                encoder,
                rx,
                counters: counters.clone(),
                reopen: reopen.clone(),
                abort: abort_rx.clone(),
                initial,
            });
            outputs.names.push(name);
            outputs.counters.push(counters);
            outputs.reopen.push(reopen);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("sinks")
            .build()?;
        outputs.runtime = Some(std::thread::Builder::new().name("sinks".into()).spawn(
            move || {
                rt.block_on(async move {
                    let handles: Vec<_> =
                        tasks.into_iter().map(|t| tokio::spawn(t.run())).collect();
                    // The drain deadline starts when finish() is called.
                    tokio::spawn(async move {
                        if finishing_rx.await.is_ok() {
                            tokio::time::sleep(MAX_FINISH_WAIT).await;
                        }
                        let _ = abort_tx.send(true);
                    });
                    for h in handles {
                        let _ = h.await;
                    }
                });
            },
        )?);
        outputs.fanout = Some(
            std::thread::Builder::new()
                .name("fanout".into())
                .spawn(move || fan_out(ev_rx, txs))?,
        );
        Ok((outputs, ev_tx))
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
            .map(|(name, c)| SinkStats {
                name: name.clone(),
                sent: c.sent.load(Relaxed),
                dropped: c.dropped.load(Relaxed),
                errors: c.errors.load(Relaxed),
                queued: c.queued.load(Relaxed).max(0) as u64,
            })
            .collect()
    }

    /// Drain every queue and flush, for at most [`MAX_FINISH_WAIT`]; what is still queued then
    /// is counted as dropped. Call after every event sender is dropped.
    pub fn finish(mut self) -> Vec<SinkStats> {
        if let Some(f) = self.finishing.take() {
            let _ = f.send(());
        }
        if let Some(h) = self.fanout.take() {
            if h.join().is_err() {
                tracing::error!("the fan-out thread panicked");
            }
        }
        if let Some(h) = self.runtime.take() {
            if h.join().is_err() {
                tracing::error!("the sink thread panicked");
            }
        }
        self.stats()
    }
}

/// Offer every event to every sink.
fn fan_out(rx: crossbeam_channel::Receiver<String>, sinks: Vec<SinkTx>) {
    for line in rx.iter() {
        let line: Arc<str> = line.into();
        for s in &sinks {
            let ok = match s.on_full {
                OnFull::Drop => s.tx.try_send(line.clone()).is_ok(),
                OnFull::Block => s.tx.blocking_send(line.clone()).is_ok(),
            };
            if ok {
                s.counters.queued.fetch_add(1, Relaxed);
            } else {
                s.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Resolves once shutdown's drain deadline has passed (or the outputs are gone).
async fn aborted(abort: &mut watch::Receiver<bool>) {
    let _ = abort.wait_for(|a| *a).await;
}

impl SinkTask {
    async fn run(mut self) {
        let mut conn: Option<Conn> = self.initial.take();
        let mut backoff = MIN_BACKOFF;
        let mut failing = false;
        loop {
            let line = tokio::select! {
                biased;
                _ = aborted(&mut self.abort) => break,
                _ = self.reopen.notified() => {
                    // A file moved away by logrotate: open the path again. If that fails,
                    // keep writing to the old handle rather than losing events.
                    if matches!(self.endpoint, Endpoint::File(_)) {
                        match open(&self.endpoint).await {
                            Ok(c) => {
                                if let Some(mut old) = conn.replace(c) {
                                    if old.flush().await.is_err() {
                                        self.counters.errors.fetch_add(1, Relaxed);
                                    }
                                }
                            }
                            Err(e) => {
                                self.counters.errors.fetch_add(1, Relaxed);
                                tracing::warn!(sink = %self.name, "cannot reopen, keeping the old file: {e}");
                            }
                        }
                    }
                    continue;
                }
                m = self.rx.recv() => match m {
                    Some(l) => l,
                    None => break,
                },
            };
            self.counters.queued.fetch_sub(1, Relaxed);
            let bytes = self.encoder.encode(&line);
            let mut attempts = 0;
            let delivered = loop {
                if conn.is_none() {
                    match open(&self.endpoint).await {
                        Ok(c) => {
                            if failing {
                                tracing::info!(sink = %self.name, "connected again");
                            }
                            conn = Some(c);
                            failing = false;
                            backoff = MIN_BACKOFF;
                        }
                        Err(e) => {
                            self.failed(&mut failing, &e, "cannot connect");
                            attempts += 1;
                            if !self.endpoint.reconnects() && attempts >= MAX_SEND_ATTEMPTS {
                                break false;
                            }
                            if !self.sleep(&mut backoff).await {
                                break false;
                            }
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let r = tokio::select! {
                    biased;
                    _ = aborted(&mut self.abort) => Err(io::Error::other("shutdown")),
                    r = c.send(&bytes) => r,
                };
                match r {
                    Ok(()) => break true,
                    Err(e) => {
                        conn = None;
                        let shutting_down = *self.abort.borrow();
                        if shutting_down {
                            break false;
                        }
                        self.failed(&mut failing, &e, "write failed");
                        attempts += 1;
                        if !self.endpoint.reconnects() && attempts >= MAX_SEND_ATTEMPTS {
                            break false;
                        }
                        if self.endpoint.reconnects() && !self.sleep(&mut backoff).await {
                            break false;
                        }
                    }
                }
            };
            if delivered {
                self.counters.sent.fetch_add(1, Relaxed);
            } else {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
            if self.rx.is_empty() {
                // Nothing else queued: let a reader (tail -f, a pipe) see the event now.
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = c.flush().await {
                        self.failed(&mut failing, &e, "flush failed");
                        conn = None;
                    }
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            if c.flush().await.is_err() {
                self.counters.errors.fetch_add(1, Relaxed);
            }
        }
        // Aborted: whatever is still queued is lost, and counted.
        self.rx.close();
        while self.rx.try_recv().is_ok() {
            self.counters.queued.fetch_sub(1, Relaxed);
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Count an I/O error; log it when the sink goes from working to failing (not on every retry).
    fn failed(&self, failing: &mut bool, e: &io::Error, what: &str) {
        self.counters.errors.fetch_add(1, Relaxed);
        if !*failing {
            tracing::warn!(sink = %self.name, "{what}: {e}; retrying with backoff");
            *failing = true;
        }
    }

    /// Wait `backoff` (then double it); false if shutdown's deadline came first.
    async fn sleep(&mut self, backoff: &mut Duration) -> bool {
        let d = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            biased;
            _ = aborted(&mut self.abort) => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_address_gets_the_default_port() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:514");
        assert_eq!(with_port("10.0.0.1:6514"), "10.0.0.1:6514");
        assert_eq!(with_port("logs.example"), "logs.example:514");
        assert_eq!(with_port("::1"), "[::1]:514");
        assert_eq!(with_port("[::1]:10514"), "[::1]:10514");
    }
}
