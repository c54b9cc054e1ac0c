//! The client's side of an SMTP session (RFC 5321), read as a stream: envelope addresses
//! (`MAIL FROM`, `RCPT TO`), each message's content after `DATA` (dot-unstuffed, ended by
//! `CRLF.CRLF`, §4.5.2) or in `BDAT` chunks (RFC 3030 CHUNKING), handed to the MIME reader
//! ([`super::mime`]) line by line, and `STARTTLS` (RFC 3207), after which the client speaks TLS.
//!
//! Only the client's direction is read: a client sends message content only after the server's
//! 354, so what follows `DATA` is the message, except when the server refused it (no valid
//! recipient, RFC 2920 §3.1 pipelining lets the client send `DATA` before knowing): then the
//! client goes on with commands. A "message" whose first line is `RSET`, `QUIT`, `NOOP`,
//! `HELO`, `EHLO` or `MAIL FROM:` (no header line looks like that) is taken as such a refusal
//! (counted as `smtp_data_refused`) and read as commands. PIPELINING needs nothing else:
//! commands are read in order whatever segments carry them.
//!
//! Bounds: a command line of [`MAX_COMMAND_LINE`], a message of [`MAX_MESSAGE_SIZE`] (a
//! direction past either is given up, counted); message lines are handed on in pieces of at
//! most [`MAX_PIECE`] bytes, so a line with no end costs no memory; the MIME reader bounds the
//! rest.

use memchr::memchr;

use super::mime::{Found, Message, MimeStats};
use crate::observe::{FileMeta, Token, Wants, Where};

/// Longest command line read, with its CRLF. RFC 5321 §4.5.3.1.4 sets 512 octets and lets
/// extensions raise it; an `AUTH XOAUTH2` line carries a ~2 KB token, and Postfix reads
/// command lines up to `line_length_limit` (2048). 4096 keeps every real client's line; a
/// longer one gives the direction up (counted as `smtp_line_cap`).
pub const MAX_COMMAND_LINE: usize = 4096;

/// Largest message read (bytes of content after `DATA` or in `BDAT` chunks): the base64 form of
/// a [`super::mime::MAX_FILE_SIZE`] attachment (4/3 of it plus line ends, about 87 MiB) with room for
/// the rest of the message. Past it (a `DATA` that never ends, a huge `BDAT`) the direction is
/// given up (counted as `smtp_data_cap`).
pub const MAX_MESSAGE_SIZE: u64 = 100 << 20;

/// A message line longer than this (RFC 5321 §4.5.3.1.6 allows 1000 octets with CRLF) is
/// handed to the MIME reader in pieces rather than waited for whole.
pub const MAX_PIECE: usize = 4096;

/// Most recipients read per message (RFC 5321 §4.5.3.1.8 requires servers to take 100; Postfix's
/// `smtpd_recipient_limit` is 1000). Further `RCPT TO` addresses are not read (counted as
/// `smtp_rcpt_cap`).
pub const MAX_RECIPIENTS: usize = 1000;

/// What the reader counts; the caller takes and adds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpStats {
    /// Messages read to their end (`CRLF.CRLF` or `BDAT ... LAST`).
    pub messages: u64,
    /// `DATA` taken as refused: commands followed it.
    pub data_refused: u64,
    /// `STARTTLS` commands (the stream after them is TLS).
    pub starttls: u64,
    /// Command lines over [`MAX_COMMAND_LINE`].
    pub line_cap: u64,
    /// Messages over [`MAX_MESSAGE_SIZE`].
    pub data_cap: u64,
    /// Recipients over [`MAX_RECIPIENTS`] not read.
    pub rcpt_cap: u64,
    pub mime: MimeStats,
}

impl SmtpStats {
    fn add_mime(&mut self, m: MimeStats) {
        self.mime.attachments += m.attachments;
        self.mime.head_cap += m.head_cap;
        self.mime.depth_cap += m.depth_cap;
        self.mime.base64_broken += m.base64_broken;
        self.mime.file_cap += m.file_cap;
    }
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An address as written (`local@domain`), and where: `SmtpMailFrom`, `SmtpRcptTo` or
    /// `SmtpHeader`.
    Address(Where, String),
    /// An attachment's digests and what is known of it.
    File {
        digests: Vec<(Token, Vec<u8>)>,
        meta: FileMeta,
    },
}

/// What [`Session::feed`] did with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `used` bytes are read; call again once `need` bytes (after them) are there.
    More { used: usize, need: usize },
    /// A `STARTTLS` line ended at `used`: what follows is TLS.
    StartTls { used: usize },
    /// A bound was passed (counted): stop reading.
    Done,
}

/// Where the session is.
#[derive(Debug)]
enum Mode {
    Command,
    /// After `DATA`; `start`: the next byte starts a line; `first`: no line read yet.
    Data {
        msg: Box<Message>,
        start: bool,
        first: bool,
    },
    /// Inside a `BDAT` chunk of `left` more bytes; `cr`: a piece handed on ended with a CR
    /// held back (a line end may straddle two chunks).
    Bdat {
        msg: Box<Message>,
        left: u64,
        last: bool,
        start: bool,
        cr: bool,
    },
    /// Between `BDAT` chunks of one message.
    BdatNext {
        msg: Box<Message>,
        start: bool,
        cr: bool,
    },
}

/// One client direction of an SMTP session.
#[derive(Debug)]
pub struct Session {
    mode: Mode,
    wants: Wants,
    /// Largest attachment hashed (see [`Message::with_max_file`]).
    max_file: u64,
    /// Content bytes of the current message.
    size: u64,
    rcpts: usize,
    pub stats: SmtpStats,
}

/// The first bytes of a client direction: `EHLO`/`HELO`/`LHLO` (RFC 5321 §4.1.1.1, RFC 2033),
/// or `MAIL FROM:` (a session picked up after its greeting). `None`: too few bytes to tell.
pub fn may_be_client(data: &[u8]) -> Option<bool> {
    const STARTS: [&[u8]; 4] = [b"EHLO ", b"HELO ", b"LHLO ", b"MAIL FROM:"];
    let mut short = false;
    for s in STARTS {
        let n = data.len().min(s.len());
        if data[..n].eq_ignore_ascii_case(&s[..n]) {
            if n == s.len() {
                return Some(true);
            }
            short = true;
        }
    }
    if short {
        None
    } else {
        Some(false)
    }
}

/// The argument of `verb` (`MAIL FROM:`, `RCPT TO:`) in `line`, case-insensitive.
fn after<'a>(line: &'a [u8], verb: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..verb.len())?;
    head.eq_ignore_ascii_case(verb).then(|| &line[verb.len()..])
}

/// The mailbox of a `MAIL FROM:`/`RCPT TO:` argument (RFC 5321 §4.1.2 `Path`): the text in
/// `<...>` (a quoted local part may hold `>`), a source route (`@a,@b:`) dropped, ESMTP
/// parameters after it ignored; a bare address (no brackets, a common leniency) up to a space.
/// `None` for the null path `<>`.
pub fn path_address(arg: &[u8]) -> Option<&[u8]> {
    let arg = trim(arg);
    let inner = if let Some(rest) = arg.strip_prefix(b"<") {
        let mut quoted = false;
        let mut end = None;
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'>' if !quoted => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        &rest[..end?]
    } else {
        let end = arg.iter().position(|&c| c == b' ').unwrap_or(arg.len());
        &arg[..end]
    };
    let inner = match inner.first() {
        Some(b'@') => &inner[inner.iter().position(|&c| c == b':')? + 1..],
        _ => inner,
    };
    (!inner.is_empty()).then_some(inner)
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e]
}

/// `BDAT <size> [LAST]` (RFC 3030 §2).
fn bdat(line: &[u8]) -> Option<(u64, bool)> {
    let rest = after(line, b"BDAT ")?;
    let mut words = rest
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let size = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    let last = words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"LAST"));
    Some((size, last))
}

/// A line that can only be a command: the client went on after a refused `DATA`.
fn is_command(line: &[u8]) -> bool {
    let l = trim(line);
    [&b"RSET"[..], b"QUIT", b"NOOP"]
        .iter()
        .any(|c| l.eq_ignore_ascii_case(c))
        || [&b"MAIL FROM:"[..], b"HELO ", b"EHLO "]
            .iter()
            .any(|c| after(l, c).is_some())
}

impl Session {
    /// A session whose attachments over `bytes` (decoded) are not hashed.
    pub fn with_max_file(mut self, bytes: u64) -> Session {
        self.max_file = bytes;
        self
    }

    pub fn new(wants: Wants) -> Session {
        Session {
            mode: Mode::Command,
            wants,
            max_file: super::mime::MAX_FILE_SIZE,
            size: 0,
            rcpts: 0,
            stats: SmtpStats::default(),
        }
    }

    /// Bytes held by the session's state (beyond the reassembly buffer).
    pub fn mem(&self) -> usize {
        match &self.mode {
            Mode::Command => 0,
            Mode::Data { msg, .. } | Mode::Bdat { msg, .. } | Mode::BdatNext { msg, .. } => {
                msg.mem()
            }
        }
    }

    /// Read the contiguous client bytes `data` (from the first one not yet used).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Event>) -> Feed {
        let mut pos = 0;
        let mut found = Vec::new();
        loop {
            let step = match std::mem::replace(&mut self.mode, Mode::Command) {
                Mode::Command => self.command(data, &mut pos, out),
                Mode::Data { msg, start, first } => {
                    self.data(msg, start, first, data, &mut pos, &mut found)
                }
                Mode::Bdat {
                    msg,
                    left,
                    last,
                    start,
                    cr,
                } => self.bdat_chunk(msg, left, last, start, cr, data, &mut pos, &mut found),
                Mode::BdatNext { msg, start, cr } => {
                    // between chunks: the next command, which should be BDAT
                    self.mode = Mode::BdatNext { msg, start, cr };
                    self.command(data, &mut pos, out)
                }
            };
            out.extend(found.drain(..).map(|f| match f {
                Found::Address(a) => Event::Address(Where::SmtpHeader, a),
                Found::File { digests, meta } => Event::File { digests, meta },
            }));
            if let Some(f) = step {
                return f;
            }
        }
    }

    /// One command line at `pos`; `None`: go on from the new `pos` in the new mode.
    fn command(&mut self, data: &[u8], pos: &mut usize, out: &mut Vec<Event>) -> Option<Feed> {
        let rest = &data[*pos..];
        let Some(i) = memchr(b'\n', rest) else {
            if rest.len() >= MAX_COMMAND_LINE {
                self.stats.line_cap += 1;
                return Some(Feed::Done);
            }
            return Some(Feed::More {
                used: *pos,
                need: rest.len() + 1,
            });
        };
        if i >= MAX_COMMAND_LINE {
            self.stats.line_cap += 1;
            return Some(Feed::Done);
        }
        let line = trim(&rest[..i]);
        *pos += i + 1;
        self.command_line(line, out);
        match self.mode {
            Mode::Command if line.eq_ignore_ascii_case(b"STARTTLS") => {
                self.stats.starttls += 1;
                Some(Feed::StartTls { used: *pos })
            }
            _ => None,
        }
    }

    fn command_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
        // a message between BDAT chunks ends with anything but BDAT (RSET, or a broken client)
        let pending = match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::BdatNext { msg, start, cr } => Some((msg, start, cr)),
            other => {
                self.mode = other;
                None
            }
        };
        if let Some(arg) = after(line, b"MAIL FROM:") {
            self.rcpts = 0;
            if let Some(a) = path_address(arg) {
                out.push(Event::Address(Where::SmtpMailFrom, text(a)));
            }
        } else if let Some(arg) = after(line, b"RCPT TO:") {
            self.rcpts += 1;
            if self.rcpts > MAX_RECIPIENTS {
                self.stats.rcpt_cap += 1;
            } else if let Some(a) = path_address(arg) {
                out.push(Event::Address(Where::SmtpRcptTo, text(a)));
            }
        } else if line.eq_ignore_ascii_case(b"DATA") {
            self.size = 0;
            self.mode = Mode::Data {
                msg: Box::new(Message::new(self.wants).with_max_file(self.max_file)),
                start: true,
                first: true,
            };
        } else if let Some((size, last)) = bdat(line) {
            let (msg, start, cr) = match pending {
                Some(p) => p,
                None => {
                    self.size = 0;
                    (
                        Box::new(Message::new(self.wants).with_max_file(self.max_file)),
                        true,
                        false,
                    )
                }
            };
            self.mode = Mode::Bdat {
                msg,
                left: size,
                last,
                start,
                cr,
            };
            return;
        }
        if let Some((msg, ..)) = pending {
            // the chunked message was abandoned: what it held is not trusted
            let mut ignored = Vec::new();
            let stats = msg.finish(&mut ignored);
            self.stats.add_mime(MimeStats {
                attachments: 0,
                ..stats
            });
        }
    }

    /// Message content after `DATA`, line by line.
    fn data(
        &mut self,
        mut msg: Box<Message>,
        mut start: bool,
        mut first: bool,
        data: &[u8],
        pos: &mut usize,
        found: &mut Vec<Found>,
    ) -> Option<Feed> {
        loop {
            let rest = &data[*pos..];
            let line = match memchr(b'\n', rest) {
                Some(i) => &rest[..=i],
                None if rest.len() >= MAX_PIECE => {
                    // a long line: hand it on in pieces, a final CR kept for its LF
                    let n = rest.len() - usize::from(rest.ends_with(b"\r"));
                    let piece = &rest[..n];
                    let piece = match (start, piece.first()) {
                        (true, Some(b'.')) => &piece[1..],
                        _ => piece,
                    };
                    if !self.grow(n) {
                        return Some(Feed::Done);
                    }
                    msg.line(piece, start, found);
                    *pos += n;
                    start = false;
                    first = false;
                    continue;
                }
                None => {
                    self.mode = Mode::Data { msg, start, first };
                    return Some(Feed::More {
                        used: *pos,
                        need: rest.len() + 1,
                    });
                }
            };
            if start && (line == b".\r\n" || line == b".\n") {
                *pos += line.len();
                self.stats.messages += 1;
                let stats = msg.finish(found);
                self.stats.add_mime(stats);
                return None;
            }
            if first && is_command(line) {
                // DATA was refused: this line is a command (read from here in command mode)
                self.stats.data_refused += 1;
                return None;
            }
            *pos += line.len();
            if !self.grow(line.len()) {
                return Some(Feed::Done);
            }
            let l = match (start, line.first()) {
                (true, Some(b'.')) => &line[1..],
                _ => line,
            };
            msg.line(l, start, found);
            start = true;
            first = false;
        }
    }

    /// Count `n` more content bytes; false (counted) past [`MAX_MESSAGE_SIZE`].
    fn grow(&mut self, n: usize) -> bool {
        self.size += n as u64;
        if self.size > MAX_MESSAGE_SIZE {
            self.stats.data_cap += 1;
            false
        } else {
            true
        }
    }

    /// Bytes of a `BDAT` chunk: binary, no dot-stuffing, lines may straddle chunks.
    #[allow(clippy::too_many_arguments)]
    fn bdat_chunk(
        &mut self,
        mut msg: Box<Message>,
        mut left: u64,
        last: bool,
        mut start: bool,
        mut cr: bool,
        data: &[u8],
        pos: &mut usize,
        found: &mut Vec<Found>,
    ) -> Option<Feed> {
        if left > MAX_MESSAGE_SIZE {
            self.stats.data_cap += 1;
            return Some(Feed::Done);
        }
        loop {
            let avail = (data.len() - *pos).min(usize::try_from(left).unwrap_or(usize::MAX));
            let chunk = &data[*pos..*pos + avail];
            if cr && !chunk.is_empty() {
                // the CR held back ends a line when an LF follows, else it is content
                cr = false;
                if chunk[0] == b'\n' {
                    msg.line(b"\r\n", start, found);
                    *pos += 1;
                    left -= 1;
                    start = true;
                    continue;
                }
                msg.line(b"\r", start, found);
                start = false;
            }
            let n = match memchr(b'\n', chunk) {
                Some(i) => i + 1,
                // the chunk's end, or a long line: a piece, its final CR held
                None if avail as u64 == left || avail >= MAX_PIECE => avail,
                None => {
                    self.mode = Mode::Bdat {
                        msg,
                        left,
                        last,
                        start,
                        cr,
                    };
                    return Some(Feed::More {
                        used: *pos,
                        need: avail + 1,
                    });
                }
            };
            if n > 0 {
                let mut piece = &chunk[..n];
                let whole = piece.ends_with(b"\n");
                if !whole && piece.ends_with(b"\r") {
                    piece = &piece[..n - 1];
                    cr = true;
                }
                if !self.grow(n) {
                    return Some(Feed::Done);
                }
                if !piece.is_empty() {
                    msg.line(piece, start, found);
                }
                start = whole || (start && piece.is_empty());
                *pos += n;
                left -= n as u64;
            }
            if left == 0 {
                if last {
                    if cr {
                        msg.line(b"\r", start, found);
                    }
                    self.stats.messages += 1;
                    let stats = msg.finish(found);
                    self.stats.add_mime(stats);
                } else {
                    self.mode = Mode::BdatNext { msg, start, cr };
                }
                return None;
            }
            if n == 0 {
                self.mode = Mode::Bdat {
                    msg,
                    left,
                    last,
                    start,
                    cr,
                };
                return Some(Feed::More {
                    used: *pos,
                    need: 1,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(s: &mut Session, stream: &[u8], seg: usize) -> (Vec<Event>, Option<usize>) {
        // a table-like driver: keep unused bytes, append the next segment
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for c in stream.chunks(seg) {
            buf.extend_from_slice(c);
            match s.feed(&buf, &mut out) {
                Feed::More { used, need } => {
                    buf.drain(..used);
                    assert!(need <= MAX_COMMAND_LINE.max(MAX_PIECE) + 1);
                }
                Feed::StartTls { used } => return (out, Some(used)),
                Feed::Done => return (out, None),
            }
        }
        (out, None)
    }

    fn addrs(ev: &[Event]) -> Vec<(Where, &str)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Address(w, a) => Some((*w, a.as_str())),
                _ => None,
            })
            .collect()
    }

    const SESSION: &[u8] = b"EHLO client.example\r\n\
MAIL FROM:<Alice@Example.ORG> SIZE=120 BODY=8BITMIME\r\n\
RCPT TO:<@relay.example:bob@b.example>\r\n\
RCPT TO: <\"odd>name\"@c.example> NOTIFY=NEVER\r\n\
DATA\r\n\
From: Alice <alice@example.org>\r\n\
To: bob@b.example\r\n\
Subject: x\r\n\
\r\n\
..leading dot\r\n\
.\r\n\
MAIL FROM:<>\r\n\
RCPT TO:<postmaster@d.example>\r\n\
DATA\r\n\
Cc: Carol <carol@e.example>\r\n\
\r\n\
hi\r\n\
.\r\n\
QUIT\r\n";

    #[test]
    fn envelope_and_header_addresses_of_every_message_whatever_the_segments() {
        for seg in [1, 2, 7, 64, SESSION.len()] {
            let mut s = Session::new(Wants::ALL);
            let (ev, _) = feed_all(&mut s, SESSION, seg);
            assert_eq!(
                addrs(&ev),
                vec![
                    (Where::SmtpMailFrom, "Alice@Example.ORG"),
                    (Where::SmtpRcptTo, "bob@b.example"),
                    (Where::SmtpRcptTo, "\"odd>name\"@c.example"),
                    (Where::SmtpHeader, "alice@example.org"),
                    (Where::SmtpHeader, "bob@b.example"),
                    (Where::SmtpRcptTo, "postmaster@d.example"),
                    (Where::SmtpHeader, "carol@e.example"),
                ],
                "{seg}"
            );
            assert_eq!(s.stats.messages, 2);
        }
    }

    #[test]
    fn refused_data_goes_back_to_commands() {
        let stream = b"EHLO x\r\nMAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\n\
RSET\r\nMAIL FROM:<c@c.example>\r\n";
        let mut s = Session::new(Wants::ALL);
        let (ev, _) = feed_all(&mut s, stream, 5);
        assert_eq!(
            addrs(&ev).last(),
            Some(&(Where::SmtpMailFrom, "c@c.example"))
        );
        assert_eq!(s.stats.data_refused, 1);
    }

    #[test]
    fn bdat_chunks_make_one_message() {
        let msg = b"To: z@z.example\r\nContent-Disposition: attachment; filename=f\r\n\r\nline one\r\nline two\r\n";
        let (a, b) = msg.split_at(msg.len() - 11); // a CRLF straddles the chunks
        let mut stream = b"EHLO x\r\nMAIL FROM:<a@a.example>\r\n".to_vec();
        stream.extend_from_slice(format!("BDAT {}\r\n", a.len()).as_bytes());
        stream.extend_from_slice(a);
        stream.extend_from_slice(format!("BDAT {} LAST\r\n", b.len()).as_bytes());
        stream.extend_from_slice(b);
        stream.extend_from_slice(b"QUIT\r\n");
        for seg in [1, 3, 1000] {
            let mut s = Session::new(Wants::ALL);
            let (ev, _) = feed_all(&mut s, &stream, seg);
            assert!(addrs(&ev).contains(&(Where::SmtpHeader, "z@z.example")));
            let file = ev.iter().find_map(|e| match e {
                Event::File { digests, meta } => Some((digests.clone(), meta.clone())),
                _ => None,
            });
            let (digests, meta) = file.expect("attachment");
            let want: Vec<u8> =
                <sha2::Sha256 as sha2::Digest>::digest(b"line one\r\nline two\r\n").to_vec();
            assert!(digests.contains(&(Token::Sha256, want)), "{seg}");
            assert_eq!(meta.name.as_deref(), Some("f"));
            assert_eq!(s.stats.messages, 1);
        }
    }

    #[test]
    fn starttls_ends_the_plaintext() {
        let stream = b"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01";
        let mut s = Session::new(Wants::ALL);
        let (_, at) = feed_all(&mut s, stream, stream.len());
        assert_eq!(at, Some(18));
        assert_eq!(s.stats.starttls, 1);
    }

    #[test]
    fn a_command_line_without_end_is_given_up() {
        let mut stream = b"EHLO x\r\n".to_vec();
        stream.extend(std::iter::repeat_n(b'A', 100_000));
        let mut s = Session::new(Wants::ALL);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut done = false;
        for c in stream.chunks(1000) {
            buf.extend_from_slice(c);
            match s.feed(&buf, &mut out) {
                Feed::More { used, need } => {
                    buf.drain(..used);
                    assert!(need <= MAX_COMMAND_LINE + 1);
                }
                Feed::Done => {
                    done = true;
                    break;
                }
                Feed::StartTls { .. } => unreachable!(),
            }
        }
        assert!(done);
        assert_eq!(s.stats.line_cap, 1);
    }

    #[test]
    fn data_with_no_end_and_endless_lines_stays_bounded() {
        let mut s = Session::new(Wants::ALL);
        let mut out = Vec::new();
        assert!(matches!(
            s.feed(b"EHLO x\r\nDATA\r\nSubject: y\r\n\r\n", &mut out),
            Feed::More { .. }
        ));
        // a line with no end, 1 MiB at a time: eaten in pieces, nothing kept
        let junk = vec![b'x'; MAX_PIECE + 10];
        let mut total = 0u64;
        loop {
            match s.feed(&junk, &mut out) {
                Feed::More { used, need } => {
                    assert_eq!(used, junk.len());
                    assert_eq!(need, 1);
                    assert!(s.mem() < 1024);
                    total += used as u64;
                }
                Feed::Done => break,
                Feed::StartTls { .. } => unreachable!(),
            }
        }
        assert!(total <= MAX_MESSAGE_SIZE);
        assert_eq!(s.stats.data_cap, 1);
    }

    #[test]
    fn probe_reads_greetings_of_clients_only() {
        assert_eq!(may_be_client(b"EHLO mx"), Some(true));
        assert_eq!(may_be_client(b"helo mx"), Some(true));
        assert_eq!(may_be_client(b"mail from:<a@b>"), Some(true));
        assert_eq!(may_be_client(b"EHL"), None);
        assert_eq!(may_be_client(b"GET / HTTP/1.1"), Some(false));
        assert_eq!(may_be_client(b"220 mx ESMTP"), Some(false));
        assert_eq!(may_be_client(b"EHLOX"), Some(false));
    }

    #[test]
    fn paths() {
        assert_eq!(path_address(b"<>"), None);
        assert_eq!(path_address(b" <a@b> SIZE=1"), Some(&b"a@b"[..]));
        assert_eq!(path_address(b"a@b SIZE=1"), Some(&b"a@b"[..]));
        assert_eq!(path_address(b"<@x,@y:a@b>"), Some(&b"a@b"[..]));
        assert_eq!(path_address(b"<a@b"), None);
    }
}
