//! `[suppress]`: alert suppression per (indicator, internal host).

use std::time::Duration;

use serde::Deserialize;

/// `[suppress]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressConfig {
    /// Window per (indicator, internal host), e.g. "60s"; "0s" disables. Unset: 60 s for
    /// `iocd run`, off for `iocd replay` (a hunter wants every event).
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub window: Option<Duration>,
}

/// Longest window: a day. A longer one would hold a host's repeats back for days, which reads
/// as silence to an analyst.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl SuppressConfig {
    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        match self.window {
            Some(w) if w > MAX_WINDOW => vec!["suppress.window must be at most 24h".into()],
            _ => Vec::new(),
        }
    }
}

/// The default window of `iocd run`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_over_a_day_is_reported() {
        let c = |s| SuppressConfig {
            window: Some(Duration::from_secs(s)),
        };
        assert_eq!(c(24 * 3600 + 1).problems().len(), 1);
        assert!(c(60).problems().is_empty());
    }
}
