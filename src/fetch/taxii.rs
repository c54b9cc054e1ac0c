//! A TAXII 2.1 collection polled for what is new (`format = "taxii"`, OASIS TAXII 2.1 §5.4
//! "Get Objects"): `GET <collection>/objects/?added_after=<last X-TAXII-Date-Added-Last>`,
//! following `more`/`next` pages; the objects are merged into the collection's copy, a STIX
//! bundle in the state directory keyed by STIX id (the newest `modified` wins; a revoked
//! object is removed), which the `stix` format reads (its `valid_until` honoured there). The
//! `added_after` of the next poll is kept in the sidecar, so a restart polls on from there.

use std::collections::BTreeMap;

use serde_json::Value;

use super::http::{with_suffix, Client, Got, Validators};
use super::{check_candidate, install, write_atomic, FetchState};
use crate::config::FeedConfig;

/// The media type TAXII 2.1 servers answer with (TAXII 2.1 §1.6.8.1).
pub const ACCEPT: &str = "application/taxii+json;version=2.1";

/// Pages read in one poll: a server that keeps answering `more` (or a loop of `next` tokens)
/// must not hold the fetch thread forever. 10 000 pages of a server's usual 100–1000 objects
/// are millions of objects, more than any collection we know of adds between two polls.
pub const MAX_PAGES: usize = 10_000;

/// Objects asked for per page (`limit`; a server may answer fewer, TAXII 2.1 §3.4). Sent on
/// every request, `next` ones included: medallion (the reference server) fails a `next`
/// request without it.
pub const PAGE_LIMIT: u32 = 1000;

/// Objects kept in a collection's copy: 4 M, twice the largest feed we have measured (2 M
/// entries); a collection over it stops growing and the poll fails (reported), keeping the
/// last good copy.
pub const MAX_OBJECTS: usize = 4_000_000;

/// The collection's objects endpoint: `url` itself when it ends in `objects/`, else
/// `<url>/objects/`.
pub fn objects_url(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/objects") {
        format!("{base}/")
    } else {
        format!("{base}/objects/")
    }
}

/// Poll `url`; `Some(entries)` when the copy changed.
pub fn fetch(
    feed: &FeedConfig,
    client: &Client,
    url: &str,
    st: &mut FetchState,
) -> Result<Option<usize>, String> {
    let endpoint = objects_url(url);
    let page_file = with_suffix(&feed.path, ".page");
    let result = poll(feed, client, &endpoint, &page_file, st);
    let _ = std::fs::remove_file(&page_file);
    result
}

fn poll(
    feed: &FeedConfig,
    client: &Client,
    endpoint: &str,
    page_file: &std::path::Path,
    st: &mut FetchState,
) -> Result<Option<usize>, String> {
    let mut objects = if feed.path.exists() {
        read_bundle(&feed.path)?
    } else {
        BTreeMap::new()
    };
    let mut changed = false;
    let mut next: Option<String> = None;
    let mut added_last = st.added_after.clone();
    for page in 0.. {
        if page == MAX_PAGES {
            return Err(format!(
                "more than {MAX_PAGES} pages in one poll: stopped (the copy is not updated)"
            ));
        }
        let mut u = url::Url::parse(endpoint).map_err(|e| format!("{endpoint}: {e}"))?;
        {
            let mut q = u.query_pairs_mut();
            if let Some(a) = &st.added_after {
                q.append_pair("added_after", a);
            }
            if let Some(n) = &next {
                q.append_pair("next", n);
            }
            q.append_pair("limit", &PAGE_LIMIT.to_string());
        }
        let (got, headers) =
            client.get(u.as_str(), &Validators::default(), Some(ACCEPT), page_file)?;
        if matches!(got, Got::NotModified) {
            break;
        }
        let text = std::fs::read_to_string(page_file)
            .map_err(|e| format!("{u}: page is not UTF-8 text: {e}"))?;
        let envelope: Value =
            serde_json::from_str(&text).map_err(|e| format!("{u}: not a TAXII envelope: {e}"))?;
        let list = match envelope.get("objects") {
            Some(Value::Array(a)) => a.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err(format!("{u}: \"objects\" is not an array")),
        };
        for o in list {
            changed |= merge(&mut objects, o);
            if objects.len() > MAX_OBJECTS {
                return Err(format!("more than {MAX_OBJECTS} objects: refused"));
            }
        }
        if let Some(d) = headers.get("x-taxii-date-added-last") {
            added_last = Some(d);
        }
        let more = envelope
            .get("more")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        next = envelope
            .get("next")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if !more {
            break;
        }
        if next.is_none() && list.is_empty() {
            // "more" with nothing to go on: a server bug; what came so far is kept
            break;
        }
    }
    if !changed {
        st.added_after = added_last;
        return Ok(None);
    }
    let bundle = serde_json::json!({
        "type": "bundle",
        // one fixed id: the bundle is iocd's own copy of the collection, never published
        "id": "bundle--6f1d5f2c-7a3e-4b1d-9c2e-0d1e2f3a4b5c",
        "objects": objects.values().collect::<Vec<_>>(),
    });
    let tmp = with_suffix(&feed.path, ".tmp");
    let text = serde_json::to_vec(&bundle).map_err(|e| e.to_string())?;
    write_atomic(&tmp, &text)?;
    let n = match check_candidate(feed, &tmp, st.entries) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    install(&tmp, &feed.path)?;
    // only once the objects are safe on disk does the next poll start after them
    st.added_after = added_last;
    Ok(Some(n))
}

/// Merge one object into the copy: removed when revoked, kept when the copy's is as new or
/// newer (`modified`, RFC 3339 UTC, compares as text). Returns whether the copy changed.
fn merge(objects: &mut BTreeMap<String, Value>, o: &Value) -> bool {
    let Some(id) = o.get("id").and_then(Value::as_str) else {
        return false;
    };
    if o.get("revoked").and_then(Value::as_bool) == Some(true) {
        return objects.remove(id).is_some();
    }
    let modified = |v: &Value| {
        v.get("modified")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    if let Some(have) = objects.get(id) {
        if modified(have) >= modified(o) {
            return false;
        }
    }
    objects.insert(id.to_owned(), o.clone());
    true
}

/// The objects of the stored bundle, by id.
fn read_bundle(path: &std::path::Path) -> Result<BTreeMap<String, Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a STIX bundle: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for o in v
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = o.get("id").and_then(Value::as_str) {
            out.insert(id.to_owned(), o.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_objects_endpoint_is_found_from_either_url() {
        assert_eq!(
            objects_url("https://t/api/collections/c1/"),
            "https://t/api/collections/c1/objects/"
        );
        assert_eq!(
            objects_url("https://t/api/collections/c1"),
            "https://t/api/collections/c1/objects/"
        );
        assert_eq!(
            objects_url("https://t/api/collections/c1/objects/"),
            "https://t/api/collections/c1/objects/"
        );
    }

    #[test]
    fn newest_modified_wins_and_revoked_is_removed() {
        let mut m = BTreeMap::new();
        let a1 = json!({"id": "indicator--a", "modified": "2024-01-01T00:00:00.000Z", "v": 1});
        let a2 = json!({"id": "indicator--a", "modified": "2024-02-01T00:00:00.000Z", "v": 2});
        assert!(merge(&mut m, &a2));
        assert!(!merge(&mut m, &a1), "older loses");
        assert_eq!(m["indicator--a"]["v"], 2);
        assert!(!merge(&mut m, &json!({"no": "id"})));
        let rev =
            json!({"id": "indicator--a", "modified": "2024-03-01T00:00:00.000Z", "revoked": true});
        assert!(merge(&mut m, &rev));
        assert!(m.is_empty());
    }
}
