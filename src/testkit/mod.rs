//! Dev-only packet builders shared by unit tests, integration tests and benches: Ethernet,
//! IPv4/IPv6, UDP/TCP with checksums and pcap files ([`wire`]), DNS messages ([`dns`]), TLS
//! ClientHellos ([`tls`]) and protected QUIC Initial packets ([`quic`]).
//!
//! One source, compiled three ways: into the library under `#[cfg(test)]`
//! (`crate::testkit`), and by `#[path = ".../src/testkit/mod.rs"]` into `tests/util.rs` and
//! `benches/replay.rs`. So it uses only std and crates of `[dependencies]`, and never a
//! `crate::` path: it cannot depend on the code it is used to test.
//!
//! The fuzz seeds (`fuzz/seeds/extract.py`) are extracted from the capture corpus and do not
//! use this kit.

// Each target that compiles this module uses a different subset of it.
#![allow(dead_code)]

pub mod dns;
pub mod quic;
pub mod tls;
pub mod wire;
