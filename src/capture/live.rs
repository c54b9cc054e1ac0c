//! Live capture with libpcap on one interface (`iocd run`): open the handle, then the capture
//! loop, which never blocks on a worker (a batch for a full queue is dropped and counted in
//! `queue_full`) and publishes its counters, with pcap_stats, about once a second.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{Dispatcher, Meta, Origin};
use crate::config::capture::{
    CaptureConfig, DEFAULT_BUFFER_SIZE, DEFAULT_TIMEOUT, MAX_BUFFER_SIZE, MAX_SNAPLEN,
};
use crate::decode::Link;
use crate::stats::{Counters as _, LiveStats};

/// Longest time a captured packet waits in a partly filled batch on a slow link.
pub const MAX_BATCH_DELAY: Duration = Duration::from_millis(100);
/// How often the capture thread reads pcap_stats and publishes its counters.
pub const CAPTURE_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// What the capture threads share with the control loop.
#[derive(Debug)]
pub struct Shared {
    /// Set to end the capture.
    pub stop: Arc<AtomicBool>,
    /// Per capture thread: monotonic milliseconds of its loop's last turn (the watchdog pings
    /// only while every one turns).
    beats: Vec<AtomicI64>,
    /// Per capture thread: its counters, as last published.
    threads: Vec<Mutex<LiveStats>>,
    pub started: Instant,
}

impl Shared {
    /// For one capture thread.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Shared::with_threads(stop, 1)
    }

    /// For `n` capture threads (fanout).
    pub fn with_threads(stop: Arc<AtomicBool>, n: usize) -> Self {
        let n = n.max(1);
        Shared {
            stop,
            beats: (0..n).map(|_| AtomicI64::new(0)).collect(),
            threads: (0..n).map(|_| Mutex::new(LiveStats::default())).collect(),
            started: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// The last turn of the capture thread that turned least recently.
    pub fn oldest_beat_ms(&self) -> i64 {
        self.beats
            .iter()
            .map(|b| b.load(Relaxed))
            .min()
            .unwrap_or(0)
    }

    fn beat(&self, thread: usize) {
        if let Some(b) = self.beats.get(thread) {
            b.store(self.now_ms(), Relaxed);
        }
    }

    fn publish(&self, thread: usize, st: &LiveStats) {
        if let Some(Ok(mut g)) = self.threads.get(thread).map(Mutex::lock) {
            *g = st.clone();
        }
    }

    /// Every capture thread's counters added up.
    pub fn stats(&self) -> LiveStats {
        let mut total = LiveStats::default();
        for s in self.per_thread() {
            total.add(&s);
        }
        total
    }

    /// Each capture thread's counters, by thread number.
    pub fn per_thread(&self) -> Vec<LiveStats> {
        self.threads
            .iter()
            .map(|m| m.lock().map(|g| g.clone()).unwrap_or_default())
            .collect()
    }
}

/// Widen a 32-bit pcap counter that may wrap into a 64-bit one.
#[derive(Debug, Default, Clone, Copy)]
struct Wide {
    last: u32,
    total: u64,
}

impl Wide {
    fn update(&mut self, now: u32) -> u64 {
        self.total += u64::from(now.wrapping_sub(self.last));
        self.last = now;
        self.total
    }
}

/// Open the one libpcap handle of `method = "libpcap"`, its BPF filter set.
pub fn open_capture(
    interface: &str,
    c: &CaptureConfig,
) -> anyhow::Result<pcap::Capture<pcap::Active>> {
    let mut cap = open_handle(interface, c)?;
    if let Some(bpf) = &c.bpf {
        cap.filter(bpf, true)
            .with_context(|| format!("bad [capture] bpf {bpf:?}"))?;
    }
    tracing::info!(
        interface,
        promiscuous = c.promiscuous,
        link = %Link::from_dlt(cap.get_datalink().0).name(),
        "capture open"
    );
    Ok(cap)
}

/// A filter no packet passes (no frame is 0 bytes long): what a fanout socket holds until
/// every socket of the group has joined, so no packet reaches two of them.
const REJECT_ALL: &str = "less 0";

/// Open the `threads` handles of `method = "af_packet"` and join them in one fanout group
/// (see [`super::fanout`]); the BPF filter is set once all have joined.
pub fn open_fanout(
    interface: &str,
    c: &CaptureConfig,
) -> anyhow::Result<Vec<pcap::Capture<pcap::Active>>> {
    use std::os::fd::AsFd as _;
    let n = c.capture_threads();
    let group = c
        .fanout_group
        .unwrap_or_else(|| super::fanout::default_group(interface, std::process::id()));
    let mut caps = Vec::with_capacity(n);
    for i in 0..n {
        let mut cap = open_handle(interface, c)?;
        // libpcap applies a new filter to what is already in the ring too (in user space), so
        // from here on this socket holds nothing until the real filter below.
        cap.filter(REJECT_ALL, true)
            .context("cannot set the initial reject-all filter")?;
        super::sockopt::join_fanout_hash(cap.as_fd(), group).with_context(|| {
            format!(
                "cannot join capture thread {i} to fanout group {group} on {interface} \
                 (another process may use that group with other options: set [capture] fanout_group)"
            )
        })?;
        caps.push(cap);
    }
    let bpf = c.bpf.as_deref().unwrap_or("");
    for cap in &mut caps {
        cap.filter(bpf, true)
            .with_context(|| format!("bad [capture] bpf {bpf:?}"))?;
    }
    tracing::info!(
        interface,
        threads = n,
        group,
        promiscuous = c.promiscuous,
        link = %caps.first().map_or(String::new(), |c| Link::from_dlt(c.get_datalink().0).name()),
        "fanout capture open"
    );
    Ok(caps)
}

/// One activated libpcap handle, no filter yet.
fn open_handle(interface: &str, c: &CaptureConfig) -> anyhow::Result<pcap::Capture<pcap::Active>> {
    let timeout = c.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let buffer = c
        .buffer_size
        .unwrap_or(DEFAULT_BUFFER_SIZE)
        .min(MAX_BUFFER_SIZE);
    pcap::Capture::from_device(interface)
        .and_then(|i| {
            i.promisc(c.promiscuous)
                .snaplen(i32::try_from(c.snaplen.unwrap_or(MAX_SNAPLEN)).unwrap_or(i32::MAX))
                .buffer_size(i32::try_from(buffer).unwrap_or(i32::MAX))
                .immediate_mode(c.immediate)
                .timeout(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
                .open()
        })
        .with_context(|| format!("cannot capture on {interface}"))
}

/// Packets read in one go before the loop checks its timers and the stop flag.
const MAX_READ_BURST: usize = 4096;

/// Where a capture thread's kernel counters come from.
#[derive(Debug, Clone)]
pub enum Counting {
    /// `pcap_stats` (the one handle of `method = "libpcap"`).
    Pcap,
    /// PACKET_STATISTICS read directly (fanout: with the ring's freeze count), and, for
    /// thread 0 only, the interface's drops from sysfs ([`super::fanout::if_drops`]).
    Fanout { interface_drops: Option<String> },
}

/// The live capture loop of capture thread `thread`: the handle is non-blocking; read what is there, else wait for the
/// socket for at most the read timeout (libpcap's own blocking read on TPACKET_V3 waits
/// without limit on an idle link, which would starve the stop flag and the watchdog).
pub fn capture_live(
    cap: pcap::Capture<pcap::Active>,
    mut dispatcher: Dispatcher,
    shared: &Shared,
    timeout: Duration,
    thread: usize,
    counting: Counting,
) {
    let link = Link::from_dlt(cap.get_datalink().0);
    let mut cap = match cap.setnonblock() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot make the capture non-blocking: {e}");
            return;
        }
    };
    let poll_ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut st = LiveStats::default();
    let mut wide = [Wide::default(); 3];
    let if_drops_at_start = match &counting {
        Counting::Fanout {
            interface_drops: Some(i),
        } => super::fanout::if_drops(i),
        _ => None,
    };
    let mut last_flush = Instant::now();
    let mut last_publish = Instant::now();
    let publish = |st: &mut LiveStats,
                   cap: &mut pcap::Capture<pcap::Active>,
                   wide: &mut [Wide; 3],
                   queue_full| {
        match &counting {
            Counting::Pcap => {
                if let Ok(s) = cap.stats() {
                    st.received = wide[0].update(s.received);
                    st.kernel_drops = wide[1].update(s.dropped);
                    st.interface_drops = wide[2].update(s.if_dropped);
                }
            }
            Counting::Fanout { interface_drops } => {
                use std::os::fd::AsFd as _;
                // The kernel resets these counters at each read: add them up.
                match super::sockopt::packet_stats(cap.as_fd()) {
                    Ok(s) => {
                        st.received += u64::from(s.packets);
                        st.kernel_drops += u64::from(s.drops);
                        st.kernel_freezes += u64::from(s.freezes);
                    }
                    Err(e) => tracing::warn!(thread, "PACKET_STATISTICS: {e}"),
                }
                if let (Some(i), Some(start)) = (interface_drops, if_drops_at_start) {
                    if let Some(now) = super::fanout::if_drops(i) {
                        st.interface_drops = now.saturating_sub(start);
                    }
                }
            }
        }
        st.queue_full = queue_full;
        shared.publish(thread, st);
    };
    'outer: while !shared.stop.load(Relaxed) {
        shared.beat(thread);
        let mut got = 0;
        while got < MAX_READ_BURST {
            match cap.next_packet() {
                Ok(pkt) => {
                    got += 1;
                    let h = pkt.header;
                    #[allow(clippy::useless_conversion)]
                    let ts_us = i64::from(h.ts.tv_sec) * 1_000_000 + i64::from(h.ts.tv_usec);
                    st.packets += 1;
                    st.bytes += u64::from(h.len);
                    let origin = Origin {
                        file: 0,
                        packet: st.packets,
                    };
                    let meta = Meta::new(ts_us, h.len, link, origin);
                    if !dispatcher.try_push(pkt.data, meta) {
                        tracing::error!("every worker has stopped");
                        break 'outer;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => {
                    tracing::error!("capture failed: {e}");
                    break 'outer;
                }
            }
        }
        if got == 0 {
            use std::os::fd::AsFd as _;
            let mut fds = [nix::poll::PollFd::new(
                cap.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if let Err(e) = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(poll_ms)) {
                if e != nix::errno::Errno::EINTR {
                    tracing::error!("capture poll failed: {e}");
                    break;
                }
            }
        }
        if got == 0 || last_flush.elapsed() >= MAX_BATCH_DELAY {
            // Quiet for now, or a partial batch waited long enough: hand it over.
            dispatcher.try_flush();
            last_flush = Instant::now();
        }
        if last_publish.elapsed() >= CAPTURE_PUBLISH_INTERVAL {
            publish(&mut st, &mut cap, &mut wide, dispatcher.queue_full);
            last_publish = Instant::now();
        }
    }
    // Shutdown: the workers are draining, so waiting for room loses nothing.
    dispatcher.flush();
    publish(&mut st, &mut cap, &mut wide, dispatcher.queue_full);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_counter_survives_a_32_bit_wrap() {
        let mut w = Wide::default();
        assert_eq!(w.update(10), 10);
        assert_eq!(w.update(u32::MAX), u64::from(u32::MAX));
        assert_eq!(w.update(5), u64::from(u32::MAX) + 6);
    }
}
