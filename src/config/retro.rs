//! `[retro]`: the retro-hunt memory (issue 16): the observables recently seen, hunted when a
//! reload adds indicators.

use std::time::Duration;

use serde::Deserialize;

/// Default window: a day, the span an analyst asks about when an indicator arrives ("was it
/// contacted today?") and the issue's default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Longest window: a week; past it the memory's count cap, not the window, decides on a busy
/// link, and a typo ("24d" for "24h") is caught.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default cap on remembered observables, over all workers: the issue's 10 million.
pub const DEFAULT_MAX_OBSERVABLES: u64 = 10_000_000;

/// Default memory cap, over all workers: the issue's 1 GiB (about 130 bytes an observable:
/// 10 M take ~1.3 GB, so on a link that fills it the byte cap decides first, at ~8 M).
pub const DEFAULT_MEMORY: u64 = 1 << 30;

/// Smallest memory cap: 1 MiB still keeps ~8,000 observables (a test, a quiet link).
pub const MIN_MEMORY: u64 = 1 << 20;

/// Largest memory cap: 64 GiB, beyond any sensor; catches "1TiB"-style unit slips.
pub const MAX_MEMORY: u64 = 64 << 30;

/// `[retro]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetroConfig {
    /// Remember observables and hunt them when a reload adds indicators; the memory is kept
    /// in `<state_dir>/retro/` across restarts. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// How long an observable is remembered after it was last seen, e.g. "24h".
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub window: Option<Duration>,
    /// Most observables remembered (over all workers); the least recently seen go first.
    pub max_observables: Option<u64>,
    /// Most bytes the memory takes (over all workers), e.g. "1GiB".
    #[serde(default, deserialize_with = "de_opt_size")]
    pub memory: Option<u64>,
}

impl RetroConfig {
    pub fn window(&self) -> Duration {
        self.window.unwrap_or(DEFAULT_WINDOW)
    }

    pub fn max_observables(&self) -> u64 {
        self.max_observables.unwrap_or(DEFAULT_MAX_OBSERVABLES)
    }

    pub fn memory(&self) -> u64 {
        self.memory.unwrap_or(DEFAULT_MEMORY)
    }

    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(w) = self.window {
            if w.is_zero() || w > MAX_WINDOW {
                p.push("retro.window must be more than 0s and at most 7 days (\"24h\")".into());
            }
        }
        if self.max_observables == Some(0) {
            p.push("retro.max_observables must be at least 1".into());
        }
        if self
            .memory
            .is_some_and(|m| !(MIN_MEMORY..=MAX_MEMORY).contains(&m))
        {
            p.push(format!(
                "retro.memory must be between {}MiB and {}GiB",
                MIN_MEMORY >> 20,
                MAX_MEMORY >> 30
            ));
        }
        p
    }
}

fn de_opt_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(Some(n)),
        Size::Text(t) => super::tables::parse_size(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_reported_and_defaults_are_the_issues() {
        let c: RetroConfig = toml::from_str(
            "enabled = true\nwindow = \"8d\"\nmax_observables = 0\nmemory = \"2KiB\"",
        )
        .unwrap();
        assert_eq!(c.problems().len(), 3, "{:?}", c.problems());
        let d = RetroConfig::default();
        assert!(d.problems().is_empty());
        assert_eq!(d.window(), Duration::from_secs(86_400));
        assert_eq!(d.max_observables(), 10_000_000);
        assert_eq!(d.memory(), 1 << 30);
        let ok: RetroConfig = toml::from_str("window = \"1h\"\nmemory = \"64MiB\"").unwrap();
        assert!(ok.problems().is_empty());
        assert_eq!(ok.memory(), 64 << 20);
    }
}
