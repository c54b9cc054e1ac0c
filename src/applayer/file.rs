//! Digests of a file carried in a stream (an HTTP message body), computed as its bytes pass:
//! the content coding removed first (gzip, x-gzip, deflate), then MD5, SHA-1 and SHA-256 over
//! the result, only those the loaded indicators hold (`Wants`). Nothing of the file is kept: a
//! body of any length costs the digests' state and, when it is compressed, one streaming
//! decoder (flate2's, whose window is 32 KiB).
//!
//! A file whose digest could be wrong is never reported: a byte lost on the way (a gap, the
//! snap length), a size past `max_file_size` (as sent or once decoded: a decompression bomb
//! stops at the cap), a coding iocd does not decode or a corrupt one. The reason is kept
//! ([`Spoiled`]) for the caller to count.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::Digest as _;

use crate::observe::{FileMeta, Info, Observed, Token, Wants, Where};

use crate::config::tables::DEFAULT_MAX_FILE_SIZE;

/// The `[tables] max_file_size` in force, set by each worker at its start from the
/// configuration (the same for every worker: one value for the process).
static MAX_FILE_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_FILE_SIZE);

/// Set the largest file hashed (bytes, as sent and once decoded).
pub fn set_max_file_size(bytes: u64) {
    MAX_FILE_SIZE.store(bytes, Ordering::Relaxed);
}

/// The largest file hashed.
pub fn max_file_size() -> u64 {
    MAX_FILE_SIZE.load(Ordering::Relaxed)
}

/// Heap bytes of one inflate state (miniz_oxide's `InflateState`: its 32 KiB LZ77 window
/// (RFC 1951 §2) and ~11 KiB of Huffman tables), for the table's memory budget.
pub const INFLATE_MEM: usize = 44 * 1024;

/// Why a file was not hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoiled {
    /// Bytes of it were lost (a segment never received).
    Gap,
    /// Bytes of it were cut by the capture's snap length.
    Snap,
    /// Longer than `max_file_size`, as sent or once decoded.
    TooBig,
    /// A coding not decoded here, or a corrupt one.
    Undecoded,
    /// The stream ended before the file did.
    Cut,
}

/// The content codings decoded (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: a zlib stream (RFC 1950) as specified, or raw deflate (RFC 1951) as some
    /// servers send it; told apart by the zlib header.
    Deflate,
    /// Anything else (`br`, `zstd`, `compress`, several codings): not decoded, not hashed.
    Other,
}

impl Coding {
    /// The coding a Content-Encoding value names.
    pub fn of(value: Option<&[u8]>) -> Coding {
        let Some(v) = value else {
            return Coding::Identity;
        };
        let v = v.trim_ascii();
        if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Coding::Identity
        } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Coding::Deflate
        } else {
            Coding::Other
        }
    }
}

/// The digests wanted, fed the decoded bytes.
#[derive(Debug)]
struct Digests {
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
    /// Decoded bytes so far.
    size: u64,
    cap: u64,
    /// Past the cap.
    over: bool,
}

impl Write for Digests {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.size += buf.len() as u64;
        if self.size > self.cap {
            self.over = true;
            // stops the decoder: a bomb is not inflated past the cap
            return Err(std::io::Error::other("file over max_file_size"));
        }
        if let Some(h) = &mut self.md5 {
            h.update(buf);
        }
        if let Some(h) = &mut self.sha1 {
            sha1::Digest::update(h, buf);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decoder in front of the digests.
#[derive(Debug)]
enum Decoder {
    Identity(Digests),
    /// `deflate` before its first two bytes tell zlib from raw deflate.
    Sniff(Digests, Vec<u8>),
    Gzip(Box<flate2::write::MultiGzDecoder<Digests>>),
    Zlib(Box<flate2::write::ZlibDecoder<Digests>>),
    Raw(Box<flate2::write::DeflateDecoder<Digests>>),
    /// Spoiled: the bytes are dropped.
    None,
}

/// One file being hashed.
#[derive(Debug)]
pub struct FileHash {
    decoder: Decoder,
    /// Bytes as sent (before decoding).
    sent: u64,
    spoiled: Option<Spoiled>,
    pub meta: FileMeta,
}

impl FileHash {
    /// Hash a file sent in `coding`, with the digests `wants` asks for (`None` when it asks for
    /// none: nothing to compute), up to `cap` bytes.
    pub fn new(wants: Wants, coding: Coding, cap: u64, meta: FileMeta) -> Option<FileHash> {
        let d = Digests {
            md5: wants.has(Token::Md5).then(md5::Md5::new),
            sha1: wants
                .has(Token::Sha1)
                .then(<sha1::Sha1 as sha1::Digest>::new),
            sha256: wants.has(Token::Sha256).then(sha2::Sha256::new),
            size: 0,
            cap,
            over: false,
        };
        if d.md5.is_none() && d.sha1.is_none() && d.sha256.is_none() {
            return None;
        }
        let (decoder, spoiled) = match coding {
            Coding::Identity => (Decoder::Identity(d), None),
            Coding::Gzip => (
                Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(d))),
                None,
            ),
            Coding::Deflate => (Decoder::Sniff(d, Vec::new()), None),
            Coding::Other => (Decoder::None, Some(Spoiled::Undecoded)),
        };
        Some(FileHash {
            decoder,
            sent: 0,
            spoiled,
            meta,
        })
    }

    /// Heap bytes held beyond this value itself (for the flow table's budget): a decoder, boxed
    /// with the digests it feeds, and its inflate state.
    pub fn mem(&self) -> usize {
        match &self.decoder {
            Decoder::Identity(_) | Decoder::None => 0,
            Decoder::Sniff(_, head) => head.capacity(),
            Decoder::Gzip(_) => {
                std::mem::size_of::<flate2::write::MultiGzDecoder<Digests>>() + INFLATE_MEM
            }
            Decoder::Zlib(_) => {
                std::mem::size_of::<flate2::write::ZlibDecoder<Digests>>() + INFLATE_MEM
            }
            Decoder::Raw(_) => {
                std::mem::size_of::<flate2::write::DeflateDecoder<Digests>>() + INFLATE_MEM
            }
        }
    }

    /// Stop hashing: the file will not be reported (the first reason is kept).
    pub fn spoil(&mut self, why: Spoiled) {
        if self.spoiled.is_none() {
            self.spoiled = Some(why);
        }
        self.decoder = Decoder::None;
    }

    /// Why the file will not be reported, if it will not.
    pub fn spoiled(&self) -> Option<Spoiled> {
        self.spoiled
    }

    /// The next bytes of the file as sent.
    pub fn update(&mut self, data: &[u8]) {
        if self.spoiled.is_some() || data.is_empty() {
            return;
        }
        self.sent += data.len() as u64;
        let ok = match &mut self.decoder {
            Decoder::Identity(d) => d.write_all(data).is_ok(),
            Decoder::Sniff(..) => return self.sniff(data),
            Decoder::Gzip(g) => g.write_all(data).is_ok(),
            Decoder::Zlib(z) => z.write_all(data).is_ok(),
            Decoder::Raw(r) => r.write_all(data).is_ok(),
            Decoder::None => true,
        };
        if !ok {
            self.failed();
        }
    }

    /// `deflate`: the first two bytes say zlib (RFC 1950 §2.2: CM 8, CINFO ≤ 7, the header a
    /// multiple of 31) or raw deflate.
    fn sniff(&mut self, data: &[u8]) {
        let Decoder::Sniff(d, head) = std::mem::replace(&mut self.decoder, Decoder::None) else {
            return;
        };
        let mut head = head;
        head.extend_from_slice(data);
        if head.len() < 2 {
            self.decoder = Decoder::Sniff(d, head);
            return;
        }
        let zlib = head[0] & 0x0f == 8
            && head[0] >> 4 <= 7
            && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
        let ok = if zlib {
            let mut z = Box::new(flate2::write::ZlibDecoder::new(d));
            let ok = z.write_all(&head).is_ok();
            self.decoder = Decoder::Zlib(z);
            ok
        } else {
            let mut r = Box::new(flate2::write::DeflateDecoder::new(d));
            let ok = r.write_all(&head).is_ok();
            self.decoder = Decoder::Raw(r);
            ok
        };
        if !ok {
            self.failed();
        }
    }

    /// A write failed: past the cap, or the coding is corrupt.
    fn failed(&mut self) {
        let over = match &self.decoder {
            Decoder::Identity(d) | Decoder::Sniff(d, _) => d.over,
            Decoder::Gzip(g) => g.get_ref().over,
            Decoder::Zlib(z) => z.get_ref().over,
            Decoder::Raw(r) => r.get_ref().over,
            Decoder::None => false,
        };
        self.spoil(if over {
            Spoiled::TooBig
        } else {
            Spoiled::Undecoded
        });
    }

    /// The file ended: its digests as observables (the file's size, name and type with each),
    /// or why there are none. An empty file gives none (its digest names no file).
    pub fn finish(mut self, out: &mut Vec<Observed>) -> Result<(), Spoiled> {
        if let Some(why) = self.spoiled {
            return Err(why);
        }
        let d = match std::mem::replace(&mut self.decoder, Decoder::None) {
            Decoder::Identity(d) => Ok(d),
            // one byte of deflate is no complete stream
            Decoder::Sniff(d, head) if head.is_empty() => Ok(d),
            Decoder::Sniff(..) | Decoder::None => Err(Spoiled::Undecoded),
            Decoder::Gzip(mut g) => match g.try_finish() {
                Ok(()) => g.finish().map_err(|_| Spoiled::Undecoded),
                Err(_) => Err(Spoiled::Undecoded),
            },
            Decoder::Zlib(mut z) => match z.try_finish() {
                Ok(()) => z.finish().map_err(|_| Spoiled::Undecoded),
                Err(_) => Err(Spoiled::Undecoded),
            },
            Decoder::Raw(mut r) => match r.try_finish() {
                Ok(()) => r.finish().map_err(|_| Spoiled::Undecoded),
                Err(_) => Err(Spoiled::Undecoded),
            },
        }?;
        if d.over {
            return Err(Spoiled::TooBig);
        }
        if d.size == 0 {
            return Ok(());
        }
        let mut meta = std::mem::take(&mut self.meta);
        meta.size = d.size;
        let meta = Box::new(meta);
        let mut push = |kind, key: Vec<u8>| {
            out.push(Observed::Token {
                kind,
                key,
                at: Where::HttpFile,
                info: Info::None,
                file: Some(meta.clone()),
            })
        };
        if let Some(h) = d.md5 {
            push(Token::Md5, h.finalize().to_vec());
        }
        if let Some(h) = d.sha1 {
            push(Token::Sha1, sha1::Digest::finalize(h).to_vec());
        }
        if let Some(h) = d.sha256 {
            push(Token::Sha256, h.finalize().to_vec());
        }
        Ok(())
    }

    /// Bytes of the file as sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn digests(f: FileHash) -> Result<Vec<(Token, String, u64)>, Spoiled> {
        let mut out = Vec::new();
        f.finish(&mut out)?;
        Ok(out
            .into_iter()
            .map(|o| match o {
                Observed::Token {
                    kind, key, file, ..
                } => (kind, hex(&key), file.unwrap().size),
                o => panic!("{o:?}"),
            })
            .collect())
    }

    fn file(coding: Coding, cap: u64) -> FileHash {
        FileHash::new(Wants::ALL, coding, cap, FileMeta::default()).unwrap()
    }

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn identity_gives_the_three_digests_of_the_bytes_in_any_pieces() {
        let mut f = file(Coding::Identity, 100);
        for b in b"abc" {
            f.update(std::slice::from_ref(b));
        }
        assert_eq!(
            digests(f).unwrap(),
            vec![
                (Token::Md5, "900150983cd24fb0d6963f7d28e17f72".into(), 3),
                (
                    Token::Sha1,
                    "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
                    3
                ),
                (Token::Sha256, ABC_SHA256.into(), 3),
            ]
        );
    }

    #[test]
    fn only_the_wanted_digests_are_computed() {
        let w = Wants::NONE.with(Token::Sha256);
        let mut f = FileHash::new(w, Coding::Identity, 100, FileMeta::default()).unwrap();
        f.update(b"abc");
        assert_eq!(
            digests(f).unwrap(),
            vec![(Token::Sha256, ABC_SHA256.into(), 3)]
        );
        let w = Wants::NONE.with(Token::Url).with(Token::Ja3);
        assert!(FileHash::new(w, Coding::Identity, 100, FileMeta::default()).is_none());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_are_decoded_before_hashing() {
        let body = b"abc";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(body).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        r.write_all(body).unwrap();
        let raw = r.finish().unwrap();
        for (coding, enc) in [
            (Coding::Gzip, gzip(body)),
            (Coding::Deflate, zlib),
            (Coding::Deflate, raw),
        ] {
            // one byte at a time: the decoders stream
            let mut f = file(coding, 100);
            for b in &enc {
                f.update(std::slice::from_ref(b));
            }
            let d = digests(f).unwrap();
            assert_eq!(d[2], (Token::Sha256, ABC_SHA256.into(), 3), "{coding:?}");
        }
    }

    #[test]
    fn a_truncated_or_corrupt_gzip_is_not_hashed() {
        let enc = gzip(b"abcdefgh".repeat(100).as_slice());
        let mut f = file(Coding::Gzip, 10_000);
        f.update(&enc[..enc.len() - 4]);
        assert_eq!(digests(f), Err(Spoiled::Undecoded));
        let mut bad = enc.clone();
        bad[12] ^= 0xff;
        let mut f = file(Coding::Gzip, 10_000);
        f.update(&bad);
        assert!(digests(f).is_err());
        let mut f = file(Coding::Other, 10_000);
        f.update(&enc);
        assert_eq!(digests(f), Err(Spoiled::Undecoded));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 64 MiB of zeros compress to ~64 KiB; the cap is 1 MiB
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 200_000);
        let mut f = file(Coding::Gzip, 1 << 20);
        for c in bomb.chunks(1460) {
            f.update(c);
        }
        assert_eq!(f.spoiled(), Some(Spoiled::TooBig));
        // the decoder's memory is freed at once
        assert_eq!(f.mem(), 0);
        assert_eq!(digests(f), Err(Spoiled::TooBig));
        // identity over the cap too
        let mut f = file(Coding::Identity, 2);
        f.update(b"abc");
        assert_eq!(digests(f), Err(Spoiled::TooBig));
    }

    #[test]
    fn an_empty_file_gives_no_digest_and_a_spoiled_one_none() {
        assert_eq!(digests(file(Coding::Identity, 10)), Ok(vec![]));
        let mut f = file(Coding::Identity, 10);
        f.update(b"ab");
        f.spoil(Spoiled::Gap);
        f.update(b"c");
        assert_eq!(digests(f), Err(Spoiled::Gap));
    }
}
