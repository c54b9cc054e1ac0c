//! Integration tests: every one runs the real `iocd` binary on real or generated captures.

mod util;

mod cli;
mod corpus;
mod dns;
mod indicators;
mod input;
mod quic;
mod real;
mod reload;
mod robustness;
mod tcp;
mod tunnels;
