//! `[capture]`: live capture (`iocd run`).

use std::time::Duration;

use serde::Deserialize;

/// libpcap's largest snapshot length (MAXIMUM_SNAPLEN in pcap-int.h): every frame whole.
pub const MAX_SNAPLEN: u32 = 262_144;
/// Largest kernel ring: pcap_set_buffer_size takes a C int.
pub const MAX_BUFFER_SIZE: u64 = i32::MAX as u64;
/// Default kernel ring: 64 MiB holds ~0.5 s of a saturated 1 Gbit/s link, enough to ride out a
/// worker's hiccup (libpcap's own default, 2 MiB, is ~16 ms at that rate).
pub const DEFAULT_BUFFER_SIZE: u64 = 64 << 20;
/// Default read timeout: how long a read waits for packets before the capture thread checks
/// for shutdown and flushes partial batches.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
fn yes() -> bool {
    true
}

/// `[capture]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Interface to capture on; `--interface` overrides.
    pub interface: Option<String>,
    /// Promiscuous mode. Default: true (a span port's traffic is not addressed to us).
    #[serde(default = "yes")]
    pub promiscuous: bool,
    /// Bytes kept of each frame. Default and maximum: 262144.
    pub snaplen: Option<u32>,
    /// Kernel ring size in bytes. Default: 64 MiB.
    pub buffer_size: Option<u64>,
    /// A BPF filter (tcpdump syntax) applied in the kernel. Default: none.
    pub bpf: Option<String>,
    /// Deliver each packet at once instead of filling kernel blocks. Default: false.
    #[serde(default)]
    pub immediate: bool,
    /// Read timeout, e.g. "100ms". Default: 100 ms.
    #[serde(default, deserialize_with = "super::de_opt_duration")]
    pub timeout: Option<Duration>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            interface: None,
            promiscuous: true,
            snaplen: None,
            buffer_size: None,
            bpf: None,
            immediate: false,
            timeout: None,
        }
    }
}

impl CaptureConfig {
    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = self.snaplen {
            if s == 0 || s > MAX_SNAPLEN {
                out.push(format!("capture.snaplen must be 1..={MAX_SNAPLEN}"));
            }
        }
        if let Some(b) = self.buffer_size {
            if b == 0 || b > MAX_BUFFER_SIZE {
                out.push(format!("capture.buffer_size must be 1..={MAX_BUFFER_SIZE}"));
            }
        }
        if let Some(t) = self.timeout {
            if t.is_zero() || t > Duration::from_secs(10) {
                out.push("capture.timeout must be between 1ms and 10s".into());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_values_out_of_range_are_reported() {
        let c = CaptureConfig {
            snaplen: Some(0),
            buffer_size: Some(MAX_BUFFER_SIZE + 1),
            timeout: Some(Duration::ZERO),
            ..Default::default()
        };
        assert_eq!(c.problems().len(), 3);
        assert!(CaptureConfig::default().problems().is_empty());
    }
}
