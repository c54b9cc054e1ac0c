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
/// Most capture threads of `method = "af_packet"`: a fanout group holds at most
/// PACKET_FANOUT_MAX (256, linux/net/packet/internal.h) sockets in the kernels we support.
pub const MAX_CAPTURE_THREADS: usize = 256;

/// How `iocd run` reads the interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    /// One libpcap handle read by one capture thread.
    #[default]
    Libpcap,
    /// `threads` libpcap handles joined in one AF_PACKET fanout group (hash of the flow, IP
    /// fragments reassembled first), one capture thread each.
    AfPacket,
}

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
    /// `"libpcap"` (default) or `"af_packet"` (fanout over `threads` sockets).
    #[serde(default)]
    pub method: CaptureMethod,
    /// Capture threads of `method = "af_packet"` (each with its own ring of `buffer_size`
    /// bytes). Default: 1.
    pub threads: Option<usize>,
    /// The fanout group id (0..=65535). Default: derived from the process id and the
    /// interface, so two daemons never share a group by accident.
    pub fanout_group: Option<u16>,
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
            method: CaptureMethod::Libpcap,
            threads: None,
            fanout_group: None,
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
        if let Some(n) = self.threads {
            if n == 0 || n > MAX_CAPTURE_THREADS {
                out.push(format!("capture.threads must be 1..={MAX_CAPTURE_THREADS}"));
            } else if n > 1 && self.method == CaptureMethod::Libpcap {
                out.push(
                    "capture.threads > 1 needs method = \"af_packet\" (one libpcap handle is read by one thread)"
                        .into(),
                );
            }
        }
        if self.fanout_group.is_some() && self.method != CaptureMethod::AfPacket {
            out.push("capture.fanout_group applies only to method = \"af_packet\"".into());
        }
        out
    }

    /// Capture threads to run: `threads` for af_packet, else 1.
    pub fn capture_threads(&self) -> usize {
        match self.method {
            CaptureMethod::AfPacket => self.threads.unwrap_or(1).clamp(1, MAX_CAPTURE_THREADS),
            CaptureMethod::Libpcap => 1,
        }
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

    #[test]
    fn fanout_threads_need_af_packet_and_a_sane_count() {
        let c: CaptureConfig = toml::from_str("method = \"af_packet\"\nthreads = 4\n").unwrap();
        assert_eq!(c.method, CaptureMethod::AfPacket);
        assert_eq!(c.capture_threads(), 4);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let c: CaptureConfig = toml::from_str("threads = 4\n").unwrap();
        assert_eq!(c.capture_threads(), 1);
        assert!(c.problems()[0].contains("af_packet"), "{:?}", c.problems());
        let c: CaptureConfig = toml::from_str("method = \"af_packet\"\nthreads = 0\n").unwrap();
        assert!(
            c.problems()[0].contains("capture.threads"),
            "{:?}",
            c.problems()
        );
        assert!(toml::from_str::<CaptureConfig>("method = \"pfring\"\n").is_err());
    }
}
