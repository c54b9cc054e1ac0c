//! Aggregates (issue 16, `[aggregate]`): one `"event_type": "aggregate"` record per
//! (indicator, internal host) and interval, so that a SIEM can show one line per compromised
//! host instead of one per flow. Alerts are counted as they enter the output stage, before
//! suppression; intervals are aligned on multiples of the interval in packet time (the
//! events' own times, so a replay gives the same records whatever its pace), and closed when an
//! event or a tick of a later interval comes, and at the end.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::event::{Aggregate, IndicatorRef, Ioa, Record};
use crate::stats::AggregateStats;

/// Most (indicator, host) pairs held in one interval: 65,536 records of ~400 bytes (~26 MB of
/// JSON a flush) is more than a SIEM takes as "one line per compromised host"; past it an
/// alert is not aggregated (counted in `aggregate.dropped`; the alert itself still goes out).
pub const MAX_AGGREGATES: usize = 1 << 16;

/// What one (indicator, host) gathered in the interval.
#[derive(Debug)]
struct Agg {
    indicator: IndicatorRef,
    first_us: i64,
    last_us: i64,
    count: u64,
}

/// The aggregation table of the output stage.
#[derive(Debug)]
pub struct Aggregator {
    interval_us: i64,
    home: Vec<IpNet>,
    /// (feed, indicator type, indicator value, host) → its aggregate.
    table: HashMap<(Arc<str>, &'static str, String, IpAddr), Agg>,
    /// Start of the open interval (µs); `None` before the first alert.
    open: Option<i64>,
    /// Insertion order, so records leave in the order their pairs first alerted.
    order: Vec<(Arc<str>, &'static str, String, IpAddr)>,
    sensor: Arc<str>,
    pub stats: AggregateStats,
}

impl Aggregator {
    pub fn new(interval: Duration, home: Vec<IpNet>, sensor: Arc<str>) -> Self {
        Aggregator {
            interval_us: i64::try_from(interval.as_micros())
                .unwrap_or(i64::MAX)
                .max(1),
            home,
            table: HashMap::new(),
            open: None,
            order: Vec::new(),
            sensor,
            stats: AggregateStats::default(),
        }
    }

    /// The internal host of an alert: the flow end inside `home_net`; the source when both or
    /// neither are (as suppression's).
    fn host(&self, e: &Ioa) -> IpAddr {
        let inside = |ip: IpAddr| self.home.iter().any(|n| n.contains(&ip));
        if !inside(e.flow.src_ip) && inside(e.flow.dest_ip) {
            e.flow.dest_ip
        } else {
            e.flow.src_ip
        }
    }

    fn start_of(&self, ts_us: i64) -> i64 {
        ts_us.div_euclid(self.interval_us) * self.interval_us
    }

    /// Count an alert; the records of an interval it closes are appended to `out`.
    pub fn add(&mut self, e: &Ioa, out: &mut Vec<Record>) {
        self.tick(e.ts_us, out);
        if self.open.is_none() {
            self.open = Some(self.start_of(e.ts_us));
        }
        let key = (
            Arc::clone(&e.indicator.context.feed),
            e.indicator.kind,
            e.indicator.value.clone(),
            self.host(e),
        );
        if let Some(a) = self.table.get_mut(&key) {
            a.count += 1;
            a.first_us = a.first_us.min(e.ts_us);
            a.last_us = a.last_us.max(e.ts_us);
            return;
        }
        if self.table.len() >= MAX_AGGREGATES {
            self.stats.dropped += 1;
            return;
        }
        self.order.push(key.clone());
        self.table.insert(
            key,
            Agg {
                indicator: e.indicator.clone(),
                first_us: e.ts_us,
                last_us: e.ts_us,
                count: 1,
            },
        );
    }

    /// The time is `now_us`: close the open interval if it has ended.
    pub fn tick(&mut self, now_us: i64, out: &mut Vec<Record>) {
        if let Some(start) = self.open {
            if now_us >= start.saturating_add(self.interval_us) {
                self.flush_at(start.saturating_add(self.interval_us), out);
            }
        }
    }

    /// Close the open interval now (the end of the run): its records carry its last alert's
    /// time.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        let last = self.table.values().map(|a| a.last_us).max();
        if let Some(t) = last {
            self.flush_at(t, out);
        }
    }

    fn flush_at(&mut self, ts_us: i64, out: &mut Vec<Record>) {
        for key in self.order.drain(..) {
            if let Some(a) = self.table.remove(&key) {
                out.push(Record::Aggregate(Box::new(Aggregate {
                    ts_us,
                    sensor: Arc::clone(&self.sensor),
                    host: key.3,
                    indicator: a.indicator,
                    first_seen_us: a.first_us,
                    last_seen_us: a.last_us,
                    count: a.count,
                })));
                self.stats.records += 1;
            }
        }
        self.table.clear();
        self.open = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    fn alert(ts_us: i64, src: &str) -> Ioa {
        let mut e = crate::event::tests::sample_ioa(Severity::High);
        e.ts_us = ts_us;
        e.flow.src_ip = src.parse().unwrap();
        e
    }

    #[test]
    fn alerts_of_one_indicator_and_host_make_one_record_per_interval() {
        let mut a = Aggregator::new(
            Duration::from_secs(60),
            crate::config::default_home_net(),
            Arc::from("s"),
        );
        let mut out = Vec::new();
        let t0 = 1_700_000_020_000_000; // 40 s into a minute
        a.add(&alert(t0, "192.168.1.2"), &mut out);
        a.add(&alert(t0 + 5_000_000, "192.168.1.2"), &mut out);
        a.add(&alert(t0 + 6_000_000, "192.168.1.3"), &mut out);
        assert!(out.is_empty());
        // next minute: the first interval closes
        a.add(&alert(t0 + 30_000_000, "192.168.1.2"), &mut out);
        assert_eq!(out.len(), 2);
        let Record::Aggregate(r) = &out[0] else {
            panic!()
        };
        assert_eq!(r.host.to_string(), "192.168.1.2");
        assert_eq!(
            (r.first_seen_us, r.last_seen_us, r.count),
            (t0, t0 + 5_000_000, 2)
        );
        assert_eq!(r.ts_us, 1_700_000_040_000_000);
        out.clear();
        a.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(a.stats.records, 3);
    }
}
