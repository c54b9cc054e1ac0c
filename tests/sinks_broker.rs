//! Broker sinks (issue 17): events into a real Redis server (started here, on loopback, in a
//! temporary directory) and into librdkafka's mock Kafka cluster (started inside this test
//! process), read back and compared one by one with the JSON sink's events of the same replay.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::testkit::wire::write_pcap;
use crate::util::{self, dns_query_frames};

/// Ports of the redis servers these tests start (the range given to the broker sinks' tests,
/// 22000–22999; one per test so that they run in parallel).
const PORT_COMPARE: u16 = 22101;
const PORT_MODES: u16 = 22102;
const PORT_ACL: u16 = 22103;
const PORT_RESTART: u16 = 22104;

/// A redis-server child on 127.0.0.1:`port`, its data in a temporary directory; killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl Redis {
    /// Start one, or None (SKIP printed) when redis-server is not installed.
    fn start(port: u16, dir: &Path, extra: &[&str]) -> Option<Redis> {
        if !util::have("redis-server") {
            util::skip("redis-server is not installed (scripts/setup --system-tests)");
            return None;
        }
        let mut r = Redis {
            child: None,
            port,
            dir: dir.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        assert!(
            util::wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(addr).is_ok()
            }),
            "redis-server did not listen on {addr}"
        );
    }

    /// SIGKILL: no shutdown, no goodbye to clients.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    fn url(&self, user: Option<(&str, &str)>) -> String {
        match user {
            Some((u, p)) => format!("redis://{u}:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url(None))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every corpus capture (the one with a corrupt record length excepted: it ends the replay
/// with status 3) with a feed listing every address: a few hundred events from real traffic
/// of many protocols. None (SKIP printed) without the corpus.
fn corpus_with_every_address(dir: &Path) -> Option<(PathBuf, Vec<String>)> {
    let corpus = util::corpus_dir()?;
    let feed = dir.join("every-address.txt");
    util::write_file(&feed, "0.0.0.0/1\n128.0.0.0/1\n::/1\n8000::/1\n");
    let mut pcaps: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            (n.ends_with(".pcap") || n.ends_with(".pcapng")) && !n.contains("corrupt-record")
        })
        .map(|p| p.display().to_string())
        .collect();
    pcaps.sort();
    Some((feed, pcaps))
}

/// Replay `pcaps` with `sinks` (TOML) and the feed, plus a lossless JSON file sink; the exit
/// status, stderr and the JSON sink's events.
fn replay_with(
    dir: &Path,
    sinks: &str,
    feed: &Path,
    pcaps: &[String],
    extra: &[&str],
) -> (Option<i32>, String, Vec<Value>) {
    let conf = dir.join("c.toml");
    util::write_file(
        &conf,
        &format!(
            "sensor = \"t\"\n[[feeds]]\nname = \"every\"\npath = \"{}\"\nallow_broad = true\n{sinks}",
            feed.display()
        ),
    );
    let out = dir.join("events.json");
    let mut args = vec![
        "replay".to_owned(),
        "--config".into(),
        conf.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(pcaps.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = util::run_iocd(&args);
    let events = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, stderr, events)
}

fn parse_all(docs: &[Vec<u8>]) -> Vec<Value> {
    docs.iter()
        .map(|d| serde_json::from_slice(d).expect("a JSON document"))
        .collect()
}

/// The entries of stream `key`, oldest first: their `event` field.
fn xrange(c: &mut redis::Connection, key: &str) -> Vec<Vec<u8>> {
    // Each entry: its id and its field/value pairs.
    type Entry = (String, Vec<(String, Vec<u8>)>);
    let reply: Vec<Entry> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap();
    reply
        .into_iter()
        .map(|(_, fields)| {
            assert_eq!(fields.len(), 1, "one field per entry");
            assert_eq!(fields[0].0, "event");
            fields.into_iter().next().unwrap().1
        })
        .collect()
}

#[test]
fn redis_stream_holds_every_event_of_the_json_sink_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Redis::start(PORT_COMPARE, dir.path(), &[]) else {
        return;
    };
    let Some((feed, pcaps)) = corpus_with_every_address(dir.path()) else {
        return;
    };
    let sinks = format!(
        "[[sinks]]\nname = \"r\"\ntype = \"redis\"\nport = {}\nkey = \"ioa\"\nbatch = 64\n[[sinks]]\nname = \"r_eve\"\ntype = \"redis\"\nurl = \"{}\"\nkey = \"ioa-eve\"\nformat = \"eve\"\n",
        server.port,
        server.url(None)
    );
    let (code, stderr, events) = replay_with(dir.path(), &sinks, &feed, &pcaps, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(events.len() > 200, "{} events: {stderr}", events.len());
    let n = events.len() as u64;
    assert_eq!(
        util::sink_summary(&stderr, "r"),
        Some((n, 0, 0)),
        "{stderr}"
    );
    assert_eq!(util::sink_summary(&stderr, "r_eve"), Some((n, 0, 0)));
    let mut c = server.conn();
    let got = parse_all(&xrange(&mut c, "ioa"));
    assert_eq!(got.len(), events.len());
    for (i, (g, e)) in got.iter().zip(&events).enumerate() {
        assert_eq!(g, e, "entry {i}");
    }
    // EVE documents: one alert per event, the same flows in the same order.
    let eve = parse_all(&xrange(&mut c, "ioa-eve"));
    assert_eq!(eve.len(), events.len());
    for (g, e) in eve.iter().zip(&events) {
        assert_eq!(g["event_type"], "alert");
        assert_eq!(g["community_id"], e["flow"]["community_id"], "{g}");
    }
    // A consumer group reads the same entries (what Logstash's or Vector's redis input does).
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("ioa")
        .arg("siem")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("siem")
        .arg("c1")
        .arg("COUNT")
        .arg(100_000)
        .arg("STREAMS")
        .arg("ioa")
        .arg(">")
        .query(&mut c)
        .unwrap();
    let ids = &reply.keys[0].ids;
    assert_eq!(ids.len(), events.len());
    for (id, e) in ids.iter().zip(&events) {
        let redis::Value::BulkString(b) = &id.map["event"] else {
            panic!("event field: {:?}", id.map)
        };
        assert_eq!(&serde_json::from_slice::<Value>(b).unwrap(), e);
    }
}

#[test]
fn redis_list_and_publish_modes_deliver_every_event_and_maxlen_trims_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Redis::start(PORT_MODES, dir.path(), &[]) else {
        return;
    };
    let Some((feed, pcaps)) = corpus_with_every_address(dir.path()) else {
        return;
    };
    // A subscriber is there before the replay starts.
    let url = server.url(None);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let subscriber = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut ps = c.as_pubsub();
        ps.subscribe("ioa-live").unwrap();
        ps.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        while let Ok(m) = ps.get_message() {
            got.push(m.get_payload_bytes().to_vec());
        }
        got
    });
    ready_rx.recv().unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"list\"\ntype = \"redis\"\nport = {p}\nmode = \"list\"\nkey = \"ioa-list\"\n[[sinks]]\nname = \"pub\"\ntype = \"redis\"\nport = {p}\nmode = \"publish\"\nkey = \"ioa-live\"\n[[sinks]]\nname = \"short\"\ntype = \"redis\"\nport = {p}\nkey = \"ioa-short\"\nmaxlen = 10\nbatch = 1\n",
        p = server.port
    );
    let (code, stderr, events) = replay_with(dir.path(), &sinks, &feed, &pcaps, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let n = events.len() as u64;
    for name in ["list", "pub", "short"] {
        assert_eq!(
            util::sink_summary(&stderr, name),
            Some((n, 0, 0)),
            "{name}: {stderr}"
        );
    }
    let mut c = server.conn();
    let list: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg("ioa-list")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(parse_all(&list), events);
    // MAXLEN ~ 10 trims whole macro nodes: the stream keeps at least the 10 newest entries
    // and far fewer than every event; what it keeps is the tail of the events.
    let short = parse_all(&xrange(&mut c, "ioa-short"));
    assert!(
        short.len() >= 10 && short.len() < events.len() / 2,
        "{} of {n}",
        short.len()
    );
    assert_eq!(short[..], events[events.len() - short.len()..]);
    drop(c);
    let published = end_subscriber(&server, subscriber);
    assert_eq!(parse_all(&published), events);
}

/// End the subscriber thread and return what it read. The messages were published before the
/// replay exited; the reader gets a moment, then its connection is closed from the server's
/// side (it would otherwise wait out its 15 s read timeout).
fn end_subscriber(server: &Redis, t: std::thread::JoinHandle<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    std::thread::sleep(Duration::from_millis(500));
    let mut c = server.conn();
    let _: redis::RedisResult<()> = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut c);
    t.join().unwrap()
}

#[test]
fn redis_acl_user_with_a_password_file() {
    let dir = tempfile::tempdir().unwrap();
    // The default user is off: only `sensor`, with its password, may write, and only to ioa*.
    let Some(server) = Redis::start(
        PORT_ACL,
        dir.path(),
        &[
            "--user",
            "default",
            "off",
            "--user",
            "sensor",
            "on",
            ">s3cr:et@x",
            "~ioa*",
            "+@all",
        ],
    ) else {
        return;
    };
    let Some((feed, pcaps)) = corpus_with_every_address(dir.path()) else {
        return;
    };
    let pw = dir.path().join("redis.pw");
    util::write_file(&pw, "s3cr:et@x\n");
    let wrong = dir.path().join("wrong.pw");
    util::write_file(&wrong, "nope\n");
    let sinks = format!(
        "[[sinks]]\nname = \"acl\"\ntype = \"redis\"\nport = {p}\nkey = \"ioa\"\nusername = \"sensor\"\npassword_file = \"{}\"\n[[sinks]]\nname = \"wrong\"\ntype = \"redis\"\nport = {p}\nkey = \"ioa-wrong\"\nusername = \"sensor\"\npassword_file = \"{}\"\nqueue = 100000\n",
        pw.display(),
        wrong.display(),
        p = server.port
    );
    let (code, stderr, events) = replay_with(dir.path(), &sinks, &feed, &pcaps, &[]);
    let n = events.len() as u64;
    assert_eq!(
        util::sink_summary(&stderr, "acl"),
        Some((n, 0, 0)),
        "{stderr}"
    );
    // The wrong password never gets in: every event counted as dropped, errors counted.
    let (sent, dropped, errors) = util::sink_summary(&stderr, "wrong").unwrap();
    assert_eq!((sent, dropped), (0, n), "{stderr}");
    assert!(errors > 0);
    assert_eq!(code, Some(1), "the output is incomplete: {stderr}");
    let mut c = redis::Client::open(server.url(Some(("sensor", "s3cr%3Aet%40x"))))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(parse_all(&xrange(&mut c, "ioa")), events);
    // Without the password the server refuses.
    assert!(redis::Client::open(server.url(None))
        .unwrap()
        .get_connection()
        .and_then(|mut c| redis::cmd("XLEN").arg("ioa").query::<u64>(&mut c))
        .is_err());
}

#[test]
fn redis_killed_and_restarted_mid_replay_every_event_delivered_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The server keeps what it acknowledged across a SIGKILL: append-only file, fsync on
    // every write, so that what is in the stream after the restart is what was delivered.
    let Some(mut server) = Redis::start(
        PORT_RESTART,
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    // 4000 DNS queries 1 ms apart, replayed at capture pace: 4 s, of which the server is down
    // for about one; a queue of 256 holds a quarter of the outage, the rest is dropped.
    const EVENTS: u64 = 4000;
    let pcap = dir.path().join("q.pcap");
    write_pcap(
        &pcap,
        1,
        &dns_query_frames(EVENTS, "evil.test", 1_700_000_000_000_000, 1000),
    );
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "evil.test\n");
    let conf = dir.path().join("c.toml");
    util::write_file(
        &conf,
        &format!(
            "[[sinks]]\nname = \"r\"\ntype = \"redis\"\nport = {}\nkey = \"ioa\"\nqueue = 256\n",
            server.port
        ),
    );
    let out = dir.path().join("events.json");
    let mut cmd = util::iocd();
    cmd.args(["replay", "--realtime", "--config"])
        .arg(&conf)
        .arg("--feed")
        .arg(&feed)
        .arg("-o")
        .arg(&out)
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    // Kill once events flow, restart a second later.
    let mut c = server.conn();
    assert!(util::wait_until(Duration::from_secs(10), || {
        redis::cmd("XLEN")
            .arg("ioa")
            .query::<u64>(&mut c)
            .unwrap_or(0)
            > 200
    }));
    drop(c);
    server.kill();
    // What the stream held when the server died (the AOF has it all: fsync on every write);
    // iocd may get a batch in while the server is up for this look: the check below is then
    // only stricter.
    let before_kill = {
        server.spawn();
        let n: u64 = redis::cmd("XLEN")
            .arg("ioa")
            .query(&mut server.conn())
            .unwrap();
        server.kill();
        n
    };
    std::thread::sleep(Duration::from_secs(1));
    server.spawn();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
    let events: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, EVENTS, "{stderr}");
    let (sent, dropped, errors) = util::sink_summary(&stderr, "r").expect(&stderr);
    println!("redis killed and restarted: sent {sent} dropped {dropped} errors {errors} (stream held {before_kill} at the kill)");
    assert_eq!(sent + dropped, EVENTS, "{stderr}");
    assert!(errors > 0, "the outage was seen: {stderr}");
    assert!(sent > 200, "{stderr}");
    // After the restart the stream holds what was delivered: at least `sent` entries (a batch
    // cut by the kill may have been applied in part and sent again: at least once), each one
    // of the JSON sink's events, and every event missing from it is among the dropped.
    let mut c = server.conn();
    let stream = parse_all(&xrange(&mut c, "ioa"));
    assert!(stream.len() as u64 >= sent, "{} < {sent}", stream.len());
    assert!(
        stream.len() as u64 > before_kill,
        "events were delivered after the restart: {before_kill} before, {} after",
        stream.len()
    );
    let mut want: HashMap<String, i64> = HashMap::new();
    for e in &events {
        *want.entry(e.to_string()).or_default() += 1;
    }
    let mut seen: HashMap<String, i64> = HashMap::new();
    for s in &stream {
        let k = s.to_string();
        assert!(want.contains_key(&k), "not an event of the replay: {k}");
        *seen.entry(k).or_default() += 1;
    }
    let missing: i64 = want
        .iter()
        .map(|(k, n)| (n - seen.get(k).copied().unwrap_or(0)).max(0))
        .sum();
    assert!(
        missing as u64 <= dropped,
        "{missing} events neither in the stream nor counted ({dropped} dropped): {stderr}"
    );
    assert!(output.status.code().is_some(), "{stderr}");
}

#[cfg(feature = "kafka")]
mod kafka {
    use std::time::Duration;

    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::mocking::MockCluster;
    use rdkafka::{ClientConfig, Message as _, TopicPartitionList};
    use serde_json::Value;

    use super::{corpus_with_every_address, replay_with};
    use crate::util;

    /// Partitions of the mock topic: more than one, so that keys decide where events go.
    const PARTITIONS: i32 = 3;

    /// Every message of `topic` (partition, key, payload), read from the start.
    fn consume_all(bootstrap: &str, topic: &str, want: usize) -> Vec<(i32, Option<String>, Value)> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "test")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() < want && std::time::Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                got.push((
                    m.partition(),
                    m.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    serde_json::from_slice(m.payload().unwrap()).unwrap(),
                ));
            }
        }
        // Nothing more than expected.
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            panic!("an extra message: {:?}", m.map(|m| m.offset()));
        }
        got
    }

    #[test]
    fn kafka_messages_match_the_json_sink_keyed_by_community_id() {
        let dir = tempfile::tempdir().unwrap();
        let Some((feed, pcaps)) = corpus_with_every_address(dir.path()) else {
            return;
        };
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("ioa", PARTITIONS, 1).unwrap();
        cluster.create_topic("ioa-ecs", PARTITIONS, 1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let sinks = format!(
            "[[sinks]]\nname = \"k\"\ntype = \"kafka\"\nbrokers = [\"{bootstrap}\"]\ntopic = \"ioa\"\ncompression = \"zstd\"\n[[sinks]]\nname = \"k_ecs\"\ntype = \"kafka\"\nbrokers = [\"{bootstrap}\"]\ntopic = \"ioa-ecs\"\nformat = \"ecs\"\ncompression = \"lz4\"\nacks = \"1\"\nkey = \"src_ip\"\n"
        );
        let (code, stderr, events) = replay_with(dir.path(), &sinks, &feed, &pcaps, &[]);
        assert_eq!(code, Some(0), "{stderr}");
        let n = events.len() as u64;
        assert!(n > 200, "{stderr}");
        assert_eq!(
            util::sink_summary(&stderr, "k"),
            Some((n, 0, 0)),
            "{stderr}"
        );
        assert_eq!(util::sink_summary(&stderr, "k_ecs"), Some((n, 0, 0)));
        let got = consume_all(&bootstrap, "ioa", events.len());
        assert_eq!(got.len(), events.len());
        // Order holds within a partition; across partitions compare as sorted lists.
        let mut want: Vec<String> = events.iter().map(Value::to_string).collect();
        let mut have: Vec<String> = got.iter().map(|(_, _, v)| v.to_string()).collect();
        want.sort();
        have.sort();
        assert_eq!(have, want);
        let mut partition_of = std::collections::HashMap::new();
        for (p, key, v) in &got {
            let cid = v["flow"]["community_id"].as_str().unwrap();
            assert_eq!(key.as_deref(), Some(cid));
            // A flow's events all land in one partition.
            assert_eq!(
                *partition_of.entry(cid.to_owned()).or_insert(*p),
                *p,
                "{cid}"
            );
        }
        for p in 0..PARTITIONS {
            let in_p: Vec<&Value> = got.iter().filter(|g| g.0 == p).map(|g| &g.2).collect();
            let order: Vec<&Value> = events.iter().filter(|e| in_p.contains(e)).collect();
            assert_eq!(in_p, order, "partition {p} keeps the replay's order");
        }
        let ecs = consume_all(&bootstrap, "ioa-ecs", events.len());
        assert_eq!(ecs.len(), events.len());
        for (_, key, v) in &ecs {
            assert_eq!(key.as_deref(), v["source"]["ip"].as_str(), "{v}");
            assert!(v["@timestamp"].is_string(), "{v}");
        }
    }

    #[test]
    fn kafka_broker_down_drops_are_counted_and_iocd_exits() {
        let dir = tempfile::tempdir().unwrap();
        let Some((feed, pcaps)) = corpus_with_every_address(dir.path()) else {
            return;
        };
        // A bootstrap address nobody listens on (a port taken and released a moment ago), and
        // a message timeout of half a second.
        let port = util::free_port(false);
        let sinks = format!(
            "[[sinks]]\nname = \"down\"\ntype = \"kafka\"\nbrokers = [\"127.0.0.1:{port}\"]\ntopic = \"ioa\"\nmessage_timeout_ms = 500\n"
        );
        let started = std::time::Instant::now();
        let (code, stderr, events) = replay_with(dir.path(), &sinks, &feed, &pcaps, &[]);
        let n = events.len() as u64;
        assert!(n > 200, "{stderr}");
        let (sent, dropped, errors) = util::sink_summary(&stderr, "down").expect(&stderr);
        assert_eq!((sent, dropped), (0, n), "{stderr}");
        assert_eq!(errors, n, "every failed delivery report is counted");
        assert_eq!(code, Some(1), "the output is incomplete: {stderr}");
        assert!(stderr.contains("delivery failed"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

/// User + system CPU seconds of this process's reaped children.
#[cfg(feature = "kafka")]
fn children_cpu() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    s(ru.user_time()) + s(ru.system_time())
}

/// The figures of BENCHMARKS.md ("Redis and Kafka sinks"), not a test: run by hand with
/// `IOCD_BROKER_BENCH=CAPTURE:FEED IOCD_BIN=target/release/iocd cargo test --test tests
/// broker_sinks_throughput -- --ignored --nocapture`. Three interleaved rounds of the same
/// replay with a JSON file sink only, plus a Redis stream sink, plus a Kafka sink (mock
/// cluster), each broker sink lossless (`on_full = "block"`) so that its cost shows in the
/// replay's wall time; every event must arrive.
#[cfg(feature = "kafka")]
#[test]
#[ignore]
fn broker_sinks_throughput() {
    let Ok(spec) = std::env::var("IOCD_BROKER_BENCH") else {
        util::skip("IOCD_BROKER_BENCH=CAPTURE:FEED not set");
        return;
    };
    let (pcap, feed) = spec.split_once(':').expect("CAPTURE:FEED");
    let bin = std::env::var("IOCD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_iocd").into());
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Redis::start(22110, dir.path(), &[]) else {
        return;
    };
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("ioa", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let runs = [
        ("json", String::new()),
        (
            "redis",
            format!(
                "[[sinks]]\nname = \"b\"\ntype = \"redis\"\nport = {}\nkey = \"ioa\"\nmaxlen = 1000000\non_full = \"block\"\n",
                server.port
            ),
        ),
        (
            "kafka",
            format!(
                "[[sinks]]\nname = \"b\"\ntype = \"kafka\"\nbrokers = [\"{bootstrap}\"]\ntopic = \"ioa\"\non_full = \"block\"\n"
            ),
        ),
    ];
    for round in 0..3 {
        for (what, sinks) in &runs {
            let conf = dir.path().join("b.toml");
            util::write_file(
                &conf,
                &format!("sensor = \"b\"\n[[feeds]]\nname = \"heavy\"\npath = \"{feed}\"\n{sinks}"),
            );
            let out = dir.path().join("out.json");
            let mut c = Command::new(&bin);
            c.args(["replay", "--workers", "1", "--config"])
                .arg(&conf)
                .arg("-o")
                .arg(&out)
                .arg(pcap);
            let t = Instant::now();
            let cpu0 = children_cpu();
            let o = util::run_with_timeout(c, Duration::from_secs(600));
            let wall = t.elapsed().as_secs_f64();
            // iocd's own CPU time (the only child reaped meanwhile), steadier than wall time
            // on a shared machine.
            let cpu = children_cpu() - cpu0;
            let stderr = String::from_utf8_lossy(&o.stderr);
            let (events, _, _) = util::sink_summary(&stderr, "output").expect("summary");
            let line = match util::sink_summary(&stderr, "b") {
                Some((sent, dropped, errors)) => {
                    assert_eq!((sent, dropped), (events, 0), "{stderr}");
                    format!("sent {sent} errors {errors}")
                }
                None => String::new(),
            };
            println!(
                "round {round} {what:5} wall {wall:.2} s cpu {cpu:.2} s events {events} ({:.0} events/s) {line}",
                events as f64 / wall
            );
        }
    }
}

#[test]
fn broker_sink_config_errors_exit_78_naming_the_sink_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("type = \"redis\"\nmode = \"hash\"", "hash"),
        (
            "type = \"redis\"\nmaxlen = 0",
            "sinks[0]: maxlen must be at least 1",
        ),
        (
            "type = \"redis\"\npassword_file = \"/nonexistent/redis.pw\"",
            "sinks[0]: password_file /nonexistent/redis.pw",
        ),
        (
            "type = \"redis\"\nurl = \"redis://u:hunter2@h/0\"",
            "sinks[0]: url",
        ),
        (
            "type = \"kafka\"\nbrokers = []\ntopic = \"t\"",
            "sinks[0]: brokers must list",
        ),
        (
            "type = \"kafka\"\nbrokers = [\"k:9092\"]\ntopic = \"t\"\nkey = \"dst_ip\"",
            "sinks[0]: key \"dst_ip\"",
        ),
        (
            "type = \"kafka\"\nbrokers = [\"k:9092\"]\ntopic = \"t\"\ncompression = \"snappy\"",
            "snappy",
        ),
    ];
    for (i, (table, want)) in cases.iter().enumerate() {
        let conf = dir.path().join(format!("c{i}.toml"));
        util::write_file(&conf, &format!("[[sinks]]\n{table}\n"));
        let (code, _, stderr) = util::run_iocd(&[
            "replay",
            "--config",
            conf.to_str().unwrap(),
            &util::demo_pcap(),
        ]);
        assert_eq!(code, Some(78), "{table}: {stderr}");
        assert!(
            stderr.contains(want),
            "{table}: wanted {want:?} in {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the password is not echoed: {stderr}"
        );
    }
}

#[test]
fn redis_over_tls_verified_with_the_ca_file() {
    const PORT_TLS: u16 = 22105;
    if !util::have("openssl") {
        return util::skip("openssl (the command) is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA and a server certificate for 127.0.0.1 signed by it.
    let ssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=iocd test CA",
    ]);
    ssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    util::write_file(&d.join("san.ext"), "subjectAltName = IP:127.0.0.1\n");
    ssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let port = PORT_TLS.to_string();
    let Some(server) = Redis::start(
        PORT_TLS,
        d,
        &[
            "--port",
            "0",
            "--tls-port",
            &port,
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.pem",
            "--tls-auth-clients",
            "no",
        ],
    ) else {
        return;
    };
    let Some((feed, pcaps)) = corpus_with_every_address(d) else {
        return;
    };
    // One sink trusts the test CA; one trusts only the system's CAs, which never signed the
    // server's certificate: it must not deliver a thing.
    let sinks = format!(
        "[[sinks]]\nname = \"tls\"\ntype = \"redis\"\nport = {p}\ntls = true\nca_file = \"{}\"\nkey = \"ioa\"\n[[sinks]]\nname = \"untrusted\"\ntype = \"redis\"\nurl = \"rediss://127.0.0.1:{p}/0\"\nkey = \"ioa-untrusted\"\n",
        d.join("ca.pem").display(),
        p = server.port
    );
    let (code, stderr, events) = replay_with(d, &sinks, &feed, &pcaps, &[]);
    let n = events.len() as u64;
    assert_eq!(
        util::sink_summary(&stderr, "tls"),
        Some((n, 0, 0)),
        "{stderr}"
    );
    let (sent, dropped, errors) = util::sink_summary(&stderr, "untrusted").unwrap();
    assert_eq!((sent, dropped), (0, n), "{stderr}");
    assert!(errors > 0);
    assert_eq!(code, Some(1));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{}/0", server.port),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(d.join("ca.pem")).unwrap()),
        },
    )
    .unwrap();
    let mut c = client.get_connection().unwrap();
    assert_eq!(parse_all(&xrange(&mut c, "ioa")), events);
    let untrusted: u64 = redis::cmd("XLEN")
        .arg("ioa-untrusted")
        .query(&mut c)
        .unwrap();
    assert_eq!(untrusted, 0);
}
