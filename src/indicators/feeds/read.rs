//! Reading a feed file: the whole file as text, bounded by [`MAX_FEED_BYTES`] so a wrong path
//! cannot exhaust memory, with bytes that are not UTF-8 replaced so they spoil only their own
//! entry, and lines of line-based formats cut at [`MAX_LINE_BYTES`] + 1 as they are read; and,
//! for a plain feed, a clamped estimate of its size from samples so the set's tables are sized
//! once. Contract: `Err` is a message for the feed's report, never a panic.

use std::io::Read;
use std::path::Path;

use crate::indicators::formats::MAX_LINE_BYTES;

/// Largest feed file read. A 1M-domain feed is about 30 MB; this leaves room for a 10M-entry
/// feed while keeping a wrong path (a device, a disk image, `/dev/zero`) from exhausting memory.
pub const MAX_FEED_BYTES: u64 = 1024 * 1024 * 1024;

/// Open a feed file for reading, refusing anything but a regular file: the open does not block
/// (`O_NONBLOCK`: a FIFO with no writer would hang it) and `fstat` on the open descriptor says
/// what it is (no race with a path swapped after a check). A FIFO, a device or a directory
/// where a feed should be is an error naming what it is (issue 11: a FIFO feed hung reloads).
/// Running as root, the last component must not be a symlink (`O_NOFOLLOW`).
pub fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    let mut flags = nix::fcntl::OFlag::O_NONBLOCK;
    let root = nix::unistd::geteuid().is_root();
    if root {
        // Root reading a path someone else may control: a planted symlink to a root-only
        // file would print its lines into the log as bad entries (issue 11).
        flags |= nix::fcntl::OFlag::O_NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
        .map_err(|e| {
            if root && e.raw_os_error() == Some(nix::libc::ELOOP) {
                "cannot read: a symlink, refused while running as root; name the file itself"
                    .to_owned()
            } else {
                format!("cannot read: {e}")
            }
        })?;
    let t = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .file_type();
    if t.is_file() {
        return Ok(file);
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    Err(format!("cannot read: {what}, not a regular file"))
}

/// Bytes read from a feed file at a time.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// The whole file as text, bounded by [`MAX_FEED_BYTES`]. Bytes that are not UTF-8 become
/// U+FFFD, which spoils only their entry.
///
/// With `line_based` (plain, csv, zeek, misp_csv), a line over [`MAX_LINE_BYTES`] is cut to its
/// first `MAX_LINE_BYTES + 1` bytes as it is read: the parser still sees it is too long and
/// reports it at its line, but the rest of it is never held, so refusing a 1 GiB line costs a
/// read of the file and 16 KiB of memory, not 1 GiB (issue "nothing lost, nothing escalated").
pub(super) fn read_text(path: &Path, line_based: bool) -> Result<String, String> {
    let mut file = open_regular(path)?.take(MAX_FEED_BYTES + 1);
    // sized from the metadata to avoid regrowing (pages never written cost no memory); a file
    // known to be too large is refused before it is read, and the `take` above bounds one that
    // grows while it is read
    let size = file.get_ref().metadata().map_or(0, |m| m.len());
    if size > MAX_FEED_BYTES {
        return Err(format!("larger than {MAX_FEED_BYTES} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    let mut total = 0usize;
    if line_based {
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        // bytes of the current line seen so far, whether kept or not
        let mut line_len = 0usize;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot read: {e}")),
            };
            total += n;
            let mut rest = buf.get(..n).unwrap_or_default();
            while !rest.is_empty() {
                let (piece, next) = match memchr::memchr(b'\n', rest) {
                    Some(i) => (&rest[..=i], &rest[i + 1..]),
                    None => (rest, &[][..]),
                };
                let body = piece.len() - usize::from(piece.last() == Some(&b'\n'));
                // keep at most MAX_LINE_BYTES + 1 bytes of the line, and its `\n`
                let room = (MAX_LINE_BYTES + 1).saturating_sub(line_len);
                bytes.extend_from_slice(&piece[..body.min(room)]);
                if body < piece.len() {
                    bytes.push(b'\n');
                    line_len = 0;
                } else {
                    line_len += body;
                }
                rest = next;
            }
        }
    } else {
        total = file
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read: {e}"))?;
    }
    if total as u64 > MAX_FEED_BYTES {
        return Err(format!("larger than {MAX_FEED_BYTES} bytes"));
    }
    if let Some(why) = not_text(bytes.get(..TEXT_SNIFF_BYTES).unwrap_or(&bytes)) {
        return Err(format!("not a text feed: {why}"));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Bytes at the start of a feed looked at to tell a text file from a binary one.
const TEXT_SNIFF_BYTES: usize = 8 * 1024;

/// Invalid UTF-8 bytes, as a fraction of [`TEXT_SNIFF_BYTES`], above which a file is not text: a
/// Latin-1 feed has a few (each spoils its own entry), random or compressed bytes about half.
const MAX_INVALID_UTF8_RATIO: f64 = 0.1;

/// Why `head`, the start of a feed file, is not text, if it is not: a known compressed or
/// binary format by its magic number, UTF-16, a NUL byte, or mostly invalid UTF-8. Such a file
/// would otherwise be reported as hundreds of bad entries of mojibake.
pub(super) fn not_text(head: &[u8]) -> Option<String> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "gzip-compressed: decompress it first (gunzip)"),
        (
            b"PK\x03\x04",
            "a zip archive: extract the feed from it first",
        ),
        (b"BZh", "bzip2-compressed: decompress it first (bunzip2)"),
        (b"\xfd7zXZ\x00", "xz-compressed: decompress it first (unxz)"),
        (
            b"\x28\xb5\x2f\xfd",
            "zstd-compressed: decompress it first (unzstd)",
        ),
        (b"\x7fELF", "an ELF executable"),
        (b"\xd4\xc3\xb2\xa1", "a pcap capture"),
        (b"\xa1\xb2\xc3\xd4", "a pcap capture"),
        (b"\x0a\x0d\x0d\x0a", "a pcapng capture"),
        (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
        (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return Some((*what).to_owned());
    }
    if let Some(at) = memchr::memchr(0, head) {
        return Some(format!("binary data (a NUL byte at offset {at})"));
    }
    let invalid: usize = head.utf8_chunks().map(|c| c.invalid().len()).sum();
    if invalid as f64 > head.len() as f64 * MAX_INVALID_UTF8_RATIO {
        return Some(format!(
            "binary data ({invalid} of the first {} bytes are not UTF-8)",
            head.len()
        ));
    }
    None
}

/// Most indicators, names or name bytes an estimate asks the set to reserve room for: 16M is
/// above the largest feeds seen (a few million names); past it the tables grow by doubling,
/// which is slower but correct. Without it a small sample could ask for any size.
pub(super) const MAX_ESTIMATED_ENTRIES: usize = 1 << 24;

/// Sample windows read by [`estimate`] and the bytes in each: spread over the whole text, so a
/// file cannot look like a dense list in its first 64 KiB and be a comment after it.
const ESTIMATE_WINDOWS: usize = 16;
const ESTIMATE_WINDOW_BYTES: usize = 4 * 1024;

/// (lines, names, name bytes) of a plain feed, extrapolated from [`ESTIMATE_WINDOWS`] windows
/// spread over it, to size the set's tables and arena once: growing them by doubling copies
/// them and, for a while, holds both copies. Clamped by what the text could hold (a name line
/// is at least 2 bytes, name bytes are at most the text) and by [`MAX_ESTIMATED_ENTRIES`], so a
/// pathological file cannot reserve huge tables.
pub(super) fn estimate(text: &str) -> (usize, usize, usize) {
    let (mut lines, mut names, mut bytes, mut sampled) = (0usize, 0usize, 0usize, 0usize);
    let mut count = |sample: &str, sampled: &mut usize| {
        *sampled += sample.len();
        for l in sample.lines() {
            lines += 1;
            if l.bytes().any(|b| b.is_ascii_alphabetic()) && !l.contains(':') && !l.starts_with('#')
            {
                names += 1;
                bytes += l.trim().len();
            }
        }
    };
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    if text.len() <= ESTIMATE_WINDOWS * ESTIMATE_WINDOW_BYTES {
        count(text, &mut sampled);
    } else {
        let step = text.len() / ESTIMATE_WINDOWS;
        for w in 0..ESTIMATE_WINDOWS {
            // whole lines from the first line start at or after the window's start
            let at = floor(w * step);
            let start = match text.get(at..).and_then(|t| t.find('\n')) {
                Some(i) if w > 0 => at + i + 1,
                _ => at,
            };
            let limit = floor((at + ESTIMATE_WINDOW_BYTES).min(text.len()));
            match text
                .get(start.min(limit)..limit)
                .and_then(|t| t.rfind('\n'))
            {
                Some(i) => count(
                    text.get(start..start + i + 1).unwrap_or_default(),
                    &mut sampled,
                ),
                // the window is inside one line: its bytes hold no more than that line
                None => sampled += limit - at,
            }
        }
    }
    if lines == 0 || sampled == 0 {
        return (0, 0, 0);
    }
    let scale = |n: usize| (n as f64 * text.len() as f64 / sampled as f64) as usize;
    let could_hold = text.len() / 2 + 1;
    let cap = |n: usize, most: usize| n.min(most).min(MAX_ESTIMATED_ENTRIES);
    (
        cap(scale(lines), could_hold),
        cap(scale(names), could_hold),
        cap(scale(bytes), text.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn a_fifo_or_directory_feed_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.txt");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = super::open_regular(&fifo).unwrap_err();
        assert!(e.contains("a FIFO"), "{e}");
        let e = super::open_regular(dir.path()).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
    }

    #[test]
    fn a_long_line_is_cut_as_it_is_read_and_reported_at_its_line() {
        use crate::indicators::formats::MAX_LINE_BYTES;
        let dir = tempfile::tempdir().unwrap();
        let mut text = b"a.com\n".to_vec();
        // over several read chunks, with a `\n` inside the last one
        text.extend(std::iter::repeat_n(b'x', 3 * super::READ_CHUNK_BYTES + 17));
        text.extend_from_slice(b"\nb.com\n");
        text.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1)); // no final newline
        let feed = write_feed(dir.path(), "f.txt", &text);
        let read = super::read_text(&feed.path, true).unwrap();
        let lines: Vec<usize> = read.lines().map(str::len).collect();
        assert_eq!(lines, [5, MAX_LINE_BYTES + 1, 5, MAX_LINE_BYTES + 1]);
        // JSON formats are read whole
        assert_eq!(
            super::read_text(&feed.path, false).unwrap().len(),
            text.len()
        );
        let mut feed = feed;
        feed.max_bad_ratio = 1.0;
        let (set, report) = build_set_t(&[feed]).unwrap();
        assert_eq!(set.len(), 2);
        let at: Vec<&str> = report.feeds[0]
            .errors
            .iter()
            .map(|e| e.at.as_str())
            .collect();
        assert_eq!(at, ["2", "4"]);
        assert_eq!(
            report.feeds[0].errors[0].reason,
            format!("line longer than {MAX_LINE_BYTES} bytes")
        );
    }

    #[test]
    fn estimate_is_not_inflated_by_names_before_a_huge_comment() {
        let names: String = (0..32_768).map(|i| format!("n{i}.io\n")).collect();
        // one 8 MiB comment line, or the same as many short comment lines
        for comment in [
            format!("# {}\n", "x".repeat(8 << 20)),
            "# a comment line\n".repeat(8 << 16),
        ] {
            let text = names.clone() + &comment;
            let (lines, n, bytes) = super::estimate(&text);
            // extrapolating the first 64 KiB said 4.3M; the windows that fall in the comment
            // say it is mostly not names
            assert!(n <= 4 * 32_768, "{n} names estimated");
            assert!(bytes <= text.len() && lines <= text.len() / 2 + 1);
        }
        // a uniform feed is still estimated closely
        let text: String = (0..200_000).map(|i| format!("host{i}.example\n")).collect();
        let (lines, n, _) = super::estimate(&text);
        assert!((180_000..220_000).contains(&n), "{n}");
        assert!((180_000..220_000).contains(&lines), "{lines}");
    }

    #[test]
    fn estimate_is_clamped_to_what_the_text_could_hold_and_a_maximum() {
        let (lines, n, bytes) = super::estimate("a\n");
        assert_eq!((lines, n, bytes), (1, 1, 1));
        let text = "a\n".repeat(super::MAX_ESTIMATED_ENTRIES);
        let (lines, n, bytes) = super::estimate(&text);
        assert_eq!(
            (lines, n, bytes),
            (
                super::MAX_ESTIMATED_ENTRIES,
                super::MAX_ESTIMATED_ENTRIES,
                super::MAX_ESTIMATED_ENTRIES
            )
        );
    }

    #[test]
    fn a_feed_larger_than_max_feed_bytes_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        // sparse: no disk, and reading it would take seconds
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(super::MAX_FEED_BYTES + 1).unwrap();
        let t = std::time::Instant::now();
        for line_based in [true, false] {
            let e = super::read_text(&path, line_based).unwrap_err();
            assert_eq!(e, format!("larger than {} bytes", super::MAX_FEED_BYTES));
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn non_utf8_bytes_spoil_only_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut feed = write_feed(dir.path(), "f.txt", b"a.com\nb\xff.com\nc.com\n");
        feed.max_bad_ratio = 1.0;
        let (set, report) = build_set_t(&[feed]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(report.feeds[0].errors[0].at, "2");
        assert_eq!(report.feeds[0].errors[0].reason, "not valid UTF-8");
    }

    #[test]
    fn a_binary_file_is_not_a_text_feed_and_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        // pseudo-random bytes with no NUL: refused for invalid UTF-8
        let mut x = 0x2545_f491_u32;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as u8) | 1
            })
            .collect();
        for (file, bytes, want) in [
            (
                "gz.txt",
                b"\x1f\x8b\x08\x00evil.com".to_vec(),
                "not a text feed: gzip-compressed: decompress it first",
            ),
            (
                "nul.txt",
                b"evil.com\n\x00\x01bad\n".to_vec(),
                "not a text feed: binary data (a NUL byte at offset 9)",
            ),
            (
                "u16.txt",
                b"\xff\xfee\x00v\x00".to_vec(),
                "UTF-16 text: save it as UTF-8",
            ),
            ("rnd.txt", random, "bytes are not UTF-8"),
        ] {
            let feed = write_feed(dir.path(), file, &bytes);
            let e = build_set_t(&[feed]).unwrap_err();
            let r = &e.report().unwrap().feeds[0];
            let why = r.failure.as_deref().unwrap();
            assert!(why.contains(want), "{file}: {why}");
            assert!(r.errors.is_empty(), "{file}: no entry is echoed");
        }
        // Latin-1 text: a few bad bytes spoil their own entries only
        let mut feed = write_feed(
            dir.path(),
            "latin1.txt",
            b"caf\xe9.example\na.com\nb.com\nc.com\nd.com\ne.com\n",
        );
        feed.max_bad_ratio = 1.0;
        let (set, _) = build_set_t(&[feed]).unwrap();
        assert_eq!(set.len(), 5);
    }
}
