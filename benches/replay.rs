//! Replay benchmark: `cargo bench --bench replay`.
//!
//! 1. Generates (once; reused while the parameters in the file names match) a synthetic capture
//!    and two indicator feeds under `bench-data/` — see `replay/workload.rs` for the workload.
//! 2. Measures the libpcap read loop on the capture: the ceiling for one capture thread.
//! 3. Runs the release `iocd replay` on it as a child process with 1 and 2 workers, and on a
//!    10-packet capture to time indicator loading; wall time from the parent, CPU time and peak
//!    RSS of the child from `wait4(2)`.
//!
//! Environment: `IOCD_BENCH_PACKETS` (default 1000000), `IOCD_BENCH_DOMAINS` (1000000),
//! `IOCD_BENCH_IPS` (100000), `IOCD_BENCH_SEED` (4301), `IOCD_BENCH_WORKERS` (`1,2`),
//! `IOCD_BENCH_RUNS` (3, best kept), `IOCD_BENCH_TIMEOUT` (seconds per iocd run, 600).
#![deny(unsafe_code)]

#[path = "../src/testkit/mod.rs"]
mod testkit;
#[path = "replay/workload.rs"]
mod workload;

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use workload::GEN_VERSION;

/// The binary under test, built by cargo with the bench (release) profile.
const IOCD: &str = env!("CARGO_BIN_EXE_iocd");
/// Packets in the capture used to time indicator loading: enough for one DNS exchange and a
/// TCP handshake, so the run is all startup.
const TINY_PACKETS: u64 = 10;

struct Params {
    packets: u64,
    domains: usize,
    ips: usize,
    seed: u64,
    workers: Vec<usize>,
    runs: usize,
    timeout: Duration,
}

fn env_or<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

impl Params {
    fn from_env() -> Result<Params> {
        let workers = std::env::var("IOCD_BENCH_WORKERS").unwrap_or_else(|_| "1,2".into());
        let workers = workers
            .split(',')
            .map(|w| w.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("IOCD_BENCH_WORKERS={workers:?}"))?;
        let p = Params {
            packets: env_or("IOCD_BENCH_PACKETS", 1_000_000)?,
            domains: env_or("IOCD_BENCH_DOMAINS", 1_000_000)?,
            ips: env_or("IOCD_BENCH_IPS", 100_000)?,
            seed: env_or("IOCD_BENCH_SEED", 4301)?,
            workers,
            runs: env_or("IOCD_BENCH_RUNS", 3)?,
            timeout: Duration::from_secs(env_or("IOCD_BENCH_TIMEOUT", 600)?),
        };
        if p.packets == 0 || p.runs == 0 || p.workers.contains(&0) {
            bail!("packets, runs and workers must be at least 1");
        }
        Ok(p)
    }

    fn domains_file(&self) -> String {
        format!(
            "domains-g{GEN_VERSION}-n{}-s{}.txt",
            self.domains, self.seed
        )
    }

    fn ips_file(&self) -> String {
        format!("ips-g{GEN_VERSION}-n{}-s{}.txt", self.ips, self.seed)
    }

    fn capture_file(&self, packets: u64) -> String {
        format!(
            "capture-g{GEN_VERSION}-p{packets}-d{}-i{}-s{}.pcap",
            self.domains, self.ips, self.seed
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Machine

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn print_machine() {
    let online = thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_else(|_| "?".into());
    let mem = first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "?".into());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "?".into());
    let rustc = command_line("rustc", &["-V"]).unwrap_or_else(|| "?".into());
    let commit = command_line(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    )
    .unwrap_or_else(|| "?".into());
    println!("## Machine\n");
    println!("- nproc: {online}; CPU: {cpu}; memory: {mem}");
    println!("- kernel: {}; {rustc}; iocd at {commit}", kernel.trim());
    println!(
        "- load average at start (1/5/15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
}

// ---------------------------------------------------------------------------------------------
// Data

struct Data {
    domains: PathBuf,
    ips: PathBuf,
    capture: PathBuf,
    tiny: PathBuf,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn file_mib(path: &Path) -> f64 {
    fs::metadata(path).map_or(0.0, |m| mib(m.len()))
}

/// Generate whatever is missing under `bench-data/`; reuse the rest.
fn prepare(p: &Params) -> Result<Data> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-data");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let data = Data {
        domains: dir.join(p.domains_file()),
        ips: dir.join(p.ips_file()),
        capture: dir.join(p.capture_file(p.packets)),
        tiny: dir.join(p.capture_file(TINY_PACKETS)),
    };
    println!("## Data (`bench-data/`)\n");

    let mut generated = Vec::new();
    let mut domains = None;
    if !data.domains.exists() {
        generated.push(data.domains.clone());
        let t = Instant::now();
        let lines = workload::domain_feed(p.domains, p.seed);
        let comments = [format!(
            "iocd benchmark domain feed: {} synthetic names (generator g{GEN_VERSION}, seed {}); \
             not real indicators",
            p.domains, p.seed
        )];
        workload::write_feed(&data.domains, &comments, &lines)?;
        println!(
            "- generated {} in {:.2} s",
            data.domains.display(),
            t.elapsed().as_secs_f64()
        );
        domains = Some(lines);
    }
    let mut ips = None;
    if !data.ips.exists() {
        generated.push(data.ips.clone());
        let t = Instant::now();
        let lines = workload::ip_feed(p.ips, p.seed);
        let comments = [format!(
            "iocd benchmark IP feed: {} synthetic addresses and CIDRs (generator \
             g{GEN_VERSION}, seed {}); not real indicators",
            p.ips, p.seed
        )];
        workload::write_feed(&data.ips, &comments, &lines)?;
        println!(
            "- generated {} in {:.2} s",
            data.ips.display(),
            t.elapsed().as_secs_f64()
        );
        ips = Some(lines);
    }
    for (packets, path) in [(p.packets, &data.capture), (TINY_PACKETS, &data.tiny)] {
        let mix = mix_path(path);
        if path.exists() && mix.exists() {
            continue;
        }
        generated.push(path.clone());
        if domains.is_none() {
            domains = Some(workload::read_feed(&data.domains)?);
        }
        if ips.is_none() {
            ips = Some(workload::read_feed(&data.ips)?);
        }
        let (d, i) = (
            domains.as_deref().unwrap_or(&[]),
            ips.as_deref().unwrap_or(&[]),
        );
        let t = Instant::now();
        let stats = workload::write_capture(path, packets, p.seed, d, i)?;
        let secs = t.elapsed().as_secs_f64();
        let hits: String = stats.hit_list.iter().map(|h| format!("{h}\n")).collect();
        fs::write(hits_path(path), hits)?;
        fs::write(&mix, stats.report())?;
        println!(
            "- generated {} in {secs:.2} s ({:.0} packets/s, {:.0} MiB/s)",
            path.display(),
            stats.packets as f64 / secs,
            mib(stats.bytes) / secs
        );
    }
    for path in [&data.domains, &data.ips, &data.capture, &data.tiny] {
        let how = if generated.contains(path) {
            "generated"
        } else {
            "reused"
        };
        println!("- {}: {:.1} MiB ({how})", path.display(), file_mib(path));
    }
    println!(
        "- planted hits are listed in {}\n",
        hits_path(&data.capture).display()
    );
    println!("## Workload\n");
    print!("{}", fs::read_to_string(mix_path(&data.capture))?);
    println!();
    Ok(data)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The workload report written beside a capture.
fn mix_path(capture: &Path) -> PathBuf {
    sidecar(capture, ".mix.md")
}

/// The planted indicator hits of a capture, one per line.
fn hits_path(capture: &Path) -> PathBuf {
    sidecar(capture, ".hits.txt")
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// One measured run.
struct Run {
    wall: Duration,
    packets: u64,
    bytes: u64,
    /// User + system time of a child.
    cpu: Option<Duration>,
    peak_rss_kib: Option<u64>,
    /// "indicators loaded in ..." as printed by iocd.
    load: Option<Duration>,
    stderr: String,
}

/// A row of the results table: the best (shortest) of several runs.
struct Row {
    what: String,
    walls: Vec<Duration>,
    best: Run,
    /// Indicator load time to subtract for the "excluding load" rate.
    load: Option<Duration>,
    /// Whether packet and bit rates mean anything for this row.
    throughput: bool,
}

impl Row {
    fn best_of(what: String, runs: Vec<Run>) -> Option<Row> {
        let walls = runs.iter().map(|r| r.wall).collect();
        let best = runs.into_iter().min_by_key(|r| r.wall)?;
        Some(Row {
            what,
            walls,
            best,
            load: None,
            throughput: true,
        })
    }
}

/// Read every packet of `path` with libpcap, as a capture thread would; with `copy`, also copy
/// each frame into its own `Vec` collected in batches of 256, the cheapest hand-off to workers.
fn libpcap_loop(path: &Path, copy: bool) -> Result<Run> {
    let t = Instant::now();
    let mut cap = pcap::Capture::from_file(path)
        .with_context(|| format!("libpcap cannot open {}", path.display()))?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(256);
    loop {
        match cap.next_packet() {
            Ok(p) => {
                packets += 1;
                bytes += u64::from(p.header.len);
                if copy {
                    batch.push(p.data.to_vec());
                    if batch.len() == batch.capacity() {
                        std::hint::black_box(&batch);
                        batch.clear();
                    }
                }
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e).context("reading the capture"),
        }
    }
    std::hint::black_box(&batch);
    Ok(Run {
        wall: t.elapsed(),
        packets,
        bytes,
        cpu: None,
        peak_rss_kib: None,
        load: None,
        stderr: String::new(),
    })
}

/// Read every packet of `path` with iocd's own reader (`iocd::input`, pcap-parser over a
/// 1 MiB read buffer), the loop the capture thread runs, counting packets and bytes.
fn reader_loop(path: &Path) -> Result<Run> {
    let t = Instant::now();
    let mut r = iocd::capture::file::open_reader(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        match r.advance(&mut || ()) {
            Ok(true) => {
                if let Some(p) = r.packet() {
                    packets += 1;
                    bytes += u64::from(p.wire_len);
                    std::hint::black_box(p.data);
                }
            }
            Ok(false) => break,
            Err(d) => bail!("iocd reader: {}: {d}", path.display()),
        }
    }
    Ok(Run {
        wall: t.elapsed(),
        packets,
        bytes,
        cpu: None,
        peak_rss_kib: None,
        load: None,
        stderr: String::new(),
    })
}

/// What `wait4(2)` reports about a child that has exited.
struct ChildExit {
    /// Exit code, or `None` when killed by a signal.
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    /// From spawn until the child became a zombie.
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// Wait for child `pid` to exit, killing it after `timeout`, and collect its resource usage.
///
/// `std::process::Child::wait` does not return the child's rusage and `getrusage(CHILDREN)`
/// keeps the maximum RSS over all children ever waited for, hence `wait4` on the one pid. The
/// child is first waited for without reaping it (`WNOWAIT`), so the watchdog can never signal a
/// reused pid: the pid stays ours until the `wait4` that follows the "done" flag.
#[allow(unsafe_code)]
fn wait_child(pid: u32, start: Instant, timeout: Duration) -> Result<ChildExit> {
    let pid = pid as libc::pid_t;
    let done = Arc::new(Mutex::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = {
        let (done, timed_out) = (Arc::clone(&done), Arc::clone(&timed_out));
        thread::spawn(move || {
            if rx.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout) {
                let done = done.lock().unwrap_or_else(|e| e.into_inner());
                if !*done {
                    timed_out.store(true, Ordering::SeqCst);
                    // SAFETY: `pid` is an unreaped child of ours (see `done`).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        })
    };
    loop {
        // SAFETY: an all-zero siginfo_t is valid; the pointer is valid for the call.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        // SAFETY: plain system call on our own child with valid pointers.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("waitid");
        }
    }
    let wall = start.elapsed();
    *done.lock().unwrap_or_else(|e| e.into_inner()) = true;
    drop(tx);
    let _ = watchdog.join();
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above; reaps the child we just saw exit.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
    Ok(ChildExit {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        timed_out: timed_out.load(Ordering::SeqCst),
        wall,
        cpu: timeval(ru.ru_utime) + timeval(ru.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: ru.ru_maxrss.max(0) as u64,
    })
}

/// Parse a duration as Rust's `Debug` or humantime print it: "1.234s", "850ms", "12.5µs".
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim_end_matches([',', ';', ')', '.']);
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => v,
        "ms" => v / 1e3,
        "µs" | "us" => v / 1e6,
        "ns" => v / 1e9,
        "m" | "min" => v * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// The load time from a line containing "indicators loaded in <duration>".
fn load_time(stderr: &str) -> Option<Duration> {
    const KEY: &str = "indicators loaded in ";
    let line = stderr.lines().find(|l| l.contains(KEY))?;
    let rest = &line[line.find(KEY)? + KEY.len()..];
    parse_duration(rest.split_whitespace().next()?)
}

/// Whether the binary has the `replay` subcommand: `iocd replay --help` must succeed and print
/// a usage text (the stub `fn main(){}` succeeds silently).
fn has_replay() -> bool {
    match Command::new(IOCD).args(["replay", "--help"]).output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success() && text.to_lowercase().contains("usage")
        }
        Err(_) => false,
    }
}

fn run_iocd(
    data: &Data,
    capture: &Path,
    workers: usize,
    p: &Params,
    pkts: (u64, u64),
) -> Result<Run> {
    let args: Vec<std::ffi::OsString> = vec![
        "replay".into(),
        "--feed".into(),
        data.domains.clone().into(),
        "--feed".into(),
        data.ips.clone().into(),
        "-o".into(),
        "/dev/null".into(),
        "--workers".into(),
        workers.to_string().into(),
        capture.into(),
    ];
    let start = Instant::now();
    let mut child = Command::new(IOCD)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {IOCD}"))?;
    let mut err = child.stderr.take().context("child stderr")?;
    // Drain stderr while the child runs, so a chatty child never blocks on a full pipe.
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let exit = wait_child(child.id(), start, p.timeout)?;
    let stderr = reader.join().unwrap_or_default();
    if exit.code != Some(0) {
        let how = if exit.timed_out {
            format!("killed after the {} s timeout", p.timeout.as_secs())
        } else if let Some(sig) = exit.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit code {}", exit.code.unwrap_or(-1))
        };
        bail!(
            "iocd {}: {how}; stderr ends with:\n{}",
            shell_words(&args),
            tail(&stderr, 20)
        );
    }
    Ok(Run {
        wall: exit.wall,
        packets: pkts.0,
        bytes: pkts.1,
        cpu: Some(exit.cpu),
        peak_rss_kib: Some(exit.peak_rss_kib),
        load: load_time(&stderr),
        stderr,
    })
}

fn shell_words(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn print_table(rows: &[Row]) {
    println!(
        "| measurement | best wall s | runs (wall s) | Mpkt/s | Gbit/s | Mpkt/s excl. load | \
         CPU s (user+sys) | peak RSS MiB |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let b = &r.best;
        let w = b.wall.as_secs_f64();
        let runs = r
            .walls
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(" ");
        let mut line = format!("| {} | {} | {runs} |", r.what, secs(b.wall));
        if r.throughput {
            let _ = write!(
                line,
                " {:.3} | {:.2} |",
                b.packets as f64 / w / 1e6,
                b.bytes as f64 * 8.0 / w / 1e9
            );
        } else {
            line.push_str(" – | – |");
        }
        match r.load {
            Some(l) if b.wall > l => {
                let _ = write!(
                    line,
                    " {:.3} |",
                    b.packets as f64 / (b.wall - l).as_secs_f64() / 1e6
                );
            }
            _ => line.push_str(" – |"),
        }
        match b.cpu {
            Some(c) => {
                let _ = write!(line, " {} |", secs(c));
            }
            None => line.push_str(" – |"),
        }
        match b.peak_rss_kib {
            Some(k) => {
                let _ = write!(line, " {:.0} |", k as f64 / 1024.0);
            }
            None => line.push_str(" – |"),
        }
        println!("{line}");
    }
    println!();
}

/// Under `cargo test --benches` (or `--all-targets`) cargo runs this binary without `--bench`:
/// then check the generator on a small workload instead of measuring anything.
fn smoke_test() -> Result<()> {
    const PACKETS: u64 = 5_000;
    let dir = tempfile::tempdir()?;
    let domains = workload::domain_feed(2_000, 7);
    let ips = workload::ip_feed(500, 7);
    let mut digests = Vec::new();
    for name in ["a.pcap", "b.pcap"] {
        let path = dir.path().join(name);
        let stats = workload::write_capture(&path, PACKETS, 7, &domains, &ips)?;
        let read = libpcap_loop(&path, false)?;
        let ours = reader_loop(&path)?;
        if (ours.packets, ours.bytes) != (read.packets, read.bytes) {
            bail!(
                "iocd's reader read {} packets / {} bytes, libpcap {} / {}",
                ours.packets,
                ours.bytes,
                read.packets,
                read.bytes
            );
        }
        if (read.packets, read.bytes) != (PACKETS, stats.bytes) || stats.packets != PACKETS {
            bail!(
                "libpcap read {} packets / {} bytes, the generator wrote {} / {}",
                read.packets,
                read.bytes,
                stats.packets,
                stats.bytes
            );
        }
        digests.push(fs::read(&path)?);
    }
    if digests[0] != digests[1] {
        bail!("the same seed gave two different captures");
    }
    println!("replay bench smoke test (no measurement; use `cargo bench --bench replay`)");
    println!("1 passed, 0 failed");
    Ok(())
}

fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return smoke_test();
    }
    let p = Params::from_env()?;
    println!("# iocd replay benchmark\n");
    print_machine();
    let data = prepare(&p)?;

    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..p.runs {
        runs.push(libpcap_loop(&data.capture, false)?);
    }
    let (packets, bytes) = (runs[0].packets, runs[0].bytes);
    rows.extend(Row::best_of(
        "libpcap loop: `next_packet()`, count packets and bytes".into(),
        runs,
    ));
    let mut runs = Vec::new();
    for _ in 0..p.runs {
        runs.push(libpcap_loop(&data.capture, true)?);
    }
    rows.extend(Row::best_of(
        "libpcap loop + copy each frame to an owned `Vec` (batches of 256)".into(),
        runs,
    ));
    let mut runs = Vec::new();
    for _ in 0..p.runs {
        runs.push(reader_loop(&data.capture)?);
    }
    rows.extend(Row::best_of(
        "iocd reader loop (`iocd::input`, pcap-parser): `advance()`, count packets and bytes"
            .into(),
        runs,
    ));

    println!("## iocd replay\n");
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    if !has_replay() {
        println!(
            "SKIPPED: `{IOCD} replay --help` does not succeed with a usage text, so this build \
             has no `replay` subcommand yet. Only the libpcap figures below were measured.\n"
        );
    } else {
        // Runs of one configuration; the first failure ends them and is reported at the end.
        let mut measure = |capture: &Path, workers: usize, size: (u64, u64)| -> Vec<Run> {
            let mut runs = Vec::new();
            for _ in 0..p.runs {
                match run_iocd(&data, capture, workers, &p, size) {
                    Ok(r) => runs.push(r),
                    Err(e) => {
                        failures.push(format!("{e:#}"));
                        return Vec::new();
                    }
                }
            }
            runs
        };
        let runs = measure(&data.tiny, 1, capture_size(&data.tiny)?);
        let printed = runs.iter().filter_map(|r| r.load).min();
        let load_row = Row::best_of(
            format!("iocd replay, {TINY_PACKETS}-packet capture, 1 worker (≈ indicator load)"),
            runs,
        )
        .map(|mut r| {
            r.throughput = false;
            r
        });
        let load = load_row.as_ref().map(|r| r.best.wall);
        if let Some(l) = load {
            notes.push(format!(
                "- indicator load ({} domains + {} IPs/CIDRs): {} s wall for the whole \
                 {TINY_PACKETS}-packet run; iocd itself printed: {}",
                p.domains,
                p.ips,
                secs(l),
                printed.map_or("no \"indicators loaded in\" line".into(), |d| format!(
                    "indicators loaded in {} s",
                    secs(d)
                ))
            ));
        }
        rows.extend(load_row);
        for &w in &p.workers {
            let runs = measure(&data.capture, w, (packets, bytes));
            if let Some(mut row) = Row::best_of(format!("iocd replay --workers {w}"), runs) {
                // Prefer the load time this very run printed; else the tiny run's wall time.
                row.load = row.best.load.or(load);
                notes.push(format!(
                    "- stderr of the best `--workers {w}` run ends with:\n{}",
                    tail(&row.best.stderr, 12)
                ));
                rows.push(row);
            }
        }
    }

    println!(
        "## Results ({} packets, {:.1} MiB of frames; best of {} runs; Gbit/s counts Ethernet \
         frames without FCS)\n",
        packets,
        mib(bytes),
        p.runs
    );
    print_table(&rows);
    for n in notes {
        println!("{n}");
    }
    if !failures.is_empty() {
        println!("\n## Failures\n");
        for f in &failures {
            println!("- {f}");
        }
        bail!("{} iocd configuration(s) failed", failures.len());
    }
    Ok(())
}

/// Packets and frame bytes in a capture, counted with libpcap.
fn capture_size(path: &Path) -> Result<(u64, u64)> {
    let run = libpcap_loop(path, false)?;
    Ok((run.packets, run.bytes))
}
