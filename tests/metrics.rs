//! `[metrics] listen`: `iocd run` (fanout capture, 2 threads) on the host end of a veth pair
//! while tcpreplay sends from inside a namespace; the endpoint is scraped on loopback and its
//! values compared with the stats record, checked by `promtool check metrics`, and scraped by
//! a real Prometheus server started here and queried through its HTTP API. Root, iproute2,
//! tcpreplay; promtool and prometheus (skipped with a reason if absent). Ports 23300-23399.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::fanout::{prereqs, wire_files};
use crate::live::{finish, lines, sent, signal, wait_exit, Daemon, BROAD_FEED};
use crate::util;
use crate::util::Veth;

const METRICS_PORT: u16 = 23310;
const PROMETHEUS_PORT: u16 = 23390;

/// A plain HTTP/1.0 GET (no chunking, the server closes); the status line and body.
fn get(port: u16, target: &str) -> Option<(String, String)> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(c, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// `name{labels}` → value, from the text format.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_endpoint_matches_the_stats_record_and_prometheus_scrapes_it() {
    if !prereqs() {
        return;
    }
    let Some(files) = wire_files() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let net = Veth::new("fo");
    util::write_file(&d.join("broad.txt"), BROAD_FEED);
    let events = d.join("events.json");
    util::write_file(
        &d.join("c.toml"),
        &format!(
            r#"sensor = "metrics-test"
workers = 2
[capture]
method = "af_packet"
threads = 2
[daemon]
user = "root"
[stats]
interval = "1s"
[suppress]
window = "0s"
[metrics]
listen = "127.0.0.1:{METRICS_PORT}"
[[sinks]]
name = "events"
type = "json"
path = "{}"
[[feeds]]
name = "broad"
path = "broad.txt"
allow_broad = true
"#,
            events.display()
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["run", "--config"])
        .arg(d.join("c.toml"))
        .args(["--interface", &net.host_if])
        .env_remove("IOCD_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut daemon = Daemon { child: Some(child) };
    let stderr = || std::fs::read_to_string(d.join("stderr.txt")).unwrap_or_default();
    assert!(
        util::wait_until(Duration::from_secs(20), || stderr().contains("READY")),
        "{}",
        stderr()
    );
    // Anything but GET /metrics is refused.
    let (status, _) = get(METRICS_PORT, "/").expect("the endpoint answers");
    assert!(status.contains("404"), "{status}");

    let out = finish(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.name,
                "tcpreplay",
                "-q",
                "-i",
                &net.ns_if,
            ])
            .args(["--pps", "1000"])
            .args(&files)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpreplay"),
    );
    let n_sent = sent(&out);
    let stats = || -> Vec<Value> {
        lines(&events)
            .into_iter()
            .filter(|e| e["event_type"] == "stats")
            .collect()
    };
    // Settled: three records in a row count the same packets, all processed; the page is
    // rendered each second from the same counters.
    assert!(
        util::wait_until(Duration::from_secs(30), || {
            let s = stats();
            s.len() >= 3 && {
                let t = &s[s.len() - 3..];
                t[0]["packets"] == t[2]["packets"]
                    && t[2]["workers"]["packets"] == t[2]["packets"]
                    && t[2]["packets"].as_u64() > Some(0)
            }
        }),
        "never settled: {:?}\n{}",
        stats().last(),
        stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (status, text) = get(METRICS_PORT, "/metrics").expect("scrape");
    assert!(status.contains("200"), "{status}");
    let rec = stats().last().unwrap().clone();
    let m = samples(&text);
    let val = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("{k} not scraped:\n{text}"))
    };
    let n = |v: &Value| v.as_u64().unwrap() as f64;
    println!("metrics: {n_sent} sent; record {rec}");
    assert_eq!(val("iocd_packets_total"), n(&rec["packets"]));
    assert_eq!(val("iocd_received_total"), n(&rec["received"]));
    assert_eq!(val("iocd_bytes_total"), n(&rec["bytes"]));
    assert_eq!(val("iocd_indicators"), n(&rec["indicators"]));
    assert!(val("iocd_feed_indicators{feed=\"broad\"}") > 0.0, "{text}");
    assert!(
        m.contains_key("iocd_feed_age_seconds{feed=\"broad\"}"),
        "{text}"
    );
    for cause in ["kernel", "interface", "queue_full", "sink"] {
        assert_eq!(
            val(&format!("iocd_drops_total{{cause=\"{cause}\"}}")),
            n(&rec["drops"][cause])
        );
    }
    assert_eq!(val("iocd_reloads_total{outcome=\"ok\"}"), 0.0);
    // Every worker counter of the record, by its path (tallies as a kind label).
    let w = rec["workers"].as_object().unwrap();
    let mut checked = 0;
    for (k, v) in w {
        match v {
            Value::Number(_) => {
                assert_eq!(val(&format!("iocd_worker_{k}_total")), n(v), "{k}");
                checked += 1;
            }
            Value::Object(o) => {
                for (k2, v2) in o {
                    let name = if k == "observables" || k == "tunnels" {
                        format!("iocd_worker_{k}_total{{kind=\"{k2}\"}}")
                    } else {
                        format!("iocd_worker_{k}_{k2}_total")
                    };
                    assert_eq!(val(&name), n(v2), "{name}");
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(checked > 40, "{checked}");
    assert!(val("iocd_worker_matches_total") > 0.0);
    // Per capture thread, as in the record.
    let threads = rec["capture"].as_array().unwrap();
    assert_eq!(threads.len(), 2);
    for (i, t) in threads.iter().enumerate() {
        for (k, v) in t.as_object().unwrap() {
            assert_eq!(
                val(&format!("iocd_capture_{k}_total{{thread=\"{i}\"}}")),
                n(v),
                "{k} of thread {i}"
            );
        }
    }
    assert!(
        m.contains_key("iocd_sink_sent_total{sink=\"events\"}"),
        "{text}"
    );
    assert!(m.contains_key("iocd_queue_depth{worker=\"1\"}"), "{text}");

    // promtool's own parser and lint.
    if util::have("promtool") {
        let mut c = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        util::skip("promtool not installed (scripts/setup --system-tests installs prometheus)");
    }

    // A real Prometheus scraping the sensor.
    if util::have("prometheus") {
        util::write_file(
            &d.join("prometheus.yml"),
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: iocd\n    static_configs:\n      - targets: [\"127.0.0.1:{METRICS_PORT}\"]\n"
            ),
        );
        let _prom = Killed(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    d.join("prometheus.yml").display()
                ))
                .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.join("prometheus.log")).unwrap())
                .spawn()
                .expect("prometheus"),
        );
        let want = n(&rec["packets"]);
        let mut last = String::new();
        let ok = util::wait_until(Duration::from_secs(60), || {
            let Some((_, body)) = get(PROMETHEUS_PORT, "/api/v1/query?query=iocd_packets_total")
            else {
                return false;
            };
            last = body;
            let v: Value = serde_json::from_str(&last).unwrap_or_default();
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                == Some(want)
        });
        assert!(
            ok,
            "prometheus never reported iocd_packets_total {want}: {last}\n{}",
            std::fs::read_to_string(d.join("prometheus.log")).unwrap_or_default()
        );
        let (_, body) = get(
            PROMETHEUS_PORT,
            "/api/v1/query?query=sum(iocd_capture_packets_total)",
        )
        .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["data"]["result"][0]["value"][1].as_str(),
            Some(want.to_string().as_str()),
            "{body}"
        );
        let (_, body) = get(PROMETHEUS_PORT, "/api/v1/targets").unwrap();
        assert!(body.contains("\"health\":\"up\""), "{body}");
    } else {
        util::skip("prometheus not installed (scripts/setup --system-tests)");
    }

    signal(pid, "TERM");
    assert_eq!(
        wait_exit(&mut daemon, Duration::from_secs(30)),
        Some(0),
        "no clean exit after SIGTERM: {}",
        stderr()
    );
    // The endpoint went with it.
    assert!(get(METRICS_PORT, "/metrics").is_none());
    drop(net);
}

#[test]
fn a_bad_or_busy_metrics_address_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    util::write_file(&d.join("f.txt"), "evil.test\n");
    let conf = |listen: &str| {
        let c = d.join("c.toml");
        util::write_file(
            &c,
            &format!(
                "[capture]\ninterface = \"lo\"\n[daemon]\nuser = \"root\"\n[metrics]\nlisten = \"{listen}\"\n[[sinks]]\ntype = \"json\"\npath = \"{}\"\n[[feeds]]\npath = \"f.txt\"\n",
                d.join("e.json").display()
            ),
        );
        c
    };
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(conf("localhost"));
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("metrics.listen"), "{err}");
    if !util::is_root() {
        util::skip("the busy-port case opens a capture on lo: needs root");
        return;
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:23311").unwrap();
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(conf("127.0.0.1:23311"));
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("metrics.listen") && err.contains("cannot listen"),
        "{err}"
    );
    drop(busy);
}
