//! `[daemon]`: privilege drop (`iocd run`).

use serde::Deserialize;

/// `[daemon]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// User to switch to after opening the capture, when started as root. Default: "iocd";
    /// "root" keeps root (not recommended).
    pub user: Option<String>,
    /// Group; default: the user's primary group.
    pub group: Option<String>,
}
