//! The eviction order shared by the per-worker connection tables ([`super::quic`] and
//! [`super::tcp`]): which entries go first when a table is full.
//!
//! An attacker who can make more entries than a table holds can push any given entry out, and
//! before this order existed ("the least recently seen eighth") 1,100 new-connection Initials
//! sent between the two Initials of a split QUIC ClientHello flushed it, and its server name
//! was never read (issue "Nothing lost, nothing escalated", item 5). The order makes such a
//! flush buy nothing:
//!
//! 1. Entries that hold **no partial hello** go first, least recently seen first: a finished or
//!    bypassed connection, or one that has buffered nothing, costs little to forget (a TCP
//!    flow's next payload is rechecked in six bytes; a QUIC connection's next Initial derives
//!    its keys again).
//! 2. Then entries holding a partial hello that have been idle for at least
//!    [`HELLO_GRACE_US`]: their client had the time to send the rest and did not. Least
//!    recently seen first.
//! 3. Last, entries holding a partial hello seen within the grace period, **newest first**. A
//!    table full of fresh partial hellos is a flood (a busy link's real partial hellos are one
//!    round trip's worth of new connections, a small part of the table): the victims are the
//!    flood's own latest entries, and a hello that was there before the flood keeps its
//!    place until its client's retransmissions are due. A hello that *starts* in the middle
//!    of such a flood can still be lost: no bounded table can hold more partial hellos than
//!    it has room for. Every loss is counted (`hellos_lost`), so the stats show the attempt.
//!
//! Ranks are computed once per eviction pass, which runs once per eighth of the table's
//! capacity of new entries: O(n) per pass, amortised O(1) per new entry, and nothing on the
//! per-packet path.

/// How long (packet time) an entry holding a partial hello is protected from a flood of newer
/// ones. The rest of a split hello normally arrives in the same flight, within the round trip;
/// when a piece is lost, the sender resends it after its first retransmission timeout, 1 s
/// (RFC 6298 §2.1 for TCP; RFC 9002 §6.2.2, three times the 333 ms initial RTT, for a QUIC
/// client's probe), and again 2 s later with backoff: 3 s covers the first two resends.
pub const HELLO_GRACE_US: i64 = 3_000_000;

/// Where an entry stands in the eviction order: lower ranks are evicted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank(u8, i64);

impl Rank {
    /// The rank at packet time `now_us` of an entry last seen at `last_us` that holds (`partial`)
    /// or does not hold a partial hello. See the module docs for the order.
    pub fn of(partial: bool, last_us: i64, now_us: i64) -> Rank {
        if !partial {
            Rank(0, last_us)
        } else if now_us.saturating_sub(last_us) >= HELLO_GRACE_US {
            Rank(1, last_us)
        } else {
            // Newest first: the negated time (never overflows: `last_us` > i64::MIN here,
            // since `now_us - i64::MIN` would saturate past the grace).
            Rank(2, last_us.saturating_neg())
        }
    }

    /// True for an entry holding a partial hello.
    pub fn is_partial(self) -> bool {
        self.0 > 0
    }
}

/// The `k` lowest ranks of a table, chosen in one pass: [`Victims::take`] is then asked about
/// every entry, in any order, and says yes exactly `k` times.
#[derive(Debug)]
pub struct Victims {
    cutoff: Rank,
    /// How many entries of rank equal to `cutoff` are still to be taken.
    ties: usize,
}

impl Victims {
    /// Choose the `k` lowest of `ranks` (reordered in place); `None` when `k` is 0 or there are
    /// no entries.
    pub fn lowest(ranks: &mut [Rank], k: usize) -> Option<Victims> {
        let k = k.min(ranks.len());
        let i = k.checked_sub(1)?;
        let (_, &mut cutoff, _) = ranks.select_nth_unstable(i);
        let below = ranks.iter().filter(|&&r| r < cutoff).count();
        Some(Victims {
            cutoff,
            ties: k - below,
        })
    }

    /// Whether the entry of rank `r` is one of the chosen.
    pub fn take(&mut self, r: Rank) -> bool {
        if r < self.cutoff {
            return true;
        }
        if r == self.cutoff && self.ties > 0 {
            self.ties -= 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100_000_000;

    #[test]
    fn entries_without_a_partial_hello_go_before_any_partial_one() {
        let idle = Rank::of(false, NOW, NOW);
        let stale = Rank::of(true, 0, NOW);
        let fresh = Rank::of(true, NOW - 1, NOW);
        assert!(idle < stale && stale < fresh);
        assert!(!idle.is_partial() && stale.is_partial() && fresh.is_partial());
    }

    #[test]
    fn least_recently_seen_first_within_a_class_but_newest_first_in_the_grace_period() {
        assert!(Rank::of(false, 1, NOW) < Rank::of(false, 2, NOW));
        assert!(Rank::of(true, 1, NOW) < Rank::of(true, 2, NOW));
        let older = Rank::of(true, NOW - 2_000_000, NOW);
        let newer = Rank::of(true, NOW - 1_000_000, NOW);
        assert!(newer < older);
        // the grace period ends at HELLO_GRACE_US of idleness
        assert_eq!(Rank::of(true, NOW - HELLO_GRACE_US, NOW).0, 1);
        assert_eq!(Rank::of(true, NOW - HELLO_GRACE_US + 1, NOW).0, 2);
        // extreme times do not overflow
        assert_eq!(Rank::of(true, i64::MIN, i64::MAX).0, 1);
        assert_eq!(Rank::of(true, i64::MAX, i64::MIN).0, 2);
    }

    #[test]
    fn victims_are_exactly_the_k_lowest_ties_included() {
        let ranks: Vec<Rank> = [5, 1, 3, 3, 3, 0, 9]
            .iter()
            .map(|&t| Rank::of(false, t, NOW))
            .collect();
        for k in 0..=ranks.len() + 1 {
            let mut scratch = ranks.clone();
            let mut taken: Vec<i64> = match Victims::lowest(&mut scratch, k) {
                Some(mut v) => ranks.iter().filter(|&&r| v.take(r)).map(|r| r.1).collect(),
                None => Vec::new(),
            };
            taken.sort_unstable();
            let mut want: Vec<i64> = ranks.iter().map(|r| r.1).collect();
            want.sort_unstable();
            want.truncate(k);
            assert_eq!(taken, want, "k = {k}");
        }
    }
}
