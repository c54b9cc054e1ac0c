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
}

fn default_queue() -> usize {
    DEFAULT_QUEUE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Json,
    Syslog,
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
        }
    }

    /// The sink's name: `name`, else the type and its index among the sinks.
    pub fn display_name(&self, index: usize) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => match self.kind {
                SinkKind::Json => format!("json{index}"),
                SinkKind::Syslog => format!("syslog{index}"),
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
            (SinkKind::Json, None) => Some(format!(
                "{at}: format {f:?} is a syslog header; a json sink's format is iocd, eve or ecs"
            )),
            (SinkKind::Json, Some(p)) if self.payload.is_some_and(|q| q != p) => Some(format!(
                "{at}: format and payload disagree (give one of them)"
            )),
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
        }
        out
    }
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
        let e = crate::config::Config::parse("[[sinks]]\ntype = \"kafka\"\n").unwrap_err();
        assert!(e.contains("kafka"), "{e}");
        let e =
            crate::config::Config::parse("[[sinks]]\ntype = \"json\"\npaht = \"x\"\n").unwrap_err();
        assert!(e.contains("paht"), "{e}");
        let s = parse("[[sinks]]\ntype = \"syslog\"\nfacility = \"local9\"\nqueue = 0\n");
        let p = s[0].problems("sinks[0]");
        assert_eq!(p.len(), 2, "{p:?}");
        let s = parse("[[sinks]]\ntype = \"json\"\npath = \"a\"\nsocket = \"b\"\n");
        assert_eq!(s[0].problems("s").len(), 1);
    }
}
