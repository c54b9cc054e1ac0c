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

/// The default window of `iocd run`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
