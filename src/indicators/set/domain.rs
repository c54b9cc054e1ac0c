//! The name index: every stored name's bytes in one arena, the `(offset, len, head)` slots of
//! the hashed exact table, the label-count mask, the filter grouping by a name's last two
//! labels, and [`IndicatorSet::lookup_domain`], which walks a queried name's suffixes right to
//! left. Contract: a lookup appends to `out` every indicator equal to the normalised name and
//! every `subdomain` indicator of a parent on a label boundary, as [`crate::name::suffixes`]
//! defines them, in no particular order; input that is not a valid name costs a slower path,
//! never a panic or a wrong answer.

use std::hash::BuildHasher;

use super::{Hit, HitValue, IndicatorSet, NO_REC};
use crate::indicators::{MatchKind, MatchMode};

/// Largest total of name bytes the domain arena holds: slots store offsets as `u32` to keep them
/// 12 bytes. That is 4 GiB, about 150 times the names of a 1M-domain feed; a name that would not
/// fit is refused and counted ([`SetBuilder::refused`](super::SetBuilder::refused)), never a panic.
pub const MAX_DOMAIN_ARENA_BYTES: usize = u32::MAX as usize;

/// Label counts of this many or more share the top bit of the label-count mask (`u128`). A name
/// of [`crate::name::MAX_NAME_LEN`] bytes has at most 127 labels, so only unvalidated input gets
/// here, and sharing a bit only costs a probe, never a wrong answer.
const MAX_LABEL_BUCKETS: usize = 128;

/// Candidate suffixes of one name looked up together (see `lookup_domain`); a valid name has at
/// most 127 labels, but names in traffic have a handful, and those with more take a slower path.
/// At most 64: the candidates that pass the filter are a `u64` bitmask.
const MAX_BATCHED_SUFFIXES: usize = 16;

/// One stored name: `arena[off..off + len]`, and the head of its record chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct NameSlot {
    pub(super) off: u32,
    pub(super) len: u32,
    pub(super) head: u32,
}

impl IndicatorSet {
    /// Every indicator covering the normalised `name`, appended to `out`: indicators equal to
    /// it, and `subdomain` indicators of each parent on a label boundary.
    #[inline]
    pub fn lookup_domain(&self, name: &[u8], out: &mut Vec<Hit>) {
        if self.max_labels == 0 {
            return;
        }
        // Right to left: at each dot that is not the last byte, the rest of the name is a parent
        // suffix, as `name::suffixes` yields them; `dots` counts the dots right of the position,
        // so that suffix has `dots + 1` labels, counted as `label_count` counts stored names.
        // Candidates (suffixes with a label count the set has) are gathered first and their
        // filter bits read together: independent loads overlap, where probing one suffix after
        // the other would wait for one cache miss after another.
        let mut cand = [(0u32, 0u32); MAX_BATCHED_SUFFIXES];
        let mut n = 0usize;
        let mut dots = 0usize;
        // start of the name's last two labels, as `filter_group` finds it (dots that are not
        // the last byte); 0 when the name has fewer
        let (mut group_start, mut group_dots) = (0usize, 0u32);
        // a plain loop: names are short, and memrchr's setup costs more than it saves here
        for i in (0..name.len()).rev() {
            if name[i] != b'.' {
                continue;
            }
            if i + 1 < name.len() {
                let labels = dots + 1;
                if labels > self.max_labels {
                    break;
                }
                group_dots += 1;
                if group_dots == 2 {
                    group_start = i + 1;
                }
                if self.label_mask & label_bit(labels) != 0 {
                    match cand.get_mut(n) {
                        Some(c) => *c = (i as u32 + 1, labels as u32),
                        None => return self.lookup_domain_one_by_one(name, out),
                    }
                    n += 1;
                }
            }
            dots += 1;
        }
        if dots < self.max_labels && self.label_mask & label_bit(dots + 1) != 0 {
            match cand.get_mut(n) {
                Some(c) => *c = (0, dots as u32 + 1),
                None => return self.lookup_domain_one_by_one(name, out),
            }
            n += 1;
        }
        if n == 0 {
            return;
        }
        let cand = &cand[..n];
        let group = name.get(group_start..).unwrap_or_default();
        let mut group_hash = None;
        let mut hashes = [0u64; MAX_BATCHED_SUFFIXES];
        let mut maybe = 0u64;
        for (k, &(start, _)) in cand.iter().enumerate() {
            let start = start as usize;
            let suffix = name.get(start..).unwrap_or_default();
            let h = self.hasher.hash_one(suffix);
            hashes[k] = h;
            if group_dots >= 2 && start == group_start {
                // this suffix is the group itself: no second hash of the same bytes
                group_hash = Some(h);
            }
            // the block of a suffix is that of its last two labels (`filter_group`): the same
            // line for every suffix that has them
            let block = if group_dots >= 2 && start <= group_start {
                *group_hash.get_or_insert_with(|| self.hasher.hash_one(group))
            } else {
                h
            };
            maybe |= u64::from(self.names_filter.may_contain_in(block, h)) << k;
        }
        while maybe != 0 {
            let k = maybe.trailing_zeros() as usize;
            maybe &= maybe - 1;
            let (start, labels) = cand[k];
            let suffix = name.get(start as usize..).unwrap_or_default();
            if let Some(slot) = self.find_name(suffix, hashes[k]) {
                let kind = if start == 0 {
                    MatchKind::Exact
                } else {
                    MatchKind::Subdomain
                };
                self.push_name_hits(slot, labels as usize, kind, out);
            }
        }
    }

    /// [`lookup_domain`](Self::lookup_domain) one suffix at a time, for names with more
    /// candidate suffixes than it batches (only unvalidated input has them).
    fn lookup_domain_one_by_one(&self, name: &[u8], out: &mut Vec<Hit>) {
        let mut dots = 0usize;
        for (i, &b) in name.iter().enumerate().rev() {
            if b != b'.' {
                continue;
            }
            if i + 1 < name.len() {
                let labels = dots + 1;
                if labels > self.max_labels {
                    return;
                }
                let suffix = name.get(i + 1..).unwrap_or_default();
                if let Some(slot) = self.probe(suffix, labels) {
                    self.push_name_hits(slot, labels, MatchKind::Subdomain, out);
                }
            }
            dots += 1;
        }
        let labels = dots + 1;
        if labels <= self.max_labels {
            if let Some(slot) = self.probe(name, labels) {
                self.push_name_hits(slot, labels, MatchKind::Exact, out);
            }
        }
    }

    /// The records of a stored name: for an exact match those in `exact` and `subdomain` mode,
    /// for a parent those in `subdomain` and `subdomains_only` mode.
    fn push_name_hits(&self, slot: &NameSlot, labels: usize, kind: MatchKind, out: &mut Vec<Hit>) {
        let value = HitValue::Name {
            off: slot.off,
            len: slot.len,
        };
        let spec = u16::try_from(labels).unwrap_or(u16::MAX);
        let mut r = slot.head;
        while let Some(rec) = self.recs.get(r as usize) {
            let covers = match rec.mode {
                // the loader stores no prefix-mode name; were one stored, it is the default
                MatchMode::Subdomain | MatchMode::Prefix => true,
                MatchMode::Exact => kind == MatchKind::Exact,
                MatchMode::SubdomainsOnly => kind == MatchKind::Subdomain,
            };
            if covers {
                out.push(Hit {
                    id: r,
                    ctx: rec.ctx,
                    value,
                    kind,
                    specificity: spec,
                });
            }
            r = rec.next;
        }
    }

    pub(super) fn name_bytes(&self, off: u32, len: u32) -> &[u8] {
        slot_bytes(
            &self.arena,
            &NameSlot {
                off,
                len,
                head: NO_REC,
            },
        )
    }

    /// The stored name equal to `suffix`, if a name with that many labels exists.
    #[inline]
    fn probe(&self, suffix: &[u8], labels: usize) -> Option<&NameSlot> {
        if self.label_mask & label_bit(labels) == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(suffix);
        let group = self.hasher.hash_one(filter_group(suffix));
        if !self.names_filter.may_contain_in(group, hash) {
            return None;
        }
        self.find_name(suffix, hash)
    }

    #[inline]
    fn find_name(&self, suffix: &[u8], hash: u64) -> Option<&NameSlot> {
        self.names.find(hash, |s| {
            s.len as usize == suffix.len() && slot_bytes(&self.arena, s) == suffix
        })
    }
}

pub(super) fn slot_bytes<'a>(arena: &'a [u8], s: &NameSlot) -> &'a [u8] {
    let start = s.off as usize;
    // Slots are only made from bytes just appended to the arena, so this range always exists.
    arena
        .get(start..start.saturating_add(s.len as usize))
        .unwrap_or_default()
}

/// The last two labels of a name (all of it when it has one or two): the key that chooses a
/// name's block in the name filter, so the suffixes of one queried name — `a.b.evil.com`,
/// `b.evil.com`, `evil.com` — are all checked in one cache line. A feed listing thousands of
/// names under one parent fills that parent's block, which costs lookups under it a table probe,
/// never a wrong answer.
pub(super) fn filter_group(name: &[u8]) -> &[u8] {
    let mut dots = 0;
    for (i, &b) in name.iter().enumerate().rev() {
        // a dot that is the last byte (unnormalised input) starts no label
        if b == b'.' && i + 1 < name.len() {
            dots += 1;
            if dots == 2 {
                return name.get(i + 1..).unwrap_or_default();
            }
        }
    }
    name
}

/// Labels of a name: one more than its dots.
pub(super) fn label_count(name: &[u8]) -> usize {
    1 + name.iter().filter(|&&b| b == b'.').count()
}

/// The label-count mask bit for a name of `labels` labels (at least 1).
pub(super) fn label_bit(labels: usize) -> u128 {
    let bucket = labels.clamp(1, MAX_LABEL_BUCKETS) - 1;
    1u128 << bucket
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::indicators::Value;

    #[test]
    fn domain_exact_vs_subdomain_vs_near_misses() {
        let set = set_of(&[dom("evil.com"), dom("Bad.Example.ORG.")]);
        assert_eq!(dom_hit(&set, "evil.com"), hit("evil.com", MatchKind::Exact));
        assert_eq!(
            dom_hit(&set, "EVIL.com."),
            hit("evil.com", MatchKind::Exact)
        );
        assert_eq!(
            dom_hit(&set, "a.evil.com"),
            hit("evil.com", MatchKind::Subdomain)
        );
        assert_eq!(
            dom_hit(&set, "a.b.evil.com"),
            hit("evil.com", MatchKind::Subdomain)
        );
        assert_eq!(dom_hit(&set, "notevil.com"), None);
        assert_eq!(dom_hit(&set, "evil.com.example"), None);
        assert_eq!(dom_hit(&set, "vil.com"), None);
        assert_eq!(dom_hit(&set, "com"), None);
        assert_eq!(dom_hit(&set, "evil.co"), None);
        assert_eq!(
            dom_hit(&set, "x.bad.example.org"),
            hit("bad.example.org", MatchKind::Subdomain)
        );
        assert_eq!(dom_hit(&set, "example.org"), None);
    }

    #[test]
    fn nearest_parent_wins_over_farther_parent() {
        let set = set_of(&[dom("com"), dom("evil.com"), dom("a.evil.com")]);
        assert_eq!(
            dom_hit(&set, "x.a.evil.com"),
            hit("a.evil.com", MatchKind::Subdomain)
        );
        assert_eq!(
            dom_hit(&set, "b.evil.com"),
            hit("evil.com", MatchKind::Subdomain)
        );
        assert_eq!(dom_hit(&set, "other.com"), hit("com", MatchKind::Subdomain));
        assert_eq!(
            dom_hit(&set, "a.evil.com"),
            hit("a.evil.com", MatchKind::Exact)
        );
    }

    #[test]
    fn label_counts_missing_from_the_set_are_skipped_not_fatal() {
        // only 1- and 3-label names: a 2- or 4-label query must still reach them
        let set = set_of(&[dom("com"), dom("a.evil.org")]);
        assert_eq!(dom_hit(&set, "x.com"), hit("com", MatchKind::Subdomain));
        assert_eq!(dom_hit(&set, "y.x.com"), hit("com", MatchKind::Subdomain));
        assert_eq!(
            dom_hit(&set, "b.a.evil.org"),
            hit("a.evil.org", MatchKind::Subdomain)
        );
        assert_eq!(dom_hit(&set, "evil.org"), None);
        assert_eq!(dom_hit(&set, "org"), None);
    }

    #[test]
    fn names_with_more_labels_than_the_mask_tracks_still_match() {
        // unvalidated input past MAX_LABEL_BUCKETS labels shares the mask's top bit
        let long = vec!["a"; MAX_LABEL_BUCKETS + 2].join(".");
        let longer = format!("x.{long}");
        let set = set_of(&[Value::Domain(long.clone().into_bytes()), dom("com")]);
        assert_eq!(
            dom_hit(&set, &longer),
            Some((long.clone(), MatchKind::Subdomain))
        );
        assert_eq!(dom_hit(&set, &long), Some((long, MatchKind::Exact)));
        assert_eq!(dom_hit(&set, "a.a.a"), None);
    }

    #[test]
    fn odd_names_match_as_name_suffixes_yields_them() {
        // empty labels and a trailing dot (only reachable without normalisation) behave as
        // `name::suffixes` defines: a trailing dot is part of the last label
        let set = set_of(&[Value::Domain(b"b".to_vec()), Value::Domain(b"a.".to_vec())]);
        assert_eq!(dom_hit_raw(&set, b"a..b"), hit("b", MatchKind::Subdomain));
        assert_eq!(dom_hit_raw(&set, b".b"), hit("b", MatchKind::Subdomain));
        assert_eq!(dom_hit_raw(&set, b"x.a."), hit("a.", MatchKind::Subdomain));
        assert_eq!(dom_hit_raw(&set, b"b."), None);
        assert_eq!(dom_hit_raw(&set, b""), None);
        assert_eq!(dom_hit_raw(&set, b"."), None);
    }

    fn dom_hit_raw(set: &IndicatorSet, n: &[u8]) -> Option<(String, MatchKind)> {
        set.best_domain(n).map(|m| (m.value, m.kind))
    }

    #[test]
    fn escaped_name_is_stored_raw_and_shown_escaped() {
        let set = set_of(&[dom("a\\007b.example")]);
        let m = set.best_domain(b"x.a\x07b.example").unwrap();
        assert_eq!(m.kind, MatchKind::Subdomain);
        assert_eq!(m.value, "a\\007b.example");
    }
}
