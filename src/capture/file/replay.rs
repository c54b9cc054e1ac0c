//! The read loop of a replay, run on the capture thread: every input in order, or all of them
//! merged by packet timestamp; each packet counted, filtered, paced, then pushed to the
//! [`Dispatcher`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::capture::{CaptureStats, Dispatcher, FileError, FileStats, Meta, Origin};
use crate::decode::Link;

use super::bpf::Filter;
use super::pcapfile::{self, Damage, Packet, Reader};
use super::{open, Input, OpenFailure, Opened};

/// Longest single sleep of `--speed`/`--realtime`: a gap of more than this (after scaling by
/// the speed) in the capture — an idle night, a clock step, the join of two rotated files — is
/// shortened to it, so a replay can never stall on one timestamp jump.
pub const MAX_PACING_SLEEP: Duration = Duration::from_secs(1);
/// Memory for read buffers when merging: each input gets this divided by the number of inputs,
/// between `MIN_READ_BUFFER` and `READ_BUFFER`.
pub const MERGE_BUFFER_BUDGET: usize = 128 * 1024 * 1024;
/// Inputs one `--merge` may interleave: the budget at the smallest buffer each (256 × 512 KiB
/// = 128 MiB), and a quarter of the usual 1024 open-file limit.
pub const MAX_MERGE_INPUTS: usize = MERGE_BUFFER_BUDGET / pcapfile::MIN_READ_BUFFER;
/// Packets between two progress updates.
const PROGRESS_EVERY: u64 = 4096;

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interleave all inputs by packet timestamp.
    pub merge: bool,
    /// Replay at this multiple of capture pace; `None` is as fast as possible.
    pub speed: Option<f64>,
    /// libpcap filter expression (already validated).
    pub bpf: Option<String>,
}

/// Sleeps so that packets leave at capture pace.
struct Pacer {
    speed: f64,
    /// (capture time, wall time) that correspond.
    origin: Option<(i64, Instant)>,
    last_ts: i64,
}

impl Pacer {
    /// Wait until the packet with timestamp `ts_us` is due; `flush` runs before a sleep so the
    /// workers see earlier packets on time.
    fn wait(&mut self, ts_us: i64, flush: &mut dyn FnMut()) {
        let now = Instant::now();
        let Some((t0, w0)) = self.origin else {
            self.origin = Some((ts_us, now));
            self.last_ts = ts_us;
            return;
        };
        if ts_us < self.last_ts {
            // Time went backwards (unsorted capture, next file starts earlier): no wait, and
            // later packets are paced from here.
            self.origin = Some((ts_us, now));
            self.last_ts = ts_us;
            return;
        }
        self.last_ts = ts_us;
        let capture_s = (ts_us - t0) as f64 / 1e6 / self.speed;
        let due = w0 + Duration::from_secs_f64(capture_s.clamp(0.0, 1e9));
        if due <= now {
            return;
        }
        let mut sleep = due - now;
        if sleep > MAX_PACING_SLEEP {
            sleep = MAX_PACING_SLEEP;
            self.origin = Some((ts_us, now + sleep));
        }
        flush();
        std::thread::sleep(sleep);
    }
}

/// Per-packet work shared by the sequential and merged loops.
struct Sink<'a> {
    dispatcher: &'a mut Dispatcher,
    stats: CaptureStats,
    filter: Option<Filter>,
    pacer: Option<Pacer>,
    stopped: bool,
}

impl Sink<'_> {
    /// Count, filter, pace and dispatch one packet of input `file`; false once the workers
    /// are gone.
    fn packet(&mut self, file: usize, p: Packet<'_>) -> bool {
        let fs = &mut self.stats.files[file];
        fs.packets += 1;
        fs.bytes += u64::from(p.wire_len);
        fs.first_us.get_or_insert(p.ts_us);
        fs.last_us = Some(p.ts_us);
        let number = fs.packets;
        self.stats.packets += 1;
        self.stats.bytes += u64::from(p.wire_len);
        let link = Link::from_dlt(p.linktype);
        match self.stats.link_types.get_mut(link.name().as_str()) {
            Some(n) => *n += 1,
            None => {
                self.stats.link_types.insert(link.name(), 1);
            }
        }
        if let Some(f) = &mut self.filter {
            if !f.matches(p.linktype, p.data) {
                self.stats.files[file].filtered += 1;
                self.stats.filtered += 1;
                for (lt, e) in f.failures.drain(..) {
                    tracing::warn!(
                        "--bpf does not compile for link type {lt} ({}): {e}; its packets are filtered out",
                        link.name()
                    );
                }
                return true;
            }
        }
        if let Some(pacer) = &mut self.pacer {
            let d = &mut *self.dispatcher;
            pacer.wait(p.ts_us, &mut || {
                d.flush();
            });
        }
        let origin = Origin {
            file: file as u32,
            packet: number,
        };
        let meta = Meta::new(p.ts_us, p.wire_len, link, origin);
        if !self.dispatcher.push_on(p.data, meta, p.iface) {
            self.stopped = true;
        }
        !self.stopped
    }
}

/// Replay every input, as fast as the workers take the packets (or at capture pace), and
/// return the counters and the inputs that could not be read at all. `progress` gets the file
/// bytes consumed so far over all inputs, and the name of the input being read.
pub fn run(
    dispatcher: &mut Dispatcher,
    inputs: &[Input],
    opts: &Options,
    progress: &mut dyn FnMut(u64, Option<&str>),
    log: &mut dyn FnMut(&dyn Fn()),
) -> (CaptureStats, Vec<FileError>) {
    let mut sink = Sink {
        dispatcher,
        stats: CaptureStats {
            files: inputs
                .iter()
                .map(|i| FileStats {
                    name: i.name(),
                    ..FileStats::default()
                })
                .collect(),
            ..CaptureStats::default()
        },
        filter: opts.bpf.as_deref().map(Filter::new),
        pacer: opts.speed.map(|speed| Pacer {
            speed,
            origin: None,
            last_ts: i64::MIN,
        }),
        stopped: false,
    };
    let mut errors = Vec::new();
    if opts.merge {
        merged(&mut sink, inputs, &mut errors, progress, log);
    } else {
        sequential(&mut sink, inputs, &mut errors, progress, log);
    }
    sink.dispatcher.flush();
    (sink.stats, errors)
}

/// Open input `i`, recording a failure in the stats; `None` if it gives nothing to read.
fn open_one(
    sink: &mut Sink<'_>,
    inputs: &[Input],
    i: usize,
    capacity: usize,
    errors: &mut Vec<FileError>,
    log: &mut dyn FnMut(&dyn Fn()),
) -> Option<Reader> {
    let input = &inputs[i];
    let fs = &mut sink.stats.files[i];
    match open(input, capacity) {
        Ok(Opened::Reader(r)) => {
            fs.format = match r.compression() {
                super::source::Compression::None => r.format().name().to_string(),
                c => format!("{}+{}", r.format().name(), c.name()),
            };
            Some(r)
        }
        Ok(Opened::Skipped(note)) => {
            log(&|| tracing::info!("{}: skipped: {note}", input.name()));
            fs.skipped = Some(note);
            None
        }
        Err(OpenFailure::Unreadable(reason)) => {
            let e = FileError {
                path: input.path.clone(),
                reason,
            };
            log(&|| tracing::error!("{e}"));
            fs.error = Some(e.reason.clone());
            errors.push(e);
            None
        }
        Err(OpenFailure::Damaged(d)) => {
            damaged(sink, inputs, i, d, log);
            None
        }
    }
}

fn damaged(
    sink: &mut Sink<'_>,
    inputs: &[Input],
    i: usize,
    d: Damage,
    log: &mut dyn FnMut(&dyn Fn()),
) {
    let fs = &mut sink.stats.files[i];
    let n = fs.packets;
    log(&|| {
        tracing::warn!(
            "{}: {d}; the {n} packets before it were replayed",
            inputs[i].name()
        )
    });
    fs.damage = Some(d);
}

fn sequential(
    sink: &mut Sink<'_>,
    inputs: &[Input],
    errors: &mut Vec<FileError>,
    progress: &mut dyn FnMut(u64, Option<&str>),
    log: &mut dyn FnMut(&dyn Fn()),
) {
    let mut done_before = 0u64;
    for i in 0..inputs.len() {
        if sink.stopped {
            break;
        }
        progress(done_before, Some(&inputs[i].name()));
        let Some(mut r) = open_one(sink, inputs, i, pcapfile::READ_BUFFER, errors, log) else {
            done_before += inputs[i].size().unwrap_or(0);
            continue;
        };
        let mut n = 0u64;
        loop {
            let step = {
                let d = &mut *sink.dispatcher;
                let raw = r.raw_bytes();
                r.advance(&mut || {
                    // The read may block (FIFO, stdin): hand what we have to the workers first.
                    d.flush();
                    progress(done_before + raw, None);
                })
            };
            match step {
                Ok(true) => {
                    if let Some(p) = r.packet() {
                        if !sink.packet(i, p) {
                            break;
                        }
                    }
                    n += 1;
                    if n.is_multiple_of(PROGRESS_EVERY) {
                        progress(done_before + r.raw_bytes(), None);
                    }
                }
                Ok(false) => break,
                Err(d) => {
                    damaged(sink, inputs, i, d, log);
                    break;
                }
            }
        }
        done_before += inputs[i].size().unwrap_or_else(|| r.raw_bytes());
        progress(done_before, None);
    }
}

/// A k-way merge: each reader holds its next packet in its buffer; a heap keyed by (timestamp,
/// input index) picks the earliest, so ties keep the order of the inputs (as mergecap does).
fn merged(
    sink: &mut Sink<'_>,
    inputs: &[Input],
    errors: &mut Vec<FileError>,
    progress: &mut dyn FnMut(u64, Option<&str>),
    log: &mut dyn FnMut(&dyn Fn()),
) {
    let capacity = (MERGE_BUFFER_BUDGET / inputs.len().max(1))
        .clamp(pcapfile::MIN_READ_BUFFER, pcapfile::READ_BUFFER);
    let mut readers: Vec<Option<Reader>> = Vec::with_capacity(inputs.len());
    for i in 0..inputs.len() {
        let r = open_one(sink, inputs, i, capacity, errors, log);
        readers.push(r);
    }
    let mut heap = BinaryHeap::new();
    let mut step = |sink: &mut Sink<'_>, readers: &mut [Option<Reader>], i: usize| -> Option<i64> {
        let r = readers[i].as_mut()?;
        let d = &mut *sink.dispatcher;
        match r.advance(&mut || {
            d.flush();
        }) {
            Ok(true) => r.packet().map(|p| p.ts_us),
            Ok(false) => None,
            Err(dmg) => {
                damaged(sink, inputs, i, dmg, log);
                None
            }
        }
    };
    for i in 0..inputs.len() {
        if let Some(ts) = step(sink, &mut readers, i) {
            heap.push(Reverse((ts, i)));
        }
    }
    progress(0, Some("merging"));
    let mut n = 0u64;
    while let Some(Reverse((_, i))) = heap.pop() {
        if let Some(p) = readers[i].as_ref().and_then(Reader::packet) {
            if !sink.packet(i, p) {
                break;
            }
        }
        n += 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            let done = readers.iter().flatten().map(Reader::raw_bytes).sum();
            progress(done, None);
        }
        if let Some(ts) = step(sink, &mut readers, i) {
            heap.push(Reverse((ts, i)));
        }
    }
}

/// The per-input lines of the end-of-replay report, and the time span over all inputs:
/// `  file NAME: packets N  bytes N  first TS  last TS  span S s  filtered N  [format]`, then
/// `  file NAME: damaged at byte N: REASON`, `unreadable: ...` or `skipped: ...` when so.
pub fn write_file_summary(s: &mut String, cap: &CaptureStats) {
    use std::fmt::Write as _;
    let span = |first: Option<i64>, last: Option<i64>| match (first, last) {
        (Some(f), Some(l)) => format!(
            "first {}  last {}  span {:.6} s",
            crate::event::format_ts(f),
            crate::event::format_ts(l),
            (l - f) as f64 / 1e6
        ),
        _ => "no timestamps".into(),
    };
    for f in &cap.files {
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  file {}: unreadable: {e}", f.name);
            continue;
        }
        if let Some(n) = &f.skipped {
            let _ = writeln!(s, "  file {}: skipped: {n}", f.name);
            continue;
        }
        let _ = writeln!(
            s,
            "  file {}: packets {}  bytes {}  {}  filtered {}  [{}]",
            f.name,
            f.packets,
            f.bytes,
            span(f.first_us, f.last_us),
            f.filtered,
            if f.format.is_empty() { "-" } else { &f.format }
        );
        if let Some(d) = &f.damage {
            let _ = writeln!(s, "  file {}: {d}", f.name);
        }
    }
    let first = cap.files.iter().filter_map(|f| f.first_us).min();
    let last = cap.files.iter().filter_map(|f| f.last_us).max();
    let _ = writeln!(s, "  inputs {}  {}", cap.files.len(), span(first, last));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_gap_is_capped_and_backwards_time_does_not_wait() {
        let mut p = Pacer {
            speed: 1000.0,
            origin: None,
            last_ts: i64::MIN,
        };
        let mut flushes = 0;
        let t = Instant::now();
        p.wait(0, &mut || flushes += 1);
        // 10 000 s of capture at speed 1000 is 10 s: capped at MAX_PACING_SLEEP
        p.wait(10_000_000_000, &mut || flushes += 1);
        p.wait(5_000_000_000, &mut || flushes += 1);
        let took = t.elapsed();
        assert!(took >= MAX_PACING_SLEEP, "{took:?}");
        assert!(took < MAX_PACING_SLEEP * 3, "{took:?}");
        assert_eq!(flushes, 1);
    }
}
