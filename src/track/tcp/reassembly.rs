//! Stream reassembly of one direction: the bounded window of bytes from the first one the
//! parser has not consumed, in-order data parsed straight from the packet, out-of-order data held
//! as a few ranges, first copy wins (see [`super`] for the policy and the limits).

use crate::observe::{Observed, Wants};
use crate::proto::tls;

use super::table::FlowStats;
use super::{Step, StreamInput, StreamParser};

/// Stream bytes held per direction, from the first unconsumed byte: the largest ClientHello
/// iocd parses ([`tls::MAX_CLIENT_HELLO_LEN`], 2^14 + 4 bytes, one full TLS record's worth,
/// RFC 8446 §5.1) plus 1 KiB for the 5-byte headers of the records it may be fragmented over.
/// Real hellos are 200-600 bytes, about 1.8 KB with a post-quantum key share (X25519MLKEM768).
/// It also bounds HTTP heads ([`crate::proto::http::MAX_HTTP_HEAD`] is smaller) and one DNS
/// message.
pub const MAX_STREAM_PREFIX: usize = tls::MAX_CLIENT_HELLO_LEN + 1024;

/// Disjoint out-of-order ranges held per direction. A hello spans a few segments; eight holes
/// covers heavy reordering of it, and keeps every insertion a short scan.
pub const MAX_OOO_RANGES: usize = 8;

/// One direction of a flow: where its stream stands, what is buffered, and the application
/// layer's state for it (`P`, defined by the application-layer seam; the table only asks it
/// whether it is done and hands it readable bytes).
#[derive(Debug)]
pub(super) struct Half<P> {
    /// The application-layer parser of this direction.
    pub(super) app: P,
    /// `next` is meaningful: set from the SYN or the first payload.
    pub(super) anchored: bool,
    /// Sequence number of this direction's SYN, when seen.
    pub(super) isn: Option<u32>,
    /// Sequence number of the first stream byte the parser has not consumed; `reasm` starts
    /// there.
    pub(super) next: u32,
    /// Stream bytes consumed so far (messages the parser finished with).
    consumed: usize,
    /// Bytes waiting for the parser; `None` while nothing is buffered (the common case).
    pub(super) reasm: Option<Box<Reasm>>,
}

impl<P: StreamParser> Half<P> {
    pub(super) fn new(app: P) -> Half<P> {
        Half {
            app,
            anchored: false,
            isn: None,
            next: 0,
            consumed: 0,
            reasm: None,
        }
    }

    /// Heap bytes of this direction: its window and its parser's state.
    pub(super) fn mem(&self) -> usize {
        self.reasm.as_ref().map_or(0, |r| r.mem()) + self.app.mem()
    }

    /// Nothing is buffered: every byte received was handed to the parser.
    pub(super) fn drained(&self) -> bool {
        self.reasm.is_none()
    }
}

/// The buffered window of one direction: stream bytes from the first unconsumed one, the
/// contiguous part first, then out-of-order ranges.
#[derive(Debug)]
pub(super) struct Reasm {
    /// Offsets are from the start of `buf` (stream byte `Half::next`); bytes in holes are 0.
    buf: Vec<u8>,
    /// `buf[..ready]` is contiguous and readable.
    ready: usize,
    /// Received ranges past `ready` (start, end), sorted, disjoint, not touching each other or
    /// `ready`.
    ranges: [(usize, usize); MAX_OOO_RANGES],
    n_ranges: usize,
    /// The parser's answer cannot change before `ready` reaches this.
    need: usize,
    /// `ready` when the parser last looked (HTTP retries only when a new line arrived).
    seen: usize,
}

/// What inserting a segment into a window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// Every byte was already there (or consumed).
    Old,
    /// Stored ahead of a gap.
    Held,
    /// The readable prefix grew.
    Grew,
    /// Would need one more out-of-order range than allowed; dropped.
    NoRoom,
    /// Starts at or past the end of the window; dropped.
    Beyond,
}

impl Reasm {
    fn new() -> Box<Reasm> {
        Box::new(Reasm {
            buf: Vec::new(),
            ready: 0,
            ranges: [(0, 0); MAX_OOO_RANGES],
            n_ranges: 0,
            need: 0,
            seen: 0,
        })
    }

    pub(super) fn mem(&self) -> usize {
        self.buf.capacity() + std::mem::size_of::<Reasm>()
    }

    fn is_empty(&self) -> bool {
        self.ready == 0 && self.n_ranges == 0
    }

    /// Insert `data` at stream offset `off` from the window start (negative: partly or wholly
    /// before it, already consumed). First wins: only bytes not yet received are written.
    fn insert(&mut self, off: i64, data: &[u8]) -> Insert {
        let (start, data) = if off < 0 {
            let skip = usize::try_from(off.unsigned_abs()).unwrap_or(usize::MAX);
            match data.get(skip..) {
                Some(d) if !d.is_empty() => (0, d),
                _ => return Insert::Old,
            }
        } else {
            (usize::try_from(off).unwrap_or(usize::MAX), data)
        };
        if start >= MAX_STREAM_PREFIX {
            return Insert::Beyond;
        }
        let end = start.saturating_add(data.len()).min(MAX_STREAM_PREFIX);
        let data = &data[..end - start];
        let ranges = &self.ranges[..self.n_ranges];
        if end <= self.ready || ranges.iter().any(|r| r.0 <= start && end <= r.1) {
            return Insert::Old;
        }
        let touches_ready = start <= self.ready;
        let touches_range = ranges.iter().any(|r| r.0 <= end && start <= r.1);
        if !touches_ready && !touches_range && self.n_ranges == MAX_OOO_RANGES {
            return Insert::NoRoom;
        }
        if self.buf.len() < end {
            if self.buf.capacity() < end {
                // Double as usual, but never past the window.
                let want = end.max((2 * self.buf.capacity()).min(MAX_STREAM_PREFIX));
                self.buf.reserve_exact(want - self.buf.len());
            }
            self.buf.resize(end, 0);
        }
        // Write only the holes: [max(start, ready), end) minus the ranges already held.
        let mut pos = start.max(self.ready);
        for &(rs, re) in ranges {
            if re <= pos {
                continue;
            }
            if rs >= end {
                break;
            }
            if rs > pos {
                self.buf[pos..rs].copy_from_slice(&data[pos - start..rs - start]);
            }
            pos = pos.max(re);
        }
        if pos < end {
            self.buf[pos..end].copy_from_slice(&data[pos - start..]);
        }
        // Merge [start, end) into the ranges, then absorb whatever now touches `ready`.
        let before = self.ready;
        if touches_ready {
            self.ready = self.ready.max(end);
        } else {
            let (mut s, mut e) = (start, end);
            let mut merged = [(0, 0); MAX_OOO_RANGES];
            let mut m = 0;
            let mut placed = false;
            for &r in &self.ranges[..self.n_ranges] {
                if r.1 < s {
                    merged[m] = r;
                    m += 1;
                } else if r.0 > e {
                    if !placed {
                        merged[m] = (s, e);
                        m += 1;
                        placed = true;
                    }
                    merged[m] = r;
                    m += 1;
                } else {
                    s = s.min(r.0);
                    e = e.max(r.1);
                }
            }
            if !placed {
                merged[m] = (s, e);
                m += 1;
            }
            self.ranges = merged;
            self.n_ranges = m;
        }
        let mut absorbed = 0;
        while absorbed < self.n_ranges && self.ranges[absorbed].0 <= self.ready {
            self.ready = self.ready.max(self.ranges[absorbed].1);
            absorbed += 1;
        }
        if absorbed > 0 {
            self.ranges.copy_within(absorbed..self.n_ranges, 0);
            self.n_ranges -= absorbed;
        }
        if self.ready > before {
            Insert::Grew
        } else {
            Insert::Held
        }
    }

    /// Drop the first `n` bytes of the window, readable or not (a hole being skipped): the
    /// held range starting at `n` (if any) becomes readable.
    fn skip(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.ready = 0;
        let mut kept = 0;
        for i in 0..self.n_ranges {
            let (s, e) = self.ranges[i];
            if e <= n {
                continue;
            }
            self.ranges[kept] = (s.saturating_sub(n), e - n);
            kept += 1;
        }
        self.n_ranges = kept;
        if kept > 0 && self.ranges[0].0 == 0 {
            self.ready = self.ranges[0].1;
            self.ranges.copy_within(1..kept, 0);
            self.n_ranges -= 1;
        }
        self.need = 0;
        self.seen = 0;
    }

    /// Drop `n` readable bytes from the front.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.ready);
        self.buf.drain(..n);
        self.ready -= n;
        for r in &mut self.ranges[..self.n_ranges] {
            r.0 -= n;
            r.1 -= n;
        }
    }
}

/// Stop inspecting a direction, freeing its buffer; `Some(client)` as [`feed`] returns.
pub(super) fn give_up<P: StreamParser>(h: &mut Half<P>) -> Option<bool> {
    let client = h.app.stop();
    h.reasm = None;
    Some(client)
}

/// The parser's answer for `data` (at stream sequence number `h.next`): `Some(client)` once the
/// direction is decided; otherwise its window is left as the answer says (what was not used
/// stays buffered). `lost`: bytes the capture cut from the end of `data` (snap length).
fn parse_in_order<P: StreamParser>(
    h: &mut Half<P>,
    peer: &mut P,
    data: &[u8],
    lost: u32,
    wants: Wants,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Option<bool> {
    let input = StreamInput {
        data,
        seen: 0,
        consumed: h.consumed,
        wants,
    };
    let step = h.app.parse_paired(peer, input, out, stats);
    let verdict = matches!(step, Step::Client { .. }).then_some(true);
    match step {
        Step::Done { client } => Some(client),
        Step::More { used, need } | Step::Client { used, need } => {
            h.next = h.next.wrapping_add(used as u32);
            h.consumed += used;
            if need > MAX_STREAM_PREFIX {
                stats.prefix_cap += 1;
                return give_up(h).map(|c| c || verdict.is_some());
            }
            let rest = &data[used..];
            if !rest.is_empty() {
                let mut r = Reasm::new();
                r.insert(0, rest);
                r.need = need;
                r.seen = r.ready;
                h.reasm = Some(r);
            } else if lost > 0 {
                // The segment's tail the capture did not keep: skipped exactly, when the
                // parser can read on past it.
                h.next = h.next.wrapping_add(lost);
                h.consumed += lost as usize;
                if !h.app.gap(u64::from(lost), true, stats) {
                    return give_up(h).map(|c| c || verdict.is_some());
                }
            }
            verdict
        }
    }
}

/// A segment starting `off` bytes past the window's start cannot be held (the window is full
/// of what waits for a hole to fill, or it starts past the window): skip the hole when the
/// parser can read on past it (see [`StreamParser::gap`]), so that the stream goes on from the
/// first bytes held after it (or from this segment). True when skipped.
fn skip_hole<P: StreamParser>(h: &mut Half<P>, off: i64, stats: &mut FlowStats) -> bool {
    let to = match h.reasm.as_deref() {
        Some(r) if r.n_ranges > 0 => r.ranges[0].0,
        _ => usize::try_from(off).unwrap_or(0),
    };
    if to == 0 || !h.app.gap(to as u64, false, stats) {
        return false;
    }
    stats.gaps_skipped += 1;
    h.next = h.next.wrapping_add(to as u32);
    h.consumed += to;
    if let Some(r) = h.reasm.as_mut() {
        r.skip(to);
        if r.is_empty() {
            h.reasm = None;
        }
    }
    true
}

/// Take one segment's payload (starting at stream sequence number `seq`) into a direction;
/// `peer` is the other direction's parser state, `lost` the bytes the capture cut from the
/// segment's end. `Some(client)` once the direction is decided (see [`Step::Done`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn feed<P: StreamParser>(
    h: &mut Half<P>,
    peer: &mut P,
    seq: u32,
    payload: &[u8],
    lost: u32,
    wants: Wants,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Option<bool> {
    if h.app.is_done() {
        return None;
    }
    if !h.anchored {
        // Mid-stream pickup: the stream starts here.
        h.anchored = true;
        h.next = seq;
    }
    // Signed distance modulo 2^32 (RFC 9293 §3.4).
    let off = i64::from(seq.wrapping_sub(h.next) as i32);
    let Some(r) = h.reasm.as_mut() else {
        // Nothing buffered. In order: parse straight from the packet.
        let skip = usize::try_from(-off).unwrap_or(0);
        if off <= 0 {
            let Some(data) = payload.get(skip..).filter(|d| !d.is_empty()) else {
                stats.retransmitted += 1;
                return None;
            };
            return parse_in_order(h, peer, data, lost, wants, out, stats);
        }
        // Ahead of a gap: hold it.
        let mut r = Reasm::new();
        return match r.insert(off, payload) {
            Insert::Held => {
                stats.ooo_held += 1;
                h.reasm = Some(r);
                None
            }
            _ if skip_hole(h, off, stats) => feed(h, peer, seq, payload, lost, wants, out, stats),
            _ => {
                // Past the window: the message we wait for cannot fit.
                stats.ooo_dropped += 1;
                stats.prefix_cap += 1;
                give_up(h)
            }
        };
    };
    // A segment past a hole that would not fit the window whole (its tail would be cut off
    // and lost) is treated as one past the window: the hole is skipped first, if it can be.
    let past_hole = usize::try_from(off)
        .is_ok_and(|o| o > r.ready && o.saturating_add(payload.len()) > MAX_STREAM_PREFIX);
    let inserted = if past_hole {
        Insert::Beyond
    } else {
        r.insert(off, payload)
    };
    match inserted {
        Insert::Old => {
            stats.retransmitted += 1;
            return None;
        }
        Insert::Held => {
            stats.ooo_held += 1;
            return None;
        }
        Insert::NoRoom => {
            stats.ooo_dropped += 1;
            return None;
        }
        Insert::Beyond => {
            if skip_hole(h, off, stats) {
                return match h.reasm.as_ref() {
                    // what was held after the hole is read first, then this segment
                    Some(r) if r.ready > 0 => {
                        let step = read_window(h, peer, wants, out, stats);
                        if step.is_some() {
                            return step;
                        }
                        feed(h, peer, seq, payload, lost, wants, out, stats)
                    }
                    _ => feed(h, peer, seq, payload, lost, wants, out, stats),
                };
            }
            stats.ooo_dropped += 1;
            stats.prefix_cap += 1;
            return give_up(h);
        }
        Insert::Grew if r.ready < r.need => return None,
        Insert::Grew => {}
    }
    read_window(h, peer, wants, out, stats)
}

/// Hand the window's readable bytes to the parser and keep what it did not use.
fn read_window<P: StreamParser>(
    h: &mut Half<P>,
    peer: &mut P,
    wants: Wants,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Option<bool> {
    let r = h.reasm.as_mut()?;
    let input = StreamInput {
        data: &r.buf[..r.ready],
        seen: r.seen,
        consumed: h.consumed,
        wants,
    };
    let step = h.app.parse_paired(peer, input, out, stats);
    let verdict = matches!(step, Step::Client { .. }).then_some(true);
    match step {
        Step::Done { client } => {
            give_up(h);
            Some(client)
        }
        Step::More { used, need } | Step::Client { used, need } => {
            r.consume(used);
            r.need = need;
            r.seen = r.ready;
            h.next = h.next.wrapping_add(used as u32);
            h.consumed += used;
            if need > MAX_STREAM_PREFIX {
                stats.prefix_cap += 1;
                return give_up(h).map(|c| c || verdict.is_some());
            }
            if r.is_empty() {
                h.reasm = None;
            }
            verdict
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_matches_a_naive_first_wins_model() {
        let stream: Vec<u8> = (0..3000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        let mut x = 0xdead_beef_u64;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..300 {
            let mut r = Reasm::new();
            let mut model: Vec<Option<u8>> = vec![None; MAX_STREAM_PREFIX];
            for _ in 0..40 {
                let a = rnd(stream.len());
                let b = (a + 1 + rnd(300)).min(stream.len());
                // sometimes lie about bytes: first wins must keep the true ones
                let mut data = stream[a..b].to_vec();
                let lie = rnd(4) == 0;
                if lie {
                    data.iter_mut().for_each(|b| *b = !*b);
                }
                let res = r.insert(a as i64, &data);
                if matches!(res, Insert::Held | Insert::Grew) {
                    for (i, &v) in data.iter().enumerate() {
                        model[a + i].get_or_insert(v);
                    }
                }
                let ready = model.iter().take_while(|m| m.is_some()).count();
                assert_eq!(r.ready, ready, "{res:?}");
                for (i, m) in model.iter().enumerate() {
                    if let Some(v) = m {
                        assert_eq!(r.buf[i], *v);
                    }
                }
                // the held ranges are exactly the runs of the model past `ready`
                let mut runs = Vec::new();
                let mut i = ready;
                while i < model.len() {
                    if model[i].is_some() {
                        let s = i;
                        while i < model.len() && model[i].is_some() {
                            i += 1;
                        }
                        runs.push((s, i));
                    } else {
                        i += 1;
                    }
                }
                assert_eq!(&r.ranges[..r.n_ranges], &runs[..]);
            }
        }
    }
}
