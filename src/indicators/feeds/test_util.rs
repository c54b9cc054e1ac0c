//! Helpers shared by the feeds unit tests: a feed file written to a temporary directory, and
//! the feed that a name's best match came from.

use std::path::Path;

use crate::config::FeedConfig;
use crate::indicators::IndicatorSet;

pub(super) fn write_feed(dir: &Path, file: &str, text: &[u8]) -> FeedConfig {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    FeedConfig::from_path(path)
}

pub(super) fn feed_of<'a>(set: &'a IndicatorSet, name: &[u8]) -> Option<&'a str> {
    set.best_domain(name).map(|m| &*m.context.feed)
}

/// [`super::build_set`] with no `home_net`.
pub(super) fn build_set_t(
    feeds: &[FeedConfig],
) -> Result<(super::IndicatorSet, super::LoadReport), super::BuildError> {
    super::build_set(feeds, &[])
}

/// [`super::rebuild`] with no `home_net`.
pub(super) fn rebuild_t(
    feeds: &[FeedConfig],
    previous: &super::IndicatorSet,
) -> (super::IndicatorSet, super::LoadReport) {
    super::rebuild(feeds, &[], previous)
}
