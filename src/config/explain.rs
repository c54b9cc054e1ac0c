//! Config errors as a person needs them: one line per error, naming the line, the key (its full
//! TOML path, `sinks[1].type`), what was written, and the form expected, as a line to copy
//! (`interval = "60s"`) rather than serde's type ("expected a string").

use serde::de::DeserializeOwned;

/// A line to copy for each key, by its path without indices (`sinks.type` for `sinks[1].type`).
/// A key missing here still gets serde's own "expected ..." text.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("sensor", r#"sensor = "sensor-1""#),
    ("workers", "workers = 4"),
    ("home_net", r#"home_net = ["10.0.0.0/8", "192.168.0.0/16"]"#),
    ("suppress.window", r#"window = "60s""#),
    ("capture.interface", r#"interface = "eth1""#),
    ("capture.promiscuous", "promiscuous = true"),
    ("capture.snaplen", "snaplen = 262144"),
    ("capture.buffer_size", "buffer_size = 67108864"),
    ("capture.bpf", r#"bpf = "not port 22""#),
    ("capture.immediate", "immediate = false"),
    ("capture.timeout", r#"timeout = "100ms""#),
    ("daemon.user", r#"user = "iocd""#),
    ("daemon.group", r#"group = "iocd""#),
    ("stats.interval", r#"interval = "60s""#),
    ("tables.memory", r#"memory = "256MiB""#),
    ("sinks.type", r#"type = "json""#),
    ("sinks.name", r#"name = "events""#),
    ("sinks.queue", "queue = 8192"),
    ("sinks.on_full", r#"on_full = "drop""#),
    ("sinks.path", r#"path = "/var/log/iocd/events.json""#),
    ("sinks.socket", r#"socket = "/run/vector/iocd.sock""#),
    ("sinks.format", r#"format = "rfc5424""#),
    ("sinks.transport", r#"transport = "unix""#),
    ("sinks.address", r#"address = "siem.example:514""#),
    ("sinks.facility", r#"facility = "local0""#),
    ("feeds.name", r#"name = "feodo""#),
    (
        "feeds.path",
        r#"path = "/var/lib/iocd/feeds/ipblocklist.csv""#,
    ),
    ("feeds.format", r#"format = "plain""#),
    ("feeds.action", r#"action = "alert""#),
    ("feeds.match", r#"match = "subdomain""#),
    ("feeds.confidence", "confidence = 80"),
    ("feeds.severity", r#"severity = "high""#),
    ("feeds.tags", r#"tags = ["c2", "botnet"]"#),
    ("feeds.description", r#"description = "Botnet C2 servers""#),
    (
        "feeds.reference",
        r#"reference = "https://feodotracker.abuse.ch/""#,
    ),
    ("feeds.valid_from", r#"valid_from = "2024-01-01T00:00:00Z""#),
    ("feeds.valid_until", r#"valid_until = "2025-01-01""#),
    ("feeds.max_shrink", "max_shrink = 0.5"),
    ("feeds.max_bad_ratio", "max_bad_ratio = 0.1"),
    ("feeds.allow_broad", "allow_broad = false"),
    ("feeds.type", r#"type = "ja3""#),
    ("feeds.url_https", r#"url_https = "host""#),
    ("feeds.csv.delimiter", r#"delimiter = ",""#),
    ("feeds.csv.header", "header = true"),
    ("feeds.csv.comment", r##"comment = "#""##),
    ("feeds.csv.tag_separator", r#"tag_separator = ",""#),
    ("feeds.csv.columns.value", r#"value = "dst_ip""#),
    ("feeds.csv.columns.type", r#"type = "type""#),
    ("feeds.csv.columns.confidence", "confidence = 3"),
    ("feeds.csv.columns.severity", r#"severity = "severity""#),
    ("feeds.csv.columns.tags", r#"tags = "tags""#),
    (
        "feeds.csv.columns.description",
        r#"description = "malware""#,
    ),
    ("feeds.csv.columns.reference", r#"reference = "reference""#),
    (
        "feeds.csv.columns.valid_from",
        r#"valid_from = "first_seen_utc""#,
    ),
    (
        "feeds.csv.columns.valid_until",
        r#"valid_until = "expires""#,
    ),
    ("feeds.csv.columns.action", r#"action = "action""#),
    ("feeds.csv.columns.match", r#"match = "match""#),
    ("feeds.csv.columns.id", r#"id = "id""#),
    ("capture.method", r#"method = "af_packet""#),
    ("capture.threads", "threads = 4"),
    ("capture.fanout_group", "fanout_group = 4242"),
    ("metrics.listen", r#"listen = "127.0.0.1:9310""#),
    (
        "feeds.url",
        r#"url = "https://feodotracker.abuse.ch/downloads/ipblocklist.csv""#,
    ),
    ("feeds.refresh", r#"refresh = "1h""#),
    ("feeds.timeout", r#"timeout = "60s""#),
    ("feeds.max_bytes", "max_bytes = 268435456"),
    ("feeds.ca_file", r#"ca_file = "/etc/iocd/feed-ca.pem""#),
    ("feeds.zip_member", r#"zip_member = "full.csv""#),
    (
        "feeds.auth.bearer_file",
        r#"bearer_file = "/etc/iocd/secrets/feed.token""#,
    ),
    ("feeds.auth.basic_user", r#"basic_user = "iocd""#),
    (
        "feeds.auth.password_file",
        r#"password_file = "/etc/iocd/secrets/feed.password""#,
    ),
    ("feeds.auth.header", r#"header = "Authorization""#),
    (
        "feeds.auth.value_file",
        r#"value_file = "/etc/iocd/secrets/misp.key""#,
    ),
];

/// The line to copy for `path` (`sinks[1].type` → `type = "json"`).
pub fn example(path: &str) -> Option<&'static str> {
    let mut key = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => key.push(c),
            _ => {}
        }
    }
    EXAMPLES.iter().find(|(k, _)| *k == key).map(|(_, e)| *e)
}

/// A config that did not deserialize: the 1-based line when known, and one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Deserialize `text`, or say in one line what is wrong where.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ParseProblem> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| syntax(text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, written) = match inner.span() {
            Some(s) => (
                Some(line_of(text, s.start)),
                text.get(s).map(|w| w.trim().to_owned()),
            ),
            None => (None, None),
        };
        ParseProblem {
            line,
            message: sentence(&path, written.as_deref(), inner.message()),
        }
    })
}

/// A TOML syntax error: toml's message without its drawing of the line.
fn syntax(text: &str, e: &toml::de::Error) -> ParseProblem {
    ParseProblem {
        line: e.span().map(|s| line_of(text, s.start)),
        message: format!("not valid TOML: {}", e.message().trim()),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// `stats.interval = 60: expected a duration in quotes; write it as interval = "60s"`.
fn sentence(path: &str, written: Option<&str>, message: &str) -> String {
    let message = message.trim();
    // toml/serde: "unknown field `x`, expected one of `a`, `b`" — the path is the table's
    // (the key never got in).
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, known) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error has the key in the path already, or not (by version).
        let at = if path.is_empty() || path == "." {
            key.to_owned()
        } else if path == key || path.ends_with(&format!(".{key}")) {
            path.to_owned()
        } else {
            format!("{path}.{key}")
        };
        let known = known
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "");
        return format!("{at}: unknown key (a typo?); the keys here are {known}");
    }
    if message.starts_with("missing field `") {
        let key = message
            .trim_start_matches("missing field `")
            .trim_end_matches('`');
        let full = if path.is_empty() || path == "." {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        let hint = example(&full).map_or(String::new(), |e| format!(", e.g. {e}"));
        return format!("{full}: required key missing{hint}");
    }
    let shown = match written {
        Some(w) if !w.is_empty() && w.len() <= 60 && !w.contains('\n') => format!("{path} = {w}"),
        _ => path.to_owned(),
    };
    // A message that starts by quoting the value (`"60": time unit needed`) need not repeat it.
    let message = written
        .and_then(|w| message.strip_prefix(w))
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(message);
    let what = if let Some(rest) = message.strip_prefix("invalid type: ") {
        let found = rest.split(", expected ").next().unwrap_or(rest);
        format!("wrong type ({})", found.replace('`', ""))
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (_, allowed) = rest.split_once('`').unwrap_or(("", rest));
        let allowed = allowed
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "\"");
        format!("not one of {allowed}")
    } else {
        message.replace('`', "")
    };
    match example(path) {
        Some(e) => format!("{shown}: {what}; write it as {e}"),
        None => {
            // No example: keep serde's "expected ..." when there is one.
            let expected = message
                .split_once(", expected ")
                .map(|(_, e)| format!("; expected {}", e.replace('`', "")));
            format!("{shown}: {what}{}", expected.unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn problem(text: &str) -> ParseProblem {
        parse::<Config>(text).unwrap_err()
    }

    #[test]
    fn a_wrong_type_names_the_key_the_line_and_the_form_to_write() {
        let p = problem("sensor = \"a\"\n[stats]\ninterval = 60\n");
        assert_eq!(p.line, Some(3));
        assert_eq!(
            p.message,
            "stats.interval = 60: wrong type (integer 60); write it as interval = \"60s\""
        );
        let p = problem("[stats]\ninterval = \"60\"\n");
        assert!(p.message.starts_with("stats.interval = \"60\": "), "{p}");
        assert_eq!(p.message.matches("\"60\"").count(), 1, "{p}");
        assert!(p.message.ends_with("write it as interval = \"60s\""), "{p}");
        let p = problem("[[sinks]]\ntype = \"json\"\npath = \"-\"\n[[sinks]]\ntype = \"jsn\"\n");
        assert_eq!(p.line, Some(5));
        assert_eq!(
            p.message,
            "sinks[1].type = \"jsn\": not one of \"json\", \"syslog\", \"redis\", \"kafka\"; write it as type = \"json\""
        );
        let p = problem("workers = \"two\"\n");
        assert_eq!(
            p.message,
            "workers = \"two\": wrong type (string \"two\"); write it as workers = 4"
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_table_and_the_keys_allowed() {
        let p = problem("[capture]\ninterface = \"eth1\"\nintreface = \"eth2\"\n");
        assert_eq!(p.line, Some(3));
        assert!(
            p.message.starts_with("capture.intreface: unknown key"),
            "{p}"
        );
        assert!(p.message.contains("interface"), "{p}");
        let p = problem("workerz = 2\n");
        assert!(p.message.starts_with("workerz: unknown key"), "{p}");
    }

    #[test]
    fn a_missing_key_and_bad_syntax_are_one_line_each() {
        let p = problem("[[sinks]]\npath = \"-\"\n");
        assert_eq!(
            p.message,
            "sinks[0].type: required key missing, e.g. type = \"json\""
        );
        let p = problem("[stats\ninterval = \"60s\"\n");
        assert_eq!(p.line, Some(1));
        assert!(p.message.starts_with("not valid TOML: "), "{p}");
        for p in [p, problem("[stats]\ninterval = 60\n")] {
            assert!(!p.to_string().contains('\n'), "{p}");
        }
    }

    #[test]
    fn every_example_is_valid_where_it_belongs() {
        for (key, line) in EXAMPLES {
            let parts: Vec<&str> = key.split('.').collect();
            let (tables, _) = parts.split_at(parts.len() - 1);
            let arrays = ["sinks", "feeds"];
            let mut text = String::new();
            if !tables.is_empty() {
                let head = tables.join(".");
                if arrays.contains(&tables[0]) && tables.len() == 1 {
                    text.push_str(&format!("[[{head}]]\n"));
                } else if arrays.contains(&tables[0]) {
                    text.push_str(&format!("[[{}]]\npath = \"x\"\n[{head}]\n", tables[0]));
                } else {
                    text.push_str(&format!("[{head}]\n"));
                }
            }
            text.push_str(line);
            text.push('\n');
            if tables.first() == Some(&"sinks") && !key.ends_with(".type") {
                text.push_str("type = \"json\"\n");
            }
            if tables == ["feeds"] && !key.ends_with(".path") {
                text.push_str("path = \"x\"\n");
            }
            if tables == ["feeds", "csv"] {
                text.push_str("[feeds.csv.columns]\nvalue = 1\n");
            }
            let c = parse::<Config>(&text).unwrap_or_else(|e| panic!("{key}: {e}\n{text}"));
            drop(c);
        }
    }
}
