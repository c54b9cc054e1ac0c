//! Reload on SIGHUP while a replay runs: the test feeds a capture through a FIFO, changes the
//! feeds, signals the process, and feeds more. New indicators match, removed ones stop, a
//! broken feed keeps matching its last good entries, and every packet fed is counted.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth_ipv4, pcap_header, pcap_record, write_pcap, PROTO_UDP};
use crate::util::{self, write_file};

/// One DNS query per name, each from its own client port (its own flow).
fn queries(names: &[&str], first_port: u16, ts: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let port = first_port + i as u16;
        let q = dns_query(port, n);
        out.extend(pcap_record(
            u64::from(ts) * 1_000_000,
            &eth_ipv4([10, 0, 0, 5], [10, 0, 0, 53], PROTO_UDP, port, 53, &q),
        ));
    }
    out
}

/// Names reported in `events` (from the JSON-lines file) for packets in `packets`.
fn names(path: &Path, packets: std::ops::RangeInclusive<u64>) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| packets.contains(&e["pcap"]["packet"].as_u64().unwrap_or(0)))
        .map(|e| e["observable"]["value"].as_str().unwrap_or("").to_owned())
        .collect();
    v.sort();
    v
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_reloads_feeds_mid_replay_keeping_a_broken_feed_last_good() {
    // b's download fails; c comes back as mostly garbage (over its max_bad_ratio): both keep
    // their last good entries
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("a.txt"), "old.example\nremoved.example\n");
    write_file(&d.join("b.txt"), "kept.example\n");
    write_file(&d.join("c.txt"), "junky.example\n");
    let cfg = d.join("iocd.toml");
    write_file(
        &cfg,
        "[[feeds]]\nname = \"a\"\npath = \"a.txt\"\n[[feeds]]\nname = \"b\"\npath = \"b.txt\"\n[[feeds]]\nname = \"c\"\npath = \"c.txt\"\n",
    );
    let fifo = d.join("in.pcap");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let events = d.join("events.json");
    let mut child = util::iocd()
        .args(["replay", "--workers", "2", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&events)
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stderr lines, as they come
    let mut log = StderrLog::start(&mut child, Duration::from_secs(20));
    log.wait("indicators loaded");

    let all = [
        "old.example",
        "removed.example",
        "new.example",
        "kept.example",
        "junky.example",
    ];
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&pcap_header(1)).unwrap();
    w.write_all(&queries(&all, 40000, 1_700_000_000)).unwrap();
    w.flush().unwrap();
    // packets 1-5 are matched against the first set while the writer keeps the FIFO open
    wait_for("the first events", Duration::from_secs(20), || {
        names(&events, 1..=5).len() == 4
    });
    assert_eq!(
        names(&events, 1..=5),
        [
            "junky.example",
            "kept.example",
            "old.example",
            "removed.example"
        ]
    );

    // a: one added, one removed; b: gone (its download failed)
    write_file(&d.join("a.txt"), "old.example\nnew.example\n");
    std::fs::remove_file(d.join("b.txt")).unwrap();
    write_file(&d.join("c.txt"), "junky.example\nx..y\nx..y\nx..y\n");
    let st = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    log.wait("reload done");

    w.write_all(&queries(&all, 41000, 1_700_000_100)).unwrap();
    drop(w);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replay did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = log.rest();
    assert!(status.success(), "{log}");
    assert_eq!(
        names(&events, 6..=10),
        [
            "junky.example",
            "kept.example",
            "new.example",
            "old.example"
        ],
        "{log}"
    );
    // the reload said what it did, per feed
    assert!(log.contains("SIGHUP: reloading feeds"), "{log}");
    assert!(
        log.contains("feed \"b\": FAILED (cannot read") && log.contains("kept 1 last good entries"),
        "{log}"
    );
    assert!(
        log.contains("feed \"c\": UNUSABLE (3 of 4 entries bad (75.0%), over max_bad_ratio 0.1); kept 1 last good entries"),
        "{log}"
    );
    // and names the lines that made it so
    assert!(log.contains("c.txt:2: empty label"), "{log}");
    assert!(log.contains("feed \"a\": 2 indicators"), "{log}");
    assert!(
        log.contains("reload done") && log.contains("with failures"),
        "{log}"
    );
    // no packet lost: every one fed was counted
    assert_eq!(util::summary_number(&log, "packets"), 10, "{log}");
}

/// The control path of `iocd replay` is `iocd run`'s: a reload names the config changes it
/// cannot apply, and SIGTERM stops a replay whose input (a FIFO still open) would never end:
/// what was read is drained into the output, the summary is printed, and the exit status is 1.
#[test]
fn sigterm_ends_a_replay_blocked_on_an_open_fifo_after_draining_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_file(&d.join("a.txt"), "old.example\n");
    let cfg = d.join("iocd.toml");
    write_file(
        &cfg,
        "workers = 2\n[[feeds]]\nname = \"a\"\npath = \"a.txt\"\n",
    );
    let fifo = d.join("in.pcap");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let events = d.join("events.json");
    let mut child = util::iocd()
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&events)
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = StderrLog::start(&mut child, Duration::from_secs(20));
    let mut wait_log = |needle: &str| log.wait(needle);
    wait_log("indicators loaded");
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&pcap_header(1)).unwrap();
    w.write_all(&queries(
        &["old.example", "other.example"],
        40000,
        1_700_000_000,
    ))
    .unwrap();
    w.flush().unwrap();
    wait_for("the first event", Duration::from_secs(20), || {
        names(&events, 1..=2) == ["old.example"]
    });

    // workers and [[sinks]] cannot change under a running replay: the reload says so
    write_file(
        &cfg,
        "workers = 3\n[[sinks]]\ntype = \"json\"\npath = \"-\"\n[[feeds]]\nname = \"a\"\npath = \"a.txt\"\n",
    );
    let kill = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    kill("-HUP");
    let text = wait_log("need a restart");
    assert!(
        text.contains("changes to workers, [[sinks]] need a restart"),
        "{text}"
    );

    // the writer keeps the FIFO open: only the signal can end the replay
    kill("-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "replay did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(w);
    let text = wait_log("sink output: ");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    assert!(
        text.contains("sink output: sent 1 dropped 0 errors 0"),
        "{text}"
    );
    assert_eq!(names(&events, 1..=2), ["old.example"], "{text}");
}

/// Is `sig` caught by process `pid` (its bit in /proc/PID/status SigCgt)?
fn catches(pid: u32, sig: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (sig - 1)) != 0)
}

/// A SIGHUP while the feeds still load is queued, not fatal (its default action kills); the
/// reload it asks for runs on a thread of its own, so a SIGTERM that comes while that slow
/// rebuild runs still ends the replay at once, with its summary (issue 11).
#[test]
fn sighup_during_startup_is_queued_and_sigterm_does_not_wait_for_a_slow_reload() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Big enough that loading it (and rebuilding it) takes seconds in a debug build.
    let mut big = String::with_capacity(40 << 20);
    for i in 0..1_500_000u32 {
        let _ = writeln!(big, "h{i}.d{}.example", i % 997);
    }
    big.push_str("old.example\n");
    write_file(&d.join("big.txt"), &big);
    let fifo = d.join("in.pcap");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let events = d.join("events.json");
    let mut child = util::iocd()
        .args(["replay", "--workers", "1", "--feed"])
        .arg(d.join("big.txt"))
        .arg("-o")
        .arg(&events)
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut log = StderrLog::start(&mut child, Duration::from_secs(60));
    let mut wait_log = |needle: &str| log.wait(needle);
    let kill = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    wait_for("the SIGHUP handler", Duration::from_secs(20), || {
        catches(pid, 1)
    });
    kill("-HUP");
    // The feed changes (an append, as a download would): the queued reload must rebuild it.
    std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("big.txt"))
        .unwrap()
        .write_all(b"new.example\n")
        .unwrap();
    let text = wait_log("indicators loaded");
    let hup = text.find("SIGHUP: reloading feeds");
    let loaded = text.find("indicators loaded");
    assert!(
        hup.is_some() && hup < loaded,
        "the SIGHUP came during the load:\n{text}"
    );

    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&pcap_header(1)).unwrap();
    w.write_all(&queries(&["old.example"], 40000, 1_700_000_000))
        .unwrap();
    w.flush().unwrap();
    wait_for("the event", Duration::from_secs(20), || {
        names(&events, 1..=1) == ["old.example"]
    });
    // The queued reload is rebuilding the big feed now; stop.
    let asked = Instant::now();
    kill("-TERM");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = asked.elapsed();
    drop(w);
    let text = wait_log("sink output: ");
    println!("exit {took:?} after SIGTERM");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    assert!(
        !text.contains("reload done"),
        "the shutdown waited for the reload:\n{text}"
    );
}

/// A feed path that is a FIFO (or anything but a regular file) is refused at once, naming
/// what it is, by `check` and by `replay` (a reload goes through the same reader).
#[test]
fn a_fifo_feed_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("feed.txt");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cmd = util::iocd();
    cmd.args(["check", "--feed"]).arg(&fifo);
    let out = util::run_with_timeout(cmd, Duration::from_secs(20));
    let err =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a FIFO, not a regular file"), "{err}");
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &util::dns_query_frames(1, "evil.test", 1_700_000_000_000_000, 1),
    );
    let mut cmd = util::iocd();
    cmd.args(["replay", "--feed"]).arg(&fifo).arg(&pcap);
    let out = util::run_with_timeout(cmd, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("a FIFO, not a regular file"), "{err}");
}

/// A child's stderr, line by line as it comes, read by a thread of the test.
struct StderrLog {
    rx: mpsc::Receiver<String>,
    lines: Vec<String>,
    limit: Duration,
}

impl StderrLog {
    fn start(child: &mut std::process::Child, limit: Duration) -> StderrLog {
        let (tx, rx) = mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StderrLog {
            rx,
            lines: Vec::new(),
            limit,
        }
    }

    /// Everything, up to the end of the stream (call once the child has exited).
    fn rest(mut self) -> String {
        self.lines.extend(self.rx.iter());
        self.lines.join("\n")
    }

    /// Wait (at most the limit) for a line containing `needle`; the whole log so far.
    fn wait(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + self.limit;
        loop {
            if self.lines.iter().any(|l| l.contains(needle)) {
                return self.lines.join("\n");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.lines.push(l),
                Err(_) => panic!("no {needle:?} on stderr:\n{}", self.lines.join("\n")),
            }
        }
    }
}
