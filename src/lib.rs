//! iocd: extract observables from network traffic and match them against threat-intelligence
//! indicators.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod indicators;
pub mod name;
pub mod proto;
