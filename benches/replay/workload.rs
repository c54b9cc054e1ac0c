//! The synthetic workload, a pure function of its parameters and a seed: a domain feed, an IP
//! feed, and a capture whose DNS names (over UDP and TCP), TLS server names (in one TCP segment
//! or two), QUIC server names (in real, decryptable v1 Initial packets) and server addresses hit
//! a few hundred of those indicators.
//!
//! No accidental hits: benign names and feed names are drawn from the two halves of a hash
//! partition of the registrable part ("label.tld"), so a benign name can never equal or fall
//! under a listed one; benign server addresses come from 1.0.0.0–126.255.255.255 and 2600::/12,
//! feed addresses from 128.0.0.0–223.255.255.255 and 2a00::/12. Every hit is planted, counted in
//! [`Stats`], and listed with the feed entry it hits.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::testkit::dns::{self, Answer as DnsAnswer};
use crate::testkit::quic;
use crate::testkit::tls::{self, HelloRandom, HelloShape};
use crate::testkit::wire::{self, Addr, Endpoints, PcapWriter, Tcp as TcpFields};

/// Part of every file name: bump it whenever the output for the same parameters changes, so old
/// files in `bench-data/` are not reused by mistake.
pub const GEN_VERSION: u32 = 2;

/// Flows open at the same time. Each step of the generator picks one at random and lets it send
/// its next burst, so up to this many flows interleave; a flow table must hold them all.
const ACTIVE_FLOWS: usize = 8192;
/// Mean gap between packets (exponentially distributed): 100 kpkt/s, with frames of ~600 bytes
/// about 0.5 Gbit/s — a busy 1 Gbit/s uplink.
const MEAN_GAP_NS: f64 = 10_000.0;
/// Capture start: 2023-11-14T22:13:20Z.
const START_NS: u64 = 1_700_000_000 * 1_000_000_000;
/// Share of flows over IPv6 (the rest IPv4).
const IPV6_SHARE: f64 = 0.10;
/// Host pools. Clients are inside (10.0.0.0/10, 2001:db8::/32), servers outside.
const CLIENTS_V4: usize = 30_000;
const CLIENTS_V6: usize = 3_000;
const SERVERS_V4: usize = 40_000;
const SERVERS_V6: usize = 4_000;
/// Registrable domains most benign names are drawn from (with a heavy head); the rest are fresh.
const SITES: usize = 20_000;
/// Probability that a new DNS query asks for a listed name (exact or a subdomain of one).
const P_HIT_DNS: f64 = 0.004;
/// Probability that a new TLS flow's server name is listed (exact or a subdomain of one).
const P_HIT_SNI: f64 = 0.006;
/// Probability that a new TCP flow goes to a listed address or into a listed CIDR.
const P_HIT_IP: f64 = 0.004;
/// Probability that a new DNS over TCP flow's first query asks for a listed name. Higher than
/// [`P_HIT_DNS`] because these flows are rare (about 1% of DNS), so that some hits land in them.
const P_HIT_DNS_TCP: f64 = 0.05;
/// Share of DNS flows that use TCP/53 (RFC 7766) instead of UDP.
const P_DNS_OVER_TCP: f64 = 0.01;
/// Share of TLS and QUIC flows whose ClientHello carries an X25519MLKEM768 key share (about
/// 1.8 KB: two TCP segments, or two QUIC Initial packets).
const P_PQ_HELLO: f64 = 0.4;
/// Queries left unanswered (lost, or the resolver timed out).
const P_DNS_UNANSWERED: f64 = 0.03;
/// Random bytes payloads are cut from (TLS ciphertext, compressed HTTP bodies, SSH, SMB...).
const NOISE_LEN: usize = 1 << 16;
const GATEWAY_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4c, 0x5e];

// ---------------------------------------------------------------------------------------------
// Random numbers

/// xorshift64* (Marsaglia 2003; Vigna 2016), seeded through splitmix64 so that nearby seeds give
/// unrelated streams.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut z =
            (seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is far below what matters here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Log-uniform in `lo..=hi`: as many values in 1–2 KB as in 100–200 KB.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        ((l + (h - l) * self.unit()).exp() as usize).clamp(lo, hi)
    }

    /// An index into `0..n` with a heavy head: the first 1% of indices gets about a fifth of
    /// the picks (cube of a uniform variate).
    pub fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * u * n as f64) as usize).min(n - 1)
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.index(xs.len())]
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
}

// ---------------------------------------------------------------------------------------------
// Names

const WORDS: &[&str] = &[
    "secure", "bank", "login", "mail", "cloud", "data", "app", "shop", "pay", "update", "soft",
    "tech", "media", "news", "web", "host", "link", "hub", "box", "zone", "lab", "ware", "info",
    "center", "group", "store", "smart", "fast", "micro", "global", "net", "online", "service",
    "account", "verify", "portal", "support", "office", "file", "share", "drive", "photo", "video",
    "stream", "game", "play", "music", "travel", "health", "market", "trade", "crypto", "coin",
    "wallet", "finance", "credit", "loan", "insure", "auto", "car", "home", "house", "garden",
    "food", "pizza", "coffee", "sport", "fit", "green", "blue", "red", "black", "star", "sun",
    "moon", "sky", "sea", "river", "stone", "gold", "silver", "alpha", "beta", "nova", "prime",
    "core", "edge", "next", "new", "my", "the", "best", "top", "go", "get", "one", "pro", "plus",
    "max", "easy", "free", "open", "true", "big", "little", "daily", "world", "city", "local",
    "north", "west", "east", "euro", "asia", "direct", "express", "rapid", "quick", "safe",
    "trust", "guard", "shield", "sys", "dev", "code", "bit", "byte", "pixel", "logic", "quant",
    "metric", "signal", "vector", "orbit", "atlas", "delta", "omega", "zen", "echo",
];
const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
    "cr", "dr", "gr", "pr", "tr", "st", "sh", "ch", "th", "bl", "cl", "fl", "pl", "sl", "sp", "sk",
    "qu", "",
];
const VOWELS: &[&str] = &[
    "a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y", "a", "e", "o",
];
const CODAS: &[&str] = &[
    "", "", "", "", "n", "r", "s", "t", "l", "m", "x", "ck", "nd", "st",
];
/// Top-level domains with rough weights (per mille).
const TLDS: &[(&str, u32)] = &[
    ("com", 400),
    ("net", 70),
    ("org", 50),
    ("ru", 40),
    ("xyz", 40),
    ("top", 40),
    ("de", 30),
    ("info", 30),
    ("io", 30),
    ("cn", 30),
    ("co.uk", 20),
    ("online", 20),
    ("site", 20),
    ("fr", 15),
    ("nl", 15),
    ("shop", 15),
    ("com.br", 10),
    ("jp", 10),
    ("in", 10),
    ("biz", 10),
    ("club", 10),
    ("app", 10),
    ("me", 10),
    ("cc", 10),
    ("live", 10),
    ("icu", 10),
    ("dev", 5),
    ("pw", 5),
    ("su", 5),
    ("buzz", 5),
];
/// First labels of listed subdomains ("login.secure-pay.xyz").
const FEED_SUBS: &[&str] = &[
    "login", "secure", "mail", "update", "cdn", "api", "www", "portal", "verify", "account",
    "auth", "download", "static", "m", "pay", "support", "docs", "files", "my", "admin",
];
/// First labels of host names under a site.
const HOSTS: &[&str] = &[
    "api",
    "cdn",
    "static",
    "img",
    "mail",
    "m",
    "app",
    "login",
    "edge",
    "assets",
    "media",
    "video",
    "s",
    "t",
    "ws",
    "push",
    "telemetry",
    "update",
    "accounts",
    "auth",
    "graph",
    "gateway",
    "content",
    "files",
    "docs",
];
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Which half of the partition a registrable domain belongs to (see the module doc).
fn in_listed_half(base: &str) -> bool {
    fnv1a(base.as_bytes()) & 1 == 0
}

fn push_syllable(rng: &mut Rng, out: &mut String) {
    out.push_str(rng.pick(ONSETS));
    out.push_str(rng.pick(VOWELS));
    out.push_str(rng.pick(CODAS));
}

fn push_alnum(rng: &mut Rng, out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(char::from(rng.pick(ALNUM)));
    }
}

/// One label shaped like those seen in registrations: dictionary words, pronounceable
/// syllables, hyphens, digits, and some algorithmic-looking strings. At most 63 bytes.
fn push_label(rng: &mut Rng, out: &mut String) {
    match rng.below(100) {
        0..35 => {
            out.push_str(rng.pick(WORDS));
            out.push_str(rng.pick(WORDS));
        }
        35..55 => {
            for _ in 0..rng.range(2, 4) {
                push_syllable(rng, out);
            }
        }
        55..68 => {
            out.push_str(rng.pick(WORDS));
            out.push('-');
            out.push_str(rng.pick(WORDS));
        }
        68..80 => {
            out.push_str(rng.pick(WORDS));
            for _ in 0..rng.range(1, 2) {
                push_syllable(rng, out);
            }
        }
        80..92 => {
            for _ in 0..rng.range(2, 3) {
                push_syllable(rng, out);
            }
            let _ = write!(out, "{}", rng.below(10_000));
        }
        _ => {
            let n = rng.range(8, 16) as usize;
            push_alnum(rng, out, n);
        }
    }
}

fn pick_tld(rng: &mut Rng) -> &'static str {
    let total: u32 = TLDS.iter().map(|t| t.1).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    for &(tld, w) in TLDS {
        if x < w {
            return tld;
        }
        x -= w;
    }
    TLDS[0].0
}

/// Append a registrable domain from the given half of the partition.
fn push_base(rng: &mut Rng, out: &mut String, listed: bool) {
    let start = out.len();
    loop {
        out.truncate(start);
        push_label(rng, out);
        out.push('.');
        out.push_str(pick_tld(rng));
        if in_listed_half(&out[start..]) == listed {
            return;
        }
    }
}

/// The domain feed: `n` distinct names, a quarter of them subdomains ("login.bank-secure.top").
pub fn domain_feed(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed, 1);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut s = String::new();
    while out.len() < n {
        s.clear();
        if rng.chance(0.25) {
            if rng.chance(0.7) {
                s.push_str(rng.pick(FEED_SUBS));
            } else {
                push_label(&mut rng, &mut s);
            }
            s.push('.');
        }
        push_base(&mut rng, &mut s, true);
        if seen.insert(fnv1a(s.as_bytes())) {
            out.push(s.clone());
        }
    }
    out
}

fn v4_in(rng: &mut Rng, first: impl Fn(u8) -> bool, lo: u8, hi: u8) -> [u8; 4] {
    loop {
        let a = rng.range(u64::from(lo), u64::from(hi)) as u8;
        if first(a) {
            let r: [u8; 3] = rng.bytes();
            return [a, r[0], r[1], r[2]];
        }
    }
}

/// A listed IPv4 address: 128.0.0.0–223.255.255.255 without the blocks that hold private,
/// link-local or documentation space.
fn feed_v4(rng: &mut Rng) -> [u8; 4] {
    v4_in(rng, |a| !matches!(a, 169 | 172 | 192 | 198 | 203), 128, 223)
}

/// A listed IPv6 address in 2a00::/12.
fn feed_v6(rng: &mut Rng) -> [u8; 16] {
    let mut a: [u8; 16] = rng.bytes();
    a[0] = 0x2a;
    a[1] &= 0x0f;
    a
}

fn mask_v4(a: [u8; 4], prefix: u8) -> Ipv4Addr {
    let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from_be_bytes(a) & m)
}

fn mask_v6(a: [u8; 16], prefix: u8) -> Ipv6Addr {
    let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from_be_bytes(a) & m)
}

/// The IP feed: `n` distinct entries — 78% IPv4 addresses, 8% IPv6 addresses, 12% IPv4 CIDRs
/// (/16 2.5%, /17–/23 22.5%, /24 50%, /25–/28 25% of them), 2% IPv6 CIDRs (/32–/64).
pub fn ip_feed(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed, 2);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let s = match rng.below(1000) {
            0..780 => Ipv4Addr::from(feed_v4(&mut rng)).to_string(),
            780..860 => Ipv6Addr::from(feed_v6(&mut rng)).to_string(),
            860..980 => {
                let prefix = match rng.below(1000) {
                    0..25 => 16,
                    25..250 => rng.range(17, 23) as u8,
                    250..750 => 24,
                    _ => rng.range(25, 28) as u8,
                };
                format!("{}/{prefix}", mask_v4(feed_v4(&mut rng), prefix))
            }
            _ => {
                let prefix = rng.pick(&[32u8, 40, 48, 56, 64]);
                format!("{}/{prefix}", mask_v6(feed_v6(&mut rng), prefix))
            }
        };
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// Write a feed atomically (a temporary file renamed into place): comment lines, then one
/// entry per line.
pub fn write_feed(path: &Path, comments: &[String], lines: &[String]) -> io::Result<()> {
    let tmp = path.with_extension("part");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    for c in comments {
        writeln!(w, "# {c}")?;
    }
    for l in lines {
        w.write_all(l.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, path)
}

/// Read back the entries of a feed written by [`write_feed`].
pub fn read_feed(path: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for line in BufReader::with_capacity(1 << 20, File::open(path)?).lines() {
        let line = line?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Parse an IP feed entry into (address, prefix length).
fn parse_ip_entry(s: &str) -> Option<(IpAddr, u8)> {
    match s.split_once('/') {
        Some((a, p)) => Some((a.parse().ok()?, p.parse().ok()?)),
        None => {
            let a: IpAddr = s.parse().ok()?;
            Some((a, if a.is_ipv4() { 32 } else { 128 }))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// What a packet is, for the mix report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    DnsQuery,
    DnsResponse,
    /// SYN or SYN-ACK.
    Handshake,
    /// A TCP segment without payload or SYN/FIN/RST.
    PureAck,
    ClientHello,
    /// Any other client request (HTTP request, TLS records, a command).
    Request,
    /// Response or upload data.
    Data,
    /// FIN or RST.
    Close,
    /// Either segment of a ClientHello too large for one (post-quantum key share).
    SplitHello,
    /// A client datagram with a QUIC Initial packet (a ClientHello or part of one).
    QuicInitial,
    /// The server's first QUIC datagram (Initial + Handshake) and short-header packets.
    QuicOther,
    /// A TCP segment carrying DNS messages (queries or responses) over TCP/53.
    DnsTcp,
}

const ROLE_NAMES: [&str; 12] = [
    "DNS query",
    "DNS response",
    "TCP SYN / SYN-ACK",
    "TCP pure ACK",
    "TLS ClientHello",
    "other client request",
    "bulk / response data",
    "TCP FIN / RST",
    "TLS ClientHello split over 2 segments (both counted)",
    "QUIC Initial (client)",
    "QUIC server handshake / short header",
    "DNS over TCP message",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum App {
    Dns,
    Tls,
    Http,
    Bulk,
    Quic,
    DnsTcp,
}

const APP_NAMES: [&str; 6] = [
    "DNS over UDP/53",
    "TLS to TCP/443",
    "HTTP to TCP/80, 8080",
    "bulk TCP (SSH, SMB, databases, ...)",
    "QUIC v1 to UDP/443",
    "DNS over TCP/53",
];

/// An indicator hit planted in the capture.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hit {
    None,
    DnsExact,
    DnsSubdomain,
    SniExact,
    SniSubdomain,
    IpAddress,
    IpInCidr,
    /// SNI of a ClientHello split over two TCP segments.
    SniSplitExact,
    SniSplitSubdomain,
    /// SNI of a ClientHello in QUIC Initial packets.
    QuicSniExact,
    QuicSniSubdomain,
    /// First query name of a DNS over TCP flow.
    DnsTcpExact,
    DnsTcpSubdomain,
}

const HIT_NAMES: [&str; 13] = [
    "",
    "dns_exact",
    "dns_subdomain",
    "sni_exact",
    "sni_subdomain",
    "ip_address",
    "ip_in_cidr",
    "sni_split_exact",
    "sni_split_subdomain",
    "quic_sni_exact",
    "quic_sni_subdomain",
    "dns_tcp_exact",
    "dns_tcp_subdomain",
];

/// Frame-size classes of the mix report (bytes of Ethernet frame without FCS).
const SIZE_CLASSES: [(usize, usize); 6] = [
    (0, 100),
    (101, 300),
    (301, 700),
    (701, 1200),
    (1201, 1499),
    (1500, usize::MAX),
];

/// What the generator wrote.
#[derive(Default)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    v6_packets: u64,
    sizes: [u64; SIZE_CLASSES.len()],
    roles: [u64; ROLE_NAMES.len()],
    flows: [u64; APP_NAMES.len()],
    flows_v6: u64,
    hits: [u64; HIT_NAMES.len()],
    /// One line per planted hit: kind, observable, the feed entry it hits.
    pub hit_list: Vec<String>,
    first_ns: u64,
    last_ns: u64,
}

fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

impl Stats {
    fn count(&mut self, ts_ns: u64, len: usize, v6: bool, role: Role) {
        if self.packets == 0 {
            self.first_ns = ts_ns;
        }
        self.last_ns = ts_ns;
        self.packets += 1;
        self.bytes += len as u64;
        self.v6_packets += u64::from(v6);
        let class = SIZE_CLASSES
            .iter()
            .position(|&(lo, hi)| (lo..=hi).contains(&len));
        self.sizes[class.unwrap_or(0)] += 1;
        self.roles[role as usize] += 1;
    }

    fn flow(&mut self, app: App, v6: bool) {
        self.flows[app as usize] += 1;
        self.flows_v6 += u64::from(v6);
    }

    fn hit(&mut self, hit: Hit, observable: &str, entry: &str) {
        self.hits[hit as usize] += 1;
        self.hit_list
            .push(format!("{} {observable} {entry}", HIT_NAMES[hit as usize]));
    }

    /// The mix, as Markdown; stored beside the capture and printed by the runner.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let p = self.packets;
        let secs = (self.last_ns - self.first_ns) as f64 / 1e9;
        let _ = writeln!(
            s,
            "- {} packets, {} bytes of frames (mean {:.0} B), spanning {:.2} s of capture time \
             ({:.0} pkt/s, {:.2} Gbit/s as recorded); IPv6 {:.1}% of packets",
            p,
            self.bytes,
            self.bytes as f64 / p.max(1) as f64,
            secs,
            p as f64 / secs.max(1e-9),
            self.bytes as f64 * 8.0 / secs.max(1e-9) / 1e9,
            pct(self.v6_packets, p),
        );
        let _ = write!(s, "- frame sizes:");
        for (i, &(lo, hi)) in SIZE_CLASSES.iter().enumerate() {
            let label = match (lo, hi) {
                (0, h) => format!("≤{h}"),
                (l, usize::MAX) => format!("≥{l}"),
                (l, h) => format!("{l}–{h}"),
            };
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(s, "{sep}{label} B {:.1}%", pct(self.sizes[i], p));
        }
        let _ = writeln!(s);
        let _ = write!(s, "- packets by role:");
        for (i, name) in ROLE_NAMES.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(
                s,
                "{sep}{name} {} ({:.1}%)",
                self.roles[i],
                pct(self.roles[i], p)
            );
        }
        let _ = writeln!(s);
        let flows: u64 = self.flows.iter().sum();
        let _ = write!(
            s,
            "- {flows} flows (counted when their first packet is in the capture):"
        );
        for (i, name) in APP_NAMES.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(s, "{sep}{name} {}", self.flows[i]);
        }
        let _ = writeln!(
            s,
            "; IPv6 {} ({:.1}%); up to {ACTIVE_FLOWS} open at once",
            self.flows_v6,
            pct(self.flows_v6, flows)
        );
        let hits: u64 = self.hits.iter().sum();
        let _ = write!(s, "- {hits} planted indicator hits:");
        for (i, name) in HIT_NAMES.iter().enumerate().skip(1) {
            let sep = if i == 1 { " " } else { ", " };
            let _ = write!(s, "{sep}{name} {}", self.hits[i]);
        }
        let _ = writeln!(s);
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Flows

const CLIENT: usize = 0;
const SERVER: usize = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    DnsQuery,
    DnsResponse,
    Syn,
    SynAck,
    /// The client's handshake ACK, then its first request.
    Established,
    Request,
    Transfer,
    Close,
    /// QUIC: the client's Initial datagram(s), the server's reply, then short-header bursts.
    QuicInitial,
    QuicServer,
    QuicShort,
    Done,
}

/// One direction's byte stream for a transfer: `pending` bytes first (an HTTP header, a
/// ServerHello, a record header), then either raw noise or noise framed as TLS records.
#[derive(Default)]
struct Stream {
    /// Bytes still to send in this transfer, `pending` included.
    left: usize,
    pending: Vec<u8>,
    pending_pos: usize,
    /// Bytes left in the current TLS record body.
    body_left: usize,
    tls: bool,
}

impl Stream {
    fn start(&mut self, tls: bool) {
        *self = Stream {
            pending: std::mem::take(&mut self.pending),
            tls,
            ..Stream::default()
        };
        self.pending.clear();
    }

    /// Append the next `n` bytes of the stream (at most what is left) to `out`.
    fn fill(&mut self, out: &mut Vec<u8>, n: usize, rng: &mut Rng, noise: &[u8]) {
        let mut n = n.min(self.left);
        self.left -= n;
        while n > 0 {
            if self.pending_pos < self.pending.len() {
                let k = n.min(self.pending.len() - self.pending_pos);
                out.extend_from_slice(&self.pending[self.pending_pos..self.pending_pos + k]);
                self.pending_pos += k;
                n -= k;
                continue;
            }
            if self.tls && self.body_left == 0 {
                // Bytes from here to the end of the transfer, this record's header included.
                let rest = n + self.left;
                if rest <= 5 {
                    self.tls = false;
                    continue;
                }
                let mut body = (rest - 5).min(tls::MAX_RECORD_BODY);
                let after = rest - 5 - body;
                if after > 0 && after <= 5 {
                    body -= 6; // leave room for one more whole record
                }
                self.pending.clear();
                self.pending_pos = 0;
                self.pending.extend_from_slice(&tls::app_data_header(body));
                self.body_left = body;
                continue;
            }
            let k = if self.tls { n.min(self.body_left) } else { n };
            let off = rng.index(noise.len() - k + 1);
            out.extend_from_slice(&noise[off..off + k]);
            if self.tls {
                self.body_left -= k;
            }
            n -= k;
        }
    }
}

struct Flow {
    app: App,
    state: State,
    hit: Hit,
    /// The feed entry a planted hit hits.
    hit_entry: String,
    addr: [Addr; 2],
    port: [u16; 2],
    /// Source MAC of each side's frames (the server's come through the gateway).
    mac: [[u8; 6]; 2],
    ttl: [u8; 2],
    ip_id: [u16; 2],
    flow_label: [u32; 2],
    /// Next sequence number of each side.
    seq: [u32; 2],
    window: [u16; 2],
    /// TCP timestamp clock offsets of each side, when the flow uses the option (RFC 7323).
    ts_base: Option<[u32; 2]>,
    /// MSS announced in the SYN.
    mss: u16,
    /// Payload bytes per full segment: the MSS less the timestamp option.
    seg: usize,
    round: u32,
    rounds: u32,
    upload: bool,
    sender: usize,
    stream: Stream,
    unacked: u32,
    /// DNS question, TLS server name, or HTTP Host.
    name: String,
    dns_id: u16,
    qtype: u16,
    edns: bool,
    /// TLS or QUIC: the ClientHello carries a post-quantum key share (about 1.8 KB).
    pq: bool,
    /// QUIC: the client's original Destination Connection ID (the Initial keys come from it),
    /// its own Source Connection ID (empty, as Chrome's, or 8 bytes) and the server's.
    odcid: [u8; 8],
    client_cid: Vec<u8>,
    server_cid: [u8; 8],
}

/// Hosts, names and feeds a flow is made from.
struct World<'a> {
    clients_v4: Vec<[u8; 4]>,
    clients_v6: Vec<[u8; 16]>,
    servers_v4: Vec<[u8; 4]>,
    servers_v6: Vec<[u8; 16]>,
    sites: Vec<String>,
    feed_domains: &'a [String],
    feed_ips: &'a [String],
    /// FNV-1a hashes of the domain feed, to keep planted subdomains off the feed.
    listed: HashSet<u64>,
}

const RESOLVERS_V4: [[u8; 4]; 4] = [[10, 0, 0, 53], [10, 0, 1, 53], [8, 8, 8, 8], [9, 9, 9, 9]];
const RESOLVERS_V6: [[u8; 16]; 2] = [
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x53, 0, 0, 0, 0, 0, 0, 0, 0x53,
    ],
    [
        0x20, 0x01, 0x48, 0x60, 0x48, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x88,
    ],
];
const BULK_PORTS: [u16; 8] = [22, 445, 873, 3306, 5432, 6379, 9000, 27017];

impl World<'_> {
    fn new<'a>(rng: &mut Rng, feed_domains: &'a [String], feed_ips: &'a [String]) -> World<'a> {
        let clients_v4 = (0..CLIENTS_V4)
            .map(|_| {
                [
                    10,
                    rng.below(64) as u8,
                    rng.below(256) as u8,
                    rng.range(1, 254) as u8,
                ]
            })
            .collect();
        let clients_v6 = (0..CLIENTS_V6)
            .map(|_| {
                let mut a: [u8; 16] = rng.bytes();
                a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                a
            })
            .collect();
        let servers_v4 = (0..SERVERS_V4)
            .map(|_| v4_in(rng, |a| a != 10, 1, 126))
            .collect();
        let servers_v6 = (0..SERVERS_V6)
            .map(|_| {
                let mut a: [u8; 16] = rng.bytes();
                a[0] = 0x26;
                a[1] &= 0x0f;
                a
            })
            .collect();
        let mut sites = Vec::with_capacity(SITES);
        for _ in 0..SITES {
            let mut s = String::new();
            push_base(rng, &mut s, false);
            sites.push(s);
        }
        World {
            clients_v4,
            clients_v6,
            servers_v4,
            servers_v6,
            sites,
            feed_domains,
            feed_ips,
            listed: feed_domains.iter().map(|d| fnv1a(d.as_bytes())).collect(),
        }
    }

    /// A name nobody listed: mostly hosts under popular sites, some fresh registrable domains.
    fn benign_name(&self, rng: &mut Rng, out: &mut String) {
        out.clear();
        if rng.chance(0.7) {
            match rng.below(100) {
                0..20 => {}
                20..50 => out.push_str("www."),
                50..85 => {
                    out.push_str(rng.pick(HOSTS));
                    out.push('.');
                }
                _ => {
                    out.push('e');
                    let n = rng.range(6, 12) as usize;
                    push_alnum(rng, out, n);
                    out.push_str(".r");
                    let _ = write!(out, "{}.", rng.below(20));
                }
            }
            out.push_str(&self.sites[rng.skewed(self.sites.len())]);
        } else {
            if rng.chance(0.5) {
                out.push_str("www.");
            }
            push_base(rng, out, false);
        }
    }

    /// A listed name, or a host under one. Returns the kind of hit and the feed entry.
    fn listed_name(&self, rng: &mut Rng, out: &mut String, app: App, pq: bool) -> (Hit, String) {
        out.clear();
        let entry = self.feed_domains[rng.index(self.feed_domains.len())].clone();
        let mut sub = rng.chance(0.5) && entry.len() < 200;
        if sub {
            // The subdomain must not be listed itself ("api.x.com" beside "x.com"), or a
            // matcher rightly reports the exact entry instead of the one this hit names.
            sub = false;
            for _ in 0..4 {
                out.clear();
                out.push_str(rng.pick(HOSTS));
                out.push('.');
                out.push_str(&entry);
                if !self.listed.contains(&fnv1a(out.as_bytes())) {
                    sub = true;
                    break;
                }
            }
            if !sub {
                out.clear();
                out.push_str(&entry);
            }
        } else {
            out.push_str(&entry);
        }
        let hit = match (app, pq, sub) {
            (App::Tls, false, false) => Hit::SniExact,
            (App::Tls, false, true) => Hit::SniSubdomain,
            (App::Tls, true, false) => Hit::SniSplitExact,
            (App::Tls, true, true) => Hit::SniSplitSubdomain,
            (App::Quic, _, false) => Hit::QuicSniExact,
            (App::Quic, _, true) => Hit::QuicSniSubdomain,
            (App::DnsTcp, _, false) => Hit::DnsTcpExact,
            (App::DnsTcp, _, true) => Hit::DnsTcpSubdomain,
            (_, _, false) => Hit::DnsExact,
            (_, _, true) => Hit::DnsSubdomain,
        };
        (hit, entry)
    }

    /// A server address in a listed address or CIDR.
    fn listed_server(&self, rng: &mut Rng) -> Option<(Addr, Hit, String)> {
        let entry = &self.feed_ips[rng.index(self.feed_ips.len())];
        let (ip, prefix) = parse_ip_entry(entry)?;
        let (addr, full) = match ip {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let v = (u32::from(a) & !host) | (rng.next_u64() as u32 & host);
                (Addr::V4(v.to_be_bytes()), prefix == 32)
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
                let v = (u128::from(a) & !host) | (r & host);
                (Addr::V6(v.to_be_bytes()), prefix == 128)
            }
        };
        let hit = if full { Hit::IpAddress } else { Hit::IpInCidr };
        Some((addr, hit, entry.clone()))
    }

    fn new_flow(&self, rng: &mut Rng) -> Flow {
        let app = match rng.below(100) {
            0..57 if rng.chance(P_DNS_OVER_TCP) => App::DnsTcp,
            0..57 => App::Dns,
            57..82 => App::Tls,
            82..94 => App::Quic,
            94..98 => App::Http,
            _ => App::Bulk,
        };
        let mut v6 = rng.chance(IPV6_SHARE);
        let mut hit = Hit::None;
        let mut hit_entry = String::new();
        let mut name = String::new();
        let mut server = None;
        let resolver = matches!(app, App::Dns | App::DnsTcp);
        if !resolver && !self.feed_ips.is_empty() && rng.chance(P_HIT_IP) {
            if let Some((a, h, e)) = self.listed_server(rng) {
                v6 = a.is_v6();
                server = Some(a);
                hit = h;
                hit_entry = e;
            }
        }
        let server = server.unwrap_or_else(|| match (resolver, v6) {
            (true, false) => Addr::V4(rng.pick(&RESOLVERS_V4)),
            (true, true) => Addr::V6(rng.pick(&RESOLVERS_V6)),
            (_, false) => Addr::V4(self.servers_v4[rng.skewed(SERVERS_V4)]),
            (_, true) => Addr::V6(self.servers_v6[rng.skewed(SERVERS_V6)]),
        });
        let client = if v6 {
            Addr::V6(rng.pick(&self.clients_v6))
        } else {
            Addr::V4(rng.pick(&self.clients_v4))
        };
        let name_hit_p = match app {
            App::Dns => P_HIT_DNS,
            App::DnsTcp => P_HIT_DNS_TCP,
            App::Tls | App::Quic => P_HIT_SNI,
            _ => 0.0,
        };
        let pq = matches!(app, App::Tls | App::Quic) && rng.chance(P_PQ_HELLO);
        if hit == Hit::None && !self.feed_domains.is_empty() && rng.chance(name_hit_p) {
            (hit, hit_entry) = self.listed_name(rng, &mut name, app, pq);
        } else if app != App::Bulk {
            self.benign_name(rng, &mut name);
        }
        let sport = match app {
            App::Dns | App::DnsTcp => 53,
            App::Tls | App::Quic => 443,
            App::Http if rng.chance(0.1) => 8080,
            App::Http => 80,
            App::Bulk => rng.pick(&BULK_PORTS),
        };
        let client_mac = {
            let h = fnv1a(match &client {
                Addr::V4(a) => a.as_slice(),
                Addr::V6(a) => a.as_slice(),
            })
            .to_be_bytes();
            [0x02, h[0], h[1], h[2], h[3], h[4]]
        };
        // Linux clients use timestamps and TTL 64; Windows clients neither, and TTL 128.
        let linux = rng.chance(0.6);
        let mss: u16 = if v6 { 1440 } else { 1460 };
        let seg = usize::from(mss) - if linux { 12 } else { 0 };
        let qtype = match rng.below(100) {
            0..55 => dns::QTYPE_A,
            55..90 => dns::QTYPE_AAAA,
            _ => dns::QTYPE_HTTPS,
        };
        Flow {
            app,
            state: match app {
                App::Dns => State::DnsQuery,
                App::Quic => State::QuicInitial,
                _ => State::Syn,
            },
            hit,
            hit_entry,
            addr: [client, server],
            port: [rng.range(32_768, 60_999) as u16, sport],
            mac: [client_mac, GATEWAY_MAC],
            ttl: [if linux { 64 } else { 128 }, rng.range(44, 60) as u8],
            ip_id: [rng.next_u64() as u16, rng.next_u64() as u16],
            flow_label: [rng.next_u64() as u32, rng.next_u64() as u32],
            seq: [rng.next_u64() as u32, rng.next_u64() as u32],
            window: [rng.range(500, 2048) as u16, rng.range(235, 1024) as u16],
            ts_base: linux.then(|| [rng.next_u64() as u32, rng.next_u64() as u32]),
            mss,
            seg,
            round: 0,
            rounds: match app {
                App::Tls => 1 + rng.range(1, 6) as u32,
                App::Http | App::DnsTcp => rng.range(1, 3) as u32,
                // QUIC: bursts of short-header packets after the handshake.
                App::Quic => rng.range(1, 5) as u32,
                _ => 1,
            },
            upload: rng.chance(0.4),
            sender: SERVER,
            stream: Stream::default(),
            unacked: 0,
            name,
            dns_id: rng.next_u64() as u16,
            qtype,
            edns: rng.chance(0.7),
            pq,
            odcid: rng.bytes(),
            client_cid: if rng.chance(0.5) {
                Vec::new()
            } else {
                rng.bytes::<8>().to_vec()
            },
            server_cid: rng.bytes(),
        }
    }
}

/// Size of one response: most fit one segment, a few are large downloads.
fn response_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..65 => rng.log_range(150, 1_400),
        65..90 => rng.log_range(1_500, 10_000),
        90..98 => rng.log_range(10_000, 40_000),
        _ => rng.log_range(40_000, 200_000),
    }
}

// ---------------------------------------------------------------------------------------------
// Emission

struct Ctx {
    rng: Rng,
    out: PcapWriter,
    frame: Vec<u8>,
    payload: Vec<u8>,
    opts: Vec<u8>,
    text: String,
    noise: Vec<u8>,
    /// Scratch space: the second segment of a split hello, a QUIC ClientHello or ServerHello.
    spare: Vec<u8>,
    frames: Vec<u8>,
    clock_ns: u64,
    target: u64,
    stats: Stats,
}

impl Ctx {
    fn full(&self) -> bool {
        self.stats.packets >= self.target
    }

    fn endpoints(f: &mut Flow, side: usize) -> Endpoints {
        f.ip_id[side] = f.ip_id[side].wrapping_add(1);
        Endpoints {
            src_mac: f.mac[side],
            dst_mac: f.mac[1 - side],
            src: f.addr[side],
            dst: f.addr[1 - side],
            ttl: f.ttl[side],
            ip_id: f.ip_id[side],
            flow_label: f.flow_label[side],
        }
    }

    fn emit(&mut self, v6: bool, role: Role) -> io::Result<()> {
        // Exponential inter-arrival times: a Poisson arrival process at the mean rate.
        let gap = -(1.0 - self.rng.unit()).ln() * MEAN_GAP_NS;
        self.clock_ns += gap as u64;
        self.out.write(self.clock_ns, &self.frame)?;
        self.stats.count(self.clock_ns, self.frame.len(), v6, role);
        Ok(())
    }

    /// Send `self.payload` over UDP from `side`. False when the capture is already full.
    fn udp(&mut self, f: &mut Flow, side: usize, role: Role) -> io::Result<bool> {
        if self.full() {
            return Ok(false);
        }
        let e = Self::endpoints(f, side);
        wire::begin(&mut self.frame, &e, wire::PROTO_UDP);
        wire::udp_header(&mut self.frame, f.port[side], f.port[1 - side]);
        self.frame.extend_from_slice(&self.payload);
        wire::finish(&mut self.frame);
        self.emit(e.src.is_v6(), role)?;
        Ok(true)
    }

    /// Send `self.payload` in a TCP segment from `side`. False when the capture is already full.
    fn tcp(&mut self, f: &mut Flow, side: usize, flags: u8, role: Role) -> io::Result<bool> {
        if self.full() {
            return Ok(false);
        }
        let syn = flags & wire::TCP_SYN != 0;
        let now_ms = (self.clock_ns / 1_000_000) as u32;
        self.opts.clear();
        let mss = f.mss.to_be_bytes();
        match f.ts_base {
            Some(base) => {
                let tsval = base[side].wrapping_add(now_ms);
                let tsecr = if syn && side == CLIENT {
                    0
                } else {
                    base[1 - side].wrapping_add(now_ms)
                };
                if syn {
                    // Linux order: MSS, SACK permitted, timestamps, NOP, window scale 7.
                    self.opts
                        .extend_from_slice(&[2, 4, mss[0], mss[1], 4, 2, 8, 10]);
                } else {
                    self.opts.extend_from_slice(&[1, 1, 8, 10]);
                }
                self.opts.extend_from_slice(&tsval.to_be_bytes());
                self.opts.extend_from_slice(&tsecr.to_be_bytes());
                if syn {
                    self.opts.extend_from_slice(&[1, 3, 3, 7]);
                }
            }
            None if syn => {
                // Windows order: MSS, NOP, window scale 8, NOP, NOP, SACK permitted.
                self.opts
                    .extend_from_slice(&[2, 4, mss[0], mss[1], 1, 3, 3, 8, 1, 1, 4, 2]);
            }
            None => {}
        }
        let e = Self::endpoints(f, side);
        let fields = TcpFields {
            seq: f.seq[side],
            ack: if flags & wire::TCP_ACK != 0 {
                f.seq[1 - side]
            } else {
                0
            },
            flags,
            window: if syn { 64_240 } else { f.window[side] },
            options: &self.opts,
        };
        wire::begin(&mut self.frame, &e, wire::PROTO_TCP);
        wire::tcp_header(&mut self.frame, f.port[side], f.port[1 - side], &fields);
        self.frame.extend_from_slice(&self.payload);
        wire::finish(&mut self.frame);
        let advance =
            self.payload.len() + usize::from(syn) + usize::from(flags & wire::TCP_FIN != 0);
        f.seq[side] = f.seq[side].wrapping_add(advance as u32);
        self.emit(e.src.is_v6(), role)?;
        Ok(true)
    }

    fn hello_random(&mut self) -> HelloRandom {
        let g: [u8; 4] = self.rng.bytes();
        HelloRandom {
            random: self.rng.bytes(),
            session_id: self.rng.bytes(),
            key_share: self.rng.bytes(),
            // RFC 8701 §2: GREASE values are 0x0A0A, 0x1A1A, ..., 0xFAFA.
            grease: g.map(|b| u16::from(b & 0xf0 | 0x0a) * 0x0101),
        }
    }

    fn noise_into_payload(&mut self, n: usize) {
        let off = self.rng.index(self.noise.len() - n + 1);
        self.payload.extend_from_slice(&self.noise[off..off + n]);
    }

    /// An application_data record with `len` bytes of ciphertext, appended to the payload.
    fn tls_record(&mut self, len: usize) {
        self.payload.extend_from_slice(&tls::app_data_header(len));
        self.noise_into_payload(len);
    }
}

fn step(ctx: &mut Ctx, w: &World, f: &mut Flow) -> io::Result<()> {
    match f.state {
        State::DnsQuery => {
            ctx.payload.clear();
            dns::query_into(&mut ctx.payload, f.dns_id, &f.name, f.qtype, f.edns);
            if ctx.udp(f, CLIENT, Role::DnsQuery)? {
                ctx.stats.flow(f.app, f.addr[0].is_v6());
                if f.hit != Hit::None {
                    ctx.stats.hit(f.hit, &f.name, &f.hit_entry);
                }
            }
            f.state = if ctx.rng.chance(P_DNS_UNANSWERED) {
                State::Done
            } else {
                State::DnsResponse
            };
        }
        State::DnsResponse => {
            dns_response(ctx, w, f);
            ctx.udp(f, SERVER, Role::DnsResponse)?;
            f.state = State::Done;
        }
        State::Syn => {
            ctx.payload.clear();
            if ctx.tcp(f, CLIENT, wire::TCP_SYN, Role::Handshake)? {
                first_packet(ctx, f);
            }
            f.state = State::SynAck;
        }
        State::QuicInitial => quic_initial(ctx, f)?,
        State::QuicServer => quic_server(ctx, f)?,
        State::QuicShort => quic_short_burst(ctx, f)?,
        State::SynAck => {
            ctx.payload.clear();
            ctx.tcp(f, SERVER, wire::TCP_SYN | wire::TCP_ACK, Role::Handshake)?;
            f.state = State::Established;
        }
        State::Established => {
            ctx.payload.clear();
            ctx.tcp(f, CLIENT, wire::TCP_ACK, Role::PureAck)?;
            request(ctx, w, f)?;
        }
        State::Request => request(ctx, w, f)?,
        State::Transfer => transfer(ctx, f)?,
        State::Close => {
            ctx.payload.clear();
            if ctx.rng.chance(0.05) {
                ctx.tcp(f, CLIENT, wire::TCP_RST | wire::TCP_ACK, Role::Close)?;
            } else {
                let fin = wire::TCP_FIN | wire::TCP_ACK;
                let (a, b) = if ctx.rng.chance(0.6) {
                    (CLIENT, SERVER)
                } else {
                    (SERVER, CLIENT)
                };
                ctx.tcp(f, a, fin, Role::Close)?;
                ctx.tcp(f, b, fin, Role::Close)?;
                ctx.tcp(f, a, wire::TCP_ACK, Role::PureAck)?;
            }
            f.state = State::Done;
        }
        State::Done => {}
    }
    Ok(())
}

/// Count a flow whose first packet was just written, and its planted address hit if any.
fn first_packet(ctx: &mut Ctx, f: &Flow) {
    ctx.stats.flow(f.app, f.addr[0].is_v6());
    if matches!(f.hit, Hit::IpAddress | Hit::IpInCidr) {
        let server = match f.addr[SERVER] {
            Addr::V4(a) => Ipv4Addr::from(a).to_string(),
            Addr::V6(a) => Ipv6Addr::from(a).to_string(),
        };
        ctx.stats.hit(f.hit, &server, &f.hit_entry);
    }
}

/// Whether a planted hit is on a name (DNS question, SNI) rather than on an address.
fn name_hit(hit: Hit) -> bool {
    !matches!(hit, Hit::None | Hit::IpAddress | Hit::IpInCidr)
}

/// Length of an X25519MLKEM768 client key share: ML-KEM-768 encapsulation key (1,184 bytes)
/// then the X25519 share (32 bytes).
const MLKEM768_X25519_SHARE: usize = 1184 + 32;
/// UDP payload sizes of a client's Initial datagrams (RFC 9000 §14.1: at least 1,200): Chrome
/// pads to 1,250, quic-go to 1,252, Firefox and others to 1,200, some stacks more.
const QUIC_INITIAL_SIZES: [usize; 4] = [1200, 1250, 1252, 1350];
/// CRYPTO bytes in the first Initial when the ClientHello does not fit one.
const QUIC_FIRST_CHUNK: usize = 1100;

/// The client's first flight: one Initial datagram with the whole ClientHello, or (post-quantum
/// hello) two, with the CRYPTO stream cut at [`QUIC_FIRST_CHUNK`].
fn quic_initial(ctx: &mut Ctx, f: &mut Flow) -> io::Result<()> {
    let hr = ctx.hello_random();
    // quic_transport_parameters (RFC 9000 §18.2): max_idle_timeout 30 s, max_udp_payload_size
    // 1472, initial_max_data 15 MiB, initial_max_streams_bidi 100, and
    // initial_source_connection_id, which must equal the packet's SCID.
    let mut params = vec![
        0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x03, 0x02, 0x45, 0xc0, 0x04, 0x04, 0x80, 0xf0, 0x00,
        0x00, 0x08, 0x02, 0x40, 0x64, 0x0f,
    ];
    params.push(f.client_cid.len() as u8);
    params.extend_from_slice(&f.client_cid);
    let share =
        f.pq.then(|| ctx.rng.index(ctx.noise.len() - MLKEM768_X25519_SHARE + 1));
    ctx.spare.clear();
    let shape = HelloShape {
        mlkem_share: share.map(|o| &ctx.noise[o..o + MLKEM768_X25519_SHARE]),
        quic_params: Some(&params),
    };
    tls::browser_hello_into(&mut ctx.spare, &f.name, 0, &hr, shape);
    let keys = quic::InitialKeys::new(quic::VERSION_1, &f.odcid, true);
    let dgram = ctx.rng.pick(&QUIC_INITIAL_SIZES);
    let pad_to = dgram - quic::long_header_len(&f.odcid, &f.client_cid, true) - quic::TAG_LEN;
    let len = ctx.spare.len();
    let cut = if len > QUIC_FIRST_CHUNK {
        QUIC_FIRST_CHUNK
    } else {
        len
    };
    let chunks = [(0, cut), (cut, len)];
    let n = if cut < len { 2 } else { 1 };
    for (pn, &(from, to)) in chunks[..n].iter().enumerate() {
        ctx.frames.clear();
        quic::crypto_into(&mut ctx.frames, from as u64, &ctx.spare[from..to]);
        ctx.payload.clear();
        quic::initial_into(
            &mut ctx.payload,
            &keys,
            &f.odcid,
            &f.client_cid,
            pn as u32,
            &ctx.frames,
            pad_to,
        );
        if !ctx.udp(f, CLIENT, Role::QuicInitial)? {
            break;
        }
        if pn == 0 {
            first_packet(ctx, f);
        }
        if pn + 1 == n && name_hit(f.hit) {
            ctx.stats.hit(f.hit, &f.name, &f.hit_entry);
        }
    }
    f.state = State::QuicServer;
    Ok(())
}

/// The server's first datagram: an Initial (server keys) with an ACK and the ServerHello,
/// coalesced with a Handshake packet whose keys an observer cannot have (random bytes).
fn quic_server(ctx: &mut Ctx, f: &mut Flow) -> io::Result<()> {
    let sh = ctx.hello_random();
    ctx.spare.clear();
    tls::server_hello_into(&mut ctx.spare, &sh);
    // The bare handshake message: without the record header and the ChangeCipherSpec.
    let msg = 5..ctx.spare.len() - 6;
    let largest = if f.pq { 1 } else { 0 };
    ctx.frames.clear();
    // ACK: largest acknowledged, delay 0, no further ranges, first range covers all.
    ctx.frames
        .extend_from_slice(&[0x02, largest, 0, 0, largest]);
    quic::crypto_into(&mut ctx.frames, 0, &ctx.spare[msg]);
    let keys = quic::InitialKeys::new(quic::VERSION_1, &f.odcid, false);
    ctx.payload.clear();
    quic::initial_into(
        &mut ctx.payload,
        &keys,
        &f.client_cid,
        &f.server_cid,
        0,
        &ctx.frames,
        0,
    );
    let total = ctx.rng.range(1200, 1252) as usize;
    let head = 1 + 4 + 1 + f.client_cid.len() + 1 + f.server_cid.len() + 2;
    let body = total.saturating_sub(ctx.payload.len() + head).max(64);
    let off = ctx.rng.index(ctx.noise.len() - body + 1);
    quic::opaque_long_into(
        &mut ctx.payload,
        quic::Type::Handshake,
        &f.client_cid,
        &f.server_cid,
        &ctx.noise[off..off + body],
    );
    ctx.udp(f, SERVER, Role::QuicOther)?;
    f.state = State::QuicShort;
    Ok(())
}

/// A 1-RTT packet (RFC 9000 §17.3.1): the first byte (fixed bit set, the protected bits
/// random), the peer's connection ID, then `len` bytes of ciphertext.
fn quic_short(ctx: &mut Ctx, f: &mut Flow, side: usize, len: usize) -> io::Result<bool> {
    ctx.payload.clear();
    ctx.payload.push(0x40 | (ctx.rng.next_u64() as u8 & 0x3f));
    if side == CLIENT {
        ctx.payload.extend_from_slice(&f.server_cid);
    } else {
        ctx.payload.extend_from_slice(&f.client_cid);
    }
    ctx.noise_into_payload(len);
    ctx.udp(f, side, Role::QuicOther)
}

/// One round after the handshake: a client request, 1–10 full server packets acknowledged
/// every second one by the client.
fn quic_short_burst(ctx: &mut Ctx, f: &mut Flow) -> io::Result<()> {
    let len = ctx.rng.log_range(40, 400);
    quic_short(ctx, f, CLIENT, len)?;
    let mut unacked = 0;
    for _ in 0..ctx.rng.range(1, 10) {
        let len = ctx.rng.range(1150, 1320) as usize;
        quic_short(ctx, f, SERVER, len)?;
        unacked += 1;
        if unacked == 2 {
            let len = ctx.rng.range(25, 40) as usize;
            quic_short(ctx, f, CLIENT, len)?;
            unacked = 0;
        }
    }
    f.round += 1;
    if f.round >= f.rounds {
        f.state = State::Done;
    }
    Ok(())
}

fn dns_response(ctx: &mut Ctx, w: &World, f: &Flow) {
    let rng = &mut ctx.rng;
    let mut v4 = [[0u8; 4]; 4];
    let mut v6 = [[0u8; 16]; 2];
    let (mut n4, mut n6) = (0, 0);
    let nxdomain = rng.chance(0.05);
    let mut soa = None;
    ctx.text.clear();
    if nxdomain || f.qtype == dns::QTYPE_HTTPS {
        soa = Some("ns1.example.net");
    } else {
        if rng.chance(0.25) {
            ctx.text.push('e');
            push_alnum(rng, &mut ctx.text, 6);
            ctx.text.push('.');
            ctx.text.push_str(&w.sites[rng.skewed(w.sites.len())]);
        }
        if f.qtype == dns::QTYPE_A {
            n4 = rng.range(1, 4) as usize;
            for a in &mut v4[..n4] {
                *a = w.servers_v4[rng.skewed(SERVERS_V4)];
            }
        } else {
            n6 = rng.range(1, 2) as usize;
            for a in &mut v6[..n6] {
                *a = w.servers_v6[rng.skewed(SERVERS_V6)];
            }
        }
    }
    let answer = DnsAnswer {
        rcode: if nxdomain { 3 } else { 0 },
        ttl: rng.range(30, 3600) as u32,
        cname: (!ctx.text.is_empty()).then_some(ctx.text.as_str()),
        v4: &v4[..n4],
        v6: &v6[..n6],
        soa_mname: soa,
    };
    ctx.payload.clear();
    dns::response_into(
        &mut ctx.payload,
        f.dns_id,
        &f.name,
        f.qtype,
        f.edns,
        &answer,
    );
}

/// The client sends its next request; the flow then transfers the answer (or, for an upload,
/// the client's data).
fn request(ctx: &mut Ctx, w: &World, f: &mut Flow) -> io::Result<()> {
    ctx.payload.clear();
    let mut role = Role::Request;
    f.sender = SERVER;
    match f.app {
        App::Tls if f.round == 0 => {
            let hr = ctx.hello_random();
            let (target, share) = if f.pq {
                let off = ctx.rng.index(ctx.noise.len() - MLKEM768_X25519_SHARE + 1);
                (ctx.rng.range(1780, 1900) as usize, Some(off))
            } else {
                (ctx.rng.range(560, 640) as usize, None)
            };
            let shape = HelloShape {
                mlkem_share: share.map(|o| &ctx.noise[o..o + MLKEM768_X25519_SHARE]),
                quic_params: None,
            };
            tls::browser_hello_into(&mut ctx.payload, &f.name, target, &hr, shape);
            role = Role::ClientHello;
            // Server's first flight: ServerHello, ChangeCipherSpec, then the encrypted
            // EncryptedExtensions, Certificate chain, CertificateVerify and Finished.
            f.stream.start(true);
            let sh = ctx.hello_random();
            tls::server_hello_into(&mut f.stream.pending, &sh);
            f.stream.left = f.stream.pending.len() + ctx.rng.range(2_500, 5_000) as usize;
        }
        App::Tls => {
            if f.round == 1 {
                // The client's ChangeCipherSpec and Finished (32-byte verify_data + type + tag).
                tls::change_cipher_spec_into(&mut ctx.payload);
                ctx.tls_record(53);
            }
            let len = ctx.rng.log_range(60, 900);
            ctx.tls_record(len);
            f.stream.start(true);
            f.stream.left = response_size(&mut ctx.rng);
        }
        App::Http => {
            ctx.text.clear();
            let _ = write!(ctx.text, "GET /");
            for _ in 0..ctx.rng.range(1, 4) {
                let n = 3 + ctx.rng.index(10);
                push_alnum(&mut ctx.rng, &mut ctx.text, n);
                ctx.text.push('/');
            }
            let _ = write!(
                ctx.text,
                "{}.js HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; \
                 Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 \
                 Safari/537.36\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n\
                 Connection: keep-alive\r\n\r\n",
                ctx.rng.below(100_000),
                f.name
            );
            ctx.payload.extend_from_slice(ctx.text.as_bytes());
            let body = response_size(&mut ctx.rng);
            f.stream.start(false);
            // Writing to a Vec cannot fail.
            let _ = write!(
                f.stream.pending,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {body}\r\n\
                 Connection: keep-alive\r\n\r\n"
            );
            f.stream.left = f.stream.pending.len() + body;
        }
        App::Bulk => {
            let len = ctx.rng.range(20, 200) as usize;
            ctx.noise_into_payload(len);
            f.stream.start(false);
            f.stream.left = ctx.rng.log_range(20_000, 500_000);
            if f.upload {
                f.sender = CLIENT;
            }
        }
        App::DnsTcp => {
            // RFC 7766: more queries may follow on the connection, each for another name.
            if f.round > 0 {
                w.benign_name(&mut ctx.rng, &mut f.name);
                f.dns_id = ctx.rng.next_u64() as u16;
            }
            role = Role::DnsTcp;
            // The response, with its two-byte length prefix (RFC 1035 §4.2.2), is what the
            // server sends back; dns_response builds it in the payload buffer.
            dns_response(ctx, w, f);
            f.stream.start(false);
            let len = (ctx.payload.len() as u16).to_be_bytes();
            f.stream.pending.extend_from_slice(&len);
            f.stream.pending.extend_from_slice(&ctx.payload);
            f.stream.left = f.stream.pending.len();
            ctx.payload.clear();
            ctx.payload.extend_from_slice(&[0, 0]);
            dns::query_into(&mut ctx.payload, f.dns_id, &f.name, f.qtype, f.edns);
            let len = (ctx.payload.len() as u16 - 2).to_be_bytes();
            ctx.payload[..2].copy_from_slice(&len);
        }
        App::Dns | App::Quic => unreachable!("UDP flows have no TCP requests"),
    }
    let flags = wire::TCP_ACK | wire::TCP_PSH;
    let sent = if role == Role::ClientHello && ctx.payload.len() > f.seg {
        // A hello larger than a segment: the first MSS-sized part, then the rest.
        role = Role::SplitHello;
        ctx.spare.clear();
        ctx.spare.extend_from_slice(&ctx.payload[f.seg..]);
        ctx.payload.truncate(f.seg);
        ctx.tcp(f, CLIENT, wire::TCP_ACK, role)?;
        std::mem::swap(&mut ctx.payload, &mut ctx.spare);
        ctx.tcp(f, CLIENT, flags, role)?
    } else {
        ctx.tcp(f, CLIENT, flags, role)?
    };
    let named = matches!(role, Role::ClientHello | Role::SplitHello | Role::DnsTcp);
    if sent && named && f.round == 0 && name_hit(f.hit) {
        ctx.stats.hit(f.hit, &f.name, &f.hit_entry);
    }
    f.round += 1;
    f.unacked = 0;
    f.state = State::Transfer;
    if f.sender == SERVER && ctx.rng.chance(0.3) {
        // The server acknowledges the request before its answer is ready.
        ctx.payload.clear();
        ctx.tcp(f, SERVER, wire::TCP_ACK, Role::PureAck)?;
    }
    Ok(())
}

/// One burst of a transfer: 2–10 full segments (a congestion window's worth arriving
/// together), the receiver acknowledging every second one (delayed ACK, RFC 9293 §3.8.6.3).
fn transfer(ctx: &mut Ctx, f: &mut Flow) -> io::Result<()> {
    let (s, r) = (f.sender, 1 - f.sender);
    let burst = ctx.rng.range(2, 10);
    for i in 0..burst {
        if f.stream.left == 0 {
            break;
        }
        ctx.payload.clear();
        let n = f.seg.min(f.stream.left);
        f.stream.fill(&mut ctx.payload, n, &mut ctx.rng, &ctx.noise);
        let last = f.stream.left == 0 || i + 1 == burst;
        let flags = wire::TCP_ACK | if last { wire::TCP_PSH } else { 0 };
        let role = if f.app == App::DnsTcp {
            Role::DnsTcp
        } else {
            Role::Data
        };
        ctx.tcp(f, s, flags, role)?;
        f.unacked += 1;
        if f.unacked >= 2 || f.stream.left == 0 {
            ctx.payload.clear();
            ctx.tcp(f, r, wire::TCP_ACK, Role::PureAck)?;
            f.unacked = 0;
        }
    }
    if f.stream.left == 0 {
        f.state = if f.round < f.rounds {
            State::Request
        } else {
            State::Close
        };
    }
    Ok(())
}

/// Write a capture of exactly `packets` packets to `path` (atomically, through a temporary
/// file), hitting indicators from the given feeds.
pub fn write_capture(
    path: &Path,
    packets: u64,
    seed: u64,
    feed_domains: &[String],
    feed_ips: &[String],
) -> io::Result<Stats> {
    let mut rng = Rng::new(seed, 3);
    let world = World::new(&mut rng, feed_domains, feed_ips);
    let mut noise = vec![0u8; NOISE_LEN];
    rng.fill(&mut noise);
    let tmp = path.with_extension("part");
    let mut ctx = Ctx {
        rng,
        out: PcapWriter::create(&tmp)?,
        frame: Vec::with_capacity(2048),
        payload: Vec::with_capacity(2048),
        opts: Vec::with_capacity(40),
        text: String::with_capacity(512),
        noise,
        spare: Vec::with_capacity(4096),
        frames: Vec::with_capacity(2048),
        clock_ns: START_NS,
        target: packets,
        stats: Stats::default(),
    };
    // Few flows for tiny captures, so that each gets past its handshake.
    let open = (packets as usize / 64).clamp(1, ACTIVE_FLOWS);
    let mut flows: Vec<Flow> = (0..open).map(|_| world.new_flow(&mut ctx.rng)).collect();
    while !ctx.full() {
        let i = ctx.rng.index(open);
        step(&mut ctx, &world, &mut flows[i])?;
        if flows[i].state == State::Done {
            flows[i] = world.new_flow(&mut ctx.rng);
        }
    }
    ctx.out.finish()?;
    fs::rename(&tmp, path)?;
    Ok(ctx.stats)
}
