//! The current indicator set, behind an atomic pointer swap: workers read it without locks, a
//! reload builds a new set off the hot path and swaps it in whole.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::IndicatorSet;

pub struct IndicatorStore {
    current: ArcSwap<IndicatorSet>,
}

impl IndicatorStore {
    pub fn new(set: IndicatorSet) -> Self {
        IndicatorStore {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// The set in force now. Workers hold the returned `Arc` for a batch, not for ever, so an old
    /// set is freed soon after a swap.
    pub fn load(&self) -> Arc<IndicatorSet> {
        self.current.load_full()
    }

    /// Replace the set; readers see the old or the new one whole, never a mix.
    pub fn swap(&self, set: IndicatorSet) {
        self.current.store(Arc::new(set));
    }
}
