//! One sink: where it writes (`Endpoint`), the open connection, and the task that takes
//! records from its bounded queue, encodes each once ([`Encoder`]) and writes it, reconnecting
//! streams with backoff and retrying files and datagrams a few times. Every record offered to a
//! sink ends up in exactly one of its `sent` and `dropped`.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, watch, Notify};

use super::encode::Encoder;
use super::{aborted, DEV_LOG, MAX_SEND_ATTEMPTS, MIN_BACKOFF, SYSLOG_PORT};
use crate::config::sinks::{SinkConfig, SinkKind, Transport};
use crate::event::Record;
use crate::stats::SinkStats;

/// Counters of one sink, shared between the fan-out, the sink task and [`super::Outputs::stats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub queued: AtomicI64,
}

impl Counters {
    pub fn snapshot(&self, name: &str) -> SinkStats {
        SinkStats {
            name: name.to_owned(),
            sent: self.sent.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            errors: self.errors.load(Relaxed),
            queued: self.queued.load(Relaxed).max(0) as u64,
        }
    }
}

/// Where a sink writes.
#[derive(Debug, Clone)]
pub(super) enum Endpoint {
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

    /// A file or standard output: written in batches, see [`Batch`].
    fn is_file(&self) -> bool {
        matches!(self, Endpoint::Stdout | Endpoint::File(_))
    }
}

/// Bytes gathered for one write to a file sink before it is flushed, unless the queue runs
/// empty first (then at once, so `tail -f` sees every event).
pub const FILE_BATCH: usize = 64 * 1024;

/// Records waiting to be written to a file or standard output, as one buffer. A record counts
/// as `sent` only once all its bytes were written (issue 11: a 64 KiB `BufWriter` used to count
/// records sent when buffered and lose them with a failed flush).
#[derive(Debug, Default)]
pub(super) struct Batch {
    buf: Vec<u8>,
    /// End offset in `buf` of each record.
    ends: Vec<usize>,
    /// The file ends inside a line (a write stopped part-way): the next write starts with a
    /// newline, so that every later record is a whole line.
    torn: bool,
}

/// What one blocking write of a batch did.
struct Written {
    writer: Box<dyn std::io::Write + Send>,
    buf: Vec<u8>,
    /// Bytes of `buf` written.
    done: usize,
    /// The leading newline of a torn file was written.
    mended: bool,
    error: Option<io::Error>,
}

/// Write `buf` (after a newline when `torn`), stopping at the first error: how far it got is
/// in [`Written::done`]. Runs on tokio's blocking pool: a std `File` reports a short write and
/// the error exactly where tokio's buffered file would report it later.
fn write_batch(mut writer: Box<dyn std::io::Write + Send>, buf: Vec<u8>, torn: bool) -> Written {
    let mut w = Written {
        writer: Box::new(std::io::sink()),
        buf: Vec::new(),
        done: 0,
        mended: !torn,
        error: None,
    };
    if torn {
        match writer.write(b"\n") {
            Ok(1) => w.mended = true,
            Ok(_) => w.error = Some(io::ErrorKind::WriteZero.into()),
            Err(e) => w.error = Some(e),
        }
    }
    while w.error.is_none() && w.done < buf.len() {
        match writer.write(&buf[w.done..]) {
            Ok(0) => w.error = Some(io::ErrorKind::WriteZero.into()),
            Ok(n) => w.done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => w.error = Some(e),
        }
    }
    if w.error.is_none() {
        w.error = writer.flush().err();
    }
    w.writer = writer;
    w.buf = buf;
    w
}

impl Batch {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// `done` bytes were written: forget the whole records among them and return how many;
    /// a record cut by `done` stays (to be written again whole) and marks the file torn.
    fn written(&mut self, done: usize) -> u64 {
        let whole = self.ends.partition_point(|&e| e <= done);
        let cut = self.ends.get(whole.wrapping_sub(1)).copied().unwrap_or(0);
        if done > cut {
            self.torn = true;
        }
        self.buf.drain(..cut);
        self.ends.drain(..whole);
        for e in &mut self.ends {
            *e -= cut;
        }
        whole as u64
    }

    fn clear(&mut self) -> u64 {
        let n = self.ends.len() as u64;
        self.buf.clear();
        self.ends.clear();
        n
    }
}

/// An open endpoint.
pub(super) enum Conn {
    /// A file or standard output, written in [`Batch`]es on the blocking pool.
    Out(Box<dyn std::io::Write + Send>),
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

/// Open (creating it, mode 0640) a JSON sink file for appending, or truncated. Running as root,
/// a symlink is refused (`O_NOFOLLOW`): root must not write — nor hand to the service user —
/// a file that a link planted by that user points at (issue 11). What is opened must be a
/// regular file or a character device (`/dev/null`), checked on the descriptor.
pub fn open_file(path: &std::path::Path, truncate: bool) -> io::Result<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    let mut flags = 0;
    if nix::unistd::geteuid().is_root() {
        flags |= nix::fcntl::OFlag::O_NOFOLLOW.bits();
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .mode(0o640)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::libc::ELOOP) {
                io::Error::new(
                    e.kind(),
                    "a symlink: refused while running as root; name the file itself",
                )
            } else {
                e
            }
        })?;
    let t = f.metadata()?.file_type();
    if !(t.is_file() || t.is_char_device()) {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(f)
}

async fn open(ep: &Endpoint) -> io::Result<Conn> {
    Ok(match ep {
        Endpoint::Stdout => Conn::Out(Box::new(std::io::stdout())),
        Endpoint::File(p) => {
            let p = p.clone();
            let f = tokio::task::spawn_blocking(move || open_file(&p, false))
                .await
                .map_err(io::Error::other)??;
            Conn::Out(Box::new(f))
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
            // Files go through `SinkTask::flush_file`.
            Conn::Out(_) => Err(io::Error::other("a file sink writes in batches")),
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
}

/// Where `s` writes and how it encodes; a file is opened now, so a bad path fails at start with
/// its name (and stays writable after the daemon drops root).
/// `host`: the HOSTNAME of syslog records (the sensor's name).
pub(super) fn endpoint(
    s: &SinkConfig,
    name: &str,
    host: Option<&str>,
) -> io::Result<(Endpoint, Encoder, Option<Conn>)> {
    let mut initial = None;
    Ok(match s.kind {
        SinkKind::Json => {
            let ep = match (&s.path, &s.socket) {
                (Some(p), _) if p.as_os_str() == "-" => Endpoint::Stdout,
                (Some(p), _) => {
                    let f = open_file(p, s.truncate)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                    initial = Some(Conn::Out(Box::new(f)));
                    Endpoint::File(p.clone())
                }
                (None, Some(sock)) => Endpoint::UnixStream(sock.clone()),
                (None, None) => {
                    return Err(io::Error::other(format!(
                        "sink {name}: json needs path or socket"
                    )))
                }
            };
            let encoder = match s.payload() {
                crate::config::Payload::StixSighting => Encoder::StixLines {
                    sensor: host.map_or_else(
                        || gethostname::gethostname().to_string_lossy().into_owned(),
                        str::to_owned,
                    ),
                    identity_sent: std::sync::atomic::AtomicBool::new(false),
                },
                p => Encoder::JsonLine(p),
            };
            (ep, encoder, initial)
        }
        SinkKind::Redis | SinkKind::Kafka => {
            return Err(io::Error::other(format!(
                "sink {name}: a broker sink has its own task (output::redis, output::kafka)"
            )))
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
            let facility = s
                .facility_code()
                .ok_or_else(|| io::Error::other(format!("sink {name}: unknown facility")))?;
            let header = super::encode::Header::new(s.syslog_format(), facility, host);
            (
                ep,
                Encoder::Syslog {
                    header,
                    tcp: transport == Transport::Tcp,
                    payload: s.payload(),
                },
                None,
            )
        }
    })
}

/// One sink task's state.
pub(super) struct SinkTask {
    pub name: String,
    pub endpoint: Endpoint,
    pub encoder: Encoder,
    pub rx: mpsc::Receiver<Arc<Record>>,
    pub counters: Arc<Counters>,
    pub reopen: Arc<Notify>,
    pub abort: watch::Receiver<bool>,
    /// The connection opened by [`super::Outputs::new`] (files), used first.
    pub initial: Option<Conn>,
    /// A file sink's records not yet written.
    pub batch: Batch,
}

impl SinkTask {
    pub async fn run(mut self) {
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
                        // What is gathered goes to the old file first.
                        self.flush_file(&mut conn, &mut failing, &mut backoff).await;
                        match open(&self.endpoint).await {
                            Ok(c) => {
                                conn = Some(c);
                                // A new file starts on a fresh line.
                                self.batch.torn = false;
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
            if self.endpoint.is_file() {
                self.batch.push(&bytes);
                if self.batch.buf.len() >= FILE_BATCH || self.rx.is_empty() {
                    self.flush_file(&mut conn, &mut failing, &mut backoff).await;
                }
                continue;
            }
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
        }
        // What a file sink gathered: written now if the deadline allows, else dropped.
        self.flush_file(&mut conn, &mut failing, &mut backoff).await;
        let lost = self.batch.clear();
        self.counters.dropped.fetch_add(lost, Relaxed);
        // Aborted: whatever is still queued is lost, and counted.
        self.rx.close();
        while self.rx.try_recv().is_ok() {
            self.counters.queued.fetch_sub(1, Relaxed);
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Write what a file sink gathered. Records count as `sent` once their bytes are written; a
    /// failed write is retried [`MAX_SEND_ATTEMPTS`] times with backoff (reopening the file),
    /// then what is left is `dropped`. A write stopped inside a record leaves that record for
    /// the retry, after a newline that ends the torn line.
    async fn flush_file(
        &mut self,
        conn: &mut Option<Conn>,
        failing: &mut bool,
        backoff: &mut Duration,
    ) {
        let mut attempts = 0;
        // A sink already failing (the disk still full) gets one try per batch, without the
        // backoff: waiting out every batch would stall the sink behind a disk that stays full.
        let max = if *failing { 1 } else { MAX_SEND_ATTEMPTS };
        while self.batch.len() > 0 {
            let writer = match conn.take() {
                Some(Conn::Out(w)) => w,
                _ => match open(&self.endpoint).await {
                    Ok(Conn::Out(w)) => w,
                    Ok(_) => return,
                    Err(e) => {
                        self.failed(failing, &e, "cannot open");
                        attempts += 1;
                        if attempts >= max || !self.sleep(backoff).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let buf = std::mem::take(&mut self.batch.buf);
            let torn = self.batch.torn;
            let w = match tokio::task::spawn_blocking(move || write_batch(writer, buf, torn)).await
            {
                Ok(w) => w,
                Err(e) => {
                    // The write panicked: its buffer is gone.
                    self.failed(failing, &io::Error::other(e), "write failed");
                    break;
                }
            };
            self.batch.buf = w.buf;
            if w.mended {
                self.batch.torn = false;
            }
            let sent = self.batch.written(w.done);
            self.counters.sent.fetch_add(sent, Relaxed);
            match w.error {
                None => {
                    *conn = Some(Conn::Out(w.writer));
                    if *failing {
                        tracing::info!(sink = %self.name, "writing again");
                        *failing = false;
                    }
                    *backoff = MIN_BACKOFF;
                }
                Some(e) => {
                    // Reopened at the next attempt: a file replaced meanwhile is picked up.
                    self.failed(failing, &e, "write failed");
                    attempts += 1;
                    if attempts >= max || !self.sleep(backoff).await {
                        break;
                    }
                }
            }
        }
        let lost = self.batch.clear();
        self.counters.dropped.fetch_add(lost, Relaxed);
    }

    /// Count an I/O error; log it when the sink goes from working to failing (not on every retry).
    fn failed(&self, failing: &mut bool, e: &io::Error, what: &str) {
        self.counters.errors.fetch_add(1, Relaxed);
        if !*failing {
            tracing::warn!(sink = %self.name, "{what}: {e}; retrying with backoff");
            *failing = true;
        }
    }

    async fn sleep(&mut self, backoff: &mut Duration) -> bool {
        super::backoff(&mut self.abort, backoff).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_counts_whole_records_and_keeps_a_cut_one_for_the_retry() {
        let mut b = Batch::default();
        for r in [&b"aaaa\n"[..], b"bb\n", b"cccccc\n"] {
            b.push(r);
        }
        assert_eq!(b.written(0), 0);
        assert!(!b.torn);
        // "aaaa\nb" reached the file: one record, and "bb\n" was cut
        assert_eq!(b.written(6), 1);
        assert!(b.torn, "the file ends inside a line");
        assert_eq!(b.buf, b"bb\ncccccc\n");
        assert_eq!(b.ends, [3, 10]);
        assert_eq!(b.written(10), 2);
        assert!(b.buf.is_empty() && b.ends.is_empty());
    }

    /// A writer that takes `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
        got: Vec<u8>,
    }

    impl std::io::Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = b.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_short_write_reports_how_far_it_got_and_a_torn_file_gets_its_newline_first() {
        let w = write_batch(
            Box::new(Full {
                room: 4,
                got: Vec::new(),
            }),
            b"abcdef\n".to_vec(),
            true,
        );
        assert_eq!(w.done, 3, "the newline took one byte of the room");
        assert!(w.mended);
        assert_eq!(w.error.map(|e| e.raw_os_error()), Some(Some(28)));
    }

    #[test]
    fn syslog_address_gets_the_default_port() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:514");
        assert_eq!(with_port("10.0.0.1:6514"), "10.0.0.1:6514");
        assert_eq!(with_port("logs.example"), "logs.example:514");
        assert_eq!(with_port("::1"), "[::1]:514");
        assert_eq!(with_port("[::1]:10514"), "[::1]:10514");
    }
}
