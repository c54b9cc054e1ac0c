//! `[aggregate]`: a periodic summary record per (indicator, internal host) (issue 16).

use std::time::Duration;

use serde::Deserialize;

/// Shortest interval: a second (a shorter one is one record per alert again).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Longest interval: a day, as `[suppress] window`: a longer one reads as silence to a SIEM.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// `[aggregate]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// Emit one `"event_type": "aggregate"` record per (indicator, internal host) every
    /// interval, e.g. "5m". Unset or "0s": off (the default).
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub interval: Option<Duration>,
}

impl AggregateConfig {
    /// The interval when aggregates are on.
    pub fn interval(&self) -> Option<Duration> {
        self.interval.filter(|d| !d.is_zero())
    }

    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        match self.interval() {
            Some(d) if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&d) => {
                vec!["aggregate.interval must be between 1s and 24h (or \"0s\": off)".into()]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_off_by_default_and_bounded() {
        assert_eq!(AggregateConfig::default().interval(), None);
        let c = |s| AggregateConfig {
            interval: Some(Duration::from_secs(s)),
        };
        assert_eq!(c(0).interval(), None);
        assert!(c(0).problems().is_empty());
        assert!(c(300).problems().is_empty());
        assert_eq!(c(2 * 86_400).problems().len(), 1);
    }
}
