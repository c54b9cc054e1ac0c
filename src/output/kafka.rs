//! The Kafka sink (`type = "kafka"`, issue 17): each event a message on `topic`, keyed by the
//! flow's Community ID by default so that a flow's events land in one partition, in order.
//! Client: librdkafka through the `rdkafka` crate (a `ThreadedProducer`: librdkafka's own
//! threads talk to the brokers and batch, compress and retry; the producer's poll thread runs
//! the delivery callbacks).
//!
//! Counting: an event taken from the sink's queue is handed to librdkafka; it counts as `sent`
//! when its delivery report says the brokers have it (as `acks` asks), and as `dropped` (and an
//! `error`) when the report is a failure: `message.timeout.ms` passed with the brokers down,
//! the topic refused it, and so on. While librdkafka's own queue is full the task waits, so
//! the sink's bounded queue fills and the fan-out counts what does not fit as `dropped`. At
//! shutdown the task waits for every report until the drain deadline; what is still in flight
//! then is purged and counted as `dropped`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::producer::{PurgeConfig, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::{mpsc, watch};

use super::aborted;
use super::sink::Counters;
use crate::config::sinks::{KafkaKey, Payload, SinkConfig, DEFAULT_MESSAGE_TIMEOUT_MS};
use crate::event::Record;

/// How often the task looks again while librdkafka's queue is full or reports are due.
const WAIT_STEP: Duration = Duration::from_millis(10);

/// The delivery reports' side: counts each message once, sent or dropped.
struct Reports {
    name: String,
    counters: Arc<Counters>,
    /// Messages whose report came (either way).
    reported: Arc<AtomicU64>,
}

impl ClientContext for Reports {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(sink = %self.name, "librdkafka: {error}: {reason}");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => {
                self.counters.sent.fetch_add(1, Relaxed);
            }
            Err((e, _)) => {
                if self.counters.errors.fetch_add(1, Relaxed) == 0 {
                    tracing::warn!(sink = %self.name, "delivery failed: {e} (counted as dropped; later failures are counted only)");
                }
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
        self.reported.fetch_add(1, Relaxed);
    }
}

/// A kafka sink, ready to run on the sinks' runtime.
pub(super) struct KafkaTask {
    name: String,
    producer: ThreadedProducer<Reports>,
    topic: String,
    key: KafkaKey,
    payload: Payload,
    reported: Arc<AtomicU64>,
    rx: mpsc::Receiver<Arc<Record>>,
    counters: Arc<Counters>,
    abort: watch::Receiver<bool>,
}

/// librdkafka's settings for sink `s`.
fn client_config(s: &SinkConfig, name: &str) -> io::Result<ClientConfig> {
    let mut c = ClientConfig::new();
    c.set(
        "bootstrap.servers",
        s.brokers.as_deref().unwrap_or_default().join(","),
    )
    .set("client.id", format!("iocd-{name}"))
    .set(
        "compression.codec",
        s.compression.unwrap_or_default().as_str(),
    )
    .set("acks", s.acks.as_deref().unwrap_or("all"))
    .set(
        "message.timeout.ms",
        s.message_timeout_ms
            .unwrap_or(DEFAULT_MESSAGE_TIMEOUT_MS)
            .to_string(),
    )
    // librdkafka's own queue: the sink's queue is the bound that counts drops; this one only
    // has to hold what is in flight.
    .set(
        "queue.buffering.max.messages",
        s.queue.clamp(1, 10_000_000).to_string(),
    )
    .set(
        "security.protocol",
        s.security_protocol.unwrap_or_default().as_str(),
    );
    if let Some(ca) = &s.ca_file {
        c.set("ssl.ca.location", ca.display().to_string());
    }
    if s.security_protocol.unwrap_or_default().sasl() {
        c.set(
            "sasl.mechanism",
            s.sasl_mechanism.as_deref().unwrap_or("PLAIN"),
        );
        if let Some(u) = &s.username {
            c.set("sasl.username", u);
        }
        let pw = s
            .password()
            .map_err(|e| io::Error::other(format!("sink {name}: {e}")))?;
        if let Some(pw) = pw {
            c.set("sasl.password", pw);
        }
    }
    Ok(c)
}

/// Build the task of kafka sink `s`: the producer is created now (a setting librdkafka refuses
/// fails at start, naming the sink); brokers are reached in the background.
pub(super) fn task(
    s: &SinkConfig,
    name: &str,
    rx: mpsc::Receiver<Arc<Record>>,
    counters: Arc<Counters>,
    abort: watch::Receiver<bool>,
) -> io::Result<KafkaTask> {
    let reported = Arc::new(AtomicU64::new(0));
    let reports = Reports {
        name: name.to_owned(),
        counters: counters.clone(),
        reported: reported.clone(),
    };
    let producer = client_config(s, name)?
        .create_with_context(reports)
        .map_err(|e| io::Error::other(format!("sink {name}: kafka producer: {e}")))?;
    let key = s
        .kafka_key()
        .map_err(|e| io::Error::other(format!("sink {name}: {e}")))?;
    Ok(KafkaTask {
        name: name.to_owned(),
        producer,
        topic: s.topic.clone().unwrap_or_default(),
        key,
        payload: s.payload(),
        reported,
        rx,
        counters,
        abort,
    })
}

/// The message key of `rec` under `key`: none for stats records.
pub fn message_key(key: KafkaKey, rec: &Record) -> Option<String> {
    let Record::Ioa(e) = rec else { return None };
    match key {
        KafkaKey::CommunityId => Some(e.flow.community_id.clone()),
        KafkaKey::SrcIp => Some(e.flow.src_ip.to_string()),
        KafkaKey::None => None,
    }
}

impl KafkaTask {
    pub async fn run(mut self) {
        let mut handed: u64 = 0;
        'run: loop {
            let rec = tokio::select! {
                biased;
                _ = aborted(&mut self.abort) => break,
                m = self.rx.recv() => match m {
                    Some(r) => r,
                    None => break,
                },
            };
            self.counters.queued.fetch_sub(1, Relaxed);
            let mut doc = Vec::with_capacity(768);
            super::encode::document(self.payload, &rec, &mut doc);
            let key = message_key(self.key, &rec);
            loop {
                let mut m = BaseRecord::to(&self.topic).payload(&doc);
                if let Some(k) = &key {
                    m = m.key(k);
                }
                match self.producer.send(m) {
                    Ok(()) => {
                        handed += 1;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // librdkafka holds as much as it may: wait for reports to make room.
                        tokio::select! {
                            biased;
                            _ = aborted(&mut self.abort) => {
                                self.counters.dropped.fetch_add(1, Relaxed);
                                break 'run;
                            }
                            _ = tokio::time::sleep(WAIT_STEP) => {}
                        }
                    }
                    Err((e, _)) => {
                        if self.counters.errors.fetch_add(1, Relaxed) == 0 {
                            tracing::warn!(sink = %self.name, "cannot produce: {e} (counted as dropped)");
                        }
                        self.counters.dropped.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
        }
        // Wait for the reports of what is in flight, until the drain deadline.
        while self.reported.load(Relaxed) < handed {
            tokio::select! {
                biased;
                _ = aborted(&mut self.abort) => break,
                _ = tokio::time::sleep(WAIT_STEP) => {}
            }
        }
        self.rx.close();
        while self.rx.try_recv().is_ok() {
            self.counters.queued.fetch_sub(1, Relaxed);
            self.counters.dropped.fetch_add(1, Relaxed);
        }
        // What is still in flight is purged (its reports count it as dropped); a message
        // whose report never came is counted here.
        let KafkaTask {
            producer,
            reported,
            counters,
            ..
        } = self;
        tokio::task::spawn_blocking(move || {
            producer.purge(PurgeConfig::default().queue().inflight());
            drop(producer);
        })
        .await
        .ok();
        let unreported = handed.saturating_sub(reported.load(Relaxed));
        counters.dropped.fetch_add(unreported, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let s = crate::config::Config::parse(&format!(
            "[[sinks]]\ntype = \"kafka\"\nbrokers = [\"k1:9092\", \"k2:9092\"]\ntopic = \"ioa\"\ncompression = \"zstd\"\nacks = \"1\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nusername = \"sensor\"\npassword_file = \"{}\"\nmessage_timeout_ms = 500\n",
            pw.display()
        ))
        .unwrap()
        .sinks
        .remove(0);
        assert!(s.problems("s").is_empty(), "{:?}", s.problems("s"));
        let c = client_config(&s, "k").unwrap();
        assert_eq!(c.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(c.get("compression.codec"), Some("zstd"));
        assert_eq!(c.get("acks"), Some("1"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("sasl.username"), Some("sensor"));
        assert_eq!(c.get("sasl.password"), Some("secret"));
        assert_eq!(c.get("message.timeout.ms"), Some("500"));
    }
}
