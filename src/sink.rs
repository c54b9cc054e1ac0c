//! Event sinks. For now one: JSON lines to stdout or a file, written by its own thread so
//! workers never wait on I/O while the queue has room.

use std::io::{self, BufWriter, Write};
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

/// Events that may wait for the sink. Each is a few hundred bytes, so this bounds the queue near
/// a few MiB.
pub const QUEUE_EVENTS: usize = 8192;

/// What the sink wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkStats {
    pub written: u64,
}

/// Write every line received to `out`, one per line, until all senders are gone.
pub fn spawn_json(
    out: Box<dyn Write + Send>,
    rx: Receiver<String>,
) -> io::Result<JoinHandle<io::Result<SinkStats>>> {
    std::thread::Builder::new()
        .name("sink-json".into())
        .spawn(move || {
            let mut out = BufWriter::with_capacity(64 * 1024, out);
            let mut stats = SinkStats::default();
            for line in rx.iter() {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                stats.written += 1;
                if rx.is_empty() {
                    // Nothing else queued: let a reader (tail -f, a pipe) see the event now.
                    out.flush()?;
                }
            }
            out.flush()?;
            Ok(stats)
        })
}
