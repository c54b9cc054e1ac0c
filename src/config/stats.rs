//! `[stats]`: the periodic stats record (`iocd run`).

use std::time::Duration;

use serde::Deserialize;

/// `[stats]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsConfig {
    /// Interval of the stats record and log line, e.g. "60s"; "0s" disables. Default: 60 s.
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub interval: Option<Duration>,
}

/// Shortest stats interval but 0 (off): a record is a few KiB on every sink, and pcap_stats
/// is read once a second anyway.
pub const MIN_STATS_INTERVAL: Duration = Duration::from_secs(1);

impl StatsConfig {
    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        match self.interval {
            Some(i) if !i.is_zero() && i < MIN_STATS_INTERVAL => {
                vec!["stats.interval must be 0s (off) or at least 1s".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// Default stats interval.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sub_second_interval_is_reported_and_zero_is_off() {
        let c = |ms| StatsConfig {
            interval: Some(Duration::from_millis(ms)),
        };
        assert_eq!(c(10).problems().len(), 1);
        assert!(c(0).problems().is_empty());
        assert!(c(1000).problems().is_empty());
    }
}
