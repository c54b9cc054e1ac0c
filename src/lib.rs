//! iocd: extract observables from network traffic and match them against threat-intelligence
//! indicators.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
pub mod indicators;
pub mod name;
pub mod proto;
pub mod app;
pub mod capture;
pub mod cli;
pub mod community_id;
pub mod decode;
pub mod event;
pub mod sink;
pub mod stats;
pub mod worker;
