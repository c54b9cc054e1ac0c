//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The packet builders shared with the unit tests and benches: one source, compiled here.
#[path = "../src/testkit/mod.rs"]
pub mod testkit;

use testkit::dns::query as dns_query;
use testkit::wire::{eth_ipv4, PROTO_UDP};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the public capture corpus is: `../shared/pcaps/corpus/` next to the crate, with its
/// `truth.jsonl` (tshark's oracle). The project keeps no copy of it (pcaps/README.md).
pub fn corpus_path() -> PathBuf {
    root().join("../shared/pcaps/corpus")
}

/// The public capture corpus, or `None` after printing SKIP with the reason when it is absent:
/// a test that needs it returns then, it never passes silently.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = corpus_path();
    if dir.join("truth.jsonl").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "the public capture corpus is not at {} (no truth.jsonl there)",
            dir.display()
        ));
        None
    }
}

/// Where the public content corpus is (`../shared/pcaps/content/`: HTTP objects, SMTP, TLS
/// certificates and fingerprints, with its `truth.jsonl`).
pub fn content_path() -> PathBuf {
    root().join("../shared/pcaps/content")
}

/// The public content corpus, or `None` after printing SKIP with the reason when it is absent.
pub fn content_dir() -> Option<PathBuf> {
    let dir = content_path();
    if dir.join("truth.jsonl").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "the public content corpus is not at {} (no truth.jsonl there)",
            dir.display()
        ));
        None
    }
}

/// The bundled demo capture (`pcaps/demo.pcap`, made by `pcaps/real/demo.sh`).
pub fn demo_pcap() -> String {
    root().join("pcaps/demo.pcap").display().to_string()
}

/// A config file in `dir` naming sensor "t" with `feeds` (TOML text of `[[feeds]]` tables and
/// any top-level keys before them; paths relative to `dir`).
pub fn feeds_config(dir: &Path, feeds: &str) -> PathBuf {
    let p = dir.join("iocd.toml");
    write_file(&p, &format!("sensor = \"t\"\n{feeds}"));
    p
}

/// Replay the demo capture with config `cfg`; it must exit 0.
pub fn replay_demo(cfg: &Path) -> Replay {
    let r = replay(&["--config", cfg.to_str().unwrap(), &demo_pcap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    r
}

pub fn iocd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iocd"));
    c.env_remove("IOCD_LOG");
    c
}

/// Run a command with a time limit; a hang is a test failure, not a stuck CI job.
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn iocd");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("command timed out after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t1.join().expect("stdout thread"),
        stderr: t2.join().expect("stderr thread"),
    }
}

/// Result of one replay.
pub struct Replay {
    pub output: Output,
    pub events: Vec<Value>,
}

impl Replay {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
}

/// `iocd replay` with the given arguments; events parsed from stdout.
pub fn replay(args: &[&str]) -> Replay {
    let mut c = iocd();
    c.arg("replay").args(args);
    let output = run_with_timeout(c, Duration::from_secs(60));
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    Replay { output, events }
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}

/// A config next to `feed` that loads it as a plain feed with `allow_broad = true`: oracle
/// feeds list every name seen, one-label names such as `localhost` included, which a real feed
/// may only list with that setting. Returns the config path.
pub fn broad_config(feed: &Path) -> PathBuf {
    let cfg = feed.with_extension("toml");
    let name = feed.file_stem().unwrap().to_str().unwrap();
    write_file(
        &cfg,
        &format!(
            "[[feeds]]\nname = \"{name}\"\npath = \"{}\"\nallow_broad = true\n",
            feed.display()
        ),
    );
    cfg
}

/// Read the corpus's `truth.jsonl` (`corpus` from [`corpus_dir`]).
pub fn truth(corpus: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(corpus.join("truth.jsonl")).expect("truth.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect()
}

pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("truth field {key}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// tshark shows non-printable label bytes as `\ooo` (octal): the raw name bytes.
pub fn tshark_name_raw(name: &str) -> Vec<u8> {
    let b = name.as_bytes();
    let mut raw = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            raw.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            raw.push(b[i]);
            i += 1;
        }
    }
    raw
}

/// A tshark name as iocd shows it in events (RFC 1035 `\DDD` for non-printable bytes).
pub fn tshark_name_shown(name: &str) -> String {
    iocd::name::escape(&tshark_name_raw(name))
}

/// A name as a feed line: every byte outside letters, digits, `.`, `-` and `_` written as
/// `\DDD`, which feeds accept for any byte (DNS-tunnel labels carry `/`, `+`, `=`).
pub fn feed_line_for(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03}"));
        }
    }
    out
}

/// Deterministic xorshift64 for test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The number after the word `key` in the replay summary on stderr (`matches 3  events 3`).
pub fn summary_number(stderr: &str, key: &str) -> u64 {
    for line in stderr.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for w in words.windows(2) {
            if w[0] == key {
                if let Ok(n) = w[1].parse() {
                    return n;
                }
            }
        }
    }
    panic!("no {key:?} in the summary:\n{stderr}")
}

/// Is `tool` on PATH (or an absolute path that exists)?
pub fn have(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Print why a test did not run; the caller returns. Never a silent pass.
pub fn skip(reason: &str) {
    eprintln!("SKIP: {reason}");
    println!("SKIP: {reason}");
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A TCP or UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// `n` DNS queries for distinct names under `domain`, each from its own source port (so each
/// is its own flow and its own event).
pub fn dns_query_frames(n: u64, domain: &str, t0_us: u64, gap_us: u64) -> Vec<(u64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let q = dns_query(i as u16, &format!("h{i}.{domain}"));
            let f = eth_ipv4(
                [10, 0, 0, 5],
                [10, 0, 0, 53],
                PROTO_UDP,
                10000 + (i % 50000) as u16,
                53,
                &q,
            );
            (t0_us + i * gap_us, f)
        })
        .collect()
}

/// Parse a replay summary line `  sink NAME: sent S dropped D errors E`.
pub fn sink_summary(stderr: &str, name: &str) -> Option<(u64, u64, u64)> {
    let prefix = format!("sink {name}: ");
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    Some((
        w.get(1)?.parse().ok()?,
        w.get(3)?.parse().ok()?,
        w.get(5)?.parse().ok()?,
    ))
}

/// Wait until `f` is true, polling every 50 ms, for at most `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// What [`run_measured`] saw: the output, the wall time and the child's peak resident set.
pub struct Measured {
    pub output: Output,
    pub time: Duration,
    pub peak_rss_kib: u64,
}

/// Run iocd with `args`, measuring its wall time and peak RSS: under `/usr/bin/time` when it is
/// there (its `%M`, the kernel's maxrss at exit), else by polling `VmHWM` in `/proc/<pid>/status`
/// while it runs (std has no `wait4`).
pub fn run_measured(args: &[&str], limit: Duration) -> Measured {
    let bin = env!("CARGO_BIN_EXE_iocd");
    let start = Instant::now();
    if Path::new("/usr/bin/time").exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("rss");
        let mut cmd = Command::new("/usr/bin/time");
        cmd.env_remove("IOCD_LOG")
            .args(["-f", "%M", "-o"])
            .arg(&out)
            .arg(bin)
            .args(args);
        let output = run_with_timeout(cmd, limit);
        let time = start.elapsed();
        let text = std::fs::read_to_string(&out).expect("time's output");
        // "Command exited with non-zero status N" may come first
        let peak_rss_kib = text
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .next_back()
            .expect("peak RSS from /usr/bin/time");
        return Measured {
            output,
            time,
            peak_rss_kib,
        };
    }
    let mut cmd = iocd();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn iocd");
    let status_file = format!("/proc/{}/status", child.id());
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_rss_kib = kib;
            }
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("command timed out after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Measured {
        output: Output {
            status,
            stdout: t1.join().expect("stdout thread"),
            stderr: t2.join().expect("stderr thread"),
        },
        time: start.elapsed(),
        peak_rss_kib,
    }
}

/// Run `iocd args` (60 s at most): exit code, stdout, stderr.
pub fn run_iocd(args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = iocd();
    c.args(args);
    let out = run_with_timeout(c, Duration::from_secs(60));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `iocd check` line of feed `name`.
pub fn check_line<'a>(stdout: &'a str, name: &str) -> &'a str {
    let prefix = format!("feed \"{name}\" ");
    stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
}

/// Run `ip` with `args`; panics with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace `<prefix>-ns<id>` holding `<prefix><id>n`, the peer of `<prefix><id>h`
/// on the host: a veth pair with no IPv6 of its own (no router/neighbour solicitations or MLD
/// reports, so every captured packet is one the test sent) and an MTU of 9000 (room for
/// VLAN/QinQ-tagged full-size frames). Removed on drop, also when the test fails. The id is
/// unique per test in this process (tests run in parallel) and across processes; a prefix per
/// test file keeps names apart from other suites on the machine.
pub struct Veth {
    pub name: String,
    pub host_if: String,
    pub ns_if: String,
}

impl Veth {
    pub fn new(prefix: &str) -> Veth {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = (std::process::id() % 10_000) * 10
            + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
        let n = Veth {
            name: format!("{prefix}-ns{id}"),
            host_if: format!("{prefix}{id}h"),
            ns_if: format!("{prefix}{id}n"),
        };
        ip(&["netns", "add", &n.name]);
        ip(&[
            "link", "add", &n.host_if, "type", "veth", "peer", "name", &n.ns_if,
        ]);
        ip(&["link", "set", &n.ns_if, "netns", &n.name]);
        std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", n.host_if),
            "1",
        )
        .expect("disable IPv6 on the host end");
        let ok = Command::new("ip")
            .args(["netns", "exec", &n.name, "sh", "-c"])
            .arg(format!(
                "echo 1 > /proc/sys/net/ipv6/conf/{}/disable_ipv6",
                n.ns_if
            ))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "disable IPv6 in the namespace");
        ip(&["link", "set", &n.host_if, "mtu", "9000", "up"]);
        ip(&["-n", &n.name, "link", "set", &n.ns_if, "mtu", "9000", "up"]);
        n
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}
