//! The two packet-socket options the fanout capture needs that neither libpcap nor `nix`
//! offers: joining a `PACKET_FANOUT` group, and reading `PACKET_STATISTICS` as
//! `tpacket_stats_v3` (drops and ring freezes). Both are a `setsockopt`/`getsockopt` on the
//! descriptor of a libpcap handle (`pcap_fileno`), so they need `libc` and `unsafe`: this is
//! the one module of the crate allowed `unsafe_code` (lib.rs denies it everywhere else). Each
//! call passes a pointer to a local of the exact type and size the kernel reads or writes
//! (`int` for the fanout argument, `struct tpacket_stats_v3` for the statistics) on a
//! descriptor borrowed for the call; nothing is kept.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd};

/// Join the fanout group `group` of the socket's interface in hash mode with the defrag flag:
/// the kernel hashes each packet's flow (both directions alike) to one socket of the group,
/// after reassembling IP fragments so every fragment of a datagram goes to the same socket.
pub fn join_fanout_hash(fd: BorrowedFd<'_>, group: u16) -> io::Result<()> {
    let arg: libc::c_int = libc::c_int::from(group)
        | ((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16) as libc::c_int;
    // SAFETY: `fd` is an open socket for the duration of the borrow; the kernel reads exactly
    // `size_of::<c_int>()` bytes from `&arg`, a live local of that type.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&raw const arg).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A packet socket's counters since the last read (the kernel resets them on each read).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PacketStats {
    /// Packets that passed the filter, dropped ones included (`tp_packets`).
    pub packets: u32,
    /// Packets dropped because the ring was full (`tp_drops`).
    pub drops: u32,
    /// Times the ring was frozen, every block full and owned by user space (`tp_freeze_q_cnt`).
    pub freezes: u32,
}

/// Read (and so reset) a TPACKET_V3 socket's `PACKET_STATISTICS`.
pub fn packet_stats(fd: BorrowedFd<'_>) -> io::Result<PacketStats> {
    let mut st = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket for the duration of the borrow; the kernel writes at most
    // `len` bytes into `st`, a live local of exactly that size, and updates `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut st).cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PacketStats {
        packets: st.tp_packets,
        drops: st.tp_drops,
        // A TPACKET_V2 socket answers with the shorter `tpacket_stats`: no freeze count.
        freezes: if len as usize >= std::mem::size_of::<libc::tpacket_stats_v3>() {
            st.tp_freeze_q_cnt
        } else {
            0
        },
    })
}
