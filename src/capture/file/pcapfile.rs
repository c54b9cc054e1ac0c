//! A streaming pcap / pcapng reader on top of `pcap-parser`, with bounded memory, per-interface
//! link types and timestamp resolutions, and damage reported with its byte offset.
//!
//! libpcap refuses a pcapng whose interfaces differ in link type or snaplen, so files are read
//! here rather than through libpcap. `pcap-parser` parses the blocks out of a fixed-size
//! circular buffer; this module keeps the per-section state (byte order, interfaces), turns
//! timestamps into microseconds and decides what counts as damage:
//!
//! - classic pcap, either byte order, micro- or nanosecond timestamps (and the "modified"
//!   Kuznetzov format pcap-parser knows);
//! - pcapng with any number of sections (each may change byte order) and interfaces, each with
//!   its own link type, snaplen, `if_tsresol` (power of 10 or of 2) and `if_tsoffset`;
//!   Enhanced, Simple and obsolete Packet blocks; every other block is skipped.
//!
//! After a [`Damage`] the reader is finished: what came before it has been delivered.

use std::rc::Rc;
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use super::source::{Compression, Rewind, SourceState};

/// Largest packet a record may carry: libpcap's `MAXIMUM_SNAPLEN` (262144), also Wireshark's
/// `WTAP_MAX_PACKET_SIZE_STANDARD`; both call a longer record a damaged file, and so do we.
pub const MAX_RECORD_LEN: u32 = 262_144;
/// Largest pcapng block: a MAX_RECORD_LEN packet, the 32 bytes of Enhanced Packet Block
/// framing and 128 KiB of options — how Wireshark bounds a block (`MAX_BLOCK_SIZE` in
/// wiretap/pcapng.c). A longer block is damage, never an allocation.
pub const MAX_BLOCK_LEN: u32 = 32 + MAX_RECORD_LEN + 131_072;
/// Read buffer of one input: each refill asks the file for up to this many bytes, so a large
/// capture is read in few system calls (the buffer must hold one MAX_BLOCK_LEN block).
pub const READ_BUFFER: usize = 1 << 20;
/// The smallest read buffer, used when many inputs are open at once (`--merge`): one
/// MAX_BLOCK_LEN block with room to spare.
pub const MIN_READ_BUFFER: usize = 512 * 1024;
/// Interfaces per pcapng section. The format allows 2^32; real captures have a handful (a
/// router with every port, a few hundred). Each costs a few dozen bytes: the cap only keeps a
/// corrupt file made of Interface Description Blocks from growing memory without bound.
pub const MAX_INTERFACES: usize = 4096;

/// Smallest pcapng block: type, length and the trailing length copy (pcapng §3.1).
const PCAPNG_MIN_BLOCK: u32 = 12;

/// Latest timestamp handed on: the last microsecond of year 9999. RFC 3339 (event
/// timestamps) has four-digit years and humantime formats nothing later; a corrupt
/// `if_tsresol`/`if_tsoffset` or timestamp is clamped here instead.
pub const MAX_TS_US: i64 = 253_402_300_799_999_999;

/// The legacy pcap magic numbers as they appear on disk (libpcap's pcap-common.c).
const PCAP_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
    [0x34, 0xcd, 0xb2, 0xa1], // "modified" (Kuznetzov) pcap, little-endian
];
/// pcapng Section Header Block type (a palindrome, so byte order does not matter).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// pcapng byte-order magic (draft-ietf-opsawg-pcapng §4.1), read little-endian.
const PCAPNG_BOM_LE: u32 = 0x1a2b_3c4d;
/// Length of the classic pcap file header.
const PCAP_HEADER_LEN: usize = 24;
/// Legacy record header: ts_sec, ts_usec, caplen, len.
const PCAP_RECORD_HEADER: usize = 16;
/// The obsolete Packet Block (pcapng draft, Appendix "Packet Block"), which pcap-parser
/// returns as an unknown block.
const OBSOLETE_PACKET_BLOCK: u32 = 2;
/// `if_tsoffset` option code (draft-ietf-opsawg-pcapng §4.2).
const OPT_IF_TSOFFSET: u16 = 14;
/// IDB option if_name: the interface's name, UTF-8 (pcapng §4.2).
const OPT_IF_NAME: u16 = 2;
/// Longest if_name kept (Linux names are at most 15 bytes, Windows' \Device\NPF_{GUID} 50);
/// a longer one is cut at a character boundary.
pub const MAX_IF_NAME: usize = 256;

/// What the first bytes of a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

impl Format {
    /// Recognise a capture by its magic number.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let m: [u8; 4] = head.get(..4)?.try_into().ok()?;
        if PCAP_MAGICS.contains(&m) {
            Some(Format::Pcap)
        } else if m == PCAPNG_MAGIC {
            Some(Format::PcapNg)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

/// Why reading stopped before the end of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset in the (decompressed) stream of the record or block that could not be read.
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "damaged at byte {}: {}", self.offset, self.reason)
    }
}

/// How a raw timestamp becomes microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsScale {
    /// Units coarser than a microsecond: multiply.
    Mul(u64),
    /// Units finer than a microsecond: divide.
    Div(u64),
    /// 2^-n seconds per unit.
    Pow2(u32),
}

impl TsScale {
    /// From `if_tsresol` (bit 7 clear: 10^-n s, set: 2^-n s); `None` when the unit does not fit
    /// 64 bits. Hand-written because pcap-parser's `build_ts` truncates the seconds to 32 bits
    /// and takes no negative `if_tsoffset`.
    fn from_tsresol(r: u8) -> Option<TsScale> {
        let n = u32::from(r & 0x7f);
        if r & 0x80 != 0 {
            (n <= 63).then_some(TsScale::Pow2(n))
        } else if n <= 6 {
            Some(TsScale::Mul(10u64.pow(6 - n)))
        } else if n <= 19 {
            Some(TsScale::Div(10u64.pow(n - 6)))
        } else {
            None
        }
    }

    fn to_us(self, units: u64) -> i64 {
        let us: u128 = match self {
            TsScale::Mul(k) => u128::from(units) * u128::from(k),
            TsScale::Div(k) => u128::from(units / k),
            TsScale::Pow2(n) => (u128::from(units) * 1_000_000) >> n,
        };
        i64::try_from(us).unwrap_or(i64::MAX)
    }
}

/// One pcapng interface, or the single implicit interface of a classic pcap file.
#[derive(Debug, Clone, Copy)]
struct Interface {
    /// The LINKTYPE_ value as stored in the file.
    linktype: i32,
    /// 0 means no limit.
    snaplen: u32,
    scale: TsScale,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_us: i64,
}

/// The packet the reader is positioned on; its bytes stay in the read buffer.
#[derive(Debug, Clone, Copy)]
struct Current {
    start: usize,
    caplen: usize,
    ts_us: i64,
    wire_len: u32,
    linktype: i32,
    /// Index of its interface in the section (pcapng).
    if_id: Option<usize>,
}

/// One packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub data: &'a [u8],
    /// Microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Length on the wire (may exceed `data.len()`).
    pub wire_len: u32,
    /// LINKTYPE_ value of the packet's interface (for pcap: the file's link type).
    pub linktype: i32,
    /// The pcapng `if_name` of the packet's interface, when its IDB has one.
    pub iface: Option<&'a Arc<str>>,
}

/// The state of the current pcapng section (or of the pcap file).
#[derive(Debug, Default)]
struct Section {
    /// Its interfaces (one for classic pcap).
    interfaces: Vec<Interface>,
    /// Their `if_name`s, by the same index.
    names: Vec<Option<Arc<str>>>,
    big_endian: bool,
}

/// A pull reader of packets from one capture stream.
pub struct Reader {
    inner: Box<dyn PcapReaderIterator>,
    format: Format,
    compression: Compression,
    state: Rc<SourceState>,
    section: Section,
    /// Stream offset of the first byte not yet consumed.
    offset: u64,
    /// Bytes of the current block still to consume before parsing the next one.
    pending: usize,
    current: Option<Current>,
    finished: bool,
}

impl Reader {
    /// Start reading `stream`, whose first bytes are a pcap or pcapng header (see
    /// [`Format::sniff`]). `capacity` is the read buffer size: below [`MIN_READ_BUFFER`] a
    /// large block is reported as damage (tests use small buffers).
    pub fn new(
        mut stream: Rewind,
        compression: Compression,
        state: Rc<SourceState>,
        capacity: usize,
    ) -> Result<Reader, ReaderStart> {
        let head = stream.peek(4).map_err(|e| ReaderStart::Io(e.to_string()))?;
        let format = Format::sniff(head).ok_or_else(|| ReaderStart::NotCapture(head.to_vec()))?;
        // Buffer the whole file header so pcap-parser, which parses it from one `read`, sees it
        // complete even from a FIFO.
        let header_len = match format {
            Format::Pcap => PCAP_HEADER_LEN,
            Format::PcapNg => {
                let h = stream
                    .peek(12)
                    .map_err(|e| ReaderStart::Io(e.to_string()))?;
                match block_len_at(h, None) {
                    Some(n) if n <= MAX_BLOCK_LEN => n as usize,
                    Some(n) => {
                        return Err(ReaderStart::Damaged(Damage {
                            offset: 0,
                            reason: format!(
                                "section header block length {n} is impossible (more than {MAX_BLOCK_LEN})"
                            ),
                        }))
                    }
                    None => 12,
                }
            }
        };
        let have = stream
            .peek(header_len)
            .map_err(|e| ReaderStart::Io(e.to_string()))?
            .len();
        if have < header_len {
            return Err(ReaderStart::Damaged(Damage {
                offset: 0,
                reason: format!(
                    "the file ends inside its {} header ({have} of {header_len} bytes)",
                    format.name()
                ),
            }));
        }
        let bad_header = |e: PcapError<&[u8]>| {
            ReaderStart::Damaged(Damage {
                offset: 0,
                reason: format!("bad {} file header: {}", format.name(), describe(&e)),
            })
        };
        let inner: Box<dyn PcapReaderIterator> = match format {
            Format::Pcap => Box::new(LegacyPcapReader::new(capacity, stream).map_err(bad_header)?),
            Format::PcapNg => Box::new(PcapNGReader::new(capacity, stream).map_err(bad_header)?),
        };
        Ok(Reader {
            inner,
            format,
            compression,
            state,
            section: Section::default(),
            offset: 0,
            pending: 0,
            current: None,
            finished: false,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Bytes read from the underlying file so far (compressed bytes for a compressed file).
    pub fn raw_bytes(&self) -> u64 {
        self.state.raw_bytes.get()
    }

    /// How far into the file the packets handed out so far reach: the file bytes up to the
    /// end of the current packet's record. Exact for an uncompressed file; under compression,
    /// the compressed bytes read so far scaled by the share of the decompressed bytes read
    /// that the reader has consumed (read-ahead is not counted as done).
    pub fn position(&self) -> u64 {
        let consumed = self.offset + self.pending as u64;
        let raw = self.state.raw_bytes.get();
        let stream = self.state.stream_bytes.get();
        if stream == 0 {
            return 0;
        }
        if raw == stream {
            // uncompressed: the file offset itself (no 128-bit division per packet)
            return consumed.min(stream);
        }
        (u128::from(raw) * u128::from(consumed.min(stream)) / u128::from(stream)) as u64
    }

    /// The packet [`Reader::advance`] moved to.
    pub fn packet(&self) -> Option<Packet<'_>> {
        let c = self.current?;
        let data = self.inner.data().get(c.start..c.start + c.caplen)?;
        Some(Packet {
            data,
            ts_us: c.ts_us,
            wire_len: c.wire_len,
            linktype: c.linktype,
            iface: c
                .if_id
                .and_then(|i| self.section.names.get(i))
                .and_then(Option::as_ref),
        })
    }

    /// Move to the next packet: `Ok(true)` when there is one, `Ok(false)` at a clean end of
    /// the stream, `Err` when the rest of the stream cannot be read. `before_wait` runs before
    /// every read from the source, which may block on a FIFO.
    pub fn advance(&mut self, before_wait: &mut dyn FnMut()) -> Result<bool, Damage> {
        self.current = None;
        if self.finished {
            return Ok(false);
        }
        let r = self.advance_inner(before_wait);
        if !matches!(r, Ok(true)) {
            self.finished = true;
        }
        r
    }

    fn advance_inner(&mut self, before_wait: &mut dyn FnMut()) -> Result<bool, Damage> {
        loop {
            if self.pending > 0 {
                self.inner.consume(self.pending);
                self.offset += self.pending as u64;
                self.pending = 0;
            }
            let base = self.inner.data().as_ptr() as usize;
            let offset = self.offset;
            let damage = |reason: String| Damage { offset, reason };
            let word = self.record_word();
            // pcap-parser subtracts 12 from a block's length before checking it against its
            // minimum for some block types (0.17, `ng_block_parser`: found by fuzz/pcapfile), so
            // a block declaring fewer than 12 bytes is refused here, before it gets there. The
            // pcapng spec (§3.1) also requires a multiple of 4.
            if self.format == Format::PcapNg {
                if let Some(n) = self.declared_len() {
                    if n < PCAPNG_MIN_BLOCK || n % 4 != 0 {
                        return Err(damage(format!(
                            "block length {n} is impossible (at least {PCAPNG_MIN_BLOCK}, a multiple of 4)"
                        )));
                    }
                }
            }
            match self.inner.next() {
                Ok((len, block)) => {
                    self.pending = len;
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            let linktype = h.network.0 & LINKTYPE_MASK;
                            let scale = if h.is_nanosecond_precision() {
                                TsScale::Div(1000)
                            } else {
                                TsScale::Mul(1)
                            };
                            self.section.big_endian = h.is_bigendian();
                            self.section.interfaces = vec![Interface {
                                linktype,
                                snaplen: h.snaplen,
                                scale,
                                offset_us: 0,
                            }];
                        }
                        PcapBlockOwned::Legacy(b) => {
                            if b.caplen > MAX_RECORD_LEN {
                                return Err(damage(too_long(b.caplen)));
                            }
                            let Some(ifc) = self.section.interfaces.first() else {
                                return Err(damage("record before the file header".into()));
                            };
                            let frac = ifc.scale.to_us(u64::from(b.ts_usec));
                            let ts_us = i64::from(b.ts_sec) * 1_000_000 + frac;
                            self.current = Some(Current {
                                start: b.data.as_ptr() as usize - base,
                                caplen: b.data.len(),
                                ts_us,
                                wire_len: b.origlen,
                                linktype: ifc.linktype,
                                if_id: None,
                            });
                            return Ok(true);
                        }
                        PcapBlockOwned::NG(block) => {
                            if let Some(c) =
                                ng_block(&mut self.section, block, base).map_err(damage)?
                            {
                                self.current = Some(c);
                                return Ok(true);
                            }
                        }
                    }
                }
                Err(PcapError::Eof) => return Ok(false),
                Err(PcapError::Incomplete(_)) => {
                    if let Some(reason) = self.oversized() {
                        return Err(damage(reason));
                    }
                    before_wait();
                    let before = self.inner.data().len();
                    if self.inner.refill().is_err() {
                        return Err(damage(self.read_error()));
                    }
                    if self.inner.data().len() == before && !self.inner.reader_exhausted() {
                        // Only possible with a full buffer: a block pcap-parser cannot size.
                        return Err(damage("a block does not fit the read buffer".into()));
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    let have = self.inner.data().len();
                    let reason = match self.declared_len() {
                        Some(n) => format!(
                            "the file ends inside a {} ({have} of {n} bytes)",
                            self.record_word()
                        ),
                        None => format!("the file ends inside a {} header", self.record_word()),
                    };
                    return Err(damage(reason));
                }
                Err(PcapError::BufferTooSmall) => {
                    let reason = self
                        .oversized()
                        .unwrap_or_else(|| "a block does not fit the read buffer".into());
                    return Err(damage(reason));
                }
                Err(PcapError::ReadError) => return Err(damage(self.read_error())),
                Err(e) => {
                    let reason = format!("malformed {word}: {}", describe(&e));
                    return Err(damage(reason));
                }
            }
        }
    }

    fn record_word(&self) -> &'static str {
        match self.format {
            Format::Pcap => "record",
            Format::PcapNg => "block",
        }
    }

    /// The length the next record or block declares, header included, once its length field
    /// is in the buffer.
    fn declared_len(&self) -> Option<u32> {
        let d = self.inner.data();
        match self.format {
            Format::Pcap => {
                let b: [u8; 4] = d.get(8..12)?.try_into().ok()?;
                let caplen = if self.section.big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                };
                Some(caplen.saturating_add(PCAP_RECORD_HEADER as u32))
            }
            Format::PcapNg => block_len_at(d, Some(self.section.big_endian)),
        }
    }

    /// A reason when the next record or block declares an impossible length.
    fn oversized(&self) -> Option<String> {
        let n = self.declared_len()?;
        match self.format {
            Format::Pcap if n - PCAP_RECORD_HEADER as u32 > MAX_RECORD_LEN => {
                Some(too_long(n - PCAP_RECORD_HEADER as u32))
            }
            Format::PcapNg if n > MAX_BLOCK_LEN => Some(format!(
                "block length {n} is impossible (more than {MAX_BLOCK_LEN})"
            )),
            _ => None,
        }
    }

    fn read_error(&self) -> String {
        match self.state.error.borrow().as_ref() {
            Some(e) if self.compression != Compression::None => {
                format!("{} stream: {e}", self.compression.name())
            }
            Some(e) => format!("read error: {e}"),
            None => "read error".into(),
        }
    }
}

/// Handle one pcapng block; a packet block gives the packet.
fn ng_block(sec: &mut Section, block: Block<'_>, base: usize) -> Result<Option<Current>, String> {
    let packet =
        |if_id: usize, ifc: &Interface, data: &[u8], caplen: u32, wire_len: u32, units: u64| {
            if caplen > MAX_RECORD_LEN {
                return Err(too_long(caplen));
            }
            let data = data
                .get(..caplen as usize)
                .ok_or_else(|| format!("packet length {caplen} exceeds its block"))?;
            let ts_us = ifc
                .scale
                .to_us(units)
                .saturating_add(ifc.offset_us)
                .min(MAX_TS_US);
            Ok(Some(Current {
                start: data.as_ptr() as usize - base,
                caplen: data.len(),
                ts_us,
                wire_len,
                linktype: ifc.linktype,
                if_id: Some(if_id),
            }))
        };
    match block {
        Block::SectionHeader(shb) => {
            sec.big_endian = shb.big_endian();
            sec.interfaces.clear();
            sec.names.clear();
            Ok(None)
        }
        Block::InterfaceDescription(idb) => {
            if sec.interfaces.len() >= MAX_INTERFACES {
                return Err(format!(
                    "more than {MAX_INTERFACES} interfaces in one section"
                ));
            }
            let id = sec.interfaces.len();
            let scale = TsScale::from_tsresol(idb.if_tsresol).ok_or_else(|| {
                format!(
                    "interface {id}: if_tsresol {:#x} does not fit 64 bits",
                    idb.if_tsresol
                )
            })?;
            // pcap-parser decodes if_tsoffset as little-endian whatever the section's byte
            // order; decode it here in the section's order.
            let mut offset_s = 0i64;
            let mut name = None;
            for o in &idb.options {
                if o.code.0 == OPT_IF_NAME {
                    name = if_name(o.value());
                }
                if o.code.0 == OPT_IF_TSOFFSET {
                    if let Some(v) = o.value().get(..8).and_then(|v| <[u8; 8]>::try_from(v).ok()) {
                        offset_s = if sec.big_endian {
                            i64::from_be_bytes(v)
                        } else {
                            i64::from_le_bytes(v)
                        };
                    }
                }
            }
            sec.interfaces.push(Interface {
                linktype: i32::from(idb.linktype.0 as u16),
                snaplen: idb.snaplen,
                scale,
                offset_us: offset_s.saturating_mul(1_000_000),
            });
            sec.names.push(name);
            Ok(None)
        }
        Block::EnhancedPacket(epb) => {
            let ifc = *sec
                .interfaces
                .get(epb.if_id as usize)
                .ok_or_else(|| format!("packet on undeclared interface {}", epb.if_id))?;
            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            packet(
                epb.if_id as usize,
                &ifc,
                epb.data,
                epb.caplen,
                epb.origlen,
                units,
            )
        }
        Block::SimplePacket(spb) => {
            // RFC draft §4.4: interface 0, no timestamp; the captured length is the
            // original length capped by the interface's snaplen.
            let ifc = *sec
                .interfaces
                .first()
                .ok_or_else(|| "simple packet block before any interface".to_string())?;
            let mut caplen = spb.origlen.min(spb.data.len() as u32);
            if ifc.snaplen > 0 {
                caplen = caplen.min(ifc.snaplen);
            }
            packet(0, &ifc, spb.data, caplen, spb.origlen, 0)
        }
        Block::Unknown(ub) => {
            let ty = if sec.big_endian {
                ub.block_type.swap_bytes()
            } else {
                ub.block_type
            };
            if ty != OBSOLETE_PACKET_BLOCK {
                return Ok(None);
            }
            // Hand-written: pcap-parser does not know the obsolete Packet Block. Body:
            // interface (u16), drops (u16), ts high, ts low, caplen, len, data.
            let b = ub.data;
            let u16_at = |i: usize| {
                b.get(i..i + 2).map(|s| {
                    let a = [s[0], s[1]];
                    if sec.big_endian {
                        u16::from_be_bytes(a)
                    } else {
                        u16::from_le_bytes(a)
                    }
                })
            };
            let u32_at = |i: usize| {
                b.get(i..i + 4).map(|s| {
                    let a = [s[0], s[1], s[2], s[3]];
                    if sec.big_endian {
                        u32::from_be_bytes(a)
                    } else {
                        u32::from_le_bytes(a)
                    }
                })
            };
            let (Some(if_id), Some(hi), Some(lo), Some(caplen), Some(len)) =
                (u16_at(0), u32_at(4), u32_at(8), u32_at(12), u32_at(16))
            else {
                return Err("packet block shorter than its header".into());
            };
            let ifc = *sec
                .interfaces
                .get(usize::from(if_id))
                .ok_or_else(|| format!("packet on undeclared interface {if_id}"))?;
            let units = (u64::from(hi) << 32) | u64::from(lo);
            packet(usize::from(if_id), &ifc, &b[20..], caplen, len, units)
        }
        _ => Ok(None),
    }
}

/// An `if_name` option's value as the interface's name: UTF-8 (lossy), without the NULs some
/// writers pad it with, at most [`MAX_IF_NAME`] bytes; `None` when nothing is left.
fn if_name(v: &[u8]) -> Option<Arc<str>> {
    let text = String::from_utf8_lossy(v);
    let t = text.trim_end_matches('\0');
    let mut end = t.len().min(MAX_IF_NAME);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    let t = &t[..end];
    (!t.is_empty()).then(|| Arc::from(t))
}

/// Why a reader could not start.
#[derive(Debug)]
pub enum ReaderStart {
    /// Not a pcap or pcapng stream; the first bytes.
    NotCapture(Vec<u8>),
    Damaged(Damage),
    Io(String),
}

/// The link type in the 32-bit pcap header field: the upper bits carry the FCS length
/// (libpcap's `LT_LINKTYPE`).
const LINKTYPE_MASK: i32 = 0x03ff_ffff;

fn too_long(caplen: u32) -> String {
    format!("record length {caplen} is impossible (more than {MAX_RECORD_LEN})")
}

/// The total length of the pcapng block at the start of `d`; for a Section Header Block (or
/// when `big_endian` is unknown) the byte order comes from its byte-order magic.
fn block_len_at(d: &[u8], big_endian: Option<bool>) -> Option<u32> {
    let len: [u8; 4] = d.get(4..8)?.try_into().ok()?;
    let be = if d.get(..4)? == PCAPNG_MAGIC || big_endian.is_none() {
        let bom: [u8; 4] = d.get(8..12)?.try_into().ok()?;
        u32::from_le_bytes(bom) != PCAPNG_BOM_LE
    } else {
        big_endian.unwrap_or(false)
    };
    Some(if be {
        u32::from_be_bytes(len)
    } else {
        u32::from_le_bytes(len)
    })
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => {
            format!("{} check failed", k.description())
        }
        PcapError::HeaderNotRecognized => "header not recognised".into(),
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => "too short".into(),
        other => format!("{other:?}"),
    }
}

/// Read a whole stream, counting packets: (packets, damage if any).
pub fn count_packets(r: &mut Reader) -> (u64, Option<Damage>) {
    let mut n = 0;
    loop {
        match r.advance(&mut || ()) {
            Ok(true) => n += 1,
            Ok(false) => return (n, None),
            Err(d) => return (n, Some(d)),
        }
    }
}

/// A reader over bytes in memory (tests and fuzzing).
pub fn from_bytes(bytes: Vec<u8>, capacity: usize) -> Result<Reader, ReaderStart> {
    let state = Rc::new(SourceState::default());
    let stream = Rewind::new(Box::new(std::io::Cursor::new(bytes)), state.clone());
    Reader::new(stream, Compression::None, state, capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough for the small test files; a small buffer keeps the sweeps fast.
    const TEST_BUFFER: usize = 4096;

    /// A classic pcap file.
    fn pcap(be: bool, nanos: bool, link: u32, pkts: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut o = Vec::new();
        o.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        o.extend_from_slice(&w16(2));
        o.extend_from_slice(&w16(4));
        o.extend_from_slice(&[0; 8]);
        o.extend_from_slice(&w32(65535));
        o.extend_from_slice(&w32(link));
        for (s, f, d) in pkts {
            for v in [*s, *f, d.len() as u32, d.len() as u32 + 4] {
                o.extend_from_slice(&w32(v));
            }
            o.extend_from_slice(d);
        }
        o
    }

    /// A pcapng writer, either byte order.
    struct Ng {
        be: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn w32(&self, v: u32) -> [u8; 4] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn w16(&self, v: u16) -> [u8; 2] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn block(&mut self, ty: u32, body: &[u8]) {
            let mut b = body.to_vec();
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
            let len = 12 + b.len() as u32;
            let (t, l) = (self.w32(ty), self.w32(len));
            self.out.extend_from_slice(&t);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&b);
            self.out.extend_from_slice(&l);
        }
        fn shb(&mut self) {
            let mut b = self.w32(0x1a2b_3c4d).to_vec();
            b.extend_from_slice(&self.w16(1));
            b.extend_from_slice(&self.w16(0));
            b.extend_from_slice(&u64::MAX.to_le_bytes());
            self.block(0x0a0d_0d0a, &b);
        }
        fn idb(&mut self, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) {
            let mut b = self.w16(link).to_vec();
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&self.w32(snaplen));
            if let Some(r) = tsresol {
                b.extend_from_slice(&self.w16(9));
                b.extend_from_slice(&self.w16(1));
                b.extend_from_slice(&[r, 0, 0, 0]);
            }
            if let Some(o) = tsoffset {
                b.extend_from_slice(&self.w16(14));
                b.extend_from_slice(&self.w16(8));
                b.extend_from_slice(&if self.be {
                    o.to_be_bytes()
                } else {
                    o.to_le_bytes()
                });
            }
            if tsresol.is_some() || tsoffset.is_some() {
                b.extend_from_slice(&[0, 0, 0, 0]);
            }
            self.block(1, &b);
        }
        fn epb(&mut self, if_id: u32, ts: u64, data: &[u8]) {
            let mut b = Vec::new();
            for v in [
                if_id,
                (ts >> 32) as u32,
                ts as u32,
                data.len() as u32,
                data.len() as u32 + 10,
            ] {
                b.extend_from_slice(&self.w32(v));
            }
            b.extend_from_slice(data);
            self.block(6, &b);
        }
        fn spb(&mut self, data: &[u8]) {
            let mut b = self.w32(data.len() as u32).to_vec();
            b.extend_from_slice(data);
            self.block(3, &b);
        }
        fn opb(&mut self, if_id: u16, ts: u64, data: &[u8]) {
            let mut b = self.w16(if_id).to_vec();
            b.extend_from_slice(&self.w16(0));
            for v in [
                (ts >> 32) as u32,
                ts as u32,
                data.len() as u32,
                data.len() as u32,
            ] {
                b.extend_from_slice(&self.w32(v));
            }
            b.extend_from_slice(data);
            self.block(2, &b);
        }
    }

    /// (ts_us, linktype, data, wire_len) of one packet.
    type Got = (i64, i32, Vec<u8>, u32);

    /// Every packet, and the damage if any.
    fn read_all(bytes: &[u8], cap: usize) -> (Vec<Got>, Option<Damage>) {
        let mut r = match from_bytes(bytes.to_vec(), cap) {
            Ok(r) => r,
            Err(ReaderStart::Damaged(d)) => return (Vec::new(), Some(d)),
            Err(e) => panic!("{e:?}"),
        };
        let mut out = Vec::new();
        loop {
            match r.advance(&mut || ()) {
                Ok(true) => {
                    let p = r.packet().expect("current packet");
                    out.push((p.ts_us, p.linktype, p.data.to_vec(), p.wire_len));
                }
                Ok(false) => return (out, None),
                Err(d) => return (out, Some(d)),
            }
        }
    }

    fn frames() -> Vec<Vec<u8>> {
        (0..5u8).map(|i| vec![i; 20 + usize::from(i) * 7]).collect()
    }

    #[test]
    fn classic_pcap_in_both_byte_orders_with_micro_and_nanoseconds() {
        for be in [false, true] {
            for nanos in [false, true] {
                let frac = if nanos { 123_456_789 } else { 123_456 };
                let pkts: Vec<_> = frames()
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| (1_700_000_000 + i as u32, frac, f))
                    .collect();
                let (got, dmg) = read_all(&pcap(be, nanos, 101, &pkts), READ_BUFFER);
                assert_eq!(dmg, None);
                assert_eq!(got.len(), 5);
                for (i, (ts, lt, d, wire)) in got.iter().enumerate() {
                    assert_eq!(*ts, (1_700_000_000 + i as i64) * 1_000_000 + 123_456);
                    assert_eq!(*lt, 101);
                    assert_eq!(d, &frames()[i]);
                    assert_eq!(*wire as usize, d.len() + 4);
                }
            }
        }
    }

    fn two_section_pcapng() -> Vec<u8> {
        let mut a = Ng {
            be: false,
            out: Vec::new(),
        };
        a.shb();
        a.idb(1, 65535, None, None); // µs
        a.idb(101, 128, Some(9), Some(-10)); // ns, 10 s earlier
        a.block(0x0bad, b"an unknown block"); // skipped
        a.epb(0, 1_700_000_000_000_001, b"eth-frame");
        a.epb(1, 1_700_000_000_000_002_000, b"raw-ip-packet");
        a.spb(b"simple");
        let mut b = Ng {
            be: true,
            out: Vec::new(),
        };
        b.shb();
        b.idb(113, 0, Some(0x80 | 20), Some(5)); // 2^-20 s, 5 s later
        b.opb(0, 3 << 20, b"obsolete");
        b.epb(0, 1 << 19, b"half-second");
        let mut out = a.out;
        out.extend_from_slice(&b.out);
        out
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions_offsets_and_packet_blocks() {
        let (got, dmg) = read_all(&two_section_pcapng(), READ_BUFFER);
        assert_eq!(dmg, None);
        let want: Vec<(i64, i32, &[u8])> = vec![
            (1_700_000_000_000_001, 1, b"eth-frame"),
            (1_699_999_990_000_002, 101, b"raw-ip-packet"),
            (0, 1, b"simple"),
            (8_000_000, 113, b"obsolete"),
            (5_500_000, 113, b"half-second"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.0, g.1, g.2.as_slice()), *w);
        }
    }

    #[test]
    fn a_packet_on_an_undeclared_interface_is_damage_at_its_offset() {
        let mut a = Ng {
            be: false,
            out: Vec::new(),
        };
        a.shb();
        a.idb(1, 0, None, None);
        a.epb(0, 1, b"ok");
        let at = a.out.len() as u64;
        a.epb(3, 2, b"bad");
        let (got, dmg) = read_all(&a.out, READ_BUFFER);
        assert_eq!(got.len(), 1);
        let d = dmg.expect("damage");
        assert_eq!(d.offset, at);
        assert!(d.reason.contains("interface 3"), "{d}");
    }

    #[test]
    fn an_impossible_record_length_is_damage_without_allocating_it() {
        let mut bytes = pcap(false, false, 1, &[(1, 0, vec![1; 10])]);
        let at = bytes.len() as u64;
        for v in [1u32, 0, 0x4000_0000, 60] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&[0; 100]);
        let (got, dmg) = read_all(&bytes, TEST_BUFFER);
        assert_eq!(got.len(), 1);
        let d = dmg.expect("damage");
        assert_eq!(d.offset, at);
        assert!(d.reason.contains("1073741824"), "{d}");
        // a length above the cap but within the buffer is damage too
        let mut bytes = pcap(false, false, 1, &[]);
        for v in [1u32, 0, MAX_RECORD_LEN + 1, 60] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&vec![0; MAX_RECORD_LEN as usize + 1]);
        let (got, dmg) = read_all(&bytes, READ_BUFFER);
        assert!(got.is_empty());
        assert_eq!(dmg.expect("damage").offset, 24);
    }

    #[test]
    fn every_truncation_of_a_pcap_and_a_pcapng_reads_the_prefix_or_reports_damage() {
        let pkts: Vec<_> = frames()
            .into_iter()
            .enumerate()
            .map(|(i, f)| (i as u32, 0, f))
            .collect();
        for full in [pcap(false, false, 1, &pkts), two_section_pcapng()] {
            let (all, dmg) = read_all(&full, TEST_BUFFER);
            assert_eq!(dmg, None);
            // record boundaries: where a clean file of k packets ends
            let mut ends = Vec::new();
            // below 4 bytes the magic number is incomplete: not recognisable as a capture
            assert!(matches!(
                from_bytes(full[..3].to_vec(), TEST_BUFFER),
                Err(ReaderStart::NotCapture(_))
            ));
            for cut in 4..full.len() {
                let (got, dmg) = read_all(&full[..cut], TEST_BUFFER);
                assert!(got.len() <= all.len());
                assert_eq!(got, all[..got.len()].to_vec(), "cut {cut}");
                match dmg {
                    None => ends.push(cut),
                    Some(d) => {
                        assert!(d.offset <= cut as u64, "cut {cut}: {d}");
                        assert!(d.reason.contains("ends inside"), "cut {cut}: {d}");
                    }
                }
            }
            // only the ends of the header and of whole records/blocks read cleanly
            assert!(ends.len() >= all.len(), "{ends:?}");
            assert!(!ends.contains(&4) && !ends.contains(&(full.len() - 1)));
        }
    }

    #[test]
    fn a_block_shorter_than_12_bytes_is_damage_not_a_panic_in_pcap_parser() {
        // found by fuzz/pcapfile: a Process Information Block declaring 4 bytes made pcap-parser
        // 0.17 compute `4 - 12`
        let bytes = include_bytes!("../../../fuzz/seeds/pcapfile/pib-block-length-4.pcapng");
        let mut r = from_bytes(bytes.to_vec(), TEST_BUFFER).unwrap();
        let (n, damage) = count_packets(&mut r);
        assert_eq!(n, 0);
        let d = damage.expect("damage reported");
        assert!(
            d.reason.contains("block length 4 is impossible"),
            "{}",
            d.reason
        );
        assert_eq!(d.offset, 108, "right after the 108-byte section header");
    }

    #[test]
    fn random_bit_flips_never_panic_and_stay_bounded() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pkts: Vec<_> = frames()
            .into_iter()
            .enumerate()
            .map(|(i, f)| (i as u32, 0, f))
            .collect();
        for full in [
            pcap(false, false, 1, &pkts),
            pcap(true, true, 1, &pkts),
            two_section_pcapng(),
        ] {
            for _ in 0..2000 {
                let mut b = full.clone();
                for _ in 0..1 + rnd() % 4 {
                    let i = (rnd() % b.len() as u64) as usize;
                    b[i] ^= 1 << (rnd() % 8);
                }
                let mut r = match from_bytes(b.clone(), TEST_BUFFER) {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                let (n, _) = count_packets(&mut r);
                // every packet needs at least a 16-byte header or a 12-byte block
                assert!(n as usize <= b.len() / 12);
            }
        }
    }

    /// A FIFO: hands out the chunks written so far, then must not be read again.
    struct Trickle(std::collections::VecDeque<Vec<u8>>);

    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(mut c) = self.0.pop_front() else {
                panic!("read past the bytes that have arrived: the reader waited for a full block");
            };
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.push_front(c.split_off(n));
            }
            Ok(n)
        }
    }

    #[test]
    fn a_packet_is_delivered_as_soon_as_its_bytes_arrive() {
        let pkts: Vec<_> = frames()
            .into_iter()
            .enumerate()
            .map(|(i, f)| (i as u32, 0, f))
            .collect();
        let full = pcap(false, false, 1, &pkts);
        // header and first packet, then the second packet in three pieces
        let first = 24 + 16 + 20;
        let second = first + 16 + 27;
        let chunks = vec![
            full[..first].to_vec(),
            full[first..first + 5].to_vec(),
            full[first + 5..first + 30].to_vec(),
            full[first + 30..second].to_vec(),
        ];
        let state = Rc::new(SourceState::default());
        let stream = Rewind::new(Box::new(Trickle(chunks.into())), state.clone());
        let mut r = Reader::new(stream, Compression::None, state, READ_BUFFER).expect("header");
        let mut waits = 0;
        assert_eq!(r.advance(&mut || waits += 1), Ok(true));
        assert_eq!(r.packet().expect("p").data, &frames()[0][..]);
        assert_eq!(r.advance(&mut || waits += 1), Ok(true));
        assert_eq!(r.packet().expect("p").data, &frames()[1][..]);
        assert!(waits >= 3, "{waits}");
    }

    #[test]
    fn timestamp_units_power_of_ten_and_two() {
        assert_eq!(TsScale::from_tsresol(6), Some(TsScale::Mul(1)));
        assert_eq!(TsScale::from_tsresol(3).map(|s| s.to_us(5)), Some(5000));
        assert_eq!(TsScale::from_tsresol(9).map(|s| s.to_us(1_999)), Some(1));
        assert_eq!(
            TsScale::from_tsresol(0x80 | 10).map(|s| s.to_us(512)),
            Some(500_000)
        );
        assert_eq!(TsScale::from_tsresol(20), None);
        assert_eq!(TsScale::from_tsresol(0x80 | 64), None);
        assert_eq!(
            TsScale::from_tsresol(19).map(|s| s.to_us(u64::MAX)),
            Some(1_844_674)
        );
    }

    #[test]
    fn timestamps_past_year_9999_are_clamped() {
        let mut a = Ng {
            be: false,
            out: Vec::new(),
        };
        a.shb();
        a.idb(1, 0, Some(0), Some(i64::MAX / 2));
        a.epb(0, u64::MAX, b"x");
        let (got, dmg) = read_all(&a.out, TEST_BUFFER);
        assert_eq!(dmg, None);
        assert_eq!(got[0].0, MAX_TS_US);
        assert_eq!(
            crate::event::format_ts(MAX_TS_US),
            "9999-12-31T23:59:59.999999Z"
        );
    }
}
