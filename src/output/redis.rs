//! The Redis sink (`type = "redis"`, issue 17): events as entries of a stream (`XADD key MAXLEN
//! ~ N * event <json>`, the default), items of a list (`RPUSH`) or messages on a channel
//! (`PUBLISH`), as Suricata's `filetype: redis` writes them. Client: the `redis` crate.
//!
//! The task takes a batch of up to `batch` events from its bounded queue and sends it as one
//! pipeline (one round trip). A batch counts as `sent` when the server has answered every
//! command of it. When the connection fails (server down, restarted, a reply late by more than
//! [`RESPONSE_TIMEOUT`]) the task reconnects with backoff and sends the same batch again, while
//! the fan-out keeps filling the queue and counts what does not fit as `dropped`; at shutdown
//! what is left after the drain deadline is `dropped`. Delivery is at least once: a batch the
//! server had partly applied before the connection broke is sent again whole.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, watch};

use super::sink::Counters;
use super::{aborted, MIN_BACKOFF};
use crate::config::sinks::{Payload, RedisMode, SinkConfig, DEFAULT_BATCH, DEFAULT_MAXLEN};
use crate::event::Record;

/// Default stream, list or channel name.
pub const DEFAULT_KEY: &str = "iocd";
/// Default Redis port.
pub const REDIS_PORT: u16 = 6379;
/// How long a connect may take: a local or LAN server answers in milliseconds; a server that
/// does not within 2 s is treated as down (and retried with backoff).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a pipeline's replies may take: a batch of 4096 XADDs is applied by a loaded server
/// in well under a second; 10 s leaves room for a slow AOF fsync before the batch is resent.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A redis sink, ready to run on the sinks' runtime.
pub(super) struct RedisTask {
    name: String,
    client: redis::Client,
    mode: RedisMode,
    key: String,
    maxlen: u64,
    batch: usize,
    payload: Payload,
    rx: mpsc::Receiver<Arc<Record>>,
    counters: Arc<Counters>,
    abort: watch::Receiver<bool>,
}

/// The connection URL of `s`: its `url`, or `server`, `port`, `db`; with `username` and the
/// password (percent-encoded by `url`; the redis crate decodes them).
fn connection_url(s: &SinkConfig, name: &str) -> io::Result<url::Url> {
    let bad = |e: String| io::Error::other(format!("sink {name}: {e}"));
    let mut u = match &s.url {
        Some(u) => url::Url::parse(u).map_err(|e| bad(format!("url {u:?}: {e}")))?,
        None => {
            let host = s.server.as_deref().unwrap_or("127.0.0.1");
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            let port = s.port.unwrap_or(REDIS_PORT);
            let db = s.db.unwrap_or(0);
            url::Url::parse(&format!("redis://{host}:{port}/{db}"))
                .map_err(|e| bad(format!("server {host:?}: {e}")))?
        }
    };
    if s.redis_tls() && u.scheme() == "redis" {
        u.set_scheme("rediss")
            .map_err(|()| bad("cannot use TLS with this url".into()))?;
    }
    if let Some(user) = &s.username {
        u.set_username(user)
            .map_err(|()| bad("username cannot be set".into()))?;
    }
    if let Some(pw) = s.password().map_err(bad)? {
        // A url with a username but no password is `user@host`; the crate needs both parts.
        if u.username().is_empty() {
            u.set_username("default")
                .map_err(|()| bad("username cannot be set".into()))?;
        }
        u.set_password(Some(&pw))
            .map_err(|()| bad("password cannot be set".into()))?;
    }
    Ok(u)
}

/// Build the task of redis sink `s`. Nothing connects yet: a server down at start is retried
/// like one that goes down later.
pub(super) fn task(
    s: &SinkConfig,
    name: &str,
    rx: mpsc::Receiver<Arc<Record>>,
    counters: Arc<Counters>,
    abort: watch::Receiver<bool>,
) -> io::Result<RedisTask> {
    let url = connection_url(s, name)?;
    let client = if s.redis_tls() {
        // The one crypto provider built in (ring; see Cargo.toml); a second call is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root_cert = match &s.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("sink {name}: ca_file {}: {e}", p.display()),
                )
            })?),
            // The system's CA store (rustls-native-certs).
            None => None,
        };
        redis::Client::build_with_tls(
            url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert,
            },
        )
    } else {
        redis::Client::open(url.as_str())
    }
    .map_err(|e| io::Error::other(format!("sink {name}: {e}")))?;
    Ok(RedisTask {
        name: name.to_owned(),
        client,
        mode: s.redis_mode(),
        key: s.key.clone().unwrap_or_else(|| DEFAULT_KEY.to_owned()),
        maxlen: s.maxlen.unwrap_or(DEFAULT_MAXLEN),
        batch: s.batch.unwrap_or(DEFAULT_BATCH).max(1),
        payload: s.payload(),
        rx,
        counters,
        abort,
    })
}

impl RedisTask {
    /// The pipeline writing `batch`.
    fn pipeline(&self, batch: &[Vec<u8>]) -> redis::Pipeline {
        let mut p = redis::pipe();
        for doc in batch {
            let cmd = match self.mode {
                RedisMode::Stream => p
                    .cmd("XADD")
                    .arg(&self.key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.maxlen)
                    .arg("*")
                    .arg("event")
                    .arg(doc.as_slice()),
                RedisMode::List => p.cmd("RPUSH").arg(&self.key).arg(doc.as_slice()),
                RedisMode::Publish => p.cmd("PUBLISH").arg(&self.key).arg(doc.as_slice()),
            };
            cmd.ignore();
        }
        p
    }

    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
    }

    /// Log a failure once per outage, count it.
    fn failed(&self, failing: &mut bool, e: &dyn std::fmt::Display, what: &str) {
        self.counters.errors.fetch_add(1, Relaxed);
        if !*failing {
            tracing::warn!(sink = %self.name, "{what}: {e}; retrying with backoff, events wait in the queue");
            *failing = true;
        }
    }

    async fn sleep(&mut self, backoff: &mut Duration) -> bool {
        super::backoff(&mut self.abort, backoff).await
    }

    pub async fn run(mut self) {
        let mut conn: Option<MultiplexedConnection> = None;
        let mut backoff = MIN_BACKOFF;
        let mut failing = false;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(self.batch);
        'run: loop {
            // A new batch: wait for one event, then take what else is queued.
            let first = tokio::select! {
                biased;
                _ = aborted(&mut self.abort) => break,
                m = self.rx.recv() => match m {
                    Some(r) => r,
                    None => break,
                },
            };
            let mut next = Some(first);
            while let Some(rec) = next.take() {
                self.counters.queued.fetch_sub(1, Relaxed);
                let mut doc = Vec::with_capacity(768);
                super::encode::document(self.payload, &rec, &mut doc);
                batch.push(doc);
                if batch.len() < self.batch {
                    next = self.rx.try_recv().ok();
                }
            }
            // Deliver it, reconnecting as often as it takes, until the drain deadline.
            loop {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match self.connect().await {
                        Ok(c) => {
                            if failing {
                                tracing::info!(sink = %self.name, "connected again");
                            }
                            failing = false;
                            conn.insert(c)
                        }
                        Err(e) => {
                            self.failed(&mut failing, &e, "cannot connect");
                            if !self.sleep(&mut backoff).await {
                                break 'run;
                            }
                            continue;
                        }
                    },
                };
                let pipe = self.pipeline(&batch);
                let r: redis::RedisResult<()> = tokio::select! {
                    biased;
                    _ = aborted(&mut self.abort) => break 'run,
                    r = pipe.query_async(c) => r,
                };
                match r {
                    Ok(()) => {
                        self.counters.sent.fetch_add(batch.len() as u64, Relaxed);
                        batch.clear();
                        backoff = MIN_BACKOFF;
                        break;
                    }
                    Err(e) => {
                        conn = None;
                        self.failed(&mut failing, &e, "write failed");
                        if !self.sleep(&mut backoff).await {
                            break 'run;
                        }
                    }
                }
            }
        }
        // The batch in hand and whatever is still queued are lost, and counted.
        self.counters.dropped.fetch_add(batch.len() as u64, Relaxed);
        self.rx.close();
        while self.rx.try_recv().is_ok() {
            self.counters.queued.fetch_sub(1, Relaxed);
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(text: &str) -> SinkConfig {
        crate::config::Config::parse(text).unwrap().sinks.remove(0)
    }

    #[test]
    fn url_from_server_port_db_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "p@ss:w/rd\nignored\n").unwrap();
        let s = sink(&format!(
            "[[sinks]]\ntype = \"redis\"\nserver = \"::1\"\nport = 22001\ndb = 3\nusername = \"iocd\"\npassword_file = \"{}\"\n",
            pw.display()
        ));
        let u = connection_url(&s, "r").unwrap();
        let info: redis::ConnectionInfo =
            redis::IntoConnectionInfo::into_connection_info(u.as_str()).unwrap();
        assert_eq!(
            info.addr(),
            &redis::ConnectionAddr::Tcp("::1".into(), 22001)
        );
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().username(), Some("iocd"));
        assert_eq!(info.redis_settings().password(), Some("p@ss:w/rd"));
        let s = sink("[[sinks]]\ntype = \"redis\"\n");
        assert_eq!(
            connection_url(&s, "r").unwrap().as_str(),
            "redis://127.0.0.1:6379/0"
        );
    }
}
