//! IP reassembly, one reassembler per worker: IPv4 (RFC 791 §3.2, "Fragmentation and
//! Reassembly") and IPv6 (RFC 8200 §4.5).
//!
//! Every fragment of a datagram reaches the same worker because the capture thread hashes on
//! the outermost addresses only ([`crate::decode::dispatch_hash`]), so no state is shared.
//!
//! # Contract
//!
//! [`Defrag::push`] takes one [`Fragment`] and the packet time; it returns the whole payload
//! once every byte from 0 to the end given by the last fragment (More Fragments clear) is
//! present. Memory is bounded: at most [`MAX_FRAG_DATAGRAMS`] datagrams in progress holding at
//! most [`MAX_FRAG_BYTES`] of buffers, each at most [`MAX_DATAGRAM_LEN`] long and made of at
//! most [`MAX_FRAGS_PER_DATAGRAM`] fragments. When a new datagram needs room the oldest are
//! evicted; a datagram not complete [`FRAG_TIMEOUT_US`] after its first fragment (by packet
//! time, so replays behave like live capture) is dropped. Everything is counted in
//! [`DefragStats`].
//!
//! # Overlaps
//!
//! - **IPv4: first wins.** Bytes already received are kept and the overlapping part of a later
//!   fragment is ignored; the overlap is counted. End hosts disagree here (BSD-, Linux- and
//!   Windows-style policies differ on which copy wins), so a crafted overlap can make iocd see
//!   different bytes from the target; the `overlaps` counter is what shows such traffic.
//! - **IPv6: the datagram is dropped**, as RFC 5722 §4 (and RFC 8200 §4.5) require of every
//!   node: an overlap discards the datagram and its later fragments until the timeout. A target
//!   that follows the RFC never sees such a datagram either, so there is nothing to inspect.
//!   An exact duplicate of a fragment already held (same offset and length) is not an overlap:
//!   RFC 8200 §4.5 allows dropping just the duplicate, which is done.
//!
//! The key is (source, destination, identification, protocol) for IPv4 (RFC 791 §3.2) and
//! (source, destination, identification) for IPv6, whose fragments may carry different Next
//! Header values; the offset-zero fragment's value is the one used (RFC 8200 §4.5).

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashMap;

use crate::decode::Fragment;

/// Datagrams in reassembly per worker. Linux keeps up to 4 MiB of fragments per network
/// namespace (`net.ipv4.ipfrag_high_thresh`); 1,024 datagrams of typical 1.5–3 KB fit well
/// inside [`MAX_FRAG_BYTES`], while bounding the table a fragment flood can create.
pub const MAX_FRAG_DATAGRAMS: usize = 1024;
/// Buffer bytes held by datagrams in reassembly per worker: Linux's default
/// `ipfrag_high_thresh` of 4 MiB.
pub const MAX_FRAG_BYTES: usize = 4 << 20;
/// Largest payload a datagram may reassemble to: the 16-bit IPv4 total length (RFC 791 §3.1)
/// and IPv6 payload length (RFC 8200 §3) fields; jumbograms (RFC 2675) are never fragmented.
pub const MAX_DATAGRAM_LEN: usize = 65_535;
/// Fragments per datagram. 65,535 bytes in the 576-byte datagrams every IPv4 host must accept
/// (RFC 791 §3.1) take 116 fragments; more than 128 pieces is the tiny-fragment attack, and
/// bounds the per-fragment overlap scan.
pub const MAX_FRAGS_PER_DATAGRAM: usize = 128;
/// Time from a datagram's first fragment to giving up on it, in microseconds of packet time:
/// 30 s, Linux's `ipfrag_time`. RFC 791 suggests 15 s as a lower bound, RFC 8200 §4.5 says 60 s.
pub const FRAG_TIMEOUT_US: i64 = 30_000_000;

/// Counters of one worker's reassembler.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments handed to [`Defrag::push`].
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Datagrams dropped incomplete after [`FRAG_TIMEOUT_US`].
    pub timeouts: u64,
    /// Datagrams dropped incomplete to make room ([`MAX_FRAG_DATAGRAMS`], [`MAX_FRAG_BYTES`]).
    pub evictions: u64,
    /// Fragments that overlapped data already held (IPv4: trimmed; IPv6: datagram dropped).
    pub overlaps: u64,
    /// Fragments refused: empty, not a multiple of 8 bytes before the last, beyond
    /// [`MAX_DATAGRAM_LEN`] or the datagram's known end, or over [`MAX_FRAGS_PER_DATAGRAM`]
    /// (which also drops the datagram).
    pub invalid: u64,
    /// Datagrams still incomplete when the reassembler was finished.
    pub pending: u64,
}

impl DefragStats {
    pub fn add(&mut self, o: &DefragStats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.timeouts += o.timeouts;
        self.evictions += o.evictions;
        self.overlaps += o.overlaps;
        self.invalid += o.invalid;
        self.pending += o.pending;
    }
}

/// A reassembled datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Protocol of the payload (IPv6: the offset-zero fragment's Next Header).
    pub proto: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4 protocol; 0 for IPv6.
    proto: u8,
}

#[derive(Debug)]
struct Entry {
    /// Creation number, to tell this entry from an older one with the same key in `order`.
    seq: u64,
    first_us: i64,
    buf: Vec<u8>,
    /// Fragments held, as (start, end) byte ranges, sorted by start.
    pieces: Vec<(u32, u32)>,
    /// End of the datagram, known once the last fragment arrived.
    total: Option<u32>,
    /// Protocol from the offset-zero fragment.
    proto: Option<u8>,
    /// IPv6 overlap seen: the datagram is discarded; later fragments are dropped until timeout.
    discarded: bool,
}

/// One worker's reassembler.
#[derive(Debug, Default)]
pub struct Defrag {
    map: HashMap<Key, Entry>,
    /// (seq, key) in creation order: the oldest is at the front (timeouts and evictions).
    order: VecDeque<(u64, Key)>,
    next_seq: u64,
    /// Sum of `buf.len()` over entries.
    bytes: usize,
    pub stats: DefragStats,
}

impl Defrag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Buffer bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Add a fragment seen at `now_us` (packet time, microseconds); the payload when its
    /// datagram is complete.
    pub fn push(&mut self, f: &Fragment<'_>, now_us: i64) -> Option<Reassembled> {
        self.stats.fragments += 1;
        self.expire(now_us);
        let v6 = f.src.is_ipv6();
        let start = f.offset as usize;
        let end = start + f.data.len();
        // RFC 791 §3.2 / RFC 8200 §4.5: every fragment but the last is a multiple of 8 bytes.
        if f.data.is_empty() || end > MAX_DATAGRAM_LEN || (f.more && f.data.len() % 8 != 0) {
            self.stats.invalid += 1;
            return None;
        }
        let key = Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: if v6 { 0 } else { f.proto },
        };
        let have = self.map.get(&key).map(|e| e.buf.len());
        let grow = end.saturating_sub(have.unwrap_or(0));
        self.make_room(&key, grow, have.is_none());
        let seq = self.next_seq;
        let entry = self.map.entry(key).or_insert_with(|| Entry {
            seq,
            first_us: now_us,
            buf: Vec::new(),
            pieces: Vec::new(),
            total: None,
            proto: None,
            discarded: false,
        });
        if entry.seq == seq {
            self.next_seq += 1;
            self.order.push_back((seq, key));
            if self.order.len() > 4 * MAX_FRAG_DATAGRAMS {
                let map = &self.map;
                self.order
                    .retain(|(s, k)| map.get(k).is_some_and(|e| e.seq == *s));
            }
        }
        let entry = self.map.get_mut(&key)?;
        if entry.discarded {
            return None;
        }
        let (s32, e32) = (start as u32, end as u32);
        // The last fragment fixes the end; nothing may lie beyond it (RFC 8200 §4.5).
        let beyond_end = match (entry.total, f.more) {
            (Some(t), true) => e32 > t,
            (Some(t), false) => e32 != t,
            (None, false) => entry.pieces.iter().any(|&(_, e)| e > e32),
            (None, true) => false,
        };
        if beyond_end || entry.pieces.len() >= MAX_FRAGS_PER_DATAGRAM {
            self.stats.invalid += 1;
            self.remove(&key);
            return None;
        }
        let overlap = entry.pieces.iter().any(|&(s, e)| s < e32 && s32 < e);
        if overlap {
            if v6 {
                if entry.pieces.contains(&(s32, e32)) {
                    // exact duplicate: drop just this copy
                    return None;
                }
                self.stats.overlaps += 1;
                self.bytes -= entry.buf.len();
                entry.buf = Vec::new();
                entry.pieces = Vec::new();
                entry.discarded = true;
                return None;
            }
            self.stats.overlaps += 1;
        }
        if !f.more {
            entry.total = Some(e32);
        }
        if start == 0 {
            entry.proto = Some(f.proto);
        }
        if entry.buf.len() < end {
            self.bytes += end - entry.buf.len();
            entry.buf.reserve_exact(end - entry.buf.len());
            entry.buf.resize(end, 0);
        }
        // First wins: copy only the bytes no held fragment covers. `pieces` is sorted by start.
        let mut at = s32;
        for &(s, e) in &entry.pieces {
            if e <= at {
                continue;
            }
            if s >= e32 {
                break;
            }
            if s > at {
                copy(&mut entry.buf, f, start, at, s);
            }
            at = at.max(e);
        }
        if at < e32 {
            copy(&mut entry.buf, f, start, at, e32);
        }
        let pos = entry.pieces.partition_point(|&(s, _)| s <= s32);
        entry.pieces.insert(pos, (s32, e32));
        let total = entry.total?;
        let mut covered = 0;
        for &(s, e) in &entry.pieces {
            if s > covered {
                return None;
            }
            covered = covered.max(e);
        }
        if covered < total {
            return None;
        }
        let proto = entry.proto.unwrap_or(f.proto);
        let mut e = self.remove(&key)?;
        e.buf.truncate(total as usize);
        self.stats.reassembled += 1;
        Some(Reassembled {
            proto,
            payload: e.buf,
        })
    }

    /// Drop datagrams whose first fragment is older than [`FRAG_TIMEOUT_US`] at `now_us`.
    /// Packet time may step back (several files): then nothing expires.
    pub fn expire(&mut self, now_us: i64) {
        while let Some(&(seq, key)) = self.order.front() {
            match self.map.get(&key) {
                Some(e) if e.seq == seq => {
                    if now_us.saturating_sub(e.first_us) <= FRAG_TIMEOUT_US {
                        return;
                    }
                    self.remove(&key);
                    self.stats.timeouts += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Count what is still incomplete (end of a replay) and drop it.
    pub fn finish(&mut self) {
        self.stats.pending += self.map.len() as u64;
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Evict the oldest datagrams other than `keep` until `grow` more bytes (and a new entry,
    /// if `new_entry`) fit.
    fn make_room(&mut self, keep: &Key, grow: usize, new_entry: bool) {
        let mut kept = None;
        while self.bytes + grow > MAX_FRAG_BYTES
            || (new_entry && self.map.len() >= MAX_FRAG_DATAGRAMS)
        {
            let Some((seq, key)) = self.order.pop_front() else {
                break;
            };
            if &key == keep {
                kept = Some((seq, key));
                continue;
            }
            if self.map.get(&key).is_some_and(|e| e.seq == seq) {
                self.remove(&key);
                self.stats.evictions += 1;
            }
        }
        if let Some(k) = kept {
            self.order.push_front(k);
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.bytes -= e.buf.len();
        Some(e)
    }
}

/// Copy the fragment's bytes for datagram range `from..to` into `buf`.
fn copy(buf: &mut [u8], f: &Fragment<'_>, start: usize, from: u32, to: u32) {
    let (a, b) = (from as usize, to as usize);
    if let (Some(dst), Some(src)) = (buf.get_mut(a..b), f.data.get(a - start..b - start)) {
        dst.copy_from_slice(src);
    }
}
