//! Issue 16 through the binary: the retro-hunt (a SIGHUP mid-replay, a restart through the
//! state directory, an expired window), STIX and MISP sightings (validated by the OASIS
//! schemas' validator, posted to a real TAXII 2.1 server and read back), and aggregates.
//!
//! The capture is the corpus' `pp-dns-http-sll.pcap` (51 s: `daisy.ubuntu.com` resolved at
//! 11.8 s, 12.8 s and 29.7 s through 10.0.0.138, then an HTTP download at 41 s). It is cut at
//! 20 s of capture time: what came before is what the memory must remember.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, iocd, run_with_timeout, write_file};

const CAPTURE: &str = "pp-dns-http-sll.pcap";
const NAME: &str = "daisy.ubuntu.com";
const ADDR: &str = "10.0.0.138";
/// Seen up to the cut and after it: its alerts tell the test when the replay has read the first
/// part.
const SENTINEL: &str = "10.0.0.8";
/// Capture time of the cut, after the capture's first packet.
const CUT_AFTER_US: i64 = 20_000_000;

fn capture() -> Option<PathBuf> {
    let p = util::corpus_dir()?.join(CAPTURE);
    if p.is_file() {
        Some(p)
    } else {
        util::skip(&format!("{} is not in the corpus", p.display()));
        None
    }
}

/// A classic pcap's bytes split before its first packet at or after `after_us` past the first
/// packet: (header and the packets before, the packets after), and the cut's time (µs since
/// the epoch).
fn split_pcap(bytes: &[u8], after_us: i64) -> (Vec<u8>, Vec<u8>, i64) {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        m => panic!("not a little-endian classic pcap: {m:#x}"),
    };
    let le = |o: usize| i64::from(u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()));
    let mut off = 24;
    let mut first = None;
    while off + 16 <= bytes.len() {
        let frac = le(off + 4);
        let ts = le(off) * 1_000_000 + if nanos { frac / 1000 } else { frac };
        let t0 = *first.get_or_insert(ts);
        if ts - t0 >= after_us {
            let mut a = bytes[..off].to_vec();
            a.truncate(off);
            let mut b = bytes[..24].to_vec();
            b.extend_from_slice(&bytes[off..]);
            return (a, b, t0 + after_us);
        }
        off += 16 + le(off + 8) as usize;
    }
    panic!("no packet {after_us} µs after the first");
}

fn ts_us(v: &Value) -> i64 {
    let s = v.as_str().expect("a timestamp");
    let t = humantime::parse_rfc3339(s).expect("RFC 3339");
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

/// The alerts' times for each indicator value, from a replay with every indicator loaded from
/// the start (one worker, as the runs it is compared with).
fn alerts_from_the_start(dir: &Path, pcap: &Path) -> BTreeMap<String, Vec<i64>> {
    alert_events_from_the_start(dir, pcap)
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|e| ts_us(&e["timestamp"])).collect()))
        .collect()
}

/// The alerts of each indicator value, replayed with every indicator from the start.
fn alert_events_from_the_start(dir: &Path, pcap: &Path) -> BTreeMap<String, Vec<Value>> {
    let feed = dir.join("all.txt");
    write_file(&feed, &format!("{NAME}\n{ADDR}\n{SENTINEL}\n"));
    let r = util::replay(&[
        "--feed",
        feed.to_str().unwrap(),
        "-w",
        "1",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in r.events {
        by.entry(e["indicator"]["value"].as_str().unwrap().to_owned())
            .or_default()
            .push(e);
    }
    by
}

/// (count, first, last) of the times before `cut` (or from it, `after`).
fn seen(times: &[i64], cut: i64, after: bool) -> (u64, i64, i64) {
    let t: Vec<i64> = times
        .iter()
        .copied()
        .filter(|&t| (t >= cut) == after)
        .collect();
    (
        t.len() as u64,
        t.iter().copied().min().unwrap_or(0),
        t.iter().copied().max().unwrap_or(0),
    )
}

fn retro_seen(e: &Value) -> (u64, i64, i64) {
    (
        e["count"].as_u64().unwrap(),
        ts_us(&e["first_seen"]),
        ts_us(&e["last_seen"]),
    )
}

fn retro_for<'a>(events: &'a [Value], value: &str) -> Vec<&'a Value> {
    of_type(events, "retro")
        .into_iter()
        .filter(|e| e["indicator"]["value"] == value)
        .collect()
}

/// Replace a file as a feed download would (rename into place).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    write_file(&tmp, text);
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_sighup_mid_replay_reports_what_was_seen_before_with_the_counts_of_a_replay_from_the_start() {
    let Some(pcap) = capture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let from_start = alert_events_from_the_start(dir.path(), &pcap);
    let expected = alerts_from_the_start(dir.path(), &pcap);
    let (part_a, part_b, cut) = split_pcap(&std::fs::read(&pcap).unwrap(), CUT_AFTER_US);
    let sentinel_before = seen(&expected[SENTINEL], cut, false).0 as usize;
    assert!(sentinel_before > 0);

    let feed = dir.path().join("feed.txt");
    write_file(&feed, &format!("{SENTINEL}\n"));
    let out = dir.path().join("out.json");
    // Standard input: the replay reads the first part, hands it to the worker before it waits
    // for more, and waits; the SIGHUP lands then, whatever the machine's load.
    let mut child = iocd()
        .args(["replay", "--retro-window", "24h", "-w", "1", "--feed"])
        .arg(&feed)
        .arg("-o")
        .arg(&out)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&part_a).unwrap();
    stdin.flush().unwrap();
    let read_a = util::wait_until(Duration::from_secs(30), || {
        of_type(&lines(&out), "ioa").len() >= sentinel_before
    });
    assert!(read_a, "the first part's alerts never came");
    replace(&feed, &format!("{SENTINEL}\n{NAME}\n{ADDR}\n"));
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let hunted = util::wait_until(Duration::from_secs(30), || {
        of_type(&lines(&out), "retro").len() >= 2
    });
    assert!(hunted, "no retro events after the SIGHUP");
    stdin.write_all(&part_b[24..]).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    let events = lines(&out);

    for value in [NAME, ADDR] {
        let r = retro_for(&events, value);
        assert_eq!(r.len(), 1, "one retro event for {value}: {r:?}");
        let r = r[0];
        assert_eq!(
            retro_seen(r),
            seen(&expected[value], cut, false),
            "{value}: the count, first and last seen of the alerts before the cut: {r}"
        );
        assert_eq!(r["indicator"]["feed"], "feed");
        assert_eq!(r["observable"]["value"], value);
        assert!(r["flow"]["community_id"]
            .as_str()
            .unwrap()
            .starts_with("1:"));
        // After the reload the indicator alerts as it always would; a flow that alerted before
        // the cut may alert once more (a reload clears the per-flow de-duplication).
        let key = |e: &Value| {
            (
                e["flow"]["community_id"].clone(),
                e["observable"]["where"].clone(),
            )
        };
        let earlier: Vec<_> = from_start[value]
            .iter()
            .filter(|e| ts_us(&e["timestamp"]) < cut)
            .map(key)
            .collect();
        let live: Vec<&Value> = of_type(&events, "ioa")
            .into_iter()
            .filter(|e| e["indicator"]["value"] == value)
            .collect();
        let after: Vec<i64> = expected[value]
            .iter()
            .copied()
            .filter(|&t| t >= cut)
            .collect();
        let (again, fresh): (Vec<&Value>, Vec<&Value>) = live
            .into_iter()
            .partition(|e| earlier.contains(&key(e)) && !after.contains(&ts_us(&e["timestamp"])));
        let fresh: Vec<i64> = fresh.iter().map(|e| ts_us(&e["timestamp"])).collect();
        assert_eq!(fresh, after, "{value}: the alerts after the cut");
        assert!(again.len() <= earlier.len(), "{value}: {again:?}");
    }
    assert!(err.contains("retro: remembered"), "{err}");
}

fn retro_config(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    let sentinel = dir.join("sentinel.txt");
    write_file(&sentinel, &format!("{SENTINEL}\n"));
    util::feeds_config(
        dir,
        &format!(
            "[daemon]\nstate_dir = \"{}\"\n[retro]\nenabled = true\nwindow = \"24h\"\nmemory = \"16MiB\"\n\
             [[feeds]]\npath = \"sentinel.txt\"\n",
            state.display()
        ),
    )
}

fn replay_ok(args: &[&str]) -> (Vec<Value>, String) {
    let mut cmd = iocd();
    cmd.arg("replay").args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (events, err)
}

#[test]
fn the_memory_survives_a_restart_through_the_state_dir_and_an_expired_window_gives_no_retro_event()
{
    let Some(pcap) = capture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let expected = alerts_from_the_start(dir.path(), &pcap);
    let (part_a, part_b, cut) = split_pcap(&std::fs::read(&pcap).unwrap(), CUT_AFTER_US);
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    std::fs::write(&a, &part_a).unwrap();
    std::fs::write(&b, &part_b).unwrap();
    let cfg = retro_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let retro_feed = dir.path().join("new.txt");
    write_file(&retro_feed, &format!("{NAME}\n"));
    let rf = retro_feed.to_str().unwrap();

    // First run: the first part, nothing about the name yet.
    let (events, _) = replay_ok(&["-c", cfg, "-w", "2", a.to_str().unwrap()]);
    assert!(retro_for(&events, NAME).is_empty());
    let saved = dir.path().join("state/retro/memory-t.jsonl");
    assert!(saved.is_file(), "the memory was not written at the end");

    // Second run, a restart: the second part without its DNS (the name is not seen again),
    // and the name's indicator arrives. The memory read back knows it.
    let (events, err) = replay_ok(&[
        "-c",
        cfg,
        "-w",
        "2",
        "--bpf",
        "not port 53",
        "--retro-feed",
        rf,
        b.to_str().unwrap(),
    ]);
    let r = retro_for(&events, NAME);
    assert_eq!(r.len(), 1, "{err}");
    assert_eq!(retro_seen(r[0]), seen(&expected[NAME], cut, false));
    // the summary counts what was read back and the end's hunt
    assert!(util::summary_number(&err, "restored") > 0, "{err}");
    assert_eq!(util::summary_number(&err, "retro_events"), 1, "{err}");

    // Third run with a 10 s window: the capture's clock (saved with the memory) is past the
    // name's last sighting by more than that: forgotten, no retro event.
    let (events, err) = replay_ok(&[
        "-c",
        cfg,
        "--retro-window",
        "10s",
        "--bpf",
        "not port 53",
        "--retro-feed",
        rf,
        b.to_str().unwrap(),
    ]);
    assert!(retro_for(&events, NAME).is_empty(), "{err}");
    assert!(err.contains("past the window dropped"), "{err}");
}

#[test]
fn aggregates_count_the_alerts_of_each_indicator_and_internal_host() {
    let Some(pcap) = capture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("all.txt");
    write_file(
        &feed,
        &format!("{NAME}\n{ADDR}\n{SENTINEL}\n212.199.202.69\n"),
    );
    let cfg = util::feeds_config(
        dir.path(),
        "[aggregate]\ninterval = \"10s\"\n[[feeds]]\npath = \"all.txt\"\n",
    );
    let (events, err) = replay_ok(&[
        "-c",
        cfg.to_str().unwrap(),
        "-w",
        "2",
        pcap.to_str().unwrap(),
    ]);
    let home: Vec<ipnet::IpNet> = ["10.0.0.0/8", "127.0.0.0/8"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let inside = |s: &Value| {
        let ip: std::net::IpAddr = s.as_str().unwrap().parse().unwrap();
        home.iter().any(|n| n.contains(&ip))
    };
    let mut alerts: BTreeMap<(String, String), (u64, i64, i64)> = BTreeMap::new();
    for e in of_type(&events, "ioa") {
        let f = &e["flow"];
        let host = if !inside(&f["src_ip"]) && inside(&f["dest_ip"]) {
            &f["dest_ip"]
        } else {
            &f["src_ip"]
        };
        let t = ts_us(&e["timestamp"]);
        let a = alerts
            .entry((
                e["indicator"]["value"].as_str().unwrap().into(),
                host.as_str().unwrap().into(),
            ))
            .or_insert((0, i64::MAX, i64::MIN));
        *a = (a.0 + 1, a.1.min(t), a.2.max(t));
    }
    let mut aggs: BTreeMap<(String, String), (u64, i64, i64)> = BTreeMap::new();
    for g in of_type(&events, "aggregate") {
        let (n, f, l) = retro_seen(g);
        assert!(f <= l && ts_us(&g["timestamp"]) >= l, "{g}");
        let a = aggs
            .entry((
                g["indicator"]["value"].as_str().unwrap().into(),
                g["host"].as_str().unwrap().into(),
            ))
            .or_insert((0, i64::MAX, i64::MIN));
        *a = (a.0 + n, a.1.min(f), a.2.max(l));
    }
    assert!(alerts.len() >= 4, "{alerts:?}");
    assert_eq!(aggs, alerts, "{err}");
    // 10 s intervals: more records than pairs (the DNS ones recur over 18 s)
    assert!(of_type(&events, "aggregate").len() > alerts.len());
    assert!(err.contains("aggregate: records"), "{err}");
}

/// Validate every STIX object of a file with the OASIS validator, start medallion on `port`,
/// post them to a collection, read them back: prints the ids read back, one a line.
const STIX_CHECK: &str = r#"
import json, sys, time, subprocess, base64, urllib.request, os
from stix2validator import validate_instance, ValidationOptions
path, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
objs = [json.loads(l) for l in open(path) if l.strip()]
opts = ValidationOptions(version="2.1", strict=False)
for o in objs:
    r = validate_instance(o, opts)
    if not r.is_valid:
        print("INVALID", o["id"], [str(e) for e in r.errors], file=sys.stderr)
        sys.exit(3)
coll = "5f7a3c4e-8a1b-4c2d-9e0f-123456789abc"
data = {"/discovery": {"title": "t", "default": f"http://127.0.0.1:{port}/api1/", "api_roots": [f"http://127.0.0.1:{port}/api1/"]},
        "api1": {"information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 10485760},
                 "status": [],
                 "collections": [{"id": coll, "title": "sightings", "can_read": True, "can_write": True,
                                  "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]}}
json.dump(data, open(os.path.join(work, "data.json"), "w"))
json.dump({"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                       "filename": os.path.join(work, "data.json")},
           "users": {"iocd": "secret"}, "taxii": {"max_page_size": 1000}},
          open(os.path.join(work, "medallion.json"), "w"))
srv = subprocess.Popen([sys.executable, "-m", "medallion.scripts.run", "--port", str(port), os.path.join(work, "medallion.json")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    auth = "Basic " + base64.b64encode(b"iocd:secret").decode()
    taxii = "application/taxii+json;version=2.1"
    url = f"http://127.0.0.1:{port}/api1/collections/{coll}/objects/"
    for _ in range(200):
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/taxii2/", headers={"Accept": taxii, "Authorization": auth}), timeout=2)
            break
        except Exception:
            time.sleep(0.1)
    req = urllib.request.Request(url, data=json.dumps({"objects": objs}).encode(), method="POST",
                                 headers={"Accept": taxii, "Content-Type": taxii, "Authorization": auth})
    st = json.load(urllib.request.urlopen(req, timeout=10))
    if st.get("failure_count", 0) != 0 or st.get("success_count") != len(objs):
        print("POST STATUS", st, file=sys.stderr)
        sys.exit(4)
    got = json.load(urllib.request.urlopen(urllib.request.Request(url + "?limit=1000", headers={"Accept": taxii, "Authorization": auth}), timeout=10))
    for o in got.get("objects", []):
        print(o["id"])
finally:
    srv.terminate()
    srv.wait()
"#;

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn stix_sightings_validate_against_the_stix_schemas_and_round_trip_through_a_taxii_server() {
    let Some(pcap) = capture() else { return };
    for m in ["stix2validator", "medallion"] {
        if !python_has(m) {
            return util::skip(&format!(
                "python3 module {m} is missing (scripts/setup --system-tests installs it)"
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("bundle.json"),
        &format!(
            r#"{{"type":"bundle","id":"bundle--1b0d4c3a-8c3e-4a5e-9f3a-1d2c3b4a5f60","objects":[
 {{"type":"indicator","spec_version":"2.1","id":"indicator--0f4c6a1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
  "created":"2016-01-01T00:00:00.000Z","modified":"2016-01-01T00:00:00.000Z",
  "pattern":"[domain-name:value = '{NAME}']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}}]}}"#
        ),
    );
    write_file(&dir.path().join("ips.txt"), &format!("{ADDR}\n"));
    let sight = dir.path().join("sightings.json");
    let misp = dir.path().join("misp.json");
    let cfg = util::feeds_config(
        dir.path(),
        &format!(
            "[aggregate]\ninterval = \"1h\"\n\
             [[sinks]]\ntype = \"json\"\npath = \"{}\"\npayload = \"stix-sighting\"\n\
             [[sinks]]\ntype = \"json\"\npath = \"{}\"\npayload = \"misp-sighting\"\n\
             [[feeds]]\nname = \"stix\"\npath = \"bundle.json\"\nformat = \"stix\"\n\
             [[feeds]]\npath = \"ips.txt\"\n",
            sight.display(),
            misp.display()
        ),
    );
    let (_, err) = replay_ok(&[
        "-c",
        cfg.to_str().unwrap(),
        "--retro-feed",
        dir.path().join("ips.txt").to_str().unwrap(),
        "-w",
        "2",
        pcap.to_str().unwrap(),
    ]);
    let objs = lines(&sight);
    assert_eq!(objs[0]["type"], "identity", "the sensor's identity first");
    assert_eq!(objs.iter().filter(|o| o["type"] == "identity").count(), 1);
    let sightings: Vec<&Value> = objs.iter().filter(|o| o["type"] == "sighting").collect();
    let of_name: Vec<&&Value> = sightings
        .iter()
        .filter(|s| s["sighting_of_ref"] == "indicator--0f4c6a1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b")
        .collect();
    assert!(!of_name.is_empty(), "{err}");
    // alerts (count 1), aggregates and the retro event (count > 1) of the address
    assert!(sightings.iter().any(|s| s["count"].as_u64() > Some(1)));
    for s in &sightings {
        assert_eq!(s["where_sighted_refs"][0], objs[0]["id"]);
    }
    let port = 25000 + (std::process::id() % 1000) as u16;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", STIX_CHECK])
        .arg(&sight)
        .arg(port.to_string())
        .arg(dir.path());
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let perr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{perr}");
    let mut back: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let mut sent: Vec<String> = objs
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    back.sort();
    sent.sort();
    sent.dedup();
    assert_eq!(back, sent, "every object read back from the collection");

    let m = lines(&misp);
    assert_eq!(m.len(), sightings.len(), "one MISP sighting per STIX one");
    for s in &m {
        assert_eq!(s["type"], "0");
        assert!(s["value"] == NAME || s["value"] == ADDR, "{s}");
        assert!(s["timestamp"].as_str().unwrap().parse::<u64>().unwrap() > 1_400_000_000);
    }
}
