//! `iocd feeds update`: one fetch round over the remote feeds, from the shell.

use std::sync::atomic::Ordering::Relaxed;

use super::{AppError, EXIT_FAILURE};
use crate::cli::UpdateArgs;
use crate::config::Config;
use crate::fetch::{self, FetchCounters, Outcome};

/// Fetch every remote feed of the config once; print one line per feed. Exit 1 if any failed.
pub fn update(args: UpdateArgs) -> Result<u8, AppError> {
    let config = Config::load(&args.config).map_err(|e| AppError::Config(e.into()))?;
    if !config.feeds.iter().any(|f| f.is_remote()) {
        return Err(AppError::Config(anyhow::anyhow!(
            "{}: no feed with url: nothing to fetch",
            args.config.display()
        )));
    }
    let counters = FetchCounters::default();
    let results = fetch::round(&config.feeds, &counters);
    for (name, outcome) in &results {
        println!("{name}: {}", outcome.text());
    }
    let failed = counters.failed.load(Relaxed);
    println!(
        "{} feeds: {} updated, {} unchanged, {failed} failed",
        results.len(),
        counters.updated.load(Relaxed),
        counters.unchanged.load(Relaxed),
    );
    let any_failed = results.iter().any(|(_, o)| matches!(o, Outcome::Failed(_)));
    Ok(if any_failed { EXIT_FAILURE } else { 0 })
}
