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
/// Packets between two progress updates when nothing else prompts one (a paced replay also
/// reports before every pacing sleep, a blocking read before it waits).
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
    progress: &'a mut dyn FnMut(u64, Option<&str>),
    /// Per input, the file bytes that the packets handed on so far reach
    /// ([`Reader::position`]; the whole size once an input is done).
    reached: Vec<u64>,
    /// Their sum: what the progress bar shows. It follows packets handed on, not bytes read
    /// ahead into the read buffer, so a paced replay moves as its packets leave.
    done: u64,
}

impl Sink<'_> {
    /// Input `file` is done up to byte `pos` (never moves back).
    fn reach(&mut self, file: usize, pos: u64) {
        let r = &mut self.reached[file];
        if pos > *r {
            self.done += pos - *r;
            *r = pos;
        }
    }

    /// Tell the progress bar where the replay is, and which input it reads when `name`.
    fn report(&mut self, name: Option<&str>) {
        (self.progress)(self.done, name);
    }

    /// Count, filter, pace and dispatch one packet of input `file`, which ends at byte `pos`
    /// of its file; false once the workers are gone.
    fn packet(&mut self, file: usize, p: Packet<'_>, pos: u64) -> bool {
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
                self.reach(file, pos);
                return true;
            }
        }
        if let Some(pacer) = &mut self.pacer {
            let d = &mut *self.dispatcher;
            let progress = &mut *self.progress;
            let done = self.done;
            pacer.wait(p.ts_us, &mut || {
                d.flush();
                // The bar stands at the packets already handed on while this one waits.
                progress(done, None);
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
        self.reach(file, pos);
        !self.stopped
    }
}

/// Replay every input, as fast as the workers take the packets (or at capture pace), and
/// return the counters and the inputs that could not be read at all. `progress` gets how far
/// the packets handed on so far reach, in file bytes summed over all inputs (see
/// [`Reader::position`]), and the name of the input being read.
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
        progress,
        reached: vec![0; inputs.len()],
        done: 0,
    };
    let mut errors = Vec::new();
    if opts.merge {
        merged(&mut sink, inputs, &mut errors, log);
    } else {
        sequential(&mut sink, inputs, &mut errors, log);
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
    log: &mut dyn FnMut(&dyn Fn()),
) {
    for i in 0..inputs.len() {
        if sink.stopped {
            break;
        }
        sink.report(Some(&inputs[i].name()));
        let Some(mut r) = open_one(sink, inputs, i, pcapfile::READ_BUFFER, errors, log) else {
            sink.reach(i, inputs[i].size().unwrap_or(0));
            continue;
        };
        let mut n = 0u64;
        loop {
            let step = {
                let d = &mut *sink.dispatcher;
                let progress = &mut *sink.progress;
                let done = sink.done;
                r.advance(&mut || {
                    // The read may block (FIFO, stdin): hand what we have to the workers first.
                    d.flush();
                    progress(done, None);
                })
            };
            match step {
                Ok(true) => {
                    if let Some(p) = r.packet() {
                        if !sink.packet(i, p, r.position()) {
                            break;
                        }
                    }
                    n += 1;
                    if n.is_multiple_of(PROGRESS_EVERY) {
                        sink.report(None);
                    }
                }
                Ok(false) => break,
                Err(d) => {
                    damaged(sink, inputs, i, d, log);
                    break;
                }
            }
        }
        sink.reach(i, inputs[i].size().unwrap_or_else(|| r.raw_bytes()));
        sink.report(None);
    }
}

/// A k-way merge: each reader holds its next packet in its buffer; a heap keyed by (timestamp,
/// input index) picks the earliest, so ties keep the order of the inputs (as mergecap does).
fn merged(
    sink: &mut Sink<'_>,
    inputs: &[Input],
    errors: &mut Vec<FileError>,
    log: &mut dyn FnMut(&dyn Fn()),
) {
    let capacity = (MERGE_BUFFER_BUDGET / inputs.len().max(1))
        .clamp(pcapfile::MIN_READ_BUFFER, pcapfile::READ_BUFFER);
    let mut readers: Vec<Option<Reader>> = Vec::with_capacity(inputs.len());
    for i in 0..inputs.len() {
        let r = open_one(sink, inputs, i, capacity, errors, log);
        if r.is_none() {
            sink.reach(i, inputs[i].size().unwrap_or(0));
        }
        readers.push(r);
    }
    let mut heap = BinaryHeap::new();
    let mut step = |sink: &mut Sink<'_>, readers: &mut [Option<Reader>], i: usize| -> Option<i64> {
        let r = readers[i].as_mut()?;
        let d = &mut *sink.dispatcher;
        let step = r.advance(&mut || {
            d.flush();
        });
        if let Ok(true) = step {
            return r.packet().map(|p| p.ts_us);
        }
        // This input is done: all of it counts as reached.
        sink.reach(i, inputs[i].size().unwrap_or_else(|| r.raw_bytes()));
        if let Err(dmg) = step {
            damaged(sink, inputs, i, dmg, log);
        }
        None
    };
    for i in 0..inputs.len() {
        if let Some(ts) = step(sink, &mut readers, i) {
            heap.push(Reverse((ts, i)));
        }
    }
    sink.report(Some("merging"));
    let mut n = 0u64;
    while let Some(Reverse((_, i))) = heap.pop() {
        if let Some(r) = readers[i].as_ref() {
            if let Some(p) = r.packet() {
                if !sink.packet(i, p, r.position()) {
                    break;
                }
            }
        }
        n += 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            sink.report(None);
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
    use crate::testkit::wire::{eth_ipv4_udp, write_pcap};
    use std::io::Write as _;

    /// A pcap of `n` 100-byte UDP frames `gap_us` apart; each record is 116 bytes after the
    /// 24-byte file header.
    fn frames(n: u64, gap_us: u64) -> Vec<(u64, Vec<u8>)> {
        (0..n)
            .map(|k| {
                let f = eth_ipv4_udp([192, 0, 2, 1], [192, 0, 2, 2], 5000, 9, &[0u8; 58]);
                assert_eq!(f.len(), 100);
                (1_700_000_000_000_000 + k * gap_us, f)
            })
            .collect()
    }

    fn input(path: &std::path::Path) -> Input {
        Input {
            path: path.to_owned(),
            from_dir: false,
        }
    }

    #[test]
    fn position_follows_the_packets_handed_out_not_the_bytes_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("p.pcap");
        write_pcap(&plain, 1, &frames(20, 1000));
        let bytes = std::fs::read(&plain).unwrap();
        let mut r = super::super::open_reader(&plain).unwrap();
        for k in 1..=20u64 {
            assert!(r.advance(&mut || ()).unwrap());
            // The whole file sits in the read buffer from the first packet on; the position is
            // the end of packet k's record.
            assert_eq!(r.raw_bytes(), bytes.len() as u64);
            assert_eq!(r.position(), 24 + 116 * k, "packet {k}");
        }
        // Compressed: compressed bytes scaled by the share of the stream consumed.
        let gz = dir.path().join("p.pcap.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&bytes).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        let gz_len = std::fs::metadata(&gz).unwrap().len();
        let mut r = super::super::open_reader(&gz).unwrap();
        let mut seen = Vec::new();
        while r.advance(&mut || ()).unwrap() {
            seen.push(r.position());
        }
        assert_eq!(seen.len(), 20);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), gz_len);
        let half = seen[9] as f64 / gz_len as f64;
        assert!((0.45..0.55).contains(&half), "{seen:?} of {gz_len}");
    }

    #[test]
    fn a_paced_replay_moves_the_progress_bar_as_its_packets_leave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paced.pcap");
        // 5 packets 100 ms apart at speed 2: 4 sleeps of 50 ms.
        write_pcap(&path, 1, &frames(5, 100_000));
        let size = std::fs::metadata(&path).unwrap().len();
        let (mut d, _queues) = Dispatcher::new(1);
        let opts = Options {
            speed: Some(2.0),
            ..Options::default()
        };
        let start = Instant::now();
        let mut reports: Vec<(Duration, u64)> = Vec::new();
        let (stats, errors) = run(
            &mut d,
            &[input(&path)],
            &opts,
            &mut |done, _| reports.push((start.elapsed(), done)),
            &mut |f| f(),
        );
        assert!(errors.is_empty());
        assert_eq!(stats.packets, 5);
        // Before each sleep the bar stands at the packets already handed on: 1, 2, 3, 4.
        let before_sleeps: Vec<u64> = (1..=4).map(|k| 24 + 116 * k).collect();
        for want in &before_sleeps {
            assert!(
                reports.iter().any(|(_, d)| d == want),
                "no report at {want}: {reports:?}"
            );
        }
        assert_eq!(reports.last().unwrap().1, size);
        // The reports are spread over the paced replay, not bunched at its start or end.
        let at = |pos: u64| reports.iter().find(|(_, d)| *d == pos).unwrap().0;
        let spread = at(before_sleeps[3]) - at(before_sleeps[0]);
        assert!(spread >= Duration::from_millis(140), "{reports:?}");
        assert!(reports.windows(2).all(|w| w[0].1 <= w[1].1), "{reports:?}");
    }

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
