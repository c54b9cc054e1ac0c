//! Offline inputs of a replay: which files (arguments, directories, standard input), how to
//! open them (decompression, format sniffing — [`source`]), how to read them ([`pcapfile`]),
//! and the read loop that feeds the [`crate::capture::Dispatcher`] ([`replay`]: in order or
//! merged by timestamp, BPF-filtered, paced).

pub mod bpf;
pub mod pcapfile;
pub mod replay;
pub mod source;

use std::path::{Path, PathBuf};

use crate::capture::FileError;
use pcapfile::{Damage, Reader, ReaderStart};

/// Directory levels followed by `--recursive`: deep enough for any sane archive layout
/// (site/sensor/year/month/day/hour is 6), and a bound on symlink loops.
pub const MAX_DIR_DEPTH: usize = 32;

/// One input after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// A file, a FIFO, or `-` for standard input.
    pub path: PathBuf,
    /// Found inside a directory argument: a non-capture file is skipped with a note, not an
    /// error.
    pub from_dir: bool,
}

impl Input {
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Size on disk when it is a regular file (for the progress bar).
    pub fn size(&self) -> Option<u64> {
        if self.path == Path::new("-") {
            return None;
        }
        std::fs::metadata(&self.path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }
}

/// The inputs named on the command line, directories replaced by the files inside them in
/// name order (recursively with `recursive`). Paths that do not exist stay in the list, so
/// opening them reports the error in its place. Directories that cannot be listed are errors.
pub fn expand(args: &[PathBuf], recursive: bool) -> (Vec<Input>, Vec<FileError>, Vec<String>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    for a in args {
        if a.as_os_str() != "-" && a.is_dir() {
            list_dir(a, recursive, 0, &mut inputs, &mut errors, &mut notes);
        } else {
            inputs.push(Input {
                path: a.clone(),
                from_dir: false,
            });
        }
    }
    (inputs, errors, notes)
}

fn list_dir(
    dir: &Path,
    recursive: bool,
    depth: usize,
    inputs: &mut Vec<Input>,
    errors: &mut Vec<FileError>,
    notes: &mut Vec<String>,
) {
    let err = |reason: String| FileError {
        path: dir.to_owned(),
        reason,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return errors.push(err(format!("cannot list the directory: {e}"))),
    };
    let mut paths = Vec::new();
    for e in entries {
        match e {
            Ok(e) => paths.push(e.path()),
            Err(e) => return errors.push(err(format!("cannot list the directory: {e}"))),
        }
    }
    paths.sort();
    for p in paths {
        if p.is_dir() {
            if !recursive {
                notes.push(format!(
                    "{}: skipping a subdirectory (use --recursive)",
                    p.display()
                ));
            } else if depth + 1 >= MAX_DIR_DEPTH {
                errors.push(FileError {
                    path: p,
                    reason: format!("more than {MAX_DIR_DEPTH} directory levels"),
                });
            } else {
                list_dir(&p, recursive, depth + 1, inputs, errors, notes);
            }
        } else {
            inputs.push(Input {
                path: p,
                from_dir: true,
            });
        }
    }
}

/// What opening an input gave.
pub enum Opened {
    Reader(Reader),
    /// A file found in a directory that is not a capture: the note says what it is.
    Skipped(String),
}

/// Why an input gave nothing.
#[derive(Debug)]
pub enum OpenFailure {
    /// It could not be opened or read at all, or is not a capture (exit status 1).
    Unreadable(String),
    /// It is a capture whose header is cut or broken (exit status 3).
    Damaged(Damage),
}

/// Open an input with a read buffer of `capacity` bytes: decompress, sniff, read the header.
pub fn open(input: &Input, capacity: usize) -> Result<Opened, OpenFailure> {
    let src = source::open(&input.path).map_err(|e| OpenFailure::Unreadable(e.to_string()))?;
    let compression = src.compression;
    let capacity = capacity.max(pcapfile::MIN_READ_BUFFER);
    match Reader::new(src.stream, compression, src.state, capacity) {
        Ok(r) => Ok(Opened::Reader(r)),
        Err(ReaderStart::Damaged(d)) => Err(OpenFailure::Damaged(d)),
        Err(ReaderStart::Io(e)) => Err(OpenFailure::Unreadable(match compression {
            source::Compression::None => e,
            c => format!("{} stream: {e}", c.name()),
        })),
        Err(ReaderStart::NotCapture(head)) => {
            let what = if head.is_empty() {
                "an empty file".to_string()
            } else {
                let hex: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
                format!("starts with {}", hex.join(" "))
            };
            let inside = match compression {
                source::Compression::None => String::new(),
                c => format!(" inside {} compression", c.name()),
            };
            let note = format!("not a pcap or pcapng file{inside} ({what})");
            if input.from_dir {
                Ok(Opened::Skipped(note))
            } else {
                Err(OpenFailure::Unreadable(note))
            }
        }
    }
}

/// Open a capture file as a bare packet reader (benchmarks and tools).
pub fn open_reader(path: &Path) -> Result<Reader, String> {
    let input = Input {
        path: path.to_owned(),
        from_dir: false,
    };
    match open(&input, pcapfile::READ_BUFFER) {
        Ok(Opened::Reader(r)) => Ok(r),
        Ok(Opened::Skipped(n)) => Err(n),
        Err(OpenFailure::Unreadable(e)) => Err(e),
        Err(OpenFailure::Damaged(d)) => Err(d.to_string()),
    }
}
