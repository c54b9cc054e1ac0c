//! `[[sinks]]` tables. One flat struct for every sink type, so `deny_unknown_fields` names a
//! typo; keys that do not belong to the sink's type are reported by [`SinkConfig::problems`].

use std::path::PathBuf;

use serde::Deserialize;

/// Events that may wait in one sink's queue unless `queue` says otherwise. Each is a few hundred
/// bytes, so the default bounds a sink's queue near a few MiB (the size of the old single sink
/// queue, `QUEUE_EVENTS` before the output module).
pub const DEFAULT_QUEUE: usize = 8192;
/// Largest `queue` accepted: 1 M events of ~500 bytes is ~500 MiB per sink, beyond which a
/// queue hides a dead sink rather than absorbing a burst.
pub const MAX_QUEUE: usize = 1 << 20;

/// One `[[sinks]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `json` or `syslog`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// Name in stats and logs; default `<type><index>` (`json0`, `syslog1`).
    pub name: Option<String>,
    /// Bounded queue length in events.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// What the fan-out does when the queue is full.
    #[serde(default)]
    pub on_full: OnFull,
    /// json: a file (reopened on SIGHUP), `-` for standard output.
    pub path: Option<PathBuf>,
    /// json: a unix stream socket to connect to.
    pub socket: Option<PathBuf>,
    /// json: the document written for each event (`iocd`, `eve`, `ecs`; the same as
    /// `payload`). syslog: the header (`rfc5424`, `rfc3164`).
    pub format: Option<FormatKey>,
    /// Both types: the document written for each event, `iocd` (the default), `eve` or `ecs`.
    pub payload: Option<Payload>,
    /// syslog: transport.
    pub transport: Option<Transport>,
    /// syslog: `host:port` for udp/tcp (default port 514), a socket path for unix
    /// (default `/dev/log`).
    pub address: Option<String>,
    /// syslog: facility name (`local0`..`local7`, `user`, `daemon`, ...).
    pub facility: Option<String>,
    /// json file: truncate at start instead of appending (`iocd replay -o FILE`); not a key.
    #[serde(skip)]
    pub truncate: bool,
    /// redis: `redis://[user@]host[:port][/db]`, instead of server, port and db (a password
    /// written in it is refused: give password_file or password_env).
    pub url: Option<String>,
    /// redis: the server's host name or address (default 127.0.0.1).
    pub server: Option<String>,
    /// redis: the server's port (default 6379).
    pub port: Option<u16>,
    /// redis: the database number (default 0).
    pub db: Option<i64>,
    /// redis: `stream` (XADD, the default), `list` (RPUSH) or `publish` (PUBLISH).
    pub mode: Option<RedisMode>,
    /// redis: the stream, list or channel (default `iocd`). kafka: the message key,
    /// `community_id` (the default: a flow's events go to one partition), `src_ip` or `none`.
    pub key: Option<String>,
    /// redis stream: `MAXLEN ~` trimming, in entries (default [`DEFAULT_MAXLEN`]).
    pub maxlen: Option<u64>,
    /// redis: events sent in one pipelined round trip (default [`DEFAULT_BATCH`]).
    pub batch: Option<usize>,
    /// redis (ACL user), kafka (SASL): the user name.
    pub username: Option<String>,
    /// redis, kafka: a file holding the password (its first line); never the password itself.
    pub password_file: Option<PathBuf>,
    /// redis, kafka: an environment variable holding the password.
    pub password_env: Option<String>,
    /// kafka: bootstrap brokers, `host:port` each.
    pub brokers: Option<Vec<String>>,
    /// kafka: the topic.
    pub topic: Option<String>,
    /// kafka: `none` (default), `gzip`, `lz4`, `zstd`.
    pub compression: Option<Compression>,
    /// kafka: acknowledgements the leader waits for: `0`, `1` or `all` (default `all`).
    pub acks: Option<String>,
    /// kafka: `plaintext` (default), `ssl`, `sasl_plaintext`, `sasl_ssl`.
    pub security_protocol: Option<SecurityProtocol>,
    /// kafka: CA certificates (PEM) to verify the brokers with (TLS). redis: the same for the
    /// server (with `tls = true`); the system's CA store when unset.
    pub ca_file: Option<PathBuf>,
    /// kafka: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with username and a password).
    pub sasl_mechanism: Option<String>,
    /// kafka: how long a message may wait for delivery before it is counted as dropped
    /// (librdkafka's `message.timeout.ms`; default [`DEFAULT_MESSAGE_TIMEOUT_MS`]).
    pub message_timeout_ms: Option<u64>,
    /// redis: connect with TLS (as a `rediss://` url does).
    pub tls: Option<bool>,
}

/// Stream entries kept by `MAXLEN ~` unless `maxlen` says otherwise: a few hours of a busy
/// sensor's events, ~100 MB of Redis memory at ~1 KB an entry.
pub const DEFAULT_MAXLEN: u64 = 100_000;
/// Events per pipelined round trip to Redis: enough to amortise the round trip (a batch of
/// ~500 events is ~250 KB, written in one go), small enough that a batch retried after a
/// reconnect is quick.
pub const DEFAULT_BATCH: usize = 512;
/// Largest `batch`: a 4096-event pipeline is ~2 MB, beyond which a round trip gains nothing.
pub const MAX_BATCH: usize = 4096;
/// librdkafka's `message.timeout.ms` unless set: 30 s rides out a leader election; a broker
/// down longer makes the queued events count as dropped instead of hiding in memory.
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// Longest password file read: a password is a line, not a file's worth.
pub const MAX_PASSWORD_FILE: u64 = 4096;

/// How a redis sink writes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisMode {
    /// `XADD key MAXLEN ~ N * event <json>`.
    #[default]
    Stream,
    /// `RPUSH key <json>`.
    List,
    /// `PUBLISH key <json>`.
    Publish,
}

/// A kafka sink's compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A kafka sink's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// What a kafka message's key is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KafkaKey {
    /// The flow's Community ID: a flow's events land in one partition, in order.
    #[default]
    CommunityId,
    SrcIp,
    None,
}

/// SASL mechanisms librdkafka speaks without Kerberos.
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

fn default_queue() -> usize {
    DEFAULT_QUEUE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Json,
    Syslog,
    Redis,
    Kafka,
}

/// What to do with an event when a sink's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Drop it and count it for that sink: capture and workers never wait (the daemon).
    #[default]
    Drop,
    /// Wait for room: lossless, at the price of slowing everything behind (a replay).
    Block,
}

/// The document a sink writes for each event: iocd's own JSON, a Suricata EVE `alert`
/// record, or an Elastic Common Schema document. Stats records are iocd's JSON in every case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    #[default]
    Iocd,
    Eve,
    Ecs,
    /// A STIX 2.1 `sighting` object per hit (issue 16), after the sensor's identity.
    #[serde(rename = "stix-sighting")]
    StixSighting,
    /// A MISP `/sightings/add` record per hit (issue 16).
    #[serde(rename = "misp-sighting")]
    MispSighting,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Iocd => "iocd",
            Payload::Eve => "eve",
            Payload::Ecs => "ecs",
            Payload::StixSighting => "stix-sighting",
            Payload::MispSighting => "misp-sighting",
        }
    }
}

/// The values of `format`: a payload on a json sink, a header on a syslog sink (the key
/// predates payloads, and syslog sinks keep its meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKey {
    Rfc5424,
    Rfc3164,
    Iocd,
    Eve,
    Ecs,
    #[serde(rename = "stix-sighting")]
    StixSighting,
    #[serde(rename = "misp-sighting")]
    MispSighting,
}

impl FormatKey {
    fn header(self) -> Option<SyslogFormat> {
        match self {
            FormatKey::Rfc5424 => Some(SyslogFormat::Rfc5424),
            FormatKey::Rfc3164 => Some(SyslogFormat::Rfc3164),
            _ => None,
        }
    }

    fn payload(self) -> Option<Payload> {
        match self {
            FormatKey::Iocd => Some(Payload::Iocd),
            FormatKey::Eve => Some(Payload::Eve),
            FormatKey::Ecs => Some(Payload::Ecs),
            FormatKey::StixSighting => Some(Payload::StixSighting),
            FormatKey::MispSighting => Some(Payload::MispSighting),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    #[default]
    Rfc5424,
    Rfc3164,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Datagrams to a local socket (`/dev/log`).
    #[default]
    Unix,
    Udp,
    /// RFC 6587 octet counting.
    Tcp,
}

/// Facility names and codes (RFC 5424 §6.2.1, Table 1).
pub const FACILITIES: [(&str, u8); 20] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

impl SinkConfig {
    /// A JSON-lines sink to a file or `-`, lossless: what `iocd replay` writes by default.
    pub fn json_file(path: PathBuf, on_full: OnFull) -> Self {
        SinkConfig {
            kind: SinkKind::Json,
            name: None,
            queue: DEFAULT_QUEUE,
            on_full,
            path: Some(path),
            socket: None,
            format: None,
            payload: None,
            transport: None,
            address: None,
            facility: None,
            truncate: false,
            url: None,
            server: None,
            port: None,
            db: None,
            mode: None,
            key: None,
            maxlen: None,
            batch: None,
            username: None,
            password_file: None,
            password_env: None,
            brokers: None,
            topic: None,
            compression: None,
            acks: None,
            security_protocol: None,
            ca_file: None,
            sasl_mechanism: None,
            message_timeout_ms: None,
            tls: None,
        }
    }

    /// The sink's name: `name`, else the type and its index among the sinks.
    pub fn display_name(&self, index: usize) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => match self.kind {
                SinkKind::Json => format!("json{index}"),
                SinkKind::Syslog => format!("syslog{index}"),
                SinkKind::Redis => format!("redis{index}"),
                SinkKind::Kafka => format!("kafka{index}"),
            },
        }
    }

    /// The document written for each event: `payload`, else (json) `format`, else iocd's.
    pub fn payload(&self) -> Payload {
        self.payload
            .or_else(|| self.format.and_then(FormatKey::payload))
            .unwrap_or_default()
    }

    /// A syslog sink's header format; RFC 5424 when unset.
    pub fn syslog_format(&self) -> SyslogFormat {
        self.format.and_then(FormatKey::header).unwrap_or_default()
    }

    /// The facility code; `local0` when unset.
    pub fn facility_code(&self) -> Option<u8> {
        let name = self.facility.as_deref().unwrap_or("local0");
        FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    /// A `format` that does not fit the sink's type, or contradicts `payload`.
    fn format_problems(&self, at: &str) -> Option<String> {
        let f = self.format?;
        match (self.kind, f.payload()) {
            (SinkKind::Json | SinkKind::Redis | SinkKind::Kafka, None) => Some(format!(
                "{at}: format {f:?} is a syslog header; a json, redis or kafka sink's format is iocd, eve or ecs"
            )),
            (SinkKind::Json | SinkKind::Redis | SinkKind::Kafka, Some(p))
                if self.payload.is_some_and(|q| q != p) =>
            {
                Some(format!(
                    "{at}: format and payload disagree (give one of them)"
                ))
            }
            (SinkKind::Syslog, Some(p)) => Some(format!(
                "{at}: a syslog sink's format is its header (rfc5424 or rfc3164); write the event as {p} with payload = \"{p}\"",
                p = p.as_str()
            )),
            _ => None,
        }
    }

    /// Every problem with this table (`at` names it in messages).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.queue == 0 || self.queue > MAX_QUEUE {
            out.push(format!("{at}: queue must be 1..={MAX_QUEUE}"));
        }
        if let Some(n) = &self.name {
            if n.trim().is_empty() {
                out.push(format!("{at}: name must not be empty"));
            }
        }
        out.extend(self.format_problems(at));
        let mut foreign = |key: &str, set: bool| {
            if set {
                out.push(format!("{at}: key {key} does not apply to this sink type"));
            }
        };
        match self.kind {
            SinkKind::Json => {
                foreign("transport", self.transport.is_some());
                foreign("address", self.address.is_some());
                foreign("facility", self.facility.is_some());
                if self.path.is_some() == self.socket.is_some() {
                    out.push(format!(
                        "{at}: a json sink needs exactly one of path, socket"
                    ));
                }
            }
            SinkKind::Syslog => {
                foreign("path", self.path.is_some());
                foreign("socket", self.socket.is_some());
                if self.facility_code().is_none() {
                    out.push(format!(
                        "{at}: unknown facility {:?}",
                        self.facility.as_deref().unwrap_or_default()
                    ));
                }
                let t = self.transport.unwrap_or_default();
                if t != Transport::Unix && self.address.is_none() {
                    out.push(format!("{at}: udp and tcp transports need an address"));
                }
            }
            SinkKind::Redis | SinkKind::Kafka => {
                for (key, set) in [
                    ("path", self.path.is_some()),
                    ("socket", self.socket.is_some()),
                    ("transport", self.transport.is_some()),
                    ("address", self.address.is_some()),
                    ("facility", self.facility.is_some()),
                ] {
                    foreign(key, set);
                }
            }
        }
        out.extend(self.broker_problems(at));
        out
    }

    /// The keys of the redis and kafka sinks: each on its own type only, and its value.
    fn broker_problems(&self, at: &str) -> Vec<String> {
        use SinkKind::{Kafka, Redis};
        let mut out = Vec::new();
        let keys: [(&str, bool, &[SinkKind]); 20] = [
            ("url", self.url.is_some(), &[Redis]),
            ("server", self.server.is_some(), &[Redis]),
            ("port", self.port.is_some(), &[Redis]),
            ("db", self.db.is_some(), &[Redis]),
            ("mode", self.mode.is_some(), &[Redis]),
            ("key", self.key.is_some(), &[Redis, Kafka]),
            ("maxlen", self.maxlen.is_some(), &[Redis]),
            ("batch", self.batch.is_some(), &[Redis]),
            ("username", self.username.is_some(), &[Redis, Kafka]),
            (
                "password_file",
                self.password_file.is_some(),
                &[Redis, Kafka],
            ),
            ("password_env", self.password_env.is_some(), &[Redis, Kafka]),
            ("brokers", self.brokers.is_some(), &[Kafka]),
            ("topic", self.topic.is_some(), &[Kafka]),
            ("compression", self.compression.is_some(), &[Kafka]),
            ("acks", self.acks.is_some(), &[Kafka]),
            (
                "security_protocol",
                self.security_protocol.is_some(),
                &[Kafka],
            ),
            ("ca_file", self.ca_file.is_some(), &[Redis, Kafka]),
            ("sasl_mechanism", self.sasl_mechanism.is_some(), &[Kafka]),
            (
                "message_timeout_ms",
                self.message_timeout_ms.is_some(),
                &[Kafka],
            ),
            ("tls", self.tls.is_some(), &[Redis]),
        ];
        for (key, set, kinds) in keys {
            if set && !kinds.contains(&self.kind) {
                out.push(format!("{at}: key {key} does not apply to this sink type"));
            }
        }
        if !matches!(self.kind, Redis | Kafka) {
            return out;
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            out.push(format!(
                "{at}: give one of password_file, password_env, not both"
            ));
        }
        if let Err(e) = self.password() {
            out.push(format!("{at}: {e}"));
        }
        match self.kind {
            Redis => {
                if self.url.is_some()
                    && (self.server.is_some() || self.port.is_some() || self.db.is_some())
                {
                    out.push(format!("{at}: give url, or server/port/db, not both"));
                }
                if let Some(u) = &self.url {
                    if let Err(e) = redis_url_problem(u) {
                        out.push(format!("{at}: url {:?}: {e}", redacted(u)));
                    }
                }
                if self.db.is_some_and(|d| d < 0) {
                    out.push(format!("{at}: db must be 0 or more"));
                }
                if self.maxlen == Some(0) {
                    out.push(format!(
                        "{at}: maxlen must be at least 1 (it is how many entries the stream keeps)"
                    ));
                }
                if self.maxlen.is_some() && self.redis_mode() != RedisMode::Stream {
                    out.push(format!("{at}: maxlen applies to mode = \"stream\" only"));
                }
                if self.batch.is_some_and(|b| b == 0 || b > MAX_BATCH) {
                    out.push(format!("{at}: batch must be 1..={MAX_BATCH}"));
                }
                if self.ca_file.is_some() && !self.redis_tls() {
                    out.push(format!(
                        "{at}: ca_file needs tls = true (or a rediss:// url)"
                    ));
                }
                if self.key.as_deref().is_some_and(|k| k.is_empty()) {
                    out.push(format!("{at}: key must not be empty"));
                }
            }
            Kafka => {
                if !cfg!(feature = "kafka") {
                    out.push(format!(
                        "{at}: this iocd was built without the kafka feature (cargo build --features kafka)"
                    ));
                }
                let brokers = self.brokers.as_deref().unwrap_or_default();
                if brokers.is_empty() || brokers.iter().any(|b| b.trim().is_empty()) {
                    out.push(format!(
                        "{at}: brokers must list at least one host:port, e.g. brokers = [\"kafka1:9092\"]"
                    ));
                }
                if self.topic.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    out.push(format!("{at}: a kafka sink needs a topic"));
                }
                if let Err(e) = self.kafka_key() {
                    out.push(format!("{at}: {e}"));
                }
                if let Some(a) = &self.acks {
                    if !["0", "1", "all", "-1"].contains(&a.as_str()) {
                        out.push(format!("{at}: acks {a:?}: write \"0\", \"1\" or \"all\""));
                    }
                }
                if let Some(m) = &self.sasl_mechanism {
                    if !SASL_MECHANISMS.contains(&m.as_str()) {
                        out.push(format!(
                            "{at}: sasl_mechanism {m:?}: one of {}",
                            SASL_MECHANISMS.join(", ")
                        ));
                    }
                }
                let sasl = self.security_protocol.unwrap_or_default().sasl();
                if sasl
                    && (self.username.is_none()
                        || self.password_file.is_none() && self.password_env.is_none())
                {
                    out.push(format!(
                        "{at}: security_protocol {} needs username and password_file or password_env",
                        self.security_protocol.unwrap_or_default().as_str()
                    ));
                }
                if !sasl && (self.sasl_mechanism.is_some() || self.username.is_some()) {
                    out.push(format!(
                        "{at}: username and sasl_mechanism need security_protocol = \"sasl_plaintext\" or \"sasl_ssl\""
                    ));
                }
                if self.message_timeout_ms == Some(0) {
                    out.push(format!("{at}: message_timeout_ms must be at least 1"));
                }
            }
            _ => {}
        }
        if let Some(ca) = &self.ca_file {
            if let Err(e) = std::fs::File::open(ca) {
                out.push(format!("{at}: ca_file {}: {e}", ca.display()));
            }
        }
        out
    }

    /// A redis sink connects with TLS: `tls = true` or a `rediss://` url.
    pub fn redis_tls(&self) -> bool {
        self.tls == Some(true)
            || self
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("rediss://"))
    }

    /// A redis sink's mode; `stream` when unset.
    pub fn redis_mode(&self) -> RedisMode {
        self.mode.unwrap_or_default()
    }

    /// A kafka sink's message key.
    pub fn kafka_key(&self) -> Result<KafkaKey, String> {
        match self.key.as_deref() {
            None | Some("community_id") => Ok(KafkaKey::CommunityId),
            Some("src_ip") => Ok(KafkaKey::SrcIp),
            Some("none") => Ok(KafkaKey::None),
            Some(k) => Err(format!(
                "key {k:?}: a kafka sink's key is community_id, src_ip or none"
            )),
        }
    }

    /// The password from `password_file` (its first line) or `password_env`; `None` when
    /// neither is given.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(p) = &self.password_file {
            use std::io::Read as _;
            let mut text = String::new();
            std::fs::File::open(p)
                .and_then(|f| f.take(MAX_PASSWORD_FILE).read_to_string(&mut text))
                .map_err(|e| format!("password_file {}: {e}", p.display()))?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                return Err(format!(
                    "password_file {}: empty (the password is its first line)",
                    p.display()
                ));
            }
            return Ok(Some(line.to_owned()));
        }
        if let Some(v) = &self.password_env {
            return match std::env::var(v) {
                Ok(p) if !p.is_empty() => Ok(Some(p)),
                _ => Err(format!(
                    "password_env {v}: the environment variable is not set (or empty)"
                )),
            };
        }
        Ok(None)
    }
}

/// `u` with the password of its user part (if any) written as `***`, to name it in a message.
fn redacted(u: &str) -> String {
    let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}{user}:***@{host}{}", &rest[end..])
        }
        None => u.to_owned(),
    }
}

/// What is wrong with a redis `url`: its scheme, or a password written in it.
fn redis_url_problem(u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("redis://")
        .or_else(|| u.strip_prefix("rediss://"))
        .ok_or("write redis://host:port/db (rediss:// for TLS)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if userinfo.contains(':') {
            return Err(
                "a password in the url would sit in the config text; give password_file or password_env".into(),
            );
        }
    }
    if authority.is_empty() {
        return Err("no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<SinkConfig> {
        crate::config::Config::parse(text).unwrap().sinks
    }

    #[test]
    fn every_key_parses_and_defaults_apply() {
        let s = parse(
            "[[sinks]]\ntype = \"syslog\"\nname = \"siem\"\nqueue = 10\non_full = \"block\"\nformat = \"rfc3164\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:514\"\nfacility = \"local7\"\n[[sinks]]\ntype = \"json\"\nsocket = \"/run/x.sock\"\n",
        );
        assert_eq!(s[0].queue, 10);
        assert_eq!(s[0].on_full, OnFull::Block);
        assert_eq!(s[0].syslog_format(), SyslogFormat::Rfc3164);
        assert_eq!(s[0].payload(), Payload::Iocd);
        assert_eq!(s[0].transport, Some(Transport::Tcp));
        assert_eq!(s[0].facility_code(), Some(23));
        assert!(s[0].problems("s").is_empty());
        assert_eq!(s[1].queue, DEFAULT_QUEUE);
        assert_eq!(s[1].on_full, OnFull::Drop);
        assert_eq!(s[1].display_name(1), "json1");
        assert!(s[1].problems("s").is_empty());
        let d = parse("[[sinks]]\ntype = \"syslog\"\n");
        assert_eq!(d[0].facility_code(), Some(16), "local0");
        assert!(
            d[0].problems("s").is_empty(),
            "unix /dev/log needs no address"
        );
    }

    #[test]
    fn payload_is_format_on_json_sinks_and_payload_on_both() {
        let s = parse(
            "[[sinks]]\ntype = \"json\"\npath = \"a\"\nformat = \"eve\"\n[[sinks]]\ntype = \"json\"\npath = \"b\"\npayload = \"ecs\"\n[[sinks]]\ntype = \"syslog\"\nformat = \"rfc3164\"\npayload = \"eve\"\n[[sinks]]\ntype = \"json\"\npath = \"c\"\n",
        );
        let got: Vec<Payload> = s.iter().map(SinkConfig::payload).collect();
        assert_eq!(
            got,
            [Payload::Eve, Payload::Ecs, Payload::Eve, Payload::Iocd]
        );
        assert_eq!(s[2].syslog_format(), SyslogFormat::Rfc3164);
        assert!(s.iter().all(|c| c.problems("s").is_empty()));
        // A header on a json sink, a payload in a syslog sink's format, a contradiction.
        let s = parse("[[sinks]]\ntype = \"json\"\npath = \"a\"\nformat = \"rfc5424\"\n[[sinks]]\ntype = \"syslog\"\nformat = \"eve\"\n[[sinks]]\ntype = \"json\"\npath = \"a\"\nformat = \"eve\"\npayload = \"ecs\"\n");
        let p0 = s[0].problems("sinks[0]");
        assert!(p0[0].contains("syslog header"), "{p0:?}");
        let p1 = s[1].problems("sinks[1]");
        assert!(p1[0].contains("payload = \"eve\""), "{p1:?}");
        assert!(s[2].problems("s")[0].contains("disagree"));
        let e = crate::config::Config::parse(
            "[[sinks]]\ntype = \"json\"\npath = \"a\"\nformat = \"cef\"\n",
        )
        .unwrap_err();
        assert!(e.contains("cef"), "{e}");
    }

    #[test]
    fn wrong_values_are_named() {
        let e = crate::config::Config::parse("[[sinks]]\ntype = \"kafca\"\n").unwrap_err();
        assert!(e.contains("kafca"), "{e}");
        let e =
            crate::config::Config::parse("[[sinks]]\ntype = \"json\"\npaht = \"x\"\n").unwrap_err();
        assert!(e.contains("paht"), "{e}");
        let s = parse("[[sinks]]\ntype = \"syslog\"\nfacility = \"local9\"\nqueue = 0\n");
        let p = s[0].problems("sinks[0]");
        assert_eq!(p.len(), 2, "{p:?}");
        let s = parse("[[sinks]]\ntype = \"json\"\npath = \"a\"\nsocket = \"b\"\n");
        assert_eq!(s[0].problems("s").len(), 1);
    }

    #[test]
    fn broker_sinks_name_the_sink_and_key() {
        let s = parse(
            "[[sinks]]\ntype = \"redis\"\nmaxlen = 0\nbatch = 0\naddress = \"x\"\ntopic = \"t\"\n",
        );
        let p = s[0].problems("sinks[0]").join("\n");
        for want in [
            "sinks[0]: maxlen",
            "sinks[0]: batch",
            "key address",
            "key topic",
        ] {
            assert!(p.contains(want), "{want}: {p}");
        }
        let e = crate::config::Config::parse("[[sinks]]\ntype = \"redis\"\nmode = \"hash\"\n")
            .unwrap_err();
        assert!(e.contains("hash"), "{e}");
        let s = parse("[[sinks]]\ntype = \"redis\"\nmode = \"list\"\nmaxlen = 5\npassword_file = \"/nonexistent/pw\"\n[[sinks]]\ntype = \"redis\"\nurl = \"redis://u:pw@h/0\"\n[[sinks]]\ntype = \"redis\"\npassword_env = \"IOCD_TEST_UNSET_VARIABLE\"\n");
        let p = s[0].problems("sinks[0]").join("\n");
        assert!(
            p.contains("stream\" only") && p.contains("password_file /nonexistent/pw"),
            "{p}"
        );
        assert!(s[1].problems("s")[0].contains("password in the url"));
        assert!(s[2].problems("s")[0].contains("IOCD_TEST_UNSET_VARIABLE"));
        let s = parse("[[sinks]]\ntype = \"kafka\"\nbrokers = []\nkey = \"dst_ip\"\nacks = \"2\"\nsasl_mechanism = \"GSSAPI\"\n");
        let p = s[0].problems("sinks[0]").join("\n");
        for want in [
            "brokers must list",
            "needs a topic",
            "dst_ip",
            "acks \"2\"",
            "GSSAPI",
            "need security_protocol",
        ] {
            assert!(p.contains(want), "{want}: {p}");
        }
        let s = parse("[[sinks]]\ntype = \"kafka\"\nbrokers = [\"127.0.0.1:9092\"]\ntopic = \"ioa\"\nformat = \"ecs\"\n");
        assert!(s[0].problems("s").is_empty(), "{:?}", s[0].problems("s"));
        assert_eq!(s[0].payload(), Payload::Ecs);
        assert_eq!(s[0].kafka_key(), Ok(KafkaKey::CommunityId));
        assert_eq!(s[0].display_name(2), "kafka2");
    }
}
