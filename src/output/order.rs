//! Packet order for a replay's events, whatever the number of workers: the first step of the
//! output stage, before suppression.
//!
//! Every packet has a sequence number from the capture side ([`crate::capture::Meta::seq`]);
//! each worker's events come in its packets' order, and after each batch the worker says how
//! far it got ([`super::Output::Done`]: every packet up to `upto` that is its own is done).
//! Events are held here, sorted by (sequence number, arrival), and released once every worker
//! is past them: the smallest progress over the workers is a point below which no event can
//! still come. A worker that ends says `u64::MAX`, so the end of the capture releases
//! everything; the dispatcher keeps a quiet worker's progress moving
//! ([`crate::capture::MAX_ORDER_LAG`]), so the held events stay few.
//!
//! Bounded: beyond [`MAX_HELD`] events the oldest are released early, in order among
//! themselves but perhaps before a slower worker's earlier event, and counted in
//! [`OrderStats::early`]. The stage never waits here, so it never blocks a worker.

// Events stay boxed from the worker to the sink (see output::suppress).
#![allow(clippy::vec_box)]

use std::collections::BTreeMap;

use crate::event::Ioa;

/// Events held before the oldest is released early. An event is ~500 bytes, so 64 Ki bound
/// the buffer near 32 MiB; the workers' queues (64 batches of 256 packets each) plus the
/// dispatcher's lag make far fewer unless nearly every packet is an event.
pub const MAX_HELD: usize = 1 << 16;

/// What ordering did, for the replay summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrderStats {
    /// Most events held at once.
    pub held_max: u64,
    /// Events released before every worker was past them, because [`MAX_HELD`] was reached:
    /// the output may be out of packet order around them.
    pub early: u64,
}

/// The reorder buffer.
#[derive(Debug)]
pub struct Reorder {
    /// Per worker: the sequence number up to which it is done.
    done: Vec<u64>,
    held: BTreeMap<(u64, u64), Box<Ioa>>,
    /// Arrival counter: keeps one packet's events in the order its worker sent them.
    arrivals: u64,
    stats: OrderStats,
}

impl Reorder {
    pub fn new(workers: usize) -> Self {
        Reorder {
            done: vec![0; workers.max(1)],
            held: BTreeMap::new(),
            arrivals: 0,
            stats: OrderStats::default(),
        }
    }

    /// Take an event; what may leave now goes to `out`, in order.
    pub fn push(&mut self, ev: Box<Ioa>, out: &mut Vec<Box<Ioa>>) {
        if self.done.len() == 1 {
            // One worker: its events already come in packet order.
            out.push(ev);
            return;
        }
        self.arrivals += 1;
        self.held.insert((ev.seq, self.arrivals), ev);
        self.stats.held_max = self.stats.held_max.max(self.held.len() as u64);
        while self.held.len() > MAX_HELD {
            if let Some((_, e)) = self.held.pop_first() {
                self.stats.early += 1;
                out.push(e);
            }
        }
    }

    /// Worker `worker` is done with its packets up to `upto`; what may leave now goes to `out`.
    pub fn done(&mut self, worker: usize, upto: u64, out: &mut Vec<Box<Ioa>>) {
        if let Some(d) = self.done.get_mut(worker) {
            *d = (*d).max(upto);
        }
        let floor = self.done.iter().copied().min().unwrap_or(u64::MAX);
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > floor {
                break;
            }
            out.push(entry.remove());
        }
    }

    /// Release everything held, in order (the end of the capture).
    pub fn drain(&mut self, out: &mut Vec<Box<Ioa>>) {
        out.extend(std::mem::take(&mut self.held).into_values());
    }

    pub fn stats(&self) -> OrderStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Box<Ioa> {
        let mut e = crate::event::tests::sample_ioa(crate::config::Severity::High);
        e.seq = seq;
        Box::new(e)
    }

    fn seqs(v: &[Box<Ioa>]) -> Vec<u64> {
        v.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_leave_in_packet_order_once_every_worker_is_past_them() {
        let mut r = Reorder::new(2);
        let mut out = Vec::new();
        // Worker 1 is ahead: its events 5 and 9 wait for worker 0.
        r.push(ev(5), &mut out);
        r.push(ev(9), &mut out);
        r.done(1, 10, &mut out);
        assert!(out.is_empty());
        r.push(ev(2), &mut out);
        r.push(ev(7), &mut out);
        r.done(0, 6, &mut out);
        assert_eq!(seqs(&out), [2, 5]);
        out.clear();
        r.done(0, u64::MAX, &mut out);
        assert_eq!(seqs(&out), [7, 9]);
        assert_eq!(r.stats().early, 0);
        assert_eq!(r.stats().held_max, 4);
    }

    #[test]
    fn one_packets_events_keep_their_order_and_drain_releases_all() {
        let mut r = Reorder::new(3);
        let mut out = Vec::new();
        let mut a = ev(4);
        a.observable.value = "first".into();
        let mut b = ev(4);
        b.observable.value = "second".into();
        r.push(a, &mut out);
        r.push(ev(1), &mut out);
        r.push(b, &mut out);
        r.drain(&mut out);
        assert_eq!(seqs(&out), [1, 4, 4]);
        assert_eq!(out[1].observable.value, "first");
        assert_eq!(out[2].observable.value, "second");
    }

    #[test]
    fn a_full_buffer_releases_the_oldest_early_and_counts_it() {
        let mut r = Reorder::new(2);
        let mut out = Vec::new();
        for s in 0..=MAX_HELD as u64 {
            r.push(ev(s + 1), &mut out);
        }
        assert_eq!(seqs(&out), [1]);
        assert_eq!(r.stats().early, 1);
        assert_eq!(r.stats().held_max, MAX_HELD as u64 + 1);
    }

    #[test]
    fn a_single_worker_needs_no_buffer() {
        let mut r = Reorder::new(1);
        let mut out = Vec::new();
        r.push(ev(3), &mut out);
        assert_eq!(seqs(&out), [3]);
    }
}
