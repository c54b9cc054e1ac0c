//! The one control path of every mode: signals (and tests) become [`Control`] messages, which
//! the pipeline's control loop (`Pipeline::control`) handles the same way in
//! `replay` and `run`.

use std::time::Duration;

/// Messages to the control loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGHUP: rebuild the indicator set from the feeds, reopen file sinks.
    Reload,
    /// SIGTERM or SIGINT: stop capturing, drain, flush, exit.
    Shutdown,
    /// The reload thread finished a reload; true when every feed loaded fresh.
    Reloaded(bool),
    /// The capture thread returned (end of the inputs, or a failed live capture): the loop ends
    /// at once rather than at its next tick.
    CaptureEnded,
    /// The feed fetcher put a new copy of some remote feed in place: reload the feeds (sinks
    /// are not reopened).
    Fetched,
}

/// The control loop's grain: signals are handled at once, timers (watchdog, stats, the
/// suppression windows of an idle link) at this grain.
pub const TICK: Duration = Duration::from_millis(200);

/// Exit status after a second termination signal: the operator wants out now.
pub const EXIT_FORCED: i32 = 1;

/// The signals iocd handles.
pub const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
];

/// Map signals to control messages until the signals are closed: SIGHUP → reload,
/// SIGTERM/SIGINT → shutdown; a second SIGTERM/SIGINT exits at once. Runs on the thread the
/// pipeline makes for it.
pub fn forward_signals(
    signals: &mut signal_hook::iterator::Signals,
    tx: &crossbeam_channel::Sender<Control>,
) {
    let mut stopping = false;
    for sig in signals.forever() {
        match sig {
            signal_hook::consts::SIGHUP => {
                tracing::info!("SIGHUP: reloading feeds");
                let _ = tx.send(Control::Reload);
            }
            _ if stopping => {
                eprintln!("iocd: second termination signal: exiting now");
                std::process::exit(EXIT_FORCED);
            }
            _ => {
                stopping = true;
                let _ = tx.send(Control::Shutdown);
            }
        }
    }
}
