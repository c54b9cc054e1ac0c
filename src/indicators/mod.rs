//! Threat-intelligence indicators: the model, feed parsers, the compiled immutable set, and the
//! store that swaps sets atomically. Knows nothing about packets.

pub mod feeds;
mod filter;
pub mod formats;
pub mod model;
pub mod set;
pub mod store;
pub mod value;

pub use model::{
    parse_time, Action, Context, Fields, IndicatorType, MatchKind, MatchMode, Severity, Value,
};
pub use set::{
    AllowRule, AllowVerdict, ContextId, Decision, Hit, HitValue, IndicatorId, IndicatorSet, Match,
    SetBuilder,
};
pub use store::IndicatorStore;
