//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// iocd: match network traffic against threat-intelligence indicators.
#[derive(Debug, Parser)]
#[command(name = "iocd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay capture files (pcap or pcapng) and report indicator matches as JSON lines.
    ///
    /// Exit status: 0 ok; 1 a capture file could not be read (the others are still replayed) or
    /// output failed; 2 usage error; 78 bad configuration or no usable feed.
    Replay(ReplayArgs),
    /// Capture live on an interface until SIGTERM (the daemon; see systemd/iocd.service).
    ///
    /// SIGHUP reloads the feeds and reopens file sinks; SIGTERM or SIGINT drains and exits 0 (a
    /// second one exits at once). Exit status: 0 ok; 1 capture or output failure; 78 bad
    /// configuration or no usable feed.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (see config/iocd.toml for every key).
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "/etc/iocd/iocd.toml"
    )]
    pub config: PathBuf,
    /// Interface to capture on; overrides [capture] interface.
    #[arg(short, long, value_name = "IF")]
    pub interface: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// TOML configuration file (see config/iocd.toml for every key).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Plain-text indicator feed; repeatable; added to the feeds of the config.
    #[arg(short, long = "feed", value_name = "FILE")]
    pub feeds: Vec<PathBuf>,
    /// Write events to FILE instead of standard output (`-` is standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads [default: the config's, else the number of available cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Capture files, replayed in the order given.
    #[arg(required = true, value_name = "PCAP")]
    pub pcaps: Vec<PathBuf>,
}
