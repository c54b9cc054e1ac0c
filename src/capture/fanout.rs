//! `[capture] method = "af_packet"`: several capture threads on one interface, the kernel
//! spreading packets over them (AF_PACKET `PACKET_FANOUT`).
//!
//! # The choice: N libpcap handles in one fanout group
//!
//! Each capture thread opens its own libpcap handle (libpcap sets up the TPACKET_V3 ring, the
//! promiscuous membership, the snap length and compiles and attaches the BPF filter in the
//! kernel, as for `method = "libpcap"`), then joins the handle's socket to one fanout group with
//! `setsockopt(SOL_PACKET, PACKET_FANOUT, group | (PACKET_FANOUT_HASH |
//! PACKET_FANOUT_FLAG_DEFRAG) << 16)` on `pcap_fileno()` ([`super::sockopt`]). This is what
//! Maltrail's sensor does. The alternative, our own TPACKET_V3 ring (socket, `PACKET_RX_RING`,
//! `mmap`, walking block descriptors shared with the kernel), is a few hundred lines of
//! `unsafe` over memory the kernel writes concurrently. The crates we looked at do not give a
//! ring: `afpacket` 0.2.3 reads one `recv()` per packet and has no fanout option;
//! `pnet_datalink` 0.35 can join a fanout group but also reads one `recvfrom()` per packet
//! (a system call per packet, where a ring hands over a block of them), with no kernel BPF
//! filter and no drop counters. With libpcap owning the ring, the unsafe code is two
//! `setsockopt`/`getsockopt` calls, and each thread's read loop is the one `method =
//! "libpcap"` uses (BENCHMARKS.md, "AF_PACKET fanout", compares their CPU per packet).
//!
//! What libpcap decides for us: the ring of each socket is `buffer_size` bytes; its block size
//! is libpcap's (the page size, doubled until one frame of `snaplen` fits) and its block
//! timeout is the read `timeout`.
//!
//! # Starting without duplicates
//!
//! A socket sees every packet until it joins the group. Each handle therefore gets a filter
//! that passes nothing before it joins, and the real filter (or none) only once every socket
//! is in the group; libpcap applies a new filter to what is already in the ring as well.
//!
//! # Capture threads and workers
//!
//! Hash mode with the defrag flag sends both directions of a flow and every fragment of a
//! datagram to the same socket. Each capture thread still hands its packets to the shared
//! workers through its own [`super::Dispatcher`] handle ([`super::Dispatcher::split`]), which
//! picks the worker by the same symmetric flow hash as with one capture thread, so a flow
//! always meets its state in one worker whichever thread read it. We did not build the
//! alternative (capture threads owning their own workers) to compare: what it would save is
//! the dispatch, one hash and a copy into a batch per packet plus a channel send per 256
//! packets, which is inside the capture-thread CPU per packet that BENCHMARKS.md ("AF_PACKET
//! fanout") reports; and it would tie `workers` to `threads` and leave a busy thread's workers
//! unable to help a quiet one's.
//!
//! Counters: each thread reads its socket's `PACKET_STATISTICS` (`tp_packets`, `tp_drops`,
//! `tp_freeze_q_cnt`) instead of `pcap_stats` (both reset the kernel's counts, so only one may
//! read them); thread 0 also counts the interface's own drops (see [`if_drops`]).

/// The fanout group of a process on an interface when `[capture] fanout_group` is not set:
/// the process id mixed with the interface's name (FNV-1a), folded to 16 bits. Two daemons on
/// one box get different groups (the kernel would put a second daemon's sockets in the first
/// one's group if ids and options matched, splitting the traffic between them).
pub fn default_group(interface: &str, pid: u32) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in interface.bytes().chain(pid.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 16)) as u16
}

/// The interface's own drops, as libpcap counts them for `pcap_stats`' `ps_ifdrop` on Linux:
/// `rx_missed_errors + rx_fifo_errors` from `/sys/class/net/IF/statistics` (frames the NIC
/// or driver lost; not `rx_dropped`, which also counts frames the IP stack refused after the
/// capture saw them); `None` if unreadable.
pub fn if_drops(interface: &str) -> Option<u64> {
    if interface.contains('/') || interface.starts_with('.') {
        return None;
    }
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/class/net/{interface}/statistics/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(read("rx_missed_errors")? + read("rx_fifo_errors")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_groups_differ_by_process_and_interface() {
        let a = default_group("eth1", 100);
        assert_eq!(a, default_group("eth1", 100));
        assert_ne!(a, default_group("eth1", 101));
        assert_ne!(a, default_group("eth2", 100));
    }

    #[test]
    fn if_drops_reads_the_loopback_counters_and_refuses_paths() {
        assert!(if_drops("lo").is_some());
        assert_eq!(if_drops("../lo"), None);
        assert_eq!(if_drops("no-such-if0"), None);
    }
}
