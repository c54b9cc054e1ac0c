//! Threat-intelligence indicators: the model, feed parsers, the compiled immutable set, and the
//! store that swaps sets atomically. Knows nothing about packets.

pub mod feeds;
pub mod model;
pub mod set;
pub mod store;

pub use model::{Indicator, IndicatorType, MatchKind, Value};
pub use set::{IndicatorId, IndicatorSet, Match, SetBuilder};
pub use store::IndicatorStore;
