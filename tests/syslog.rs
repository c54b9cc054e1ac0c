//! Syslog sinks against a real rsyslog on loopback (skipped, with a reason, without rsyslogd).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use iocd::config::SinkConfig;
use iocd::output::Output;
use serde_json::Value;

use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth_ipv4, pcap_header, pcap_record, write_pcap, PROTO_UDP};
use crate::util::{self, dns_query_frames};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// An rsyslogd of the test's own: config, pid file, work directory and output in a tempdir;
/// UDP and TCP inputs on loopback. Killed on drop.
struct Rsyslog {
    dir: PathBuf,
    child: Option<Child>,
    udp: u16,
    tcp: u16,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let mut r = Rsyslog {
            dir: dir.to_owned(),
            child: None,
            udp: util::free_port(true),
            tcp: util::free_port(false),
        };
        let conf = format!(
            r#"global(workDirectory="{d}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="fields" type="string" string="%inputname%|%app-name%|%procid%|%msgid%|%syslogseverity%|%syslogfacility-text%|%structured-data%|%hostname%|%msg%\n")
*.* action(type="omfile" file="{d}/out.log" template="fields")
"#,
            d = dir.display(),
            udp = r.udp,
            tcp = r.tcp
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let tcp = self.tcp;
        assert!(
            util::wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok()
            }),
            "rsyslogd did not listen on {tcp}"
        );
    }

    /// SIGTERM and wait: rsyslogd flushes its queues and closes its connections.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .arg(c.id().to_string())
                .status()
                .unwrap();
            c.wait().unwrap();
        }
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("out.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

fn rsyslog_or_skip() -> bool {
    if !util::have(RSYSLOGD) {
        util::skip("rsyslogd not installed (scripts/setup --system-tests installs it)");
        return false;
    }
    true
}

#[test]
fn replay_to_rsyslog_over_udp_and_tcp_has_app_name_severity_sd_and_the_json_body() {
    if !rsyslog_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rs = Rsyslog::start(dir.path());
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        &format!(
            r#"sensor = "s1"
[[sinks]]
name = "udp"
type = "syslog"
transport = "udp"
address = "127.0.0.1:{}"
facility = "local3"
[[sinks]]
name = "tcp"
type = "syslog"
transport = "tcp"
format = "rfc5424"
address = "127.0.0.1:{}"
[[sinks]]
name = "file"
type = "json"
path = "events.json"
"#,
            rs.udp, rs.tcp
        ),
    );
    let feed = dir.path().join("f.txt");
    // A `"` or `]` cannot be in a feed domain; `\` can, written \092, and must be escaped in SD.
    util::write_file(&feed, "evil.test\n");
    let pcap = dir.path().join("q.pcap");
    let mut frames = dns_query_frames(3, "evil.test", 1_700_000_000_000_000, 10);
    let q = dns_query(9, "x.evil.test");
    let mut q2 = q.clone();
    // Turn the label "x" into "\" (0x5c).
    q2[13] = b'\\';
    frames.push((
        1_700_000_000_100_000,
        eth_ipv4([10, 0, 0, 6], [10, 0, 0, 53], PROTO_UDP, 999, 53, &q2),
    ));
    write_pcap(&pcap, 1, &frames);
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(
        util::sink_summary(&r.stderr(), "udp"),
        Some((4, 0, 0)),
        "{}",
        r.stderr()
    );
    assert_eq!(
        util::sink_summary(&r.stderr(), "tcp"),
        Some((4, 0, 0)),
        "{}",
        r.stderr()
    );
    assert!(
        util::wait_until(Duration::from_secs(10), || rs.lines().len() >= 8),
        "{:?}",
        rs.lines()
    );
    let json: Vec<Value> = std::fs::read_to_string(dir.path().join("events.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 4);
    let lines = rs.lines();
    assert_eq!(lines.len(), 8, "{lines:?}");
    for input in ["imudp", "imtcp"] {
        let mine: Vec<&String> = lines.iter().filter(|l| l.starts_with(input)).collect();
        assert_eq!(mine.len(), 4, "{input}: {lines:?}");
        for l in mine {
            let f: Vec<&str> = l.splitn(9, '|').collect();
            assert_eq!(f[1], "iocd", "{l}");
            assert!(f[2].parse::<u32>().is_ok(), "procid {l}");
            assert_eq!(f[3], "ioa", "{l}");
            // No indicator.severity in these events: warning.
            assert_eq!(f[4], "4", "{l}");
            assert_eq!(
                f[5],
                if input == "imudp" { "local3" } else { "local0" },
                "{l}"
            );
            let body: Value = serde_json::from_str(f[8].trim_start())
                .unwrap_or_else(|e| panic!("msg is not the JSON event ({e}): {l}"));
            assert!(
                json.contains(&body),
                "{body} not among the JSON sink's events"
            );
            let v = body["observable"]["value"].as_str().unwrap();
            let sd = f[6];
            // HOSTNAME is the configured sensor name.
            assert_eq!(f[7], "s1", "{l}");
            assert!(
                sd.starts_with("[iocd@32473 feed=\"f\" indicator=\"evil.test\""),
                "{sd}"
            );
            let shown = v.replace('\\', "\\\\");
            assert!(sd.contains(&format!("observable=\"{shown}\"")), "{sd}");
            assert!(sd.contains("where=\"dns.query\""), "{sd}");
            assert!(sd.contains("src=\"10.0.0."), "{sd}");
            assert!(sd.contains("dst=\"10.0.0.53\""), "{sd}");
        }
    }
    // The event shows the byte as `\092` (RFC 1035 §5.1); SD escapes that backslash, and
    // rsyslog keeps the escaped form in %structured-data%.
    let n = lines
        .iter()
        .filter(|l| l.contains(r#"observable="\\092.evil.test""#))
        .count();
    assert_eq!(n, 2, "{lines:?}");
}

/// RFC 3164 over TCP (octet-counted), with EVE and ECS payloads: rsyslog's HOSTNAME is the
/// sensor name and its MSG starts with the JSON, no space before it; the payloads are the
/// ones a JSON sink writes.
#[test]
fn rfc3164_over_tcp_has_the_sensor_as_host_and_the_json_right_after_the_tag() {
    if !rsyslog_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rs = Rsyslog::start(dir.path());
    let conf = dir.path().join("c.toml");
    let mut text = String::from("sensor = \"dmz-sensor-7\"\n");
    for payload in ["iocd", "eve", "ecs"] {
        text.push_str(&format!(
            "[[sinks]]\nname = \"{payload}\"\ntype = \"syslog\"\ntransport = \"tcp\"\nformat = \"rfc3164\"\npayload = \"{payload}\"\naddress = \"127.0.0.1:{}\"\non_full = \"block\"\n",
            rs.tcp
        ));
    }
    util::write_file(&conf, &text);
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "evil.test\n");
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &dns_query_frames(2, "evil.test", 1_700_000_000_000_000, 10),
    );
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(
        util::wait_until(Duration::from_secs(10), || rs.lines().len() >= 6),
        "{:?}",
        rs.lines()
    );
    let lines = rs.lines();
    assert_eq!(lines.len(), 6, "{lines:?}");
    let mut kinds = std::collections::BTreeSet::new();
    for l in &lines {
        let f: Vec<&str> = l.splitn(9, '|').collect();
        assert_eq!(f[0], "imtcp", "{l}");
        assert_eq!(f[1], "iocd", "{l}");
        assert_eq!(f[7], "dmz-sensor-7", "{l}");
        assert!(
            f[8].starts_with('{'),
            "MSG does not start with the JSON: {l}"
        );
        let body: Value = serde_json::from_str(f[8]).unwrap();
        let kind = if body["event_type"] == "alert" {
            "eve"
        } else if body["event"]["kind"] == "alert" {
            "ecs"
        } else {
            assert_eq!(body["event_type"], "ioa", "{l}");
            "iocd"
        };
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 3, "{lines:?}");
}

/// Event number `i` (its pcap packet number), a critical DNS query match.
fn event(i: u64) -> Output {
    use iocd::event::{Flow, IndicatorRef, Ioa, Observable, PcapRef, Record};
    use std::sync::Arc;
    let context = iocd::indicators::Context {
        feed: Arc::from("f"),
        confidence: None,
        severity: iocd::indicators::Severity::Critical,
        tags: Vec::new(),
        description: None,
        reference: None,
        valid_from: None,
        valid_until: None,
        action: iocd::indicators::Action::Alert,
        id: None,
        port: None,
        port_only: false,
    };
    Output::Record(Record::Ioa(Box::new(Ioa {
        ts_us: 1_700_000_000_000_000,
        sensor: Arc::from("s"),
        flow: Flow {
            src_ip: "10.0.0.1".parse().unwrap(),
            src_port: None,
            dest_ip: "10.0.0.2".parse().unwrap(),
            dest_port: None,
            proto: "UDP".into(),
            vlan: Vec::new(),
            tunnel: Vec::new(),
            community_id: String::new(),
            app_proto: Some("dns"),
            direction: None,
        },
        observable: Observable {
            kind: "domain",
            value: "a.evil.test".into(),
            location: iocd::observe::Where::DnsQuery,
            ech: false,
            info: iocd::observe::Info::Dns { rrtype: 1 },
            file: None,
        },
        indicator: IndicatorRef {
            value: "evil.test".into(),
            kind: "domain",
            match_kind: "subdomain",
            context: Arc::new(context),
        },
        also_matched: Vec::new(),
        pcap: Some(PcapRef {
            file: Arc::from("x.pcap"),
            packet: i,
        }),
        suppressed: None,
        warninglist: Vec::new(),
        in_iface: None,
        seq: i,
    })))
}

#[test]
fn tcp_sink_reconnects_after_rsyslog_restarts_and_loses_nothing_uncounted() {
    if !rsyslog_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rs = Rsyslog::start(dir.path());
    let text = format!(
        "[[sinks]]\nname = \"tcp\"\ntype = \"syslog\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\nqueue = 50\n",
        rs.tcp
    );
    let config = iocd::config::Config::parse(&text).unwrap();
    let sinks: Vec<SinkConfig> = config.sinks.clone();
    let (mut outputs, tx, threads) = iocd::pipeline::start_outputs(&sinks, None).unwrap();
    let mut n = 0u64;
    let mut send = |count: u64| {
        for _ in 0..count {
            tx.send(event(n)).unwrap();
            n += 1;
        }
    };
    send(20);
    assert!(
        util::wait_until(Duration::from_secs(10), || rs.lines().len() == 20),
        "{}",
        rs.lines().len()
    );
    rs.stop();
    // Give the FIN time to arrive, then produce while the collector is down: the first is
    // held and retried, 50 fit the queue, the rest are dropped and counted.
    std::thread::sleep(Duration::from_millis(200));
    send(100);
    std::thread::sleep(Duration::from_millis(500));
    let mid = outputs.stats();
    assert_eq!(mid[0].sent, 20, "{mid:?}");
    assert!(mid[0].dropped > 0, "{mid:?}");
    assert!(mid[0].errors > 0, "{mid:?}");
    rs.spawn();
    // Reconnected within the backoff cap: the held and queued events arrive.
    assert!(
        util::wait_until(
            iocd::output::MAX_BACKOFF + Duration::from_secs(10),
            || outputs.stats()[0].queued == 0 && outputs.stats()[0].sent > 20
        ),
        "{:?}",
        outputs.stats()
    );
    send(10);
    drop(tx);
    let st = threads.finish(&mut outputs);
    let s = &st[0];
    assert_eq!(s.sent + s.dropped, 130, "{s:?}");
    assert!(s.sent >= 20 + 50 + 10, "{s:?}");
    assert!(
        util::wait_until(Duration::from_secs(10), || rs.lines().len() as u64
            == s.sent),
        "rsyslog has {} lines, sink sent {}",
        rs.lines().len(),
        s.sent
    );
    // Every record rsyslog got is whole and in order.
    let got: Vec<u64> = rs
        .lines()
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(9, '|').collect();
            assert_eq!(f[4], "2", "critical → crit: {l}");
            serde_json::from_str::<Value>(f[8].trim_start()).unwrap()["pcap"]["packet"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
}

/// The same reconnect story through the real binary: `iocd replay` reads a capture from a FIFO
/// the test writes in three parts, its TCP syslog sink feeds the test's rsyslog, and rsyslog is
/// stopped and restarted between the parts. Every event is either in rsyslog's file or counted
/// as dropped in the replay summary, and what arrived is whole and in order.
#[test]
fn replay_through_a_fifo_survives_an_rsyslog_restart_with_every_event_accounted_for() {
    use std::io::Write as _;
    if !rsyslog_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rs = Rsyslog::start(d);
    util::write_file(&d.join("feed.txt"), "evil.test\n");
    let cfg = d.join("iocd.toml");
    util::write_file(
        &cfg,
        &format!(
            "[[feeds]]\npath = \"feed.txt\"\nseverity = \"critical\"\n\
             [[sinks]]\nname = \"tcp\"\ntype = \"syslog\"\ntransport = \"tcp\"\n\
             address = \"127.0.0.1:{}\"\nqueue = 50\n",
            rs.tcp
        ),
    );
    let fifo = d.join("in.pcap");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = util::iocd()
        .args(["replay", "--workers", "1", "-o", "/dev/null", "--config"])
        .arg(&cfg)
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    // h{i}.evil.test, each from its own port: one event per query, in packet order (one worker)
    let frames = dns_query_frames(130, "evil.test", 1_700_000_000_000_000, 1000);
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&pcap_header(1)).unwrap();
    let mut write = |range: std::ops::Range<usize>| {
        for (ts, f) in &frames[range] {
            w.write_all(&pcap_record(*ts, f)).unwrap();
        }
        w.flush().unwrap();
    };
    write(0..20);
    assert!(
        util::wait_until(Duration::from_secs(20), || rs.lines().len() == 20),
        "rsyslog has {} of the first 20",
        rs.lines().len()
    );
    rs.stop();
    std::thread::sleep(Duration::from_millis(200));
    // while the collector is down: one event is held and retried, 50 wait in the queue, the
    // rest are dropped and counted
    write(20..120);
    std::thread::sleep(Duration::from_millis(500));
    rs.spawn();
    assert!(
        util::wait_until(iocd::output::MAX_BACKOFF + Duration::from_secs(10), || rs
            .lines()
            .len()
            > 20),
        "the sink did not reconnect"
    );
    write(120..130);
    drop(w);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("replay did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    // the output is incomplete (events were dropped while rsyslog was down): exit 1, and why
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sink tcp:") && stderr.contains("write errors"),
        "{stderr}"
    );
    let (sent, dropped, _errors) = util::sink_summary(&stderr, "tcp").expect("sink line");
    assert_eq!(sent + dropped, 130, "{stderr}");
    assert!(
        dropped > 0 && sent >= 20 + 50 + 10,
        "sent {sent} dropped {dropped}"
    );
    assert!(
        util::wait_until(Duration::from_secs(10), || rs.lines().len() as u64 == sent),
        "rsyslog has {} lines, the sink sent {sent}",
        rs.lines().len()
    );
    let got: Vec<u64> = rs
        .lines()
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(9, '|').collect();
            assert_eq!(
                (f[1], f[4]),
                ("iocd", "2"),
                "app-name, critical → crit: {l}"
            );
            let e: Value = serde_json::from_str(f[8].trim_start()).unwrap();
            let v = e["observable"]["value"].as_str().unwrap();
            v.trim_start_matches('h')
                .trim_end_matches(".evil.test")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert_eq!(got[..20], (0..20).collect::<Vec<u64>>()[..]);
}
