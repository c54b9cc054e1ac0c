//! Reading a feed file: the whole file as text, bounded by [`MAX_FEED_BYTES`] so a wrong path
//! cannot exhaust memory, with bytes that are not UTF-8 replaced so they spoil only their own
//! entry; and, for a plain feed, an estimate of its size from its first 64 KiB so the set's
//! tables are sized once. Contract: `Err` is a message for the feed's report, never a panic.

use std::io::Read;
use std::path::Path;

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

/// The whole file as text, bounded by [`MAX_FEED_BYTES`]. Bytes that are not UTF-8 become
/// U+FFFD, which spoils only their entry.
pub(super) fn read_text(path: &Path) -> Result<String, String> {
    let file = open_regular(path)?;
    // sized from the metadata to avoid regrowing; the `take` below is what enforces the limit
    let size = file.metadata().map_or(0, |m| m.len()).min(MAX_FEED_BYTES);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FEED_BYTES {
        return Err(format!("larger than {MAX_FEED_BYTES} bytes"));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Names a plain feed will add, estimated from its first lines, so the name table is sized once
/// (growing it by doubling holds the old and the new table at once).
/// (lines, names, name bytes) of a plain feed, extrapolated from its first 64 KiB, to size the
/// set's tables and arena once: growing them by doubling copies them and, for a while, holds
/// both copies.
pub(super) fn estimate(text: &str) -> (usize, usize, usize) {
    const SAMPLE: usize = 64 * 1024;
    let mut end = SAMPLE.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = text.get(..end).unwrap_or(text);
    let (mut lines, mut names, mut bytes) = (0usize, 0usize, 0usize);
    for l in sample.lines() {
        lines += 1;
        if l.bytes().any(|b| b.is_ascii_alphabetic()) && !l.contains(':') && !l.starts_with('#') {
            names += 1;
            bytes += l.trim().len();
        }
    }
    if lines == 0 || sample.is_empty() {
        return (0, 0, 0);
    }
    let scale = |n: usize| (n as f64 * text.len() as f64 / sample.len() as f64) as usize;
    (scale(lines), scale(names), scale(bytes))
}

#[cfg(test)]
mod tests {
    use super::super::build_set;
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
    fn non_utf8_bytes_spoil_only_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let feed = write_feed(dir.path(), "f.txt", b"a.com\nb\xff.com\nc.com\n");
        let (set, report) = build_set(&[feed]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(report.feeds[0].errors[0].at, "2");
        assert_eq!(report.feeds[0].errors[0].reason, "not valid UTF-8");
    }
}
