//! A streaming reader of one Internet message (RFC 5322 headers, RFC 2045/2046 MIME bodies): the
//! addresses of its From, Sender, Reply-To, To and Cc headers, and the digests of its
//! attachments, fed line by line as the message goes by, never buffered whole.
//!
//! The message is walked as Python's `email` package (compat32) walks it, since that is what
//! the truth of our captures and most mail tooling use: a multipart entity's body is split at
//! its boundary lines (`--b`, `--b--`, optional trailing blanks, RFC 2046 §5.1.1) and the line
//! end before a boundary belongs to the boundary; a boundary line of an enclosing multipart
//! also ends every inner one; `message/rfc822` parts are entered as messages. Every
//! non-multipart part with `Content-Disposition: attachment` or a filename (the disposition's
//! `filename`, else the type's `name`, RFC 2231 and encoded words decoded by `mailparse`) is an
//! attachment: its body is decoded (base64, quoted-printable, else as is, as
//! `get_payload(decode=True)` does) and hashed with the digests asked for, streaming.
//!
//! Headers (at most [`MAX_HEAD_BYTES`] per entity) are parsed with the `mailparse` crate: folding,
//! RFC 2047 encoded words, RFC 5322 address lists with display names, comments, groups and
//! quoted local parts (`addrparse_header`), and Content-Type / Content-Disposition parameters.
//!
//! Bounds, each counted in [`MimeStats`]: the header block of an entity ([`MAX_HEAD_BYTES`]),
//! multipart nesting ([`MAX_MIME_DEPTH`]), a boundary's length ([`MAX_BOUNDARY_LEN`]), a file's
//! decoded size ([`MAX_FILE_SIZE`]); base64 that does not decode is counted and its part not
//! hashed. State per message: one head buffer (freed once the head is parsed), the boundary
//! stack, the digests of the current part.

use md5::Digest as _;

use crate::observe::{FileMeta, Token, Wants};

/// Bytes of one entity's header fields kept for parsing: only the fields read
/// ([`READ_FIELDS`]: addresses, Content-*) are kept, the rest (Received chains, DKIM
/// signatures) skipped as they stream by. RFC 5322 sets no limit; Postfix's `header_size_limit`
/// is 102400 bytes for one header. 16 KiB holds a To and Cc of several hundred addresses while
/// bounding a hostile head (100,000 header lines, a 1 MiB line) per flow. Past it the rest of
/// the head is skipped (counted as `mime_head_cap`) and what was kept is parsed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Nested multiparts followed. Real mail nests three or four deep (mixed > alternative >
/// related, a forwarded message inside); past 16 the inner parts are not split (counted as
/// `mime_depth_cap`) and their attachments are not hashed.
pub const MAX_MIME_DEPTH: usize = 16;

/// Longest boundary accepted: RFC 2046 §5.1.1 allows 1 to 70 characters; 200 tolerates sloppy
/// generators while bounding the per-line comparison.
pub const MAX_BOUNDARY_LEN: usize = 200;

/// Largest attachment hashed by default, decoded bytes: 64 MiB, the default of `[tables]
/// max_file_size` (the SMTP adapter passes the configured one: [`Message::with_max_file`]).
/// Larger files are not hashed (counted as `mime_file_cap`): a digest of a prefix would never
/// match.
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// Characters of a MIME filename or type kept for an event.
pub const MAX_NAME_LEN: usize = 255;

/// What the reader counts; the caller adds these to its own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MimeStats {
    /// Attachments hashed to their end.
    pub attachments: u64,
    /// Header blocks cut at [`MAX_HEAD_BYTES`].
    pub head_cap: u64,
    /// Multiparts past [`MAX_MIME_DEPTH`] (or with a boundary over [`MAX_BOUNDARY_LEN`]) not split.
    pub depth_cap: u64,
    /// Attachments whose base64 did not decode: not hashed.
    pub base64_broken: u64,
    /// Attachments over [`MAX_FILE_SIZE`]: not hashed.
    pub file_cap: u64,
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An address of the message's From, Sender, Reply-To, To or Cc header, as written
    /// (`local@domain`, not normalised).
    Address(String),
    /// An attachment's digests (`Md5`, `Sha1`, `Sha256`, as asked) and what is known of it.
    File {
        digests: Vec<(Token, Vec<u8>)>,
        meta: FileMeta,
    },
}

/// Where the reader is in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In an entity's header block.
    Head,
    /// In a body that is not kept (a leaf that is no attachment, a preamble or an epilogue):
    /// only boundary lines matter.
    Skip,
    /// In an attachment's body, decoded and hashed.
    File,
}

/// The digests asked for, running.
#[derive(Clone, Default)]
struct Hashes {
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
}

impl Hashes {
    fn new(wants: Wants) -> Hashes {
        Hashes {
            md5: wants.has(Token::Md5).then(md5::Md5::new),
            sha1: wants
                .has(Token::Sha1)
                .then(<sha1::Sha1 as sha1::Digest>::new),
            sha256: wants
                .has(Token::Sha256)
                .then(<sha2::Sha256 as sha2::Digest>::new),
        }
    }

    fn any(wants: Wants) -> bool {
        wants.has(Token::Md5) || wants.has(Token::Sha1) || wants.has(Token::Sha256)
    }

    fn update(&mut self, b: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(b);
        }
        if let Some(h) = &mut self.sha1 {
            sha1::Digest::update(h, b);
        }
        if let Some(h) = &mut self.sha256 {
            sha2::Digest::update(h, b);
        }
    }

    fn finish(self) -> Vec<(Token, Vec<u8>)> {
        let mut v = Vec::with_capacity(3);
        if let Some(h) = self.md5 {
            v.push((Token::Md5, h.finalize().to_vec()));
        }
        if let Some(h) = self.sha1 {
            v.push((Token::Sha1, sha1::Digest::finalize(h).to_vec()));
        }
        if let Some(h) = self.sha256 {
            v.push((Token::Sha256, sha2::Digest::finalize(h).to_vec()));
        }
        v
    }
}

/// A part's Content-Transfer-Encoding decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    /// 7bit, 8bit, binary, absent or unknown: the bytes as they are (as Python does for an
    /// encoding it does not know).
    Identity,
    /// Quoted-printable (RFC 2045 §6.7), decoded as `binascii.a2b_qp` does.
    Qp(Qp),
    /// Base64 (RFC 2045 §6.8): `quad` holds the sextets of an unfinished quantum.
    Base64 { quad: [u8; 4], n: u8, pad: u8 },
}

/// Quoted-printable decoder state between bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qp {
    Plain,
    /// After `=`.
    Eq,
    /// After `=` and one hex digit.
    EqHex(u8),
    /// After `=\r`: a soft line break running to its `\n`.
    Soft,
}

/// The attachment being read.
struct File {
    /// The cap it is hashed under (the message's `max_file`).
    max: u64,
    dec: Decoder,
    hashes: Hashes,
    size: u64,
    /// Decoded bytes waiting to be hashed (hashed in blocks).
    buf: Vec<u8>,
    /// Line end of the last body line, held back: the one before a boundary is the boundary's.
    held_eol: &'static [u8],
    too_big: bool,
    broken: bool,
    meta: FileMeta,
}

/// Hash decoded bytes in blocks of this size (a quantum or a qp line is a few bytes).
const HASH_BLOCK: usize = 4096;

impl File {
    fn push(&mut self, b: &[u8]) {
        if self.too_big {
            return;
        }
        self.size += b.len() as u64;
        if self.size > self.max {
            self.too_big = true;
            self.buf = Vec::new();
            return;
        }
        self.buf.extend_from_slice(b);
        if self.buf.len() >= HASH_BLOCK {
            self.hashes.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Raw body bytes of the part, in order.
    fn raw(&mut self, data: &[u8]) {
        match self.dec {
            Decoder::Identity => self.push(data),
            Decoder::Qp(mut st) => {
                let mut i = 0;
                let mut out = [0u8; 256];
                let mut o = 0;
                while i < data.len() {
                    let c = data[i];
                    match st {
                        Qp::Plain if c == b'=' => st = Qp::Eq,
                        Qp::Plain => {
                            out[o] = c;
                            o += 1;
                        }
                        Qp::Eq => match c {
                            b'\n' => st = Qp::Plain,
                            b'\r' => st = Qp::Soft,
                            b'=' => {
                                out[o] = b'=';
                                o += 1;
                                st = Qp::Plain;
                            }
                            _ if c.is_ascii_hexdigit() => st = Qp::EqHex(c),
                            _ => {
                                // `=` then something else: `=` kept, the byte read again
                                out[o] = b'=';
                                o += 1;
                                st = Qp::Plain;
                                continue;
                            }
                        },
                        Qp::EqHex(h) if c.is_ascii_hexdigit() => {
                            out[o] = (hex(h) << 4) | hex(c);
                            o += 1;
                            st = Qp::Plain;
                        }
                        Qp::EqHex(h) => {
                            out[o] = b'=';
                            out[o + 1] = h;
                            o += 2;
                            st = Qp::Plain;
                            continue;
                        }
                        Qp::Soft => {
                            if c == b'\n' {
                                st = Qp::Plain;
                            }
                        }
                    }
                    i += 1;
                    if o >= out.len() - 2 {
                        self.push(&out[..o]);
                        o = 0;
                    }
                }
                self.push(&out[..o]);
                self.dec = Decoder::Qp(st);
            }
            Decoder::Base64 {
                mut quad,
                mut n,
                mut pad,
            } => {
                let mut out = [0u8; 192];
                let mut o = 0;
                for &c in data {
                    let v = B64[usize::from(c)];
                    if v == B64_SPACE {
                        continue;
                    }
                    if v == B64_PAD {
                        // padding completes a quantum of 2 or 3 sextets
                        if n < 2 {
                            self.broken = true;
                        }
                        pad = pad.saturating_add(1);
                        continue;
                    }
                    if v == B64_BAD || pad > 0 {
                        // a character outside the alphabet, or data after padding
                        self.broken = true;
                        continue;
                    }
                    quad[usize::from(n)] = v;
                    n += 1;
                    if n == 4 {
                        out[o] = (quad[0] << 2) | (quad[1] >> 4);
                        out[o + 1] = (quad[1] << 4) | (quad[2] >> 2);
                        out[o + 2] = (quad[2] << 6) | quad[3];
                        o += 3;
                        n = 0;
                        if o == out.len() {
                            self.push(&out);
                            o = 0;
                        }
                    }
                }
                self.push(&out[..o]);
                self.dec = Decoder::Base64 { quad, n, pad };
            }
        }
    }

    /// The part ended: its digests, or `None` (counted) when they cannot be trusted.
    fn finish(mut self, stats: &mut MimeStats) -> Option<Found> {
        match self.dec {
            Decoder::Qp(Qp::EqHex(h)) => self.push(&[b'=', h]),
            // missing padding is tolerated (Python adds it); one lone sextet is no byte
            Decoder::Base64 { quad, n, .. } => match n {
                0 => {}
                1 => self.broken = true,
                _ => {
                    let b = [
                        (quad[0] << 2) | (quad[1] >> 4),
                        (quad[1] << 4) | (quad[2] >> 2),
                    ];
                    self.push(&b[..usize::from(n) - 1]);
                }
            },
            _ => {}
        }
        if self.broken {
            stats.base64_broken += 1;
            return None;
        }
        if self.too_big {
            stats.file_cap += 1;
            return None;
        }
        self.hashes.update(&self.buf);
        stats.attachments += 1;
        self.meta.size = self.size;
        Some(Found::File {
            digests: self.hashes.finish(),
            meta: self.meta,
        })
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

const B64_BAD: u8 = 0xff;
const B64_SPACE: u8 = 0xfe;
const B64_PAD: u8 = 0xfd;

/// Base64 alphabet (RFC 4648 §4) to sextet; line breaks and blanks skipped. Written here, not
/// taken from the `base64` crate: its decoders take whole inputs, and a part's base64 arrives
/// line by line across segments; a quantum may straddle two.
static B64: [u8; 256] = {
    let mut t = [B64_BAD; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'=' as usize] = B64_PAD;
    t[b'\r' as usize] = B64_SPACE;
    t[b'\n' as usize] = B64_SPACE;
    t[b' ' as usize] = B64_SPACE;
    t[b'\t' as usize] = B64_SPACE;
    t
};

/// One message, read as it streams by.
pub struct Message {
    wants: Wants,
    /// Largest attachment hashed (decoded bytes); [`MAX_FILE_SIZE`] unless the caller says.
    max_file: u64,
    state: State,
    /// The header block of the current entity (empty outside [`State::Head`]).
    head: Vec<u8>,
    head_cut: bool,
    /// The header field being read is one of [`READ_FIELDS`] (kept in `head`).
    keep: bool,
    /// The entity whose head is read is the message itself (its address headers are read).
    top: bool,
    /// Boundaries of the enclosing multiparts, outermost first.
    bounds: Vec<Vec<u8>>,
    file: Option<Box<File>>,
    pub stats: MimeStats,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("state", &self.state)
            .field("depth", &self.bounds.len())
            .finish()
    }
}

/// The header fields read: the address fields of a message and what frames a MIME entity.
/// Every other field (Received, DKIM-Signature, ...) is skipped as it streams by.
const READ_FIELDS: [&str; 8] = [
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "content-type",
    "content-disposition",
    "content-transfer-encoding",
];

/// `line` starts a field named in [`READ_FIELDS`] (`Name:`, blanks allowed before the colon).
fn is_read_field(line: &[u8]) -> bool {
    let Some(colon) = line.iter().take(32).position(|&b| b == b':') else {
        return false;
    };
    let name = line[..colon].trim_ascii_end();
    READ_FIELDS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
}

/// A line's content without its end, and the end (`\r\n`, `\n` or nothing).
fn split_eol(line: &[u8]) -> (&[u8], &'static [u8]) {
    if let Some(l) = line.strip_suffix(b"\r\n") {
        (l, b"\r\n")
    } else if let Some(l) = line.strip_suffix(b"\n") {
        (l, b"\n")
    } else {
        (line, b"")
    }
}

impl Message {
    /// A message whose attachments over `bytes` (decoded) are not hashed: the configured
    /// `[tables] max_file_size`.
    pub fn with_max_file(mut self, bytes: u64) -> Message {
        self.max_file = bytes;
        self
    }

    /// A new message; `wants`: the digests to compute (none: attachments are not decoded).
    pub fn new(wants: Wants) -> Message {
        Message {
            wants,
            max_file: MAX_FILE_SIZE,
            state: State::Head,
            head: Vec::new(),
            head_cut: false,
            keep: false,
            top: true,
            bounds: Vec::new(),
            file: None,
            stats: MimeStats::default(),
        }
    }

    /// Bytes held by this message's state (the caller's memory accounting).
    pub fn mem(&self) -> usize {
        self.head.capacity()
            + self.bounds.iter().map(|b| b.capacity()).sum::<usize>()
            + self.file.as_ref().map_or(0, |f| f.buf.capacity() + 512)
    }

    /// The next piece of the message: a whole line with its end, or (`start` false for all but
    /// the first piece) a piece of a line too long to wait for.
    pub fn line(&mut self, line: &[u8], start: bool, out: &mut Vec<Found>) {
        let (content, eol) = split_eol(line);
        if start && content.starts_with(b"--") && !self.bounds.is_empty() {
            if let Some((i, close)) = self.boundary(content) {
                self.at_boundary(i, close, out);
                return;
            }
        }
        match self.state {
            State::Head => {
                if start && content.is_empty() && !eol.is_empty() {
                    self.head_end(out);
                    return;
                }
                if start && !matches!(content.first(), Some(b' ' | b'\t')) {
                    // a new field (not a folded continuation): kept only if it is read
                    self.keep = is_read_field(content);
                }
                if !self.keep {
                    return;
                }
                if self.head.len() + line.len() > MAX_HEAD_BYTES {
                    if !self.head_cut {
                        self.head_cut = true;
                        self.stats.head_cap += 1;
                    }
                    return;
                }
                self.head.extend_from_slice(line);
            }
            State::Skip => {}
            State::File => {
                if let Some(f) = self.file.as_mut() {
                    let held = std::mem::replace(&mut f.held_eol, eol);
                    f.raw(held);
                    f.raw(content);
                }
            }
        }
    }

    /// The message ended (end of DATA or the last BDAT chunk).
    pub fn finish(mut self, out: &mut Vec<Found>) -> MimeStats {
        if self.state == State::Head {
            self.head_end(out);
        }
        if let Some(mut f) = self.file.take() {
            // the message's last line end is its own when no boundary follows
            let held = std::mem::take(&mut f.held_eol);
            f.raw(held);
            out.extend(f.finish(&mut self.stats));
        }
        self.stats
    }

    /// `content` (a line starting with `--`) is a delimiter of enclosing multipart `i`
    /// (innermost first): `Some((i, close))`.
    fn boundary(&self, content: &[u8]) -> Option<(usize, bool)> {
        let rest = &content[2..];
        for (i, b) in self.bounds.iter().enumerate().rev() {
            if let Some(after) = rest.strip_prefix(b.as_slice()) {
                let (close, tail) = match after.strip_prefix(b"--") {
                    Some(t) => (true, t),
                    None => (false, after),
                };
                if tail.iter().all(|&c| c == b' ' || c == b'\t') {
                    return Some((i, close));
                }
            }
        }
        None
    }

    fn at_boundary(&mut self, i: usize, close: bool, out: &mut Vec<Found>) {
        if let Some(f) = self.file.take() {
            // the held line end is the delimiter's (RFC 2046 §5.1.1)
            out.extend(f.finish(&mut self.stats));
        }
        self.bounds.truncate(i + 1);
        self.head.clear();
        self.head_cut = false;
        self.top = false;
        if close {
            self.bounds.pop();
            self.state = State::Skip;
        } else {
            self.state = State::Head;
        }
    }

    /// The blank line after an entity's header block: read the block, decide what its body is.
    fn head_end(&mut self, out: &mut Vec<Found>) {
        let head = std::mem::take(&mut self.head);
        self.head_cut = false;
        let top = std::mem::replace(&mut self.top, false);
        self.state = State::Skip;
        // `parse_headers` wants the block's blank line; a cut block may end mid-header
        let mut block = head;
        block.extend_from_slice(b"\r\n");
        let Ok((headers, _)) = mailparse::parse_headers(&block) else {
            return;
        };
        let mut ctype = None;
        let mut disposition = None;
        let mut cte = String::new();
        for h in &headers {
            let key = h.get_key_ref();
            if top
                && ["from", "sender", "reply-to", "to", "cc"]
                    .iter()
                    .any(|k| key.eq_ignore_ascii_case(k))
            {
                if let Ok(list) = mailparse::addrparse_header(h) {
                    // mailparse 0.18 keeps the `,` after a group's `;` (`G: a@b;, c@d`) at the
                    // start of the next address: no address starts with one
                    let addr = |s: &mailparse::SingleInfo| {
                        let a = s
                            .addr
                            .trim_start_matches(|c: char| c == ',' || c.is_whitespace());
                        Found::Address(a.trim_end().to_owned())
                    };
                    for a in list.iter() {
                        match a {
                            mailparse::MailAddr::Single(s) => out.push(addr(s)),
                            mailparse::MailAddr::Group(g) => out.extend(g.addrs.iter().map(addr)),
                        }
                    }
                }
            } else if key.eq_ignore_ascii_case("content-type") && ctype.is_none() {
                ctype = Some(mailparse::parse_content_type(&h.get_value()));
            } else if key.eq_ignore_ascii_case("content-disposition") && disposition.is_none() {
                disposition = Some(mailparse::parse_content_disposition(&h.get_value()));
            } else if key.eq_ignore_ascii_case("content-transfer-encoding") && cte.is_empty() {
                cte = h.get_value().trim().to_ascii_lowercase();
            }
        }
        // RFC 2045 §5.2: no Content-Type is text/plain (mailparse's default too)
        let ctype = ctype.unwrap_or_else(|| mailparse::parse_content_type(""));
        if ctype.mimetype.starts_with("multipart/") {
            let boundary = ctype.params.get("boundary").map(|b| b.as_bytes());
            match boundary {
                Some(b)
                    if !b.is_empty()
                        && b.len() <= MAX_BOUNDARY_LEN
                        && self.bounds.len() < MAX_MIME_DEPTH =>
                {
                    self.bounds.push(b.to_vec());
                }
                Some(_) => self.stats.depth_cap += 1,
                None => {}
            }
            // the preamble, then the first delimiter
            return;
        }
        if ctype.mimetype == "message/rfc822" {
            // an enclosed message: its head follows (its addresses are not the envelope's)
            self.state = State::Head;
            return;
        }
        let attachment = disposition
            .as_ref()
            .is_some_and(|d| d.disposition == mailparse::DispositionType::Attachment);
        let name = disposition
            .as_ref()
            .and_then(|d| d.params.get("filename"))
            .or_else(|| ctype.params.get("name"))
            .filter(|n| !n.is_empty());
        if !(attachment || name.is_some()) || !Hashes::any(self.wants) {
            return;
        }
        let dec = match cte.as_str() {
            "base64" => Decoder::Base64 {
                quad: [0; 4],
                n: 0,
                pad: 0,
            },
            "quoted-printable" => Decoder::Qp(Qp::Plain),
            _ => Decoder::Identity,
        };
        let cut = |s: &str| s.chars().take(MAX_NAME_LEN).collect::<String>();
        self.file = Some(Box::new(File {
            max: self.max_file,
            dec,
            hashes: Hashes::new(self.wants),
            size: 0,
            buf: Vec::new(),
            held_eol: b"",
            too_big: false,
            broken: false,
            meta: FileMeta {
                size: 0,
                name: name.map(|n| cut(n)),
                mime_type: Some(cut(&ctype.mimetype)),
            },
        }));
        self.state = State::File;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(b: &[u8]) -> Vec<u8> {
        <sha2::Sha256 as sha2::Digest>::digest(b).to_vec()
    }

    /// Feed `msg` line by line (and, when `piece` is set, long lines in pieces of that size).
    fn read(msg: &[u8], piece: Option<usize>) -> (Vec<Found>, MimeStats) {
        let mut m = Message::new(Wants::ALL);
        let mut out = Vec::new();
        for line in msg.split_inclusive(|&b| b == b'\n') {
            match piece {
                // pieces as the SMTP reader cuts a long line (boundary lines, short, are
                // never cut): never between CR and LF
                Some(n) if line.len() > 42 => {
                    let (content, eol) = split_eol(line);
                    // the reader's first piece is MAX_PIECE bytes: a field name is in it
                    let (first, rest) = content.split_at(content.len().min(40));
                    let pieces: Vec<&[u8]> = std::iter::once(first).chain(rest.chunks(n)).collect();
                    for (i, p) in pieces.iter().enumerate() {
                        if i + 1 == pieces.len() {
                            m.line(&[p, eol].concat(), i == 0, &mut out);
                        } else {
                            m.line(p, i == 0, &mut out);
                        }
                    }
                }
                _ => m.line(line, true, &mut out),
            }
        }
        let stats = m.finish(&mut out);
        (out, stats)
    }

    fn files(found: &[Found]) -> Vec<(Vec<u8>, FileMeta)> {
        found
            .iter()
            .filter_map(|f| match f {
                Found::File { digests, meta } => digests
                    .iter()
                    .find(|d| d.0 == Token::Sha256)
                    .map(|d| (d.1.clone(), meta.clone())),
                _ => None,
            })
            .collect()
    }

    const MIXED: &[u8] = b"From: \"Doe, J.\" <J.Doe@Example.org> (work)\r\n\
To: a@x.example, Friends: b@y.example, \"c d\" <c@z.example>;, e@v.example\r\n\
Cc: =?utf-8?q?M=C3=BCller?= <mu@w.example>\r\n\
Subject: hi\r\n\
Content-Type: multipart/mixed; boundary=\"==b1\"\r\n\
\r\n\
preamble\r\n\
--==b1\r\n\
Content-Type: text/plain\r\n\
\r\n\
body text, not an attachment\r\n\
--==b1\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
aGVsbG8g\r\n\
d29ybGQ=\r\n\
--==b1\r\n\
Content-Type: text/plain\r\n\
Content-Disposition: attachment; filename*=utf-8''na%C3%AFve.txt\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 soft=\r\n\
break =3D end\r\n\
--==b1--\r\n\
epilogue\r\n";

    #[test]
    fn addresses_of_the_message_headers() {
        let (found, _) = read(MIXED, None);
        let addrs: Vec<_> = found
            .iter()
            .filter_map(|f| match f {
                Found::Address(a) => Some(a.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            addrs,
            [
                "J.Doe@Example.org",
                "a@x.example",
                "b@y.example",
                "c@z.example",
                "e@v.example",
                "mu@w.example"
            ]
        );
    }

    #[test]
    fn attachments_decoded_and_hashed_whatever_the_line_pieces() {
        for piece in [None, Some(1), Some(3), Some(7)] {
            let (found, stats) = read(MIXED, piece);
            let got = files(&found);
            assert_eq!(got.len(), 2, "{piece:?}");
            assert_eq!(got[0].0, sha256(b"hello world"));
            assert_eq!(got[0].1.name.as_deref(), Some("a.bin"));
            assert_eq!(got[0].1.size, 11);
            assert_eq!(
                got[0].1.mime_type.as_deref(),
                Some("application/octet-stream")
            );
            // the line end before the boundary is the boundary's
            assert_eq!(got[1].0, sha256("café softbreak = end".as_bytes()));
            assert_eq!(got[1].1.name.as_deref(), Some("naïve.txt"));
            assert_eq!(stats.attachments, 2);
        }
    }

    #[test]
    fn the_configured_max_file_size_caps_attachments() {
        // 11 bytes ("hello world") fit a cap of 11, the 21-byte second attachment does not
        let mut m = Message::new(Wants::ALL).with_max_file(11);
        let mut out = Vec::new();
        for line in MIXED.split_inclusive(|&b| b == b'\n') {
            m.line(line, true, &mut out);
        }
        let stats = m.finish(&mut out);
        let got = files(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, sha256(b"hello world"));
        assert_eq!(stats.file_cap, 1);
    }

    #[test]
    fn nothing_is_decoded_when_no_digest_is_wanted() {
        let mut m = Message::new(Wants::NONE.with(Token::Email));
        let mut out = Vec::new();
        for line in MIXED.split_inclusive(|&b| b == b'\n') {
            m.line(line, true, &mut out);
        }
        assert_eq!(m.finish(&mut out).attachments, 0);
        assert!(files(&out).is_empty());
    }

    #[test]
    fn broken_base64_is_counted_and_not_hashed() {
        let msg = b"Content-Type: application/zip; name=x.zip\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVs!bG8=\r\n";
        let (found, stats) = read(msg, None);
        assert!(files(&found).is_empty());
        assert_eq!(stats.base64_broken, 1);
        // missing padding is tolerated, as Python does
        let msg = b"Content-Type: application/zip; name=x.zip\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVsbG8\r\n";
        let (found, stats) = read(msg, None);
        assert_eq!(files(&found)[0].0, sha256(b"hello"));
        assert_eq!(stats.base64_broken, 0);
    }

    #[test]
    fn nesting_past_the_cap_is_counted_and_bounded() {
        let mut msg = Vec::new();
        for i in 0..1000 {
            msg.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        msg.extend_from_slice(b"Content-Disposition: attachment; filename=deep\r\n\r\nx\r\n");
        let mut m = Message::new(Wants::ALL);
        let mut out = Vec::new();
        for line in msg.split_inclusive(|&b| b == b'\n') {
            m.line(line, true, &mut out);
            assert!(m.bounds.len() <= MAX_MIME_DEPTH);
        }
        assert!(m.mem() < 64 * 1024);
        let stats = m.finish(&mut out);
        assert_eq!(stats.depth_cap, 1);
        assert!(files(&out).is_empty());
    }

    #[test]
    fn a_huge_head_is_skipped_or_cut_and_counted() {
        let mut m = Message::new(Wants::ALL);
        let mut out = Vec::new();
        m.line(b"To: a@b.example\r\n", true, &mut out);
        // fields not read cost nothing, however many
        for _ in 0..100_000 {
            m.line(b"X-Junk: 0123456789\r\n", true, &mut out);
            m.line(b"\tfolded junk\r\n", true, &mut out);
        }
        assert!(m.mem() < 1024);
        // a read field of 1 MiB, in pieces as the SMTP reader hands it, then 100,000 folds
        m.line(b"Cc: c@d.example,", true, &mut out);
        for _ in 0..256 {
            m.line(&[b'y'; 4096], false, &mut out);
        }
        m.line(b"\r\n", false, &mut out);
        for _ in 0..100_000 {
            m.line(b" e@f.example,\r\n", true, &mut out);
        }
        assert!(m.mem() <= MAX_HEAD_BYTES * 2);
        m.line(b"\r\n", true, &mut out);
        assert_eq!(m.mem(), 0);
        let stats = m.finish(&mut out);
        assert_eq!(stats.head_cap, 1);
        assert_eq!(out[0], Found::Address("a@b.example".into()));
    }

    #[test]
    fn qp_is_decoded_as_binascii_does() {
        let mut msg = b"Content-Disposition: attachment; filename=q\r\n\
Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
            .to_vec();
        let mut want = Vec::new();
        // a long line, so that pieces cut escapes and soft breaks anywhere
        for _ in 0..4 {
            msg.extend_from_slice(b"a=3d=3Db ==x =G1 caf=C3=A9 ");
            want.extend_from_slice("a==b =x =G1 café ".as_bytes());
        }
        msg.extend_from_slice(b"=\r\nc=\n=4\r\n");
        want.extend_from_slice(b"c=4\r\n");
        for piece in [None, Some(1), Some(2), Some(5)] {
            let (found, _) = read(&msg, piece);
            // root part: its last line end is kept; `=4` at the end stays as is
            assert_eq!(files(&found)[0].0, sha256(&want), "{piece:?}");
        }
    }

    #[test]
    fn base64_quanta_straddling_pieces_decode() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut msg = b"Content-Type: application/x; name=b\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        use base64::Engine as _;
        msg.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(&data)
                .as_bytes(),
        );
        msg.extend_from_slice(b"\r\n");
        for piece in [None, Some(1), Some(3), Some(7)] {
            let (found, stats) = read(&msg, piece);
            assert_eq!(
                files(&found),
                vec![(sha256(&data), files(&found)[0].1.clone())]
            );
            assert_eq!(files(&found)[0].1.size, 1000, "{piece:?}");
            assert_eq!(stats.base64_broken, 0);
        }
    }

    /// Found by the `mime` fuzz target: a line of 300 `=` overflowed the padding count.
    #[test]
    fn endless_padding_is_broken_base64_not_a_panic() {
        let mut msg = b"Content-Type: application/x; name=b\r\n\
Content-Transfer-Encoding: base64\r\n\r\nQQ"
            .to_vec();
        msg.extend_from_slice(&[b'='; 300]);
        msg.extend_from_slice(b"\r\n");
        let (found, stats) = read(&msg, None);
        // excess padding ends the data, as Python's lenient decoding reads it: `A`
        assert_eq!(files(&found)[0].0, sha256(b"A"));
        assert_eq!(stats.base64_broken, 0);
        // data after the padding is broken
        msg.extend_from_slice(b"QUFB\r\n");
        let (found, stats) = read(&msg, None);
        assert!(files(&found).is_empty());
        assert_eq!(stats.base64_broken, 1);
    }
}
