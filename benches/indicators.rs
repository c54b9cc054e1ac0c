//! Indicator-set benchmark: build time and peak RSS of a large feed set, and lookup latency.
//!
//! `cargo bench --bench indicators` generates synthetic feeds under `bench-data/` (reused
//! while the parameters stay the same), then
//! 1. runs the release `iocd check --feed ... --feed ...` as a child process: its printed load
//!    time, wall time and peak RSS (`wait4(2)`): the whole load, parse included;
//! 2. builds the same set in this process and times lookups through the public API that workers
//!    use (`lookup_domain` / `lookup_ip` into a reused `Vec`): misses (most traffic) and hits,
//!    over query lists larger than any cache line reuse, reported as mean ns per lookup.
//!
//! `IOCD_BENCH_SCALE` = `1m` (default: 1M domains + 100k IPs/CIDRs, the 1.1M) or `10m`
//! (6M domains, 3M IPv4, 0.5M IPv6, 0.5M CIDRs). Under `cargo test` it runs a tiny smoke version.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use iocd::config::FeedConfig;
use iocd::indicators::{feeds, IndicatorSet};

/// xorshift64*: deterministic, so the feeds are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TLDS: &[&str] = &[
    "com", "net", "org", "info", "ru", "cn", "xyz", "top", "io", "de",
];

fn label(r: &mut Rng, out: &mut String) {
    let n = 5 + r.below(9);
    for _ in 0..n {
        let c = r.below(36) as u8;
        out.push(if c < 26 {
            (b'a' + c) as char
        } else {
            (b'0' + c - 26) as char
        });
    }
}

/// A name of 2 to 4 labels, as feeds list them (most are registered domains, some hosts).
fn domain(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..r.below(3) {
        label(r, &mut s);
        s.push('.');
    }
    label(r, &mut s);
    s.push('.');
    s.push_str(TLDS[r.below(TLDS.len() as u64) as usize]);
    s
}

fn ipv4(r: &mut Rng) -> std::net::Ipv4Addr {
    // skip 0/8, 10/8, 127/8 and multicast up: feeds list public unicast
    let a = 11 + r.below(200) as u32;
    std::net::Ipv4Addr::from((a << 24) | (r.next() as u32 & 0x00ff_ffff))
}

fn ipv6(r: &mut Rng) -> std::net::Ipv6Addr {
    let hi = 0x2000_0000_0000_0000u64 | (r.next() >> 4);
    std::net::Ipv6Addr::from((u128::from(hi) << 64) | u128::from(r.next()))
}

struct Scale {
    name: &'static str,
    domains: u64,
    v4: u64,
    v6: u64,
    cidrs: u64,
}

fn write_lines(path: &Path, n: u64, mut line: impl FnMut() -> String) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    writeln!(f, "# iocd benchmark feed: {n} synthetic entries")?;
    for _ in 0..n {
        writeln!(f, "{}", line())?;
    }
    f.flush()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The feeds of `s` under `dir`: domains, then addresses and CIDRs.
fn feeds(dir: &Path, s: &Scale) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let d = dir.join(format!("ind-domains-{}.txt", s.domains));
    // g2: realistic prefix lengths (g1 had /16-/28 uniformly, covering a third of IPv4 at 10M)
    let i = dir.join(format!("ind-ips-g2-{}-{}-{}.txt", s.v4, s.v6, s.cidrs));
    let mut r = Rng(0x1ee7_c0de);
    write_lines(&d, s.domains, || domain(&mut r))?;
    let mut r = Rng(0xfeed_f00d);
    let total = s.v4 + s.v6 + s.cidrs;
    let mut k = 0u64;
    write_lines(&i, total, || {
        k += 1;
        if k <= s.v4 {
            ipv4(&mut r).to_string()
        } else if k <= s.v4 + s.v6 {
            ipv6(&mut r).to_string()
        } else if r.below(2) == 0 {
            // as blocklists publish them: mostly /24, some /20-/23 and /25-/30
            let len =
                [24, 24, 24, 24, 22, 23, 20, 21, 25, 26, 27, 28, 29, 30][r.below(14) as usize];
            ipnet::Ipv4Net::new(ipv4(&mut r), len)
                .unwrap()
                .trunc()
                .to_string()
        } else {
            let len = [48, 48, 56, 64, 32, 40, 44, 52, 60][r.below(9) as usize];
            ipnet::Ipv6Net::new(ipv6(&mut r), len)
                .unwrap()
                .trunc()
                .to_string()
        }
    })?;
    Ok(vec![d, i])
}

/// Peak RSS and wall time of `iocd check` on the feeds.
#[allow(unsafe_code)]
fn check_child(files: &[PathBuf]) -> Result<(Duration, u64, String)> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"));
    cmd.arg("check");
    for f in files {
        cmd.arg("--feed").arg(f);
    }
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.context("stdout")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text)?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 on our own child with valid pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    Ok((start.elapsed(), ru.ru_maxrss.max(0) as u64, text))
}

/// Mean ns per call of `f` over every query, after one warm-up pass.
fn time_ns<T>(queries: &[T], mut f: impl FnMut(&T) -> usize) -> (f64, usize) {
    for q in queries.iter().take(10_000) {
        black_box(f(q));
    }
    let mut hits = 0;
    let t = Instant::now();
    for q in queries {
        hits += f(q);
    }
    (t.elapsed().as_nanos() as f64 / queries.len() as f64, hits)
}

fn lookups(set: &IndicatorSet, files: &[PathBuf], n: usize) -> Result<()> {
    let mut r = Rng(0xabad_1dea);
    // misses: names as traffic has them (a host under a registered name), never in the feed
    let miss_names: Vec<Vec<u8>> = (0..n)
        .map(|_| format!("www.{}", domain(&mut r)).into_bytes())
        .collect();
    // hits: subdomains of listed names, read back from the feed
    let listed: Vec<String> = std::fs::read_to_string(&files[0])?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .step_by(7)
        .take(n)
        .map(|l| format!("cdn.{l}"))
        .collect();
    let hit_names: Vec<Vec<u8>> = listed.into_iter().map(String::into_bytes).collect();
    let miss_v4: Vec<std::net::IpAddr> = (0..n).map(|_| ipv4(&mut r).into()).collect();
    let miss_v6: Vec<std::net::IpAddr> = (0..n).map(|_| ipv6(&mut r).into()).collect();
    let hit_v4: Vec<std::net::IpAddr> = std::fs::read_to_string(&files[1])?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains(':') && !l.contains('/'))
        .step_by(3)
        .take(n)
        .filter_map(|l| l.parse().ok())
        .collect();
    // names back to back in one buffer, as a worker finds them in packet buffers (a `Vec` per
    // query would measure the allocator's scatter instead of the lookup)
    let pack = |v: &[Vec<u8>]| -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut buf = Vec::new();
        let mut at = Vec::new();
        for n in v {
            at.push((buf.len(), n.len()));
            buf.extend_from_slice(n);
        }
        (buf, at)
    };
    let (miss_buf, miss_at) = pack(&miss_names);
    let (hit_buf, hit_at) = pack(&hit_names);
    let mut out = Vec::new();
    let mut dom = |buf: &[u8], &(o, l): &(usize, usize)| {
        out.clear();
        set.lookup_domain(black_box(&buf[o..o + l]), &mut out);
        black_box(out.len())
    };
    // the same loop hashing each name once and touching nothing else: the floor under a lookup
    let hasher = hashbrown::DefaultHashBuilder::default();
    let floor = time_ns(&miss_at, |&(o, l)| {
        use std::hash::BuildHasher;
        (hasher.hash_one(black_box(&miss_buf[o..o + l])) & 1) as usize
    });
    println!(
        "loop floor (hash each query name once, no lookup): {:.1} ns\n",
        floor.0
    );
    // a sensor's traffic repeats names: 4096 distinct misses asked over and over, the
    // structures they touch then in cache, as the hot part of a real name stream is
    let warm_at: Vec<(usize, usize)> = miss_at.iter().take(4096).cycle().take(n).copied().collect();
    if std::env::var_os("IOCD_BENCH_WARM_ONLY").is_some() {
        for _ in 0..20 {
            let (ns, _) = time_ns(&warm_at, |q| dom(&miss_buf, q));
            println!("warm domain miss {ns:.1} ns");
        }
        return Ok(());
    }
    let rows = [
        (
            "domain miss, cold (2M distinct www.<random>.<tld>)",
            time_ns(&miss_at, |q| dom(&miss_buf, q)),
        ),
        (
            "domain miss, warm (4096 distinct names repeated)",
            time_ns(&warm_at, |q| dom(&miss_buf, q)),
        ),
        (
            "domain hit (cdn.<listed name>)",
            time_ns(&hit_at, |q| dom(&hit_buf, q)),
        ),
    ];
    let mut out = Vec::new();
    let mut ip = |q: &std::net::IpAddr| {
        out.clear();
        set.lookup_ip(black_box(*q), &mut out);
        black_box(out.len())
    };
    let warm_v4: Vec<std::net::IpAddr> =
        miss_v4.iter().take(4096).cycle().take(n).copied().collect();
    let ip_rows = [
        (
            "IPv4 miss, cold (2M random public)",
            time_ns(&miss_v4, &mut ip),
        ),
        (
            "IPv4 miss, warm (4096 distinct repeated)",
            time_ns(&warm_v4, &mut ip),
        ),
        ("IPv4 hit (listed address)", time_ns(&hit_v4, &mut ip)),
        ("IPv6 miss (random 2000::/3)", time_ns(&miss_v6, &mut ip)),
    ];
    println!("| lookup | ns per lookup (mean) | queries | matched |");
    println!("|---|---:|---:|---:|");
    for (what, (ns, hits)) in rows.iter().chain(ip_rows.iter()) {
        let q = if what.starts_with("domain hit") {
            hit_names.len()
        } else if what.starts_with("IPv4 hit") {
            hit_v4.len()
        } else {
            n
        };
        println!("| {what} | {ns:.1} | {q} | {hits} |");
    }
    Ok(())
}

fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let scale = match (bench, std::env::var("IOCD_BENCH_SCALE").as_deref()) {
        (false, _) => Scale {
            name: "smoke",
            domains: 2000,
            v4: 500,
            v6: 100,
            cidrs: 100,
        },
        (true, Ok("10m")) => Scale {
            name: "10m",
            domains: 6_000_000,
            v4: 3_000_000,
            v6: 500_000,
            cidrs: 500_000,
        },
        (true, Ok("1m") | Err(_)) => Scale {
            name: "1m",
            domains: 1_000_000,
            v4: 90_000,
            v6: 5_000,
            cidrs: 5_000,
        },
        (true, Ok(other)) => bail!("IOCD_BENCH_SCALE={other}: 1m or 10m"),
    };
    let dir = if bench {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data")
    } else {
        std::env::temp_dir().join(format!("iocd-bench-smoke-{}", std::process::id()))
    };
    let t = Instant::now();
    let files = feeds(&dir, &scale)?;
    println!("# iocd indicator benchmark ({})\n", scale.name);
    println!(
        "feeds: {} domains; {} IPv4, {} IPv6, {} CIDRs (generated or reused in {:.1} s)\n",
        scale.domains,
        scale.v4,
        scale.v6,
        scale.cidrs,
        t.elapsed().as_secs_f64()
    );
    let (wall, rss_kib, text) = check_child(&files)?;
    let total = text.lines().last().unwrap_or("").to_owned();
    println!(
        "`iocd check`: wall {:.3} s, peak RSS {:.1} MiB",
        wall.as_secs_f64(),
        rss_kib as f64 / 1024.0
    );
    println!("  {total}\n");
    let list: Vec<FeedConfig> = files.iter().cloned().map(FeedConfig::from_path).collect();
    let t = Instant::now();
    let (set, report) = feeds::build_set(&list, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "in-process build: {:.3} s, {} indicators\n",
        t.elapsed().as_secs_f64(),
        report.indicators
    );
    let n = if bench { 2_000_000 } else { 2_000 };
    lookups(&set, &files, n)?;
    if !bench {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
