//! Events as SIEMs ingest them (issue 12): every event's capture interface, application
//! protocol, direction, TLS version and DNS record type; replay output identical whatever the
//! number of workers; the EVE payload against Suricata's own schema and the ECS payload
//! against the ECS field definitions (both in `tests/data`, see its README).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, feed_line_for, strings, tshark_name_raw};

/// Every capture of the corpus, in name order; `None` (and a printed reason) when it is absent.
fn corpus_inputs() -> Option<Vec<PathBuf>> {
    let dir = util::corpus_dir()?;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        util::skip(&format!("{} is unreadable", dir.display()));
        return None;
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    Some(v)
}

/// A feed listing every address and name tshark found in the corpus: hundreds of events over
/// many flows, every protocol iocd reads.
fn corpus_feed(dir: &Path) -> PathBuf {
    let mut lines = BTreeSet::new();
    for t in util::truth(&util::corpus_path()) {
        for ip in strings(&t, "ips") {
            lines.insert(ip);
        }
        for key in [
            "dns_queries",
            "dns_response_names",
            "tls_sni",
            "quic_sni",
            "http_hosts",
        ] {
            for n in strings(&t, key) {
                lines.insert(feed_line_for(&tshark_name_raw(&n)));
            }
        }
    }
    let feed = dir.join("corpus.txt");
    let text: String = lines.into_iter().map(|l| l + "\n").collect();
    util::write_file(&feed, &text);
    feed
}

/// `iocd replay` of `inputs` with `config` and `--workers n`: stdout's bytes.
fn replay_bytes(config: &Path, n: u16, inputs: &[PathBuf]) -> Vec<u8> {
    let mut c = util::iocd();
    c.arg("replay")
        .arg("--config")
        .arg(config)
        .args(["--workers", &n.to_string()])
        .args(inputs);
    let out = util::run_with_timeout(c, std::time::Duration::from_secs(120));
    let code = out.status.code();
    // 0, or 3 when a corpus file is damaged at its end (one is, on purpose).
    assert!(
        matches!(code, Some(0 | 3)),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if n > 1 {
        // Every event waited its turn: none had to leave the reorder buffer early.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(", released early 0"), "{err}");
    }
    out.stdout
}

fn config(dir: &Path, name: &str, feed: &Path, extra: &str) -> PathBuf {
    let p = dir.join(name);
    util::write_file(
        &p,
        &format!(
            "sensor = \"s1\"\n{extra}\n[[feeds]]\nname = \"corpus\"\npath = \"{}\"\nallow_broad = true\n",
            feed.display()
        ),
    );
    p
}

#[test]
fn replay_output_is_byte_identical_with_one_or_four_workers_and_with_suppression() {
    let Some(inputs) = corpus_inputs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = corpus_feed(dir.path());
    let plain = config(dir.path(), "plain.toml", &feed, "");
    let suppressing = config(
        dir.path(),
        "suppress.toml",
        &feed,
        "home_net = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n[suppress]\nwindow = \"5s\"\n",
    );
    for cfg in [&plain, &suppressing] {
        let want = replay_bytes(cfg, 1, &inputs);
        let events = want.iter().filter(|&&b| b == b'\n').count();
        assert!(events > 300, "{events} events: too few to show an order");
        for (n, runs) in [(1u16, 1), (4, 3)] {
            for run in 0..runs {
                let got = replay_bytes(cfg, n, &inputs);
                if got != want {
                    let (a, b) = (
                        String::from_utf8_lossy(&want),
                        String::from_utf8_lossy(&got),
                    );
                    let at = a.lines().zip(b.lines()).position(|(x, y)| x != y);
                    panic!(
                        "{}: --workers {n} run {run} differs from --workers 1 at line {at:?}",
                        cfg.display()
                    );
                }
            }
        }
        // In packet order: the packet numbers of each file never go back.
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        let mut file_order = Vec::new();
        for l in String::from_utf8_lossy(&want).lines() {
            let e: Value = serde_json::from_str(l).unwrap();
            if e["suppressed"].is_u64() {
                continue; // a follow-up carries its first event's packet
            }
            let f = e["pcap"]["file"].as_str().unwrap().to_owned();
            let p = e["pcap"]["packet"].as_u64().unwrap();
            if file_order.last() != Some(&f) {
                assert!(!file_order.contains(&f), "{f} came back after another file");
                file_order.push(f.clone());
            }
            let prev = last.insert(f.clone(), p).unwrap_or(0);
            assert!(p >= prev, "{f}: packet {p} after {prev}");
        }
    }
}

/// The iocd events of the corpus replayed with `extra` in the config.
fn corpus_events(extra: &str) -> Option<Vec<Value>> {
    let inputs = corpus_inputs()?;
    let dir = tempfile::tempdir().unwrap();
    let feed = corpus_feed(dir.path());
    let cfg = config(dir.path(), "c.toml", &feed, extra);
    let out = replay_bytes(&cfg, 2, &inputs);
    Some(
        String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

#[test]
fn every_event_has_app_proto_and_tls_version_or_dns_rrtype_where_they_apply() {
    let Some(events) = corpus_events("") else {
        return;
    };
    let mut seen_proto = BTreeSet::new();
    for e in &events {
        let proto = e["flow"]["app_proto"].as_str().expect("flow.app_proto");
        seen_proto.insert(proto.to_owned());
        let at = e["observable"]["where"].as_str().unwrap();
        let obs = &e["observable"];
        let want = match at {
            w if w.starts_with("tls.") => Some("tls"),
            "quic.sni" => Some("quic"),
            "http.host" => Some("http"),
            w if w.starts_with("dns.") => Some("dns"),
            _ => None,
        };
        if let Some(p) = want {
            assert_eq!(proto, p, "{e}");
        }
        match at {
            // the TLS handshake's observables carry the version the ServerHello chose
            "tls.sni" | "quic.sni" | "tls.cert_name" | "tls.cert_sha1" | "tls.cert_sha256"
            | "tls.ja3s" | "tls.ja4s" => {
                let v = obs["tls_version"].as_str().expect("tls_version");
                assert!(v.starts_with("TLS 1.") || v == "SSLv3", "{e}");
            }
            "dns.query" | "dns.answer" | "dns.answer_ip" => {
                let t = obs["dns_rrtype"].as_str().expect("dns_rrtype");
                if at == "dns.answer_ip" {
                    let v4 = obs["value"].as_str().unwrap().contains('.');
                    assert_eq!(t, if v4 { "A" } else { "AAAA" }, "{e}");
                }
                if at == "dns.answer" {
                    assert!(t == "CNAME" || t == "DNAME", "{e}");
                }
            }
            _ => {
                assert!(obs.get("tls_version").is_none(), "{e}");
                assert!(obs.get("dns_rrtype").is_none(), "{e}");
            }
        }
        // No home_net in the config: no direction, whatever the default home_net says.
        assert!(e["flow"].get("direction").is_none(), "{e}");
    }
    for p in ["dns", "tls", "quic", "http", "unknown"] {
        assert!(seen_proto.contains(p), "no {p} event: {seen_proto:?}");
    }
    // The real Chrome hello of the corpus offers TLS 1.3; the MTU-300 one is a TLS 1.2 hello.
    let version_of = |file: &str| {
        events
            .iter()
            .filter(|e| {
                e["pcap"]["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(file))
            })
            .find(|e| e["observable"]["where"] == "tls.sni")
            .and_then(|e| e["observable"]["tls_version"].as_str().map(str::to_owned))
    };
    assert_eq!(
        version_of("sv-tls12-sni-clienthello-split-mtu300.pcap").as_deref(),
        Some("TLS 1.2")
    );
    assert_eq!(
        version_of("zk-tls13-sni-chrome-kyber-large-clienthello.pcap").as_deref(),
        Some("TLS 1.3")
    );
}

#[test]
fn direction_follows_an_explicit_home_net() {
    let Some(events) =
        corpus_events("home_net = [\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\"]")
    else {
        return;
    };
    let home = |ip: &str| {
        let a: std::net::IpAddr = ip.parse().unwrap();
        match a {
            std::net::IpAddr::V4(v) => v.is_private(),
            std::net::IpAddr::V6(_) => false,
        }
    };
    let mut seen = BTreeSet::new();
    for e in &events {
        let f = &e["flow"];
        let (s, d) = (
            home(f["src_ip"].as_str().unwrap()),
            home(f["dest_ip"].as_str().unwrap()),
        );
        let want = match (s, d) {
            (true, true) => "internal",
            (true, false) => "outbound",
            (false, true) => "inbound",
            (false, false) => "external",
        };
        assert_eq!(f["direction"], want, "{e}");
        seen.insert(want);
    }
    assert!(seen.len() >= 3, "{seen:?}");
}

#[test]
fn in_iface_is_the_pcapng_if_name_and_absent_for_classic_pcap() {
    let Some(events) = corpus_events("") else {
        return;
    };
    let iface_of = |file: &str| -> BTreeSet<Option<String>> {
        events
            .iter()
            .filter(|e| {
                e["pcap"]["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(file))
            })
            .map(|e| e["in_iface"].as_str().map(str::to_owned))
            .collect()
    };
    // if_name options read from the files themselves (see the corpus README for sources).
    assert_eq!(
        iface_of("rt-quic-v1-kyber-clienthello-2-initials.pcapng"),
        BTreeSet::from([Some("wlp26s0".to_owned())])
    );
    assert_eq!(
        iface_of("nd-quic-v2-sll.pcapng"),
        BTreeSet::from([Some("any".to_owned())])
    );
    // A pcapng whose IDB has no if_name, and a classic pcap: no field.
    assert_eq!(iface_of("nd-dns-pppoe-vlan.pcapng"), BTreeSet::from([None]));
    assert_eq!(
        iface_of("sv-tls12-sni-clienthello-split-mtu300.pcap"),
        BTreeSet::from([None])
    );
}

/// The corpus replayed into a json sink with `format`; its lines.
fn corpus_as(format: &str) -> Option<Vec<Value>> {
    let inputs = corpus_inputs()?;
    let dir = tempfile::tempdir().unwrap();
    let feed = corpus_feed(dir.path());
    let out = dir.path().join("out.json");
    let sink = format!(
        "home_net = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n[[sinks]]\ntype = \"json\"\npath = \"{}\"\nformat = \"{format}\"\non_full = \"block\"\n",
        out.display()
    );
    let cfg = config(dir.path(), "c.toml", &feed, &sink);
    replay_bytes(&cfg, 2, &inputs);
    let text = std::fs::read_to_string(&out).unwrap();
    let v: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(v.len() > 300, "{} records", v.len());
    Some(v)
}

fn schema(name: &str) -> Value {
    let p = util::root().join("tests/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn eve_alerts_validate_against_suricatas_schema() {
    let Some(records) = corpus_as("eve") else {
        return;
    };
    let published = schema("suricata-eve-schema-subset.json");
    let strict = jsonschema::validator_for(&published).unwrap();
    // The two documented extensions (tests/data/README.md): in_iface, and rule metadata keys
    // beyond ET's, each a list of strings as Suricata writes them.
    let mut extended = published.clone();
    extended["properties"]["in_iface"] = serde_json::json!({"type": "string"});
    extended["properties"]["alert"]["properties"]["metadata"]["additionalProperties"] =
        serde_json::json!({"type": "array", "items": {"type": "string"}});
    let lenient = jsonschema::validator_for(&extended).unwrap();
    let mut objects = BTreeSet::new();
    for r in &records {
        let errors: Vec<String> = lenient.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{r}");
        // Against the file as published, only those two differences show.
        for e in strict.iter_errors(r) {
            let at = e.instance_path().to_string();
            let msg = e.to_string();
            assert!(
                (at.is_empty() && msg.contains("in_iface")) || at == "/alert/metadata",
                "{at}: {msg}\n{r}"
            );
        }
        assert_eq!(r["event_type"], "alert");
        let sev = r["alert"]["severity"].as_u64().unwrap();
        assert!((1..=3).contains(&sev), "{r}");
        assert!(r["flow_id"].as_u64().unwrap() > 0);
        let md = &r["alert"]["metadata"];
        for key in [
            "feed",
            "indicator",
            "indicator_type",
            "match",
            "where",
            "severity",
        ] {
            assert!(md[key][0].is_string(), "metadata.{key}: {r}");
        }
        for o in ["dns", "tls", "quic", "http"] {
            if r.get(o).is_some() {
                objects.insert(o);
            }
        }
    }
    assert_eq!(objects.len(), 4, "protocol objects seen: {objects:?}");
    assert!(records.iter().any(|r| r["in_iface"] == "wlp26s0"));
    assert!(records.iter().any(|r| r["tls"]["version"] == "TLS 1.3"));
    assert!(records
        .iter()
        .any(|r| r["dns"]["query"][0]["rrtype"].is_string()));
}

/// Every leaf of `v` as (dotted path, value); arrays of scalars give one entry per element
/// under their own path, arrays of objects are walked with the array's path.
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, x, out);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => {
            out.push((prefix.to_owned(), Value::String("<objects>".into())));
            for x in a {
                leaves(prefix, x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push((prefix.to_owned(), x.clone()));
            }
        }
        x => out.push((prefix.to_owned(), x.clone())),
    }
}

#[test]
fn ecs_documents_use_only_ecs_fields_with_their_types() {
    let Some(docs) = corpus_as("ecs") else {
        return;
    };
    let defs = schema("ecs-fields-subset.json");
    let fields = defs["fields"].as_object().unwrap();
    let mut used = BTreeSet::new();
    for d in &docs {
        let mut ls = Vec::new();
        leaves("", d, &mut ls);
        for (path, v) in ls {
            if path.starts_with("iocd.") {
                continue; // our own namespace (see src/output/ecs.rs)
            }
            let ty = fields
                .get(&path)
                .unwrap_or_else(|| panic!("{path} is not an ECS field (of the subset)\n{d}"))
                ["type"]
                .as_str()
                .unwrap();
            let ok = match ty {
                "keyword" | "match_only_text" => v.is_string(),
                "long" => v.is_i64() || v.is_u64(),
                "ip" => v
                    .as_str()
                    .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
                "date" => v
                    .as_str()
                    .is_some_and(|s| humantime::parse_rfc3339(s).is_ok()),
                "object" => v == "<objects>",
                other => panic!("type {other} not handled"),
            };
            assert!(ok, "{path} ({ty}) = {v}\n{d}");
            used.insert(path);
        }
        assert_eq!(d["event"]["kind"], "alert");
        assert!(d["threat"]["feed"]["name"].is_string());
        assert!(d["threat"]["indicator"]["type"].is_string());
        // Direction with ECS's words only.
        let dir = d["network"]["direction"].as_str().unwrap();
        assert!(
            ["inbound", "outbound", "internal", "external"].contains(&dir),
            "{dir}"
        );
    }
    for f in [
        "observer.ingress.interface.name",
        "dns.question.type",
        "tls.version",
        "tls.client.server_name",
        "url.domain",
        "threat.indicator.ip",
        "threat.indicator.url.domain",
        "network.protocol",
    ] {
        assert!(used.contains(f), "{f} never written");
    }
}
