//! Integration tests: every one runs the real `iocd` binary on real or generated captures.

mod util;

mod allowlists;
mod cli;
mod content;
mod corpus;
mod dns;
mod fanout;
mod feed_shapes;
mod fetch;
mod fingerprints;
mod formats;
mod http;
mod indicators;
mod input;
mod live;
mod metrics;
mod quic;
mod real;
mod reload;
mod retro;
mod robustness;
mod sinks;
mod sinks_broker;
mod smtp;
mod suppress;
mod syslog;
mod systemd;
mod tables;
mod tcp;
mod tls_server;
mod token_feeds;
mod tunnels;
