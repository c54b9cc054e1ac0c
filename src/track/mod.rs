//! Per-worker trackers: the state that puts packets back together before the application
//! layer reads them. [`tcp`] reassembles each direction of a TCP flow, [`quic`] decrypts
//! client Initials and reassembles their CRYPTO stream, [`defrag`] rebuilds fragmented IP
//! datagrams.
//!
//! Trackers know transports, not application protocols: the TCP table hands each direction's
//! readable bytes to a [`tcp::StreamParser`] and the QUIC tracker its CRYPTO prefix to a
//! handshake parser, both supplied by the application-layer seam. Everything here is bounded
//! (named `MAX_*` limits) and counted; every tracker is per worker, so nothing is locked: both
//! directions of a flow and every fragment of a datagram reach the same worker
//! ([`crate::decode::flow_hash`]).

pub mod defrag;
pub mod evict;
pub mod quic;
pub mod tcp;
