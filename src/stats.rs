//! Counters, each defined once. A counter struct is declared with [`counters!`](crate::counters); the one
//! declaration gives the struct, its `add` (workers keep their own counters, with no sharing on
//! the hot path, and they are added up for a summary), its JSON (the live stats record) and its
//! lines in the replay summary ([`summary`]). A counter added to a struct shows up everywhere at
//! once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

pub use crate::track::defrag::DefragStats;
pub use crate::track::quic::QuicStats;
pub use crate::track::tcp::FlowStats;

/// What [`Counters::each`] calls for every count.
pub type Visit<'a> = dyn FnMut(&[&'static str], u64, bool) + 'a;

/// Counters that can be added up and listed.
pub trait Counters {
    /// Add `other`'s counts to these.
    fn add(&mut self, other: &Self);
    /// Every count in declaration order: `(path, value, tallied)`, the path naming nested
    /// sections (`["flows", "created"]`), `tallied` when the last name is a [`Tally`]'s key
    /// rather than a declared field.
    fn each(&self, path: &mut Vec<&'static str>, f: &mut Visit<'_>);
    /// The doc comment of the declared field at `path` (through nested sections), one line;
    /// `None` for an undocumented field or a tally's key. The metrics' HELP lines.
    fn doc(_path: &[&str]) -> Option<String>
    where
        Self: Sized,
    {
        None
    }
}

/// The text of a field's doc attributes as [`counters!`](crate::counters) stringifies them
/// (`doc = r" Entries created."`), joined into one line; `None` if there is none.
pub fn doc_text(attrs: &[&str]) -> Option<String> {
    let mut out = String::new();
    for a in attrs {
        let Some(rest) = a.trim_start().strip_prefix("doc") else {
            continue;
        };
        if let (Some(i), Some(j)) = (rest.find('"'), rest.rfind('"')) {
            if j > i {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(rest[i + 1..j].trim());
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

impl Counters for u64 {
    fn add(&mut self, other: &Self) {
        *self += *other;
    }
    fn each(&self, path: &mut Vec<&'static str>, f: &mut Visit<'_>) {
        f(path, *self, false);
    }
}

/// Counts by a name known at compile time (`observables`: by where; `tunnels`: by kind).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tally(pub BTreeMap<&'static str, u64>);

impl Counters for Tally {
    fn add(&mut self, other: &Self) {
        for (k, v) in &other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }
    fn each(&self, path: &mut Vec<&'static str>, f: &mut Visit<'_>) {
        for (k, v) in &self.0 {
            path.push(k);
            f(path, *v, true);
            path.pop();
        }
    }
}

/// Declare a counter struct: every field is a `u64` or another [`Counters`] type (a nested
/// section or a [`Tally`]). Doc comments on the fields say what is counted.
#[macro_export]
macro_rules! counters {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }

        impl $crate::stats::Counters for $name {
            fn add(&mut self, other: &Self) {
                $($crate::stats::Counters::add(&mut self.$f, &other.$f);)*
            }
            fn each(&self, path: &mut Vec<&'static str>, f: &mut $crate::stats::Visit<'_>) {
                $(
                    path.push(stringify!($f));
                    $crate::stats::Counters::each(&self.$f, path, f);
                    path.pop();
                )*
            }
            fn doc(path: &[&str]) -> Option<String> {
                let (first, rest) = path.split_first()?;
                $(
                    if *first == stringify!($f) {
                        return if rest.is_empty() {
                            $crate::stats::doc_text(&[$(stringify!($fm)),*])
                        } else {
                            <$t as $crate::stats::Counters>::doc(rest)
                        };
                    }
                )*
                None
            }
        }
    };
}

counters! {
    /// What one worker saw and did.
    pub struct WorkerStats {
        packets: u64,
        /// Frames that carry no IP packet (ARP, LLDP, ...).
        non_ip: u64,
        /// Decode stopped early, by layer.
        errors_link: u64,
        errors_network: u64,
        errors_transport: u64,
        /// Frames nested deeper than `decode::MAX_ENCAP_DEPTH`.
        errors_encap: u64,
        /// DNS, mDNS and LLMNR messages that could not be read (wholly or in part).
        errors_dns: u64,
        /// ClientHellos that did not fit the segment they start in (reassembled over segments).
        tls_incomplete: u64,
        tls_malformed: u64,
        /// Observables that matched an indicator (valid, not allowlisted).
        matches: u64,
        /// Observables covered only by indicators outside their validity window at the packet's
        /// time (expired or not yet valid): no event.
        inactive: u64,
        /// Observables covered only by indicators restricted to a port (`match_port`) that the
        /// flow does not use: no event.
        port_mismatch: u64,
        /// Observables whose every valid alert match was suppressed by an allowlist entry (see
        /// the rule in `indicators::set`'s rank module): no event. An observable on an
        /// allowlist or warninglist only, matching no alert indicator, is not counted.
        allowlisted: u64,
        /// Events handed to the output stage (after de-duplication per flow; before
        /// suppression, which the output stage counts).
        events: u64,
        /// Matches not emitted because the same (flow, indicator, where) was already reported.
        duplicates: u64,
        /// Times the de-duplication table reached its cap, or a reload changed the set, and it
        /// was cleared.
        dedup_resets: u64,
        /// Observables checked, by where they were seen.
        observables: Tally,
        /// Packets seen inside each kind of tunnel (a packet counts once per layer).
        tunnels: Tally,
        /// IP reassembly.
        defrag: DefragStats,
        /// QUIC Initial decryption and CRYPTO reassembly.
        quic: QuicStats,
        /// The TCP flow table: entries, evictions, reassembly, application messages.
        flows: FlowStats,
        /// The retro-hunt memory (`[retro]`, `--retro-window`): zero when off.
        retro: RetroStats,
    }
}

counters! {
    /// The retro-hunt memory and its hunts.
    pub struct RetroStats {
        /// Observables remembered for the first time.
        remembered: u64,
        /// Updates of a remembered observable (a new flow).
        updated: u64,
        /// Entries evicted, least recently seen first, because the count or byte cap was reached.
        evicted: u64,
        /// Entries dropped because they were last seen longer than the window ago.
        expired: u64,
        /// Values longer than `retro::MAX_VALUE_LEN`, not remembered.
        too_long: u64,
        /// Entries held now (a gauge; adding sums the shards).
        entries: u64,
        /// Bytes held now (a gauge).
        bytes: u64,
        /// Hunts run (one per reload that swapped a set, per shard).
        hunts: u64,
        /// Retro events emitted.
        retro_events: u64,
        /// Entries read back at start from the state directory.
        restored: u64,
    }
}

counters! {
    /// Aggregates (`[aggregate]`) in the output stage.
    pub struct AggregateStats {
        /// Aggregate records emitted.
        records: u64,
        /// Alerts not aggregated because the table held `output::aggregate::MAX_AGGREGATES`
        /// pairs (the alerts themselves went out).
        dropped: u64,
    }
}

counters! {
    /// Alert suppression in the output stage.
    pub struct SuppressStats {
        /// Events held back inside a window.
        suppressed: u64,
        /// Follow-up events emitted.
        followups: u64,
        /// Events sent unsuppressed because the table was full.
        overflow: u64,
        /// Open windows now (a gauge: adding sums the stages').
        entries: u64,
    }
}

counters! {
    /// The live capture thread, published about once a second.
    pub struct LiveStats {
        /// Frames read from libpcap.
        packets: u64,
        bytes: u64,
        /// Packets dropped because their worker's queue was full.
        queue_full: u64,
        /// pcap_stats: packets received by the filter, dropped by the kernel (ring full), dropped
        /// by the interface or driver. Widened from libpcap's 32-bit counters across wraps.
        received: u64,
        kernel_drops: u64,
        interface_drops: u64,
        /// Times the kernel froze the TPACKET_V3 ring because every block was full and owned
        /// by the capture thread (`tp_freeze_q_cnt`; `method = "af_packet"` only).
        kernel_freezes: u64,
    }
}

/// A snapshot of one sink's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    pub name: String,
    /// Events written (for datagrams: handed to the kernel).
    pub sent: u64,
    /// Events lost: queue full, given up after errors, or left at shutdown.
    pub dropped: u64,
    /// Failed I/O operations (connects, writes, reopens).
    pub errors: u64,
    /// Events waiting in the queue now.
    pub queued: u64,
}

/// `"drops"` of the stats record: every place a packet or event can be lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drops {
    pub kernel: u64,
    pub interface: u64,
    pub queue_full: u64,
    pub sink: u64,
}

/// `"reloads"` of the stats record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reloads {
    pub ok: u64,
    pub failed: u64,
    /// End of the last reload, RFC 3339.
    pub last: Option<String>,
}

/// The `"event_type":"stats"` record of `iocd run`: sent to every sink each `[stats] interval`
/// and once more, `"final": true`, as the last line at shutdown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatsRecord {
    pub schema_version: u32,
    /// Wall time, RFC 3339 with microseconds.
    pub timestamp: String,
    pub event_type: &'static str,
    pub sensor: Arc<str>,
    pub interface: String,
    #[serde(rename = "final")]
    pub last: bool,
    pub uptime_s: u64,
    pub packets: u64,
    pub bytes: u64,
    pub received: u64,
    pub drops: Drops,
    /// Batches waiting in each worker's queue now.
    pub queue_depth: Vec<usize>,
    /// Every worker counter, added up over the workers.
    pub workers: WorkerStats,
    pub sinks: Vec<SinkStats>,
    /// Indicators in the set in force.
    pub indicators: usize,
    pub reloads: Reloads,
    pub suppression: Option<SuppressStats>,
    /// Each capture thread's counters (one entry for libpcap, `threads` for af_packet), by
    /// thread number.
    pub capture: Vec<LiveStats>,
    /// Fetches of the feeds iocd fetches itself (`url`); absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetches: Option<FetchStats>,
    /// `[aggregate]`, when on (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateStats>,
}

counters! {
    /// `"fetches"` of the stats record: the remote feeds' fetches since start.
    pub struct FetchStats {
        /// Rounds in which some feed was due.
        rounds: u64,
        /// Fetches that found the copy current (304, nothing new in a TAXII collection).
        unchanged: u64,
        /// Fetches that put a new copy in place.
        updated: u64,
        /// Fetches that failed (network, HTTP status, truncated, oversized, unparsable,
        /// shrunk): the last good copy stayed.
        failed: u64,
    }
}

/// The replay summary's lines for `c`: the plain counts of the top level on one line, a line
/// per nested section (`  flows: created 3 closed 2 ...`), a line per entry of a tally
/// (`  observables tls.sni: 4`).
pub fn summary<C: Counters>(c: &C) -> String {
    let mut top = String::new();
    let mut sections: Vec<(&'static str, String)> = Vec::new();
    let mut tallies = String::new();
    c.each(&mut Vec::new(), &mut |path, v, tallied| match path {
        [name] => {
            let _ = write!(top, " {name} {v}");
        }
        [section, name] if tallied => {
            let _ = writeln!(tallies, "  {section} {name}: {v}");
        }
        [section, rest @ ..] => {
            if sections.last().is_none_or(|(s, _)| s != section) {
                sections.push((section, String::new()));
            }
            if let Some((_, line)) = sections.last_mut() {
                let _ = write!(line, " {} {v}", rest.join("."));
            }
        }
        [] => {}
    });
    let mut out = String::new();
    if !top.is_empty() {
        let _ = writeln!(out, " {top}");
    }
    out.push_str(&tallies);
    for (s, line) in sections {
        let _ = writeln!(out, "  {s}:{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_every_counter_nested_and_tallied() {
        let mut a = WorkerStats {
            packets: 2,
            ..Default::default()
        };
        a.flows.created = 1;
        a.observables.0.insert("tls.sni", 3);
        let mut b = a.clone();
        b.quic.timeouts = 4;
        b.observables.0.insert("dns.query", 1);
        a.add(&b);
        assert_eq!(a.packets, 4);
        assert_eq!(a.flows.created, 2);
        assert_eq!(a.quic.timeouts, 4);
        assert_eq!(a.observables.0["tls.sni"], 6);
        assert_eq!(a.observables.0["dns.query"], 1);
    }

    #[test]
    fn a_counters_doc_comment_is_found_by_its_path() {
        assert_eq!(
            WorkerStats::doc(&["flows", "created"]).as_deref(),
            Some("Entries created (a SYN, or the first payload of an unknown flow).")
        );
        assert_eq!(
            LiveStats::doc(&["kernel_freezes"])
                .as_deref()
                .map(|d| d.starts_with("Times the kernel froze")),
            Some(true)
        );
        assert_eq!(WorkerStats::doc(&["tls_malformed"]), None, "undocumented");
        assert_eq!(WorkerStats::doc(&["observables", "tls.sni"]), None);
        assert_eq!(WorkerStats::doc(&["no_such"]), None);
    }

    #[test]
    fn summary_and_record_list_the_same_counters() {
        let mut w = WorkerStats {
            allowlisted: 7,
            ..Default::default()
        };
        w.defrag.overlaps = 5;
        w.observables.0.insert("tls.sni", 2);
        let text = summary(&w);
        assert!(text.contains(" allowlisted 7"), "{text}");
        assert!(text.contains("  defrag: fragments 0"), "{text}");
        assert!(text.contains(" overlaps 5"), "{text}");
        assert!(text.contains("  observables tls.sni: 2"), "{text}");
        let json = serde_json::to_value(&w).unwrap();
        let mut n = 0;
        w.each(&mut Vec::new(), &mut |path, v, _| {
            let mut j = &json;
            for p in path {
                j = &j[p];
            }
            assert_eq!(j.as_u64(), Some(v), "{path:?}");
            n += 1;
        });
        assert!(n > 40, "{n}");
    }
}
