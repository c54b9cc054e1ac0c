//! iocd: extract observables from network traffic and match them against threat-intelligence
//! indicators.
//!
//! # Layers
//!
//! ```text
//!  mode (replay · run · analyst)  ← settings (CLI + config, once)
//!    └▶ pipeline: the threads and channels, the control loop (control: reload, shutdown, tick)
//!         capture ──batch──▶ worker × N ──Record──▶ output stage ──▶ sink tasks (tokio)
//!         (file, live;       decode → track →       (suppress,       (encode: JSON,
//!          flow hash)        applayer → proto →      fan-out)          syslog)
//!                            match (indicators)
//! ```
//!
//! The capture thread reads the inputs ([`capture::file`]: pcap and pcapng, compressed or not,
//! files, directories, FIFOs and stdin, in order or merged by timestamp; or [`capture::live`]:
//! libpcap) and ([`capture`]) copies each frame once into a per-worker batch, choosing the
//! worker by a symmetric hash of the IP addresses so both directions of a flow, and every
//! fragment of a datagram, meet in the same worker. Batches travel over bounded
//! `crossbeam-channel` queues; replay blocks when a queue is full, so nothing is lost; live
//! capture drops and counts.
//!
//! Workers ([`worker`]) decode ([`decode`]), track flows ([`track`]), hand stream and datagram
//! payloads to the application-layer dispatch ([`applayer`], over the pure parsers in
//! [`proto`]), check observables against the current [`indicators::IndicatorSet`],
//! de-duplicate per (flow, indicator, where) and hand typed records ([`event`]) to the output
//! stage ([`output`]): suppression, then every sink's bounded queue; each sink encodes a
//! record once (JSON lines, RFC 5424/3164 syslog).
//!
//! [`pipeline`] is the one place threads are made, for every mode; the modes ([`mode`]) are
//! policies on top: what the source is, block or drop, what the control loop adds (`run`:
//! sd_notify, watchdog, periodic stats records), exit codes. Every counter is declared once
//! ([`stats`]). `ARCHITECTURE.md` has one line per module and the rules each layer keeps.
//!
//! # The indicator set and reload
//!
//! Feeds are compiled into an immutable [`indicators::IndicatorSet`] held by an
//! [`indicators::IndicatorStore`] (an `ArcSwap`). Workers load the current set once per batch; a
//! reload builds a whole new set off the hot path and swaps the pointer, so readers never see a
//! half-built set and never take a lock. The reload ([`reload`], on SIGHUP in both `run` and
//! `replay`) re-reads the config's feed list and rebuilds every feed; a feed that fails keeps its
//! last good entries, copied from the set in force ([`indicators::feeds::rebuild`]).
//!
//! Each indicator carries its context (feed, severity, confidence, tags, validity, action...),
//! interned per set. A lookup returns every indicator covering an observable;
//! [`indicators::IndicatorSet::decide`] applies validity at the packet's time and allowlists and
//! ranks the rest, and the event carries the first as `indicator` and the others as
//! `also_matched`. `iocd check` and `iocd lookup` ([`mode::analyst`]) show the same from the
//! shell.
// Denied, not forbidden, so that the one module that sets packet-socket options
// (`capture::sockopt`: PACKET_FANOUT, PACKET_STATISTICS) can allow it; nothing else may.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod applayer;
pub mod capture;
pub mod cli;
pub mod community_id;
pub mod config;
pub mod control;
pub mod decode;
pub mod event;
pub mod fetch;
pub mod indicators;
pub mod metrics;
pub mod mode;
pub mod name;
pub mod observe;
pub mod output;
pub mod pipeline;
pub mod proto;
pub mod reload;
pub mod retro;
pub mod settings;
pub mod stats;
/// Dev-only packet builders for the unit tests (also compiled into tests/ and benches/ by path).
#[cfg(test)]
pub(crate) mod testkit;
pub mod track;
pub mod url;
pub mod worker;
