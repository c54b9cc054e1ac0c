//! Alert suppression across workers, beyond the workers' one event per (flow, indicator, where):
//! per (indicator, internal host), the first match is sent at once; later matches within
//! `window` are counted, and when the window closes one follow-up event is emitted.
//!
//! The follow-up is the first event's JSON with `"suppressed": N` (the matches held back in
//! the window) and `timestamp` set to the last held-back match's packet time; its flow and
//! `pcap` reference are the first event's. Packet timestamps drive the windows, so a replay
//! behaves like the live capture it came from; [`Suppressor::flush`] emits every pending
//! follow-up at shutdown.
//!
//! The internal host is the flow endpoint inside `home_net`; when both or neither are, the
//! source address.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;
use ipnet::IpNet;

/// Entries (one per indicator and internal host in an open window) before new keys are no
/// longer suppressed. An entry holds the first event's JSON (~500 bytes) and its key, so 64 Ki
/// entries bound the table near 40 MiB; a network with more distinct (indicator, host) pairs
/// per window than that is an outbreak, and its events are sent rather than silently merged
/// (counted in `overflow`).
pub const MAX_SUPPRESS_ENTRIES: usize = 1 << 16;
/// How often (in packet time) the table is swept for closed windows: a follow-up comes at most
/// this late after its window closes.
pub const SWEEP_INTERVAL_US: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    feed: String,
    indicator: String,
    host: IpAddr,
}

#[derive(Debug)]
struct Window {
    opened_us: i64,
    last_us: i64,
    held: u64,
    first: String,
}

/// What to do with a new event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Admit {
    /// Send the event now (false: it was counted in an open window).
    pub send: bool,
    /// The follow-up of this key's previous window, which this event's time closed.
    pub followup: Option<String>,
}

/// Counters.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SuppressStats {
    /// Events held back inside a window.
    pub suppressed: u64,
    /// Follow-up events emitted.
    pub followups: u64,
    /// Events sent unsuppressed because the table was full.
    pub overflow: u64,
    /// Open windows now.
    pub entries: u64,
}

/// The shared suppression table.
#[derive(Debug)]
pub struct Suppressor {
    window_us: i64,
    home: Vec<IpNet>,
    map: DashMap<Key, Window>,
    next_sweep_us: AtomicI64,
    suppressed: AtomicU64,
    followups: AtomicU64,
    overflow: AtomicU64,
}

impl Suppressor {
    pub fn new(window: Duration, home: Vec<IpNet>) -> Self {
        Suppressor {
            window_us: i64::try_from(window.as_micros()).unwrap_or(i64::MAX),
            home,
            map: DashMap::new(),
            next_sweep_us: AtomicI64::new(i64::MIN),
            suppressed: AtomicU64::new(0),
            followups: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
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

    /// Decide about an event (`line`, its JSON) for `feed`/`indicator` between `src` and `dst`
    /// at packet time `ts_us`.
    pub fn admit(
        &self,
        feed: &str,
        indicator: &str,
        (src, dst): (IpAddr, IpAddr),
        ts_us: i64,
        line: &str,
    ) -> Admit {
        if !self.enabled() {
            return Admit {
                send: true,
                followup: None,
            };
        }
        let key = Key {
            feed: feed.to_owned(),
            indicator: indicator.to_owned(),
            host: self.internal_host(src, dst),
        };
        if let Some(mut w) = self.map.get_mut(&key) {
            if ts_us < w.opened_us.saturating_add(self.window_us) {
                w.held += 1;
                w.last_us = w.last_us.max(ts_us);
                self.suppressed.fetch_add(1, Relaxed);
                return Admit {
                    send: false,
                    followup: None,
                };
            }
            // This event's time closes the old window and opens a new one.
            let followup = self.close(&w);
            *w = Window {
                opened_us: ts_us,
                last_us: ts_us,
                held: 0,
                first: line.to_owned(),
            };
            return Admit {
                send: true,
                followup,
            };
        }
        if self.map.len() >= MAX_SUPPRESS_ENTRIES {
            self.overflow.fetch_add(1, Relaxed);
            return Admit {
                send: true,
                followup: None,
            };
        }
        // Two workers may race to open the same key: the loser's event is counted as held.
        let mut sent = true;
        self.map
            .entry(key)
            .and_modify(|w| {
                w.held += 1;
                w.last_us = w.last_us.max(ts_us);
                sent = false;
            })
            .or_insert_with(|| Window {
                opened_us: ts_us,
                last_us: ts_us,
                held: 0,
                first: line.to_owned(),
            });
        if !sent {
            self.suppressed.fetch_add(1, Relaxed);
        }
        Admit {
            send: sent,
            followup: None,
        }
    }

    /// Follow-ups of every window closed by packet time `now_us`; cheap between sweeps.
    pub fn tick(&self, now_us: i64) -> Vec<String> {
        let due = self.next_sweep_us.load(Relaxed);
        if !self.enabled() || now_us < due {
            return Vec::new();
        }
        if self
            .next_sweep_us
            .compare_exchange(due, now_us + SWEEP_INTERVAL_US, Relaxed, Relaxed)
            .is_err()
        {
            return Vec::new(); // another worker sweeps
        }
        self.sweep(|w| now_us >= w.opened_us.saturating_add(self.window_us))
    }

    /// Follow-ups of every open window (shutdown).
    pub fn flush(&self) -> Vec<String> {
        self.sweep(|_| true)
    }

    fn sweep(&self, closed: impl Fn(&Window) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        self.map.retain(|_, w| {
            if closed(w) {
                out.extend(self.close(w));
                false
            } else {
                true
            }
        });
        out
    }

    /// The follow-up of a window, if it held anything back.
    fn close(&self, w: &Window) -> Option<String> {
        if w.held == 0 {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_str(&w.first).ok()?;
        let obj = v.as_object_mut()?;
        obj.insert("suppressed".into(), w.held.into());
        obj.insert(
            "timestamp".into(),
            crate::event::format_ts(w.last_us).into(),
        );
        self.followups.fetch_add(1, Relaxed);
        serde_json::to_string(&v).ok()
    }

    pub fn stats(&self) -> SuppressStats {
        SuppressStats {
            suppressed: self.suppressed.load(Relaxed),
            followups: self.followups.load(Relaxed),
            overflow: self.overflow.load(Relaxed),
            entries: self.map.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ev(n: u32) -> String {
        format!(r#"{{"timestamp":"x","event_type":"ioa","n":{n}}}"#)
    }

    fn sup(secs: u64) -> Suppressor {
        Suppressor::new(Duration::from_secs(secs), crate::config::default_home_net())
    }

    fn json(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn first_match_is_sent_repeats_in_the_window_are_held_and_one_followup_closes_it() {
        let s = sup(60);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit("f", "203.0.113.9", flow, 0, &ev(1)).send);
        for i in 1..=5 {
            assert!(!s.admit("f", "203.0.113.9", flow, i * S, &ev(2)).send);
        }
        assert!(s.tick(59 * S).is_empty(), "window still open");
        let f = s.tick(60 * S);
        assert_eq!(f.len(), 1);
        let v = json(&f[0]);
        assert_eq!(v["suppressed"], 5);
        assert_eq!(v["n"], 1, "the first event's body");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:05.000000Z");
        assert_eq!(s.stats().suppressed, 5);
        assert_eq!(s.stats().entries, 0);
        // A new window starts with a sent event.
        assert!(s.admit("f", "203.0.113.9", flow, 61 * S, &ev(3)).send);
    }

    #[test]
    fn a_window_without_repeats_has_no_followup() {
        let s = sup(10);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit("f", "x", flow, 0, &ev(1)).send);
        assert!(s.tick(11 * S).is_empty());
        assert!(s.flush().is_empty());
    }

    #[test]
    fn a_match_after_the_window_sends_and_carries_the_old_followup() {
        let s = sup(10);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        assert!(s.admit("f", "x", flow, 0, &ev(1)).send);
        assert!(!s.admit("f", "x", flow, 3 * S, &ev(2)).send);
        let a = s.admit("f", "x", flow, 10 * S, &ev(3));
        assert!(a.send);
        assert_eq!(json(a.followup.as_deref().unwrap())["suppressed"], 1);
    }

    #[test]
    fn keys_are_per_indicator_and_internal_host() {
        let s = sup(60);
        let out = ip("203.0.113.9");
        assert!(s.admit("f", "x", (ip("10.0.0.5"), out), 0, &ev(1)).send);
        // Same internal host in the other direction: same key.
        assert!(!s.admit("f", "x", (out, ip("10.0.0.5")), S, &ev(2)).send);
        // Another host, another indicator, another feed: separate windows.
        assert!(s.admit("f", "x", (ip("10.0.0.6"), out), S, &ev(3)).send);
        assert!(s.admit("f", "y", (ip("10.0.0.5"), out), S, &ev(4)).send);
        assert!(s.admit("g", "x", (ip("10.0.0.5"), out), S, &ev(5)).send);
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
        let s = sup(0);
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        for t in 0..3 {
            assert!(s.admit("f", "x", flow, t, &ev(1)).send);
        }
        assert!(s.flush().is_empty());
    }

    #[test]
    fn a_full_table_sends_new_keys_unsuppressed_and_counts_them() {
        let s = sup(60);
        let out = ip("203.0.113.9");
        for i in 0..MAX_SUPPRESS_ENTRIES as u32 {
            let host = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(s.admit("f", "x", (host, out), 0, &ev(i)).send);
        }
        let extra = ip("10.255.255.255");
        assert!(s.admit("f", "x", (extra, out), S, &ev(0)).send);
        assert!(s.admit("f", "x", (extra, out), S, &ev(0)).send);
        assert_eq!(s.stats().overflow, 2);
        // Keys already in the table are still suppressed.
        assert!(!s.admit("f", "x", (ip("10.0.0.0"), out), S, &ev(0)).send);
    }

    #[test]
    fn concurrent_workers_send_exactly_one_first_event_per_key() {
        let s = std::sync::Arc::new(sup(60));
        let flow = (ip("10.0.0.5"), ip("203.0.113.9"));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|i| s.admit("f", "x", flow, *i, &ev(0)).send)
                        .count()
                })
            })
            .collect();
        let sent: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sent, 1);
        let f = s.flush();
        assert_eq!(json(&f[0])["suppressed"], 3999);
    }
}
