//! Byte sources: a file, a FIFO or standard input, decompressed when it starts with a gzip or
//! zstd magic number, with the first bytes sniffed to tell a capture from anything else.
//!
//! Every read is a single `read(2)` that may return less than asked: a FIFO fed slowly hands
//! out each packet as soon as its bytes arrive. `EINTR` (a signal during a blocking read) is
//! retried, never reported as damage.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read};
use std::path::Path;
use std::rc::Rc;

/// gzip member header (RFC 1952 §2.3.1: ID1 ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// zstd frame magic number, little-endian 0xFD2FB528 (RFC 8878 §3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// Compressed bytes read from the file per `read` under a decompressor: large enough that a
/// regular file is read in few system calls, and a FIFO still hands over what it has at once.
const COMPRESSED_READ_BUFFER: usize = 256 * 1024;

/// What the source has seen; shared with the reader above so it can report progress and the
/// cause of a read error (pcap-parser only says "ReadError").
#[derive(Debug, Default)]
pub struct SourceState {
    /// Bytes read from the file itself (compressed bytes for a compressed file).
    pub raw_bytes: Cell<u64>,
    /// Bytes of the capture stream handed to the reader (decompressed bytes for a compressed
    /// file; the same as `raw_bytes` otherwise).
    pub stream_bytes: Cell<u64>,
    /// The last I/O or decompression error.
    pub error: RefCell<Option<io::Error>>,
}

/// The file, FIFO or stdin, counting bytes and retrying `EINTR`.
struct Raw {
    inner: Box<dyn Read>,
    state: Rc<SourceState>,
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.state
                        .raw_bytes
                        .set(self.state.raw_bytes.get() + n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The capture stream (after any decompression), counting its bytes.
struct Counted {
    inner: Box<dyn Read>,
    state: Rc<SourceState>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let s = &self.state.stream_bytes;
        s.set(s.get() + n as u64);
        Ok(n)
    }
}

/// Bytes already read to sniff the format, handed out again before the rest of the stream;
/// records the error of a failed read so the reader can say why it stopped.
pub struct Rewind {
    head: Vec<u8>,
    pos: usize,
    inner: Box<dyn Read>,
    state: Rc<SourceState>,
}

impl Rewind {
    pub fn new(inner: Box<dyn Read>, state: Rc<SourceState>) -> Rewind {
        Rewind {
            head: Vec::new(),
            pos: 0,
            inner,
            state,
        }
    }

    /// Make sure at least `n` bytes are buffered (fewer only at the end of the stream) and
    /// return the buffered bytes; they are still handed out by `read` afterwards.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.pos > 0 {
            self.head.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 4096];
        while self.head.len() < n {
            let want = (n - self.head.len()).min(chunk.len());
            match self.inner.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(k) => self.head.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(&self.head)
    }
}

impl Read for Rewind {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    *self.state.error.borrow_mut() = Some(e);
                    return Err(copy);
                }
            }
        }
    }
}

/// How the bytes of a source were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// An opened input: the (decompressed) byte stream with its first bytes buffered.
pub struct Source {
    pub stream: Rewind,
    pub compression: Compression,
    pub state: Rc<SourceState>,
    /// A FIFO, a socket or standard input: bytes may arrive slowly.
    pub is_stream: bool,
}

/// Open `path` (`-` is standard input) and undo gzip or zstd compression, chosen by the
/// magic number, never by the file name.
pub fn open(path: &Path) -> io::Result<Source> {
    let state = Rc::new(SourceState::default());
    let (inner, is_stream): (Box<dyn Read>, bool) = if path == Path::new("-") {
        (Box::new(io::stdin()), true)
    } else {
        let f = File::open(path)?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(ErrorKind::IsADirectory, "is a directory"));
        }
        (Box::new(f), !meta.is_file())
    };
    let raw = Raw {
        inner,
        state: state.clone(),
    };
    let mut first = Rewind::new(Box::new(raw), state.clone());
    let head = first.peek(ZSTD_MAGIC.len())?;
    let (stream, compression): (Box<dyn Read>, Compression) = if head.starts_with(&GZIP_MAGIC) {
        // MultiGzDecoder: `cat a.gz b.gz` and pigz/bgzip output are several members.
        let buffered = BufReader::with_capacity(COMPRESSED_READ_BUFFER, first);
        (
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Gzip,
        )
    } else if head.starts_with(&ZSTD_MAGIC) {
        // zstd's streaming decoder reads every frame of a multi-frame file (zstd -T, pzstd).
        let buffered = BufReader::with_capacity(COMPRESSED_READ_BUFFER, first);
        (
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
            Compression::Zstd,
        )
    } else {
        (Box::new(first), Compression::None)
    };
    // Decompressed bytes are sniffed again (pcap or pcapng magic) by the reader.
    let counted = Counted {
        inner: stream,
        state: state.clone(),
    };
    let stream = Rewind::new(Box::new(counted), state.clone());
    Ok(Source {
        stream,
        compression,
        state,
        is_stream,
    })
}
