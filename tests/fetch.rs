//! Feeds fetched by iocd itself (`url = ...`): `iocd feeds update` and the daemon's background
//! refresh against real servers on loopback started here: Python's http.server behind TLS with
//! a CA made by the test (tests/data/fetch_server.py), OASIS's TAXII 2.1 reference server
//! `medallion`, and a MISP feed directory served over HTTP.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{self, write_file};

/// A server process; killed on drop.
struct Server {
    child: Child,
    port: u16,
    /// Where fetch_server.py logs each request's path.
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    /// fetch_server.py serving `dir` (its request log beside it), over TLS when `tls` names the
    /// certificate and key; `wrap` runs it inside a command (`ip netns exec NS`).
    fn files(dir: &Path, tls: Option<&Tls>, wrap: &[&str]) -> Server {
        let script = util::root().join("tests/data/fetch_server.py");
        let mut c = if wrap.is_empty() {
            Command::new("python3")
        } else {
            let mut c = Command::new(wrap[0]);
            c.args(&wrap[1..]).arg("python3");
            c
        };
        c.arg(script).arg(dir);
        if let Some(t) = tls {
            c.arg("--cert").arg(&t.cert).arg("--key").arg(&t.key);
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fetch_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port from fetch_server.py: {line:?}"));
        Server {
            child,
            port,
            log: dir.parent().unwrap().join("requests.log"),
        }
    }

    /// Requests whose path was `path`.
    fn requests(&self, path: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == path)
            .count()
    }
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost (openssl CLI).
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_tls(dir: &Path) -> Tls {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=iocd test CA",
    ]);
    openssl(dir, &a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &a);
    write_file(
        &dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    Tls {
        ca: dir.join("ca.pem"),
        cert: dir.join("srv.pem"),
        key: dir.join("srv.key"),
    }
}

fn prereqs(tools: &[&str]) -> bool {
    for t in tools {
        if !util::have(t) {
            util::skip(&format!("{t} not installed (scripts/setup --system-tests)"));
            return false;
        }
    }
    true
}

/// `iocd feeds update --config cfg`: exit code and stdout (stderr appended on failure).
fn update(cfg: &Path) -> (Option<i32>, String) {
    let (code, out, err) = util::run_iocd(&["feeds", "update", "--config", cfg.to_str().unwrap()]);
    (code, format!("{out}\n--- stderr:\n{err}"))
}

/// The line `iocd feeds update` printed for feed `name`.
fn outcome<'a>(out: &'a str, name: &str) -> &'a str {
    let p = format!("{name}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&p))
        .unwrap_or_else(|| panic!("no line for {name}: {out}"))
}

/// The config in `d` with state in `d/state` and `feeds` (TOML).
fn config(d: &Path, feeds: &str) -> PathBuf {
    util::feeds_config(
        d,
        &format!(
            "[daemon]\nstate_dir = \"{}\"\n{feeds}",
            d.join("state").display()
        ),
    )
}

#[test]
fn an_https_feed_is_fetched_conditionally_and_a_change_reaches_matching() {
    if !prereqs(&["python3", "openssl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = make_tls(d);
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    write_file(&www.join("bad.txt"), "a.test\nb.test\n");
    let srv = Server::files(&www, Some(&tls), &[]);
    let cfg = config(
        d,
        &format!(
            "[[feeds]]\nname = \"bad\"\nurl = \"https://127.0.0.1:{}/bad.txt\"\nca_file = \"{}\"\n",
            srv.port,
            tls.ca.display()
        ),
    );
    let copy = d.join("state/feeds/bad");
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "bad"), "updated (2 entries)", "{out}");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "a.test\nb.test\n");
    let ino = std::fs::metadata(&copy).unwrap().ino();

    // unchanged: one conditional request, answered 304; the copy is not rewritten
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "bad"), "unchanged", "{out}");
    assert_eq!(srv.requests("/bad.txt"), 2);
    assert_eq!(std::fs::metadata(&copy).unwrap().ino(), ino);

    // `iocd check` reads the copy and says where it came from and how the last fetch went
    let (code, out, err) = util::run_iocd(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let i = out.find("feed \"bad\"").unwrap();
    let remote = out[i..].lines().nth(1).unwrap();
    assert!(
        remote.starts_with(&format!(
            "  remote https://127.0.0.1:{}/bad.txt: last fetch 20",
            srv.port
        )) && remote.contains(": unchanged; copy in use written 20"),
        "{out}"
    );

    // the demo capture asks for c2.malware.example: no match until the feed lists it
    let r = util::replay_demo(&cfg);
    assert!(r.events.is_empty(), "{:?}", r.events);
    write_file(&www.join("bad.txt"), "a.test\nb.test\nc2.malware.example\n");
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "bad"), "updated (3 entries)", "{out}");
    assert_eq!(srv.requests("/bad.txt"), 3);
    let r = util::replay_demo(&cfg);
    assert!(
        r.events
            .iter()
            .any(|e| e["indicator"]["feed"] == "bad"
                && e["observable"]["value"] == "c2.malware.example"),
        "{:?}",
        r.events
    );
}

#[test]
fn a_failed_truncated_oversized_slow_shrunk_or_garbage_download_keeps_the_last_good_copy() {
    if !prereqs(&["python3", "openssl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = make_tls(d);
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    let good = "a.test\nb.test\nc.test\nd.test\ne.test\nf.test\n";
    write_file(&www.join("f.txt"), good);
    let srv = Server::files(&www, Some(&tls), &[]);
    let feed = |path: &str, extra: &str| {
        config(
            d,
            &format!(
                "[[feeds]]\nname = \"f\"\nurl = \"https://127.0.0.1:{}{path}\"\nca_file = \"{}\"\n{extra}",
                srv.port,
                tls.ca.display()
            ),
        )
    };
    let copy = d.join("state/feeds/f");
    let (code, out) = update(&feed("/f.txt", ""));
    assert_eq!(code, Some(0), "{out}");
    let grown = format!("{good}g.test\n");
    let cases: [(&str, &str, &str, Option<&str>); 5] = [
        ("/500/f.txt", "", "HTTP 500", None),
        ("/truncate/f.txt", "", "download cut", None),
        (
            "/f.txt",
            "max_bytes = 20\n",
            "over max_bytes 20",
            Some(&grown),
        ),
        ("/slow/f.txt", "timeout = \"1s\"\n", "timeout", None),
        (
            "/f.txt",
            "",
            "shrank from 6 to 1 entries",
            Some("only.test\n"),
        ),
    ];
    for (path, extra, why, serve) in cases {
        if let Some(s) = serve {
            write_file(&www.join("f.txt"), s);
        }
        let started = Instant::now();
        let (code, out) = update(&feed(path, extra));
        assert_eq!(code, Some(1), "{path}: {out}");
        let o = outcome(&out, "f");
        assert!(
            o.starts_with("failed: ") && o.contains(why),
            "{path}: {o}\n{out}"
        );
        assert!(out.contains("the last good copy stays"), "{out}");
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), good, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} took {:?}",
            started.elapsed()
        );
        write_file(&www.join("f.txt"), good);
    }
    // garbage where the feed was: over max_bad_ratio, refused
    write_file(
        &www.join("f.txt"),
        "<html>\n<body>not a feed</body>\n</html>\n!!\n",
    );
    let (code, out) = update(&feed("/f.txt", ""));
    assert_eq!(code, Some(1), "{out}");
    assert!(outcome(&out, "f").starts_with("failed: "), "{out}");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), good);
    // the check names the failure and the copy still loads
    let (code, out, _) =
        util::run_iocd(&["check", "--config", feed("/f.txt", "").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        util::check_line(&out, "f").contains("6 indicators"),
        "{out}"
    );
    assert!(out.contains(": failed: "), "{out}");
}

#[test]
fn zip_and_gzip_payloads_are_unpacked_and_a_private_ca_needs_ca_file() {
    if !prereqs(&["python3", "openssl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = make_tls(d);
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    // abuse.ch ships its CSVs zipped: the Feodo sample inside a zip, beside a README
    let csv = std::fs::read(util::root().join("tests/feeds/feodo-ipblocklist.csv")).unwrap();
    {
        let f = std::fs::File::create(www.join("feodo.zip")).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("ipblocklist.csv", o).unwrap();
        std::io::Write::write_all(&mut z, &csv).unwrap();
        z.start_file("README.txt", o).unwrap();
        std::io::Write::write_all(&mut z, b"not a feed").unwrap();
        z.finish().unwrap();
    }
    // a .gz payload, and a plain file sent with Content-Encoding: gzip
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"gz1.test\ngz2.test\n").unwrap();
    std::fs::write(www.join("list.txt.gz"), gz.finish().unwrap()).unwrap();
    write_file(&www.join("enc.txt"), "enc1.test\nenc2.test\nenc3.test\n");
    let srv = Server::files(&www, Some(&tls), &[]);
    let base = format!("https://127.0.0.1:{}", srv.port);
    let ca = tls.ca.display();
    let cfg = config(
        d,
        &format!(
            r#"[[feeds]]
name = "feodo"
url = "{base}/feodo.zip"
ca_file = "{ca}"
format = "csv"
max_bad_ratio = 0.5
[feeds.csv]
columns = {{ value = "dst_ip", port = "dst_port", tags = "malware" }}
[[feeds]]
name = "feodo-readme"
url = "{base}/feodo.zip"
ca_file = "{ca}"
zip_member = "nothere.csv"
[[feeds]]
name = "gz"
url = "{base}/list.txt.gz"
ca_file = "{ca}"
[[feeds]]
name = "enc"
url = "{base}/gzip/enc.txt"
ca_file = "{ca}"
[[feeds]]
name = "noca"
url = "{base}/enc.txt"
"#
        ),
    );
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(1), "{out}");
    let feodo_rows = String::from_utf8_lossy(&csv)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("\"first_seen"))
        .count();
    // the sample's line 14 is a bad row on purpose (see tests/indicators.rs)
    assert_eq!(
        outcome(&out, "feodo"),
        format!("updated ({} entries)", feodo_rows - 1),
        "{out}"
    );
    assert!(
        outcome(&out, "feodo-readme").contains("no member \"nothere.csv\""),
        "{out}"
    );
    assert_eq!(outcome(&out, "gz"), "updated (2 entries)", "{out}");
    assert_eq!(outcome(&out, "enc"), "updated (3 entries)", "{out}");
    let noca = outcome(&out, "noca");
    assert!(
        noca.starts_with("failed: ") && noca.to_lowercase().contains("cert"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("state/feeds/gz")).unwrap(),
        "gz1.test\ngz2.test\n"
    );
    assert_eq!(std::fs::read(d.join("state/feeds/feodo")).unwrap(), csv);
    assert!(!d.join("state/feeds/noca").exists());
}

#[test]
fn a_secret_in_the_config_text_and_url_with_path_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (feeds, want) in [
        (
            "[[feeds]]\nname = \"x\"\nurl = \"https://e.test/x\"\nauth = { basic_user = \"u\", password = \"hunter2\" }\n",
            "auth.password: a secret never goes in the config text",
        ),
        (
            "[[feeds]]\nname = \"x\"\nurl = \"https://e.test/x\"\npath = \"x.txt\"\n",
            "feeds[0] (x): give url (a feed iocd fetches) or path (a local file), not both",
        ),
        ("[[feeds]]\nname = \"x\"\n", "feeds[0] (x): needs path (a local file) or url"),
        (
            "[[feeds]]\nname = \"x\"\npath = \"x.txt\"\nformat = \"taxii\"\n",
            "format \"taxii\" needs url",
        ),
        (
            "[[feeds]]\nname = \"x\"\nurl = \"https://e.test/x\"\nrefresh = \"soon\"\n",
            "refresh",
        ),
    ] {
        let cfg = config(d, feeds);
        let (code, out, err) = util::run_iocd(&["feeds", "update", "--config", cfg.to_str().unwrap()]);
        assert_eq!(code, Some(78), "{feeds}: {out}{err}");
        assert!(err.contains(want), "{feeds}: {err}");
    }
}

/// A port of this suite's range (24000–24999) free now.
fn port_in_range() -> u16 {
    let start = 24000 + (std::process::id() % 500) as u16 * 2;
    (0..1000)
        .map(|i| 24000 + (start - 24000 + i) % 1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 24000-24999")
}

/// A STIX 2.1 domain indicator.
fn indicator(n: u32, name: &str, modified: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z",
        "modified": modified,
        "name": name,
        "pattern": format!("[domain-name:value = '{name}']"),
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    })
}

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
const TAXII: &str = "application/taxii+json;version=2.1";

/// medallion (the OASIS TAXII 2.1 reference server) with the memory backend on `port`,
/// serving `objects` in one collection, pages of 2 objects; its log (one line per request)
/// in `dir/medallion.log`.
fn medallion(dir: &Path, port: u16, objects: &[Value]) -> Server {
    let manifest: Vec<Value> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            json!({"id": o["id"], "date_added": format!("2024-01-01T00:00:0{i}.000000Z"),
                   "version": o["modified"], "media_type": "application/stix+json;version=2.1"})
        })
        .collect();
    let data = json!({
        "/discovery": {"title": "iocd test", "api_roots": [format!("http://127.0.0.1:{port}/api1/")]},
        "api1": {
            "information": {"title": "api1", "versions": [TAXII], "max_content_length": 10_000_000},
            "status": [],
            "collections": [{
                "id": COLLECTION, "title": "indicators", "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects, "manifest": manifest,
            }],
        },
    });
    std::fs::write(dir.join("data.json"), data.to_string()).unwrap();
    let conf = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                     "filename": dir.join("data.json")},
        "users": {"iocd": "s3cret"},
        "taxii": {"max_page_size": 2},
    });
    std::fs::write(dir.join("medallion.json"), conf.to_string()).unwrap();
    let log = dir.join("medallion.log");
    let child = Command::new("medallion")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "INFO",
        ])
        .arg(dir.join("medallion.json"))
        .stdout(std::fs::File::create(dir.join("medallion.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start medallion");
    let up = util::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "medallion did not listen: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Server { child, port, log }
}

/// The objects requests medallion logged (werkzeug's request lines).
fn taxii_gets(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("GET /api1/collections/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_taxii_collection_is_polled_for_what_is_new_with_revocations_and_pages_across_restarts() {
    if !prereqs(&["medallion"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t0 = "2024-01-01T00:00:00.000Z";
    let objects = [
        indicator(1, "x1.test", t0),
        indicator(2, "x2.test", t0),
        indicator(3, "c2.malware.example", t0),
    ];
    let port = port_in_range();
    let srv = medallion(d, port, &objects);
    write_file(&d.join("pw"), "s3cret\n");
    let cfg = config(
        d,
        &format!(
            "[[feeds]]\nname = \"cti\"\nformat = \"taxii\"\nurl = \"http://127.0.0.1:{port}/api1/collections/{COLLECTION}/\"\nauth = {{ basic_user = \"iocd\", password_file = \"{}\" }}\n",
            d.join("pw").display()
        ),
    );
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "cti"), "updated (3 entries)", "{out}");
    // 3 objects in pages of 2: the second page asked for with `next`
    let gets = taxii_gets(&srv.log);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[1].contains("next="), "{gets:?}");
    let lookup = |v: &str| util::run_iocd(&["lookup", "--config", cfg.to_str().unwrap(), v]).0;
    assert_eq!(lookup("x1.test"), Some(0));

    // between the polls: a new indicator, and x1 revoked (a new version of it)
    let mut revoked = indicator(1, "x1.test", "2024-02-01T00:00:00.000Z");
    revoked["revoked"] = json!(true);
    let added = ureq::post(&format!(
        "http://127.0.0.1:{port}/api1/collections/{COLLECTION}/objects/"
    ))
    .header("Accept", TAXII)
    .header("Content-Type", TAXII)
    .header("Authorization", "Basic aW9jZDpzM2NyZXQ=")
    .send(json!({"objects": [indicator(4, "x4.test", t0), revoked]}).to_string())
    .unwrap();
    assert!(added.status().is_success(), "{:?}", added.status());

    // a new process: the state (added_after, the objects) came through the restart
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "cti"), "updated (3 entries)", "{out}");
    let gets = taxii_gets(&srv.log);
    assert!(
        gets[2].contains("added_after=2024-01-01T00:00:02"),
        "{gets:?}"
    );
    assert_eq!(lookup("x1.test"), Some(1), "revoked: gone");
    assert_eq!(lookup("x4.test"), Some(0), "added: there");
    assert_eq!(lookup("x2.test"), Some(0), "kept from the first poll");
    // nothing new: unchanged, nothing rewritten
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "cti"), "unchanged", "{out}");
    // the stored bundle is what the stix format reads, and a replay matches from it
    let r = util::replay_demo(&cfg);
    assert!(
        r.events.iter().any(|e| e["indicator"]["feed"] == "cti"),
        "{:?}",
        r.events
    );
}

#[test]
fn a_misp_feed_over_http_fetches_only_the_events_that_changed() {
    if !prereqs(&["python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let www = d.join("www");
    let feed = www.join("misp");
    std::fs::create_dir_all(&feed).unwrap();
    let sample = util::root().join("tests/feeds/misp");
    for f in [
        "manifest.json",
        "5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json",
        "6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c.json",
    ] {
        std::fs::copy(sample.join(f), feed.join(f)).unwrap();
    }
    let srv = Server::files(&www, None, &[]);
    let cfg = config(
        d,
        &format!(
            "[[feeds]]\nname = \"misp\"\nformat = \"misp\"\nurl = \"http://127.0.0.1:{}/misp/\"\n",
            srv.port
        ),
    );
    let (a, b) = (
        "/misp/5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json",
        "/misp/6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c.json",
    );
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert!(outcome(&out, "misp").starts_with("updated ("), "{out}");
    assert_eq!(
        (
            srv.requests("/misp/manifest.json"),
            srv.requests(a),
            srv.requests(b)
        ),
        (1, 1, 1)
    );
    let lookup = |v: &str| util::run_iocd(&["lookup", "--config", cfg.to_str().unwrap(), v]).0;
    assert_eq!(lookup("c2.malware.example"), Some(1));

    // event b gains an attribute and a new timestamp, in the event and the manifest
    let bp = feed.join("6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c.json");
    let mut ev: Value = serde_json::from_str(&std::fs::read_to_string(&bp).unwrap()).unwrap();
    let mut attr = ev["Event"]["Attribute"][0].clone();
    attr["uuid"] = json!("9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b");
    attr["type"] = json!("domain");
    attr["category"] = json!("Network activity");
    attr["value"] = json!("c2.malware.example");
    attr["to_ids"] = json!(true);
    ev["Event"]["Attribute"].as_array_mut().unwrap().push(attr);
    ev["Event"]["timestamp"] = json!("1714500000");
    std::fs::write(&bp, ev.to_string()).unwrap();
    let mp = feed.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&mp).unwrap()).unwrap();
    m["6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c"]["timestamp"] = json!(1714500000);
    std::fs::write(&mp, m.to_string()).unwrap();
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert!(outcome(&out, "misp").starts_with("updated ("), "{out}");
    assert!(out.contains("1 events fetched, 0 removed"), "{out}");
    assert_eq!(
        (
            srv.requests("/misp/manifest.json"),
            srv.requests(a),
            srv.requests(b)
        ),
        (2, 1, 2)
    );
    assert_eq!(lookup("c2.malware.example"), Some(0));
    // nothing changed: the manifest answers 304, no event is asked for
    let (code, out) = update(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "misp"), "unchanged", "{out}");
    assert_eq!(
        (
            srv.requests("/misp/manifest.json"),
            srv.requests(a),
            srv.requests(b)
        ),
        (3, 1, 2)
    );
}

/// A network namespace with only its loopback up; deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn the_daemon_refreshes_a_remote_feed_in_the_background_and_the_new_indicator_matches() {
    if !util::is_root() {
        util::skip("iocd run in a network namespace needs root");
        return;
    }
    if !prereqs(&["python3", "openssl", "ip"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ns = Netns(format!("fe-fetch-{}", std::process::id()));
    let ok = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .unwrap()
        .success()
        && Command::new("ip")
            .args(["-n", &ns.0, "link", "set", "lo", "up"])
            .status()
            .unwrap()
            .success();
    assert!(ok, "netns {}", ns.0);
    let tls = make_tls(d);
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    write_file(&www.join("bad.txt"), "a.test\n");
    let srv = Server::files(&www, Some(&tls), &["ip", "netns", "exec", &ns.0]);
    let events = d.join("events.json");
    let cfg = config(
        d,
        &format!(
            "[[sinks]]\ntype = \"json\"\npath = \"{}\"\n[stats]\ninterval = \"1s\"\n[[feeds]]\nname = \"bad\"\nurl = \"https://127.0.0.1:{}/bad.txt\"\nca_file = \"{}\"\nrefresh = \"1s\"\n",
            events.display(),
            srv.port,
            tls.ca.display()
        ),
    );
    // [daemon] user: keep root (the test box may have no iocd user)
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[daemon]\n", "[daemon]\nuser = \"root\"\n");
    write_file(&cfg, &text);
    let err_path = d.join("stderr.txt");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_iocd"),
            "run",
            "--interface",
            "lo",
            "--config",
        ])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let ready = util::wait_until(Duration::from_secs(20), || stderr().contains("READY"));
    let kill = |c: &mut Child| {
        c.kill().ok();
        c.wait().ok();
    };
    if !ready {
        kill(&mut child);
        panic!("{}", stderr());
    }
    // no copy at start: fetched before the set was built
    assert!(
        stderr().contains("feed \"bad\": fetch updated (1 entries)"),
        "{}",
        stderr()
    );
    // unchanged rounds: one request each, no reload
    let polled = util::wait_until(Duration::from_secs(15), || srv.requests("/bad.txt") >= 4);
    assert!(polled, "{}", stderr());
    assert!(!stderr().contains("reload done"), "{}", stderr());
    write_file(&www.join("bad.txt"), "a.test\nc2.malware.example\n");
    let reloaded = util::wait_until(Duration::from_secs(15), || stderr().contains("reload done"));
    assert!(reloaded, "{}", stderr());
    assert!(
        stderr().contains("feed \"bad\": fetch updated (2 entries)"),
        "{}",
        stderr()
    );
    // a DNS query for the new indicator, on the namespace's loopback
    let q = "import socket,struct\nq=struct.pack('>HHHHHH',0x1234,0x0100,1,0,0,0)+b''.join(bytes([len(p)])+p.encode() for p in 'c2.malware.example'.split('.'))+b'\\x00'+struct.pack('>HH',1,1)\nsocket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(q,('127.0.0.1',53))\n";
    let matched = util::wait_until(Duration::from_secs(15), || {
        Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3", "-c", q])
            .status()
            .ok();
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                serde_json::from_str::<Value>(l).is_ok_and(|e| {
                    e["indicator"]["feed"] == "bad"
                        && e["observable"]["value"] == "c2.malware.example"
                })
            })
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exited = util::wait_until(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        kill(&mut child);
    }
    assert!(matched, "{}", stderr());
    assert_eq!(stderr().matches("reload done").count(), 1, "{}", stderr());
    // the final stats record counts the fetches
    let last = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|e| e["event_type"] == "stats")
        .expect("a stats record");
    let f = &last["fetches"];
    assert!(
        f["updated"].as_u64() >= Some(2) && f["unchanged"].as_u64() >= Some(3),
        "{last}"
    );
    assert_eq!(f["failed"], 0, "{last}");
    assert!(last["reloads"]["ok"].as_u64() >= Some(1), "{last}");
}

#[test]
fn proxies_come_from_the_environment_and_no_proxy_bypasses_them() {
    if !prereqs(&["python3", "openssl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = make_tls(d);
    let www = d.join("www");
    std::fs::create_dir(&www).unwrap();
    write_file(&www.join("p.txt"), "p1.test\np2.test\n");
    let srv = Server::files(&www, Some(&tls), &[]);
    let proxy_log = d.join("proxy.log");
    let mut proxy = Command::new("python3")
        .arg(util::root().join("tests/data/connect_proxy.py"))
        .arg(&proxy_log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proxy_port: u16 = line.trim().parse().unwrap();
    let proxy = Server {
        child: proxy,
        port: proxy_port,
        log: proxy_log.clone(),
    };
    let cfg = config(
        d,
        &format!(
            "[[feeds]]\nname = \"p\"\nurl = \"https://127.0.0.1:{}/p.txt\"\nca_file = \"{}\"\n",
            srv.port,
            tls.ca.display()
        ),
    );
    let run = |no_proxy: Option<&str>| {
        let mut c = util::iocd();
        c.args(["feeds", "update", "--config", cfg.to_str().unwrap()])
            .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port))
            .env_remove("https_proxy")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY");
        if let Some(n) = no_proxy {
            c.env("NO_PROXY", n);
        }
        let out = util::run_with_timeout(c, Duration::from_secs(60));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(None);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "p"), "updated (2 entries)", "{out}");
    let target = format!("127.0.0.1:{}", srv.port);
    assert_eq!(proxy.requests(&target), 1, "through the proxy");
    write_file(&www.join("p.txt"), "p1.test\np2.test\np3.test\n");
    let (code, out) = run(Some("127.0.0.1"));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(outcome(&out, "p"), "updated (3 entries)", "{out}");
    assert_eq!(
        proxy.requests(&target),
        1,
        "NO_PROXY: not through the proxy"
    );
    assert_eq!(srv.requests("/p.txt"), 2);
}
