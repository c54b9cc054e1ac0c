//! The compiled, immutable indicator set.

use std::net::IpAddr;

use super::{Indicator, MatchKind, Value};

/// Index of an indicator in its set.
pub type IndicatorId = u32;

/// A successful lookup.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    pub id: IndicatorId,
    pub indicator: &'a Indicator,
    pub kind: MatchKind,
}

/// Collects indicators, then compiles them.
#[derive(Default)]
pub struct SetBuilder {}

impl SetBuilder {
    pub fn new() -> Self {
        SetBuilder::default()
    }
    /// Add one indicator of feed `feed`.
    pub fn add(&mut self, feed: &str, value: Value) {
        let _ = (feed, value);
        todo!("indicators helper")
    }
    pub fn build(self) -> IndicatorSet {
        todo!("indicators helper")
    }
}

/// Immutable after build; shared by every worker.
#[derive(Default)]
pub struct IndicatorSet {}

impl IndicatorSet {
    /// Most specific indicator covering `ip`: an exact address first, else the longest CIDR.
    pub fn match_ip(&self, ip: IpAddr) -> Option<Match<'_>> {
        let _ = ip;
        todo!("indicators helper")
    }
    /// Most specific indicator covering the normalised `name`: the name itself, else the nearest
    /// parent domain on a label boundary.
    pub fn match_domain(&self, name: &[u8]) -> Option<Match<'_>> {
        let _ = name;
        todo!("indicators helper")
    }
    pub fn len(&self) -> usize {
        todo!("indicators helper")
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
