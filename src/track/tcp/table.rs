//! The TCP flow table of one worker: entries keyed by [`FlowKey`], the caps and eviction, idle
//! expiry, the reassembly-buffer budget, and the counters ([`FlowStats`]). Each direction's
//! bytes go to [`super::reassembly`] and from there to the application layer.

use hashbrown::HashMap;

use crate::observe::Observed;

use super::reassembly::{feed, give_up, Half};
use super::{FlowKey, Segment, StreamParser, PROTO_TCP};
use crate::track::evict::{Rank, Victims};

/// Flows per worker before `[tables]` made it a budget: the cap used by [`FlowTable::new`]
/// (tests, benches); the worker's cap is derived from its memory budget by
/// [`crate::track::TableCaps`]. The reasoning still holds for the budget's default. A flow is inspected for one or two round trips (until its hello or
/// request is complete) and then costs only its entry (64 bytes and a control byte; the
/// inspection state and buffers are separate and freed at the verdict): 65,536 entries, in
/// 131,072 buckets at hashbrown's 7/8 load factor, are about 8.5 MiB per worker, hold every flow
/// of the benchmark's 8,192 concurrently open ones many times over, and leave room for ~30x the
/// flows a worker sees *undecided* at 10,000 new flows/s and a 100 ms round trip. A bypassed
/// flow that is evicted costs only a six-byte recheck of its next payload.
pub const MAX_FLOWS: usize = 65_536;

/// Bytes of reassembly buffers per worker (capacity, all flows) before `[tables]`: the cap used
/// by [`FlowTable::new`]; the worker's is a share of its memory budget. 2,048 flows each holding a
/// full [`super::MAX_STREAM_PREFIX`], or ~16,000 holding a typical split hello (~2 KB) at once;
/// beyond it the oldest buffering flows are shed until a quarter of the budget is free.
pub const MAX_BUFFERED_BYTES: usize = 32 << 20;

/// A flow with no packet for this long (packet time) is forgotten. 60 s is far beyond any
/// handshake's round trips, and the usual order of an IDS's established-TCP idle timeout
/// before the flow is re-learnt mid-stream.
pub const IDLE_TIMEOUT_US: i64 = 60_000_000;

/// How often (packet time) the table is swept for idle flows: each sweep is one pass over at
/// most [`MAX_FLOWS`] entries, so an idle flow lives at most this much past its timeout.
const SWEEP_INTERVAL_US: i64 = 5_000_000;

/// When the table is full, this fraction of it (the oldest) is evicted in one pass.
const EVICT_FRACTION: usize = 8;

crate::counters! {
    /// Counters of one worker's flow table. The application-message counters (`tls_*`, `http_*`,
    /// `dns_*`) are counted by the application layer's parsers, which the table hands these
    /// counters with the bytes; they live here so that the summary and the stats record keep one
    /// `flows` block.
    pub struct FlowStats {
        /// Entries created (a SYN, or the first payload of an unknown flow).
        created: u64,
        /// Entries freed by FIN in both directions, RST, or a SYN with a new ISN (port reuse).
        closed: u64,
        /// Entries freed after [`IDLE_TIMEOUT_US`] without a packet.
        expired: u64,
        /// Entries evicted because the table was full (its cap, [`MAX_FLOWS`] by default).
        evicted: u64,
        /// Flows that lost a partial hello or request to memory pressure: evicted from a full
        /// table, or their buffers shed (`evicted_bytes`), while a direction waited for more
        /// bytes. Unlike `unfinished`, which also counts idle expiry, RST and port reuse (a
        /// client's doing), this is the sensor's: anything but 0 means a flood of new flows
        /// (or a budget too small for the link). See [`crate::track::evict`] for the order.
        hellos_lost: u64,
        /// Flows whose buffers were dropped (and inspection stopped) to respect the buffer
        /// budget ([`MAX_BUFFERED_BYTES`] by default).
        evicted_bytes: u64,
        /// Flows that reached "both directions decided" and are no longer inspected.
        bypassed: u64,
        /// Directions that gave up because their message did not fit [`super::MAX_STREAM_PREFIX`] (or
        /// [`crate::proto::http::MAX_HTTP_HEAD`]), or the stream ran past it with a gap unfilled.
        prefix_cap: u64,
        /// Entries freed (any cause) while a direction still waited for more bytes: a hello or
        /// request never completed.
        unfinished: u64,
        /// Segments held ahead of a gap.
        ooo_held: u64,
        /// Segments dropped: a new out-of-order range beyond [`super::MAX_OOO_RANGES`], or past the
        /// window.
        ooo_dropped: u64,
        /// Segments whose every byte had already been received (retransmissions).
        retransmitted: u64,
        /// Holes in a stream skipped because its parser could read on past them (inside an HTTP
        /// body of known length): the window could not wait for the lost bytes any longer.
        gaps_skipped: u64,
        /// ClientHellos parsed.
        tls_hellos: u64,
        /// ClientHellos that did not fit the segment they start in (reassembly needed).
        tls_split: u64,
        tls_malformed: u64,
        /// HTTP/1.x request heads read (Host line or end of head reached).
        http_requests: u64,
        /// HTTP request heads with a header line that has no colon.
        http_errors: u64,
        /// HTTP `CONNECT` request heads whose tunnel (the bytes after the head) was read as a
        /// new stream, a TLS ClientHello in the usual case.
        http_tunnels: u64,
        /// HTTP/1.x response heads read (the server's direction).
        http_responses: u64,
        /// HTTP message bodies hashed (their digests handed to the matcher).
        http_files: u64,
        /// HTTP bodies not hashed, by reason: a lost segment inside (a gap),
        http_file_gap: u64,
        /// a segment cut by the capture's snap length,
        http_file_snap: u64,
        /// longer than `max_file_size` (as sent, or once decoded: a decompression bomb),
        http_file_too_big: u64,
        /// a content coding iocd does not decode (br, zstd, stacked codings) or a corrupt one,
        http_file_undecoded: u64,
        /// the direction's FIN came before the body's announced end (a body cut by RST or idle
        /// expiry is not counted: it was never complete).
        http_file_cut: u64,
        /// HTTP directions that stopped: a chunk-size line or Content-Length that cannot be
        /// read (a chunk of 2^64 bytes), a status line that is not HTTP/1.x, or a gap the
        /// framing could not be resynchronised after.
        http_framing_errors: u64,
        /// Requests whose method the server's direction could not learn: more than
        /// `MAX_PENDING` requests waiting for their responses (a response is then framed as
        /// a GET's).
        http_pending_full: u64,
        /// DNS-over-TCP messages read, and those that could not be.
        dns_messages: u64,
        dns_errors: u64,
        /// DNS-over-TCP directions bypassed after their depth limit (the application layer's
        /// `MAX_DNS_STREAM`).
        dns_capped: u64,
        /// TLS ServerHellos read (the server's side of a TLS flow, `applayer::tls_server`).
        tls_server_hellos: u64,
        /// Certificates read from Certificate messages in clear (TLS 1.0-1.2, either
        /// direction).
        tls_certificates: u64,
        /// TLS 1.3 handshakes (ServerHello selecting TLS 1.3): the certificates follow
        /// encrypted and cannot be read.
        tls13_certs_hidden: u64,
        /// Server-side messages over a cap: a ServerHello over `MAX_SERVER_HELLO_LEN`, a
        /// Certificate message over `MAX_CERT_MSG` or with more than `MAX_CERTS`
        /// certificates, a leaf over `MAX_LEAF_DER` (hashed, names not read), a direction past
        /// `MAX_HANDSHAKE_DEPTH`.
        tls_server_capped: u64,
        /// ServerHello or Certificate messages whose lengths contradict their message or
        /// record, or a handshake record of length 0 or over 2^14.
        tls_server_malformed: u64,
        /// Leaf certificates whose DER x509-parser could not read (hashed; no names).
        tls_cert_unparsed: u64,
        /// SMTP client directions read (from `EHLO`/`HELO`, on any port).
        smtp_sessions: u64,
        /// SMTP messages read to their end (`CRLF.CRLF` after `DATA`, or `BDAT ... LAST`).
        smtp_messages: u64,
        /// SMTP `DATA` taken as refused by the server: commands followed it.
        smtp_data_refused: u64,
        /// SMTP `STARTTLS` commands: the direction is read as TLS after them.
        smtp_starttls: u64,
        /// SMTP directions given up at a command line over `smtp::MAX_COMMAND_LINE` (a line
        /// with no end).
        smtp_line_cap: u64,
        /// SMTP directions given up at a message over `smtp::MAX_MESSAGE_SIZE` (a `DATA` with
        /// no end, a huge `BDAT`).
        smtp_data_cap: u64,
        /// `RCPT TO` addresses past `smtp::MAX_RECIPIENTS` in one message, not read.
        smtp_rcpt_cap: u64,
        /// MIME attachments of SMTP messages hashed.
        mime_attachments: u64,
        /// MIME header blocks cut at `mime::MAX_HEAD_BYTES` (the rest of the block skipped).
        mime_head_cap: u64,
        /// MIME multiparts nested past `mime::MAX_MIME_DEPTH` (or with an overlong boundary),
        /// not split: their attachments are not hashed.
        mime_depth_cap: u64,
        /// MIME attachments whose base64 does not decode: not hashed.
        mime_base64_broken: u64,
        /// MIME attachments over `mime::MAX_FILE_SIZE`: not hashed.
        mime_file_cap: u64,
    }
}

/// One TCP flow: 24 bytes, so that with its 40-byte key a table entry is one 64-byte cache
/// line. Looking the flow up is the only per-packet cost of a bypassed flow, and with
/// thousands of flows interleaved that lookup is a cache miss: what is touched must be small.
#[derive(Debug)]
struct Flow<P> {
    /// Packet time of the latest packet, microseconds.
    last_us: i64,
    /// Inspection state by direction (0 from the key's first endpoint, 1 towards it);
    /// `None` once both directions are decided: the flow is bypassed.
    dirs: Option<Box<[Half<P>; 2]>>,
    /// FIN seen, by direction.
    fin: [bool; 2],
}

impl<P: StreamParser> Flow<P> {
    /// A new flow; `ports` (source, destination) of the packet that created it give the
    /// application layer its port hint.
    fn new(ports: (u16, u16), now_us: i64) -> Flow<P> {
        Flow {
            last_us: now_us,
            dirs: Some(Box::new([
                Half::new(P::start(ports)),
                Half::new(P::start(ports)),
            ])),
            fin: [false; 2],
        }
    }

    fn mem(&self) -> usize {
        self.dirs.as_ref().map_or(0, |d| d[0].mem() + d[1].mem())
    }

    fn waiting(&self) -> bool {
        self.dirs
            .as_ref()
            .is_some_and(|d| d.iter().any(|h| h.reasm.is_some()))
    }
}

/// The TCP flows of one worker; `P` reads each direction's stream (see [`StreamParser`]).
pub struct FlowTable<P> {
    flows: HashMap<FlowKey, Flow<P>>,
    /// Entries at most.
    cap: usize,
    /// Buffer bytes at most (`buffered` past it sheds buffers).
    buffered_cap: usize,
    /// Sum of the flows' buffer memory (`Reasm::mem`).
    buffered: usize,
    next_sweep_us: i64,
    /// Reused by eviction passes: each entry's rank (and buffer bytes, for shedding).
    scratch: Vec<(Rank, usize)>,
    /// Reused by eviction passes: the ranks alone.
    ranks: Vec<Rank>,
    pub stats: FlowStats,
}

impl<P: StreamParser> Default for FlowTable<P> {
    fn default() -> Self {
        FlowTable::new()
    }
}

impl<P: StreamParser> FlowTable<P> {
    /// The most memory one flow's entry can hold, for deriving the cap from a budget: its slot
    /// (64 bytes and hashbrown's control byte, times 16/7: a table at its 7/8 load factor right
    /// after doubling is 7/16 full) and, while undecided (every flow of a SYN flood is), its
    /// boxed per-direction state with the allocator's 16-byte header. About 260 bytes for the
    /// worker's parser. Reassembly buffers are budgeted apart (`with_caps`' `buffered`).
    pub const FLOW_COST: usize = (std::mem::size_of::<(FlowKey, Flow<P>)>() + 1) * 16 / 7
        + std::mem::size_of::<[Half<P>; 2]>()
        + 16;

    /// A table of at most [`MAX_FLOWS`] entries and [`MAX_BUFFERED_BYTES`] of buffers.
    pub fn new() -> FlowTable<P> {
        FlowTable::with_caps(MAX_FLOWS, MAX_BUFFERED_BYTES)
    }

    /// A table of at most `flows` entries (at least 8, so that eviction by eighths frees one)
    /// and `buffered` bytes of reassembly buffers.
    pub fn with_caps(flows: usize, buffered: usize) -> FlowTable<P> {
        FlowTable {
            flows: HashMap::new(),
            cap: flows.max(EVICT_FRACTION),
            buffered_cap: buffered,
            buffered: 0,
            next_sweep_us: i64::MIN,
            scratch: Vec::new(),
            ranks: Vec::new(),
            stats: FlowStats::default(),
        }
    }

    /// The most entries held at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Bytes held by reassembly buffers.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Account one TCP segment seen at packet time `now_us`, pushing the observables of any
    /// application message it completes to `out`.
    ///
    /// A bare ACK (no payload, no SYN, FIN or RST; about a third of TCP packets) changes nothing
    /// tracked here but the idle clock, so it is not even looked up: a flow that only ACKs for
    /// [`IDLE_TIMEOUT_US`] is forgotten, and learnt again from its next payload.
    pub fn segment(&mut self, now_us: i64, seg: &Segment<'_>, out: &mut Vec<Observed>) {
        self.segment_cut(now_us, seg, 0, out);
    }

    /// [`FlowTable::segment`] for a segment whose payload the capture cut: `lost` bytes of it
    /// past `seg.payload` were on the wire but not captured (the snap length). The stream skips
    /// them, and the parser is told (see [`StreamParser::gap`]).
    pub fn segment_cut(
        &mut self,
        now_us: i64,
        seg: &Segment<'_>,
        lost: u32,
        out: &mut Vec<Observed>,
    ) {
        if seg.payload.is_empty() && !(seg.syn || seg.fin || seg.rst) {
            return;
        }
        if now_us >= self.next_sweep_us {
            self.sweep(now_us);
        }
        let (key, forward) = FlowKey::new(seg.src, seg.dst, PROTO_TCP);
        let dir = usize::from(!forward);
        let ports = (seg.src.1, seg.dst.1);
        let remove = match self.flows.get_mut(&key) {
            Some(flow) => {
                // A SYN with another ISN than the one seen, or any SYN once the flow is
                // bypassed (its SYNs came before the data that decided it): a new connection
                // on the same ports, whose old FIN or RST was missed. (A SYN-ACK retransmitted
                // late costs a fresh entry whose next payloads are bypassed at once.)
                let new_isn = match &flow.dirs {
                    Some(d) => d[dir].isn.is_some_and(|isn| isn != seg.seq),
                    None => true,
                };
                if seg.syn && new_isn {
                    self.stats.closed += 1;
                    self.stats.created += 1;
                    if flow.waiting() {
                        self.stats.unfinished += 1;
                    }
                    self.buffered -= flow.mem();
                    *flow = Flow::new(ports, now_us);
                }
                update(
                    flow,
                    dir,
                    now_us,
                    (seg, lost),
                    out,
                    &mut self.stats,
                    &mut self.buffered,
                )
            }
            None => {
                // Nothing to follow: a FIN or RST of a flow not (or no longer) known.
                if seg.rst || (seg.payload.is_empty() && !seg.syn) {
                    return;
                }
                if self.flows.len() >= self.cap {
                    self.evict(now_us);
                }
                self.stats.created += 1;
                let flow = self
                    .flows
                    .entry(key)
                    .or_insert_with(|| Flow::new(ports, now_us));
                update(
                    flow,
                    dir,
                    now_us,
                    (seg, lost),
                    out,
                    &mut self.stats,
                    &mut self.buffered,
                )
            }
        };
        if remove {
            if let Some(f) = self.flows.remove(&key) {
                self.stats.closed += 1;
                self.forget(&f);
            }
        }
        if self.buffered > self.buffered_cap {
            self.shed_buffers(now_us);
        }
    }

    /// Bookkeeping for an entry leaving the table.
    fn forget(&mut self, f: &Flow<P>) {
        if f.waiting() {
            self.stats.unfinished += 1;
        }
        self.buffered -= f.mem();
    }

    /// Free flows idle for longer than [`IDLE_TIMEOUT_US`].
    fn sweep(&mut self, now_us: i64) {
        self.next_sweep_us = now_us.saturating_add(SWEEP_INTERVAL_US);
        let (stats, buffered) = (&mut self.stats, &mut self.buffered);
        self.flows.retain(|_, f| {
            if now_us.saturating_sub(f.last_us) <= IDLE_TIMEOUT_US {
                return true;
            }
            stats.expired += 1;
            if f.waiting() {
                stats.unfinished += 1;
            }
            *buffered -= f.mem();
            false
        });
    }

    /// The table is full: drop idle flows, then an eighth of the table in the order of
    /// [`crate::track::evict`] (flows not waiting on a partial hello first), in one pass: the
    /// O(n) scan is paid once per cap/8 new flows.
    fn evict(&mut self, now_us: i64) {
        // Packet time may step back a little between sources; the table's newest time is the
        // clock its entries were stamped with.
        let now = self
            .flows
            .values()
            .map(|f| f.last_us)
            .max()
            .unwrap_or(now_us)
            .max(now_us);
        self.sweep(now);
        if self.flows.len() < self.cap {
            return;
        }
        let k = (self.flows.len() / EVICT_FRACTION).max(1);
        self.ranks.clear();
        self.ranks.extend(
            self.flows
                .values()
                .map(|f| Rank::of(f.waiting(), f.last_us, now)),
        );
        let Some(mut victims) = Victims::lowest(&mut self.ranks, k) else {
            return;
        };
        let (stats, buffered) = (&mut self.stats, &mut self.buffered);
        self.flows.retain(|_, f| {
            let rank = Rank::of(f.waiting(), f.last_us, now);
            let victim = victims.take(rank);
            if victim {
                stats.evicted += 1;
                if rank.is_partial() {
                    stats.unfinished += 1;
                    stats.hellos_lost += 1;
                }
                *buffered -= f.mem();
            }
            !victim
        });
    }

    /// Buffers exceed the budget: stop inspecting buffering flows, in the order of
    /// [`crate::track::evict`] (stale ones least recently seen first, then fresh ones newest
    /// first), until a quarter of the budget is free. Their entries stay (bypassed).
    fn shed_buffers(&mut self, now_us: i64) {
        let target = self.buffered - self.buffered_cap * 3 / 4;
        self.scratch.clear();
        // Any flow holding memory: a window waiting for bytes, or a parser's state (a body's
        // digests and decoder).
        self.scratch.extend(
            self.flows
                .values()
                .filter(|f| f.mem() > 0)
                .map(|f| (Rank::of(true, f.last_us, now_us), f.mem())),
        );
        self.scratch.sort_unstable();
        let mut freed = 0;
        let mut n: usize = 0;
        for s in &self.scratch {
            if freed >= target {
                break;
            }
            freed += s.1;
            n += 1;
        }
        self.ranks.clear();
        self.ranks.extend(self.scratch.iter().map(|s| s.0));
        let Some(mut victims) = Victims::lowest(&mut self.ranks, n) else {
            return;
        };
        for f in self.flows.values_mut() {
            if f.mem() == 0 {
                continue;
            }
            if victims.take(Rank::of(true, f.last_us, now_us)) {
                self.stats.evicted_bytes += 1;
                if f.waiting() {
                    self.stats.hellos_lost += 1;
                }
                self.stats.bypassed += 1;
                self.buffered -= f.mem();
                f.dirs = None;
            }
        }
    }
}

/// One segment of a known flow; true when the flow is over (RST, or FIN both ways). `lost`:
/// bytes the capture cut from the end of the segment's payload (snap length).
fn update<P: StreamParser>(
    flow: &mut Flow<P>,
    dir: usize,
    now_us: i64,
    (seg, lost): (&Segment<'_>, u32),
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
    buffered: &mut usize,
) -> bool {
    flow.last_us = flow.last_us.max(now_us);
    if seg.rst {
        return true;
    }
    if seg.fin {
        flow.fin[dir] = true;
    }
    // Buffers and parser state may grow or shrink below: accounted once, as a difference.
    let before = flow.mem();
    if let Some(dirs) = flow.dirs.as_mut() {
        let [a, b] = &mut **dirs;
        let (h, peer) = if dir == 0 { (a, b) } else { (b, a) };
        if seg.syn && h.isn.is_none() {
            h.isn = Some(seg.seq);
            if !h.anchored {
                h.anchored = true;
                h.next = seg.seq.wrapping_add(1);
            }
        }
        // A SYN's payload (TCP Fast Open, RFC 7413) starts after the SYN's own sequence number.
        let seq = seg.seq.wrapping_add(u32::from(seg.syn));
        let mut decided = None;
        if !seg.payload.is_empty() {
            let (wants, payload) = (seg.wants, seg.payload);
            decided = feed(h, &mut peer.app, seq, payload, lost, wants, out, stats);
        }
        // The FIN right after the last byte read, nothing missing before it: the end of a
        // message delimited by the close.
        let fin_at = seq.wrapping_add(seg.payload.len() as u32);
        if seg.fin && decided.is_none() && !h.app.is_done() && h.drained() && fin_at == h.next {
            h.app.end(out, stats);
            if h.app.is_done() {
                decided = Some(false);
            }
        }
        if let Some(client) = decided {
            if client && peer.app.peer_is_client() {
                give_up(peer);
            }
            if dirs.iter().all(|h| h.app.is_done()) {
                // Every buffer was freed as its direction finished.
                flow.dirs = None;
                stats.bypassed += 1;
            }
        }
    }
    *buffered = *buffered + flow.mem() - before;
    flow.fin[0] && flow.fin[1]
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::super::{MAX_OOO_RANGES, MAX_STREAM_PREFIX};
    use super::*;
    use crate::observe::{Info, Where};
    use crate::proto::tls;
    use crate::testkit::dns::{query as dns_query, tcp_framed};
    use crate::testkit::tls::{minimal_hello, records_of};

    /// The table as the worker runs it: the application-layer seam reads the streams, so these
    /// tests cover reassembly, the table and the seam's TCP protocols together.
    type FlowTable = super::FlowTable<crate::applayer::Stream>;
    type Flow = super::Flow<crate::applayer::Stream>;

    const CLIENT: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 40000);
    const SERVER: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 443);

    /// A ClientHello record for `sni`.
    fn hello(sni: &str) -> Vec<u8> {
        records_of(&minimal_hello(sni, 100), 1 << 14)
    }

    fn sni(name: &str) -> Observed {
        Observed::Domain {
            name: name.as_bytes().to_vec(),
            at: Where::TlsSni,
            ech: false,
            // testkit's minimal hello has no supported_versions: its legacy_version, TLS 1.2.
            info: Info::Tls { version: 0x0303 },
        }
    }

    /// Drive a table with segments; each call returns the observables it produced.
    struct Driver {
        t: FlowTable,
        now: i64,
    }

    impl Driver {
        fn new() -> Self {
            Driver {
                t: FlowTable::new(),
                now: 1_000_000,
            }
        }

        fn seg(
            &mut self,
            src: (IpAddr, u16),
            dst: (IpAddr, u16),
            seq: u32,
            flags: &str,
            payload: &[u8],
        ) -> Vec<Observed> {
            self.now += 10;
            let mut out = Vec::new();
            self.t.segment(
                self.now,
                &Segment {
                    src,
                    dst,
                    seq,
                    syn: flags.contains('S'),
                    fin: flags.contains('F'),
                    rst: flags.contains('R'),
                    payload,
                    wants: crate::observe::Wants::NONE,
                },
                &mut out,
            );
            out
        }

        /// Client payload at stream offset `off` after a SYN with ISN `isn`.
        fn data(&mut self, isn: u32, off: usize, payload: &[u8]) -> Vec<Observed> {
            self.seg(
                CLIENT,
                SERVER,
                isn.wrapping_add(1 + off as u32),
                "",
                payload,
            )
        }

        /// The rest of a TLS 1.3 handshake after a hello of `len` bytes on connection `isn`:
        /// the server's ServerHello and ChangeCipherSpec (what follows is encrypted), then
        /// the client's ChangeCipherSpec. Both directions are then done.
        fn finish(&mut self, isn: u32, len: usize) -> Vec<Observed> {
            let mut s = vec![22, 3, 3, 0, 50, 2, 0, 0, 46, 3, 3];
            s.extend([7; 32]);
            s.extend([0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
            s.extend([20, 3, 3, 0, 1, 1]);
            let mut out = self.seg(SERVER, CLIENT, 5556, "", &s);
            out.extend(self.data(isn, len, &[20, 3, 3, 0, 1, 1]));
            // no second hello (after a HelloRetryRequest) follows: the client is done too
            out.extend(self.data(isn, len + 6, &NEXT_FLIGHT));
            out
        }

        fn syn(&mut self, isn: u32) {
            assert!(self.seg(CLIENT, SERVER, isn, "S", b"").is_empty());
            assert!(self.seg(SERVER, CLIENT, 5555, "S", b"").is_empty());
        }
    }

    /// The client's record after its hello (a TLS 1.3 client's encrypted Finished): no
    /// second hello, so the direction, and with it the flow, is done.
    const NEXT_FLIGHT: [u8; 6] = [0x17, 3, 3, 0, 1, 0];

    #[test]
    fn hello_in_one_segment_is_read_without_buffering() {
        let mut d = Driver::new();
        d.syn(1000);
        let h = hello("one.example");
        assert_eq!(d.data(1000, 0, &h), vec![sni("one.example")]);
        assert_eq!(d.t.buffered(), 0);
        d.finish(1000, hello("one.example").len());
        assert_eq!(d.t.stats.bypassed, 1);
        assert_eq!(d.t.stats.tls_split, 0);
    }

    #[test]
    fn client_hello_split_across_three_segments() {
        let h = hello("three.example");
        let mut d = Driver::new();
        d.syn(1000);
        assert!(d.data(1000, 0, &h[..40]).is_empty());
        assert!(d.data(1000, 40, &h[40..90]).is_empty());
        assert!(d.t.buffered() > 0);
        assert_eq!(d.data(1000, 90, &h[90..]), vec![sni("three.example")]);
        assert_eq!(d.t.buffered(), 0);
        assert_eq!(d.t.stats.tls_split, 1);
        d.finish(1000, h.len());
        assert_eq!(d.t.stats.bypassed, 1);
    }

    #[test]
    fn hello_delivered_one_byte_per_segment_is_read_once() {
        let h = hello("bytes.example");
        let mut d = Driver::new();
        d.syn(7);
        let mut found = Vec::new();
        for (i, b) in h.iter().enumerate() {
            found.extend(d.data(7, i, std::slice::from_ref(b)));
        }
        assert_eq!(found, vec![sni("bytes.example")]);
        assert_eq!(d.t.stats.tls_hellos, 1);
    }

    #[test]
    fn out_of_order_segments_are_held_and_merged() {
        let h = hello("ooo.example");
        let mut d = Driver::new();
        d.syn(1000);
        assert!(d.data(1000, 100, &h[100..]).is_empty());
        assert!(d.data(1000, 50, &h[50..100]).is_empty());
        assert_eq!(d.t.stats.ooo_held, 2);
        assert_eq!(d.data(1000, 0, &h[..50]), vec![sni("ooo.example")]);
        assert_eq!(d.t.buffered(), 0);
    }

    #[test]
    fn retransmitted_overlap_keeps_the_first_bytes() {
        let h = hello("first.example");
        let mut d = Driver::new();
        d.syn(1000);
        assert!(d.data(1000, 0, &h[..100]).is_empty());
        // A retransmission overlapping what we have, with different bytes where the name is:
        // the first copy wins, only the new tail is taken.
        let mut liar = h[50..150].to_vec();
        liar[..50].fill(b'X');
        assert!(d.data(1000, 50, &liar).is_empty());
        // A pure retransmission.
        assert!(d.data(1000, 0, &h[..30]).is_empty());
        assert_eq!(d.t.stats.retransmitted, 1);
        assert_eq!(d.data(1000, 150, &h[150..]), vec![sni("first.example")]);
    }

    #[test]
    fn held_segment_wins_over_a_later_overlapping_one() {
        let h = hello("held.example");
        let mut d = Driver::new();
        d.syn(1000);
        assert!(d.data(1000, 40, &h[40..]).is_empty());
        let mut liar = h[..80].to_vec();
        liar[40..80].fill(b'Y');
        assert_eq!(d.data(1000, 0, &liar), vec![sni("held.example")]);
    }

    #[test]
    fn hello_in_two_tls_records_of() {
        let msg = minimal_hello("records.example", 300);
        let two = records_of(&msg, msg.len() / 2 + 1);
        let mut d = Driver::new();
        d.syn(1);
        assert!(d.data(1, 0, &two[..200]).is_empty());
        assert_eq!(d.data(1, 200, &two[200..]), vec![sni("records.example")]);
        // and in one segment, no reassembly
        let mut d = Driver::new();
        d.syn(1);
        assert_eq!(d.data(1, 0, &two), vec![sni("records.example")]);
        // and in many small records, one byte per segment
        let many = records_of(&msg, 7);
        let mut d = Driver::new();
        d.syn(1);
        let mut found = Vec::new();
        for (i, b) in many.iter().enumerate() {
            found.extend(d.data(1, i, std::slice::from_ref(b)));
        }
        assert_eq!(found, vec![sni("records.example")]);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let h = hello("wrap.example");
        let isn = u32::MAX - 20;
        let mut d = Driver::new();
        d.syn(isn);
        // the second segment starts past 2^32, and arrives first
        assert!(d.data(isn, 60, &h[60..]).is_empty());
        assert_eq!(d.data(isn, 0, &h[..60]), vec![sni("wrap.example")]);
    }

    #[test]
    fn mid_stream_pickup_starts_at_the_first_payload() {
        let h = hello("pickup.example");
        let mut d = Driver::new();
        // no SYN: an arbitrary sequence number, split in two
        assert!(d.seg(CLIENT, SERVER, 0x8000_0000, "", &h[..70]).is_empty());
        assert_eq!(
            d.seg(CLIENT, SERVER, 0x8000_0000 + 70, "", &h[70..]),
            vec![sni("pickup.example")]
        );
        // picked up in the middle of a stream: bulk data is bypassed at once
        let mut d = Driver::new();
        assert!(d
            .seg(CLIENT, SERVER, 99, "", &[0x17, 3, 3, 0, 20, 1])
            .is_empty());
        assert!(d
            .seg(SERVER, CLIENT, 42, "", &[0x17, 3, 3, 0, 20, 1])
            .is_empty());
        assert_eq!(d.t.stats.bypassed, 1);
        assert_eq!(d.t.buffered(), 0);
    }

    #[test]
    fn server_direction_is_not_inspected_after_a_client_hello() {
        let mut d = Driver::new();
        d.syn(1);
        d.data(1, 0, &hello("c.example"));
        // a "hello" from the server side is ignored: the flow is bypassed
        assert!(d
            .seg(SERVER, CLIENT, 5556, "", &hello("s.example"))
            .is_empty());
        assert_eq!(d.t.stats.tls_hellos, 1);
    }

    #[test]
    fn gap_never_filled_gives_up_once_the_stream_passes_the_window() {
        let h = hello("gap.example");
        let mut d = Driver::new();
        d.syn(1);
        assert!(d.data(1, 0, &h[..20]).is_empty());
        // bytes 20..40 never come; later segments are held, until one starts past the window
        assert!(d.data(1, 40, &h[40..]).is_empty());
        assert!(d.t.buffered() > 0);
        assert!(d.data(1, MAX_STREAM_PREFIX + 10, b"more").is_empty());
        assert_eq!(d.t.stats.prefix_cap, 1);
        assert_eq!(d.t.buffered(), 0);
        // the flow is now bypassed
        assert!(d.data(1, 20, &h[20..40]).is_empty());
    }

    #[test]
    fn gap_never_filled_is_counted_when_the_flow_expires() {
        let h = hello("gap.example");
        let mut d = Driver::new();
        d.syn(1);
        assert!(d.data(1, 40, &h[40..]).is_empty());
        assert_eq!(d.t.len(), 1);
        d.now += IDLE_TIMEOUT_US + SWEEP_INTERVAL_US;
        let other = (IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 9, 9)), 1);
        d.seg(other, SERVER, 1, "S", b"");
        assert_eq!(d.t.len(), 1);
        assert_eq!(d.t.stats.expired, 1);
        assert_eq!(d.t.stats.unfinished, 1);
        assert_eq!(d.t.buffered(), 0);
    }

    #[test]
    fn too_many_out_of_order_ranges_drop_the_extra_segment() {
        let h = minimal_hello("ranges.example", 1000);
        let h = records_of(&h, 1 << 14);
        let mut d = Driver::new();
        d.syn(1);
        // every other 10-byte piece, from 10 on: MAX_OOO_RANGES held, the next dropped
        for i in 0..=MAX_OOO_RANGES {
            let off = 10 + 20 * i;
            assert!(d.data(1, off, &h[off..off + 10]).is_empty());
        }
        assert_eq!(d.t.stats.ooo_held, MAX_OOO_RANGES as u64);
        assert_eq!(d.t.stats.ooo_dropped, 1);
        // the sender retransmits everything: the hello is read
        assert_eq!(d.data(1, 0, &h), vec![sni("ranges.example")]);
    }

    #[test]
    fn hello_over_the_prefix_cap_is_given_up_and_counted() {
        // the largest hello tls.rs accepts, in records so small that their headers push the
        // stream past MAX_STREAM_PREFIX
        let msg = minimal_hello("big.example", tls::MAX_CLIENT_HELLO_LEN - 200);
        assert!(msg.len() <= tls::MAX_CLIENT_HELLO_LEN);
        let stream = records_of(&msg, 16);
        let mut d = Driver::new();
        d.syn(1);
        for (i, c) in stream.chunks(1400).enumerate() {
            assert!(d.data(1, i * 1400, c).is_empty());
        }
        assert_eq!(d.t.stats.prefix_cap, 1);
        assert_eq!(d.t.buffered(), 0);
        // the same hello in full records is read
        let mut d = Driver::new();
        d.syn(1);
        let mut found = Vec::new();
        for (i, c) in records_of(&msg, 1 << 14).chunks(1400).enumerate() {
            found.extend(d.data(1, i * 1400, c));
        }
        assert_eq!(found, vec![sni("big.example")]);
    }

    #[test]
    fn random_splits_orders_and_duplicates_always_give_the_name() {
        let h = records_of(&minimal_hello("random.example", 700), 300);
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut cuts: Vec<usize> = (0..rnd(6)).map(|_| rnd(h.len())).collect();
            cuts.extend([0, h.len()]);
            cuts.sort_unstable();
            cuts.dedup();
            let mut segs: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
            // duplicates overlapping anything
            for _ in 0..rnd(3) {
                let a = rnd(h.len());
                segs.push((a, (a + 1 + rnd(200)).min(h.len())));
            }
            for i in (1..segs.len()).rev() {
                segs.swap(i, rnd(i + 1));
            }
            let mut d = Driver::new();
            let isn = rnd(1 << 31) as u32 * 2;
            d.syn(isn);
            let mut found = Vec::new();
            for (a, b) in segs {
                let (src, dst) = (CLIENT, SERVER);
                found.extend(d.seg(src, dst, isn.wrapping_add(1 + a as u32), "", &h[a..b]));
            }
            assert_eq!(found, vec![sni("random.example")]);
            assert_eq!(d.t.buffered(), 0);
        }
    }

    #[test]
    fn bypassed_flow_buffers_nothing_more() {
        let mut d = Driver::new();
        d.syn(1);
        let h = hello("bulk.example");
        d.data(1, 0, &h);
        for i in 0..100 {
            assert!(d.data(1, h.len() + i * 1000, &[0x17; 1000]).is_empty());
        }
        assert_eq!(d.t.buffered(), 0);
        assert_eq!(d.t.stats.ooo_held + d.t.stats.retransmitted, 0);
    }

    #[test]
    fn fin_both_ways_or_rst_frees_the_flow() {
        let mut d = Driver::new();
        d.syn(1);
        assert_eq!(d.t.len(), 1);
        d.seg(CLIENT, SERVER, 2, "F", b"");
        assert_eq!(d.t.len(), 1);
        d.seg(SERVER, CLIENT, 5556, "F", b"");
        assert_eq!(d.t.len(), 0);
        d.syn(1);
        d.data(1, 0, &hello("x.example")[..10]);
        assert!(d.t.buffered() > 0);
        d.seg(SERVER, CLIENT, 5556, "R", b"");
        assert_eq!(d.t.len(), 0);
        assert_eq!(d.t.buffered(), 0);
        assert_eq!(d.t.stats.closed, 2);
        assert_eq!(d.t.stats.unfinished, 1);
        // a bare ACK of an unknown flow creates nothing
        d.seg(CLIENT, SERVER, 9, "", b"");
        assert_eq!(d.t.len(), 0);
    }

    #[test]
    fn syn_with_a_new_isn_starts_a_new_connection() {
        let mut d = Driver::new();
        d.syn(1);
        // a retransmitted SYN before any data is the same connection
        d.seg(CLIENT, SERVER, 1, "S", b"");
        d.data(1, 0, &hello("old.example")[..20]);
        d.seg(CLIENT, SERVER, 1, "S", b"");
        assert_eq!(d.t.stats.created, 1);
        // another ISN is a new connection, even with a hello half read
        d.syn(90_000);
        assert_eq!(d.t.stats.created, 2);
        assert_eq!(d.t.stats.unfinished, 1);
        assert_eq!(
            d.data(90_000, 0, &hello("new.example")),
            vec![sni("new.example")]
        );
        d.finish(90_000, hello("new.example").len());
        // and any SYN after the flow was decided
        d.syn(90_000);
        assert_eq!(d.t.stats.created, 3);
        assert_eq!(
            d.data(90_000, 0, &hello("again.example")),
            vec![sni("again.example")]
        );
    }

    #[test]
    fn random_segments_never_panic_and_the_accounting_holds() {
        let h = hello("fuzz.example");
        let req = b"GET / HTTP/1.1\r\nHost: fuzz.example\r\n\r\n".to_vec();
        let dns = tcp_framed(&[dns_query(1, "fuzz.example"), dns_query(2, "two.example")]);
        let sources = [h, req, dns, vec![0x16, 3, 1, 0, 0], vec![0, 0, 0xff, 0xff]];
        let mut x = 0x0123_4567_89ab_cdefu64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n.max(1)
        };
        let mut t = FlowTable::new();
        let mut out = Vec::new();
        for i in 0..200_000i64 {
            let src = &sources[rnd(sources.len() as u64) as usize];
            let a = rnd(src.len() as u64) as usize;
            let b = a + rnd((src.len() - a) as u64 + 1) as usize;
            let mut payload = src[a..b].to_vec();
            if rnd(8) == 0 && !payload.is_empty() {
                let j = rnd(payload.len() as u64) as usize;
                payload[j] = rnd(256) as u8;
            }
            let host = rnd(4) as u8;
            let port = [53, 443, 80, 22][rnd(4) as usize];
            let (c, s) = (
                (IpAddr::from([10, 0, 0, host]), 40000 + rnd(3) as u16),
                (SERVER.0, port),
            );
            let (src_ep, dst_ep) = if rnd(2) == 0 { (c, s) } else { (s, c) };
            let flags = rnd(64);
            t.segment(
                i * 1000,
                &Segment {
                    src: src_ep,
                    dst: dst_ep,
                    seq: (rnd(3) as u32).wrapping_mul(0x7fff_ffff) ^ a as u32,
                    syn: flags == 0,
                    fin: flags == 1,
                    rst: flags == 2,
                    payload: &payload,
                    wants: crate::observe::Wants::NONE,
                },
                &mut out,
            );
            out.clear();
            if i % 1000 == 0 {
                let sum: usize = t.flows.values().map(Flow::mem).sum();
                assert_eq!(sum, t.buffered());
            }
        }
        assert!(t.len() <= 4 * 3 * 4);
    }

    #[test]
    fn table_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<(FlowKey, Flow)>(), 64);
    }

    #[test]
    fn one_million_half_open_flows_stay_at_the_cap() {
        let mut t = FlowTable::new();
        let mut out = Vec::new();
        let n: u32 = 1_000_000;
        for i in 0..n {
            let src = (
                IpAddr::from((0x0a00_0000 + i / 50_000).to_be_bytes()),
                (i % 50_000) as u16 + 1024,
            );
            t.segment(
                1_000_000 + i64::from(i),
                &Segment {
                    src,
                    dst: SERVER,
                    seq: i,
                    syn: true,
                    fin: false,
                    rst: false,
                    payload: b"",
                    wants: crate::observe::Wants::NONE,
                },
                &mut out,
            );
            assert!(t.len() <= MAX_FLOWS);
        }
        assert!(out.is_empty());
        assert_eq!(t.stats.created, u64::from(n));
        assert_eq!(t.stats.evicted + t.len() as u64, u64::from(n));
        assert!(t.len() > MAX_FLOWS - MAX_FLOWS / EVICT_FRACTION - 1);
        assert_eq!(t.stats.expired, 0);
    }

    #[test]
    fn eviction_takes_the_oldest_flows() {
        let mut t = FlowTable::new();
        let mut out = Vec::new();
        let syn = |i: u32| Segment {
            src: (IpAddr::from((0x0b00_0000 + i).to_be_bytes()), 1),
            dst: SERVER,
            seq: 0,
            syn: true,
            fin: false,
            rst: false,
            payload: b"",
            wants: crate::observe::Wants::NONE,
        };
        for i in 0..MAX_FLOWS as u32 {
            t.segment(i64::from(i), &syn(i), &mut out);
        }
        // flow 0 is refreshed, so it is the newest
        t.segment(MAX_FLOWS as i64, &syn(0), &mut out);
        t.segment(MAX_FLOWS as i64 + 1, &syn(MAX_FLOWS as u32 + 5), &mut out);
        assert_eq!(t.stats.evicted, (MAX_FLOWS / EVICT_FRACTION) as u64);
        let (k0, _) = FlowKey::new(syn(0).src, SERVER, PROTO_TCP);
        let (k1, _) = FlowKey::new(syn(1).src, SERVER, PROTO_TCP);
        assert!(t.flows.contains_key(&k0));
        assert!(!t.flows.contains_key(&k1));
    }

    /// A client segment from `src` at stream offset `off` (no SYN seen: picked up there).
    fn from(src: (IpAddr, u16), off: usize, payload: &[u8]) -> Segment<'_> {
        Segment {
            src,
            dst: SERVER,
            seq: 1 + off as u32,
            syn: false,
            fin: false,
            rst: false,
            payload,
            wants: crate::observe::Wants::NONE,
        }
    }

    fn flooder(i: u32) -> (IpAddr, u16) {
        (IpAddr::from((0x0d00_0000 + i).to_be_bytes()), 3)
    }

    #[test]
    fn split_hello_survives_a_flood_of_new_flows() {
        let h = hello("victim.example");
        let mut t = FlowTable::with_caps(64, MAX_BUFFERED_BYTES);
        let mut out = Vec::new();
        t.segment(1_000_000, &from(CLIENT, 0, &h[..40]), &mut out);
        // SYNs of 1,000 new flows after it: they hold no partial hello, so they go first.
        for i in 0..1000 {
            let syn = Segment {
                syn: true,
                ..from(flooder(i), 0, b"")
            };
            t.segment(1_000_001 + i64::from(i), &syn, &mut out);
        }
        assert!(t.stats.evicted > 900);
        assert_eq!(t.stats.hellos_lost, 0);
        t.segment(1_100_000, &from(CLIENT, 40, &h[40..]), &mut out);
        assert_eq!(out, vec![sni("victim.example")]);
    }

    #[test]
    fn split_hello_survives_a_flood_of_partial_hellos_within_the_grace_period() {
        let h = hello("victim.example");
        let mut t = FlowTable::with_caps(64, MAX_BUFFERED_BYTES);
        let mut out = Vec::new();
        t.segment(1_000_000, &from(CLIENT, 0, &h[..40]), &mut out);
        for i in 0..1000 {
            t.segment(
                1_000_001 + i64::from(i) * 1000,
                &from(flooder(i), 0, &h[..40]),
                &mut out,
            );
        }
        // The flood's newest entries went, and were counted as lost hellos.
        assert!(t.stats.evicted > 900);
        assert_eq!(t.stats.hellos_lost, t.stats.evicted);
        assert!(t.stats.unfinished >= t.stats.hellos_lost);
        t.segment(2_100_000, &from(CLIENT, 40, &h[40..]), &mut out);
        assert_eq!(out, vec![sni("victim.example")]);
        // A stale partial hello goes before the fresh ones.
        let t0 = 2_100_000 + crate::track::evict::HELLO_GRACE_US;
        let mut t = FlowTable::with_caps(64, MAX_BUFFERED_BYTES);
        t.segment(2_100_000, &from(CLIENT, 0, &h[..40]), &mut out);
        for i in 0..64 {
            t.segment(t0 + i64::from(i), &from(flooder(i), 0, &h[..40]), &mut out);
        }
        assert_eq!(t.stats.hellos_lost, 8);
        let (k, _) = FlowKey::new(CLIENT, SERVER, PROTO_TCP);
        assert!(!t.flows.contains_key(&k));
    }

    #[test]
    fn shedding_buffers_spares_an_older_partial_hello_within_the_grace_period() {
        let h = hello("victim.example");
        let mut t = FlowTable::with_caps(1 << 16, 64 << 10);
        let mut out = Vec::new();
        t.segment(1_000_000, &from(CLIENT, 0, &h[..40]), &mut out);
        for i in 0..2000 {
            t.segment(
                1_000_001 + i64::from(i),
                &from(flooder(i), 0, &h[..40]),
                &mut out,
            );
            assert!(t.buffered() <= 64 << 10);
        }
        assert!(t.stats.evicted_bytes > 0);
        assert_eq!(t.stats.hellos_lost, t.stats.evicted_bytes);
        t.segment(1_100_000, &from(CLIENT, 40, &h[40..]), &mut out);
        assert_eq!(out, vec![sni("victim.example")]);
    }

    #[test]
    fn flow_cost_covers_an_undecided_entry() {
        assert!(
            FlowTable::FLOW_COST
                >= 64 * 2 + std::mem::size_of::<[super::Half<crate::applayer::Stream>; 2]>()
        );
        const { assert!(FlowTable::FLOW_COST < 512) };
    }

    #[test]
    fn buffered_bytes_stay_under_the_budget() {
        // many flows each holding most of a large hello
        let msg = minimal_hello("budget.example", 12_000);
        let stream = records_of(&msg, 1 << 14);
        let part = &stream[..stream.len() - 10];
        let mut t = FlowTable::new();
        let mut out = Vec::new();
        let flows = 2 * MAX_BUFFERED_BYTES / part.len();
        for i in 0..flows as u32 {
            let src = (IpAddr::from((0x0c00_0000 + i).to_be_bytes()), 2);
            for (j, c) in part.chunks(1400).enumerate() {
                t.segment(
                    i64::from(i),
                    &Segment {
                        src,
                        dst: SERVER,
                        seq: (j * 1400) as u32,
                        syn: false,
                        fin: false,
                        rst: false,
                        payload: c,
                        wants: crate::observe::Wants::NONE,
                    },
                    &mut out,
                );
                assert!(t.buffered() <= MAX_BUFFERED_BYTES);
            }
        }
        assert!(t.stats.evicted_bytes > 0);
        assert_eq!(t.len(), flows);
        // the accounting matches the buffers
        let sum: usize = t.flows.values().map(Flow::mem).sum();
        assert_eq!(sum, t.buffered());
    }
}
