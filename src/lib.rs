//! iocd: extract observables from network traffic and match them against threat-intelligence
//! indicators.
//!
//! # Threads and channels
//!
//! ```text
//!  capture thread ──batch──▶ worker 0 ──┐
//!   read, copy once,──batch──▶ worker 1 ──┼──event line──▶ fan-out ──▶ sink tasks (tokio)
//!   hash → worker  ──batch──▶ worker N ──┘
//!        ▲      recycled empty batches      │
//!        └──────────────────────────────────┘
//! ```
//!
//! The capture thread reads the inputs ([`input`]: pcap and pcapng, compressed or not, files,
//! directories, FIFOs and stdin, in order or merged by timestamp) and ([`capture`]) copies each frame once into a per-worker batch, choosing the
//! worker by a symmetric hash of the IP addresses ([`decode::flow_hash`]) so both directions of a
//! flow, and every fragment of a datagram, meet in the same worker. Batches travel over bounded
//! `crossbeam-channel` queues; replay blocks when a queue is full, so nothing is lost.
//!
//! Workers ([`worker`]) decode ([`decode`], [`proto`]), check observables against the current
//! [`indicators::IndicatorSet`], de-duplicate per (flow, indicator, where) and send event lines
//! to the outputs ([`output`]): a fan-out thread offers each line to every sink's bounded
//! queue, and the sinks (JSON file or socket, syslog) run on a tokio runtime of their own.
//!
//! `iocd replay` reads files and never drops ([`app`]); `iocd run` ([`daemon`]) captures live,
//! never blocks the capture thread (a batch for a full worker queue is dropped and counted),
//! and adds the control loop: signals, sd_notify, periodic stats, alert suppression
//! ([`suppress`]).
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
//! `also_matched`. `iocd check` and `iocd lookup` ([`analyst`]) show the same from the shell.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod applayer;
pub mod capture;
pub mod cli;
pub mod community_id;
pub mod config;
pub mod control;
pub mod decode;
pub mod event;
pub mod indicators;
pub mod mode;
pub mod name;
pub mod observe;
pub mod output;
pub mod pipeline;
pub mod proto;
pub mod reload;
pub mod settings;
pub mod stats;
pub mod track;
pub mod worker;
