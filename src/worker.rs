//! A worker: receive a batch, decode each packet, check its observables against the current
//! indicator set, and send an event for each new (flow, indicator, where).
//!
//! Both directions of a flow reach the same worker (see [`crate::capture::flow_hash`]), so the
//! per-flow de-duplication table needs no lock.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hashbrown::HashSet;

use crate::applayer::{self, AppProto, Datagram, TcpFlows};
use crate::capture::{Meta, WorkerQueue};
use crate::community_id::community_id;
use crate::decode::{self, Ip, Tunnel, L4};
use crate::event::{self, Direction, Ioa, Record};
use crate::indicators::{Decision, Hit, IndicatorId, IndicatorSet, IndicatorStore};
use crate::name;
pub use crate::observe::Where;
use crate::observe::{Info, Observed, Token};
use crate::output::{Output, OutputTx};
use crate::proto::{dns, ja, tls};
use crate::stats::WorkerStats;
use crate::track::defrag::Defrag;
use crate::track::quic::QuicTracker;
use crate::track::tcp::{FlowKey, Segment};
pub use crate::track::TableCaps;

/// Entries in a worker's (flow, indicator, where) table before it is cleared. Each entry is
/// about 48 bytes, so the cap bounds the table near 12 MiB per worker; a flow seen again after
/// a reset may be reported once more (counted in `dedup_resets`).
pub const MAX_DEDUP_ENTRIES: usize = 1 << 18;

/// How often a worker with a stats slot publishes its counters: the daemon's stats interval is
/// at least a second, so a copy a second (a few hundred bytes) is fresh enough and costs nothing.
pub const PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What every worker shares, read-only.
pub struct Context {
    pub sensor: Arc<str>,
    /// Display names of the input files, indexed by [`crate::capture::Origin::file`]; empty for
    /// live capture.
    pub files: Vec<Arc<str>>,
    /// The output stage suppresses alerts: tell it the packet time as it advances, so its
    /// windows close by packet time.
    pub suppress: bool,
    /// Caps of each worker's TCP and QUIC tables, from `[tables] memory` ([`table_caps`]).
    pub tables: TableCaps,
    /// The capture interface of every packet without a name of its own (`iocd run`).
    pub iface: Option<Arc<str>>,
    /// `home_net` when the configuration sets it: events then carry their direction.
    pub home_net: Option<Vec<ipnet::IpNet>>,
    /// The output stage puts events in packet order (replay): report progress after each
    /// batch ([`Output::Done`]) and leave the suppression clock to the stage.
    pub ordered: bool,
    /// `[tables] max_file_size`: the largest file (HTTP body) hashed.
    pub max_file_size: u64,
}

/// The caps of a worker's tables for a budget of `memory` bytes (`[tables] memory`).
pub fn table_caps(memory: u64) -> TableCaps {
    TableCaps::from_memory::<applayer::Stream>(memory)
}

/// One packet's flow, as the event shows it (in the packet's direction).
struct FlowInfo {
    ip: Ip,
    ports: Option<(u16, u16)>,
    /// Community ID "ports": TCP/UDP ports or ICMP type and code.
    cid_ports: (u16, u16),
}

impl FlowInfo {
    fn new(ip: Ip, l4: &L4<'_>) -> Self {
        let ports = match *l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport, .. } => Some((sport, dport)),
            _ => None,
        };
        let cid_ports = match *l4 {
            L4::Icmp { typ, code } => (u16::from(typ), u16::from(code)),
            _ => ports.unwrap_or((0, 0)),
        };
        FlowInfo {
            ip,
            ports,
            cid_ports,
        }
    }

    fn key(&self) -> FlowKey {
        let (sp, dp) = self.cid_ports;
        FlowKey::new((self.ip.src, sp), (self.ip.dst, dp), self.ip.proto).0
    }
}

pub struct Worker {
    ctx: Arc<Context>,
    store: Arc<IndicatorStore>,
    events: OutputTx,
    /// Packet time at which the output stage is next told the time (suppression windows).
    next_tick_us: i64,
    seen: HashSet<(FlowKey, IndicatorId, Where)>,
    /// TCP flows and their stream prefixes, each direction read by the application layer.
    flows: TcpFlows,
    /// Scratch buffer for a parser's observables, reused across packets.
    found: Vec<Observed>,
    /// Scratch buffer for the indicators covering one observable.
    hits: Vec<Hit>,
    /// Generation of the set the `seen` ids belong to (0 before the first batch).
    set_generation: u64,
    observed: [u64; Where::ALL.len()],
    tunnels: [u64; Tunnel::KINDS.len()],
    defrag: Defrag,
    stats: WorkerStats,
    quic: QuicTracker,
    /// The bytes of the ClientHello whose observables are being checked, when its
    /// fingerprints are still to be computed for an event ([`Observed::Hello`]).
    hello: Option<(Box<[u8]>, bool)>,
    /// Where [`Worker::publish_to`] puts periodic copies of the counters.
    slot: Option<Arc<std::sync::Mutex<WorkerStats>>>,
    /// See [`Worker::abandon_on`].
    abandon: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// This worker's index, in [`Output::Done`].
    id: usize,
    /// The retro-hunt memory's shard of this worker ([`crate::retro`]), and the memory itself
    /// while a batch is processed (taken out of the shard for the batch).
    retro: Option<crate::retro::Shard>,
    mem: Option<Box<crate::retro::Memory>>,
    /// The interface name of the packet being inspected.
    iface: Option<Arc<str>>,
}

impl Worker {
    pub fn new(ctx: Arc<Context>, store: Arc<IndicatorStore>, events: OutputTx) -> Self {
        let caps = ctx.tables;
        applayer::file::set_max_file_size(ctx.max_file_size);
        Worker {
            ctx,
            store,
            events,
            next_tick_us: i64::MIN,
            seen: HashSet::new(),
            flows: TcpFlows::with_caps(caps.tcp_flows, caps.tcp_buffered_bytes),
            found: Vec::new(),
            hits: Vec::new(),
            set_generation: 0,
            observed: [0; Where::ALL.len()],
            tunnels: [0; Tunnel::KINDS.len()],
            defrag: Defrag::new(),
            stats: WorkerStats::default(),
            quic: QuicTracker::with_cap(caps.quic_connections),
            hello: None,
            slot: None,
            abandon: None,
            id: 0,
            iface: None,
            retro: None,
            mem: None,
        }
    }

    /// Remember every observable in `shard` (the retro-hunt memory, [`crate::retro`]).
    pub fn remember_in(mut self, shard: crate::retro::Shard) -> Self {
        self.retro = Some(shard);
        self
    }

    /// Take the memory out of its shard for a batch (`take`), or put it back after.
    fn hold_memory(&mut self, take: bool) {
        let Some(shard) = &self.retro else { return };
        if let Ok(mut g) = shard.lock() {
            if take {
                self.mem = g.take();
            } else if let Some(m) = self.mem.take() {
                *g = Some(m);
            }
        }
    }

    /// Are a packet's addresses to be remembered: the memory is on and the pair cache has not
    /// just seen this flow direction ([`crate::retro::Memory::fresh_pair`])?
    #[inline]
    fn fresh_pair(&mut self, flow: &FlowInfo) -> bool {
        let Some(m) = self.mem.as_deref_mut() else {
            return false;
        };
        m.fresh_pair(&crate::retro::FlowTuple {
            src: flow.ip.src,
            dst: flow.ip.dst,
            cid_ports: flow.cid_ports,
            has_ports: flow.ports.is_some(),
            proto: flow.ip.proto,
        })
    }

    /// Remember an observable of `flow` (the retro-hunt memory, when on). With `home_net` set,
    /// addresses inside it are not remembered: an indicator names an outside address, and the
    /// inside ends of every flow would double the memory's addresses.
    #[inline]
    fn remember(
        &mut self,
        ts_us: i64,
        kind: crate::retro::Kind,
        value: &[u8],
        w: Where,
        flow: &FlowInfo,
    ) {
        let Some(m) = self.mem.as_deref_mut() else {
            return;
        };
        let t = crate::retro::FlowTuple {
            src: flow.ip.src,
            dst: flow.ip.dst,
            cid_ports: flow.cid_ports,
            has_ports: flow.ports.is_some(),
            proto: flow.ip.proto,
        };
        let fh = m.hash_of(&flow.key());
        m.see(ts_us, kind, value, w, &t, fh);
    }

    /// This worker is number `id` of the pipeline (for the ordered output stage).
    pub fn numbered(mut self, id: usize) -> Self {
        self.id = id;
        self
    }

    /// Publish a copy of the counters into `slot` about every [`PUBLISH_INTERVAL`] (also
    /// while the queue is idle), for the daemon's periodic stats.
    pub fn publish_to(mut self, slot: Arc<std::sync::Mutex<WorkerStats>>) -> Self {
        self.slot = Some(slot);
        self
    }

    /// Also end, once the queue is empty, when `flag` is set: the pipeline sets it when the
    /// capture thread cannot be stopped (blocked reading a FIFO or stdin that stays open), so
    /// that what was read is still drained.
    pub fn abandon_on(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.abandon = Some(flag);
        self
    }

    /// Process batches until the capture side closes the queue; return the counters.
    pub fn run(mut self, queue: WorkerQueue) -> WorkerStats {
        let mut published = std::time::Instant::now();
        loop {
            let batch = match queue.batches.recv_timeout(PUBLISH_INTERVAL) {
                Ok(b) => Some(b),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let abandoned = self
                        .abandon
                        .as_ref()
                        .is_some_and(|a| a.load(std::sync::atomic::Ordering::Relaxed));
                    if abandoned && queue.batches.is_empty() {
                        break;
                    }
                    None
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            if let Some(batch) = batch {
                // One set per batch: a reload takes effect at the next batch, and an old set
                // is freed as soon as every worker has moved on.
                let set = self.store.load();
                // Indicator ids are per set: after a reload the (flow, id, where) table would
                // compare ids of different sets, hiding a new indicator behind an old one's id. Start
                // it afresh (a flow already reported may be reported once more).
                // Generations, not addresses: a freed set's address can be reused by a newer one.
                let generation = set.generation();
                if generation != self.set_generation {
                    if self.set_generation != 0 && !self.seen.is_empty() {
                        self.seen.clear();
                        self.stats.dedup_resets += 1;
                    }
                    self.set_generation = generation;
                }
                self.hold_memory(true);
                for m in &batch.meta {
                    self.set_iface(batch.iface(m));
                    self.packet(&set, m, batch.packet(m));
                }
                self.hold_memory(false);
                if self.ctx.ordered {
                    let _ = self.events.send(Output::Done {
                        worker: self.id,
                        upto: batch.upto,
                    });
                } else if let Some(last) = batch.meta.last() {
                    self.suppress_tick(last.ts_us);
                }
                // The capture side may have gone; then the batch is simply dropped.
                let _ = queue.recycle.try_send(batch);
            }
            if self.slot.is_some() && published.elapsed() >= PUBLISH_INTERVAL {
                self.publish();
                published = std::time::Instant::now();
            }
        }
        self.defrag.finish();
        if self.ctx.ordered {
            // Nothing more from this worker, whatever comes.
            let _ = self.events.send(Output::Done {
                worker: self.id,
                upto: u64::MAX,
            });
        }
        let stats = self.snapshot();
        self.stats = stats.clone();
        self.publish();
        stats
    }

    /// The packet's own interface name, else the context's; the `Arc` is cloned only when the
    /// name changes.
    fn set_iface(&mut self, name: Option<&Arc<str>>) {
        let name = name.or(self.ctx.iface.as_ref());
        let same = match (name, &self.iface) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.iface = name.cloned();
        }
    }

    fn publish(&self) {
        if let Some(slot) = &self.slot {
            let s = self.snapshot();
            if let Ok(mut g) = slot.lock() {
                *g = s;
            }
        }
    }

    /// The counters with the flow table's, QUIC's and defrag's folded in.
    fn snapshot(&self) -> WorkerStats {
        let mut s = self.stats.clone();
        let f = &self.flows.stats;
        s.tls_incomplete += f.tls_split;
        s.tls_malformed += f.tls_malformed;
        s.errors_dns += f.dns_errors;
        s.flows = f.clone();
        for (w, n) in Where::ALL.iter().zip(self.observed) {
            s.observables.0.insert(w.as_str(), n);
        }
        s.quic = self.quic.stats();
        for (t, n) in Tunnel::KINDS.iter().zip(self.tunnels) {
            if n > 0 {
                s.tunnels.0.insert(t, n);
            }
        }
        s.defrag = self.defrag.stats.clone();
        if let Some(shard) = &self.retro {
            if let Some(m) = shard.lock().ok().as_ref().and_then(|g| g.as_deref()) {
                s.retro = m.snapshot();
            }
        }
        s
    }

    fn packet(&mut self, set: &IndicatorSet, m: &Meta, frame: &[u8]) {
        self.stats.packets += 1;
        let p = decode::decode(m.link, frame);
        for t in p.tunnels() {
            self.tunnels[t.index()] += 1;
        }
        self.reassemble(set, m, p, 0);
    }

    /// A fragment goes to the reassembler, and a completed datagram is decoded on from its
    /// payload (which may itself be a fragment of an inner packet: a tunnel whose outer and
    /// inner packets were both fragmented); anything else is inspected as it is.
    ///
    /// Every fragment carries both addresses, so they are checked on the first fragment of a
    /// datagram that reaches the reassembler (whatever its offset): a datagram whose fragments
    /// never all arrive still gives its addresses. They are not checked again on the whole
    /// datagram, which gives only what its payload holds (and the addresses of a packet
    /// tunnelled inside it). An address found on a fragment has no ports in its event (only
    /// the first fragment carries them). The outer addresses of a tunnel are not observables:
    /// an offset-0 fragment whose payload starts a tunnel gives none; a tunnel's later
    /// fragment arriving before its first one cannot be told from any other and gives them.
    fn reassemble(&mut self, set: &IndicatorSet, m: &Meta, p: decode::Packet<'_>, level: usize) {
        let Some(f) = p.frag else {
            return self.inspect(set, m, p, true);
        };
        if level >= decode::MAX_ENCAP_DEPTH {
            self.stats.errors_encap += 1;
            return;
        }
        // A datagram already held was checked (the hash lookup first: then the fragment is not
        // decoded here). The first fragment (offset 0) shows what the datagram carries: the
        // outer packet of a tunnel gives no addresses, as when it is not fragmented.
        let held = self.defrag.holds(&f);
        let starts_tunnel = || {
            f.offset == 0 && decode::resume(&p, f.proto, f.data).tunnels().len() > p.tunnels().len()
        };
        if !held && !starts_tunnel() {
            let ip = Ip {
                src: f.src,
                dst: f.dst,
                proto: f.proto,
            };
            let flow = FlowInfo::new(ip, &L4::None);
            let fresh = self.fresh_pair(&flow);
            self.check_ip(set, m, &p, &flow, ip.src, Where::IpSrc, fresh);
            self.check_ip(set, m, &p, &flow, ip.dst, Where::IpDst, fresh);
        }
        if let Some(r) = self.defrag.push(&f, m.ts_us) {
            let q = decode::resume(&p, r.proto, &r.payload);
            if q.frag.is_some() {
                self.reassemble(set, m, q, level + 1);
            } else {
                // Decoding past this datagram's own IP header (a tunnel) reaches new addresses.
                let deeper = q.tunnels().len() > p.tunnels().len();
                self.inspect(set, m, q, deeper);
            }
        }
    }

    /// `addresses`: check the innermost packet's addresses (false when its fragments did).
    fn inspect(&mut self, set: &IndicatorSet, m: &Meta, p: decode::Packet<'_>, addresses: bool) {
        match p.error {
            Some(decode::Layer::Link) => self.stats.errors_link += 1,
            Some(decode::Layer::Network) => self.stats.errors_network += 1,
            Some(decode::Layer::Transport) => self.stats.errors_transport += 1,
            Some(decode::Layer::Encapsulation) => self.stats.errors_encap += 1,
            None => {}
        }
        let Some(ip) = p.ip else {
            if p.error.is_none() {
                self.stats.non_ip += 1;
            }
            return;
        };
        let flow = FlowInfo::new(ip, &p.l4);
        if addresses {
            let fresh = self.fresh_pair(&flow);
            self.check_ip(set, m, &p, &flow, ip.src, Where::IpSrc, fresh);
            self.check_ip(set, m, &p, &flow, ip.dst, Where::IpDst, fresh);
        }
        match p.l4 {
            L4::Udp {
                sport,
                dport,
                payload,
            } => self.datagram(set, m, &p, &flow, (sport, dport), payload),
            L4::Tcp {
                sport,
                dport,
                seq,
                syn,
                fin,
                rst,
                payload,
            } => {
                let seg = Segment {
                    src: (ip.src, sport),
                    dst: (ip.dst, dport),
                    seq,
                    syn,
                    fin,
                    rst,
                    payload,
                    wants: set.wants().keeping_hellos(),
                };
                let mut found = std::mem::take(&mut self.found);
                found.clear();
                // Straight to the flow table, which hands each direction's bytes to its
                // application-layer reader (`applayer::Stream`). A frame the capture cut (its
                // snap length) lost the end of its payload: the stream is told how much.
                let lost = m.wire_len.saturating_sub(m.caplen);
                if lost == 0 || payload.is_empty() {
                    self.flows.segment(m.ts_us, &seg, &mut found);
                } else {
                    self.flows.segment_cut(m.ts_us, &seg, lost, &mut found);
                }
                for mut o in found.drain(..) {
                    if !self.keep_hello(&mut o) {
                        self.check_observed(set, m, &p, &flow, &o);
                    }
                }
                self.hello = None;
                self.found = found;
            }
            _ => {}
        }
    }

    /// Hand a UDP datagram to the application layer (DNS by port, QUIC by content, through
    /// the QUIC tracker); check what it reports. What was read before an error is still
    /// checked.
    fn datagram(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        (sport, dport): (u16, u16),
        payload: &[u8],
    ) {
        let src = SocketAddr::new(flow.ip.src, sport);
        let dst = SocketAddr::new(flow.ip.dst, dport);
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        let read = applayer::udp(
            &mut self.quic,
            src,
            dst,
            payload,
            m.ts_us,
            set.wants().keeping_hellos(),
            &mut found,
        );
        if read == Datagram::Malformed(AppProto::Dns) {
            self.stats.errors_dns += 1;
        }
        for o in found.iter_mut() {
            if !self.keep_hello(o) {
                self.check_observed(set, m, p, flow, o);
            }
        }
        self.hello = None;
        self.found = found;
    }

    /// Keep the bytes of a ClientHello whose fingerprints were not computed, for the events
    /// of the observables after it ([`Observed::Hello`]); true when `o` was one.
    #[inline]
    fn keep_hello(&mut self, o: &mut Observed) -> bool {
        match o {
            Observed::Hello { msg, quic } => {
                self.hello = Some((std::mem::take(msg), *quic));
                true
            }
            _ => false,
        }
    }

    /// An event's `info`, with the JA3 and JA4 of the kept hello added to a TLS one that lacks
    /// them: computed here, only for an event (the parser computes them only when the set
    /// holds fingerprint indicators: see BENCHMARKS.md).
    fn with_fingerprints(&self, info: Info) -> Info {
        let (Info::Tls { version }, Some((msg, quic))) = (info, &self.hello) else {
            return info;
        };
        let want = ja::Want {
            ja3: true,
            ja4: true,
            quic: *quic,
        };
        let hello = if *quic {
            tls::parse_client_hello_message_with(msg, want)
        } else {
            tls::parse_client_hello_with(msg, want)
        };
        match hello.map(|h| h.fp) {
            Ok(ja::Fingerprints {
                ja3: Some(ja3),
                ja4: Some(ja4),
            }) => Info::TlsHello { version, ja3, ja4 },
            _ => info,
        }
    }

    /// Check one observable from an application-layer parser.
    fn check_observed(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        o: &Observed,
    ) {
        match o {
            Observed::Domain {
                name,
                at,
                ech,
                info,
            } => self.check_name(set, m, p, flow, name, *at, (*ech, *info)),
            Observed::Ip { ip, at } => self.check_ip(set, m, p, flow, *ip, *at, true),
            Observed::Token {
                kind,
                key,
                at,
                info,
                file,
            } => self.check_token(set, m, p, flow, (*kind, key), *at, (*info, file)),
            // taken by `keep_hello` before
            Observed::Hello { .. } => {}
        }
    }

    /// A hash, fingerprint, e-mail address or URL.
    #[allow(clippy::too_many_arguments)]
    fn check_token(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        (kind, key): (Token, &[u8]),
        w: Where,
        (info, file): (Info, &Option<Box<crate::observe::FileMeta>>),
    ) {
        self.observed[w as usize] += 1;
        self.remember(m.ts_us, crate::retro::Kind::Token(kind), key, w, flow);
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        set.lookup_token(kind, key, &mut hits);
        if self.decide(set, m, flow, &mut hits) {
            let obs = event::Observable {
                kind: kind.as_str(),
                value: kind.text(key),
                location: w,
                ech: false,
                info: self.with_fingerprints(info),
                file: file.clone(),
            };
            self.hit(set, m, p, flow, &hits, obs, w);
        }
        self.hits = hits;
    }

    #[allow(clippy::too_many_arguments)]
    fn check_ip(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        ip: IpAddr,
        w: Where,
        remember: bool,
    ) {
        self.observed[w as usize] += 1;
        if remember && self.mem.is_some() && !self.at_home(ip) {
            let mut buf = [0u8; 16];
            let n = crate::retro::ip_bytes(&ip, &mut buf);
            self.remember(m.ts_us, crate::retro::Kind::Ip, &buf[..n], w, flow);
        }
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        set.lookup_ip(ip, &mut hits);
        if self.decide(set, m, flow, &mut hits) {
            let info = match (w, ip) {
                (Where::DnsAnswerIp, IpAddr::V4(_)) => Info::Dns {
                    rrtype: dns::TYPE_A,
                },
                (Where::DnsAnswerIp, IpAddr::V6(_)) => Info::Dns {
                    rrtype: dns::TYPE_AAAA,
                },
                _ => Info::None,
            };
            let obs = event::Observable {
                kind: "ip",
                value: ip.to_string(),
                location: w,
                ech: false,
                info,
                file: None,
            };
            self.hit(set, m, p, flow, &hits, obs, w);
        }
        self.hits = hits;
    }

    /// `ech`: the name is the outer SNI of a hello with encrypted_client_hello; `info`: what
    /// the parser said besides the name.
    #[allow(clippy::too_many_arguments)]
    fn check_name(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        name: &[u8],
        w: Where,
        (ech, info): (bool, Info),
    ) {
        self.observed[w as usize] += 1;
        self.remember(m.ts_us, crate::retro::Kind::Domain, name, w, flow);
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        set.lookup_domain(name, &mut hits);
        if self.decide(set, m, flow, &mut hits) {
            let obs = event::Observable {
                kind: "domain",
                value: name::escape(name),
                location: w,
                ech,
                info: self.with_fingerprints(info),
                file: None,
            };
            self.hit(set, m, p, flow, &hits, obs, w);
        }
        self.hits = hits;
    }

    /// Is `ip` inside the configured `home_net` (false when none is configured)?
    fn at_home(&self, ip: IpAddr) -> bool {
        self.ctx
            .home_net
            .as_ref()
            .is_some_and(|h| h.iter().any(|n| n.contains(&ip)))
    }

    /// Validity at the packet's time and allowlists; true when an event is due (the hits are
    /// then ranked, most specific first).
    #[inline]
    fn decide(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        flow: &FlowInfo,
        hits: &mut Vec<Hit>,
    ) -> bool {
        if hits.is_empty() {
            return false;
        }
        set.retain_ports(hits, flow.ports);
        if hits.is_empty() {
            self.stats.port_mismatch += 1;
            return false;
        }
        match set.decide(hits, m.ts_us) {
            Decision::Alert => true,
            Decision::Allowed => {
                self.stats.allowlisted += 1;
                false
            }
            Decision::Inactive => {
                self.stats.inactive += 1;
                false
            }
            // only allowlist or warninglist entries: as a miss
            Decision::Listed => false,
        }
    }

    /// One event for ranked `hits` (at least one alert indicator): the first is the indicator,
    /// the other alert ones `also_matched`, and warninglist entries after them name their lists
    /// in `warninglist`.
    #[allow(clippy::too_many_arguments)]
    fn hit(
        &mut self,
        set: &IndicatorSet,
        m: &Meta,
        p: &decode::Packet<'_>,
        flow: &FlowInfo,
        hits: &[Hit],
        observable: event::Observable,
        w: Where,
    ) {
        let (alerts, flags) = hits.split_at(set.alert_count(hits));
        let Some((first, others)) = alerts.split_first() else {
            return;
        };
        self.stats.matches += 1;
        if self.seen.len() >= MAX_DEDUP_ENTRIES {
            self.seen.clear();
            self.stats.dedup_resets += 1;
        }
        if !self.seen.insert((flow.key(), first.id, w)) {
            self.stats.duplicates += 1;
            return;
        }
        let ip = flow.ip;
        let (sp, dp) = flow.cid_ports;
        let ev = Ioa {
            ts_us: m.ts_us,
            sensor: Arc::clone(&self.ctx.sensor),
            flow: event::Flow {
                src_ip: ip.src,
                src_port: flow.ports.map(|p| p.0),
                dest_ip: ip.dst,
                dest_port: flow.ports.map(|p| p.1),
                proto: event::proto_name(ip.proto),
                vlan: p.vlans().to_vec(),
                tunnel: p.tunnels().to_vec(),
                community_id: community_id(0, ip.src, ip.dst, ip.proto, sp, dp),
                app_proto: app_proto(w, ip.proto, flow.ports).map(AppProto::as_str),
                direction: self.ctx.home_net.as_ref().map(|home| {
                    Direction::of(ip.src, ip.dst, |a| home.iter().any(|n| n.contains(&a)))
                }),
            },
            observable,
            indicator: event::IndicatorRef::new(set, first),
            also_matched: others
                .iter()
                .map(|h| event::IndicatorRef::new(set, h))
                .collect(),
            pcap: self
                .ctx
                .files
                .get(m.origin.file as usize)
                .map(|f| event::PcapRef {
                    file: Arc::clone(f),
                    packet: m.origin.packet,
                }),
            suppressed: None,
            warninglist: set.list_names(flags),
            in_iface: self.iface.clone(),
            seq: m.seq,
        };
        // A closed channel means shutdown; in replay the bounded channel makes workers wait
        // rather than drop events.
        if self
            .events
            .send(Output::Record(Record::Ioa(Box::new(ev))))
            .is_ok()
        {
            self.stats.events += 1;
        }
    }

    /// Tell the output stage the packet time, about once per
    /// [`crate::output::suppress::SWEEP_INTERVAL_US`] of it, when it suppresses.
    fn suppress_tick(&mut self, ts_us: i64) {
        if self.ctx.suppress && ts_us >= self.next_tick_us {
            self.next_tick_us = ts_us.saturating_add(crate::output::suppress::SWEEP_INTERVAL_US);
            let _ = self.events.send(Output::Tick(ts_us));
        }
    }
}

/// The application protocol of an observable seen at `w`: its parser's, or for an address in
/// the IP header the protocol its flow's ports suggest.
fn app_proto(w: Where, ip_proto: u8, ports: Option<(u16, u16)>) -> Option<AppProto> {
    Some(match w {
        Where::IpSrc | Where::IpDst => return applayer::port_hint(ip_proto, ports?),
        Where::DnsQuery | Where::DnsAnswer | Where::DnsAnswerIp => AppProto::Dns,
        Where::TlsSni
        | Where::TlsJa3
        | Where::TlsJa4
        | Where::TlsJa3s
        | Where::TlsJa4s
        | Where::TlsCertSha1
        | Where::TlsCertSha256
        | Where::TlsCertName => AppProto::Tls,
        Where::QuicSni | Where::QuicJa3 | Where::QuicJa4 | Where::QuicJa3s | Where::QuicJa4s => {
            AppProto::Quic
        }
        Where::HttpUrl | Where::HttpFile => AppProto::Http,
        Where::SmtpMailFrom | Where::SmtpRcptTo | Where::SmtpHeader | Where::SmtpAttachment => {
            AppProto::Smtp
        }
        Where::HttpHost => AppProto::Http,
    })
}
