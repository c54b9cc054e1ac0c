//! Alert suppression, a stage of the output path beyond the workers' one event per (flow,
//! indicator, where): per (indicator, internal host), the first match is sent at once; later
//! matches within `window` are counted, and when the window closes one follow-up event is
//! emitted. It runs in the output stage's one thread, so its table needs no lock and workers
//! never touch it.
//!
//! The follow-up is the first event with `suppressed: N` (the matches held back in the window)
//! and its time set to the last held-back match's packet time; its flow and `pcap` reference
//! are the first event's. Packet timestamps drive the windows (workers send the packet time
//! along), so a replay behaves like the live capture it came from; [`Suppressor::flush`] emits
//! every pending follow-up at shutdown.
//!
//! The internal host is the flow endpoint inside `home_net`; when both or neither are, the
//! source address.

// Follow-ups leave as `Record::Ioa(Box<Ioa>)`: they are kept boxed from the window on, so
// none is moved or allocated again on its way out.
#![allow(clippy::vec_box)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;
use ipnet::IpNet;

use crate::event::Ioa;
use crate::observe::Where;
use crate::stats::SuppressStats;

/// Entries (one per indicator and internal host in an open window) before new keys are no
/// longer suppressed. An entry holds a copy of the first event (~500 bytes) and its key, so 64 Ki
/// entries bound the table near 40 MiB; a network with more distinct (indicator, host) pairs
/// per window than that is an outbreak, and its events are sent rather than silently merged
/// (counted in `overflow`).
pub const MAX_SUPPRESS_ENTRIES: usize = 1 << 16;
/// How often (in packet time) the table is swept for closed windows: a follow-up comes at most
/// this late after its window closes.
pub const SWEEP_INTERVAL_US: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    feed: Arc<str>,
    indicator: String,
    host: IpAddr,
}

#[derive(Debug)]
struct Window {
    opened_us: i64,
    last_us: i64,
    held: u64,
    first: Box<Ioa>,
}

/// What to do with a new event.
#[derive(Debug, Default)]
pub struct Admit {
    /// Send the event now (false: it was counted in an open window).
    pub send: bool,
    /// The follow-up of this key's previous window, which this event's time closed.
    pub followup: Option<Box<Ioa>>,
}

/// The suppression table of the output stage.
#[derive(Debug)]
pub struct Suppressor {
    window_us: i64,
    home: Vec<IpNet>,
    map: HashMap<Key, Window>,
    next_sweep_us: i64,
    stats: SuppressStats,
}

impl Suppressor {
    pub fn new(window: Duration, home: Vec<IpNet>) -> Self {
        Suppressor {
            window_us: i64::try_from(window.as_micros()).unwrap_or(i64::MAX),
            home,
            map: HashMap::new(),
            next_sweep_us: i64::MIN,
            stats: SuppressStats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.window_us > 0
    }

    /// The endpoint inside home_net; the source when both or neither are.
    pub fn internal_host(&self, src: IpAddr, dst: IpAddr) -> IpAddr {
        let inside = |ip: IpAddr| self.home.iter().any(|n| n.contains(&ip));
        if !inside(src) && inside(dst) {
            dst
        } else {
            src
        }
    }

    /// Decide about event `ev` (its packet time is `ev.ts_us`).
    pub fn admit(&mut self, ev: &Ioa) -> Admit {
        if !self.enabled() {
            return Admit {
                send: true,
                followup: None,
            };
        }
        let ts_us = ev.ts_us;
        let key = Key {
            feed: Arc::clone(&ev.indicator.context.feed),
            indicator: ev.indicator.value.clone(),
            host: self.internal_host(ev.flow.src_ip, ev.flow.dest_ip),
        };
        let fresh = || Window {
            opened_us: ts_us,
            last_us: ts_us,
            held: 0,
            first: Box::new(ev.clone()),
        };
        if let Some(w) = self.map.get_mut(&key) {
            if ts_us < w.opened_us.saturating_add(self.window_us) {
                w.held += 1;
                w.last_us = w.last_us.max(ts_us);
                self.stats.suppressed += 1;
                return Admit {
                    send: false,
                    followup: None,
                };
            }
            // This event's time closes the old window and opens a new one.
            let old = std::mem::replace(w, fresh());
            let followup = self.close(old);
            return Admit {
                send: true,
                followup,
            };
        }
        if self.map.len() >= MAX_SUPPRESS_ENTRIES {
            self.stats.overflow += 1;
            return Admit {
                send: true,
                followup: None,
            };
        }
        self.map.insert(key, fresh());
        self.stats.entries = self.map.len() as u64;
        Admit {
            send: true,
            followup: None,
        }
    }

    /// Follow-ups of every window closed by time `now_us`; cheap between sweeps.
    pub fn tick(&mut self, now_us: i64) -> Vec<Box<Ioa>> {
        if !self.enabled() || now_us < self.next_sweep_us {
            return Vec::new();
        }
        self.next_sweep_us = now_us.saturating_add(SWEEP_INTERVAL_US);
        let window_us = self.window_us;
        self.sweep(|w| now_us >= w.opened_us.saturating_add(window_us))
    }

    /// Follow-ups of every open window (shutdown).
    pub fn flush(&mut self) -> Vec<Box<Ioa>> {
        self.sweep(|_| true)
    }

    fn sweep(&mut self, closed: impl Fn(&Window) -> bool) -> Vec<Box<Ioa>> {
        let done: Vec<Key> = self
            .map
            .iter()
            .filter(|(_, w)| closed(w))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in done {
            if let Some(w) = self.map.remove(&k) {
                out.extend(self.close(w));
            }
        }
        // Oldest window first, so follow-ups leave in time order; ties in the order of their
        // first events (packet, then what matched), never the table's, which is random: a
        // replay's output must not change from run to run.
        fn key(e: &Ioa) -> (i64, u64, Where, &str, &str) {
            (
                e.ts_us,
                e.seq,
                e.observable.location,
                &e.indicator.value,
                &e.indicator.context.feed,
            )
        }
        out.sort_by(|a, b| key(a).cmp(&key(b)));
        self.stats.entries = self.map.len() as u64;
        out
    }

    /// The follow-up of a window, if it held anything back.
    fn close(&mut self, w: Window) -> Option<Box<Ioa>> {
        if w.held == 0 {
            return None;
        }
        let mut f = w.first;
        f.suppressed = Some(w.held);
        f.ts_us = w.last_us;
        self.stats.followups += 1;
        Some(f)
    }

    pub fn stats(&self) -> SuppressStats {
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Event number `n` (its pcap packet number) of `feed`/`indicator` on `flow` at `ts`.
    fn ev(feed: &str, indicator: &str, (src, dst): (IpAddr, IpAddr), ts: i64, n: u32) -> Ioa {
        let mut e = crate::event::tests::sample_ioa(crate::config::Severity::High);
        let mut ctx = (*e.indicator.context).clone();
        ctx.feed = Arc::from(feed);
        e.indicator.context = Arc::new(ctx);
        e.indicator.value = indicator.into();
        e.flow.src_ip = src;
        e.flow.dest_ip = dst;
        e.ts_us = ts;
        e.pcap = Some(crate::event::PcapRef {
            file: Arc::from("f.pcap"),
            packet: u64::from(n),
        });
        e.seq = u64::from(n);
        e
    }

    #[test]
    fn follow_ups_of_the_same_time_leave_in_the_order_of_their_first_events() {
        let mut s = sup(10);
        let host = |i: u8| (ip(&format!("10.0.0.{i}")), ip("192.0.2.1"));
        // 40 windows opened by packets 1..=40, every repeat at the same instant, inserted in
        // an order unlike the packets'.
        for i in (1..=40u8).rev() {
            assert!(s.admit(&ev("f", "x.test", host(i), S, u32::from(i))).send);
        }
        for i in 1..=40u8 {
            assert!(!s.admit(&ev("f", "x.test", host(i), 2 * S, 100)).send);
        }
        let out = s.flush();
        let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    }

    fn sup(secs: u64) -> Suppressor {
        Suppressor::new(Duration::from_secs(secs), crate::config::default_home_net())
    }

    fn json(e: &Ioa) -> serde_json::Value {
        serde_json::to_value(e).unwrap()
    }

    #[test]
    fn first_match_is_sent_repeats_in_the_window_are_held_and_one_followup_closes_it() {
        let mut s = sup(60);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit(&ev("f", "203.0.113.9", flow, 0, 1)).send);
        for i in 1..=5 {
            assert!(!s.admit(&ev("f", "203.0.113.9", flow, i * S, 2)).send);
        }
        assert!(s.tick(59 * S).is_empty(), "window still open");
        let f = s.tick(60 * S);
        assert_eq!(f.len(), 1);
        let v = json(&f[0]);
        assert_eq!(v["suppressed"], 5);
        assert_eq!(v["pcap"]["packet"], 1, "the first event's body");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:05.000000Z");
        assert_eq!(s.stats().suppressed, 5);
        assert_eq!(s.stats().entries, 0);
        // A new window starts with a sent event.
        assert!(s.admit(&ev("f", "203.0.113.9", flow, 61 * S, 3)).send);
    }

    #[test]
    fn a_window_without_repeats_has_no_followup() {
        let mut s = sup(10);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit(&ev("f", "x", flow, 0, 1)).send);
        assert!(s.tick(11 * S).is_empty());
        assert!(s.flush().is_empty());
    }

    #[test]
    fn a_match_after_the_window_sends_and_carries_the_old_followup() {
        let mut s = sup(10);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit(&ev("f", "x", flow, 0, 1)).send);
        assert!(!s.admit(&ev("f", "x", flow, 3 * S, 2)).send);
        let a = s.admit(&ev("f", "x", flow, 10 * S, 3));
        assert!(a.send);
        assert_eq!(json(a.followup.as_deref().unwrap())["suppressed"], 1);
    }

    #[test]
    fn keys_are_per_indicator_and_internal_host() {
        let mut s = sup(60);
        let out = ip("203.0.113.9");
        assert!(s.admit(&ev("f", "x", (ip("10.0.0.5"), out), 0, 1)).send);
        // Same internal host in the other direction: same key.
        assert!(!s.admit(&ev("f", "x", (out, ip("10.0.0.5")), S, 2)).send);
        // Another host, another indicator, another feed: separate windows.
        assert!(s.admit(&ev("f", "x", (ip("10.0.0.6"), out), S, 3)).send);
        assert!(s.admit(&ev("f", "y", (ip("10.0.0.5"), out), S, 4)).send);
        assert!(s.admit(&ev("g", "x", (ip("10.0.0.5"), out), S, 5)).send);
        let f = s.flush();
        assert_eq!(f.len(), 1);
        assert_eq!(json(&f[0])["suppressed"], 1);
    }

    #[test]
    fn internal_host_is_the_home_net_end_else_the_source() {
        let s = sup(1);
        let (a, b) = (ip("192.168.1.2"), ip("198.51.100.1"));
        assert_eq!(s.internal_host(a, b), a);
        assert_eq!(s.internal_host(b, a), a);
        assert_eq!(s.internal_host(b, ip("198.51.100.2")), b, "neither: source");
        assert_eq!(s.internal_host(a, ip("10.1.1.1")), a, "both: source");
        assert_eq!(
            s.internal_host(ip("2001:db8::1"), ip("fd00::1")),
            ip("fd00::1")
        );
    }

    #[test]
    fn zero_window_disables() {
        let mut s = sup(0);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        for t in 0..3 {
            assert!(s.admit(&ev("f", "x", flow, t, 1)).send);
        }
        assert!(s.flush().is_empty());
    }

    #[test]
    fn a_full_table_sends_new_keys_unsuppressed_and_counts_them() {
        let mut s = sup(60);
        let out = ip("203.0.113.9");
        for i in 0..MAX_SUPPRESS_ENTRIES as u32 {
            let host = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(s.admit(&ev("f", "x", (host, out), 0, i)).send);
        }
        let extra = ip("10.255.255.255");
        assert!(s.admit(&ev("f", "x", (extra, out), S, 0)).send);
        assert!(s.admit(&ev("f", "x", (extra, out), S, 0)).send);
        assert_eq!(s.stats().overflow, 2);
        // Keys already in the table are still suppressed.
        assert!(!s.admit(&ev("f", "x", (ip("10.0.0.0"), out), S, 0)).send);
    }

    #[test]
    fn events_of_every_worker_for_one_key_send_exactly_one_first_event() {
        let mut s = sup(60);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        let sent = (0..4000)
            .filter(|i| s.admit(&ev("f", "x", flow, *i, 0)).send)
            .count();
        assert_eq!(sent, 1);
        let f = s.flush();
        assert_eq!(json(&f[0])["suppressed"], 3999);
    }
}
