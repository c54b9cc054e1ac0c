//! A blocked Bloom filter in front of the set's exact tables, so a lookup that misses (nearly
//! every lookup: most traffic is benign) costs one cache line of a compact bit array instead of
//! a probe into a table of tens of MiB, whose cache miss is the whole cost of a lookup at
//! millions of entries.
//!
//! Each key sets [`BITS_PER_KEY_PROBE`] bits inside one 64-byte block (Putze, Sanders, Singler:
//! "Cache-, Hash- and Space-Efficient Bloom Filters", 2007), so a query reads one cache line. The
//! bits come from the 64-bit hash the table itself uses for the key: a filter crate would hash
//! every name a second time, which costs as much as the probe it saves. At
//! [`BITS_PER_KEY`] bits per key the false-positive rate is about 1% (then the table is
//! probed, so a false positive costs time, never a wrong answer).

/// Bits of filter per key: ~1% false positives with 5 probes in 512-bit blocks.
pub const BITS_PER_KEY: usize = 10;

/// Bits set per key, each from 9 bits of the hash (a position in a 512-bit block).
const BITS_PER_KEY_PROBE: u32 = 5;

/// 512 bits: one cache line.
type Block = [u64; 8];

#[derive(Debug, Default, Clone)]
pub struct Filter {
    blocks: Vec<Block>,
    /// `blocks.len() - 1` (a power of two minus one); unused when empty.
    mask: u64,
}

impl Filter {
    /// A filter sized for `keys` keys; empty (matching nothing, no allocation) for none.
    pub fn with_keys(keys: usize) -> Filter {
        if keys == 0 {
            return Filter::default();
        }
        let bits = keys.saturating_mul(BITS_PER_KEY);
        let n = bits.div_ceil(512).next_power_of_two();
        Filter {
            blocks: vec![[0; 8]; n],
            mask: (n - 1) as u64,
        }
    }

    #[inline]
    fn block(&self, hash: u64) -> usize {
        // the table uses the low bits for its bucket and the top 7 for its tags; remix so the
        // block index is independent of both
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) & self.mask) as usize
    }

    #[cfg(test)]
    pub fn insert(&mut self, hash: u64) {
        self.insert_in(hash, hash);
    }

    /// Insert `hash` into the block chosen by `block_hash`: keys that are looked up together
    /// (the suffixes of one name) share a block, hence one cache line.
    pub fn insert_in(&mut self, block_hash: u64, hash: u64) {
        if self.blocks.is_empty() {
            return;
        }
        let i = self.block(block_hash);
        if let Some(b) = self.blocks.get_mut(i) {
            for k in 0..BITS_PER_KEY_PROBE {
                let pos = (hash >> (9 * k)) & 511;
                b[(pos >> 6) as usize] |= 1 << (pos & 63);
            }
        }
    }

    /// A filter of `n` keys given as `(block_hash, hash)` pairs, inserted in batches (see
    /// [`insert_batch`](Self::insert_batch)).
    pub fn from_keys(n: usize, keys: impl Iterator<Item = (u64, u64)>) -> Filter {
        /// Keys whose blocks are read before any is written: enough misses in flight to use the
        /// memory system's parallelism, few enough to stay in L1.
        const BATCH: usize = 32;
        let mut f = Filter::with_keys(n);
        let mut batch = Vec::with_capacity(BATCH);
        for k in keys {
            batch.push(k);
            if batch.len() == BATCH {
                f.insert_batch(&batch);
                batch.clear();
            }
        }
        f.insert_batch(&batch);
        f
    }

    /// [`insert_in`](Self::insert_in) for many `(block_hash, hash)` keys: the blocks are read
    /// first, all of them, so their cache misses overlap, then written (a filter of millions
    /// of keys is larger than the caches, and one miss after another is most of its build).
    fn insert_batch(&mut self, keys: &[(u64, u64)]) {
        if self.blocks.is_empty() {
            return;
        }
        let mut touch = 0u64;
        for &(block, _) in keys {
            touch ^= self.blocks.get(self.block(block)).map_or(0, |b| b[0]);
        }
        std::hint::black_box(touch);
        for &(block, hash) in keys {
            self.insert_in(block, hash);
        }
    }

    /// False: the key is certainly absent. True: it may be present.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        self.may_contain_in(hash, hash)
    }

    /// [`may_contain`](Self::may_contain) for a key inserted with [`insert_in`](Self::insert_in).
    #[inline]
    pub fn may_contain_in(&self, block_hash: u64, hash: u64) -> bool {
        let Some(b) = self.blocks.get(self.block(block_hash)) else {
            return false;
        };
        (0..BITS_PER_KEY_PROBE).all(|k| {
            let pos = (hash >> (9 * k)) & 511;
            b[(pos >> 6) as usize] & (1 << (pos & 63)) != 0
        })
    }

    /// Heap bytes used.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let h = hashbrown::DefaultHashBuilder::default();
        let mut f = Filter::with_keys(100_000);
        for i in 0..100_000u64 {
            f.insert(h.hash_one(i));
        }
        assert!((0..100_000u64).all(|i| f.may_contain(h.hash_one(i))));
        let fp = (100_000..1_100_000u64)
            .filter(|i| f.may_contain(h.hash_one(i)))
            .count();
        let rate = fp as f64 / 1_000_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn batched_inserts_equal_single_ones() {
        let h = hashbrown::DefaultHashBuilder::default();
        let keys: Vec<(u64, u64)> = (0..10_000u64)
            .map(|i| (h.hash_one(i / 3), h.hash_one(i)))
            .collect();
        let mut one = Filter::with_keys(keys.len());
        let mut many = Filter::with_keys(keys.len());
        for &(b, k) in &keys {
            one.insert_in(b, k);
        }
        for chunk in keys.chunks(32) {
            many.insert_batch(chunk);
        }
        assert_eq!(one.blocks, many.blocks);
        assert!(keys.iter().all(|&(b, k)| many.may_contain_in(b, k)));
    }

    #[test]
    fn empty_filter_contains_nothing() {
        let f = Filter::with_keys(0);
        assert!(!f.may_contain(0) && !f.may_contain(u64::MAX));
        assert_eq!(f.bytes(), 0);
    }
}
