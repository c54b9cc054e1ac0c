//! `[daemon]`: privilege drop (`iocd run`) and the state directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where iocd keeps what it makes and must find again after a restart (downloaded feeds,
/// feed-polling state, the retro-hunt memory), unless `[daemon] state_dir` says otherwise.
/// The shipped units make it writable (`ReadWritePaths=/var/lib/iocd`) and tmpfiles creates it.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/iocd";

/// `[daemon]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// User to switch to after opening the capture, when started as root. Default: "iocd";
    /// "root" keeps root (not recommended).
    pub user: Option<String>,
    /// Group; default: the user's primary group.
    pub group: Option<String>,
    /// State directory; default [`DEFAULT_STATE_DIR`]. Each user of it keeps to its own
    /// subdirectory (`feeds/`, `retro/`, ...).
    pub state_dir: Option<PathBuf>,
}

impl DaemonConfig {
    /// The state directory to use.
    pub fn state_dir(&self) -> &Path {
        self.state_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_STATE_DIR))
    }

    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in [("user", &self.user), ("group", &self.group)] {
            if v.as_deref().is_some_and(|n| n.trim().is_empty()) {
                out.push(format!("daemon.{key} must not be empty"));
            }
        }
        if self
            .state_dir
            .as_deref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            out.push("daemon.state_dir must not be empty".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_user_or_group_is_reported() {
        let d = DaemonConfig {
            user: Some(String::new()),
            group: Some(" ".into()),
            state_dir: Some(PathBuf::new()),
        };
        assert_eq!(d.problems().len(), 3);
        assert!(DaemonConfig::default().problems().is_empty());
        assert_eq!(
            DaemonConfig::default().state_dir(),
            Path::new(DEFAULT_STATE_DIR)
        );
    }
}
