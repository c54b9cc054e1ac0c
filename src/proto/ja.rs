//! JA3 and JA4 client fingerprints of a ClientHello.
//!
//! - **JA3** (salesforce/ja3, README "How it works"): the decimal fields
//!   `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`, each list joined by
//!   `-` in the order sent, GREASE values (RFC 8701, `0x?a?a`) left out of every list; the
//!   fingerprint is the MD5 of that string. `SSLVersion` is the hello's legacy_version field
//!   (`771` for a TLS 1.3 hello too), as the reference and tshark's `tls.handshake.ja3` write it.
//!   JA3 is defined for TLS over TCP; for the hello in a QUIC Initial iocd computes it the same
//!   way, as tshark does.
//! - **JA4** (FoxIO-LLC/ja4, `technical_details/JA4.md`): `a_b_c` where `a` is the transport (`t`
//!   TCP, `q` QUIC), the version (highest supported_versions entry without GREASE, else
//!   legacy_version: `13` `12` `11` `10` `s3` `s2` `s1`, `00` for anything else), `d`/`i` (a
//!   server_name extension is present or not), the cipher and extension counts (two digits,
//!   GREASE excluded, capped at 99; SNI and ALPN counted) and the first and last character of
//!   the first ALPN value (`00` without one; hex digits when either byte is not alphanumeric);
//!   `b` is the first 12 hex digits of the SHA-256 of the sorted cipher suites (4 lowercase hex
//!   digits each, comma separated); `c` the same over the sorted extensions without SNI (0x0000)
//!   and ALPN (0x0010), then `_` and the signature algorithms in the order sent (no `_` when
//!   there are none). An empty list hashes to `000000000000`.
//!
//! Both are written without allocation into a small buffer flushed into the hash; inputs are
//! slices of a hello already bounded by [`super::tls::MAX_CLIENT_HELLO_LEN`], so every list here
//! has at most 8,192 entries and the work is linear in the hello's length. The lists are kept
//! on the stack ([`SmallVec`]) up to the sizes real clients send.
//!
//! **Memo.** The hashes are most of the cost (JA4's two SHA-256s alone are about two thirds of
//! it, in software), and their inputs repeat: every client of one build sends the same cipher
//! list, the same sorted extensions and signature algorithms (JA4's `b` and `c`), and, where it
//! does not shuffle its extensions, the same JA3 string. So each of the three hashes is looked
//! up, before its text is even written, by a key of what the text is made from (the values in
//! binary, each list after its count; at most [`MAX_MEMO_KEY`] bytes) in a small
//! direct-mapped table per thread ([`MEMO_SLOTS`] slots per hash, about 40 KB per worker,
//! allocated on the first fingerprint) holding the whole key next to its digest: a hit is an
//! exact match of the key, which determines the text, so the fingerprint is the one the hash
//! gives; a miss (or a longer key) writes and hashes the text as before and replaces the slot.
//! Nothing grows: a flood of distinct hellos only turns hits into misses.

use std::cell::RefCell;

use md5::Md5;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

/// JA4's key length: `t13d1516h2_8daaf6152771_e5627efa2ab1` (10 + 1 + 12 + 1 + 12 bytes).
pub const JA4_LEN: usize = 36;

/// JA4 counts are two decimal digits: "if there are more than 99, write 99" (JA4.md).
const MAX_JA4_COUNT: usize = 99;

/// What a fingerprint is computed from, read from one ClientHello. Lists of 16-bit values are
/// kept as their wire bytes (big-endian pairs); an odd trailing byte is ignored.
#[derive(Debug, Clone, Default)]
pub struct HelloParts<'a> {
    /// legacy_version (RFC 8446 §4.1.2).
    pub legacy_version: u16,
    /// cipher_suites as sent, GREASE included.
    pub ciphers: Ciphers,
    /// Extension types as sent, GREASE included.
    pub extensions: Extensions,
    /// supported_groups (10) named group list.
    pub groups: &'a [u8],
    /// ec_point_formats (11) list, one byte each.
    pub point_formats: &'a [u8],
    /// signature_algorithms (13) list.
    pub sig_algs: &'a [u8],
    /// The first protocol name of application_layer_protocol_negotiation (16).
    pub alpn: Option<&'a [u8]>,
    /// The highest non-GREASE entry of supported_versions (43), when the extension is there.
    pub supported_version: Option<u16>,
    /// A server_name extension (0) is present.
    pub sni: bool,
}

/// A hello's cipher suites, on the stack up to 64: browsers offer 15-20, curl with OpenSSL 3
/// 31; a longer list spills to the heap.
pub type Ciphers = SmallVec<[u16; 64]>;

/// A hello's extension types, on the stack up to 32: browsers send 16-20.
pub type Extensions = SmallVec<[u16; 32]>;

/// Which fingerprints to compute, and over which transport (JA4's first character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Want {
    pub ja3: bool,
    pub ja4: bool,
    /// The hello came in QUIC CRYPTO frames (`q`), not a TCP stream (`t`).
    pub quic: bool,
}

impl Want {
    pub const NONE: Want = Want {
        ja3: false,
        ja4: false,
        quic: false,
    };

    #[inline]
    pub fn any(self) -> bool {
        self.ja3 || self.ja4
    }
}

/// The fingerprints of one hello, those that were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprints {
    /// MD5 of the JA3 string.
    pub ja3: Option<[u8; 16]>,
    /// The JA4 text, ASCII.
    pub ja4: Option<[u8; JA4_LEN]>,
}

/// GREASE (RFC 8701 §2): `0x0A0A`, `0x1A1A`, ... `0xFAFA`.
#[inline]
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn u16s(list: &[u8]) -> impl Iterator<Item = u16> + Clone + '_ {
    list.chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// Compute what `want` asks for.
pub fn fingerprints(parts: &HelloParts<'_>, want: Want) -> Fingerprints {
    Fingerprints {
        ja3: want.ja3.then(|| ja3(parts)),
        ja4: want.ja4.then(|| ja4(parts, want.quic)),
    }
}

/// Where a [`Writer`] flushes: a hash, or (for [`ja3_string`]) a vector.
trait Sink {
    fn take(&mut self, data: &[u8]);
}

impl Sink for Md5 {
    fn take(&mut self, data: &[u8]) {
        Digest::update(self, data);
    }
}

impl Sink for Sha256 {
    fn take(&mut self, data: &[u8]) {
        Digest::update(self, data);
    }
}

impl Sink for Vec<u8> {
    fn take(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
    }
}

/// Longest memo key: what a hash's text is made from, in binary (2 bytes a value, a 2-byte
/// count before each list). A Chrome hello's JA3 key is about 60 bytes, its JA4 extensions and
/// signature algorithms about 50; a hello with 31 ciphers and 20 extensions about 120. A hello
/// whose key is longer is hashed every time.
pub const MAX_MEMO_KEY: usize = 192;

/// Slots of each of the three memos (JA3, JA4 ciphers, JA4 extensions): a sensor sees tens of
/// client builds at a time, not thousands; 3 × 64 × 210 bytes ≈ 40 KB per thread.
pub const MEMO_SLOTS: usize = 64;

/// Which memo a key belongs to.
#[derive(Debug, Clone, Copy)]
enum Table {
    Ja3 = 0,
    Ja4Ciphers = 1,
    Ja4Extensions = 2,
}

/// One memoised hash: its whole key (`len` 0: an empty slot; keys are never empty) and the
/// first 16 bytes of its digest.
struct Slot {
    len: u16,
    key: [u8; MAX_MEMO_KEY],
    digest: [u8; 16],
}

thread_local! {
    static MEMO: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// A memo key being built on the stack; `None` once it outgrew [`MAX_MEMO_KEY`].
struct Key {
    buf: [u8; MAX_MEMO_KEY],
    len: Option<usize>,
}

impl Key {
    fn new() -> Self {
        Key {
            buf: [0; MAX_MEMO_KEY],
            len: Some(0),
        }
    }

    fn u16(&mut self, v: u16) {
        self.len = self.len.and_then(|n| {
            let dst = self.buf.get_mut(n..n + 2)?;
            dst.copy_from_slice(&v.to_be_bytes());
            Some(n + 2)
        });
    }

    /// A list: its count, then its values.
    fn list(&mut self, values: impl ExactSizeIterator<Item = u16>) {
        self.u16(values.len().min(usize::from(u16::MAX)) as u16);
        for v in values {
            self.u16(v);
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        self.len.map(|n| &self.buf[..n])
    }
}

/// Where `key` lives in its table: FxHash's multiply-rotate over 8-byte words. Written here,
/// not taken from `hashbrown`'s hasher: through `BuildHasher::hash_one` that cost about 1,000
/// instructions per lookup in callgrind, a third of a hit's cost. Its spread only decides
/// which keys share a slot; a lookup compares the whole key.
fn slot_of(table: Table, key: &[u8]) -> usize {
    let mut h: u64 = key.len() as u64;
    for w in key.chunks(8) {
        let mut b = [0u8; 8];
        b[..w.len()].copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    table as usize * MEMO_SLOTS + (h >> 32) as usize % MEMO_SLOTS
}

/// The digest memoised for `key` in `table`, or `compute()`'s, then stored in its slot. A
/// `key` of `None` (too long) is not memoised.
fn memoised(table: Table, key: &Key, compute: impl FnOnce() -> [u8; 16]) -> [u8; 16] {
    let Some(key) = key.bytes() else {
        return compute();
    };
    let i = slot_of(table, key);
    let hit = MEMO.try_with(|m| {
        let m = m.try_borrow().ok()?;
        let s = m.get(i)?;
        (usize::from(s.len) == key.len() && s.key[..key.len()] == *key).then_some(s.digest)
    });
    if let Ok(Some(digest)) = hit {
        return digest;
    }
    let digest = compute();
    // no memo while the thread is torn down, or re-entered: only not stored
    let _ = MEMO.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        if m.is_empty() {
            m.extend((0..3 * MEMO_SLOTS).map(|_| Slot {
                len: 0,
                key: [0; MAX_MEMO_KEY],
                digest: [0; 16],
            }));
        }
        if let Some(s) = m.get_mut(i) {
            s.len = key.len() as u16;
            s.key[..key.len()].copy_from_slice(key);
            s.digest = digest;
        }
    });
    digest
}

/// The first 16 bytes of a digest (all of MD5's; JA4 uses 6 of SHA-256's).
fn first16(d: &[u8]) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Bytes written into a hash through a stack buffer: one `update` per 128 bytes, not per field.
struct Writer<S: Sink> {
    sink: S,
    buf: [u8; 128],
    len: usize,
}

impl<S: Sink> Writer<S> {
    fn new(sink: S) -> Self {
        Writer {
            sink,
            buf: [0; 128],
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.extend(&[b]);
    }

    /// Append `bytes` (at most 8: one field and its separator): the buffer is flushed first
    /// when they do not fit, so each field is one copy.
    #[inline]
    fn extend(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.sink.take(&self.buf[..self.len]);
            self.len = 0;
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    /// `v` in decimal, after `sep` when given.
    fn decimal(&mut self, sep: Option<u8>, v: u16) {
        let mut digits = [0u8; 6];
        let mut n = v;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if let Some(sep) = sep {
            i -= 1;
            digits[i] = sep;
        }
        self.extend(&digits[i..]);
    }

    /// `v` as 4 lowercase hex digits, after `sep` when given.
    fn hex4(&mut self, sep: Option<u8>, v: u16) {
        let d = |shift: u16| HEX[usize::from((v >> shift) & 0xf)];
        let field = [sep.unwrap_or(0), d(12), d(8), d(4), d(0)];
        self.extend(&field[usize::from(sep.is_none())..]);
    }

    /// The sink with everything written.
    fn finish(mut self) -> S {
        self.sink.take(&self.buf[..self.len]);
        self.sink
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Write `values` as decimal joined by `-`.
fn ja3_list<S: Sink>(w: &mut Writer<S>, values: impl Iterator<Item = u16>) {
    for (i, v) in values.enumerate() {
        w.decimal((i > 0).then_some(b'-'), v);
    }
}

/// Write the JA3 string of `p` into `w`.
fn ja3_into<S: Sink>(w: &mut Writer<S>, p: &HelloParts<'_>) {
    w.decimal(None, p.legacy_version);
    w.push(b',');
    ja3_list(w, p.ciphers.iter().copied().filter(|&v| !is_grease(v)));
    w.push(b',');
    ja3_list(w, p.extensions.iter().copied().filter(|&v| !is_grease(v)));
    w.push(b',');
    ja3_list(w, u16s(p.groups).filter(|&v| !is_grease(v)));
    w.push(b',');
    ja3_list(w, p.point_formats.iter().map(|&b| u16::from(b)));
}

/// The MD5 of the JA3 string; memoised by what the string is made of (its key: the version
/// and the four lists, GREASE left out).
pub fn ja3(p: &HelloParts<'_>) -> [u8; 16] {
    let mut key = Key::new();
    key.u16(p.legacy_version);
    let not_grease = |v: &u16| !is_grease(*v);
    key.list(ExactCount::new(
        p.ciphers.iter().copied().filter(not_grease),
    ));
    key.list(ExactCount::new(
        p.extensions.iter().copied().filter(not_grease),
    ));
    key.list(ExactCount::new(u16s(p.groups).filter(not_grease)));
    key.list(p.point_formats.iter().map(|&b| u16::from(b)));
    memoised(Table::Ja3, &key, || {
        let mut w = Writer::new(Md5::new());
        ja3_into(&mut w, p);
        first16(&w.finish().finalize())
    })
}

/// A filtered iterator with its count taken first (a second pass over a few dozen values), so
/// that a key can write the count before the values.
struct ExactCount<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator<Item = u16> + Clone> ExactCount<I> {
    fn new(inner: I) -> Self {
        ExactCount {
            left: inner.clone().count(),
            inner,
        }
    }
}

impl<I: Iterator<Item = u16>> Iterator for ExactCount<I> {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        let v = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator<Item = u16>> ExactSizeIterator for ExactCount<I> {}

/// The JA3 string itself (for tests and tools; the hot path hashes it as it is written).
pub fn ja3_string(p: &HelloParts<'_>) -> String {
    let mut w = Writer::new(Vec::new());
    ja3_into(&mut w, p);
    String::from_utf8_lossy(&w.finish()).into_owned()
}

/// JA4's two version characters.
fn ja4_version(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0200 => *b"s2",
        0x0100 => *b"s1",
        _ => *b"00",
    }
}

/// JA4's ALPN characters: first and last of the first value; their hex form's first and last
/// digit when either is not `[0-9A-Za-z]`; `00` when there is no value.
fn ja4_alpn(alpn: Option<&[u8]>) -> [u8; 2] {
    match alpn {
        Some(&[first, ..]) => {
            let last = *alpn.and_then(|a| a.last()).unwrap_or(&first);
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                [first, last]
            } else {
                [HEX[usize::from(first >> 4)], HEX[usize::from(last & 0xf)]]
            }
        }
        _ => *b"00",
    }
}

fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(MAX_JA4_COUNT) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// The first 12 hex digits of a SHA-256 (`d`, its first bytes); `000000000000` when nothing
/// was hashed (`None`).
fn hash12(d: Option<[u8; 16]>, out: &mut [u8]) {
    let Some(d) = d else {
        out.fill(b'0');
        return;
    };
    for (i, b) in d.iter().take(6).enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
}

/// The JA4 text.
pub fn ja4(p: &HelloParts<'_>, quic: bool) -> [u8; JA4_LEN] {
    let mut ciphers: Ciphers = p
        .ciphers
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let mut exts: Extensions = p
        .extensions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let mut out = [0u8; JA4_LEN];
    out[0] = if quic { b'q' } else { b't' };
    out[1..3].copy_from_slice(&ja4_version(
        p.supported_version.unwrap_or(p.legacy_version),
    ));
    out[3] = if p.sni { b'd' } else { b'i' };
    out[4..6].copy_from_slice(&two_digits(ciphers.len()));
    out[6..8].copy_from_slice(&two_digits(exts.len()));
    out[8..10].copy_from_slice(&ja4_alpn(p.alpn));
    out[10] = b'_';
    out[23] = b'_';

    ciphers.sort_unstable();
    let mut key = Key::new();
    key.list(ciphers.iter().copied());
    let b = (!ciphers.is_empty()).then(|| {
        memoised(Table::Ja4Ciphers, &key, || {
            let mut w = Writer::new(Sha256::new());
            for (i, &c) in ciphers.iter().enumerate() {
                w.hex4((i > 0).then_some(b','), c);
            }
            first16(&w.finish().finalize())
        })
    });
    hash12(b, &mut out[11..23]);

    exts.retain(|e| *e != 0x0000 && *e != 0x0010);
    exts.sort_unstable();
    let mut key = Key::new();
    key.list(exts.iter().copied());
    key.list(ExactCount::new(u16s(p.sig_algs)));
    // an odd trailing byte of the signature algorithms is no value: as without any
    let c = (!exts.is_empty() || u16s(p.sig_algs).next().is_some()).then(|| {
        memoised(Table::Ja4Extensions, &key, || {
            let mut w = Writer::new(Sha256::new());
            for (i, &e) in exts.iter().enumerate() {
                w.hex4((i > 0).then_some(b','), e);
            }
            let mut sigs = u16s(p.sig_algs).peekable();
            if sigs.peek().is_some() {
                w.push(b'_');
                for (i, s) in sigs.enumerate() {
                    w.hex4((i > 0).then_some(b','), s);
                }
            }
            first16(&w.finish().finalize())
        })
    });
    hash12(c, &mut out[24..36]);
    out
}

/// Whether `key` has JA4's shape: `[tqd]`, two version characters, `[di]`, four digits, two
/// ALPN characters, then `_` + 12 hex + `_` + 12 hex, all ASCII.
pub fn is_ja4_shaped(key: &[u8]) -> bool {
    key.len() == JA4_LEN
        && matches!(key[0], b't' | b'q' | b'd')
        && key[1..3].iter().all(u8::is_ascii_alphanumeric)
        && matches!(key[3], b'd' | b'i')
        && key[4..8].iter().all(u8::is_ascii_digit)
        && key[8..10].iter().all(u8::is_ascii_alphanumeric)
        && key[10] == b'_'
        && key[23] == b'_'
        && key[11..23]
            .iter()
            .chain(&key[24..36])
            .all(|b| HEX.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memo never changes a fingerprint: thousands of distinct hellos (each slot taken by
    /// many, so hits, misses and replaced slots all occur; some inputs over
    /// [`MAX_MEMO_KEY`], so not memoised) computed in two passes give, every time, the MD5
    /// of the JA3 string and JA4 hashes computed here from the lists as text.
    #[test]
    fn memoised_hashes_equal_the_hashes_of_the_inputs() {
        fn reference_hash12(text: &str) -> String {
            let d = Sha256::digest(text.as_bytes());
            d[..6].iter().map(|b| format!("{b:02x}")).collect()
        }
        let hex_list = |v: &[u16]| {
            v.iter()
                .map(|x| format!("{x:04x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let sig_algs = [4u8, 3, 8, 4];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut hellos = Vec::new();
        for i in 0..3000usize {
            // a few shapes repeat (hits), most are new (misses), and every 7th is long
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = if i % 7 == 0 {
                90
            } else {
                3 + (x % 20) as usize
            };
            let seed = if i % 3 == 0 { x % 5 } else { x };
            let ciphers: Ciphers = (0..n as u64)
                .map(|k| (seed.wrapping_mul(k + 1) % 0xfff0) as u16 + 1)
                .collect();
            let extensions: Extensions = (0..(n % 25) as u64)
                .map(|k| (seed.wrapping_add(k * 977) % 0xfff0) as u16 + 1)
                .collect();
            hellos.push((ciphers, extensions));
        }
        for pass in 0..2 {
            for (ciphers, extensions) in &hellos {
                let p = HelloParts {
                    legacy_version: 0x0303,
                    ciphers: ciphers.clone(),
                    extensions: extensions.clone(),
                    sig_algs: &sig_algs,
                    ..HelloParts::default()
                };
                let want: [u8; 16] = md5::Md5::digest(ja3_string(&p).as_bytes()).into();
                assert_eq!(ja3(&p), want, "pass {pass}");
                let mut c: Vec<u16> = ciphers.iter().copied().filter(|&v| !is_grease(v)).collect();
                c.sort_unstable();
                let mut e: Vec<u16> = extensions
                    .iter()
                    .copied()
                    .filter(|&v| !is_grease(v) && v != 0 && v != 0x10)
                    .collect();
                e.sort_unstable();
                let j = ja4(&p, false);
                let j = std::str::from_utf8(&j).unwrap();
                assert_eq!(&j[11..23], reference_hash12(&hex_list(&c)), "pass {pass}");
                let tail = format!("{}_0403,0804", hex_list(&e));
                assert_eq!(&j[24..36], reference_hash12(&tail), "pass {pass}");
            }
        }
    }

    /// A memo key decides the text: an odd trailing byte of the signature algorithms is no
    /// value, with or without the memo (`c` of nothing is `000000000000`), and hellos whose
    /// lists differ only by where one list ends and the next begins get different JA3s.
    #[test]
    fn memo_keys_tell_apart_what_the_texts_tell_apart() {
        let p = HelloParts {
            ciphers: [0x1301].into_iter().collect(),
            sig_algs: &[4],
            ..HelloParts::default()
        };
        for _ in 0..2 {
            assert_eq!(&ja4(&p, false)[24..], b"000000000000");
        }
        let a = HelloParts {
            ciphers: [1, 2].into_iter().collect(),
            extensions: [3].into_iter().collect(),
            ..HelloParts::default()
        };
        let b = HelloParts {
            ciphers: [1].into_iter().collect(),
            extensions: [2, 3].into_iter().collect(),
            ..HelloParts::default()
        };
        for _ in 0..2 {
            assert_ne!(ja3(&a), ja3(&b));
            let want: [u8; 16] = md5::Md5::digest(b"0,1-2,3,,").into();
            assert_eq!(ja3(&a), want);
        }
    }

    #[test]
    fn grease_values_are_the_sixteen_of_rfc_8701() {
        let all: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(all[0], 0x0a0a);
        assert_eq!(all[15], 0xfafa);
        assert!(!is_grease(0x0a1a));
    }

    #[test]
    fn alpn_characters_follow_the_spec_examples() {
        // JA4.md, "ALPN Extension Value": h2 → "h2", http/1.1 → "h1", none → "00",
        // 0xAB 0xCD → "ad", 0x30 0xAB → "3b", 0x30 0x31 0xAB 0xCD → "3d",
        // 0x30 0xAB 0xCD 0x31 → "01".
        assert_eq!(&ja4_alpn(Some(b"h2")), b"h2");
        assert_eq!(&ja4_alpn(Some(b"http/1.1")), b"h1");
        assert_eq!(&ja4_alpn(None), b"00");
        assert_eq!(&ja4_alpn(Some(&[])), b"00");
        assert_eq!(&ja4_alpn(Some(&[0xab, 0xcd])), b"ad");
        assert_eq!(&ja4_alpn(Some(&[0x30, 0xab])), b"3b");
        assert_eq!(&ja4_alpn(Some(&[0x30, 0x31, 0xab, 0xcd])), b"3d");
        assert_eq!(&ja4_alpn(Some(&[0x30, 0xab, 0xcd, 0x31])), b"01");
        assert_eq!(&ja4_alpn(Some(b"h")), b"hh");
    }

    #[test]
    fn counts_are_capped_at_99() {
        assert_eq!(&two_digits(0), b"00");
        assert_eq!(&two_digits(7), b"07");
        assert_eq!(&two_digits(99), b"99");
        assert_eq!(&two_digits(4096), b"99");
    }

    /// JA4.md's worked example (the "JA4 Fingerprint" section, a Chrome hello): 15 ciphers,
    /// 16 extensions, ALPN h2, and the lists it prints, give
    /// `t13d1516h2_8daaf6152771_e5627efa2ab1`; the same value is FoxIO's expected output for
    /// its sample captures (and in ../shared/pcaps/content/truth.jsonl).
    #[test]
    fn ja4_of_the_spec_example() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        // Chrome's extensions (order randomised; JA4 sorts), GREASE first and last.
        let extensions = [
            0x2a2a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
            0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0x3a3a,
        ];
        let sig_algs: Vec<u8> = [
            0x0403u16, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
        let p = HelloParts {
            legacy_version: 0x0303,
            ciphers: [0xdada].iter().chain(&ciphers).copied().collect(),
            extensions: extensions.iter().copied().collect(),
            sig_algs: &sig_algs,
            alpn: Some(b"h2"),
            supported_version: Some(0x0304),
            sni: true,
            ..HelloParts::default()
        };
        assert_eq!(&ja4(&p, false), b"t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert!(is_ja4_shaped(&ja4(&p, true)));
        assert_eq!(ja4(&p, true)[0], b'q');
    }

    /// An empty hello (no ciphers, no extensions): both hashes are zeros, no `_` suffix.
    #[test]
    fn ja4_of_empty_lists_is_zeros() {
        let p = HelloParts {
            legacy_version: 0x0301,
            ..HelloParts::default()
        };
        assert_eq!(&ja4(&p, false), b"t10i000000_000000000000_000000000000");
        // JA3 of the same: version and four empty fields.
        assert_eq!(ja3_string(&p), "769,,,,");
    }

    /// salesforce/ja3's README example string
    /// `769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0` and its MD5
    /// `ada70206e40642a3e4461f35503241d5` (the README's "JA3 fingerprint").
    #[test]
    fn ja3_of_the_reference_readme_example() {
        let p = HelloParts {
            legacy_version: 769,
            ciphers: [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]
                .into_iter()
                .collect(),
            extensions: [0x0a0a, 0, 10, 11].into_iter().collect(),
            groups: &[0xfa, 0xfa, 0, 23, 0, 24, 0, 25],
            point_formats: &[0],
            ..HelloParts::default()
        };
        assert_eq!(
            ja3_string(&p),
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
        );
        let hex: String = ja3(&p).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ada70206e40642a3e4461f35503241d5");
    }

    #[test]
    fn long_lists_go_through_the_buffer_intact() {
        // 4096 ciphers: the string crosses the 128-byte buffer many times.
        let ciphers: Vec<u16> = (0..4096).collect();
        let p = HelloParts {
            legacy_version: 771,
            ciphers: ciphers.iter().copied().collect(),
            ..HelloParts::default()
        };
        let s = ja3_string(&p);
        // 0x0a0a (2570) is GREASE and is left out
        let list: Vec<String> = ciphers
            .iter()
            .filter(|&&c| c != 0x0a0a)
            .map(|c| c.to_string())
            .collect();
        assert!(s == format!("771,{},,,", list.join("-")), "{}", &s[..80]);
        let j = ja4(&p, false);
        assert_eq!(&j[..10], b"t12i990000");
        assert!(is_ja4_shaped(&j));
    }
}
