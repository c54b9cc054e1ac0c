//! Sightings back to the source (issue 16): a hit as a STIX 2.1 `sighting` object or a MISP
//! sighting record, so the intelligence platform that sent an indicator learns where it fired.
//!
//! - **STIX** (`payload = "stix-sighting"`): `sighting_of_ref` is the indicator's STIX id
//!   (`indicator--…`, kept by the STIX loader as the indicator's `id`); a MISP attribute's
//!   UUID becomes `indicator--<uuid>` (what MISP's STIX 2.1 export names it); any other
//!   indicator (a plain list) gets a deterministic UUIDv5 id of (feed, type, value), with the
//!   value in `x_iocd_indicator` so it can still be told apart. `where_sighted_refs` is the
//!   sensor's identity, a UUIDv5 of its name, written once when the sink starts. Ids and
//!   `created` are deterministic: a sighting posted twice is the same object.
//! - **MISP** (`payload = "misp-sighting"`): the body of `/sightings/add`: `value` (the
//!   indicator's), `source` (the sensor), `timestamp` (Unix seconds, as a string), `type`
//!   `"0"` (a sighting), and the attribute's `uuid` when the indicator came from MISP.
//!
//! An IoA is a sighting of count 1 at its packet time; a retro event or an aggregate carries
//! its own first/last seen and count. Stats records have no sighting: nothing is written.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::event::{format_ts, IndicatorRef, Record};

/// The namespace of iocd's UUIDv5 ids: UUIDv5 of "iocd" in the URL namespace.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://iocd/stix")
}

/// `created`/`modified` of the sensor's identity: fixed, so the object is the same each time.
const IDENTITY_CREATED: &str = "2024-01-01T00:00:00.000Z";

/// The STIX id of the sensor's identity.
pub fn identity_id(sensor: &str) -> String {
    format!(
        "identity--{}",
        Uuid::new_v5(&namespace(), sensor.as_bytes())
    )
}

/// The sensor's identity object.
pub fn identity(sensor: &str) -> Value {
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(sensor),
        "created": IDENTITY_CREATED,
        "modified": IDENTITY_CREATED,
        "name": sensor,
        "identity_class": "system",
    })
}

/// The indicator's STIX id (see the module docs).
pub fn indicator_id(i: &IndicatorRef) -> String {
    match i.context.id.as_deref() {
        Some(id) if id.starts_with("indicator--") => id.to_owned(),
        Some(id) if Uuid::parse_str(id).is_ok() => {
            format!("indicator--{}", id.to_ascii_lowercase())
        }
        _ => {
            let key = format!("{}\0{}\0{}", i.context.feed, i.kind, i.value);
            format!("indicator--{}", Uuid::new_v5(&namespace(), key.as_bytes()))
        }
    }
}

/// What a sighting says: the indicator, the sensor, first/last seen (µs), count, and what
/// makes it one (for its id).
struct Seen<'a> {
    indicator: &'a IndicatorRef,
    sensor: &'a str,
    first_us: i64,
    last_us: i64,
    count: u64,
    key: String,
}

fn seen(rec: &Record) -> Option<Seen<'_>> {
    Some(match rec {
        Record::Ioa(e) => Seen {
            indicator: &e.indicator,
            sensor: &e.sensor,
            first_us: e.ts_us,
            last_us: e.ts_us,
            count: 1,
            key: format!(
                "ioa\0{}\0{}\0{}",
                e.flow.community_id, e.observable.value, e.ts_us
            ),
        },
        Record::Retro(r) => Seen {
            indicator: &r.indicator,
            sensor: &r.sensor,
            first_us: r.first_seen_us,
            last_us: r.last_seen_us,
            count: r.count,
            key: format!(
                "retro\0{}\0{}\0{}",
                r.observable.value, r.first_seen_us, r.ts_us
            ),
        },
        Record::Aggregate(a) => Seen {
            indicator: &a.indicator,
            sensor: &a.sensor,
            first_us: a.first_seen_us,
            last_us: a.last_seen_us,
            count: a.count,
            key: format!("aggregate\0{}\0{}", a.host, a.ts_us),
        },
        Record::Stats(_) => return None,
    })
}

/// STIX 2.1 timestamps: RFC 3339, UTC, `Z`.
fn stix_time(us: i64) -> String {
    format_ts(us)
}

/// The STIX sighting of a hit; `None` for a stats record.
pub fn stix(rec: &Record) -> Option<Value> {
    let s = seen(rec)?;
    let sighting_of = indicator_id(s.indicator);
    let id = Uuid::new_v5(
        &namespace(),
        format!("{}\0{}\0{}", s.sensor, sighting_of, s.key).as_bytes(),
    );
    let mut v = json!({
        "type": "sighting",
        "spec_version": "2.1",
        "id": format!("sighting--{id}"),
        "created": stix_time(s.last_us),
        "modified": stix_time(s.last_us),
        "created_by_ref": identity_id(s.sensor),
        "sighting_of_ref": sighting_of,
        "first_seen": stix_time(s.first_us),
        "last_seen": stix_time(s.last_us),
        // STIX 2.1 §5.7: count is at most 999,999,999.
        "count": s.count.min(999_999_999),
        "where_sighted_refs": [identity_id(s.sensor)],
    });
    if !s
        .indicator
        .context
        .id
        .as_deref()
        .is_some_and(|i| i.starts_with("indicator--"))
    {
        v["x_iocd_indicator"] = json!({
            "value": s.indicator.value,
            "type": s.indicator.kind,
            "feed": &*s.indicator.context.feed,
        });
    }
    Some(v)
}

/// The MISP sighting of a hit; `None` for a stats record.
pub fn misp(rec: &Record) -> Option<Value> {
    let s = seen(rec)?;
    let mut v = json!({
        "value": s.indicator.value,
        "source": s.sensor,
        "timestamp": (s.last_us.max(0) / 1_000_000).to_string(),
        "type": "0",
    });
    if let Some(id) = s.indicator.context.id.as_deref() {
        if Uuid::parse_str(id).is_ok() {
            v["uuid"] = json!(id);
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    #[test]
    fn an_ioa_is_a_sighting_of_its_indicator_by_the_sensor() {
        let mut e = crate::event::tests::sample_ioa(Severity::High);
        let plain = stix(&Record::Ioa(Box::new(e.clone()))).unwrap();
        assert_eq!(plain["count"], 1);
        assert_eq!(plain["first_seen"], plain["last_seen"]);
        assert_eq!(plain["where_sighted_refs"][0], identity_id("s"));
        assert_eq!(plain["x_iocd_indicator"]["value"], "tls13.com");
        assert!(plain["sighting_of_ref"]
            .as_str()
            .unwrap()
            .starts_with("indicator--"));
        // the same hit gives the same ids
        assert_eq!(plain, stix(&Record::Ioa(Box::new(e.clone()))).unwrap());
        let mut c = (*e.indicator.context).clone();
        c.id = Some("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into());
        e.indicator.context = std::sync::Arc::new(c);
        let s = stix(&Record::Ioa(Box::new(e.clone()))).unwrap();
        assert_eq!(
            s["sighting_of_ref"],
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        );
        assert!(s.get("x_iocd_indicator").is_none());
        let m = misp(&Record::Ioa(Box::new(e))).unwrap();
        assert_eq!(m["value"], "tls13.com");
        assert_eq!(m["timestamp"], "1565212114");
        assert_eq!(m["type"], "0");
        assert!(stix(&Record::Stats(Box::default())).is_none());
    }

    fn retro_hit() -> crate::event::RetroHit {
        let e = crate::event::tests::sample_ioa(Severity::High);
        crate::event::RetroHit {
            ts_us: e.ts_us + 3_600_000_000,
            sensor: e.sensor.clone(),
            flow: e.flow.clone(),
            observable: e.observable.clone(),
            indicator: e.indicator.clone(),
            also_matched: Vec::new(),
            first_seen_us: e.ts_us,
            last_seen_us: e.ts_us + 60_000_000,
            count: 7,
        }
    }

    #[test]
    fn a_retro_event_is_its_flows_alert_with_the_retro_fields_in_every_payload() {
        use crate::config::Payload;
        let rec = Record::Retro(Box::new(retro_hit()));
        let doc = |p| {
            let mut out = Vec::new();
            crate::output::encode::document(p, &rec, &mut out);
            serde_json::from_slice::<Value>(&out).unwrap()
        };
        let iocd = doc(Payload::Iocd);
        assert_eq!(iocd["event_type"], "retro");
        assert_eq!(iocd["count"], 7);
        assert_eq!(iocd["first_seen"], "2019-08-07T21:08:34.709050Z");
        assert_eq!(iocd["last_seen"], "2019-08-07T21:09:34.709050Z");
        assert_eq!(iocd["timestamp"], "2019-08-07T22:08:34.709050Z");
        let eve = doc(Payload::Eve);
        assert_eq!(eve["event_type"], "retro");
        assert_eq!(eve["retro"]["count"], 7);
        assert_eq!(eve["alert"]["metadata"]["indicator"][0], "tls13.com");
        let ecs = doc(Payload::Ecs);
        assert_eq!(ecs["event"]["kind"], "alert");
        assert_eq!(ecs["event"]["start"], "2019-08-07T21:08:34.709050Z");
        assert_eq!(ecs["iocd"]["retro"]["count"], 7);
        let stix = doc(Payload::StixSighting);
        assert_eq!(
            (stix["count"].clone(), stix["first_seen"].clone()),
            (json!(7), iocd["first_seen"].clone())
        );
        assert_eq!(doc(Payload::MispSighting)["timestamp"], "1565212174");
        // a stats record sights nothing
        let mut out = Vec::new();
        crate::output::encode::document(
            Payload::MispSighting,
            &Record::Stats(Box::default()),
            &mut out,
        );
        assert!(out.is_empty());
    }
}
