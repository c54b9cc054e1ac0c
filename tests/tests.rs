//! Integration tests: every one runs the real `iocd` binary on real or generated captures.

mod util;

mod cli;
mod corpus;
mod robustness;
mod tcp;
