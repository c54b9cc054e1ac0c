//! Counters. Each worker keeps its own (no sharing on the hot path) and they are added up at
//! the end of a replay.

use std::collections::BTreeMap;

use crate::track::defrag::DefragStats;
pub use crate::track::quic::QuicStats;
use crate::track::tcp::FlowStats;

/// What one worker saw and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    pub packets: u64,
    /// Frames that carry no IP packet (ARP, LLDP, ...).
    pub non_ip: u64,
    /// Decode stopped early, by layer.
    pub errors_link: u64,
    pub errors_network: u64,
    pub errors_transport: u64,
    /// Frames nested deeper than `decode::MAX_ENCAP_DEPTH`.
    pub errors_encap: u64,
    /// Packets seen inside each kind of tunnel (a packet counts once per layer).
    pub tunnels: BTreeMap<&'static str, u64>,
    /// IP reassembly.
    pub defrag: DefragStats,
    /// DNS, mDNS and LLMNR messages that could not be read (wholly or in part).
    pub errors_dns: u64,
    /// ClientHellos that did not fit the segment they start in (reassembled over segments).
    pub tls_incomplete: u64,
    pub tls_malformed: u64,
    /// Observables checked, by where they were seen.
    pub observables: BTreeMap<&'static str, u64>,
    /// Observables that matched an indicator (valid, not allowlisted).
    pub matches: u64,
    /// Observables covered only by indicators outside their validity window at the packet's
    /// time (expired or not yet valid): no event.
    pub inactive: u64,
    /// Observables covered by an allowlist entry: no event.
    pub allowlisted: u64,
    /// Events emitted (after de-duplication per flow).
    pub events: u64,
    /// Matches not emitted because the same (flow, indicator, where) was already reported.
    pub duplicates: u64,
    /// Times the de-duplication table reached its cap and was cleared.
    pub dedup_resets: u64,
    /// QUIC Initial decryption and CRYPTO reassembly.
    pub quic: QuicStats,
    /// The TCP flow table: entries, evictions, reassembly, application messages.
    pub flows: FlowStats,
}

impl WorkerStats {
    pub fn add(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.non_ip += o.non_ip;
        self.errors_link += o.errors_link;
        self.errors_network += o.errors_network;
        self.errors_transport += o.errors_transport;
        self.errors_encap += o.errors_encap;
        for (k, v) in &o.tunnels {
            *self.tunnels.entry(k).or_default() += v;
        }
        self.defrag.add(&o.defrag);
        self.errors_dns += o.errors_dns;
        self.tls_incomplete += o.tls_incomplete;
        self.tls_malformed += o.tls_malformed;
        for (k, v) in &o.observables {
            *self.observables.entry(k).or_default() += v;
        }
        self.matches += o.matches;
        self.inactive += o.inactive;
        self.allowlisted += o.allowlisted;
        self.events += o.events;
        self.duplicates += o.duplicates;
        self.dedup_resets += o.dedup_resets;
        self.quic.add(&o.quic);
        self.flows.add(&o.flows);
    }
}
