//! The modes on top of the pipeline: thin policies over one pipeline ([`crate::pipeline`]) —
//! what the source is, block or drop, pacing, what the control loop adds, and exit codes.
//!
//! - [`replay`]: files, lossless (capture and outputs block), exit status from the inputs and
//!   sinks;
//! - [`run`]: live capture for systemd, never blocks the capture (drops and counts), adds
//!   sd_notify, the watchdog, the periodic stats record and wall-clock suppression;
//! - [`analyst`]: `check` and `lookup`, the indicator set from the shell (no pipeline).

pub mod analyst;
pub mod feeds;
pub mod replay;
pub mod run;

/// Exit status for a configuration that cannot be used (sysexits.h EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit status when some input could not be read or the output failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's, and a bad `--bpf` expression).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the replay completed but some input was damaged: its readable prefix was
/// replayed. [`EXIT_FAILURE`] wins when both apply.
pub const EXIT_DAMAGED: u8 = 3;

/// An error with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad configuration or no usable feed: exit 78.
    #[error("{}", chain(.0))]
    Config(anyhow::Error),
    /// Anything else: exit 1.
    #[error("{}", chain(.0))]
    Other(anyhow::Error),
    /// A bad argument found after parsing (a `--bpf` expression libpcap refuses): exit 2.
    #[error("{0}")]
    Usage(String),
}

/// The error and its causes, `a: b: c`, each cause once: one already in the text (an OS error
/// a message quoted, "cannot open x: No such file or directory (os error 2)") is not repeated.
pub fn chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => EXIT_CONFIG,
            AppError::Other(_) => EXIT_FAILURE,
            AppError::Usage(_) => EXIT_USAGE,
        }
    }
}

/// Build the indicator set from `feeds`; a set that cannot be built is a config error (exit
/// 78), with every feed's report logged first.
pub(crate) fn load_set(
    feeds: &[crate::config::FeedConfig],
    home_net: &[ipnet::IpNet],
) -> Result<
    (
        crate::indicators::IndicatorSet,
        crate::indicators::feeds::LoadReport,
    ),
    AppError,
> {
    let started = std::time::Instant::now();
    match crate::indicators::feeds::build_set(feeds, home_net) {
        Ok((set, report)) => {
            crate::reload::log_report(&report);
            tracing::info!(
                indicators = set.len(),
                "indicators loaded in {:.3}s",
                started.elapsed().as_secs_f64()
            );
            Ok((set, report))
        }
        Err(e) => {
            if let Some(r) = e.report() {
                crate::reload::log_report(r);
            }
            Err(AppError::Config(e.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_quoted_by_its_context_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let e = anyhow::Error::new(io).context(format!("cannot open x: {text}"));
        assert_eq!(chain(&e), format!("cannot open x: {text}"));
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound))
            .context("cannot open x");
        assert_eq!(chain(&e), format!("cannot open x: {text}"));
        let e = AppError::Config(e);
        assert_eq!(e.to_string().matches(&text).count(), 1);
    }
}
