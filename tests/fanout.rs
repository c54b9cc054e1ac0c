//! `iocd run` with `[capture] method = "af_packet"`: 1, 2 and 4 capture threads in one
//! AF_PACKET fanout group on a veth pair in a network namespace, fed by tcpreplay with the
//! corpus and content captures; the events must be those of `iocd replay` of the same files.
//! Needs root, iproute2 and tcpreplay (prints SKIP otherwise). Names start with `fo`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::live::{finish, lines, sent, signal, start_daemon, wait_exit, wire_safe, BROAD_FEED};
use crate::util::{self, Veth};

pub(crate) fn prereqs() -> bool {
    if !util::is_root() {
        util::skip("fanout capture needs root (netns, veth, AF_PACKET)");
        return false;
    }
    for tool in ["ip", "tcpreplay"] {
        if !util::have(tool) {
            util::skip(&format!(
                "{tool} not installed (scripts/setup --system-tests)"
            ));
            return false;
        }
    }
    true
}

/// What an event is compared by: where and what was seen, the indicator, and the flow's
/// Community ID; an address event (`ip.src`, `ip.dst`) by the address and indicator only. The
/// kernel hands a fanout group an IPv4 datagram already reassembled (the defrag flag): its
/// Community ID has the ports or ICMP type, and its flow is the one of the unfragmented
/// packets after it, while a replay sees the first fragment, hashed without them, as a flow of
/// its own, so the per-flow de-duplication names an address once as source in one and as
/// destination in the other. Every event of a datagram's content (the fragmented request's
/// `http.host`) still compares with its Community ID.
type Key = (String, String, String, String);

fn key(e: &Value) -> Key {
    let w = e["observable"]["where"].as_str().unwrap_or("");
    let (w, cid) = if w.starts_with("ip.") {
        ("ip", String::new())
    } else {
        (
            w,
            e["flow"]["community_id"].as_str().unwrap_or("").to_owned(),
        )
    };
    (
        w.to_owned(),
        e["observable"]["value"].as_str().unwrap_or("").to_owned(),
        e["indicator"]["value"].as_str().unwrap_or("").to_owned(),
        cid,
    )
}

/// The wire-safe classic pcaps of the corpus and the content captures, in name order.
pub(crate) fn wire_files() -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in [util::corpus_dir()?, util::content_dir()?] {
        let mut f: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| wire_safe(p))
            .collect();
        f.sort();
        files.extend(f);
    }
    Some(files)
}

fn stats_records(path: &Path) -> Vec<Value> {
    lines(path)
        .into_iter()
        .filter(|e| e["event_type"] == "stats")
        .collect()
}

/// Run the daemon with `threads` fanout threads (with `method = "libpcap"` instead when
/// `threads` is 0) and `extra` in `[capture]`, send `files` at `pps`, stop it; the events and
/// the final stats record.
fn run_fanout(
    threads: usize,
    files: &[PathBuf],
    pps: u32,
    extra: &str,
) -> (BTreeSet<Key>, Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The daemon drops to nobody once the sockets are open: it must reach its files.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let net = Veth::new("fo");
    util::write_file(&d.join("broad.txt"), BROAD_FEED);
    let events = d.join("events.json");
    util::write_file(
        &d.join("c.toml"),
        &format!(
            r#"sensor = "fanout-test"
workers = 2
[capture]
{method}
buffer_size = 4194304
{extra}
[daemon]
user = "nobody"
[stats]
interval = "1s"
[suppress]
window = "0s"
[[sinks]]
type = "json"
path = "{}"
[[feeds]]
path = "broad.txt"
allow_broad = true
"#,
            events.display(),
            method = if threads == 0 {
                "method = \"libpcap\"".to_owned()
            } else {
                format!("method = \"af_packet\"\nthreads = {threads}")
            },
        ),
    );
    let (mut daemon, pid) = start_daemon(&net, &d.join("c.toml"), &[], d);
    let stderr = || std::fs::read_to_string(d.join("stderr.txt")).unwrap_or_default();
    // The sockets were opened as root; the capture and its counters (PACKET_STATISTICS on
    // each socket) work as nobody, with no capability left.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    if threads > 0 {
        assert!(
            stderr().contains(&format!("threads={threads}")),
            "{}",
            stderr()
        );
    }
    let out = finish(
        Command::new("tcpreplay")
            .args(["-q", "-i", &net.host_if, "--pps", &pps.to_string()])
            .args(files)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpreplay"),
    );
    let n_sent = sent(&out);
    // Settled: two stats records in a row count the same packets, all of them processed.
    assert!(
        util::wait_until(Duration::from_secs(30), || {
            let s = stats_records(&events);
            s.len() >= 2 && {
                let (a, b) = (&s[s.len() - 2], &s[s.len() - 1]);
                a["packets"] == b["packets"]
                    && b["workers"]["packets"] == b["packets"]
                    && b["packets"].as_u64() > Some(0)
            }
        }),
        "never settled: {:?}\n{}",
        stats_records(&events).last(),
        stderr()
    );
    signal(pid, "TERM");
    assert_eq!(
        wait_exit(&mut daemon, Duration::from_secs(30)),
        Some(0),
        "no clean exit after SIGTERM: {}",
        stderr()
    );
    let all = lines(&events);
    let last = all.last().unwrap().clone();
    assert_eq!(last["final"], true, "{last}");
    let got = all
        .iter()
        .filter(|e| e["event_type"] == "ioa")
        .map(key)
        .collect();
    if threads > 1 {
        assert!(
            stderr().contains("capture thread 1:"),
            "per-thread counters logged: {}",
            stderr()
        );
    }
    drop(net);
    (got, last, n_sent)
}

#[test]
fn fanout_capture_with_1_2_4_threads_matches_replay() {
    if !prereqs() {
        return;
    }
    let Some(files) = wire_files() else {
        return;
    };
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // IPv4 and IPv6 fragments, and TCP conversations whose matches need both directions
    // reassembled (a response body's digest, a server certificate).
    for want in [
        "pp-http-ipv4-fragmented-request.pcap",
        "sv-ipv4-fragments.pcap",
        "zk-dns-ipv6-fragmented-response.pcap",
        "zk-http-get-gzip.pcap",
        "zk-tls-missing-intermediate.pcap",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("broad.txt");
    util::write_file(&feed, BROAD_FEED);
    let cfg = util::broad_config(&feed);
    let mut args: Vec<String> = vec!["--config".into(), cfg.display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let r = util::replay(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let replayed: BTreeSet<_> = r.events.iter().map(key).collect();
    assert!(replayed.len() >= 100, "{}", replayed.len());
    // The oracle holds matches that need the fragments of a datagram put together (the
    // request of pp-http-ipv4-fragmented-request spans IPv4 fragments) and both directions
    // of a TCP flow (a server certificate's name is read only after the client's hello).
    assert!(
        replayed
            .iter()
            .any(|k| k.0 == "http.host" && k.1 == "js.bizographics.com"),
        "no event from the fragmented request"
    );
    assert!(
        replayed
            .iter()
            .any(|k| k.0 == "tls.cert_name" && k.1 == "www.cviis.org"),
        "no server certificate event"
    );
    for threads in [1, 2, 4] {
        let (live, last, n_sent) = run_fanout(threads, &files, 1000, "");
        println!(
            "fanout {threads}: {n_sent} sent, {} distinct live, {} replayed; capture {}",
            live.len(),
            replayed.len(),
            last["capture"]
        );
        let missing: Vec<_> = replayed.difference(&live).collect();
        let extra: Vec<_> = live.difference(&replayed).collect();
        assert!(
            missing.is_empty(),
            "{threads} threads: live lacks {missing:#?}\nhas more {extra:#?}"
        );
        assert!(
            extra.is_empty(),
            "{threads} threads: live has more {extra:#?}"
        );
        let per = last["capture"].as_array().unwrap();
        assert_eq!(per.len(), threads, "{last}");
        let sum = |k: &str| per.iter().map(|t| t[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(sum("packets"), last["packets"].as_u64().unwrap(), "{last}");
        assert_eq!(
            sum("received"),
            last["received"].as_u64().unwrap(),
            "{last}"
        );
        assert_eq!(last["received"], last["packets"], "{last}");
        assert_eq!(last["workers"]["packets"], last["packets"], "{last}");
        for k in ["kernel", "interface", "queue_full", "sink"] {
            assert_eq!(last["drops"][k], 0, "drops.{k}: {last}");
        }
        assert_eq!(sum("kernel_freezes"), 0, "{last}");
        // The kernel reassembles IPv4 fragments before it picks the socket (the defrag
        // flag), so fewer packets are read than sent, never more: nothing is duplicated.
        let packets = last["packets"].as_u64().unwrap();
        assert!(
            packets <= n_sent && packets + 50 >= n_sent,
            "{n_sent} sent: {last}"
        );
        if threads > 1 {
            let busy = per
                .iter()
                .filter(|t| t["packets"].as_u64() > Some(0))
                .count();
            assert!(busy >= 2, "the group spread nothing: {last}");
        }
    }
}

/// The BPF filter is attached to every socket of the group once all have joined (each holds a
/// reject-all filter until then): with `bpf = "udp"`, 2 fanout threads see what one libpcap
/// handle with the same filter sees (both filters run in the kernel, on frames as the kernel
/// holds them, so the reference is a live capture, not a replay's user-space filter).
#[test]
fn fanout_capture_applies_the_bpf_filter_on_every_thread() {
    if !prereqs() {
        return;
    }
    let Some(files) = wire_files() else {
        return;
    };
    let filter = "bpf = \"udp\"";
    let (one, one_last, n_sent) = run_fanout(0, &files, 1000, filter);
    let (two, two_last, _) = run_fanout(2, &files, 1000, filter);
    assert!(one.iter().any(|k| k.0 == "dns.query"), "{one:?}");
    assert!(!one.iter().any(|k| k.0.starts_with("tls.")), "{one:?}");
    let missing: Vec<_> = one.difference(&two).collect();
    let extra: Vec<_> = two.difference(&one).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "fanout lacks {missing:#?}\nhas more {extra:#?}"
    );
    let packets = two_last["packets"].as_u64().unwrap();
    assert!(
        packets > 0 && packets < n_sent / 2,
        "{n_sent} sent: {two_last}"
    );
    // The same UDP packets, fragments of UDP datagrams aside (reassembled for the group).
    let one_packets = one_last["packets"].as_u64().unwrap();
    assert!(
        packets <= one_packets && packets + 20 >= one_packets,
        "{one_last}\n{two_last}"
    );
}
