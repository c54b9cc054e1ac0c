//! Sinks: a stuck sink never slows the replay; per-sink counters in the summary.

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use crate::util::testkit::wire::write_pcap;
use crate::util::{self, dns_query_frames};

/// Events produced: enough to fill a 16-event queue and a unix socket's kernel buffer (~200 KiB
/// by default, net.core.wmem_default) many times over at ~400 bytes an event.
const EVENTS: u64 = 5000;

#[test]
fn a_sink_that_never_reads_does_not_stall_the_replay_and_its_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &dns_query_frames(EVENTS, "evil.test", 1_700_000_000_000_000, 10),
    );
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "evil.test\n");
    let sock = dir.path().join("stuck.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Accept and hold the connection, never read.
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(30));
        drop(conn);
    });
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        &format!(
            "[[sinks]]\nname = \"stuck\"\ntype = \"json\"\nsocket = \"{}\"\nqueue = 16\n",
            sock.display()
        ),
    );
    let out = dir.path().join("events.json");
    let started = Instant::now();
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--workers",
        "2",
        pcap.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    // The lossless -o sink has every event.
    let lines = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    assert_eq!(lines, EVENTS);
    let (sent, dropped, errors) = util::sink_summary(&r.stderr(), "stuck").expect("summary");
    assert!(dropped > 0, "{}", r.stderr());
    assert_eq!(sent + dropped, EVENTS, "{}", r.stderr());
    assert_eq!(errors, 0);
    assert_eq!(
        util::sink_summary(&r.stderr(), "output"),
        Some((EVENTS, 0, 0))
    );
    // Bounded by the outputs' drain deadline, not by the stuck reader (which holds for 30 s).
    assert!(
        took < iocd::output::MAX_FINISH_WAIT + Duration::from_secs(10),
        "replay took {took:?}"
    );
    drop(server);
}

#[test]
fn config_sinks_replace_stdout_and_file_sinks_append() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &dns_query_frames(3, "evil.test", 1_700_000_000_000_000, 10),
    );
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "evil.test\n");
    let file = dir.path().join("events.json");
    util::write_file(&file, "{\"previous\":true}\n");
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        "[[sinks]]\ntype = \"json\"\npath = \"events.json\"\n",
    );
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(
        r.events.is_empty(),
        "stdout is not a sink when the config has sinks"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.starts_with("{\"previous\":true}\n"));
    assert_eq!(util::sink_summary(&r.stderr(), "json0"), Some((3, 0, 0)));
}

#[test]
fn a_sink_key_of_another_type_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        "[[sinks]]\ntype = \"json\"\npath = \"-\"\nfacility = \"local3\"\n[[sinks]]\ntype = \"syslog\"\ntransport = \"tcp\"\n",
    );
    let r = util::replay(&["--config", conf.to_str().unwrap(), "x.pcap"]);
    assert_eq!(r.code(), Some(78), "{}", r.stderr());
    let e = r.stderr();
    assert!(e.contains("sinks[0]: key facility does not apply"), "{e}");
    assert!(
        e.contains("sinks[1]: udp and tcp transports need an address"),
        "{e}"
    );
}

#[test]
fn syslog_over_a_unix_datagram_socket_in_rfc3164() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let server = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &dns_query_frames(2, "evil.test", 1_700_000_000_000_000, 10),
    );
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "evil.test\n");
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        &format!(
            "[[sinks]]\ntype = \"syslog\"\nformat = \"rfc3164\"\naddress = \"{}\"\nfacility = \"daemon\"\n",
            sock.display()
        ),
    );
    let r = util::replay(&[
        "--config",
        conf.to_str().unwrap(),
        "--feed",
        feed.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(util::sink_summary(&r.stderr(), "syslog0"), Some((2, 0, 0)));
    let mut buf = [0u8; 8192];
    for _ in 0..2 {
        let n = server.recv(&mut buf).unwrap();
        let rec = String::from_utf8_lossy(&buf[..n]).into_owned();
        // daemon (3) * 8 + warning (4) = 28; "Mmm dd hh:mm:ss host iocd[pid]: {json}"
        assert!(rec.starts_with("<28>"), "{rec}");
        let (head, json) = rec.split_once(": ").unwrap();
        let tag = head.split(' ').next_back().unwrap();
        assert!(tag.starts_with("iocd[") && tag.ends_with(']'), "{head}");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["indicator"]["value"], "evil.test");
    }
}
