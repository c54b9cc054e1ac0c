//! The Prometheus endpoint of `iocd run` (`[metrics] listen`): `GET /metrics` answers with
//! the text exposition format 0.0.4 (which OpenMetrics scrapers read too).
//!
//! The page is rendered by the control loop about once a second from the same values as the
//! stats record ([`render`], from a [`StatsRecord`]), and stored whole ([`Page`]); the server
//! thread ([`serve`], on a thread that pipeline.rs starts) only copies the latest page out. So a
//! scrape never touches the hot path or takes a lock a worker holds, and the scraped numbers
//! are the stats record's. Every counter of the [`crate::counters!`] structs appears through
//! [`Counters::each`]: a counter added there is exported without an edit here.
//!
//! Why hand-written: the exposition format is a few lines of text per sample, and our values
//! are snapshots of counters that live elsewhere; `prometheus-client` wants metric objects
//! registered once and updated in place, which would mean copying every counter into them each
//! second for the same output. Why not hyper: one GET on one path, one request at a time, is a
//! few dozen lines over `std::net`, against a large dependency tree in a daemon that must stay
//! lean. The server is bounded: one connection at a time, the request head read up to
//! [`MAX_REQUEST_HEAD`], every read and write within [`IO_TIMEOUT`].

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::stats::{Counters, StatsRecord};

/// Longest request head read: a Prometheus scrape's is ~250 bytes (request line, Host,
/// User-Agent, Accept, X-Prometheus-Scrape-Timeout-Seconds); 8 KiB is the common server limit
/// (nginx's large_client_header_buffers line size, Apache's LimitRequestLine).
pub const MAX_REQUEST_HEAD: usize = 8192;
/// Longest a connection may take to send its head or read the page: under Prometheus' default
/// scrape timeout (10 s), so a stalled client frees the one slot before the next scrape.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the server looks at the stop flag while no one connects.
const POLL: Duration = Duration::from_millis(200);
/// The content type of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters of the stats structs that are gauges (a level, not a running count), by their
/// exported name without the `iocd_` prefix.
const GAUGES: &[&str] = &["suppression_entries"];

/// The latest rendered page and the server's own counts.
#[derive(Debug, Default)]
pub struct Page {
    text: ArcSwap<String>,
    /// Requests answered 200.
    pub served: AtomicU64,
    /// Requests answered 4xx, or dropped: head too long, timed out, not HTTP.
    pub refused: AtomicU64,
}

impl Page {
    pub fn store(&self, text: String) {
        self.text.store(Arc::new(text));
    }

    /// The page as served: the rendered text and the server's own counters.
    pub fn body(&self) -> String {
        let mut out = String::from(self.text.load().as_str());
        family(
            &mut out,
            "iocd_metrics_requests_total",
            "counter",
            "Requests to this endpoint, by outcome (refused: not GET /metrics, too long, timed out).",
        );
        let _ = writeln!(
            out,
            "iocd_metrics_requests_total{{outcome=\"served\"}} {}",
            self.served.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "iocd_metrics_requests_total{{outcome=\"refused\"}} {}",
            self.refused.load(Relaxed)
        );
        out
    }
}

/// A feed as the page shows it: its name, and its file (for its age) if it has one.
#[derive(Debug, Clone)]
pub struct FeedGauge {
    pub name: String,
    pub path: Option<PathBuf>,
    /// Indicators of the feed in the set in force.
    pub indicators: usize,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format asks (backslash, double quote, newline).
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A per-sink family: name, type, help, and how to read it.
type SinkFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::stats::SinkStats) -> u64,
);

/// Samples of one family: `(labels, value)`.
type Samples = Vec<(String, u64)>;

/// One metric family made from a counters struct: its name, the field's doc comment, samples.
struct Family {
    name: String,
    help: Option<String>,
    samples: Samples,
}

/// Every count of `c` as families named `iocd_{prefix}_{path}` (`_total` unless a gauge),
/// with `label` (e.g. `thread="1"`) on each sample; a tally's keys become a `kind` label.
fn each_family<C: Counters>(c: &C, prefix: &str, label: &str, into: &mut Vec<Family>) {
    c.each(&mut Vec::new(), &mut |path, v, tallied| {
        let (names, key) = if tallied {
            (&path[..path.len() - 1], path.last().copied())
        } else {
            (path, None)
        };
        let mut base = String::from(prefix);
        for p in names {
            base.push('_');
            base.push_str(p);
        }
        let name = if GAUGES.contains(&base.as_str()) {
            format!("iocd_{base}")
        } else {
            format!("iocd_{base}_total")
        };
        let mut labels: Vec<String> = Vec::new();
        if !label.is_empty() {
            labels.push(label.to_owned());
        }
        if let Some(k) = key {
            labels.push(format!("kind=\"{}\"", esc(k)));
        }
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        match into.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, v)),
            None => into.push(Family {
                help: C::doc(names),
                name,
                samples: vec![(labels, v)],
            }),
        }
    });
}

/// Write `fams`, each with its field's doc comment as HELP (else `what` and the name).
fn write_families(out: &mut String, fams: &[Family], what: &str) {
    for f in fams {
        let name = &f.name;
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let help = match &f.help {
            // HELP is one line; a backslash is escaped (the format's only other escape).
            Some(d) => format!("{what}: {}", d.replace('\\', "\\\\")),
            None => format!(
                "{what}: {}.",
                name.trim_start_matches("iocd_")
                    .trim_end_matches("_total")
                    .replace('_', " ")
            ),
        };
        family(out, name, kind, &help);
        for (labels, v) in &f.samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    }
}

/// The page for a stats record and the feeds in force.
pub fn render(rec: &StatsRecord, feeds: &[FeedGauge]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let sensor = esc(&rec.sensor);
    let iface = esc(&rec.interface);
    family(
        &mut out,
        "iocd_info",
        "gauge",
        "The sensor: name, interface, version (always 1).",
    );
    let _ = writeln!(
        out,
        "iocd_info{{sensor=\"{sensor}\",interface=\"{iface}\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let mut one = |name: &str, kind: &str, help: &str, v: u64| {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    };
    one(
        "iocd_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        rec.uptime_s,
    );
    one(
        "iocd_packets_total",
        "counter",
        "Frames read by the capture threads.",
        rec.packets,
    );
    one(
        "iocd_bytes_total",
        "counter",
        "Bytes on the wire of the frames read.",
        rec.bytes,
    );
    one(
        "iocd_received_total",
        "counter",
        "Packets the kernel passed to the capture sockets (dropped ones included).",
        rec.received,
    );
    one(
        "iocd_indicators",
        "gauge",
        "Indicators in the set in force.",
        rec.indicators as u64,
    );
    family(
        &mut out,
        "iocd_drops_total",
        "counter",
        "Packets or events lost, by cause: kernel (ring full), interface (NIC/driver), queue_full (a worker's queue), sink (a sink's queue or errors).",
    );
    let d = &rec.drops;
    for (cause, v) in [
        ("kernel", d.kernel),
        ("interface", d.interface),
        ("queue_full", d.queue_full),
        ("sink", d.sink),
    ] {
        let _ = writeln!(out, "iocd_drops_total{{cause=\"{cause}\"}} {v}");
    }
    family(
        &mut out,
        "iocd_queue_depth",
        "gauge",
        "Batches waiting in each worker's queue.",
    );
    for (i, q) in rec.queue_depth.iter().enumerate() {
        let _ = writeln!(out, "iocd_queue_depth{{worker=\"{i}\"}} {q}");
    }
    family(
        &mut out,
        "iocd_reloads_total",
        "counter",
        "Feed reloads, by outcome (failed: a feed kept its last good entries, or the config was unreadable).",
    );
    let _ = writeln!(
        out,
        "iocd_reloads_total{{outcome=\"ok\"}} {}",
        rec.reloads.ok
    );
    let _ = writeln!(
        out,
        "iocd_reloads_total{{outcome=\"failed\"}} {}",
        rec.reloads.failed
    );
    if let Some(t) = rec
        .reloads
        .last
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
    {
        family(
            &mut out,
            "iocd_last_reload_timestamp_seconds",
            "gauge",
            "End of the last reload, Unix seconds.",
        );
        let _ = writeln!(out, "iocd_last_reload_timestamp_seconds {}", t.as_secs());
    }
    // Per sink.
    let sink_fams: [SinkFamily; 4] = [
        (
            "iocd_sink_sent_total",
            "counter",
            "Events written by each sink.",
            |s| s.sent,
        ),
        (
            "iocd_sink_dropped_total",
            "counter",
            "Events each sink lost (queue full, errors, left at shutdown).",
            |s| s.dropped,
        ),
        (
            "iocd_sink_errors_total",
            "counter",
            "Failed I/O operations of each sink.",
            |s| s.errors,
        ),
        (
            "iocd_sink_queued",
            "gauge",
            "Events waiting in each sink's queue.",
            |s| s.queued,
        ),
    ];
    for (name, kind, help, get) in sink_fams {
        family(&mut out, name, kind, help);
        for s in &rec.sinks {
            let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", esc(&s.name), get(s));
        }
    }
    // Per feed.
    family(
        &mut out,
        "iocd_feed_indicators",
        "gauge",
        "Indicators of each feed in the set in force.",
    );
    for f in feeds {
        let _ = writeln!(
            out,
            "iocd_feed_indicators{{feed=\"{}\"}} {}",
            esc(&f.name),
            f.indicators
        );
    }
    family(
        &mut out,
        "iocd_feed_age_seconds",
        "gauge",
        "Seconds since each feed's file was last modified.",
    );
    let now = SystemTime::now();
    for f in feeds {
        let age = f
            .path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .and_then(|m| m.modified().ok())
            .map(|m| now.duration_since(m).unwrap_or_default().as_secs());
        if let Some(age) = age {
            let _ = writeln!(
                out,
                "iocd_feed_age_seconds{{feed=\"{}\"}} {age}",
                esc(&f.name)
            );
        }
    }
    // Every counter of the counters! structs.
    let mut fams = Vec::new();
    for (i, c) in rec.capture.iter().enumerate() {
        each_family(c, "capture", &format!("thread=\"{i}\""), &mut fams);
    }
    write_families(&mut out, &fams, "Capture thread counter");
    let mut fams = Vec::new();
    each_family(&rec.workers, "worker", "", &mut fams);
    write_families(&mut out, &fams, "Worker counter, summed over the workers");
    if let Some(s) = &rec.suppression {
        let mut fams = Vec::new();
        each_family(s, "suppression", "", &mut fams);
        write_families(&mut out, &fams, "Alert suppression");
    }
    out
}

/// Serve `page` on `listener` until `stop` is set: one connection at a time.
pub fn serve(listener: TcpListener, page: &Page, stop: &AtomicBool) {
    use std::os::fd::AsFd as _;
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("metrics endpoint: {e}; not serving");
        return;
    }
    let poll_ms = u16::try_from(POLL.as_millis()).unwrap_or(u16::MAX);
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                if answer(conn, page) {
                    page.served.fetch_add(1, Relaxed);
                } else {
                    page.refused.fetch_add(1, Relaxed);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [nix::poll::PollFd::new(
                    listener.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(poll_ms));
            }
            Err(e) => {
                tracing::warn!("metrics endpoint: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Read one request head and answer it; true when the page was sent.
fn answer(mut conn: TcpStream, page: &Page) -> bool {
    if conn.set_nonblocking(false).is_err()
        || conn.set_read_timeout(Some(IO_TIMEOUT)).is_err()
        || conn.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return false;
    }
    let started = std::time::Instant::now();
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if head.len() >= MAX_REQUEST_HEAD || started.elapsed() >= IO_TIMEOUT {
            let _ = respond(
                &mut conn,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request head too long\n",
            );
            return false;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(
                &buf[..n.min(MAX_REQUEST_HEAD - head.len().min(MAX_REQUEST_HEAD))],
            ),
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    if method != b"GET" {
        let _ = respond(
            &mut conn,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        );
        return false;
    }
    if path != b"/metrics" {
        let _ = respond(&mut conn, "404 Not Found", "text/plain", "try /metrics\n");
        return false;
    }
    respond(&mut conn, "200 OK", CONTENT_TYPE, &page.body()).is_ok()
}

fn respond(conn: &mut TcpStream, status: &str, ctype: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{LiveStats, SinkStats, SuppressStats, WorkerStats};

    fn record() -> StatsRecord {
        let mut w = WorkerStats {
            packets: 10,
            matches: 3,
            ..Default::default()
        };
        w.flows.created = 2;
        w.observables.0.insert("tls.sni", 4);
        StatsRecord {
            sensor: Arc::from("s\"1"),
            interface: "eth1".into(),
            packets: 12,
            workers: w,
            queue_depth: vec![0, 5],
            sinks: vec![SinkStats {
                name: "events".into(),
                sent: 7,
                dropped: 1,
                errors: 0,
                queued: 2,
            }],
            capture: vec![
                LiveStats {
                    packets: 5,
                    kernel_drops: 1,
                    ..Default::default()
                },
                LiveStats {
                    packets: 7,
                    ..Default::default()
                },
            ],
            suppression: Some(SuppressStats {
                entries: 3,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_counter_is_a_sample_with_help_and_type() {
        let text = render(
            &record(),
            &[FeedGauge {
                name: "f".into(),
                path: None,
                indicators: 9,
            }],
        );
        for line in [
            "iocd_packets_total 12",
            "iocd_worker_packets_total 10",
            "iocd_worker_matches_total 3",
            "iocd_worker_flows_created_total 2",
            "iocd_worker_observables_total{kind=\"tls.sni\"} 4",
            "iocd_capture_packets_total{thread=\"0\"} 5",
            "iocd_capture_packets_total{thread=\"1\"} 7",
            "iocd_capture_kernel_drops_total{thread=\"0\"} 1",
            "iocd_queue_depth{worker=\"1\"} 5",
            "iocd_sink_sent_total{sink=\"events\"} 7",
            "iocd_sink_queued{sink=\"events\"} 2",
            "iocd_feed_indicators{feed=\"f\"} 9",
            "iocd_suppression_entries 3",
            "iocd_info{sensor=\"s\\\"1\",interface=\"eth1\",version=\"",
            "# TYPE iocd_suppression_entries gauge",
            "# TYPE iocd_worker_flows_created_total counter",
            "# HELP iocd_worker_flows_created_total Worker counter, summed over the workers: Entries created (a SYN, or the first payload of an unknown flow).",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // One HELP and TYPE per family, each before its samples.
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                assert!(
                    typed.insert(rest.split(' ').next().unwrap().to_owned()),
                    "{l}"
                );
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} has no TYPE before it");
                if name.ends_with("_total") {
                    assert!(text.contains(&format!("# TYPE {name} counter")));
                }
            }
        }
        // Every worker counter is exported (a new one appears without an edit).
        let mut n = 0;
        record()
            .workers
            .each(&mut Vec::new(), &mut |_, _, _| n += 1);
        let exported = text
            .lines()
            .filter(|l| l.starts_with("iocd_worker_"))
            .count();
        assert_eq!(exported, n);
    }

    #[test]
    fn the_server_answers_get_metrics_refuses_the_rest_and_stops() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let page = Arc::new(Page::default());
        page.store("iocd_test 1\n".into());
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (page.clone(), stop.clone());
        let h = std::thread::spawn(move || serve(listener, &p, &s));
        let ask = |req: &[u8]| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(req).unwrap();
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            out
        };
        let ok = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE), "{ok}");
        assert!(ok.contains("\r\n\r\niocd_test 1\n"), "{ok}");
        assert!(ask(b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(ask(b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let long = [
            b"GET /metrics HTTP/1.1\r\nX: ".as_slice(),
            &[b'a'; MAX_REQUEST_HEAD],
        ]
        .concat();
        assert!(ask(&long).starts_with("HTTP/1.1 431"));
        let again = ask(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(
            again.contains("iocd_metrics_requests_total{outcome=\"served\"} 1"),
            "{again}"
        );
        assert!(
            again.contains("iocd_metrics_requests_total{outcome=\"refused\"} 3"),
            "{again}"
        );
        stop.store(true, Relaxed);
        h.join().unwrap();
    }
}
