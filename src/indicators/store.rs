//! The current indicator set, behind an atomic pointer swap: workers read it without locks, a
//! reload builds a new set off the hot path and swaps it in whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::IndicatorSet;

pub struct IndicatorStore {
    current: ArcSwap<IndicatorSet>,
    /// Generation of the last set stored (the first is 1).
    generations: AtomicU64,
}

impl IndicatorStore {
    pub fn new(mut set: IndicatorSet) -> Self {
        set.generation = 1;
        IndicatorStore {
            current: ArcSwap::from_pointee(set),
            generations: AtomicU64::new(1),
        }
    }

    /// The set in force now. Workers hold the returned `Arc` for a batch, not for ever, so an old
    /// set is freed soon after a swap.
    pub fn load(&self) -> Arc<IndicatorSet> {
        self.current.load_full()
    }

    /// Replace the set; readers see the old or the new one whole, never a mix.
    /// Each set stored gets the next generation ([`IndicatorSet::generation`]): ids of
    /// indicators are per set, so whoever keeps them (a worker's de-duplication table) compares
    /// generations, which unlike addresses are never reused.
    pub fn swap(&self, mut set: IndicatorSet) {
        set.generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        self.current.store(Arc::new(set));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_set_gets_a_new_generation() {
        let store = IndicatorStore::new(IndicatorSet::default());
        assert_eq!(store.load().generation(), 1);
        store.swap(IndicatorSet::default());
        assert_eq!(store.load().generation(), 2);
        store.swap(IndicatorSet::default());
        assert_eq!(store.load().generation(), 3);
    }
}
