//! The address index: exact IPv4/IPv6 tables (behind their Bloom filters), the per-family CIDR
//! tries with the [`TopBits`] maps that let most addresses skip them, and
//! [`IndicatorSet::lookup_ip`]. Also the canonical forms every address and CIDR is stored and
//! looked up in: IPv4-mapped IPv6 is IPv4, host bits are cleared. Contract: a lookup appends
//! to `out` every indicator covering the address, the exact one and those of each covering
//! prefix, in no particular order (ranking is [`super::rank`]'s job), and a family without
//! CIDRs costs no trie walk.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Hit, HitValue, IndicatorSet};
use crate::indicators::{MatchKind, Value};

/// Specificity of an exact address match: above any prefix length (IPv4 prefixes are ranked in
/// IPv6 terms, `len + 96`, so they compare with v6 CIDRs covering the mapped range).
const EXACT_IP_SPECIFICITY: u16 = 256;

impl IndicatorSet {
    /// Every indicator covering `ip`, appended to `out` in no particular order: the exact
    /// address and every covering CIDR. IPv4-mapped IPv6 addresses are looked up as IPv4.
    #[inline]
    pub fn lookup_ip(&self, ip: IpAddr, out: &mut Vec<Hit>) {
        match canonical_ip(ip) {
            IpAddr::V4(a) => self.lookup_v4(a, out),
            IpAddr::V6(a) => self.lookup_v6(a, out),
        }
    }

    #[inline]
    fn lookup_v4(&self, a: Ipv4Addr, out: &mut Vec<Hit>) {
        let bits = u32::from(a);
        let exact = self.ip4_filter.may_contain(self.hasher.hash_one(bits));
        if let Some(&head) = exact.then(|| self.ip4.get(&bits)).flatten() {
            self.push_hits(
                head,
                HitValue::Ip(IpAddr::V4(a)),
                MatchKind::Exact,
                EXACT_IP_SPECIFICITY,
                out,
            );
        }
        let left = u128::from(bits) << 96;
        if self.top4.covers(left) && self.top4_24.covers(left) {
            for (n, &head) in self.cidr4.cover(&Ipv4Net::from(a)) {
                let spec = u16::from(n.prefix_len()) + 96;
                self.push_hits(
                    head,
                    HitValue::Net(IpNet::V4(n)),
                    MatchKind::Cidr,
                    spec,
                    out,
                );
            }
        }
        if self.cidr6_covers_mapped {
            for (n, &head) in self.cidr6.cover(&Ipv6Net::from(a.to_ipv6_mapped())) {
                let spec = u16::from(n.prefix_len());
                self.push_hits(
                    head,
                    HitValue::Net(IpNet::V6(n)),
                    MatchKind::Cidr,
                    spec,
                    out,
                );
            }
        }
    }

    #[inline]
    fn lookup_v6(&self, a: Ipv6Addr, out: &mut Vec<Hit>) {
        let exact = self.ip6_filter.may_contain(self.hasher.hash_one(a));
        if let Some(&head) = exact.then(|| self.ip6.get(&a)).flatten() {
            self.push_hits(
                head,
                HitValue::Ip(IpAddr::V6(a)),
                MatchKind::Exact,
                EXACT_IP_SPECIFICITY,
                out,
            );
        }
        if self.top6.covers(u128::from(a)) {
            for (n, &head) in self.cidr6.cover(&Ipv6Net::from(a)) {
                let spec = u16::from(n.prefix_len());
                self.push_hits(
                    head,
                    HitValue::Net(IpNet::V6(n)),
                    MatchKind::Cidr,
                    spec,
                    out,
                );
            }
        }
    }

    pub(super) fn push_hits(
        &self,
        head: u32,
        value: HitValue,
        kind: MatchKind,
        spec: u16,
        out: &mut Vec<Hit>,
    ) {
        let mut r = head;
        while let Some(rec) = self.recs.get(r as usize) {
            out.push(Hit {
                id: r,
                ctx: rec.ctx,
                value,
                kind,
                specificity: spec,
            });
            r = rec.next;
        }
    }
}

/// Which values of an address's top `B` bits some CIDR covers, checked before the trie: with
/// `B = 16` a 65536-bit map (8 KiB, cache resident); IPv4 also has a `B = 24` map (2 MiB, one
/// bit per /24) behind it, because with a blocklist of 100k+ CIDRs nearly every top-16 value is
/// covered by some CIDR and the trie walk (several cache misses) would run for nearly every
/// address. Empty (no allocation) while the family has no CIDR, so a family without CIDRs
/// costs one length check.
#[derive(Default)]
pub(super) struct TopBits<const B: u32>(Vec<u64>);

impl<const B: u32> TopBits<B> {
    const WORDS: usize = (1 << B) / 64;

    /// Mark every top-`B` value inside `network/len`; `network` is left-aligned in a `u128`.
    pub(super) fn cover(&mut self, network: u128, len: u8) {
        if self.0.is_empty() {
            self.0 = vec![0; Self::WORDS];
        }
        let first = (network >> (128 - B)) as usize;
        // a prefix of B bits or more falls in one top-B value; a shorter one spans 2^(B-len)
        let span = 1usize << B.saturating_sub(u32::from(len));
        for top in first..first.saturating_add(span).min(1 << B) {
            if let Some(w) = self.0.get_mut(top / 64) {
                *w |= 1 << (top % 64);
            }
        }
    }

    #[inline]
    fn covers(&self, addr: u128) -> bool {
        let top = (addr >> (128 - B)) as usize;
        self.0
            .get(top / 64)
            .is_some_and(|w| w & (1 << (top % 64)) != 0)
    }
}

/// `::ffff:0:0/96`, the IPv4-mapped IPv6 range (RFC 4291 §2.5.5.2). A constant, so a wrong
/// prefix length would fail the build, not panic at run time.
pub(super) const MAPPED_RANGE: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);

/// IPv4-mapped IPv6 addresses become IPv4.
pub(super) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Host bits cleared; v6 networks inside `::ffff:0:0/96` become the IPv4 network.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    if let IpNet::V6(n) = net {
        if let (Some(v4), Some(len)) =
            (n.network().to_ipv4_mapped(), n.prefix_len().checked_sub(96))
        {
            if let Ok(v4net) = Ipv4Net::new(v4, len) {
                return IpNet::V4(v4net);
            }
        }
    }
    net
}

pub(super) fn canonical_value(value: Value) -> Value {
    match value {
        Value::Ip(ip) => Value::Ip(canonical_ip(ip)),
        Value::Cidr(net) => Value::Cidr(canonical_net(net)),
        v @ (Value::Domain(_) | Value::Token(..)) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::indicators::IndicatorType;

    #[test]
    fn exact_ip_matches_only_itself() {
        let set = set_of(&[Value::Ip(ip("192.0.2.1")), Value::Ip(ip("2001:db8::1"))]);
        assert_eq!(
            ip_hit(&set, "192.0.2.1"),
            hit("192.0.2.1", MatchKind::Exact)
        );
        assert_eq!(
            ip_hit(&set, "2001:db8::1"),
            hit("2001:db8::1", MatchKind::Exact)
        );
        assert_eq!(ip_hit(&set, "192.0.2.2"), None);
        assert_eq!(ip_hit(&set, "2001:db8::2"), None);
        let m = set.best_ip(ip("2001:db8::1")).unwrap();
        assert_eq!(m.itype, IndicatorType::Ipv6);
    }

    #[test]
    fn v4_mapped_v6_matches_v4_indicator_and_back() {
        let set = set_of(&[
            Value::Ip(ip("192.0.2.1")),
            Value::Ip(ip("::ffff:198.51.100.7")),
        ]);
        assert_eq!(
            ip_hit(&set, "::ffff:192.0.2.1"),
            hit("192.0.2.1", MatchKind::Exact)
        );
        // the mapped indicator is stored as IPv4
        assert_eq!(
            ip_hit(&set, "198.51.100.7"),
            hit("198.51.100.7", MatchKind::Exact)
        );
        assert_eq!(
            set.best_ip(ip("198.51.100.7")).unwrap().itype,
            IndicatorType::Ipv4
        );
        // IPv4-compatible (::a.b.c.d, deprecated) is not mapped
        assert_eq!(ip_hit(&set, "::192.0.2.1"), None);
    }

    #[test]
    fn v4_mapped_v6_cidr_is_stored_as_v4() {
        let set = set_of(&[cidr("::ffff:10.0.0.0/104"), cidr("::ffff:0:0/96")]);
        assert_eq!(ip_hit(&set, "10.9.9.9"), hit("10.0.0.0/8", MatchKind::Cidr));
        assert_eq!(
            ip_hit(&set, "::ffff:10.9.9.9"),
            hit("10.0.0.0/8", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "11.0.0.1"), hit("0.0.0.0/0", MatchKind::Cidr));
        assert_eq!(ip_hit(&set, "2001:db8::1"), None);
    }

    #[test]
    fn longest_prefix_wins_among_overlapping_cidrs() {
        let set = set_of(&[
            cidr("10.0.0.0/8"),
            cidr("10.1.0.0/16"),
            cidr("10.1.2.0/24"),
            cidr("2001:db8::/32"),
            cidr("2001:db8:1::/48"),
        ]);
        assert_eq!(
            ip_hit(&set, "10.1.2.3"),
            hit("10.1.2.0/24", MatchKind::Cidr)
        );
        assert_eq!(
            ip_hit(&set, "10.1.3.3"),
            hit("10.1.0.0/16", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "10.2.0.1"), hit("10.0.0.0/8", MatchKind::Cidr));
        assert_eq!(ip_hit(&set, "11.0.0.1"), None);
        assert_eq!(
            ip_hit(&set, "2001:db8:1::5"),
            hit("2001:db8:1::/48", MatchKind::Cidr)
        );
        assert_eq!(
            ip_hit(&set, "2001:db8:2::5"),
            hit("2001:db8::/32", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "2001:db9::1"), None);
    }

    #[test]
    fn zero_prefix_covers_its_whole_family() {
        let set = set_of(&[cidr("0.0.0.0/0")]);
        assert_eq!(
            ip_hit(&set, "203.0.113.9"),
            hit("0.0.0.0/0", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "2001:db8::1"), None);
        let set = set_of(&[cidr("::/0")]);
        assert_eq!(ip_hit(&set, "2001:db8::1"), hit("::/0", MatchKind::Cidr));
        // ::/0 covers ::ffff:0:0/96, so every IPv4 address too
        assert_eq!(ip_hit(&set, "203.0.113.9"), hit("::/0", MatchKind::Cidr));
    }

    #[test]
    fn v4_cidr_beats_shorter_v6_cidr_covering_mapped_range() {
        let set = set_of(&[cidr("::/0"), cidr("10.0.0.0/8")]);
        assert_eq!(ip_hit(&set, "10.1.1.1"), hit("10.0.0.0/8", MatchKind::Cidr));
        assert_eq!(ip_hit(&set, "11.1.1.1"), hit("::/0", MatchKind::Cidr));
    }

    #[test]
    fn host_length_prefixes_cover_one_address() {
        let set = set_of(&[cidr("192.0.2.7/32"), cidr("2001:db8::7/128")]);
        assert_eq!(
            ip_hit(&set, "192.0.2.7"),
            hit("192.0.2.7/32", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "192.0.2.6"), None);
        assert_eq!(
            ip_hit(&set, "2001:db8::7"),
            hit("2001:db8::7/128", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "2001:db8::8"), None);
    }

    #[test]
    fn exact_address_beats_covering_cidr() {
        let set = set_of(&[
            cidr("192.0.2.0/24"),
            cidr("192.0.2.7/32"),
            Value::Ip(ip("192.0.2.7")),
            cidr("2001:db8::/32"),
            Value::Ip(ip("2001:db8::7")),
        ]);
        assert_eq!(
            ip_hit(&set, "192.0.2.7"),
            hit("192.0.2.7", MatchKind::Exact)
        );
        assert_eq!(
            ip_hit(&set, "192.0.2.8"),
            hit("192.0.2.0/24", MatchKind::Cidr)
        );
        assert_eq!(
            ip_hit(&set, "2001:db8::7"),
            hit("2001:db8::7", MatchKind::Exact)
        );
        assert_eq!(set.len(), 5);
    }

    #[test]
    fn cidr_filter_never_hides_a_covering_prefix() {
        // prefixes around the 16-bit filter granularity, each probed just inside and outside
        let set = set_of(&[
            cidr("10.0.0.0/7"),
            cidr("20.2.0.0/15"),
            cidr("30.3.0.0/16"),
            cidr("40.4.128.0/17"),
            cidr("2001::/16"),
            cidr("2400::/6"),
        ]);
        assert_eq!(
            ip_hit(&set, "11.255.255.255"),
            hit("10.0.0.0/7", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "12.0.0.0"), None);
        assert_eq!(
            ip_hit(&set, "20.3.255.255"),
            hit("20.2.0.0/15", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "20.4.0.0"), None);
        assert_eq!(
            ip_hit(&set, "30.3.255.255"),
            hit("30.3.0.0/16", MatchKind::Cidr)
        );
        assert_eq!(
            ip_hit(&set, "40.4.128.1"),
            hit("40.4.128.0/17", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "40.4.127.255"), None);
        assert_eq!(
            ip_hit(&set, "2001:ffff::1"),
            hit("2001::/16", MatchKind::Cidr)
        );
        assert_eq!(ip_hit(&set, "2002::1"), None);
        assert_eq!(ip_hit(&set, "27ff::1"), hit("2400::/6", MatchKind::Cidr));
        assert_eq!(ip_hit(&set, "2800::1"), None);
    }

    #[test]
    fn the_slash_24_filter_never_hides_a_covering_prefix() {
        let set = set_of(&[
            cidr("50.5.4.0/23"),
            cidr("60.6.6.0/24"),
            cidr("70.7.7.128/25"),
            cidr("80.8.0.0/20"),
        ]);
        for (q, want) in [
            ("50.5.5.255", Some("50.5.4.0/23")),
            ("50.5.6.0", None),
            ("60.6.6.1", Some("60.6.6.0/24")),
            ("60.6.7.1", None),
            ("70.7.7.200", Some("70.7.7.128/25")),
            ("70.7.7.100", None),
            ("80.8.15.255", Some("80.8.0.0/20")),
            ("80.8.16.0", None),
        ] {
            assert_eq!(
                ip_hit(&set, q),
                want.map(|w| (w.to_owned(), MatchKind::Cidr)),
                "{q}"
            );
        }
    }
}
