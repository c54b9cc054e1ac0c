//! The capture side: read frames, copy each once into a batch, choose its worker by a
//! symmetric flow hash, and send full batches over bounded channels.
//!
//! Offline replay is lossless: when a worker's queue is full the capture thread waits
//! ([`Dispatcher::push`]). Live capture never waits: [`Dispatcher::try_push`] drops the batch
//! of a worker whose queue is full and counts its packets in [`Dispatcher::queue_full`].

pub mod fanout;
pub mod file;
pub mod live;
pub mod sockopt;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use std::net::IpAddr;

use crate::decode::link::{cisco_hdlc, ethertype, nflog_payload, null_payload, ppp_ip};
use crate::decode::{Ip, Link};

/// Packets per batch: enough to amortise the channel operation (~100 ns) over many packets,
/// small enough that a worker's latency stays in microseconds.
pub const BATCH_PACKETS: usize = 256;
/// Bytes per batch before it is sent regardless of the packet count (jumbo frames).
pub const BATCH_BYTES: usize = 512 * 1024;
/// Batches that may wait in one worker's queue: 64 × 256 packets bounds the memory held in
/// queues to roughly 64 × 512 KiB per worker.
pub const QUEUE_BATCHES: usize = 64;

/// In an ordered capture ([`Dispatcher::ordered`]), the most packets (of the whole capture) a
/// worker's announced progress may lag behind the capture: a worker whose pending batch is
/// older, or that got nothing for as long, is sent what it has (an empty batch if nothing), so
/// the output stage, which releases events only up to the slowest worker's progress, never
/// waits on a quiet worker. 4 × [`BATCH_PACKETS`]: a few more channel sends per million
/// packets, and the reorder buffer holds at most the events of this many packets beyond the
/// workers' queues.
pub const MAX_ORDER_LAG: u64 = 4 * BATCH_PACKETS as u64;

/// `Meta::iface` of a packet whose interface has no name.
pub const NO_IFACE: u16 = u16::MAX;

/// Where a packet came from, for the event's `pcap` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Index into the list of input files.
    pub file: u32,
    /// 1-based packet number within that file.
    pub packet: u64,
}

/// Metadata of one packet in a batch; its bytes are `Batch::data[start..start + caplen]`.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Packet time: microseconds since the Unix epoch.
    pub ts_us: i64,
    pub start: u32,
    pub caplen: u32,
    /// Length on the wire (may exceed caplen).
    pub wire_len: u32,
    pub link: Link,
    pub origin: Origin,
    /// The packet's number in reading order, from 1, over every input; set by the dispatcher.
    pub seq: u64,
    /// Index of its interface's name in [`Batch::ifaces`], or [`NO_IFACE`]; set by the
    /// dispatcher.
    pub iface: u16,
}

impl Meta {
    /// A packet's metadata before the dispatcher places it (`start`, `caplen`, `seq`, `iface`
    /// are filled in by [`Dispatcher::push`]).
    pub fn new(ts_us: i64, wire_len: u32, link: Link, origin: Origin) -> Meta {
        Meta {
            ts_us,
            start: 0,
            caplen: 0,
            wire_len,
            link,
            origin,
            seq: 0,
            iface: NO_IFACE,
        }
    }
}

/// Packets for one worker, copied into one buffer.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub meta: Vec<Meta>,
    /// Names of the packets' interfaces (see [`Meta::iface`]); few, so searched linearly.
    pub ifaces: Vec<Arc<str>>,
    /// Every packet of the capture up to this sequence number that belongs to this worker is
    /// in this batch or an earlier one: once it is done, the worker has done them all.
    pub upto: u64,
}

impl Batch {
    pub fn packet(&self, m: &Meta) -> &[u8] {
        let s = m.start as usize;
        &self.data[s..s + m.caplen as usize]
    }

    /// The name of a packet's interface, if it has one.
    pub fn iface(&self, m: &Meta) -> Option<&Arc<str>> {
        self.ifaces.get(usize::from(m.iface))
    }

    fn clear(&mut self) {
        self.data.clear();
        self.meta.clear();
        self.ifaces.clear();
        self.upto = 0;
    }

    fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }
}

/// The worker ends of the channels.
pub struct WorkerQueue {
    pub batches: Receiver<Batch>,
    /// Empty batches go back here so the capture thread reuses their buffers.
    pub recycle: Sender<Batch>,
}

/// Distributes packets to workers.
pub struct Dispatcher {
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    pending: Vec<Batch>,
    /// Packets dropped by [`Dispatcher::try_push`] because their worker's queue was full.
    pub queue_full: u64,
    /// Set by the control loop to end the capture: pushes then fail, as when every worker
    /// has gone, so every reader stops at its next batch.
    stop: Arc<AtomicBool>,
    /// Sequence number of the last packet pushed.
    seq: u64,
    /// Keep every worker's progress within [`MAX_ORDER_LAG`] (see [`Dispatcher::ordered`]).
    ordered: bool,
    /// Per worker: the `upto` of its last batch sent.
    sent_upto: Vec<u64>,
}

impl Dispatcher {
    /// Channels for `workers` workers.
    pub fn new(workers: usize) -> (Dispatcher, Vec<WorkerQueue>) {
        Dispatcher::with_stop(workers, Arc::new(AtomicBool::new(false)))
    }

    /// Channels for `workers` workers; setting `stop` ends the capture.
    pub fn with_stop(workers: usize, stop: Arc<AtomicBool>) -> (Dispatcher, Vec<WorkerQueue>) {
        let (recycle_tx, recycle_rx) = crossbeam_channel::bounded(workers * (QUEUE_BATCHES + 2));
        let mut senders = Vec::with_capacity(workers);
        let mut queues = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = crossbeam_channel::bounded(QUEUE_BATCHES);
            senders.push(tx);
            queues.push(WorkerQueue {
                batches: rx,
                recycle: recycle_tx.clone(),
            });
        }
        let pending = (0..workers).map(|_| Batch::default()).collect();
        (
            Dispatcher {
                senders,
                recycle: recycle_rx,
                pending,
                queue_full: 0,
                stop,
                seq: 0,
                ordered: false,
                sent_upto: vec![0; workers],
            },
            queues,
        )
    }

    /// Split into `n` handles feeding the same workers, one per capture thread (fanout): each
    /// has its own pending batches and the same flow hash, so a flow goes to the same worker
    /// whichever handle pushes it. Live capture only: the order kept by [`Dispatcher::ordered`]
    /// needs one reader, so an ordered dispatcher is not split (returned whole, alone).
    pub fn split(self, n: usize) -> Vec<Dispatcher> {
        if self.ordered || n <= 1 {
            return vec![self];
        }
        let workers = self.senders.len();
        let mut out = Vec::with_capacity(n);
        for _ in 1..n {
            out.push(Dispatcher {
                senders: self.senders.clone(),
                recycle: self.recycle.clone(),
                pending: (0..workers).map(|_| Batch::default()).collect(),
                queue_full: 0,
                stop: self.stop.clone(),
                seq: 0,
                ordered: false,
                sent_upto: vec![0; workers],
            });
        }
        out.insert(0, self);
        out
    }

    /// Keep every worker's announced progress ([`Batch::upto`]) within [`MAX_ORDER_LAG`]
    /// packets of the capture, so that an output stage putting events in packet order never
    /// waits long on a quiet worker (replay).
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Copy a frame into the batch of the worker that owns its flow; send the batch when full.
    /// Returns false when every worker has gone away.
    pub fn push(&mut self, frame: &[u8], meta: Meta) -> bool {
        self.push_with(frame, meta, None, true)
    }

    /// [`Dispatcher::push`] for a packet whose interface has a name.
    pub fn push_on(&mut self, frame: &[u8], meta: Meta, iface: Option<&Arc<str>>) -> bool {
        self.push_with(frame, meta, iface, true)
    }

    fn push_with(
        &mut self,
        frame: &[u8],
        mut meta: Meta,
        iface: Option<&Arc<str>>,
        wait: bool,
    ) -> bool {
        let n = self.senders.len();
        let w = if n == 1 {
            0
        } else {
            (dispatch_hash(meta.link, frame) % n as u64) as usize
        };
        self.seq += 1;
        let batch = &mut self.pending[w];
        meta.start = batch.data.len() as u32;
        meta.caplen = frame.len() as u32;
        meta.seq = self.seq;
        meta.iface = match iface {
            None => NO_IFACE,
            // The reader hands the same `Arc` for every packet of an interface: a pointer
            // comparison first, the text only when it differs.
            Some(name) => match batch
                .ifaces
                .iter()
                .position(|i| Arc::ptr_eq(i, name) || i == name)
            {
                Some(i) => i as u16,
                None if batch.ifaces.len() < usize::from(NO_IFACE) => {
                    batch.ifaces.push(Arc::clone(name));
                    (batch.ifaces.len() - 1) as u16
                }
                None => NO_IFACE,
            },
        };
        batch.data.extend_from_slice(frame);
        batch.meta.push(meta);
        if batch.is_full() {
            if wait && self.stopping() {
                // Stopping a replay: the reader stops here, and its final flush sends what is
                // pending. (Live capture checks the flag itself.)
                return false;
            }
            if !self.send_with(w, wait) {
                return false;
            }
            if self.ordered {
                return self.catch_up(wait);
            }
        }
        true
    }

    /// Send the batch (empty if need be) of every worker whose announced progress lags the
    /// capture by more than [`MAX_ORDER_LAG`].
    fn catch_up(&mut self, wait: bool) -> bool {
        let mut ok = true;
        for w in 0..self.senders.len() {
            if self.seq - self.sent_upto[w] > MAX_ORDER_LAG {
                ok &= self.send_with(w, wait);
            }
        }
        ok
    }

    /// Like [`Dispatcher::push`], but never waits: a full batch whose worker's queue is full
    /// is dropped and its packets counted in `queue_full` (live capture).
    pub fn try_push(&mut self, frame: &[u8], meta: Meta) -> bool {
        self.push_with(frame, meta, None, false)
    }

    /// Send every partly filled batch without waiting (dropping and counting as
    /// [`Dispatcher::try_push`] does). Live capture calls it when the link goes quiet, so a
    /// lone packet does not wait for its batch to fill.
    pub fn try_flush(&mut self) -> bool {
        let mut ok = true;
        for w in 0..self.senders.len() {
            if !self.pending[w].meta.is_empty() {
                ok &= self.send_with(w, false);
            }
        }
        ok
    }

    /// Send every partly filled batch.
    pub fn flush(&mut self) -> bool {
        let mut ok = true;
        for w in 0..self.senders.len() {
            // Ordered: a worker with nothing pending still learns how far the capture got.
            let behind = self.ordered && self.sent_upto[w] < self.seq;
            if !self.pending[w].meta.is_empty() || behind {
                ok &= self.send(w);
            }
        }
        ok
    }

    fn send(&mut self, w: usize) -> bool {
        self.send_with(w, true)
    }

    /// Has the control loop asked the capture to end?
    pub fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    fn send_with(&mut self, w: usize, wait: bool) -> bool {
        let fresh = match self.recycle.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => Batch {
                data: Vec::with_capacity(BATCH_BYTES + 65536),
                meta: Vec::with_capacity(BATCH_PACKETS),
                ifaces: Vec::new(),
                upto: 0,
            },
        };
        let mut full = std::mem::replace(&mut self.pending[w], fresh);
        // Every packet of worker `w` pushed so far is in `full` or was sent before it.
        full.upto = self.seq;
        self.sent_upto[w] = self.seq;
        match self.senders[w].try_send(full) {
            Ok(()) => true,
            // Replay is lossless: wait for the worker.
            Err(TrySendError::Full(b)) if wait => self.senders[w].send(b).is_ok(),
            // Live capture never waits: drop the batch, count it, keep its buffer.
            Err(TrySendError::Full(mut b)) => {
                self.queue_full += b.meta.len() as u64;
                b.clear();
                self.pending[w] = b;
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub reason: String,
}

/// Counters of the capture thread.
#[derive(Debug, Default, Clone)]
pub struct CaptureStats {
    /// Packets read from the inputs (filtered ones included).
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Packets per link type name.
    pub link_types: std::collections::BTreeMap<String, u64>,
    /// Packets a `--bpf` filter dropped.
    pub filtered: u64,
    /// One entry per input, in the order of the expanded input list.
    pub files: Vec<FileStats>,
}

impl CaptureStats {
    /// Inputs whose readable prefix was replayed but whose rest is damaged.
    pub fn damaged(&self) -> usize {
        self.files.iter().filter(|f| f.damage.is_some()).count()
    }
}

/// What one input gave.
#[derive(Debug, Default, Clone)]
pub struct FileStats {
    pub name: String,
    /// "pcap" or "pcapng", with the compression if any.
    pub format: String,
    pub packets: u64,
    pub bytes: u64,
    pub filtered: u64,
    /// Timestamps of the first and last packet, microseconds since the epoch.
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    /// Where and why reading stopped early.
    pub damage: Option<crate::capture::file::pcapfile::Damage>,
    /// It could not be read at all.
    pub error: Option<String>,
    /// A non-capture file found in a directory.
    pub skipped: Option<String>,
}

/// The capture thread's cheap version of [`flow_hash`]: a hash of the OUTERMOST IP addresses in
/// the frame, without decoding past them (no extension headers, no transport, no tunnel
/// payload), so the single capture thread spends nanoseconds per frame. It looks through VLAN
/// tags, MPLS labels (and an Ethernet pseudowire under them), PPPoE sessions and the NFLOG
/// header to find that first IP header. Frames without one hash to 0.
///
/// Why the outer addresses, and only addresses: every fragment of a datagram carries the same
/// addresses but only the first carries ports, so hashing ports would scatter fragments over
/// workers; and the outer header is the same for every packet of a tunnel, so all of it, inner
/// fragments included, meets in one worker, where the per-worker reassembler and flow state
/// need no locks. Both directions hash alike because the hash is symmetric. The cost: one busy
/// host pair or tunnel endpoint pair cannot be spread over workers.
pub fn dispatch_hash(link: Link, frame: &[u8]) -> u64 {
    ip_start(link, frame)
        .and_then(addresses)
        .map_or(0, |(src, dst)| flow_hash(&Ip { src, dst, proto: 0 }))
}

/// Most headers [`ip_start`] steps over before giving up.
const MAX_DISPATCH_HEADERS: usize = 16;

/// The bytes from the outermost IP header on.
fn ip_start(link: Link, frame: &[u8]) -> Option<&[u8]> {
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
    };
    let (mut et, mut rest) = match link {
        Link::Ethernet => (be16(frame, 12)?, frame.get(14..)?),
        Link::LinuxSll => (be16(frame, 14)?, frame.get(16..)?),
        Link::LinuxSll2 => (be16(frame, 0)?, frame.get(20..)?),
        Link::Null | Link::Loop => return null_payload(link, frame),
        Link::Raw | Link::Ipv4 | Link::Ipv6 => return Some(frame),
        Link::Nflog => return nflog_payload(frame),
        Link::Ppp => return ppp_ip(frame),
        Link::PppWithDir => return ppp_ip(frame.get(1..)?),
        Link::PppHdlc | Link::CiscoHdlc => match cisco_hdlc(frame) {
            Some((et, rest)) => (et, rest),
            None if link == Link::PppHdlc => return ppp_ip(frame),
            None => return None,
        },
        Link::PppEther => (ethertype::PPPOE_SESSION, frame),
        Link::Unsupported(_) => return None,
    };
    use ethertype as t;
    for _ in 0..MAX_DISPATCH_HEADERS {
        match et {
            t::IPV4 | t::IPV6 => return Some(rest),
            t::VLAN | t::QINQ | t::QINQ_OLD => {
                et = be16(rest, 2)?;
                rest = rest.get(4..)?;
            }
            t::CISCO_CMD => {
                et = be16(rest, 6)?;
                rest = rest.get(8..)?;
            }
            t::MPLS_UC | t::MPLS_MC => {
                let bottom = rest.get(2)? & 1 == 1;
                rest = rest.get(4..)?;
                if bottom {
                    match rest.first()? >> 4 {
                        4 | 6 => return Some(rest),
                        0 => rest = rest.get(4..)?,
                        _ => {}
                    }
                    et = be16(rest, 12)?;
                    rest = rest.get(14..)?;
                }
            }
            t::PPPOE_SESSION => return ppp_ip(rest.get(6..)?),
            _ => return None,
        }
    }
    None
}

/// Source and destination from the fixed part of an IPv4 (RFC 791 §3.1: bytes 12..20) or IPv6
/// (RFC 8200 §3: bytes 8..40) header; the version nibble says which.
fn addresses(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match ip.first()? >> 4 {
        4 => {
            let a: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(a), IpAddr::from(b)))
        }
        6 => {
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(a), IpAddr::from(b)))
        }
        _ => None,
    }
}

/// Symmetric hash of the packet's IP addresses, used to choose its worker: both directions of
/// a flow, and every fragment of a datagram (which carries no ports after the first), give the
/// same value. Ports are left out on purpose: a host pair's traffic stays on one worker, so
/// fragments and the flow they belong to never need state shared between workers. The cost is
/// balance when one host pair dominates the link.
pub fn flow_hash(ip: &Ip) -> u64 {
    let (a, b) = (addr_hash(ip.src), addr_hash(ip.dst));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    mix(lo ^ mix(hi.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

fn addr_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => mix(u64::from(u32::from(v))),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            mix((x as u64) ^ mix((x >> 64) as u64))
        }
    }
}

/// splitmix64 finaliser: a cheap full-avalanche mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta::new(0, 60, Link::from_dlt(1), Origin { file: 0, packet: 0 })
    }

    /// A frame of an IPv4 packet between `a` and `b` (for the dispatch hash).
    fn frame(a: u8, b: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[26..30].copy_from_slice(&[10, 0, 0, a]);
        f[30..34].copy_from_slice(&[10, 0, 0, b]);
        f
    }

    #[test]
    fn packets_are_numbered_and_a_quiet_worker_hears_how_far_the_capture_got() {
        let (d, queues) = Dispatcher::new(2);
        let mut d = d.ordered();
        // Find a host pair for each worker.
        let pair = |w: usize| {
            (1..=255u8)
                .map(|a| frame(a, 200))
                .find(|f| dispatch_hash(Link::from_dlt(1), f) % 2 == w as u64)
                .unwrap()
        };
        let busy = pair(0);
        let name: Arc<str> = Arc::from("eth7");
        let n = MAX_ORDER_LAG + BATCH_PACKETS as u64;
        for _ in 0..n {
            assert!(d.push_on(&busy, meta(), Some(&name)));
        }
        // Worker 1 got no packet, yet was sent an empty batch saying how far the capture is.
        let quiet = queues[1]
            .batches
            .try_recv()
            .expect("an empty progress batch");
        assert!(quiet.meta.is_empty());
        assert!(quiet.upto >= MAX_ORDER_LAG, "{}", quiet.upto);
        let first = queues[0].batches.try_recv().unwrap();
        let seqs: Vec<u64> = first.meta.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=BATCH_PACKETS as u64).collect::<Vec<_>>());
        assert_eq!(first.upto, BATCH_PACKETS as u64);
        assert_eq!(first.iface(&first.meta[0]).map(|s| &**s), Some("eth7"));
        assert_eq!(first.ifaces.len(), 1, "one copy of the name per batch");
        assert_eq!(quiet.upto, n);
        // One more packet, then the final flush: it tells every worker where the capture
        // ended, the quiet one too.
        assert!(d.push(&busy, meta()));
        assert!(d.flush());
        let mut last = [0u64; 2];
        for (w, q) in queues.iter().enumerate() {
            while let Ok(b) = q.batches.try_recv() {
                last[w] = b.upto;
            }
        }
        assert_eq!(last, [n + 1, n + 1]);
    }

    #[test]
    fn try_push_drops_and_counts_when_the_worker_queue_is_full_and_never_waits() {
        let (mut d, queues) = Dispatcher::new(1);
        let frame = [0u8; 60];
        // Fill the queue exactly.
        let n = QUEUE_BATCHES * BATCH_PACKETS;
        for _ in 0..n {
            assert!(d.try_push(&frame, meta()));
        }
        assert_eq!(d.queue_full, 0);
        assert_eq!(queues[0].batches.len(), QUEUE_BATCHES);
        // The next full batch has nowhere to go: dropped whole, counted, no wait.
        for _ in 0..BATCH_PACKETS {
            assert!(d.try_push(&frame, meta()));
        }
        assert_eq!(d.queue_full, BATCH_PACKETS as u64);
        // A partial batch flushed into a full queue is dropped too.
        assert!(d.try_push(&frame, meta()));
        assert!(d.try_flush());
        assert_eq!(d.queue_full, BATCH_PACKETS as u64 + 1);
        assert_eq!(queues[0].batches.len(), QUEUE_BATCHES);
        // Once the worker takes a batch, try_push delivers again.
        queues[0].batches.recv().unwrap();
        for _ in 0..BATCH_PACKETS {
            assert!(d.try_push(&frame, meta()));
        }
        assert_eq!(queues[0].batches.len(), QUEUE_BATCHES);
        assert_eq!(d.queue_full, BATCH_PACKETS as u64 + 1);
    }

    #[test]
    fn split_handles_send_a_flow_to_the_same_worker_and_end_the_workers_together() {
        let (d, queues) = Dispatcher::new(4);
        let mut handles = d.split(3);
        assert_eq!(handles.len(), 3);
        // Both directions of each host pair, pushed through different handles.
        for a in 1..=40u8 {
            let h = usize::from(a) % 3;
            assert!(handles[h].push(&frame(a, 200), meta()));
            assert!(handles[(h + 1) % 3].push(&frame(200, a), meta()));
        }
        for h in &mut handles {
            assert!(h.flush());
        }
        drop(handles);
        let mut seen = std::collections::HashMap::new();
        for (w, q) in queues.iter().enumerate() {
            // Every handle is gone: the queue ends once drained, as with one dispatcher.
            for b in q.batches.iter() {
                for m in &b.meta {
                    let f = b.packet(m);
                    let pair = (f[29].min(f[33]), f[29].max(f[33]));
                    assert_eq!(*seen.entry(pair).or_insert(w), w, "{pair:?}");
                }
            }
        }
        assert_eq!(seen.len(), 40);
        assert!(
            seen.values()
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1
        );
        // An ordered dispatcher has one reader: not split.
        let (d, _q) = Dispatcher::new(2);
        assert_eq!(d.ordered().split(3).len(), 1);
    }
}
