//! `iocd run` on a veth pair: the daemon captures inside a network namespace while tcpreplay
//! sends the corpus into the other end. Needs root, iproute2 and tcpreplay (prints SKIP
//! otherwise). The namespace and the veth pair are removed even when the test fails.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::testkit::wire::write_pcap;
use crate::util::{self, dns_query_frames, Veth};

/// The daemon; killed on drop if still running.
pub(crate) struct Daemon {
    pub(crate) child: Option<Child>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

pub(crate) fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Classic-pcap Ethernet captures whose frames are all whole and fit the veth MTU: what
/// tcpreplay can put on the wire unchanged.
pub(crate) fn wire_safe(path: &Path) -> bool {
    let Ok(b) = std::fs::read(path) else {
        return false;
    };
    if b.len() < 24 || b[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return false;
    }
    let u32le = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    if u32le(20) != 1 {
        return false;
    }
    let mut off = 24;
    while off + 16 <= b.len() {
        let (cap, len) = (u32le(off + 8), u32le(off + 12));
        // 9000 MTU + 14 Ethernet + 8 for two tags; at least a full Ethernet header.
        if cap != len || !(14..=9022).contains(&cap) {
            return false;
        }
        off += 16 + cap as usize;
    }
    off == b.len()
}

/// Broad indicators so that most observables of the corpus match: every address, and the
/// top-level domains the corpus uses.
pub(crate) const BROAD_FEED: &str = "0.0.0.0/0\n::/0\ncom\nnet\norg\nio\ninfo\nde\nru\ncn\nuk\ntest\nexample\ninvalid\nlocal\narpa\ndev\napp\ncloud\nxyz\ngoogle\n";

fn key(e: &Value) -> (String, String, String) {
    (
        e["observable"]["where"].as_str().unwrap_or("").to_owned(),
        e["observable"]["value"].as_str().unwrap_or("").to_owned(),
        e["indicator"]["value"].as_str().unwrap_or("").to_owned(),
    )
}

pub(crate) fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn last_stats(path: &Path) -> Option<Value> {
    lines(path)
        .into_iter()
        .rev()
        .find(|e| e["event_type"] == "stats")
}

fn tcpreplay(iface: &str, pps: u32, files: &[PathBuf], extra: &[&str]) -> Child {
    Command::new("tcpreplay")
        .args(["-q", "-i", iface, "--pps", &pps.to_string()])
        .args(extra)
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpreplay")
}

pub(crate) fn finish(c: Child) -> String {
    let out = c.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tcpreplay: {text}");
    assert!(text.contains("Failed packets:            0"), "{text}");
    text
}

/// "Actual: 1101 packets ..." → 1101.
pub(crate) fn sent(tcpreplay_out: &str) -> u64 {
    tcpreplay_out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Actual: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{tcpreplay_out}"))
}

#[test]
fn live_capture_matches_replay_reloads_under_traffic_and_drains_on_sigterm() {
    if !util::is_root() {
        util::skip("live capture needs root (netns, veth, AF_PACKET)");
        return;
    }
    for tool in ["ip", "tcpreplay"] {
        if !util::have(tool) {
            util::skip(&format!(
                "{tool} not installed (scripts/setup --system-tests)"
            ));
            return;
        }
    }
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The daemon drops to nobody: it must reach its files and the notify socket.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = dir.path();
    let net = Veth::new("iocd");

    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| wire_safe(p))
        .collect();
    files.sort();
    files.push(util::root().join("pcaps/demo.pcap"));
    assert!(files.len() >= 20, "{files:?}");

    util::write_file(&d.join("broad.txt"), BROAD_FEED);
    util::write_file(&d.join("reload.txt"), "before-reload.invalid\n");
    let events = d.join("events.json");
    util::write_file(
        &d.join("c.toml"),
        &format!(
            r#"sensor = "live-test"
[capture]
interface = "not-this-one"
[daemon]
user = "nobody"
[stats]
interval = "1s"
[suppress]
window = "0s"
[[sinks]]
name = "events"
type = "json"
path = "{}"
[[feeds]]
path = "broad.txt"
allow_broad = true
[[feeds]]
path = "reload.txt"
"#,
            events.display()
        ),
    );
    let notify_path = d.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let notes = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let notes = notes.clone();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            for _ in 0..3000 {
                if let Ok(n) = notify.recv(&mut buf) {
                    notes
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
    }
    let has_note = |s: &str| notes.lock().unwrap().iter().any(|n| n.contains(s));

    let child = Command::new("ip")
        .args(["netns", "exec", &net.name])
        .arg(env!("CARGO_BIN_EXE_iocd"))
        .args(["run", "--config"])
        .arg(d.join("c.toml"))
        .args(["--interface", &net.ns_if])
        .env("NOTIFY_SOCKET", &notify_path)
        // As systemd sets it for WatchdogSec=1s: pings every half second.
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .env_remove("IOCD_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut daemon = Daemon { child: Some(child) };
    let stderr = || std::fs::read_to_string(d.join("stderr.txt")).unwrap_or_default();
    assert!(
        util::wait_until(Duration::from_secs(20), || has_note("READY=1")),
        "no READY=1: {}",
        stderr()
    );
    assert!(has_note("STATUS="), "{:?}", notes.lock().unwrap());
    assert!(
        util::wait_until(Duration::from_secs(5), || has_note("WATCHDOG=1")),
        "no watchdog ping: {:?}",
        notes.lock().unwrap()
    );
    // Capture opened as root, then the daemon runs as nobody.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid}"
    );
    // setuid from root cleared every capability: CAP_NET_RAW was needed only to open.
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    assert!(status.contains("CapPrm:\t0000000000000000"), "{status}");

    // 1. The corpus, live, gives the same matches as a replay of the same files.
    let out = finish(tcpreplay(&net.host_if, 400, &files, &[]));
    let n_corpus = sent(&out);
    assert!(
        util::wait_until(Duration::from_secs(20), || {
            last_stats(&events).is_some_and(|s| s["workers"]["packets"].as_u64() >= Some(n_corpus))
        }),
        "sent {n_corpus}; last stats {:?}\n{}",
        last_stats(&events),
        stderr()
    );
    // Events are written before the stats record that counts their packets.
    let live: BTreeSet<_> = lines(&events)
        .iter()
        .filter(|e| e["event_type"] == "ioa")
        .map(key)
        .collect();
    // Every live event names the capture interface.
    for e in lines(&events).iter().filter(|e| e["event_type"] == "ioa") {
        assert_eq!(e["in_iface"].as_str(), Some(net.ns_if.as_str()), "{e}");
    }
    // the same feeds (reload.txt as changed), through a config: the broad one needs allow_broad
    util::write_file(
        &d.join("r.toml"),
        "[[feeds]]\npath = \"broad.txt\"\nallow_broad = true\n[[feeds]]\npath = \"reload.txt\"\n",
    );
    let mut args: Vec<String> = vec!["--config".into(), d.join("r.toml").display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let r = util::replay(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let replayed: BTreeSet<_> = r.events.iter().map(key).collect();
    assert!(replayed.len() >= 50, "{}", replayed.len());
    println!(
        "live: {} files, {n_corpus} packets sent; {} distinct matches live, {} in replay",
        files.len(),
        live.len(),
        replayed.len()
    );
    let missing: Vec<_> = replayed.difference(&live).collect();
    let extra: Vec<_> = live.difference(&replayed).collect();
    assert!(missing.is_empty(), "live lacks {missing:#?}");
    assert!(extra.is_empty(), "live has more: {extra:#?}");

    // 2. SIGHUP with a changed feed while traffic flows.
    let pre = d.join("pre.pcap");
    write_pcap(
        &pre,
        1,
        &dns_query_frames(20, "newly.zz", 1_700_000_000_000_000, 1000),
    );
    finish(tcpreplay(
        &net.host_if,
        200,
        std::slice::from_ref(&pre),
        &[],
    ));
    let background = tcpreplay(
        &net.host_if,
        300,
        &[util::root().join("pcaps/demo.pcap")],
        &["--loop", "40"],
    );
    std::thread::sleep(Duration::from_millis(500));
    util::write_file(&d.join("reload.txt"), "newly.zz\n");
    signal(pid, "HUP");
    assert!(
        util::wait_until(Duration::from_secs(20), || {
            let n = notes.lock().unwrap();
            let r = n
                .iter()
                .position(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC="));
            r.is_some_and(|i| n[i..].iter().any(|m| m.contains("READY=1")))
        }),
        "no RELOADING=1 … READY=1: {:?}",
        notes.lock().unwrap()
    );
    let post = d.join("post.pcap");
    let mut frames = dns_query_frames(20, "newly.zz", 1_700_000_000_000_000, 1000);
    // Other source ports than pre.pcap: new flows.
    for (_, f) in &mut frames {
        f[34] ^= 0x80;
    }
    write_pcap(&post, 1, &frames);
    finish(tcpreplay(
        &net.host_if,
        200,
        std::slice::from_ref(&post),
        &[],
    ));
    let bg = finish(background);
    let total = n_corpus + 20 + sent(&bg) + 20;
    assert!(
        util::wait_until(Duration::from_secs(20), || {
            last_stats(&events).is_some_and(|s| s["workers"]["packets"].as_u64() >= Some(total))
        }),
        "{:?}",
        last_stats(&events)
    );
    let newly = lines(&events)
        .iter()
        .filter(|e| e["indicator"]["value"] == "newly.zz")
        .count();
    assert_eq!(
        newly, 20,
        "one event per post-reload query, none for the earlier ones"
    );
    let s = last_stats(&events).unwrap();
    assert_eq!(s["reloads"]["ok"], 1, "{s}");
    assert_eq!(s["reloads"]["failed"], 0, "{s}");
    for k in ["kernel", "interface", "queue_full", "sink"] {
        assert_eq!(s["drops"][k], 0, "drops.{k}: {s}");
    }

    // 3. SIGTERM: drain, final stats record last, exit 0.
    signal(pid, "TERM");
    let mut child = daemon.child.take().unwrap();
    let done = util::wait_until(Duration::from_secs(30), || {
        child.try_wait().ok().flatten().is_some()
    });
    assert!(done, "no exit after SIGTERM: {}", stderr());
    assert_eq!(child.wait().unwrap().code(), Some(0), "{}", stderr());
    assert!(has_note("STOPPING=1"));
    let all = lines(&events);
    let last = all.last().unwrap();
    assert_eq!(last["event_type"], "stats", "{last}");
    assert_eq!(last["final"], true, "{last}");
    let packets = last["packets"].as_u64().unwrap();
    println!("live: final record {last}");
    assert!(packets >= total, "{last}");
    // Every packet the kernel handed over was read, dispatched and processed.
    assert_eq!(last["received"].as_u64(), Some(packets), "{last}");
    assert_eq!(last["workers"]["packets"].as_u64(), Some(packets), "{last}");
    for k in ["kernel", "interface", "queue_full", "sink"] {
        assert_eq!(last["drops"][k], 0, "drops.{k}: {last}");
    }
    let sink = &last["sinks"][0];
    assert_eq!(sink["name"], "events");
    assert_eq!(sink["dropped"], 0, "{last}");
    // The exit log counts every line written, the final record included.
    let want = format!("sink events: sent {} dropped 0 errors 0", all.len());
    assert!(stderr().contains(&want), "{want}\n{}", stderr());
    drop(net);
}

fn live_prereqs(extra: &[&str]) -> bool {
    if !util::is_root() {
        util::skip("live capture needs root (netns, veth, AF_PACKET)");
        return false;
    }
    for tool in ["ip"].iter().chain(extra) {
        if !util::have(tool) {
            util::skip(&format!(
                "{tool} not installed (scripts/setup --system-tests)"
            ));
            return false;
        }
    }
    true
}

/// A minimal daemon config in `d` with one JSON sink; `extra` is appended.
fn small_config(d: &Path, extra: &str) -> PathBuf {
    util::write_file(&d.join("f.txt"), "evil.test\n");
    let c = d.join("c.toml");
    util::write_file(
        &c,
        &format!(
            "[[sinks]]\ntype = \"json\"\npath = \"{}\"\n{extra}\n[[feeds]]\npath = \"f.txt\"\n",
            d.join("events.json").display()
        ),
    );
    c
}

fn promiscuity(ns: &str, ifname: &str) -> u32 {
    let out = Command::new("ip")
        .args(["-d", "-n", ns, "link", "show", ifname])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split("promiscuity ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"))
}

/// Start `iocd run` in `net` with `conf` (behind `wrapper`, e.g. setpriv), stderr to
/// `dir/stderr.txt`; wait for READY.
/// `iocd run --config conf` on the namespace end of `net` (behind `wrapper`, e.g. a `setpriv`
/// line), its stderr in `dir/stderr.txt`; returns once it says READY, with its pid.
pub(crate) fn start_daemon(net: &Veth, conf: &Path, wrapper: &[&str], dir: &Path) -> (Daemon, u32) {
    let child = Command::new("ip")
        .args(["netns", "exec", &net.name])
        .args(wrapper)
        .arg(env!("CARGO_BIN_EXE_iocd"))
        .args(["run", "--config"])
        .arg(conf)
        .args(["--interface", &net.ns_if])
        .env_remove("IOCD_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let daemon = Daemon { child: Some(child) };
    let stderr = || std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
    assert!(
        util::wait_until(Duration::from_secs(20), || stderr().contains("READY")),
        "{}",
        stderr()
    );
    (daemon, pid)
}

/// Wait at most `limit` for the daemon to exit; its status code.
pub(crate) fn wait_exit(d: &mut Daemon, limit: Duration) -> Option<i32> {
    let mut c = d.child.take()?;
    if !util::wait_until(limit, || c.try_wait().ok().flatten().is_some()) {
        d.child = Some(c);
        return None;
    }
    c.wait().ok()?.code()
}

/// The claim in systemd/iocd.service: libpcap's promiscuous mode (PACKET_MR_PROMISC on its
/// packet socket) works with CAP_NET_RAW alone, as an unprivileged user.
#[test]
fn promiscuous_mode_needs_only_cap_net_raw() {
    if !live_prereqs(&["setpriv"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = small_config(dir.path(), "");
    let net = Veth::new("iocd");
    assert_eq!(promiscuity(&net.name, &net.ns_if), 0);
    let wrapper = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all,+net_raw",
        "--ambient-caps=-all,+net_raw",
        "--bounding-set=-all,+net_raw",
    ];
    let (mut daemon, pid) = start_daemon(&net, &conf, &wrapper, dir.path());
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    // CAP_NET_RAW is bit 13: effective set 0x2000 and nothing else.
    assert!(status.contains("CapEff:\t0000000000002000"), "{status}");
    assert_eq!(promiscuity(&net.name, &net.ns_if), 1, "{}", stderr());
    signal(pid, "TERM");
    let code = wait_exit(&mut daemon, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", stderr());
    // The membership ended with the socket.
    assert_eq!(promiscuity(&net.name, &net.ns_if), 0);
}

/// A first SIGTERM drains (here: up to the sinks' drain deadline, because a sink's socket is
/// missing); a second one exits at once with status 1.
#[test]
fn a_second_sigterm_exits_at_once() {
    if !live_prereqs(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = small_config(
        dir.path(),
        &format!(
            "[daemon]\nuser = \"root\"\n[[sinks]]\ntype = \"json\"\nsocket = \"{}\"\n",
            dir.path().join("nobody-listens.sock").display()
        ),
    );
    let net = Veth::new("iocd");
    let (mut daemon, pid) = start_daemon(&net, &conf, &[], dir.path());
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    signal(pid, "TERM");
    assert!(util::wait_until(Duration::from_secs(5), || stderr().contains("stopping")));
    assert_eq!(
        wait_exit(&mut daemon, Duration::from_millis(300)),
        None,
        "still draining (the missing socket holds the final record)"
    );
    let t = std::time::Instant::now();
    signal(pid, "TERM");
    assert_eq!(
        wait_exit(&mut daemon, Duration::from_secs(2)),
        Some(1),
        "{}",
        stderr()
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        stderr().contains("second termination signal"),
        "{}",
        stderr()
    );
}

#[test]
fn run_refuses_a_config_without_interface_or_with_bad_capture_values() {
    let dir = tempfile::tempdir().unwrap();
    let conf = small_config(dir.path(), "[capture]\nsnaplen = 0\ntimeout = \"0s\"\n");
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(&conf);
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("capture.snaplen"), "{err}");
    assert!(err.contains("capture.timeout"), "{err}");
    let conf = small_config(dir.path(), "");
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(&conf);
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("no interface"), "{err}");
    let mut c = util::iocd();
    c.args(["run", "--config"])
        .arg(dir.path().join("missing.toml"));
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(78));
}

/// Issue 12: a `[daemon] user` that does not exist is a config error (78) found before the
/// capture opens, named by its key, not a failure (1) after.
#[test]
fn run_with_a_missing_daemon_user_exits_78_naming_the_key() {
    if !util::is_root() {
        util::skip("the user is looked up only when started as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = small_config(
        dir.path(),
        "[capture]\ninterface = \"lo\"\n[daemon]\nuser = \"no-such-iocd-user\"\n",
    );
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(&conf);
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("daemon.user = \"no-such-iocd-user\": no such user"),
        "{err}"
    );
    assert!(!err.contains("capturing"), "{err}");
}

/// Started as root with `[daemon] user`, a JSON sink path that is a symlink planted by that
/// user (here to a root-only file) is refused: root neither writes through it nor hands the
/// target to the user (issue 11: the path was chown'ed, giving the target away).
#[test]
fn a_symlinked_sink_path_is_refused_and_its_target_keeps_its_owner() {
    use std::os::unix::fs::MetadataExt as _;
    if !util::is_root() {
        util::skip("the privilege drop needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = d.join("shadow");
    util::write_file(&secret, "root:$6$secret-hash:19000::::::\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, d.join("events.json")).unwrap();
    util::write_file(&d.join("a.txt"), "evil.test\n");
    util::write_file(
        &d.join("c.toml"),
        "[capture]\ninterface = \"lo\"\n[daemon]\nuser = \"nobody\"\n[[sinks]]\ntype = \"json\"\npath = \"events.json\"\n[[feeds]]\npath = \"a.txt\"\n",
    );
    let mut c = util::iocd();
    c.args(["run", "--config"]).arg(d.join("c.toml"));
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("events.json") && err.contains("symlink"),
        "{err}"
    );
    let m = std::fs::metadata(&secret).unwrap();
    assert_eq!(
        (m.uid(), m.mode() & 0o777),
        (0, 0o600),
        "the target was given away"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "root:$6$secret-hash:19000::::::\n"
    );
}

/// Running as root, a feed path that is a symlink (here to a root-only file) is refused, and
/// nothing of the target reaches the log (issue 11: its lines were printed as bad entries).
#[test]
fn a_symlinked_feed_is_refused_as_root_without_echoing_its_target() {
    if !util::is_root() {
        util::skip("the symlink check applies to root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = d.join("shadow");
    util::write_file(&secret, "root:$6$secret-hash:19000::::::\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let feed = d.join("feed.txt");
    std::os::unix::fs::symlink(&secret, &feed).unwrap();
    let pcap = d.join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &util::dns_query_frames(1, "evil.test", 1_700_000_000_000_000, 1),
    );
    let mut c = util::iocd();
    c.args(["replay", "--feed"]).arg(&feed).arg(&pcap);
    let out = util::run_with_timeout(c, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("symlink"), "{err}");
    assert!(!err.contains("secret-hash"), "{err}");
}
