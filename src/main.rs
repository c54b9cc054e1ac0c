//! `iocd`: parse the command line, run, print the error chain once, map it to an exit status.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use iocd::cli::{Cli, Command};
use iocd::mode::{analyst, feeds, replay, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("IOCD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("JOURNAL_STREAM").is_none())
        .with_target(false)
        .without_time()
        .init();
    let result = match cli.command {
        Command::Replay(args) => replay::replay(args),
        Command::Check(args) => analyst::check(args),
        Command::Lookup(args) => analyst::lookup(args),
        Command::Run(args) => run::run(args),
        Command::Feeds(iocd::cli::FeedsCommand::Update(args)) => feeds::update(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("iocd: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
