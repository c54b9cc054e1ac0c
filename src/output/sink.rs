//! One sink: where it writes (`Endpoint`), the open connection, and the task that takes
//! records from its bounded queue, encodes each once ([`Encoder`]) and writes it, reconnecting
//! streams with backoff and retrying files and datagrams a few times. Every record offered to a
//! sink ends up in exactly one of its `sent` and `dropped`.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt as _, BufWriter};
use tokio::sync::{mpsc, watch, Notify};

use super::encode::Encoder;
use super::{DEV_LOG, MAX_BACKOFF, MAX_SEND_ATTEMPTS, MIN_BACKOFF, SYSLOG_PORT};
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
}

/// An open endpoint.
pub(super) enum Conn {
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

/// Where `s` writes and how it encodes; a file is opened now, so a bad path fails at start with
/// its name (and stays writable after the daemon drops root).
pub(super) fn endpoint(
    s: &SinkConfig,
    name: &str,
) -> io::Result<(Endpoint, Encoder, Option<Conn>)> {
    let mut initial = None;
    Ok(match s.kind {
        SinkKind::Json => {
            let ep = match (&s.path, &s.socket) {
                (Some(p), _) if p.as_os_str() == "-" => Endpoint::Stdout,
                (Some(p), _) => {
                    let f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(!s.truncate)
                        .write(true)
                        .truncate(s.truncate)
                        .open(p)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
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
            (ep, Encoder::JsonLine, initial)
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
            let header = super::encode::Header::new(s.format.unwrap_or_default(), facility);
            (
                ep,
                Encoder::Syslog {
                    header,
                    tcp: transport == Transport::Tcp,
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
    /// The connection opened by [`Outputs::start`] (files), used first.
    pub initial: Option<Conn>,
}

/// Resolves once shutdown's drain deadline has passed (or the outputs are gone).
async fn aborted(abort: &mut watch::Receiver<bool>) {
    let _ = abort.wait_for(|a| *a).await;
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
