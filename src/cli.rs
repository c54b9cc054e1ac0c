//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `iocd -V`: the version and the git commit it was built from ("unknown" from a tarball).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IOCD_COMMIT"),
    ")"
);

/// `iocd --version`: [`VERSION`], then the cargo features, target and profile of the build.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IOCD_COMMIT"),
    ")\nfeatures: ",
    env!("IOCD_FEATURES"),
    "\ntarget: ",
    env!("IOCD_TARGET"),
    "\nprofile: ",
    env!("IOCD_PROFILE"),
);

/// iocd: match network traffic against threat-intelligence indicators.
#[derive(Debug, Parser)]
#[command(name = "iocd", version = VERSION, long_version = LONG_VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay capture files (pcap or pcapng) and report indicator matches as JSON lines.
    ///
    /// Inputs: files, directories (every capture inside, in name order), `-` for standard
    /// input, FIFOs; gzip and zstd compression is undone (recognised by content, not name).
    /// A damaged input (truncated, impossible record length, garbage) is replayed up to the
    /// damage, which is reported with its byte offset.
    ///
    /// Exit status: 0 ok; 1 an input could not be opened or read at all (the others are still
    /// replayed), or the output failed; 2 usage error (bad --bpf expression included); 3 the
    /// replay completed but some input was damaged (its readable prefix was replayed; 1 wins
    /// over 3); 78 bad configuration or no usable feed.
    Replay(ReplayArgs),
    /// Load the config and every feed, and report per feed: indicators by type, duplicates,
    /// skipped entries by reason, and each bad entry as `file:line: reason`.
    ///
    /// Exit status: 0 every feed usable; 1 some feed unusable (unreadable, rejected as a whole,
    /// more bad entries than its max_bad_ratio, or no indicator in it); 78 bad configuration.
    Check(FeedArgs),
    /// Print every indicator, with its context, that would match each value (an IP address or
    /// a domain name, as seen in traffic), or "no match".
    ///
    /// Exit status: 0 some value matched; 1 no value matched; 78 bad configuration or no usable
    /// feed.
    Lookup(LookupArgs),
    /// Capture live on an interface until SIGTERM (the daemon; see systemd/iocd.service).
    ///
    /// SIGHUP reloads the feeds and reopens file sinks; SIGTERM or SIGINT drains and exits 0 (a
    /// second one exits at once). Exit status: 0 ok; 1 capture or output failure; 78 bad
    /// configuration or no usable feed.
    Run(RunArgs),
    /// Feeds iocd fetches itself (`url = ...` in `[[feeds]]`).
    #[command(subcommand)]
    Feeds(FeedsCommand),
}

/// `iocd feeds ...`
#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Fetch every remote feed once into the state directory and print per feed what happened
    /// (unchanged, updated, failed and why; a failed feed keeps its last good copy). For
    /// `iocd replay` and `iocd check`, which read the local copies and fetch nothing.
    ///
    /// Exit status: 0 every feed fetched (or unchanged); 1 some feed failed; 78 bad
    /// configuration.
    Update(UpdateArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// TOML configuration file.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "/etc/iocd/iocd.toml"
    )]
    pub config: PathBuf,
}

/// Where the indicators come from, for `check` and `lookup`.
#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    /// TOML configuration file [default: /etc/iocd/iocd.toml, unless --feed is given].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Plain-text indicator feed; repeatable; added to the feeds of the config.
    #[arg(short, long = "feed", value_name = "FILE")]
    pub feeds: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub source: FeedArgs,
    /// One JSON object per value (`{"value":..,"matches":[..]}`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Judge validity windows at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// IP addresses or domain names.
    #[arg(required = true, value_name = "VALUE")]
    pub values: Vec<String>,
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
    /// Interface to capture on; overrides the config's `[capture] interface`.
    #[arg(short, long, value_name = "IF")]
    pub interface: Option<String>,
    /// Run as instance NAME (iocd@NAME.service): read NAME.toml beside --config when it
    /// exists, else --config with this instance's own sensor name (SENSOR-NAME) and JSON files
    /// (events.json becomes events.NAME.json). The interface defaults to the instance file's
    /// `[capture] interface`, else NAME.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
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
    /// Capture files, directories or `-` (standard input), replayed in the order given.
    #[arg(required = true, value_name = "PCAP")]
    pub pcaps: Vec<PathBuf>,
    /// Read directories recursively (subdirectories in name order among the files).
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Interleave all inputs by packet timestamp (like mergecap) instead of one after another.
    #[arg(long)]
    pub merge: bool,
    /// Only replay packets matching this libpcap filter expression (tcpdump syntax).
    #[arg(long, value_name = "EXPR")]
    pub bpf: Option<String>,
    /// Replay at capture pace (the same as --speed 1).
    #[arg(long, conflicts_with = "speed")]
    pub realtime: bool,
    /// Replay at X times capture pace (sleeping by timestamp deltas; a gap longer than 1 s
    /// after scaling is shortened to 1 s). Default: as fast as possible.
    #[arg(long, value_name = "X", value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// Retro-hunt: remember the observables seen for DURATION ("24h") of packet time; a SIGHUP
    /// that adds indicators reports the remembered ones they cover (`"event_type": "retro"`).
    #[arg(long, value_name = "DURATION", value_parser = parse_retro_window)]
    pub retro_window: Option<std::time::Duration>,
    /// Retro-hunt at the end of the replay: every indicator of FILE (a plain list) counts as
    /// added, and the observables remembered are hunted against it; repeatable. Turns the
    /// memory on (window 24h unless --retro-window).
    #[arg(long = "retro-feed", value_name = "FILE")]
    pub retro_feeds: Vec<PathBuf>,
}

/// A retro-hunt window: more than 0 and at most `[retro]`'s largest.
fn parse_retro_window(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() && d <= crate::config::retro::MAX_WINDOW => Ok(d),
        Ok(_) => Err(format!("{s:?}: more than 0s and at most 7 days")),
        Err(e) => Err(format!("{s:?}: {e} (e.g. \"24h\")")),
    }
}

/// A pacing factor: a positive, finite number.
fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}
