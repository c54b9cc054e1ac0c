//! Per-worker QUIC Initial tracking: reassemble a client's CRYPTO stream across its Initial
//! packets until the ClientHello is complete, then report its server name.
//!
//! A ClientHello often does not fit one Initial packet (post-quantum key shares make it about
//! 1.8 KB), and clients scatter it over out-of-order and overlapping CRYPTO frames on purpose
//! (Chrome's "chaos protection"), so each connection's CRYPTO data is put back together by
//! offset (RFC 9000 §19.6) in a buffer of at most [`MAX_CRYPTO_BYTES`], and the caller's
//! handshake parser (the application layer's, over `tls::parse_client_hello_message`) is tried
//! on the contiguous prefix whenever it grows. The tracker knows QUIC packets, keys and CRYPTO
//! offsets, not what the handshake says.
//!
//! Connections are keyed by path (client address and port, server address and port) and
//! remember the original Destination Connection ID their keys came from (RFC 9001 §5.2):
//! - the client keeps that DCID for every Initial until it hears from the server, then switches
//!   to the server's connection ID but keeps the keys: a packet whose own DCID gives keys that
//!   fail is tried again with the path's keys;
//! - after a Retry (RFC 9000 §17.2.5) the client picks a new DCID and new keys: a packet whose
//!   own DCID gives working keys on a path that knew another one starts a new connection.
//!
//! Once the hello is parsed (or found malformed) the connection's buffer is freed and a small
//! "done" record stays until it idles out, so retransmitted Initials and the server's replies
//! on the path cost a table lookup, not a key derivation and a failed decryption.
//!
//! The server's side, only when the caller asks for it (a `ja3s`/`ja4s` indicator is loaded):
//! the server's Initials come back on the reversed path, addressed to the client's Source
//! Connection ID, sealed with the server keys of the connection's original DCID (RFC 9001
//! §5.2, "server in", derived on the first one and kept in a boxed [`ServerSide`]). Their CRYPTO
//! stream (the ServerHello, RFC 9001 §4.1.3; everything after it is at the Handshake level) is
//! reassembled the same way, in at most [`MAX_SERVER_CRYPTO_BYTES`], and handed to the
//! caller's server parser; then that side is done too.
//!
//! Both directions of a path reach the same worker (the capture side hashes addresses
//! symmetrically), so the tracker needs no lock. Everything is bounded: connections by the cap
//! the worker derives from its `[tables] memory` budget ([`super::TableCaps`], at most
//! [`CONN_COST`] bytes each; evicted in the order of [`super::evict`], a connection holding a
//! partial hello last, counted), bytes per connection by [`MAX_CRYPTO_BYTES`], holes per
//! connection by [`MAX_CRYPTO_RANGES`], idle time by [`QUIC_IDLE_TIMEOUT_US`] of packet time.

use std::net::SocketAddr;

use hashbrown::HashMap;

use super::evict::{Rank, Victims};
use crate::observe::Observed;
use crate::proto::quic::{self, InitialKeys, LongHeader, PacketType, QuicError};
use crate::proto::tls;

/// Connections tracked per worker before `[tables]` made it a budget: the cap used by
/// [`QuicTracker::new`] (tests, benches). The worker's cap is derived from its memory budget
/// by [`super::TableCaps`].
pub const MAX_QUIC_CONNECTIONS: usize = 1024;

/// The most memory one tracked connection can hold, for deriving the cap from a budget: its
/// table slot (about 1 KB of keys and state, plus hashbrown's control byte, times 16/7: a
/// table at its 7/8 load factor right after doubling is 7/16 full), its CRYPTO buffer at
/// [`MAX_CRYPTO_BYTES`] (an attacker fills it with one small Initial whose CRYPTO frame starts
/// near the cap) and its [`MAX_CRYPTO_RANGES`] ranges. About 19 KB; a real connection's
/// hello is about 2 KB and is freed once read.
pub const CONN_COST: usize = (std::mem::size_of::<(Path, Conn)>() + 1) * 16 / 7
    + MAX_CRYPTO_BYTES
    + MAX_CRYPTO_RANGES * std::mem::size_of::<(usize, usize)>()
    + SERVER_SIDE_COST;

/// What a connection's server side adds at most: its boxed [`ServerSide`] (keys and state),
/// counted in [`CONN_COST`] whether or not the server side is read, since the caps are derived
/// once at start and a reload may ask for it. Its CRYPTO buffer (at most
/// [`MAX_SERVER_CRYPTO_BYTES`] and [`MAX_CRYPTO_RANGES`] ranges, 4.5 KB) needs no more: server
/// Initials are read only once the client's hello is done and its buffer (up to
/// [`MAX_CRYPTO_BYTES`]) freed, so the two buffers never exist at once.
pub const SERVER_SIDE_COST: usize = std::mem::size_of::<ServerSide>();

const _: () = assert!(
    MAX_SERVER_CRYPTO_BYTES + MAX_CRYPTO_RANGES * 16 <= MAX_CRYPTO_BYTES,
    "the server's buffer must fit in the client's allowance"
);
// the server side costs a connection its boxed keys only (~0.9 KB; `config::tables` counts on
// ~20.2 KB a connection)
const _: () = assert!(SERVER_SIDE_COST < 2048 && CONN_COST < MAX_CRYPTO_BYTES + 5 * 1024);

/// CRYPTO stream bytes buffered for a server's Initials: they carry only its ServerHello
/// (RFC 9001 §4.1.3; EncryptedExtensions and the certificate are at the Handshake level). A
/// ServerHello is about 100 bytes, 1.2 KB with ML-KEM-768's 1,088-byte key share and 1.7 KB with
/// ML-KEM-1024's 1,568 bytes (FIPS 203 Table 3) in a hybrid share; 4 KiB holds twice the largest.
/// A longer stream is not a ServerHello anyone sends: counted as `server_hello_errors`.
pub const MAX_SERVER_CRYPTO_BYTES: usize = 4096;

/// CRYPTO stream bytes buffered per connection: the longest ClientHello the TLS parser accepts
/// ([`tls::MAX_CLIENT_HELLO_LEN`], one full 2^14-byte record plus the handshake header). A
/// client's Initial CRYPTO stream carries only its ClientHello (RFC 9001 §4.1.3), so nothing
/// useful lies beyond.
pub const MAX_CRYPTO_BYTES: usize = tls::MAX_CLIENT_HELLO_LEN;

/// Separate received ranges (holes between them) per connection. Chrome scatters a hello into
/// about ten out-of-order fragments; a peer that leaves more holes than this is not sending a
/// ClientHello anyone will read.
pub const MAX_CRYPTO_RANGES: usize = 32;

/// A connection not seen for this long (packet time) is forgotten. A lost Initial is resent
/// after the probe timeout, about 1 s at first (RFC 9002 §6.2.2: 3 × the 333 ms initial RTT)
/// and doubling; 10 s covers the first three resends of a missing piece.
pub const QUIC_IDLE_TIMEOUT_US: i64 = 10_000_000;

/// How often (packet time) the table is swept for idle connections.
const SWEEP_INTERVAL_US: i64 = 1_000_000;

/// A handshake parser's answer about a connection's contiguous CRYPTO prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The hello was read (its observables pushed): the connection is done.
    Parsed,
    /// The prefix ends before the hello does: wait for more CRYPTO data.
    Incomplete,
    /// Not a valid hello: the connection is done.
    Malformed,
}

crate::counters! {
    /// What the tracker did, for the worker's summary.
    pub struct QuicStats {
        /// Client Initial packets decrypted.
        initials_decrypted: u64,
        /// Initial packets whose AEAD tag did not verify with any keys we had (server Initials on
        /// paths we no longer track, damaged or truncated packets).
        decrypt_failures: u64,
        /// Long-header packets whose header could not be read (bad CID length, truncated).
        malformed: u64,
        /// Decrypted Initials whose frames ended in an unknown or broken frame.
        bad_frames: u64,
        /// ClientHellos parsed from reassembled CRYPTO data.
        hellos_parsed: u64,
        /// Reassembled CRYPTO data that was not a valid ClientHello.
        hello_errors: u64,
        /// Connections evicted because the table was full.
        evictions: u64,
        /// Evicted connections that held part of a ClientHello: a hello lost to a full table.
        /// Anything but 0 means the table was flooded (or its budget is too small for the link):
        /// see [`crate::track::evict`] for which connections go first.
        hellos_lost: u64,
        /// Connections that idled out before their hello was complete.
        timeouts: u64,
        /// CRYPTO fragments cut or dropped by [`MAX_CRYPTO_BYTES`] or [`MAX_CRYPTO_RANGES`].
        buffer_caps_hit: u64,
        /// Long headers with a greased version (RFC 9000 §15) read as client Initials.
        greased: u64,
        /// Protections tried on them (at most [`quic::MAX_GREASE_TRIALS`] per packet).
        grease_trials: u64,
        /// Greased Initials that one of the tried protections opened.
        greased_decrypted: u64,
        /// Server Initial packets decrypted (read only when a `ja3s`/`ja4s` indicator is
        /// loaded), on the reversed path of a tracked connection.
        server_initials_decrypted: u64,
        /// Server Initials skipped because the client's hello was not complete yet (an
        /// ACK of its first part; a ServerHello then means the capture missed a client packet).
        server_initials_early: u64,
        /// Server Initials on a tracked path whose AEAD tag did not verify with the server keys
        /// of the connection's original DCID (damaged, or not that connection's). A server
        /// Initial on a path not tracked (its client's Initial not seen) has no keys: it is a
        /// `decrypt_failures`.
        server_decrypt_failures: u64,
        /// ServerHellos parsed from a server's reassembled CRYPTO data (JA3S/JA4S computed).
        server_hellos_parsed: u64,
        /// A server's reassembled CRYPTO data that was not a valid ServerHello, or longer than
        /// [`MAX_SERVER_CRYPTO_BYTES`].
        server_hello_errors: u64,
        /// Connections that idled out (or were evicted) with part of a ServerHello.
        server_timeouts: u64,
    }
}

/// A connection ID, inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cid {
    len: u8,
    bytes: [u8; quic::MAX_CID_LEN],
}

impl Cid {
    /// `id` is at most [`quic::MAX_CID_LEN`] bytes, as [`quic::parse_long_header`] guarantees;
    /// a longer one is cut (and would then never match).
    fn new(id: &[u8]) -> Self {
        let mut bytes = [0; quic::MAX_CID_LEN];
        let n = id.len().min(quic::MAX_CID_LEN);
        bytes[..n].copy_from_slice(&id[..n]);
        Cid {
            len: n as u8,
            bytes,
        }
    }
}

/// Outcome of adding a fragment to a [`Reassembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    Stored,
    /// Stored in part or not at all because of a limit.
    Capped,
}

/// One CRYPTO stream, put back together by offset. `ranges` are the received byte ranges,
/// sorted, disjoint and not touching. Bytes already received are kept when a later fragment
/// overlaps them (first copy wins, as a TCP reassembler's "first" policy): RFC 9000 §19.6 says
/// a retransmission carries the same bytes, and one that does not is an evasion attempt.
#[derive(Debug, Default)]
struct Reassembly {
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Reassembly {
    /// Add `data` at `offset`, keeping at most `cap` bytes of stream.
    fn insert(&mut self, offset: u64, data: &[u8], cap: usize) -> Insert {
        let Ok(start) = usize::try_from(offset) else {
            return Insert::Capped;
        };
        if start >= cap {
            return Insert::Capped;
        }
        let end = start.saturating_add(data.len()).min(cap);
        let capped = end - start < data.len();
        if end == start {
            return Insert::Stored;
        }
        // Would this fragment open a new separate range when the list is full?
        let joins = self.ranges.iter().any(|&(s, e)| start <= e && s <= end);
        if !joins && self.ranges.len() >= MAX_CRYPTO_RANGES {
            return Insert::Capped;
        }
        if self.buf.len() < end {
            if self.buf.capacity() < end {
                // Double as usual, but never past the cap: [`CONN_COST`] counts on it.
                let want = end.max((2 * self.buf.capacity()).min(cap));
                self.buf.reserve_exact(want - self.buf.len());
            }
            self.buf.resize(end, 0);
        }
        // Fill only the holes of [start, end).
        let mut pos = start;
        for &(s, e) in &self.ranges {
            if e <= pos {
                continue;
            }
            if s >= end {
                break;
            }
            if s > pos {
                self.buf[pos..s].copy_from_slice(&data[pos - start..s - start]);
            }
            pos = pos.max(e);
        }
        if pos < end {
            self.buf[pos..end].copy_from_slice(&data[pos - start..end - start]);
        }
        // Merge [start, end) into the ranges.
        let mut merged = (start, end);
        self.ranges.retain(|&(s, e)| {
            if s <= merged.1 && merged.0 <= e {
                merged = (merged.0.min(s), merged.1.max(e));
                false
            } else {
                true
            }
        });
        let at = self.ranges.partition_point(|&(s, _)| s < merged.0);
        self.ranges.insert(at, merged);
        if capped {
            Insert::Capped
        } else {
            Insert::Stored
        }
    }

    /// The bytes received from offset 0 without a hole.
    fn prefix(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, e)) => &self.buf[..e],
            _ => &[],
        }
    }
}

/// One client connection on a path.
struct Conn {
    /// The Destination Connection ID the keys were derived from.
    odcid: Cid,
    keys: InitialKeys,
    /// The protection the keys are for (a greased version's packets are read with it).
    protection: quic::Version,
    crypto: Reassembly,
    last_seen_us: i64,
    /// The hello was parsed (or found malformed): ignore the rest.
    done: bool,
    /// The server's side, from its first Initial, when the caller reads it.
    server: Option<Box<ServerSide>>,
}

impl Conn {
    /// Holds part of a hello (the client's or the server's): not done, and some CRYPTO data
    /// buffered.
    fn partial(&self) -> bool {
        (!self.done && !self.crypto.ranges.is_empty())
            || self.server.as_ref().is_some_and(|s| s.partial())
    }
}

/// The server's Initials of one connection: the keys of its original DCID and the server's
/// CRYPTO stream.
struct ServerSide {
    keys: InitialKeys,
    /// The protection of the server's Initials the keys are for: a server may answer in another
    /// compatible version than the client's first Initial (RFC 9368), keys from the same DCID.
    protection: quic::Version,
    crypto: Reassembly,
    /// The ServerHello was parsed (or found malformed): ignore the rest.
    done: bool,
}

impl ServerSide {
    fn partial(&self) -> bool {
        !self.done && !self.crypto.ranges.is_empty()
    }
}

/// (client, server).
type Path = (SocketAddr, SocketAddr);

/// Per-worker QUIC Initial state. See the module docs.
pub struct QuicTracker {
    conns: HashMap<Path, Conn>,
    /// Connections tracked at most.
    cap: usize,
    /// Reused by eviction passes: each connection's rank.
    ranks: Vec<Rank>,
    stats: QuicStats,
    next_sweep_us: i64,
    /// Scratch: the packet being decrypted (decryption is in place).
    scratch: Vec<u8>,
}

impl Default for QuicTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl QuicTracker {
    /// A tracker of at most [`MAX_QUIC_CONNECTIONS`] connections.
    pub fn new() -> Self {
        Self::with_cap(MAX_QUIC_CONNECTIONS)
    }

    /// A tracker of at most `cap` connections (at least 8, so that eviction by eighths frees
    /// one).
    pub fn with_cap(cap: usize) -> Self {
        QuicTracker {
            conns: HashMap::new(),
            cap: cap.max(8),
            ranks: Vec::new(),
            stats: QuicStats::default(),
            next_sweep_us: i64::MIN,
            scratch: Vec::new(),
        }
    }

    pub fn stats(&self) -> QuicStats {
        self.stats.clone()
    }

    /// The most connections tracked at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections currently tracked (done ones included).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// One UDP datagram from `src` to `dst` seen at `ts_us` (microseconds, packet time). Walks
    /// its coalesced long-header packets; client Initials are decrypted and their CRYPTO data
    /// reassembled, and `hello` reads the contiguous prefix whenever it grows, pushing what it
    /// finds to `out` (the application layer's parser pushes the server name as a QUIC SNI).
    /// Anything else (0-RTT, Handshake, Retry, short headers, non-QUIC) is skipped.
    pub fn on_udp<H>(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        ts_us: i64,
        out: &mut Vec<Observed>,
        hello: H,
    ) where
        H: Fn(&[u8], &mut Vec<Observed>) -> Handshake + Copy,
    {
        self.on_udp_with(src, dst, payload, ts_us, out, hello, None::<H>);
    }

    /// [`QuicTracker::on_udp`], and when `server` is given, the server's Initials of tracked
    /// connections are decrypted too and their reassembled CRYPTO prefix handed to `server`
    /// (the application layer's ServerHello parser) whenever it grows.
    #[allow(clippy::too_many_arguments)]
    pub fn on_udp_with<H, S>(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        ts_us: i64,
        out: &mut Vec<Observed>,
        hello: H,
        server: Option<S>,
    ) where
        H: Fn(&[u8], &mut Vec<Observed>) -> Handshake + Copy,
        S: Fn(&[u8], &mut Vec<Observed>) -> Handshake + Copy,
    {
        self.sweep(ts_us);
        let mut rest = payload;
        for _ in 0..quic::MAX_COALESCED_PACKETS {
            if rest.is_empty() {
                break;
            }
            let header = match quic::parse_long_header(rest) {
                Ok(h) => h,
                // A short-header packet or padding ends the long-header part of a datagram.
                Err(QuicError::NotLongHeader) => break,
                Err(QuicError::UnknownVersion) if greased(rest) => {
                    match self.grease(src, dst, rest) {
                        Some(h) => h,
                        // nothing known opens it: a Version Negotiation-forcing packet of
                        // another protection, or not an Initial; the rest cannot be delimited
                        None => break,
                    }
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    break;
                }
            };
            let (packet, next) = rest.split_at(header.packet_len.min(rest.len()));
            rest = next;
            if header.packet_type == PacketType::Initial {
                self.initial(src, dst, &header, packet, ts_us, out, hello, server);
            }
        }
    }

    /// The header of a client Initial with a greased version, read as protected by the first
    /// of [`quic::GREASE_TRIALS`] whose client keys open it (each tried once, counted); `None`
    /// when none does. A packet of a connection already tracked on the path is read with that
    /// connection's protection without trials.
    fn grease<'a>(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        data: &'a [u8],
    ) -> Option<LongHeader<'a>> {
        self.stats.greased += 1;
        if let Some(c) = self.conns.get(&(src, dst)) {
            let header = quic::parse_long_header_as(data, c.protection).ok()?;
            if Cid::new(header.dcid) == c.odcid {
                return Some(header);
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut found = None;
        for v in quic::GREASE_TRIALS {
            let Ok(header) = quic::parse_long_header_as(data, v) else {
                continue;
            };
            if header.packet_type != PacketType::Initial {
                continue;
            }
            self.stats.grease_trials += 1;
            let packet = &data[..header.packet_len.min(data.len())];
            let keys = InitialKeys::client(v, header.dcid);
            if open(&mut scratch, packet, &header, &keys).is_some() {
                self.stats.greased_decrypted += 1;
                found = Some(header);
                break;
            }
        }
        self.scratch = scratch;
        found
    }

    #[allow(clippy::too_many_arguments)]
    fn initial<H, S>(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        header: &LongHeader<'_>,
        packet: &[u8],
        ts_us: i64,
        out: &mut Vec<Observed>,
        hello: H,
        server: Option<S>,
    ) where
        H: Fn(&[u8], &mut Vec<Observed>) -> Handshake,
        S: Fn(&[u8], &mut Vec<Observed>) -> Handshake,
    {
        let path = (src, dst);
        if !self.conns.contains_key(&path) && self.conns.contains_key(&(dst, src)) {
            // The server's Initial on a tracked path: read only when the caller wants it.
            if let Some(server) = server {
                self.server_initial((dst, src), header, packet, ts_us, out, server);
            }
            return;
        }
        let dcid = Cid::new(header.dcid);
        let mut scratch = std::mem::take(&mut self.scratch);
        let known = self.conns.get(&path).map(|c| (c.odcid == dcid, c.done));
        let payload = match known {
            // A retransmission or a later packet of a connection whose hello we have.
            Some((true, true)) => None,
            // The path's connection, same DCID: its keys.
            Some((true, false)) => self
                .conns
                .get(&path)
                .and_then(|c| open(&mut scratch, packet, header, &c.keys)),
            // Another DCID on a known path: a new connection (after a Retry, or a reused port)
            // if the packet's own DCID opens it, else the client moved to the server's
            // connection ID and still uses the path's keys.
            Some((false, done)) => {
                let keys = InitialKeys::client(header.protection, header.dcid);
                if let Some(p) = open(&mut scratch, packet, header, &keys) {
                    self.start(path, dcid, keys, header.protection, ts_us);
                    Some(p)
                } else if done {
                    // Whether or not it is the old connection's, there is nothing to do.
                    None
                } else {
                    self.conns
                        .get(&path)
                        .and_then(|c| open(&mut scratch, packet, header, &c.keys))
                }
            }
            None => {
                let keys = InitialKeys::client(header.protection, header.dcid);
                let p = open(&mut scratch, packet, header, &keys);
                if p.is_some() {
                    self.start(path, dcid, keys, header.protection, ts_us);
                }
                p
            }
        };
        match payload {
            Some((start, end)) => {
                self.stats.initials_decrypted += 1;
                if let Some(conn) = self.conns.get_mut(&path) {
                    conn.last_seen_us = ts_us;
                    feed(conn, &scratch[start..end], &mut self.stats, out, hello);
                }
            }
            None if known == Some((true, true)) => {
                if let Some(conn) = self.conns.get_mut(&path) {
                    conn.last_seen_us = ts_us;
                }
            }
            None => {
                if known.is_some_and(|(_, done)| done) {
                    // A packet on a finished path that no keys open: not worth counting.
                } else {
                    self.stats.decrypt_failures += 1;
                }
            }
        }
        self.scratch = scratch;
    }

    /// A server's Initial on the tracked `path` (client, server): opened with the server keys
    /// of the connection's original DCID, its CRYPTO frames added to the server's stream and
    /// `parse` tried on the contiguous prefix when it grows.
    #[allow(clippy::too_many_arguments)]
    fn server_initial<S>(
        &mut self,
        path: Path,
        header: &LongHeader<'_>,
        packet: &[u8],
        ts_us: i64,
        out: &mut Vec<Observed>,
        parse: S,
    ) where
        S: Fn(&[u8], &mut Vec<Observed>) -> Handshake,
    {
        let Some(conn) = self.conns.get_mut(&path) else {
            return;
        };
        conn.last_seen_us = ts_us;
        if conn.server.as_ref().is_some_and(|s| s.done) {
            // A retransmission, or an ACK after the ServerHello: nothing to read.
            return;
        }
        if !conn.done {
            // A server answers with its ServerHello only after the whole ClientHello; before
            // that it only acknowledges. Not read, so that the server's buffer never exists
            // beside the client's (see [`SERVER_SIDE_COST`]).
            self.stats.server_initials_early += 1;
            return;
        }
        let odcid = &conn.odcid.bytes[..usize::from(conn.odcid.len)];
        let side = conn.server.get_or_insert_with(|| {
            Box::new(ServerSide {
                keys: InitialKeys::server(header.protection, odcid),
                protection: header.protection,
                crypto: Reassembly::default(),
                done: false,
            })
        });
        if side.protection != header.protection {
            // Compatible version negotiation (RFC 9368): same DCID, the new version's salt.
            side.keys = InitialKeys::server(header.protection, odcid);
            side.protection = header.protection;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        match open(&mut scratch, packet, header, &side.keys) {
            None => self.stats.server_decrypt_failures += 1,
            Some((start, end)) => {
                self.stats.server_initials_decrypted += 1;
                let stats = &mut self.stats;
                let fed = feed_stream(
                    &mut side.crypto,
                    MAX_SERVER_CRYPTO_BYTES,
                    &scratch[start..end],
                    stats,
                    out,
                    parse,
                );
                match fed {
                    Some(true) => stats.server_hellos_parsed += 1,
                    Some(false) => stats.server_hello_errors += 1,
                    None => {}
                }
                if fed.is_some() {
                    side.done = true;
                    side.crypto = Reassembly::default();
                }
            }
        }
        self.scratch = scratch;
    }

    /// Track a new connection on `path`, replacing any previous one there and making room if
    /// the table is full.
    fn start(
        &mut self,
        path: Path,
        odcid: Cid,
        keys: InitialKeys,
        protection: quic::Version,
        ts_us: i64,
    ) {
        if !self.conns.contains_key(&path) && self.conns.len() >= self.cap {
            self.expire(ts_us);
            if self.conns.len() >= self.cap {
                self.evict(ts_us);
            }
        }
        self.conns.insert(
            path,
            Conn {
                odcid,
                keys,
                protection,
                crypto: Reassembly::default(),
                last_seen_us: ts_us,
                done: false,
                server: None,
            },
        );
    }

    fn sweep(&mut self, ts_us: i64) {
        if ts_us >= self.next_sweep_us {
            self.expire(ts_us);
            self.next_sweep_us = ts_us.saturating_add(SWEEP_INTERVAL_US);
        }
    }

    /// The table is full of live connections: drop an eighth of it in one pass, in the order
    /// of [`super::evict`] (connections holding no partial hello first), so the O(n) scan is
    /// paid once per cap/8 new connections rather than for every one (a busy QUIC link
    /// otherwise spends a tenth of a worker's time here).
    fn evict(&mut self, now_us: i64) {
        let k = (self.conns.len() / 8).max(1);
        self.ranks.clear();
        self.ranks.extend(
            self.conns
                .values()
                .map(|c| Rank::of(c.partial(), c.last_seen_us, now_us)),
        );
        let Some(mut victims) = Victims::lowest(&mut self.ranks, k) else {
            return;
        };
        let stats = &mut self.stats;
        self.conns.retain(|_, c| {
            let rank = Rank::of(c.partial(), c.last_seen_us, now_us);
            let victim = victims.take(rank);
            if victim {
                stats.evictions += 1;
                if rank.is_partial() {
                    stats.hellos_lost += 1;
                }
                if c.server.as_ref().is_some_and(|s| s.partial()) {
                    stats.server_timeouts += 1;
                }
            }
            !victim
        });
    }

    /// Forget connections idle for [`QUIC_IDLE_TIMEOUT_US`].
    fn expire(&mut self, ts_us: i64) {
        let stats = &mut self.stats;
        self.conns.retain(|_, c| {
            let keep = ts_us.saturating_sub(c.last_seen_us) < QUIC_IDLE_TIMEOUT_US;
            if !keep && !c.done {
                stats.timeouts += 1;
            }
            if !keep && c.server.as_ref().is_some_and(|s| s.partial()) {
                stats.server_timeouts += 1;
            }
            keep
        });
    }
}

/// Whether the long header at the start of `data` carries a greased version
/// ([`quic::is_greased`]).
fn greased(data: &[u8]) -> bool {
    matches!(*data, [_, a, b, c, d, ..] if quic::is_greased(u32::from_be_bytes([a, b, c, d])))
}

/// Copy `packet` into `scratch` and decrypt it with `keys`; the plaintext's range in `scratch`.
fn open(
    scratch: &mut Vec<u8>,
    packet: &[u8],
    header: &LongHeader<'_>,
    keys: &InitialKeys,
) -> Option<(usize, usize)> {
    scratch.clear();
    scratch.extend_from_slice(packet);
    quic::decrypt(scratch, header.pn_offset, keys)
        .ok()
        .map(|d| d.payload)
}

/// Add a decrypted Initial's CRYPTO frames to the connection and try the hello if the
/// contiguous prefix grew.
fn feed<H>(
    conn: &mut Conn,
    plaintext: &[u8],
    stats: &mut QuicStats,
    out: &mut Vec<Observed>,
    hello: H,
) where
    H: Fn(&[u8], &mut Vec<Observed>) -> Handshake,
{
    if conn.done {
        return;
    }
    match feed_stream(
        &mut conn.crypto,
        MAX_CRYPTO_BYTES,
        plaintext,
        stats,
        out,
        hello,
    ) {
        Some(true) => {
            stats.hellos_parsed += 1;
            finish(conn);
        }
        Some(false) => {
            stats.hello_errors += 1;
            finish(conn);
        }
        None => {}
    }
}

/// Add a decrypted Initial's CRYPTO frames to one side's stream (at most `cap` bytes) and try
/// `parse` if the contiguous prefix grew: `Some(true)` when it read the hello, `Some(false)`
/// when it is not one (or cannot be within `cap`), `None` while more is needed.
fn feed_stream<H>(
    crypto: &mut Reassembly,
    cap: usize,
    plaintext: &[u8],
    stats: &mut QuicStats,
    out: &mut Vec<Observed>,
    parse: H,
) -> Option<bool>
where
    H: Fn(&[u8], &mut Vec<Observed>) -> Handshake,
{
    let mut frags = Vec::new();
    if quic::crypto_frames(plaintext, &mut frags).is_err() {
        stats.bad_frames += 1;
    }
    let before = crypto.prefix().len();
    for f in &frags {
        if crypto.insert(f.offset, f.data, cap) == Insert::Capped {
            stats.buffer_caps_hit += 1;
        }
    }
    let prefix = crypto.prefix();
    if prefix.len() == before {
        return None;
    }
    match parse(prefix, out) {
        Handshake::Parsed => Some(true),
        Handshake::Incomplete if prefix.len() < cap => None,
        Handshake::Incomplete | Handshake::Malformed => Some(false),
    }
}

/// Keep the connection as a small "done" record; free its buffer.
fn finish(conn: &mut Conn) {
    conn.done = true;
    conn.crypto = Reassembly::default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::quic::client_hello;
    use crate::observe::{Info, Where};
    use crate::testkit::quic as build;
    use crate::testkit::tls::minimal_hello;

    const V1: u32 = 1;
    const V2: u32 = 0x6b33_43cf;
    const DCID: &[u8] = b"\x11\x22\x33\x44\x55\x66\x77\x88";

    fn client() -> SocketAddr {
        "10.0.0.1:50000".parse().unwrap()
    }
    fn server() -> SocketAddr {
        "192.0.2.1:443".parse().unwrap()
    }

    fn run(t: &mut QuicTracker, datagrams: &[Vec<u8>]) -> Vec<Observed> {
        let mut out = Vec::new();
        for (i, d) in datagrams.iter().enumerate() {
            t.on_udp(
                client(),
                server(),
                d,
                1_000_000 + i as i64,
                &mut out,
                client_hello,
            );
        }
        out
    }

    fn sni(name: &str) -> Observed {
        Observed::Domain {
            name: name.as_bytes().to_vec(),
            at: Where::QuicSni,
            ech: false,
            // testkit's minimal hello has no supported_versions: its legacy_version, TLS 1.2.
            info: Info::Tls { version: 0x0303 },
        }
    }

    #[test]
    fn single_initial_reports_the_sni() {
        let h = minimal_hello("example.com", 0);
        let d = build::initial(V1, DCID, 0, &build::crypto(0, &h), 1162);
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, std::slice::from_ref(&d)), [sni("example.com")]);
        assert_eq!(t.stats().hellos_parsed, 1);
        // A retransmission is not reported again, nor decrypted.
        assert!(run(&mut t, &[d]).is_empty());
        assert_eq!(t.stats().initials_decrypted, 1);
    }

    /// A client Initial under the greased version 0x1a2a3a4a, protected with `version`'s keys.
    fn greased_initial(version: u32, pn: u32, frames: &[u8]) -> Vec<u8> {
        let keys = build::InitialKeys::new(version, DCID, true).on_wire(0x1a2a_3a4a);
        let mut d = Vec::new();
        build::initial_into(&mut d, &keys, DCID, b"", pn, frames, 1162);
        d
    }

    #[test]
    fn greased_version_initials_are_opened_with_the_known_salts() {
        let h = minimal_hello("grease.example", 0);
        // v1 keys: the first trial; draft-29: the second; v2 (its own type bits): v1 and
        // draft-29 read those bits as 0-RTT and skip it, so one trial
        for (version, trials) in [(V1, 1), (0xff00_001d, 2), (V2, 1)] {
            let mut t = QuicTracker::new();
            let d = greased_initial(version, 0, &build::crypto(0, &h));
            assert_eq!(run(&mut t, &[d]), [sni("grease.example")], "{version:#x}");
            let s = t.stats();
            assert_eq!(
                (s.greased, s.grease_trials, s.greased_decrypted),
                (1, trials, 1),
                "{version:#x}"
            );
            assert_eq!((s.malformed, s.decrypt_failures), (0, 0));
        }
        assert!(quic::is_greased(0x1a2a_3a4a) && quic::is_greased(0xfafa_fafa));
        assert!(!quic::is_greased(1) && !quic::is_greased(0x1a2a_3a4b));
    }

    #[test]
    fn greased_initial_of_unknown_keys_costs_at_most_the_trials() {
        // draft-23's salt is not tried: v1 and draft-29 fail, v2 reads the type bits as Retry
        let d = greased_initial(
            0xff00_0017,
            0,
            &build::crypto(0, &minimal_hello("x.example", 0)),
        );
        let mut t = QuicTracker::new();
        assert!(run(&mut t, &[d]).is_empty());
        let s = t.stats();
        assert_eq!((s.greased, s.grease_trials, s.greased_decrypted), (1, 2, 0));
        assert!(s.grease_trials <= quic::MAX_GREASE_TRIALS as u64 * s.greased);
        assert!(t.is_empty());
    }

    #[test]
    fn later_greased_initials_of_a_connection_need_no_trials() {
        let h = minimal_hello("split-grease.example", 1500);
        let (a, b) = h.split_at(1000);
        let p1 = greased_initial(0xff00_001d, 0, &build::crypto(0, a));
        let p2 = greased_initial(0xff00_001d, 1, &build::crypto(1000, b));
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[p1, p2]), [sni("split-grease.example")]);
        let s = t.stats();
        assert_eq!((s.greased, s.grease_trials, s.greased_decrypted), (2, 2, 1));
    }

    #[test]
    fn client_hello_split_across_two_initials() {
        let h = minimal_hello("split.example", 1500);
        let (a, b) = h.split_at(1000);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(0, a), 1162);
        let p2 = build::initial(V1, DCID, 1, &build::crypto(1000, b), 1162);
        let mut t = QuicTracker::new();
        assert!(run(&mut t, std::slice::from_ref(&p1)).is_empty());
        assert_eq!(
            run(&mut t, std::slice::from_ref(&p2)),
            [sni("split.example")]
        );
        // Second packet first works as well.
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[p2, p1]), [sni("split.example")]);
    }

    #[test]
    fn client_hello_split_across_v2_initials() {
        let h = minimal_hello("v2.example", 1500);
        let (a, b) = h.split_at(700);
        let p1 = build::initial(V2, DCID, 0, &build::crypto(0, a), 1162);
        let p2 = build::initial(V2, DCID, 1, &build::crypto(700, b), 1162);
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[p1, p2]), [sni("v2.example")]);
    }

    #[test]
    fn out_of_order_and_overlapping_crypto_frames() {
        let h = minimal_hello("scattered.example", 300);
        let mut frames = Vec::new();
        frames.extend(build::crypto(200, &h[200..]));
        frames.push(0x01); // PING
        frames.extend(build::crypto(50, &h[50..120]));
        frames.extend([0, 0, 0]); // PADDING
        frames.extend(build::crypto(100, &h[100..210])); // overlaps both neighbours
        frames.extend(build::crypto(0, &h[..60]));
        let d = build::initial(V1, DCID, 0, &frames, 1162);
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[d]), [sni("scattered.example")]);
    }

    #[test]
    fn gap_filled_by_a_later_packet() {
        let h = minimal_hello("gap.example", 2000);
        let mut f1 = build::crypto(0, &h[..800]);
        f1.extend(build::crypto(1600, &h[1600..]));
        let p1 = build::initial(V1, DCID, 0, &f1, 1162);
        let p2 = build::initial(V1, DCID, 1, &build::crypto(800, &h[800..1600]), 1162);
        let mut t = QuicTracker::new();
        assert!(run(&mut t, &[p1]).is_empty());
        assert_eq!(run(&mut t, &[p2]), [sni("gap.example")]);
    }

    #[test]
    fn gap_never_filled_reports_nothing_and_times_out() {
        let h = minimal_hello("gap.example", 100);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(20, &h[20..]), 1162);
        let mut t = QuicTracker::new();
        assert!(run(&mut t, &[p1]).is_empty());
        assert_eq!(t.len(), 1);
        let mut out = Vec::new();
        let other: SocketAddr = "10.9.9.9:1".parse().unwrap();
        t.on_udp(
            other,
            server(),
            b"\xc0",
            1_000_000 + QUIC_IDLE_TIMEOUT_US + 1,
            &mut out,
            client_hello,
        );
        assert_eq!(t.len(), 0);
        assert_eq!(t.stats().timeouts, 1);
    }

    #[test]
    fn overlap_keeps_the_first_copy() {
        let mut r = Reassembly::default();
        assert_eq!(r.insert(0, b"hello", MAX_CRYPTO_BYTES), Insert::Stored);
        assert_eq!(r.insert(3, b"XYZ!", MAX_CRYPTO_BYTES), Insert::Stored);
        assert_eq!(r.prefix(), b"helloZ!");
        assert_eq!(r.insert(10, b"later", MAX_CRYPTO_BYTES), Insert::Stored);
        assert_eq!(r.prefix(), b"helloZ!");
        assert_eq!(r.insert(5, b"_____", MAX_CRYPTO_BYTES), Insert::Stored);
        assert_eq!(r.prefix(), b"helloZ!___later");
        assert_eq!(r.ranges, [(0, 15)]);
    }

    #[test]
    fn reassembly_over_the_byte_cap_is_cut() {
        let mut r = Reassembly::default();
        assert_eq!(
            r.insert(MAX_CRYPTO_BYTES as u64, b"x", MAX_CRYPTO_BYTES),
            Insert::Capped
        );
        assert_eq!(r.insert(u64::MAX, b"x", MAX_CRYPTO_BYTES), Insert::Capped);
        let big = vec![7u8; MAX_CRYPTO_BYTES + 100];
        assert_eq!(r.insert(0, &big, MAX_CRYPTO_BYTES), Insert::Capped);
        assert_eq!(r.prefix().len(), MAX_CRYPTO_BYTES);
        assert!(r.buf.len() <= MAX_CRYPTO_BYTES);
    }

    #[test]
    fn reassembly_holes_are_capped() {
        let mut r = Reassembly::default();
        for i in 0..MAX_CRYPTO_RANGES as u64 {
            assert_eq!(r.insert(1 + i * 3, b"a", MAX_CRYPTO_BYTES), Insert::Stored);
        }
        assert_eq!(r.insert(1000, b"b", MAX_CRYPTO_BYTES), Insert::Capped);
        // A fragment that joins an existing range is still taken.
        assert_eq!(r.insert(2, b"c", MAX_CRYPTO_BYTES), Insert::Stored);
        assert!(r.ranges.len() <= MAX_CRYPTO_RANGES);
    }

    #[test]
    fn hello_larger_than_the_cap_is_dropped_as_malformed() {
        // A handshake header announcing 64 KB, then data up to the cap.
        let mut msg = vec![1, 0x01, 0x00, 0x00];
        msg.resize(MAX_CRYPTO_BYTES + 500, 0);
        let mut t = QuicTracker::new();
        let mut dgs = Vec::new();
        for (i, chunk) in msg.chunks(1100).enumerate() {
            let f = build::crypto((i * 1100) as u64, chunk);
            dgs.push(build::initial(V1, DCID, i as u32, &f, 1162));
        }
        assert!(run(&mut t, &dgs).is_empty());
        let s = t.stats();
        assert_eq!(s.hello_errors, 1);
        assert_eq!(s.hellos_parsed, 0);
    }

    #[test]
    fn coalesced_initial_and_zero_rtt_in_one_datagram() {
        let h = minimal_hello("coalesced.example", 0);
        let mut d = build::initial(V1, DCID, 0, &build::crypto(0, &h), 400);
        d.extend(build::packet(
            V1,
            build::Type::ZeroRtt,
            DCID,
            b"0rtt-keys",
            &[],
            0,
            b"\x08\x00\x00",
            500,
        ));
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[d]), [sni("coalesced.example")]);
        let s = t.stats();
        assert_eq!((s.decrypt_failures, s.malformed), (0, 0));
    }

    #[test]
    fn zero_rtt_before_the_initial_in_a_datagram_is_skipped() {
        let h = minimal_hello("second.example", 0);
        let mut d = build::packet(V1, build::Type::ZeroRtt, DCID, DCID, &[], 0, b"", 50);
        d.extend(build::initial(V1, DCID, 0, &build::crypto(0, &h), 400));
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[d]), [sni("second.example")]);
    }

    #[test]
    fn client_switching_to_the_server_cid_keeps_the_original_keys() {
        let h = minimal_hello("switch.example", 1500);
        let (a, b) = h.split_at(900);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(0, a), 1162);
        // After the server's Initial: DCID is the server's CID, keys still from DCID.
        let p2 = build::packet(
            V1,
            build::Type::Initial,
            b"server-cid",
            DCID,
            &[],
            1,
            &build::crypto(900, b),
            1162,
        );
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[p1, p2]), [sni("switch.example")]);
        assert_eq!(t.stats().decrypt_failures, 0);
    }

    #[test]
    fn new_dcid_after_retry_starts_a_new_connection() {
        let h = minimal_hello("retry.example", 0);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(0, &h), 1162);
        let p2 = build::initial(V1, b"new-dcid-after-retry", 1, &build::crypto(0, &h), 1162);
        let mut t = QuicTracker::new();
        assert_eq!(
            run(&mut t, &[p1, p2]),
            [sni("retry.example"), sni("retry.example")]
        );
        assert_eq!(t.len(), 1);
        // And when the first connection's hello was incomplete.
        let h = minimal_hello("retry2.example", 1500);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(0, &h[..1000]), 1162);
        let p2 = build::initial(V1, b"retry-dcid", 0, &build::crypto(0, &h[..1000]), 1162);
        let p3 = build::initial(V1, b"retry-dcid", 1, &build::crypto(1000, &h[1000..]), 1162);
        let mut t = QuicTracker::new();
        assert_eq!(run(&mut t, &[p1, p2, p3]), [sni("retry2.example")]);
    }

    #[test]
    fn server_initial_on_a_tracked_path_is_ignored() {
        let h = minimal_hello("srv.example", 1500);
        let p1 = build::initial(V1, DCID, 0, &build::crypto(0, &h[..900]), 1162);
        let mut t = QuicTracker::new();
        run(&mut t, &[p1]);
        // The server's reply: server keys we never derive; looks like garbage to the client
        // keys, and must be neither counted nor tracked as a connection.
        let reply = build::packet(
            V1,
            build::Type::Initial,
            b"cli",
            b"srv",
            b"s",
            0,
            b"\x01",
            100,
        );
        let mut out = Vec::new();
        t.on_udp(
            server(),
            client(),
            &reply,
            1_000_100,
            &mut out,
            client_hello,
        );
        assert!(out.is_empty());
        assert_eq!(t.stats().decrypt_failures, 0);
        assert_eq!(t.len(), 1);
    }

    /// The RFC 9001 §A.3 ServerHello's shape: TLS_AES_128_GCM_SHA256, key_share (X25519)
    /// then supported_versions (TLS 1.3); `pad`: a padding extension of that many bytes
    /// after them (to split it over packets).
    fn server_hello_msg(pad: usize) -> Vec<u8> {
        use crate::testkit::tls::{ext, server_hello_message};
        let mut ks = vec![0x00, 0x1d, 0x00, 0x20];
        ks.extend([0x9d; 32]);
        let mut exts = vec![ext(0x0033, &ks), ext(0x002b, &[0x03, 0x04])];
        if pad > 0 {
            exts.push(ext(0x0015, &vec![0; pad]));
        }
        server_hello_message(0x1301, &exts)
    }

    /// The JA3S and JA4S of [`server_hello_msg`] without padding: the truth's values for the
    /// Cloudflare capture's ServerHello of the same shape (tshark's `771,4865,51-43`; JA4S_r
    /// `0033,002b`), in QUIC's `q` form.
    const JA3S: &str = "eb1d94daa7e0344597e756a1fb6e7054";
    const JA4S: &str = "q130200_1301_234ea6891581";

    const CLIENT_SCID: &[u8] = b"cli-scid";
    const SERVER_SCID: &[u8] = b"srv-scid";

    fn server_wants() -> crate::observe::Wants {
        use crate::observe::{Token, Wants};
        Wants::NONE.with(Token::Ja3s).with(Token::Ja4s)
    }

    /// One datagram through the tracker with the server side read.
    fn both(t: &mut QuicTracker, from: SocketAddr, to: SocketAddr, d: &[u8]) -> Vec<Observed> {
        let mut out = Vec::new();
        let wants = server_wants();
        t.on_udp_with(
            from,
            to,
            d,
            1_000_000,
            &mut out,
            client_hello,
            Some(move |p: &[u8], o: &mut Vec<Observed>| {
                crate::applayer::quic::server_hello(p, wants, o)
            }),
        );
        out
    }

    /// The client's first Initial (DCID [`DCID`], SCID [`CLIENT_SCID`]) in `version`.
    fn client_first(version: u32) -> Vec<u8> {
        let keys = build::InitialKeys::new(version, DCID, true);
        let h = minimal_hello("srv.example", 0);
        let mut d = Vec::new();
        build::initial_into(
            &mut d,
            &keys,
            DCID,
            CLIENT_SCID,
            0,
            &build::crypto(0, &h),
            1162,
        );
        d
    }

    /// A server Initial of `version` to the client's SCID carrying `frames`.
    fn server_initial(version: u32, pn: u32, frames: &[u8]) -> Vec<u8> {
        let keys = build::InitialKeys::new(version, DCID, false);
        let mut d = Vec::new();
        build::initial_into(&mut d, &keys, CLIENT_SCID, SERVER_SCID, pn, frames, 0);
        d
    }

    fn fingerprints(out: &[Observed]) -> Vec<(Where, String)> {
        out.iter()
            .filter_map(|o| match o {
                Observed::Token { kind, key, at, .. } => Some((*at, kind.text(key))),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn server_initial_gives_quic_ja3s_and_ja4s() {
        for version in [V1, V2, 0xff00_001d] {
            let mut t = QuicTracker::new();
            assert_eq!(
                both(&mut t, client(), server(), &client_first(version)),
                [sni("srv.example")]
            );
            // the server's ACK-only Initial, then its ServerHello in a datagram with an
            // opaque Handshake packet after it
            let ack = server_initial(version, 0, &[0x02, 0x00, 0x00, 0x00, 0x00]);
            assert!(both(&mut t, server(), client(), &ack).is_empty());
            let mut d = server_initial(version, 1, &build::crypto(0, &server_hello_msg(0)));
            build::opaque_long_into(
                &mut d,
                build::Type::Handshake,
                CLIENT_SCID,
                SERVER_SCID,
                &[7; 60],
            );
            let out = both(&mut t, server(), client(), &d);
            assert_eq!(
                fingerprints(&out),
                [
                    (Where::QuicJa3s, JA3S.to_owned()),
                    (Where::QuicJa4s, JA4S.to_owned())
                ],
                "{version:#x}"
            );
            let s = t.stats();
            assert_eq!(
                (
                    s.server_initials_decrypted,
                    s.server_hellos_parsed,
                    s.server_decrypt_failures
                ),
                (2, 1, 0),
                "{version:#x}"
            );
            // a retransmission is neither decrypted nor reported again
            assert!(both(&mut t, server(), client(), &d).is_empty());
            assert_eq!(t.stats().server_initials_decrypted, 2);
            assert_eq!((t.stats().decrypt_failures, t.len()), (0, 1));
        }
    }

    #[test]
    fn server_initials_before_the_whole_client_hello_are_skipped() {
        let keys = build::InitialKeys::new(V1, DCID, true);
        let h = minimal_hello("split.example", 1500);
        let (mut p1, mut p2) = (Vec::new(), Vec::new());
        build::initial_into(
            &mut p1,
            &keys,
            DCID,
            CLIENT_SCID,
            0,
            &build::crypto(0, &h[..900]),
            1162,
        );
        build::initial_into(
            &mut p2,
            &keys,
            DCID,
            CLIENT_SCID,
            1,
            &build::crypto(900, &h[900..]),
            1162,
        );
        let sh = server_initial(V1, 0, &build::crypto(0, &server_hello_msg(0)));
        let mut t = QuicTracker::new();
        assert!(both(&mut t, client(), server(), &p1).is_empty());
        assert!(both(&mut t, server(), client(), &sh).is_empty());
        assert_eq!(
            (
                t.stats().server_initials_early,
                t.stats().server_initials_decrypted
            ),
            (1, 0)
        );
        assert_eq!(
            both(&mut t, client(), server(), &p2),
            [sni("split.example")]
        );
        // the server's retransmission after the whole hello: read
        assert_eq!(
            fingerprints(&both(&mut t, server(), client(), &sh)).len(),
            2
        );
        assert_eq!(t.stats().server_hellos_parsed, 1);
    }

    #[test]
    fn server_hello_split_out_of_order_over_initials() {
        let m = server_hello_msg(1500);
        let mut t = QuicTracker::new();
        both(&mut t, client(), server(), &client_first(V1));
        // second half first, then the first half as two out-of-order frames in one packet
        let late = server_initial(V1, 1, &build::crypto(1000, &m[1000..]));
        assert!(both(&mut t, server(), client(), &late).is_empty());
        let mut frames = build::crypto(400, &m[400..1000]);
        frames.extend(build::crypto(0, &m[..400]));
        let out = both(&mut t, server(), client(), &server_initial(V1, 0, &frames));
        assert_eq!(fingerprints(&out).len(), 2);
        assert_eq!(out.len(), 2);
        assert_eq!(t.stats().server_hellos_parsed, 1);
    }

    #[test]
    fn server_side_failures_are_counted_and_never_reported() {
        // damaged: the tag fails
        let mut t = QuicTracker::new();
        both(&mut t, client(), server(), &client_first(V1));
        let mut d = server_initial(V1, 1, &build::crypto(0, &server_hello_msg(0)));
        let n = d.len();
        d[n - 1] ^= 1;
        assert!(both(&mut t, server(), client(), &d).is_empty());
        assert_eq!(t.stats().server_decrypt_failures, 1);
        // not a ServerHello (a ClientHello's type)
        let mut m = server_hello_msg(0);
        m[0] = 1;
        let d = server_initial(V1, 2, &build::crypto(0, &m));
        assert!(both(&mut t, server(), client(), &d).is_empty());
        assert_eq!(t.stats().server_hello_errors, 1);
        // a ServerHello longer than the buffer: an error, at most the cap buffered
        let mut t = QuicTracker::new();
        both(&mut t, client(), server(), &client_first(V1));
        let big = server_hello_msg(MAX_SERVER_CRYPTO_BYTES);
        let d = server_initial(V1, 1, &build::crypto(0, &big[..1100]));
        assert!(both(&mut t, server(), client(), &d).is_empty());
        assert_eq!(t.stats().server_hello_errors, 1);
        // a server Initial whose client was never seen: no keys, a decrypt failure, no state
        let mut t = QuicTracker::new();
        let d = server_initial(V1, 1, &build::crypto(0, &server_hello_msg(0)));
        assert!(both(&mut t, server(), client(), &d).is_empty());
        assert_eq!((t.stats().decrypt_failures, t.len()), (1, 0));
    }

    #[test]
    fn a_partial_server_hello_that_idles_out_is_counted() {
        let m = server_hello_msg(1500);
        let mut t = QuicTracker::new();
        both(&mut t, client(), server(), &client_first(V1));
        both(
            &mut t,
            server(),
            client(),
            &server_initial(V1, 0, &build::crypto(0, &m[..500])),
        );
        let mut out = Vec::new();
        t.on_udp(
            client(),
            server(),
            &[0x40],
            1_000_000 + QUIC_IDLE_TIMEOUT_US + 1,
            &mut out,
            client_hello,
        );
        assert_eq!((t.stats().server_timeouts, t.len()), (1, 0));
    }

    fn port(i: usize) -> SocketAddr {
        SocketAddr::new("10.0.0.1".parse().unwrap(), 1000 + i as u16)
    }

    /// One datagram from `from` at `ts_us`; what it reported.
    fn send(t: &mut QuicTracker, from: SocketAddr, d: &[u8], ts_us: i64) -> Vec<Observed> {
        let mut out = Vec::new();
        t.on_udp(from, server(), d, ts_us, &mut out, client_hello);
        out
    }

    #[test]
    fn a_full_table_of_fresh_partial_hellos_evicts_the_newest() {
        let h = minimal_hello("many.example", 1500);
        let mut t = QuicTracker::new();
        let p = build::initial(V1, DCID, 0, &build::crypto(0, &h[..900]), 1162);
        for i in 0..(MAX_QUIC_CONNECTIONS + 5) {
            send(&mut t, port(i), &p, 1_000_000 + i as i64);
        }
        // Full at the cap: an eighth went in one pass, and never more.
        assert!(t.len() <= MAX_QUIC_CONNECTIONS);
        let eighth = (MAX_QUIC_CONNECTIONS / 8) as u64;
        assert_eq!(t.stats().evictions, eighth);
        assert_eq!(t.stats().hellos_lost, eighth);
        assert_eq!(t.len(), MAX_QUIC_CONNECTIONS + 5 - MAX_QUIC_CONNECTIONS / 8);
        // Every entry was a partial hello within the grace period: the newest went, so the
        // first client and the ones after the eviction complete, the newest before it does not.
        let rest = build::initial(V1, DCID, 1, &build::crypto(900, &h[900..]), 1162);
        assert_eq!(
            send(&mut t, port(0), &rest, 2_000_000),
            [sni("many.example")]
        );
        let last = MAX_QUIC_CONNECTIONS + 4;
        assert_eq!(
            send(&mut t, port(last), &rest, 2_000_001),
            [sni("many.example")]
        );
        let gone = MAX_QUIC_CONNECTIONS - 1;
        assert!(send(&mut t, port(gone), &rest, 2_000_002).is_empty());
    }

    #[test]
    fn split_hello_survives_a_flood_of_finished_connections() {
        let h = minimal_hello("victim.example", 1500);
        let (a, b) = h.split_at(900);
        let mut t = QuicTracker::with_cap(64);
        let first = build::initial(V1, DCID, 0, &build::crypto(0, a), 1162);
        assert!(send(&mut t, client(), &first, 1_000_000).is_empty());
        // 1,100 new connections, each with its whole hello (done at once), after the victim.
        let whole = build::initial(
            V1,
            b"flood-dcid",
            0,
            &build::crypto(0, &minimal_hello("f.example", 0)),
            1162,
        );
        for i in 0..1100 {
            send(&mut t, port(i), &whole, 1_000_001 + i as i64);
        }
        assert!(t.stats().evictions > 1000);
        let rest = build::initial(V1, DCID, 1, &build::crypto(900, b), 1162);
        assert_eq!(
            send(&mut t, client(), &rest, 1_200_000),
            [sni("victim.example")]
        );
        assert_eq!(t.stats().hellos_lost, 0);
    }

    #[test]
    fn split_hello_survives_a_flood_of_partial_hellos_within_the_grace_period() {
        let h = minimal_hello("victim.example", 1500);
        let (a, b) = h.split_at(900);
        let mut t = QuicTracker::with_cap(64);
        let first = build::initial(V1, DCID, 0, &build::crypto(0, a), 1162);
        assert!(send(&mut t, client(), &first, 1_000_000).is_empty());
        // 1,100 new-DCID connections holding half a hello each, all within a second.
        let half = build::initial(V1, b"flood-dcid", 0, &build::crypto(0, a), 1162);
        for i in 0..1100 {
            send(&mut t, port(i), &half, 1_000_001 + i as i64 * 500);
        }
        // The flood's own hellos were lost, and counted so.
        let s = t.stats();
        assert!(s.evictions > 1000);
        assert_eq!(s.hellos_lost, s.evictions);
        let rest = build::initial(V1, DCID, 1, &build::crypto(900, b), 1162);
        assert_eq!(
            send(&mut t, client(), &rest, 1_600_000),
            [sni("victim.example")]
        );
    }

    #[test]
    fn a_partial_hello_past_the_grace_period_goes_before_fresh_ones() {
        let h = minimal_hello("late.example", 1500);
        let (a, b) = h.split_at(900);
        let mut t = QuicTracker::with_cap(64);
        let first = build::initial(V1, DCID, 0, &build::crypto(0, a), 1162);
        assert!(send(&mut t, client(), &first, 1_000_000).is_empty());
        // Fresh partial hellos arrive once the victim has been idle past the grace period
        // (but not the idle timeout): the table fills, and the stale one goes first.
        let half = build::initial(V1, b"flood-dcid", 0, &build::crypto(0, a), 1162);
        let t0 = 1_000_000 + crate::track::evict::HELLO_GRACE_US;
        for i in 0..64 {
            send(&mut t, port(i), &half, t0 + i as i64);
        }
        // One pass took an eighth: the stale hello first, then the newest fresh ones.
        assert_eq!(t.stats().evictions, 8);
        assert_eq!(t.stats().hellos_lost, 8);
        let rest = build::initial(V1, DCID, 1, &build::crypto(900, b), 1162);
        assert!(send(&mut t, client(), &rest, t0 + 100).is_empty());
        // ... and before it, every connection holding no partial hello.
        let mut t = QuicTracker::with_cap(64);
        assert!(send(&mut t, client(), &first, 1_000_000).is_empty());
        let whole = build::initial(
            V1,
            b"whole-dcid",
            0,
            &build::crypto(0, &minimal_hello("w.example", 0)),
            1162,
        );
        for i in 0..63 {
            send(&mut t, port(i), &whole, t0 + i as i64);
        }
        send(&mut t, port(100), &half, t0 + 100);
        assert_eq!(t.stats().evictions, 8);
        assert_eq!(t.stats().hellos_lost, 0);
        assert_eq!(
            send(&mut t, client(), &rest, t0 + 200),
            [sni("late.example")]
        );
    }

    #[test]
    fn crypto_buffer_never_grows_past_the_cap() {
        let mut r = Reassembly::default();
        for end in (1000..MAX_CRYPTO_BYTES).step_by(700) {
            r.insert(end as u64, b"x", MAX_CRYPTO_BYTES);
        }
        r.insert(MAX_CRYPTO_BYTES as u64 - 1, b"x", MAX_CRYPTO_BYTES);
        assert!(r.buf.capacity() <= MAX_CRYPTO_BYTES);
        assert!(r.ranges.capacity() <= MAX_CRYPTO_RANGES);
        const { assert!(CONN_COST > MAX_CRYPTO_BYTES && CONN_COST < 2 * MAX_CRYPTO_BYTES) };
    }

    #[test]
    fn garbage_and_truncated_datagrams_never_panic() {
        let h = minimal_hello("fuzz.example", 1500);
        let mut d = build::initial(V1, DCID, 0, &build::crypto(0, &h[..900]), 1162);
        d.extend(build::initial(
            V1,
            DCID,
            1,
            &build::crypto(900, &h[900..]),
            200,
        ));
        let mut t = QuicTracker::new();
        let mut out = Vec::new();
        for n in 0..d.len() {
            t.on_udp(
                client(),
                server(),
                &d[..n],
                n as i64,
                &mut out,
                client_hello,
            );
        }
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        for i in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = d.clone();
            let at = (x % m.len() as u64) as usize;
            m[at] ^= (x >> 40) as u8 | 1;
            let c = SocketAddr::new("10.1.0.1".parse().unwrap(), (i % 50) as u16);
            t.on_udp(c, server(), &m, 1_000_000 + i, &mut out, client_hello);
        }
        assert!(t.len() <= MAX_QUIC_CONNECTIONS);
        // Garbage DCID length in a long header.
        let mut g = d.clone();
        g[5] = 200;
        t.on_udp(client(), server(), &g, 5_000_000, &mut out, client_hello);
        assert!(t.stats().malformed > 0);
    }
}
