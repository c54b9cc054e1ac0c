//! Helpers shared by the set's unit tests: values from text, a one-feed set, and matches
//! reduced to (value, kind) for readable assertions.

use std::net::IpAddr;
use std::sync::Arc;

use super::{empty_context, Added, IndicatorSet, SetBuilder};
use crate::indicators::{Context, MatchKind, MatchMode, Value};
use crate::name;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn cidr(s: &str) -> Value {
    Value::Cidr(s.parse().unwrap())
}

pub(super) fn dom(s: &str) -> Value {
    Value::Domain(name::unescape(s).unwrap())
}

pub(super) fn set_of(values: &[Value]) -> IndicatorSet {
    let mut b = SetBuilder::new();
    for v in values {
        add(&mut b, "test", v.clone());
    }
    b.build()
}

pub(super) fn context(feed: &str) -> Context {
    Context {
        feed: Arc::from(feed),
        ..(**empty_context()).clone()
    }
}

pub(super) fn add(b: &mut SetBuilder, feed: &str, v: Value) -> Added {
    let c = b.context(context(feed));
    b.add(v, c, MatchMode::Subdomain)
}

/// (indicator value, kind) of a match, for readable assertions.
pub(super) fn ip_hit(set: &IndicatorSet, s: &str) -> Option<(String, MatchKind)> {
    set.best_ip(ip(s)).map(|m| (m.value, m.kind))
}

pub(super) fn dom_hit(set: &IndicatorSet, s: &str) -> Option<(String, MatchKind)> {
    let mut n = s.as_bytes().to_vec();
    name::normalize(&mut n);
    set.best_domain(&n).map(|m| (m.value, m.kind))
}

pub(super) fn hit(v: &str, k: MatchKind) -> Option<(String, MatchKind)> {
    Some((v.to_owned(), k))
}
