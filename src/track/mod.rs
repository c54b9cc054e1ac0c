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
//! (the capture side's dispatch hash).

pub mod defrag;
pub mod evict;
pub mod quic;
pub mod tcp;

/// What one worker's connection tables may hold, derived from its memory budget (`[tables]
/// memory`; see [`crate::config::tables::DEFAULT_TABLE_MEMORY`] for the default's arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCaps {
    /// QUIC connections ([`quic::QuicTracker::with_cap`]).
    pub quic_connections: usize,
    /// TCP flow entries ([`tcp::FlowTable::with_caps`]).
    pub tcp_flows: usize,
    /// Bytes of TCP reassembly buffers.
    pub tcp_buffered_bytes: usize,
}

impl TableCaps {
    /// Split `memory` bytes: half to QUIC connections at [`quic::CONN_COST`] each (their
    /// CRYPTO buffers included, so the table stays within its half even when every entry is an
    /// attacker's maximal one), a quarter to TCP flow entries at
    /// [`tcp::FlowTable::FLOW_COST`] each for the parser `P`, a quarter to TCP reassembly
    /// buffers (budgeted by their actual size).
    pub fn from_memory<P: tcp::StreamParser>(memory: u64) -> TableCaps {
        let m = usize::try_from(memory).unwrap_or(usize::MAX);
        TableCaps {
            quic_connections: m / 2 / quic::CONN_COST,
            tcp_flows: m / 4 / tcp::FlowTable::<P>::FLOW_COST,
            tcp_buffered_bytes: m / 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tables::{DEFAULT_TABLE_MEMORY, MIN_TABLE_MEMORY};

    fn caps(memory: u64) -> TableCaps {
        TableCaps::from_memory::<crate::applayer::Stream>(memory)
    }

    #[test]
    fn the_default_budget_gives_the_caps_its_doc_computes() {
        let c = caps(DEFAULT_TABLE_MEMORY);
        // config/tables.rs: ~6,990 QUIC connections, ~258,000 flows, 64 MiB of buffers.
        assert!((6_500..7_500).contains(&c.quic_connections), "{c:?}");
        assert!((250_000..330_000).contains(&c.tcp_flows), "{c:?}");
        assert_eq!(c.tcp_buffered_bytes, 64 << 20);
        // More than the old fixed caps.
        assert!(c.quic_connections > quic::MAX_QUIC_CONNECTIONS);
        assert!(c.tcp_flows > tcp::MAX_FLOWS);
        assert!(c.tcp_buffered_bytes > tcp::MAX_BUFFERED_BYTES);
    }

    #[test]
    fn the_smallest_budget_still_holds_a_round_trip_of_a_quiet_link() {
        let c = caps(MIN_TABLE_MEMORY);
        assert!(c.quic_connections >= 100, "{c:?}");
        assert!(c.tcp_flows >= 4_000, "{c:?}");
        // The worst case fits the budget.
        let worst = c.quic_connections * quic::CONN_COST
            + c.tcp_flows * tcp::FlowTable::<crate::applayer::Stream>::FLOW_COST
            + c.tcp_buffered_bytes;
        assert!(worst as u64 <= MIN_TABLE_MEMORY);
    }
}
