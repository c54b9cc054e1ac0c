//! TCP flows of one worker: a capped table ([`table`]) and bounded per-direction stream
//! reassembly ([`reassembly`]), enough for the application layer to read the first messages of
//! each direction (a TLS ClientHello, an HTTP/1.x request head, DNS messages on port 53) and
//! then stop looking.
//!
//! This module does not know any application protocol. Each direction of a flow carries a
//! parser state of the [`StreamParser`] type the table is built with (the application-layer
//! seam's `applayer::Stream` in the worker); the table hands it the direction's
//! readable bytes and does what its [`Step`] says: keep `used` bytes no longer, look again once
//! `need` bytes are readable, or stop. When both directions are done the flow is *bypassed*:
//! its later packets cost a table lookup and a flag test, no copy, no parse, no allocation. The
//! entry stays until FIN in both directions, RST, the idle timeout or eviction, so a bypassed
//! flow is not picked up again as a new one.
//!
//! Both directions of a flow reach the same worker (the capture side's dispatch hash), so the
//! table needs no lock.
//!
//! # Reassembly
//!
//! - The stream starts at ISN + 1 when the SYN was seen; without one (capture started
//!   mid-stream, or the entry was evicted), at the first payload byte seen ("pickup"). A pickup
//!   that lands in the middle of a hello sees no hello and bypasses: the price of not waiting.
//! - Sequence numbers are compared as signed 32-bit differences from the next expected byte
//!   (RFC 9293 §3.4, "modulo 2^32"), so wraparound needs no special case.
//! - In-order data is parsed straight from the packet; bytes are copied only when the parser
//!   needs more than one segment, or a segment arrives ahead of a gap.
//! - Overlaps and retransmissions: **first wins**. A byte already received is never replaced,
//!   whatever a later segment carries for it. Receiving stacks differ in which copy of
//!   conflicting overlaps they keep, so a sender that forges them can hide a hello from any
//!   single policy; this one is the simplest, copies each byte at most once, and never lets a
//!   later segment rewrite what was already read.
//! - Out-of-order bytes are held inside the same bounded window ([`MAX_STREAM_PREFIX`]) as
//!   at most [`MAX_OOO_RANGES`] disjoint ranges, and become readable when the gap fills.
//!   A segment that would make one range too many is dropped (counted); a segment entirely past
//!   the window while the parser still waits means the message can never fit: the direction
//!   gives up (counted as `prefix_cap`).
//! - A parser is retried only when enough bytes are present for its answer to change (its
//!   [`Step::More`] `need`: the exact end of the ClientHello from the record and handshake
//!   headers; a new line for HTTP; the announced length for DNS): a stream cut into one-byte
//!   segments costs one parse per record, line or message, not one per segment.
//!
//! # Limits
//!
//! Entries and buffer bytes per worker are capped from the worker's `[tables] memory` budget
//! ([`crate::track::TableCaps`]; [`MAX_FLOWS`] and [`MAX_BUFFERED_BYTES`] for
//! [`FlowTable::new`]). When the table is full an eighth of it is evicted in one pass (amortised
//! O(1) per new flow), flows not waiting on a partial hello first (see [`crate::track::evict`]);
//! when the buffers exceed theirs, buffering flows stop being inspected in the same order.
//! [`IDLE_TIMEOUT_US`] of packet time. Every eviction, expiry and cap is counted in
//! [`FlowStats`], a hello lost to either as `hellos_lost`.

use std::net::IpAddr;

use crate::observe::{Observed, Wants};

mod key;
pub mod reassembly;
pub mod table;

pub use key::FlowKey;
pub use reassembly::{MAX_OOO_RANGES, MAX_STREAM_PREFIX};
pub use table::{FlowStats, FlowTable, IDLE_TIMEOUT_US, MAX_BUFFERED_BYTES, MAX_FLOWS};

/// IP protocol number of TCP.
pub(crate) const PROTO_TCP: u8 = 6;

/// What the flow table needs from one TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    /// Sequence number (of the SYN itself when `syn`).
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// What the loaded indicators can match (see [`Wants`]): handed to the parsers.
    pub wants: Wants,
}

/// A parser's answer for a direction's readable bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Stop inspecting this direction; `client`: it was a client's hello or request, so the
    /// other direction is the server's: it stops too unless its parser reads servers (see
    /// [`StreamParser::peer_is_client`]).
    Done { client: bool },
    /// `used` bytes at the front are finished with; look again once `need` bytes (counted
    /// after dropping them) are readable. A `need` over [`MAX_STREAM_PREFIX`] gives the
    /// direction up (counted as `prefix_cap`).
    More { used: usize, need: usize },
    /// A client's message was read: the other direction is the server's and is told so now
    /// (as after `Done { client: true }`), but this one goes on as after [`Step::More`] (a
    /// ClientHello may be followed by a second one, after a HelloRetryRequest). Its later
    /// `Done` should say `client: false`: the verdict was given.
    Client { used: usize, need: usize },
}

/// A direction's readable stream bytes, as handed to its parser.
#[derive(Debug, Clone, Copy)]
pub struct StreamInput<'a> {
    /// Contiguous bytes from the first one the parser has not consumed (at most
    /// [`MAX_STREAM_PREFIX`]).
    pub data: &'a [u8],
    /// How many of `data` the parser was shown before (0 on a first look): a line-based parser
    /// may skip a retry when no new line arrived.
    pub seen: usize,
    /// Stream bytes of this direction consumed before `data` (per-direction depth limits).
    pub consumed: usize,
    /// The digests and fingerprints worth computing: the token kinds the loaded indicator set
    /// holds (see [`Wants`]).
    pub wants: Wants,
}

/// The application layer's per-direction state, as the table drives it. One value per
/// direction lives inside the flow's entry (boxed with the reassembly state, freed when the
/// flow is bypassed); the table never looks inside.
pub trait StreamParser: Sized {
    /// The state of one direction of a new flow whose creating packet had these (source,
    /// destination) ports: the port hint.
    fn start(ports: (u16, u16)) -> Self;
    /// Nothing more is to be read in this direction.
    fn is_done(&self) -> bool;
    /// Stop reading this direction (a cap, a gap past the window, or the other direction's
    /// client verdict); true when it was reading a client's message, so that the server's
    /// direction need not be read either.
    fn stop(&mut self) -> bool;
    /// The other direction gave a client verdict (it read a ClientHello or a request): this
    /// one is the server's. Return true to stop reading it (the default: nothing in it is
    /// wanted); a protocol that reads the server's side (a ServerHello and certificates, HTTP
    /// responses) switches to that reader and returns false.
    fn peer_is_client(&mut self) -> bool {
        true
    }
    /// Read `input`, pushing observables to `out` and counting in `stats`. After
    /// [`Step::Done`] the parser must report [`StreamParser::is_done`].
    fn parse(
        &mut self,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step;
    /// [`StreamParser::parse`] with the other direction's state at hand (`peer`): what the
    /// table calls. A protocol whose two directions share per-flow state (HTTP: the queue of
    /// requests whose responses are due) reads or updates it there; the default ignores it.
    fn parse_paired(
        &mut self,
        peer: &mut Self,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        let _ = peer;
        self.parse(input, out, stats)
    }
    /// Stream bytes of this direction are lost: the `skipped` bytes after the ones consumed so
    /// far (those the parser was shown without consuming them, and a hole after them that the
    /// window could not wait for, or the tail of a segment the capture cut at its snap length:
    /// `snap`). Return true to go on reading from the first byte after them (a parser inside a
    /// message body of known length can); false (the default) stops the direction, as before.
    fn gap(&mut self, skipped: u64, snap: bool, stats: &mut FlowStats) -> bool {
        let _ = (skipped, snap, stats);
        false
    }
    /// The direction ended (its FIN) right after the last byte read, with nothing missing:
    /// a message delimited by the close (an HTTP response without a length) ends here.
    fn end(&mut self, out: &mut Vec<Observed>, stats: &mut FlowStats) {
        let _ = (out, stats);
    }
    /// Heap bytes this state holds beyond the flow entry (digests, decoders, queues): counted
    /// in the table's buffer budget with the reassembly buffers.
    fn mem(&self) -> usize {
        0
    }
}
