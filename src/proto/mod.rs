//! Application-protocol parsers: pure functions over bytes, bounded, no I/O, no logging.
//!
//! Each parser validates lengths before it reads, so no input can make it panic, loop or allocate
//! without bound; errors are small `Copy` enums that the caller counts.

pub mod dns;
pub mod http;
pub mod ja;
pub mod mime;
pub mod quic;
pub mod smtp;
pub mod tls;
pub mod tls_server;
