//! [`SetBuilder`]: collects indicators into an [`IndicatorSet`] and compiles it. Indicators go
//! straight into the set's tables as they are added (canonicalised first, see [`super::ip`]); a
//! value already listed by the same feed is a duplicate and the first entry stays, one listed by
//! another feed is a second indicator on the same chain. Adding never panics: a set that is full
//! refuses and counts. [`SetBuilder::build`] only trims spare capacity and fills the Bloom
//! filters in front of the exact tables, once they are complete.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::HashMap;
use ipnet::IpNet;

use super::domain::{
    filter_group, label_bit, label_count, slot_bytes, NameSlot, MAX_DOMAIN_ARENA_BYTES,
};
use super::ip::{canonical_ip, canonical_value, MAPPED_RANGE};
use super::{AllowRule, ContextId, IndicatorSet, Rec, NO_REC};
use crate::indicators::filter::Filter;
use crate::indicators::{Action, Context, MatchMode, Value};
use crate::observe::Token;

/// The hasher of a set's name table (see [`SetBuilder::name_hasher`]).
pub type NameHasher = hashbrown::DefaultHashBuilder;

/// What [`SetBuilder::add_name_prepared`] needs of a name besides its bytes, computed ahead
/// (on a parser thread) by [`PreparedName::new`] with the builder's
/// [`name_hasher`](SetBuilder::name_hasher).
#[derive(Debug, Clone, Copy, Default)]
pub struct PreparedName {
    /// The name's hash under the builder's name hasher.
    pub hash: u64,
    /// Its label count (see the domain module's `label_count`).
    labels: usize,
}

impl PreparedName {
    pub fn new(hasher: &NameHasher, name: &[u8]) -> Self {
        PreparedName {
            hash: hasher.hash_one(name),
            labels: label_count(name),
        }
    }
}

/// Whether [`SetBuilder::add`] stored the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Yes,
    /// The same value with a context of the same feed is already there.
    Duplicate,
    /// The set is full (see [`SetBuilder::refused`]).
    Refused,
}

/// Collects indicators, then compiles them. Tables are filled as indicators arrive, so
/// [`build`](SetBuilder::build) only trims spare capacity.
#[derive(Default)]
pub struct SetBuilder {
    set: IndicatorSet,
    contexts: HashMap<Context, ContextId>,
    /// Interned feed names, so contexts of one feed share the `Arc<str>` and duplicate checks
    /// compare pointers.
    feeds: hashbrown::HashSet<Arc<str>>,
    /// Indicators per context id.
    ctx_counts: Vec<usize>,
    /// Length of each name in the arena, in arena order, so `build` can walk the arena front
    /// to back (valid names are at most [`crate::name::MAX_NAME_LEN`] bytes; one longer than 64 KiB
    /// is refused).
    name_lens: Vec<u16>,
    duplicates: usize,
    refused: usize,
}

impl SetBuilder {
    pub fn new() -> Self {
        SetBuilder::default()
    }

    /// Reserve room for `indicators` more indicators of which `domains` are names, so building a
    /// large set does not rehash the name table as it grows.
    pub fn reserve(&mut self, indicators: usize, domains: usize, name_bytes: usize) {
        self.set.recs.reserve(indicators);
        self.set.arena.reserve(name_bytes);
        self.name_lens.reserve(domains);
        let (arena, hasher) = (&self.set.arena, &self.set.hasher);
        self.set
            .names
            .reserve(domains, |s| hasher.hash_one(slot_bytes(arena, s)));
    }

    /// The scope of allowlist feed `feed` (its allow entries, whenever they are added); not
    /// called, or called with the default rule: every feed, a more specific indicator wins.
    pub fn allow_rule(&mut self, feed: &str, rule: AllowRule) {
        let feed = self.feed_name(feed);
        if rule == AllowRule::default() {
            self.set.allow_rules.remove(&feed);
        } else {
            self.set.allow_rules.insert(feed, rule);
        }
    }

    /// The id of `ctx`, stored once however many indicators use it.
    pub fn context(&mut self, mut ctx: Context) -> ContextId {
        if let Some(&id) = self.contexts.get(&ctx) {
            return id;
        }
        ctx.feed = self.feed_name(&ctx.feed);
        let id = ContextId::try_from(self.set.contexts.len()).unwrap_or(ContextId::MAX);
        if ctx.action != Action::Alert {
            self.set.has_lists = true;
        }
        if ctx.port_only && ctx.port.is_some() {
            self.set.has_port_only = true;
        }
        self.set.contexts.push(Arc::new(ctx.clone()));
        self.ctx_counts.push(0);
        self.contexts.insert(ctx, id);
        id
    }

    /// The shared `Arc` for a feed name.
    pub fn feed_name(&mut self, feed: &str) -> Arc<str> {
        match self.feeds.get(feed) {
            Some(f) => Arc::clone(f),
            None => {
                let f: Arc<str> = Arc::from(feed);
                self.feeds.insert(Arc::clone(&f));
                f
            }
        }
    }

    /// Add one indicator with context `ctx` (from [`context`](Self::context)); `mode` matters
    /// for names only.
    pub fn add(&mut self, value: Value, ctx: ContextId, mode: MatchMode) -> Added {
        let Some(id) = u32::try_from(self.set.recs.len())
            .ok()
            .filter(|&id| id != NO_REC && (ctx as usize) < self.set.contexts.len())
        else {
            self.refused += 1;
            return Added::Refused;
        };
        let set = &mut self.set;
        let head: &mut u32 = match canonical_value(value) {
            Value::Ip(IpAddr::V4(a)) => set.ip4.entry(u32::from(a)).or_insert(NO_REC),
            Value::Ip(IpAddr::V6(a)) => set.ip6.entry(a).or_insert(NO_REC),
            Value::Cidr(IpNet::V4(n)) => {
                if !set.cidr4.contains_key(&n) {
                    let net = u128::from(u32::from(n.network())) << 96;
                    set.top4.cover(net, n.prefix_len());
                    set.top4_24.cover(net, n.prefix_len());
                }
                set.cidr4.entry(n).or_insert(NO_REC)
            }
            Value::Cidr(IpNet::V6(n)) => {
                if !set.cidr6.contains_key(&n) {
                    set.top6.cover(u128::from(n.network()), n.prefix_len());
                    if n.contains(&MAPPED_RANGE) {
                        set.cidr6_covers_mapped = true;
                    }
                }
                set.cidr6.entry(n).or_insert(NO_REC)
            }
            Value::Domain(bytes) => return self.add_name(&bytes, ctx, mode),
            Value::Token(kind, key) => {
                let next = u32::try_from(set.token_keys.len()).unwrap_or(u32::MAX);
                let key: Box<[u8]> = key.into_boxed_slice();
                let idx = *set.tokens.entry((kind, key.clone())).or_insert(next);
                if idx == next {
                    set.token_keys.push((kind, key, NO_REC));
                    set.token_kinds = set.token_kinds.with(kind);
                }
                if kind == Token::Url && mode == MatchMode::Prefix {
                    set.has_url_prefix = true;
                }
                &mut set.token_keys[idx as usize].2
            }
        };
        Self::link(
            &mut set.recs,
            &set.contexts,
            &mut self.ctx_counts,
            head,
            id,
            ctx,
            mode,
        )
        .unwrap_or_else(|| {
            self.duplicates += 1;
            Added::Duplicate
        })
    }

    /// Look `name` up without adding it: called for the next few names before they are added,
    /// this starts their (independent) cache misses in the name table together instead of one
    /// after the other, which is most of the cost of building a large set.
    #[inline]
    pub fn warm_name(&self, name: &[u8]) -> bool {
        self.warm_name_hashed(name, self.set.hasher.hash_one(name))
    }

    /// The hasher of the name table: [`warm_name_hashed`](Self::warm_name_hashed) and
    /// [`add_name_prepared`](Self::add_name_prepared) take a name's hash under it, so that the
    /// threads parsing a large feed hash the names and the thread adding them does not.
    pub fn name_hasher(&self) -> NameHasher {
        self.set.hasher.clone()
    }

    /// [`warm_name`](Self::warm_name) of a name whose hash under
    /// [`name_hasher`](Self::name_hasher) is `hash`.
    #[inline]
    pub fn warm_name_hashed(&self, name: &[u8], hash: u64) -> bool {
        self.set
            .names
            .find(hash, |s| slot_bytes(&self.set.arena, s) == name)
            .is_some()
    }

    /// [`warm_name`](Self::warm_name) for an address.
    #[inline]
    pub fn warm_ip(&self, ip: IpAddr) -> bool {
        match canonical_ip(ip) {
            IpAddr::V4(a) => self.set.ip4.contains_key(&u32::from(a)),
            IpAddr::V6(a) => self.set.ip6.contains_key(&a),
        }
    }

    /// Add a name indicator: [`add`](Self::add) of a [`Value::Domain`] without the `Vec`.
    pub fn add_name(&mut self, name: &[u8], ctx: ContextId, mode: MatchMode) -> Added {
        let prep = PreparedName::new(&self.set.hasher, name);
        self.add_name_prepared(name, prep, ctx, mode)
    }

    /// [`add_name`](Self::add_name) of a name prepared with [`PreparedName::new`] under
    /// [`name_hasher`](Self::name_hasher) (a wrong hash makes a second slot for the name that
    /// lookups never find: see feeds' parallel parse, which prepares names on its threads).
    pub fn add_name_prepared(
        &mut self,
        name: &[u8],
        prep: PreparedName,
        ctx: ContextId,
        mode: MatchMode,
    ) -> Added {
        let hash = prep.hash;
        let Some(id) = u32::try_from(self.set.recs.len())
            .ok()
            .filter(|&id| id != NO_REC && (ctx as usize) < self.set.contexts.len())
        else {
            self.refused += 1;
            return Added::Refused;
        };
        let set = &mut self.set;
        let (arena, hasher) = (&set.arena, &set.hasher);
        let entry = set.names.entry(
            hash,
            |s| slot_bytes(arena, s) == name,
            |s| hasher.hash_one(slot_bytes(arena, s)),
        );
        let head = match entry {
            TableEntry::Occupied(o) => &mut o.into_mut().head,
            TableEntry::Vacant(v) => {
                let end = set.arena.len().saturating_add(name.len());
                let (Ok(off), Ok(len), Ok(len8), true) = (
                    u32::try_from(set.arena.len()),
                    u32::try_from(name.len()),
                    u16::try_from(name.len()),
                    end <= MAX_DOMAIN_ARENA_BYTES,
                ) else {
                    self.refused += 1;
                    return Added::Refused;
                };
                set.arena.extend_from_slice(name);
                self.name_lens.push(len8);
                let labels = prep.labels;
                set.label_mask |= label_bit(labels);
                set.max_labels = set.max_labels.max(labels);
                &mut v
                    .insert(NameSlot {
                        off,
                        len,
                        head: NO_REC,
                    })
                    .into_mut()
                    .head
            }
        };
        Self::link(
            &mut set.recs,
            &set.contexts,
            &mut self.ctx_counts,
            head,
            id,
            ctx,
            mode,
        )
        .unwrap_or_else(|| {
            self.duplicates += 1;
            Added::Duplicate
        })
    }

    /// Put record `id` at the head of the chain, unless the chain already has a record of the
    /// same feed (`None`: one feed lists a value once, the first entry stays, covering what
    /// both entries' match modes cover).
    #[inline]
    fn link(
        recs: &mut Vec<Rec>,
        contexts: &[Arc<Context>],
        ctx_counts: &mut [usize],
        head: &mut u32,
        id: u32,
        ctx: ContextId,
        mode: MatchMode,
    ) -> Option<Added> {
        let feed = &contexts[ctx as usize].feed;
        let mut r = *head;
        while let Some(rec) = recs.get_mut(r as usize) {
            if Arc::ptr_eq(&contexts[rec.ctx as usize].feed, feed) {
                // the first entry's context stays, and the names covered are those of both:
                // `x` (exact) and `*.x` (subdomains only), as RPZ zones list them, are x and
                // its subdomains; any two different modes together cover that much
                if rec.mode != mode {
                    // a URL listed exact and as a prefix: the prefix covers both
                    rec.mode = if rec.mode == MatchMode::Prefix || mode == MatchMode::Prefix {
                        MatchMode::Prefix
                    } else {
                        MatchMode::Subdomain
                    };
                }
                return None;
            }
            r = rec.next;
        }
        recs.push(Rec {
            ctx,
            next: *head,
            mode,
        });
        *head = id;
        if let Some(n) = ctx_counts.get_mut(ctx as usize) {
            *n += 1;
        }
        Some(Added::Yes)
    }

    /// Values not added because the same feed already listed them.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Values not added because the set is full: more than `u32::MAX - 1` indicators, or more
    /// than [`MAX_DOMAIN_ARENA_BYTES`] of names. Zero in any realistic deployment.
    pub fn refused(&self) -> usize {
        self.refused
    }

    /// Indicators added so far.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A context added with [`context`](Self::context).
    pub fn context_of(&self, id: ContextId) -> &Context {
        self.set.context(id)
    }

    /// Indicators of `feed` added so far.
    pub fn feed_len(&self, feed: &str) -> usize {
        self.set
            .contexts
            .iter()
            .zip(&self.ctx_counts)
            .filter(|(c, _)| *c.feed == *feed)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn build(self) -> IndicatorSet {
        let mut set = self.set;
        for (c, &n) in set.contexts.iter().zip(&self.ctx_counts) {
            *set.feed_counts.entry(Arc::clone(&c.feed)).or_default() += n;
        }
        set.recs.shrink_to_fit();
        set.arena.shrink_to_fit();
        set.contexts.shrink_to_fit();
        // the filters in front of the exact tables, filled from them once they are complete
        // names in arena order, so the arena is read front to back once
        let mut off = 0usize;
        let names = self.name_lens.iter().map(|&len| {
            let end = off + usize::from(len);
            let name = set.arena.get(off..end).unwrap_or_default();
            off = end;
            (
                set.hasher.hash_one(filter_group(name)),
                set.hasher.hash_one(name),
            )
        });
        let names_filter = Filter::from_keys(set.names.len(), names);
        let hashed = |h: u64| (h, h);
        let ip4_filter = Filter::from_keys(
            set.ip4.len(),
            set.ip4.keys().map(|a| hashed(set.hasher.hash_one(a))),
        );
        let ip6_filter = Filter::from_keys(
            set.ip6.len(),
            set.ip6.keys().map(|a| hashed(set.hasher.hash_one(a))),
        );
        set.names_filter = names_filter;
        set.ip4_filter = ip4_filter;
        set.ip6_filter = ip6_filter;
        set
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn a_value_is_listed_once_per_feed_and_once_per_other_feed() {
        let mut b = SetBuilder::new();
        assert_eq!(add(&mut b, "one", dom("evil.com")), Added::Yes);
        assert_eq!(add(&mut b, "two", dom("EVIL.com.")), Added::Yes);
        assert_eq!(add(&mut b, "one", dom("Evil.com")), Added::Duplicate);
        add(&mut b, "one", Value::Ip(ip("1.2.3.4")));
        assert_eq!(
            add(&mut b, "one", Value::Ip(ip("::ffff:1.2.3.4"))),
            Added::Duplicate
        );
        add(&mut b, "two", cidr("10.0.0.0/8"));
        assert_eq!(
            add(&mut b, "two", cidr("::ffff:10.0.0.0/104")),
            Added::Duplicate
        );
        add(&mut b, "one", cidr("1.2.3.4/32"));
        assert_eq!(b.duplicates(), 3);
        assert_eq!(b.refused(), 0);
        assert_eq!((b.feed_len("one"), b.feed_len("two")), (3, 2));
        let set = b.build();
        assert_eq!(set.len(), 5);
        // both feeds' evil.com are hits; the earlier feed ranks first on a tie
        let mut hits = Vec::new();
        set.lookup_domain(b"evil.com", &mut hits);
        assert_eq!(hits.len(), 2);
        set.rank(&mut hits);
        let feeds: Vec<&str> = hits.iter().map(|h| &*set.context(h.ctx).feed).collect();
        assert_eq!(feeds, ["one", "two"]);
        // the exact address and the /32 are both reported, exact first
        hits.clear();
        set.lookup_ip(ip("1.2.3.4"), &mut hits);
        set.rank(&mut hits);
        let shown: Vec<String> = hits.iter().map(|h| set.value_text(&h.value)).collect();
        assert_eq!(shown, ["1.2.3.4", "1.2.3.4/32"]);
    }

    #[test]
    fn context_is_stored_once_per_feed() {
        let set = set_of(&[dom("a.com"), Value::Ip(ip("1.1.1.1")), cidr("10.0.0.0/8")]);
        assert_eq!(set.len(), 3);
        assert_eq!(set.contexts_len(), 1);
    }

    #[test]
    fn many_names_survive_table_growth() {
        // Enough inserts to rehash the name table several times without a reserve.
        let mut b = SetBuilder::new();
        for i in 0..5000 {
            add(
                &mut b,
                "f",
                Value::Domain(format!("host{i}.example").into_bytes()),
            );
        }
        let set = b.build();
        assert_eq!(set.len(), 5000);
        for i in (0..5000).step_by(7) {
            let n = format!("x.host{i}.example");
            let m = set.best_domain(n.as_bytes()).unwrap();
            assert_eq!(m.value, format!("host{i}.example"));
        }
        assert!(set.best_domain(b"host5000.example").is_none());
    }
}
