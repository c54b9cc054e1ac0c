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

/// Default stats interval.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(60);
