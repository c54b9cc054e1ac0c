//! A MISP feed directory over HTTP (`format = "misp"` with `url`): `<url>/manifest.json`
//! (conditional GET), then only the events whose `timestamp` changed or that are missing from
//! the copy (`<url>/<uuid>.json`), each written atomically into the copy's directory
//! (`<state_dir>/feeds/<name>/`), events gone from the manifest removed, and the manifest
//! written last. The directory is read by the `misp` format as a local feed directory is.
//!
//! An event that cannot be fetched fails the round: the manifest is not replaced, so the next
//! round fetches again every event still differing from the manifest in the copy.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::http::{with_suffix, Client, Got};
use super::{check_candidate, install, FetchState};
use crate::config::FeedConfig;

/// Events in one manifest: the largest public MISP feeds (CIRCL OSINT) list about 2 000;
/// 100 000 leaves room for a private instance's full export.
pub const MAX_EVENTS: usize = 100_000;

/// A MISP event UUID as a file name: 36 characters of hex digits and dashes (also keeps a
/// hostile manifest from naming `../x`).
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Each event's `timestamp` in a manifest (as text; MISP writes it as a string or a number).
fn stamps(manifest: &Value) -> Result<BTreeMap<String, String>, String> {
    let obj = manifest
        .as_object()
        .ok_or("manifest.json is not a JSON object of events")?;
    if obj.len() > MAX_EVENTS {
        return Err(format!(
            "manifest.json lists more than {MAX_EVENTS} events: refused"
        ));
    }
    let mut out = BTreeMap::new();
    for (uuid, ev) in obj {
        if !is_uuid(uuid) {
            return Err(format!("manifest.json: {uuid:?} is not an event UUID"));
        }
        let t = match ev.get("timestamp") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        out.insert(uuid.to_ascii_lowercase(), t);
    }
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

/// Fetch `url`'s manifest and the changed events; `Some(entries)` when the copy changed.
pub fn fetch(
    feed: &FeedConfig,
    client: &Client,
    url: &str,
    st: &mut FetchState,
) -> Result<Option<usize>, String> {
    let dir = &feed.path;
    super::ensure_dir(dir)?;
    let base = url.trim_end_matches('/');
    let manifest_path = dir.join("manifest.json");
    let new_manifest = with_suffix(&manifest_path, ".new");
    let have = if manifest_path.exists() {
        st.validators.clone()
    } else {
        Default::default()
    };
    let result = (|| {
        let (got, _) = client.get(&format!("{base}/manifest.json"), &have, None, &new_manifest)?;
        let Got::Body(validators) = got else {
            return Ok(None);
        };
        let new = stamps(&read_json(&new_manifest)?)?;
        let old = if manifest_path.exists() {
            stamps(&read_json(&manifest_path)?).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let mut changed = 0usize;
        for (uuid, t) in &new {
            let file = dir.join(format!("{uuid}.json"));
            if old.get(uuid) == Some(t) && file.exists() {
                continue;
            }
            let part = with_suffix(&file, ".part");
            let got = client.get(
                &format!("{base}/{uuid}.json"),
                &Default::default(),
                None,
                &part,
            );
            let ok = got.and_then(|_| {
                let v = read_json(&part)?;
                if v.get("Event").is_none() {
                    return Err(format!("{uuid}.json: no \"Event\" in it"));
                }
                install(&part, &file)
            });
            if let Err(e) = ok {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
            changed += 1;
        }
        let mut removed = 0usize;
        for uuid in old.keys().filter(|u| !new.contains_key(*u)) {
            if std::fs::remove_file(dir.join(format!("{uuid}.json"))).is_ok() {
                removed += 1;
            }
        }
        let same_list = old.len() == new.len();
        install(&new_manifest, &manifest_path)?;
        st.validators = validators;
        if changed == 0 && removed == 0 && same_list {
            return Ok(None);
        }
        tracing::info!(
            "feed {:?}: {changed} events fetched, {removed} removed",
            feed.display_name()
        );
        // reported, not refused: the events are already in place one by one
        check_candidate(feed, dir, None).map(Some)
    })();
    let _ = std::fs::remove_file(&new_manifest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_stamps_are_read_and_hostile_names_refused() {
        let m: Value = serde_json::from_str(
            r#"{"5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b": {"timestamp": "1700000000"},
                "6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c": {"timestamp": 1700000001}}"#,
        )
        .unwrap();
        let s = stamps(&m).unwrap();
        assert_eq!(s["6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c"], "1700000001");
        let bad: Value = serde_json::from_str(r#"{"../../etc/passwd": {}}"#).unwrap();
        assert!(stamps(&bad).is_err());
    }
}
