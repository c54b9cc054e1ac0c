//! The retro-hunt (issue 16): a bounded memory of the observables recently seen, hunted when a
//! reload adds indicators, so that an indicator arriving at 14:00 still tells of the host
//! contacted at 11:00.
//!
//! - **One shard per worker** ([`Memory`]), behind a mutex that its worker takes once per
//!   batch (uncontended: the hunt and the shutdown are the only other takers). The hot path
//!   is a hash of the value and of (flow, where), then a probe of a small direct-mapped
//!   cache of what this flow already reported ([`RECENT_SLOTS`]): an observable updates its
//!   entry once per flow, not once per packet (a flow's addresses cost two hashes a packet).
//! - **Entries** (`kind`, value bytes, first/last seen, count of flows, one example flow, where)
//!   live in a slab on an intrusive list in order of last update: the least recently seen are
//!   evicted first when the count or byte cap is reached, and expire past the window. The same
//!   value seen by two workers has an entry in each shard; the hunt merges them.
//! - **The hunt** ([`Hunter::hunt`]) runs on the reload thread after a swap: every entry is looked
//!   up in the new set exactly as a worker would (ports, validity at its last-seen time,
//!   allowlists); one that alerts there and did not alert in the old set is a retro hit. Scanning
//!   the memory against the set (rather than each added indicator against the memory) keeps one
//!   definition of a match (subdomains, CIDRs, ports) and costs one lookup per entry (see
//!   BENCHMARKS.md for 10 M entries).
//! - **Persistence**: JSON lines in `<state_dir>/retro/memory-SENSOR.jsonl` (a header line with the
//!   format version and the memory's clock, then one entry a line, values in hex), written
//!   atomically (temporary file, fsync, rename) at shutdown, read at start with a bound on the
//!   file's size and each line's.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashTable;

use crate::community_id::community_id;
use crate::config::Token;
use crate::event::{self, IndicatorRef, Record, RetroHit};
use crate::indicators::{Decision, Hit, IndicatorSet};
use crate::observe::{Info, Where};
pub use crate::stats::RetroStats;

/// Slots of a shard's "already reported by this flow" cache: 16 Ki × 8 bytes = 128 KiB per
/// worker, the size of a core's L2 share on the bench machine; a flow evicted from it by a
/// colliding one and seen again counts once more (an over-count, never a miss).
pub const RECENT_SLOTS: usize = 1 << 14;

/// Slots of a shard's "these two addresses were just remembered for this flow direction"
/// cache: a packet's addresses are looked up in the memory only when its (source, destination,
/// ports, protocol) misses here, one hash a packet instead of two hashes and two lookups.
/// 64 Ki × 8 bytes = 512 KiB per worker: four times the bench's 8,192 open flows × 2
/// directions, so a live flow is rarely pushed out (a flow pushed out and seen again counts
/// once more: an over-count, never a miss).
pub const PAIR_SLOTS: usize = 1 << 16;

/// Longest value remembered: a URL is the longest observable (`url::MAX_URL` bounds it); 4 KiB
/// keeps any real one and bounds an entry.
pub const MAX_VALUE_LEN: usize = 4096;

/// Bytes an entry costs besides its value: the slab slot, the hash table's index (4 bytes and a
/// control byte, at 7/8 load) and the allocator's header of the value's box.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 6 + 16;

/// Largest persisted memory read at start: 8 GiB, beyond the largest `[retro] memory` in JSON
/// (about 3× the bytes in memory), so a wrong file is refused rather than read for minutes.
pub const MAX_FILE_BYTES: u64 = 8 << 30;

/// Longest line of the persisted memory: a maximal value in hex, the flow and the times.
pub const MAX_LINE: usize = 2 * MAX_VALUE_LEN + 512;

/// Version of the persisted format.
pub const FORMAT_VERSION: u32 = 1;

/// No entry (list end).
const NIL: u32 = u32::MAX;

/// What an observable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Domain,
    /// Value: the 4 or 16 address bytes.
    Ip,
    Token(Token),
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Ip => "ip",
            Kind::Token(t) => t.as_str(),
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "domain" => Some(Kind::Domain),
            "ip" => Some(Kind::Ip),
            _ => Token::ALL
                .iter()
                .find(|t| t.as_str() == s)
                .map(|t| Kind::Token(*t)),
        }
    }
}

/// The example flow of an entry, in the direction of the packet that showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TCP/UDP ports, or ICMP type and code (Community ID's "ports").
    pub cid_ports: (u16, u16),
    /// `cid_ports` are TCP/UDP ports.
    pub has_ports: bool,
    pub proto: u8,
}

impl FlowTuple {
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.has_ports.then_some(self.cid_ports)
    }
}

/// One remembered observable.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Box<[u8]>,
    pub first_us: i64,
    pub last_us: i64,
    /// Flows it was seen in (see [`RECENT_SLOTS`]).
    pub count: u32,
    prev: u32,
    next: u32,
    pub flow: FlowTuple,
    pub kind: Kind,
    pub at: Where,
}

impl Entry {
    fn cost(&self) -> u64 {
        (ENTRY_OVERHEAD + self.value.len()) as u64
    }
}

/// One worker's memory.
pub struct Memory {
    table: HashTable<u32>,
    slots: Vec<Entry>,
    free: Vec<u32>,
    /// Most recently updated.
    head: u32,
    /// Least recently updated: evicted first.
    tail: u32,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
    window_us: i64,
    recent: Box<[u64]>,
    pairs: Box<[u64]>,
    hasher: hashbrown::DefaultHashBuilder,
    /// The newest packet time seen (µs): the memory's clock, for the window.
    pub clock_us: i64,
    pub stats: RetroStats,
}

/// Caps of one shard.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_bytes: u64,
    pub window_us: i64,
}

impl Limits {
    /// The caps of each of `shards` shards sharing `max_entries` and `max_bytes`.
    pub fn split(
        max_entries: u64,
        max_bytes: u64,
        window: std::time::Duration,
        shards: usize,
    ) -> Self {
        let n = shards.max(1) as u64;
        Limits {
            max_entries: usize::try_from((max_entries / n).max(1)).unwrap_or(usize::MAX),
            max_bytes: (max_bytes / n).max(1),
            window_us: i64::try_from(window.as_micros()).unwrap_or(i64::MAX),
        }
    }
}

impl Memory {
    pub fn new(l: Limits) -> Self {
        Memory {
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            max_entries: l.max_entries,
            max_bytes: l.max_bytes,
            window_us: l.window_us,
            recent: vec![0; RECENT_SLOTS].into_boxed_slice(),
            pairs: vec![0; PAIR_SLOTS].into_boxed_slice(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            clock_us: i64::MIN,
            stats: RetroStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Is this packet's flow direction new to the pair cache (its addresses are then to be
    /// remembered)? `t`: the packet's (source, destination, ports, protocol).
    #[inline]
    pub fn fresh_pair(&mut self, t: &FlowTuple) -> bool {
        let k = self.hasher.hash_one((t.src, t.dst, t.cid_ports, t.proto)) | 1;
        let slot = &mut self.pairs[(k as usize) & (PAIR_SLOTS - 1)];
        if *slot == k {
            return false;
        }
        *slot = k;
        true
    }

    /// A hash of `t` with this memory's hasher (a flow key, for [`Memory::see`]).
    #[inline]
    pub fn hash_of<T: std::hash::Hash>(&self, t: &T) -> u64 {
        self.hasher.hash_one(t)
    }

    fn hash_value(&self, kind: Kind, value: &[u8]) -> u64 {
        self.hasher.hash_one((kind, value))
    }

    /// An observable seen at `ts_us` in the flow whose key hashes to `flow_hash`: remember it,
    /// or count one more flow.
    #[inline]
    pub fn see(
        &mut self,
        ts_us: i64,
        kind: Kind,
        value: &[u8],
        at: Where,
        flow: &FlowTuple,
        flow_hash: u64,
    ) {
        let h = self.hash_value(kind, value);
        // The same (value, flow, where) as a recent packet: nothing new.
        let r =
            (h ^ flow_hash.rotate_left(23) ^ (at as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        let slot = &mut self.recent[(r as usize) & (RECENT_SLOTS - 1)];
        if *slot == r {
            return;
        }
        *slot = r;
        if ts_us > self.clock_us {
            self.clock_us = ts_us;
        }
        let slots = &self.slots;
        if let Some(&i) = self.table.find(h, |&i| {
            slots[i as usize].kind == kind && *slots[i as usize].value == *value
        }) {
            let e = &mut self.slots[i as usize];
            e.count = e.count.saturating_add(1);
            if ts_us > e.last_us {
                e.last_us = ts_us;
            }
            if ts_us < e.first_us {
                e.first_us = ts_us;
            }
            self.stats.updated += 1;
            self.move_to_front(i);
            return;
        }
        if value.len() > MAX_VALUE_LEN {
            self.stats.too_long += 1;
            return;
        }
        self.insert(
            h,
            Entry {
                value: value.into(),
                first_us: ts_us,
                last_us: ts_us,
                count: 1,
                prev: NIL,
                next: NIL,
                flow: *flow,
                kind,
                at,
            },
        );
        self.stats.remembered += 1;
        self.expire();
    }

    /// Add an entry known to be absent, evicting the least recently seen to make room.
    fn insert(&mut self, h: u64, e: Entry) {
        let cost = e.cost();
        while self.tail != NIL
            && (self.table.len() >= self.max_entries || self.bytes + cost > self.max_bytes)
        {
            self.remove(self.tail);
            self.stats.evicted += 1;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = e;
                i
            }
            None => {
                self.slots.push(e);
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table.insert_unique(h, i, |&j| {
            let s = &slots[j as usize];
            hasher.hash_one((s.kind, &*s.value))
        });
        self.bytes += cost;
        self.link_front(i);
    }

    /// Drop what was last seen longer than the window before the clock.
    pub fn expire(&mut self) {
        let horizon = self.clock_us.saturating_sub(self.window_us);
        while self.tail != NIL && self.slots[self.tail as usize].last_us < horizon {
            self.remove(self.tail);
            self.stats.expired += 1;
        }
    }

    fn remove(&mut self, i: u32) {
        self.unlink(i);
        let h = {
            let s = &self.slots[i as usize];
            self.hash_value(s.kind, &s.value)
        };
        if let Ok(o) = self.table.find_entry(h, |&j| j == i) {
            o.remove();
        }
        let e = &mut self.slots[i as usize];
        self.bytes = self.bytes.saturating_sub(e.cost());
        e.value = Box::default();
        self.free.push(i);
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let e = &self.slots[i as usize];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn link_front(&mut self, i: u32) {
        let old = self.head;
        {
            let e = &mut self.slots[i as usize];
            e.prev = NIL;
            e.next = old;
        }
        if old != NIL {
            self.slots[old as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn move_to_front(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    /// Every entry, most recently seen first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        let mut i = self.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let e = &self.slots[i as usize];
            i = e.next;
            Some(e)
        })
    }

    /// Put back an entry read from disk (merging with one already there), without the
    /// per-flow cache.
    fn restore(&mut self, e: Entry) {
        if e.value.len() > MAX_VALUE_LEN {
            return;
        }
        self.clock_us = self.clock_us.max(e.last_us);
        let h = self.hash_value(e.kind, &e.value);
        let slots = &self.slots;
        if let Some(&i) = self.table.find(h, |&i| {
            slots[i as usize].kind == e.kind && slots[i as usize].value == e.value
        }) {
            let s = &mut self.slots[i as usize];
            merge(s, &e);
            return;
        }
        // Restored oldest first: the list ends in last-seen order.
        self.insert(h, e);
    }

    /// The counters, with the gauges filled in.
    pub fn snapshot(&self) -> RetroStats {
        let mut s = self.stats.clone();
        s.entries = self.table.len() as u64;
        s.bytes = self.bytes;
        s
    }
}

/// Fold `b`'s times and count into `a` (the same value seen by two workers, or restored); the
/// example flow is the earliest's.
fn merge(a: &mut Entry, b: &Entry) {
    if b.first_us < a.first_us {
        a.first_us = b.first_us;
        a.flow = b.flow;
        a.at = b.at;
    }
    a.last_us = a.last_us.max(b.last_us);
    a.count = a.count.saturating_add(b.count);
}

/// An observable's value as an address, when it is one.
fn ip_of(value: &[u8]) -> Option<IpAddr> {
    match value.len() {
        4 => <[u8; 4]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// The value bytes of an address.
pub fn ip_bytes(ip: &IpAddr, buf: &mut [u8; 16]) -> usize {
    match ip {
        IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            buf.copy_from_slice(&a.octets());
            16
        }
    }
}

/// Does `set` alert on this entry (looked up as a worker would, at its last-seen time)? The
/// ranked hits are left in `hits`.
fn alerts(set: &IndicatorSet, e: &Entry, hits: &mut Vec<Hit>) -> bool {
    hits.clear();
    match e.kind {
        Kind::Domain => set.lookup_domain(&e.value, hits),
        Kind::Ip => match ip_of(&e.value) {
            Some(ip) => set.lookup_ip(ip, hits),
            None => return false,
        },
        Kind::Token(t) => set.lookup_token(t, &e.value, hits),
    }
    if hits.is_empty() {
        return false;
    }
    set.retain_ports(hits, e.flow.ports());
    !hits.is_empty() && set.decide(hits, e.last_us) == Decision::Alert
}

/// One worker's memory as the hunter shares it: the worker takes it out for a batch and puts
/// it back after (two uncontended locks a batch, none per packet); the hunt and the end take
/// it while it is in (see [`Hunter::each`]).
pub type Shard = Arc<Mutex<Option<Box<Memory>>>>;

/// How long the hunt waits for a worker to put its memory back (a worker is inside one batch:
/// milliseconds; one that panicked never puts it back, and is passed over after this).
pub const MAX_SHARD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The memory of every worker, and what to do with it at a reload and at the end.
pub struct Hunter {
    pub shards: Vec<Shard>,
    sensor: Arc<str>,
    /// `home_net` when the configuration sets it (the events' direction).
    home_net: Option<Vec<ipnet::IpNet>>,
    /// Hunted at the end (a replay's `--retro-feed`): every indicator in it counts as added.
    end_set: Option<Arc<IndicatorSet>>,
    /// Where the memory is kept across restarts.
    state_file: Option<PathBuf>,
}

impl Hunter {
    pub fn new(
        shards: usize,
        limits: Limits,
        sensor: Arc<str>,
        home_net: Option<Vec<ipnet::IpNet>>,
    ) -> Self {
        Hunter {
            shards: (0..shards.max(1))
                .map(|_| Arc::new(Mutex::new(Some(Box::new(Memory::new(limits))))))
                .collect(),
            sensor,
            home_net,
            end_set: None,
            state_file: None,
        }
    }

    /// The hunter `[retro]` asks for over `workers` shards (`window`: a command line's,
    /// overriding the config's).
    pub fn from_config(
        cfg: &crate::config::RetroConfig,
        window: Option<std::time::Duration>,
        workers: usize,
        sensor: Arc<str>,
        home_net: Option<Vec<ipnet::IpNet>>,
    ) -> Self {
        let limits = Limits::split(
            cfg.max_observables(),
            cfg.memory(),
            window.unwrap_or_else(|| cfg.window()),
            workers,
        );
        Hunter::new(workers, limits, sensor, home_net)
    }

    /// Hunt `set` at the end, every indicator counting as added.
    pub fn hunt_at_end(mut self, set: IndicatorSet) -> Self {
        self.end_set = Some(Arc::new(set));
        self
    }

    /// Keep the memory in `dir` (`<state_dir>/retro`): read it now, write it at the end.
    /// Entries last seen longer than the window before `now_us` (the wall clock for `iocd run`;
    /// `None`: the clock saved with them, for a replay) are dropped.
    ///
    /// The file is named after the sensor (`memory-SENSOR.jsonl`, characters other than
    /// letters, digits, `.`, `-` and `_` as `_`): two instances (`iocd@eth1`, `iocd@eth2`)
    /// sharing a state directory keep a memory each.
    pub fn persist_in(mut self, dir: &Path, now_us: Option<i64>) -> Self {
        let name: String = self
            .sensor
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let file = dir.join(format!("memory-{name}.jsonl"));
        match read(&file) {
            Ok(Some((saved_clock, entries))) => {
                let n = self.shards.len();
                let mut kept = 0usize;
                for (k, e) in entries.into_iter().enumerate() {
                    if let Ok(mut g) = self.shards[k % n].lock() {
                        if let Some(m) = g.as_mut() {
                            m.clock_us = m.clock_us.max(now_us.unwrap_or(saved_clock));
                            m.restore(e);
                            kept += 1;
                        }
                    }
                }
                let mut expired = 0;
                self.each(|m| {
                    let before = m.len();
                    m.expire();
                    m.stats.restored = m.len() as u64;
                    expired += before - m.len();
                });
                tracing::info!(
                    "retro: read {kept} remembered observables from {} ({expired} past the window dropped)",
                    file.display()
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("retro: {e}; starting with an empty memory"),
        }
        self.state_file = Some(file);
        self
    }

    /// The shard of worker `i`.
    pub fn shard(&self, i: usize) -> Shard {
        Arc::clone(&self.shards[i % self.shards.len()])
    }

    /// Run `f` on every shard's memory, waiting for a worker inside a batch to put its own back
    /// (at most [`MAX_SHARD_WAIT`] for each).
    pub fn each(&self, mut f: impl FnMut(&mut Memory)) {
        for s in &self.shards {
            let started = std::time::Instant::now();
            loop {
                let Ok(mut g) = s.lock() else { break };
                if let Some(m) = g.as_mut() {
                    f(m);
                    break;
                }
                drop(g);
                if started.elapsed() > MAX_SHARD_WAIT {
                    tracing::warn!("retro: a worker did not hand its memory back; passed over");
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    /// After a swap from `old` to `new`: hunt the memory, one retro event per remembered
    /// observable that `new` alerts on and `old` did not; `send` takes each. Returns how many.
    pub fn hunt(
        &self,
        new: &IndicatorSet,
        old: Option<&IndicatorSet>,
        send: &mut dyn FnMut(Record),
    ) -> usize {
        let started = std::time::Instant::now();
        let mut found: HashMap<(Kind, Box<[u8]>), Entry> = HashMap::new();
        let mut hits = Vec::new();
        let mut clock = i64::MIN;
        let mut scanned = 0usize;
        self.each(|m| {
            m.expire();
            m.stats.hunts += 1;
            clock = clock.max(m.clock_us);
            scanned += m.len();
            for e in m.entries() {
                if !alerts(new, e, &mut hits) {
                    continue;
                }
                if old.is_some_and(|o| alerts(o, e, &mut hits)) {
                    continue;
                }
                match found.entry((e.kind, e.value.clone())) {
                    std::collections::hash_map::Entry::Occupied(mut o) => merge(o.get_mut(), e),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(e.clone());
                    }
                }
            }
        });
        let mut list: Vec<Entry> = found.into_values().collect();
        list.sort_by(|a, b| (a.first_us, &a.value).cmp(&(b.first_us, &b.value)));
        let n = list.len();
        for e in &list {
            if !alerts(new, e, &mut hits) {
                continue;
            }
            send(Record::Retro(Box::new(self.event(new, e, &hits, clock))));
        }
        let mut counted = false;
        self.each(|m| {
            if !counted {
                m.stats.retro_events += n as u64;
                counted = true;
            }
        });
        tracing::info!(
            "retro: hunted {scanned} remembered observables in {:.3}s: {n} retro events",
            started.elapsed().as_secs_f64()
        );
        n
    }

    /// The retro event of entry `e` matched by ranked `hits` of `set`.
    fn event(&self, set: &IndicatorSet, e: &Entry, hits: &[Hit], clock: i64) -> RetroHit {
        let alerts = set.alert_count(hits);
        let (first, others) = hits[..alerts.max(1)]
            .split_first()
            .unwrap_or((&hits[0], &[]));
        let f = &e.flow;
        let (sp, dp) = f.cid_ports;
        let value = match e.kind {
            Kind::Domain => crate::name::escape(&e.value),
            Kind::Ip => ip_of(&e.value).map(|a| a.to_string()).unwrap_or_default(),
            Kind::Token(t) => t.text(&e.value),
        };
        RetroHit {
            ts_us: clock,
            sensor: Arc::clone(&self.sensor),
            flow: event::Flow {
                src_ip: f.src,
                src_port: f.ports().map(|p| p.0),
                dest_ip: f.dst,
                dest_port: f.ports().map(|p| p.1),
                proto: event::proto_name(f.proto),
                vlan: Vec::new(),
                tunnel: Vec::new(),
                community_id: community_id(0, f.src, f.dst, f.proto, sp, dp),
                app_proto: None,
                direction: self.home_net.as_ref().map(|home| {
                    event::Direction::of(f.src, f.dst, |a| home.iter().any(|n| n.contains(&a)))
                }),
            },
            observable: event::Observable {
                kind: e.kind.as_str(),
                value,
                location: e.at,
                ech: false,
                info: Info::None,
                file: None,
            },
            indicator: IndicatorRef::new(set, first),
            also_matched: others.iter().map(|h| IndicatorRef::new(set, h)).collect(),
            first_seen_us: e.first_us,
            last_seen_us: e.last_us,
            count: u64::from(e.count),
        }
    }

    /// At the end of the pipeline (workers done): hunt the end set, then write the memory to
    /// the state directory.
    pub fn finish(&self, send: &mut dyn FnMut(Record)) {
        if let Some(set) = &self.end_set {
            self.hunt(set, None, send);
        }
        if let Some(file) = &self.state_file {
            let shards: Vec<MutexGuard<'_, Option<Box<Memory>>>> =
                self.shards.iter().filter_map(|s| s.lock().ok()).collect();
            let refs: Vec<&Memory> = shards.iter().filter_map(|g| g.as_deref()).collect();
            match write(file, &refs) {
                Ok(n) => tracing::info!(
                    "retro: wrote {n} remembered observables to {}",
                    file.display()
                ),
                Err(e) => tracing::error!("retro: cannot write {}: {e}", file.display()),
            }
        }
    }

    /// Every shard's counters, added up.
    pub fn stats(&self) -> RetroStats {
        use crate::stats::Counters as _;
        let mut total = RetroStats::default();
        self.each(|m| total.add(&m.snapshot()));
        total
    }
}

/// The header line of the persisted memory.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    iocd_retro: u32,
    /// The memory's clock when written, µs.
    clock_us: i64,
}

/// One persisted entry.
#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    k: String,
    /// Value bytes, hex.
    v: String,
    w: String,
    f: i64,
    l: i64,
    n: u32,
    src: IpAddr,
    dst: IpAddr,
    sp: u16,
    dp: u16,
    ports: bool,
    p: u8,
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Write every shard's entries, duplicates merged, oldest first; atomically. Returns how many.
pub fn write(file: &Path, shards: &[&Memory]) -> std::io::Result<usize> {
    let mut all: HashMap<(Kind, &[u8]), Entry> = HashMap::new();
    let mut clock = i64::MIN;
    for m in shards {
        clock = clock.max(m.clock_us);
        for e in m.entries() {
            match all.entry((e.kind, &e.value)) {
                std::collections::hash_map::Entry::Occupied(mut o) => merge(o.get_mut(), e),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(e.clone());
                }
            }
        }
    }
    let mut list: Vec<Entry> = all.into_values().collect();
    list.sort_by_key(|e| e.last_us);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("jsonl.tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(
        &mut w,
        &Header {
            iocd_retro: FORMAT_VERSION,
            clock_us: clock,
        },
    )?;
    w.write_all(b"\n")?;
    for e in &list {
        let line = Line {
            k: e.kind.as_str().to_owned(),
            v: hex(&e.value),
            w: e.at.as_str().to_owned(),
            f: e.first_us,
            l: e.last_us,
            n: e.count,
            src: e.flow.src,
            dst: e.flow.dst,
            sp: e.flow.cid_ports.0,
            dp: e.flow.cid_ports.1,
            ports: e.flow.has_ports,
            p: e.flow.proto,
        };
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
    }
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, file)?;
    Ok(list.len())
}

/// Read a persisted memory: `None` when there is none; an error names the file and line.
pub fn read(file: &Path) -> Result<Option<(i64, Vec<Entry>)>, String> {
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "{}: {size} bytes, more than the {MAX_FILE_BYTES} a memory can take: not read",
            file.display()
        ));
    }
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    let mut read_line = |buf: &mut Vec<u8>| -> Result<bool, String> {
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        if n > MAX_LINE {
            return Err("line longer than the longest entry".into());
        }
        Ok(n > 0)
    };
    let at = |line: usize, m: &str| format!("{}:{line}: {m}", file.display());
    use std::io::Read as _;
    if !read_line(&mut buf).map_err(|m| at(1, &m))? {
        return Ok(None);
    }
    let h: Header = serde_json::from_slice(&buf)
        .map_err(|e| at(1, &format!("not a retro memory header: {e}")))?;
    if h.iocd_retro != FORMAT_VERSION {
        return Err(at(
            1,
            &format!(
                "format version {} (this iocd reads {FORMAT_VERSION})",
                h.iocd_retro
            ),
        ));
    }
    let mut out = Vec::new();
    let mut n = 1;
    while read_line(&mut buf).map_err(|m| at(n + 1, &m))? {
        n += 1;
        let l: Line = serde_json::from_slice(&buf).map_err(|e| at(n, &e.to_string()))?;
        let kind = Kind::parse(&l.k).ok_or_else(|| at(n, &format!("unknown kind {:?}", l.k)))?;
        let w = Where::ALL
            .iter()
            .find(|w| w.as_str() == l.w)
            .ok_or_else(|| at(n, &format!("unknown where {:?}", l.w)))?;
        let value = unhex(&l.v).ok_or_else(|| at(n, "value is not hex"))?;
        out.push(Entry {
            value: value.into(),
            first_us: l.f,
            last_us: l.l,
            count: l.n,
            prev: NIL,
            next: NIL,
            flow: FlowTuple {
                src: l.src,
                dst: l.dst,
                cid_ports: (l.sp, l.dp),
                has_ports: l.ports,
                proto: l.p,
            },
            kind,
            at: *w,
        });
    }
    Ok(Some((h.clock_us, out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    fn flow(last: u8) -> FlowTuple {
        FlowTuple {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            cid_ports: (40000, 443),
            has_ports: true,
            proto: 6,
        }
    }

    fn limits(n: usize, bytes: u64) -> Limits {
        Limits {
            max_entries: n,
            max_bytes: bytes,
            window_us: 3600 * 1_000_000,
        }
    }

    fn set_of(dir: &Path, text: &str) -> IndicatorSet {
        let p = dir.join(format!("f{}.txt", text.len()));
        std::fs::write(&p, text).unwrap();
        crate::indicators::feeds::build_set(&[FeedConfig::from_path(p)], &[])
            .unwrap()
            .0
    }

    #[test]
    fn an_observable_counts_once_per_flow_and_keeps_first_and_last_seen() {
        let mut m = Memory::new(limits(100, 1 << 20));
        let f = flow(1);
        for ts in [10, 20, 30] {
            m.see(ts, Kind::Domain, b"evil.test", Where::TlsSni, &f, 7);
        }
        m.see(50, Kind::Domain, b"evil.test", Where::TlsSni, &flow(2), 8);
        let e = m.entries().next().unwrap();
        assert_eq!((e.first_us, e.last_us, e.count), (10, 50, 2));
        assert_eq!(e.flow, f, "the example flow is the first");
        assert_eq!(m.stats.remembered, 1);
        assert_eq!(m.stats.updated, 1);
    }

    #[test]
    fn the_least_recently_seen_is_evicted_first_by_count_and_by_bytes() {
        let mut m = Memory::new(limits(3, 1 << 20));
        for (i, name) in [&b"a.test"[..], b"b.test", b"c.test"].iter().enumerate() {
            m.see(
                i as i64,
                Kind::Domain,
                name,
                Where::DnsQuery,
                &flow(1),
                i as u64,
            );
        }
        // a seen again: b is now the least recently seen
        m.see(10, Kind::Domain, b"a.test", Where::DnsQuery, &flow(1), 99);
        m.see(11, Kind::Domain, b"d.test", Where::DnsQuery, &flow(1), 100);
        let names: Vec<&[u8]> = m.entries().map(|e| &*e.value).collect();
        assert_eq!(names, [&b"d.test"[..], b"a.test", b"c.test"]);
        assert_eq!(m.stats.evicted, 1);
        // bytes: room for two entries only
        let two = 2 * (ENTRY_OVERHEAD as u64 + 6);
        let mut m = Memory::new(limits(100, two));
        for (i, name) in [&b"a.test"[..], b"b.test", b"c.test"].iter().enumerate() {
            m.see(
                i as i64,
                Kind::Domain,
                name,
                Where::DnsQuery,
                &flow(1),
                i as u64,
            );
        }
        assert_eq!(m.len(), 2);
        assert!(m.bytes() <= two);
        assert_eq!(m.stats.evicted, 1);
    }

    #[test]
    fn entries_past_the_window_expire() {
        let mut m = Memory::new(Limits {
            max_entries: 100,
            max_bytes: 1 << 20,
            window_us: 1_000,
        });
        m.see(0, Kind::Domain, b"old.test", Where::DnsQuery, &flow(1), 1);
        m.see(500, Kind::Domain, b"mid.test", Where::DnsQuery, &flow(1), 2);
        m.see(
            1_200,
            Kind::Domain,
            b"new.test",
            Where::DnsQuery,
            &flow(1),
            3,
        );
        assert_eq!(m.len(), 2, "old.test expired at the insert");
        assert_eq!(m.stats.expired, 1);
    }

    #[test]
    fn a_hunt_reports_what_the_new_set_adds_merged_over_shards() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hunter::new(2, limits(100, 1 << 20), Arc::from("s"), None);
        let mut buf = [0u8; 16];
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let n = ip_bytes(&ip, &mut buf);
        {
            let mut a = h.shards[0].lock().unwrap();
            let a = a.as_mut().unwrap();
            a.see(
                100,
                Kind::Domain,
                b"www.evil.test",
                Where::TlsSni,
                &flow(1),
                1,
            );
            a.see(150, Kind::Ip, &buf[..n], Where::IpDst, &flow(1), 1);
            a.see(160, Kind::Domain, b"old.test", Where::DnsQuery, &flow(1), 1);
            let mut b = h.shards[1].lock().unwrap();
            let b = b.as_mut().unwrap();
            b.see(
                50,
                Kind::Domain,
                b"www.evil.test",
                Where::DnsQuery,
                &flow(2),
                2,
            );
            b.see(
                300,
                Kind::Domain,
                b"www.evil.test",
                Where::DnsQuery,
                &flow(3),
                3,
            );
        }
        let old = set_of(dir.path(), "old.test\n");
        let new = set_of(dir.path(), "old.test\nevil.test\n192.0.2.0/24\n");
        let mut out = Vec::new();
        assert_eq!(h.hunt(&new, Some(&old), &mut |r| out.push(r)), 2);
        let Record::Retro(d) = &out[0] else { panic!() };
        assert_eq!(d.observable.value, "www.evil.test");
        assert_eq!((d.first_seen_us, d.last_seen_us, d.count), (50, 300, 3));
        assert_eq!(d.indicator.value, "evil.test");
        assert_eq!(d.flow.src_ip, flow(2).src, "the earliest flow");
        let Record::Retro(i) = &out[1] else { panic!() };
        assert_eq!(i.observable.value, "192.0.2.1");
        assert_eq!(i.indicator.value, "192.0.2.0/24");
        // nothing added: nothing found
        assert_eq!(h.hunt(&new, Some(&new), &mut |_| {}), 0);
    }

    #[test]
    fn the_memory_survives_a_write_and_read_and_expires_by_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hunter::new(2, limits(100, 1 << 20), Arc::from("s"), None);
        {
            let mut a = h.shards[0].lock().unwrap();
            let a = a.as_mut().unwrap();
            a.see(
                1_000,
                Kind::Domain,
                b"old.test",
                Where::DnsQuery,
                &flow(1),
                1,
            );
            a.see(
                3_000_000_000,
                Kind::Token(Token::Sha256),
                &[7u8; 32],
                Where::HttpFile,
                &flow(1),
                2,
            );
            let mut b = h.shards[1].lock().unwrap();
            let b = b.as_mut().unwrap();
            b.see(
                3_700_000_000,
                Kind::Domain,
                b"old.test",
                Where::TlsSni,
                &flow(2),
                2,
            );
        }
        let h = h.persist_in(dir.path(), None);
        h.finish(&mut |_| {});
        let text = std::fs::read_to_string(dir.path().join("memory-s.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let back =
            Hunter::new(3, limits(100, 1 << 20), Arc::from("s"), None).persist_in(dir.path(), None);
        let mut all: Vec<Entry> = Vec::new();
        back.each(|m| all.extend(m.entries().cloned()));
        all.sort_by_key(|e| e.last_us);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].kind, Kind::Token(Token::Sha256));
        assert_eq!(
            (all[1].first_us, all[1].last_us, all[1].count),
            (1_000, 3_700_000_000, 2)
        );
        // an hour's window from a clock a day later: nothing is left
        let later = Hunter::new(1, limits(100, 1 << 20), Arc::from("s"), None)
            .persist_in(dir.path(), Some(4_000_000_000 + 86_400_000_000));
        assert!(later.shards[0].lock().unwrap().as_ref().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.jsonl");
        std::fs::write(&f, "{\"iocd_retro\":1,\"clock_us\":0}\n{\"k\":\"nope\"}\n").unwrap();
        let e = read(&f).unwrap_err();
        assert!(e.contains("memory.jsonl:2:"), "{e}");
        std::fs::write(&f, "{\"iocd_retro\":9,\"clock_us\":0}\n").unwrap();
        assert!(read(&f).unwrap_err().contains("version 9"));
        std::fs::write(&f, "x".repeat(MAX_LINE + 10)).unwrap();
        assert!(read(&f).is_err());
    }

    /// The figure of BENCHMARKS.md ("Retro-hunt"): the hunt of 100,000 added indicators
    /// (50,000 names and 25,000 addresses remembered, 25,000 addresses not) against 10 M
    /// remembered observables (half names, half addresses) in two shards. Run with
    /// `cargo test --release --lib retro::tests::hunt_timing -- --ignored --nocapture`
    /// (`IOCD_RETRO_N` changes the 10 M).
    #[test]
    #[ignore = "a timing, with ~1.5 GB of memory: run it by name with --ignored"]
    fn hunt_timing() {
        let n: u64 = std::env::var("IOCD_RETRO_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        let shards = 2;
        let h = Hunter::new(
            shards,
            Limits::split(n, 64 << 30, std::time::Duration::from_secs(86_400), shards),
            Arc::from("s"),
            None,
        );
        let name = |i: u64| format!("h{i}.example{}.test", i % 1000);
        let addr = |i: u64| IpAddr::V4(Ipv4Addr::from(0x0b00_0000u32 + i as u32));
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        for i in 0..n {
            let mut g = h.shards[(i % shards as u64) as usize].lock().unwrap();
            let m = g.as_mut().unwrap();
            if i % 2 == 0 {
                m.see(
                    i as i64,
                    Kind::Domain,
                    name(i).as_bytes(),
                    Where::DnsQuery,
                    &flow(1),
                    i,
                );
            } else {
                let k = ip_bytes(&addr(i), &mut buf);
                m.see(i as i64, Kind::Ip, &buf[..k], Where::IpDst, &flow(1), i);
            }
        }
        let filled = started.elapsed();
        let stats = h.stats();
        let dir = tempfile::tempdir().unwrap();
        let step = (n / 50_000).max(2) & !1;
        let mut feed = String::new();
        let mut expect = 0;
        for k in 0..50_000u64 {
            if k * step < n {
                feed.push_str(&name(k * step));
                feed.push('\n');
                expect += 1;
            }
        }
        for k in 0..25_000u64 {
            let i = (2 * k * step + 1) % n;
            feed.push_str(&format!(
                "{}\n{}\n",
                addr(i | 1),
                IpAddr::V4(Ipv4Addr::from(0x0c00_0000u32 + k as u32))
            ));
            expect += 1;
        }
        let new = set_of(dir.path(), &feed);
        let old = set_of(dir.path(), "old.test\n");
        let started = std::time::Instant::now();
        let mut events = 0usize;
        let found = h.hunt(&new, Some(&old), &mut |_| events += 1);
        let hunted = started.elapsed();
        println!(
            "retro hunt: {} indicators against {} remembered observables ({} bytes, {} shards): {found} hits in {:.3} s ({:.0} ns per entry); filling took {:.3} s",
            new.len(),
            stats.entries,
            stats.bytes,
            shards,
            hunted.as_secs_f64(),
            hunted.as_nanos() as f64 / stats.entries as f64,
            filled.as_secs_f64()
        );
        assert_eq!(stats.entries, n);
        assert_eq!(found, expect);
        assert_eq!(events, expect);
    }
}
