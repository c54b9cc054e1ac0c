//! IP reassembly, one reassembler per worker: IPv4 (RFC 791 §3.2, "Fragmentation and
//! Reassembly") and IPv6 (RFC 8200 §4.5).
//!
//! Every fragment of a datagram reaches the same worker because the capture thread hashes on
//! the outermost addresses only (the capture side's dispatch hash), so no state is shared.
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

crate::counters! {
    /// Counters of one worker's reassembler.
    pub struct DefragStats {
        /// Fragments handed to [`Defrag::push`].
        fragments: u64,
        /// Datagrams completed.
        reassembled: u64,
        /// Datagrams dropped incomplete after [`FRAG_TIMEOUT_US`].
        timeouts: u64,
        /// Datagrams dropped incomplete to make room ([`MAX_FRAG_DATAGRAMS`], [`MAX_FRAG_BYTES`]).
        evictions: u64,
        /// Fragments that overlapped data already held (IPv4: trimmed; IPv6: datagram dropped).
        overlaps: u64,
        /// Fragments refused: empty, not a multiple of 8 bytes before the last, beyond
        /// [`MAX_DATAGRAM_LEN`] or the datagram's known end, or over [`MAX_FRAGS_PER_DATAGRAM`]
        /// (which also drops the datagram).
        invalid: u64,
        /// Datagrams still incomplete when the reassembler was finished.
        pending: u64,
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

impl Key {
    /// The datagram `f` belongs to.
    fn of(f: &Fragment<'_>) -> Key {
        Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: if f.src.is_ipv6() { 0 } else { f.proto },
        }
    }
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

    /// Whether a datagram of `f` is in reassembly (an earlier fragment of it was pushed and it
    /// is neither complete nor dropped).
    pub fn holds(&self, f: &Fragment<'_>) -> bool {
        self.map.contains_key(&Key::of(f))
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
        if f.data.is_empty()
            || end > MAX_DATAGRAM_LEN
            || (f.more && !f.data.len().is_multiple_of(8))
        {
            self.stats.invalid += 1;
            return None;
        }
        let key = Key::of(f);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: [u8; 4] = [10, 0, 0, 1];
    const DST4: [u8; 4] = [10, 0, 0, 2];

    fn frag(v6: bool, id: u32, offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        let (src, dst) = if v6 {
            (IpAddr::from([1u8; 16]), IpAddr::from([2u8; 16]))
        } else {
            (IpAddr::from(SRC4), IpAddr::from(DST4))
        };
        Fragment {
            src,
            dst,
            id,
            proto: 17,
            offset,
            more,
            data,
        }
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Split `p` into fragments of `size` bytes (a multiple of 8).
    fn split(v6: bool, id: u32, p: &[u8], size: usize) -> Vec<Fragment<'_>> {
        p.chunks(size)
            .enumerate()
            .map(|(i, c)| frag(v6, id, (i * size) as u32, (i + 1) * size < p.len(), c))
            .collect()
    }

    #[test]
    fn fragments_in_order_reassemble() {
        for v6 in [false, true] {
            let p = payload(1000);
            let mut d = Defrag::new();
            let frags = split(v6, 7, &p, 296);
            let (last, rest) = frags.split_last().unwrap();
            for f in rest {
                assert_eq!(d.push(f, 0), None);
            }
            let r = d.push(last, 0).unwrap();
            assert_eq!((r.proto, r.payload), (17, p));
            assert_eq!(d.stats.reassembled, 1);
            assert!(d.is_empty());
            assert_eq!(d.bytes(), 0);
        }
    }

    #[test]
    fn fragments_in_reverse_order_reassemble() {
        for v6 in [false, true] {
            let p = payload(777);
            let mut d = Defrag::new();
            let frags = split(v6, 9, &p, 104);
            let mut out = None;
            for f in frags.iter().rev() {
                assert!(out.is_none());
                out = d.push(f, 0);
            }
            assert_eq!(out.unwrap().payload, p);
        }
    }

    #[test]
    fn ipv4_overlap_keeps_the_first_bytes() {
        let mut d = Defrag::new();
        let first = [0xAAu8; 16];
        let later = [0xBBu8; 16];
        assert_eq!(d.push(&frag(false, 1, 0, true, &first), 0), None);
        // overlaps bytes 8..16 and brings 16..24, and is the last
        let r = d.push(&frag(false, 1, 8, false, &later), 0).unwrap();
        assert_eq!(&r.payload[..16], &first);
        assert_eq!(&r.payload[16..], &later[8..]);
        assert_eq!(d.stats.overlaps, 1);
    }

    #[test]
    fn ipv6_overlap_discards_the_datagram_but_an_exact_duplicate_does_not() {
        let mut d = Defrag::new();
        let a = [1u8; 16];
        assert_eq!(d.push(&frag(true, 5, 0, true, &a), 0), None);
        assert_eq!(d.push(&frag(true, 5, 0, true, &a), 0), None);
        assert_eq!(d.stats.overlaps, 0);
        let r = d.push(&frag(true, 5, 16, false, &[2; 4]), 0).unwrap();
        assert_eq!(r.payload.len(), 20);

        assert_eq!(d.push(&frag(true, 6, 0, true, &a), 0), None);
        assert_eq!(d.push(&frag(true, 6, 8, true, &a), 0), None);
        assert_eq!(d.stats.overlaps, 1);
        // the rest arrives, but the datagram was discarded (RFC 5722)
        assert_eq!(d.push(&frag(true, 6, 24, false, &[3; 8]), 0), None);
        assert_eq!(d.bytes(), 0);
    }

    #[test]
    fn missing_fragment_times_out_by_packet_time() {
        let mut d = Defrag::new();
        let p = payload(64);
        let frags = split(false, 3, &p, 16);
        d.push(&frags[0], 1_000_000);
        d.push(&frags[1], 2_000_000);
        assert_eq!(d.len(), 1);
        // frags[2] never comes; a later unrelated fragment expires the datagram
        d.push(
            &frag(false, 99, 0, true, &[0; 8]),
            1_000_000 + FRAG_TIMEOUT_US + 1,
        );
        assert_eq!(d.stats.timeouts, 1);
        // the late last fragment starts a new datagram that cannot complete
        assert_eq!(d.push(&frags[3], 40_000_000), None);
        d.finish();
        assert_eq!(d.stats.pending, 2);
    }

    #[test]
    fn datagram_cap_evicts_the_oldest() {
        let mut d = Defrag::new();
        for id in 0..(MAX_FRAG_DATAGRAMS as u32 + 10) {
            d.push(&frag(false, id, 0, true, &[0; 8]), 0);
        }
        assert_eq!(d.len(), MAX_FRAG_DATAGRAMS);
        assert_eq!(d.stats.evictions, 10);
        // the oldest (id 0) is gone: its last fragment does not complete it
        assert_eq!(d.push(&frag(false, 0, 8, false, &[0; 8]), 0), None);
        // a recent one completes
        let last = MAX_FRAG_DATAGRAMS as u32 + 9;
        assert!(d.push(&frag(false, last, 8, false, &[0; 8]), 0).is_some());
    }

    #[test]
    fn byte_cap_evicts_and_is_never_exceeded() {
        let mut d = Defrag::new();
        // each datagram's last fragment claims the whole 65,528-byte range
        for id in 0..200 {
            d.push(&frag(false, id, 65_520, true, &[0; 8]), 0);
            assert!(d.bytes() <= MAX_FRAG_BYTES);
        }
        assert!(d.stats.evictions > 0);
    }

    #[test]
    fn fragments_beyond_the_limits_are_refused() {
        let mut d = Defrag::new();
        // beyond 65,535
        assert_eq!(d.push(&frag(false, 1, 65_528, false, &[0; 16]), 0), None);
        // not a multiple of 8 before the last
        assert_eq!(d.push(&frag(false, 2, 0, true, &[0; 7]), 0), None);
        // empty
        assert_eq!(d.push(&frag(false, 3, 0, true, &[]), 0), None);
        // data beyond the end fixed by the last fragment
        d.push(&frag(false, 4, 8, false, &[0; 8]), 0);
        assert_eq!(d.push(&frag(false, 4, 16, true, &[0; 8]), 0), None);
        assert_eq!(d.stats.invalid, 4);
    }

    #[test]
    fn too_many_fragments_drop_the_datagram() {
        let mut d = Defrag::new();
        for i in 0..=MAX_FRAGS_PER_DATAGRAM as u32 {
            d.push(&frag(false, 1, i * 8, true, &[0; 8]), 0);
        }
        assert_eq!(d.stats.invalid, 1);
        assert!(d.is_empty());
    }

    #[test]
    fn random_fragment_streams_never_panic_and_respect_the_caps() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let data = payload(2048);
        let mut d = Defrag::new();
        for i in 0..50_000i64 {
            let off = (next() % 70_000) as u32 & !7;
            let len = (next() % 2048) as usize;
            let f = Fragment {
                id: (next() % 64) as u32,
                ..frag(next() % 2 == 0, 0, off, next() % 4 != 0, &data[..len])
            };
            if let Some(r) = d.push(&f, i * 1000) {
                assert!(r.payload.len() <= MAX_DATAGRAM_LEN);
            }
            assert!(d.bytes() <= MAX_FRAG_BYTES);
            assert!(d.len() <= MAX_FRAG_DATAGRAMS);
        }
    }
}
