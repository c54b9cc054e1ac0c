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

impl DaemonConfig {
    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in [("user", &self.user), ("group", &self.group)] {
            if v.as_deref().is_some_and(|n| n.trim().is_empty()) {
                out.push(format!("daemon.{key} must not be empty"));
            }
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
        };
        assert_eq!(d.problems().len(), 2);
        assert!(DaemonConfig::default().problems().is_empty());
    }
}
