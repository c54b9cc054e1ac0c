//! Replay inputs (issue 6): formats, compression, stdin and FIFOs, directories, damage and exit
//! statuses, `--bpf`, `--merge` and `--speed`. The variants in `pcaps/input/` (see
//! pcaps/README.md) must give the same events as the captures they were made from.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util;
use crate::util::testkit::dns::query as dns_query;
use crate::util::testkit::wire::{eth_ipv4, write_pcap, PROTO_UDP};

/// Raw IP (LINKTYPE_RAW), curl's ClientHello in 2 segments, SNI rawip.ioc-test.example.
const RAW: &str = "pcaps/real/real-curl-tls13-sni-rawip-mtu400.pcap";
/// Ethernet with a 16384-byte snaplen, a DNS query for www.xn--bcher-kva.ioc-test.example.
const IDN: &str = "pcaps/real/real-dig-dns-idn-snaplen16384.pcap";
const DEMO: &str = "pcaps/demo.pcap";

fn p(rel: &str) -> String {
    util::root().join(rel).display().to_string()
}

/// A feed matching demo.pcap (the demo feeds) and the raw-IP and IDN captures (their names,
/// and the raw-IP server's address: tshark shows them in the captures).
fn feed(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for f in ["config/feeds/demo-ips.txt", "config/feeds/demo-domains.txt"] {
        text.push_str(&std::fs::read_to_string(util::root().join(f)).unwrap());
        text.push('\n');
    }
    text.push_str("rawip.ioc-test.example\n10.77.1.1\nwww.xn--bcher-kva.ioc-test.example\n");
    let path = dir.join("feed.txt");
    util::write_file(&path, &text);
    path
}

fn run(feed: &Path, extra: &[&str]) -> util::Replay {
    let mut a = vec!["--workers", "2", "--feed", feed.to_str().unwrap()];
    a.extend_from_slice(extra);
    util::replay(&a)
}

/// Events as sorted JSON lines without `pcap.file` (and without all of `pcap` when packet
/// numbers differ from the original's).
fn keys(events: &[Value], drop_packet_numbers: bool) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let o = e.as_object_mut().unwrap();
            if drop_packet_numbers {
                o.remove("pcap");
            } else {
                o["pcap"].as_object_mut().unwrap().remove("file");
            }
            e.to_string()
        })
        .collect();
    v.sort();
    v
}

/// `packets N` of each `  file NAME: packets N ...` line of the summary.
fn file_packets(stderr: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for l in stderr.lines() {
        if let Some(rest) = l.strip_prefix("  file ") {
            if let Some((name, tail)) = rest.split_once(": packets ") {
                let n = tail.split_whitespace().next().unwrap().parse().unwrap();
                m.insert(name.to_owned(), n);
            }
        }
    }
    m
}

#[test]
fn every_variant_gives_the_events_of_the_captures_it_was_made_from() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    // (variant, originals, packet numbers differ)
    let cases: &[(&str, &[&str], bool)] = &[
        ("pcaps/input/demo-nsec.pcap", &[DEMO], false),
        ("pcaps/input/demo-be.pcap", &[DEMO], false),
        ("pcaps/input/demo.pcap.zst", &[DEMO], false),
        ("pcaps/input/demo.pcapng.gz", &[DEMO], false),
        ("pcaps/input/demo-2members.pcap.gz", &[DEMO], false),
        ("pcaps/input/rawip-be-nsec-tsoffset.pcapng", &[RAW], false),
        ("pcaps/input/eth-rawip.pcapng", &[DEMO, RAW], true),
        ("pcaps/input/snaplens.pcapng", &[DEMO, IDN], true),
        ("pcaps/input/two-sections.pcapng", &[DEMO, RAW], true),
        ("pcaps/input/rotated", &[DEMO], true),
        ("pcaps/input/rawip-ppp.pcap", &[RAW], false),
        ("pcaps/input/rawip-ppp_hdlc.pcap", &[RAW], false),
        ("pcaps/input/rawip-ppp_with_dir.pcap", &[RAW], false),
        ("pcaps/input/rawip-c_hdlc.pcap", &[RAW], false),
    ];
    for (variant, originals, renumbered) in cases {
        let orig_args: Vec<String> = originals.iter().map(|o| p(o)).collect();
        let orig = run(
            &feed,
            &orig_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(orig.code(), Some(0), "{}", orig.stderr());
        for o in &orig_args {
            assert!(
                orig.events.iter().any(|e| e["pcap"]["file"] == *o),
                "the feed matches nothing in {o}"
            );
        }
        let var = run(&feed, &[&p(variant)]);
        assert_eq!(var.code(), Some(0), "{variant}: {}", var.stderr());
        assert_eq!(
            keys(&var.events, *renumbered),
            keys(&orig.events, *renumbered),
            "{variant}"
        );
        let want: u64 = file_packets(&orig.stderr()).values().sum();
        let got: u64 = file_packets(&var.stderr()).values().sum();
        assert_eq!(got, want, "{variant}: packets\n{}", var.stderr());
    }
}

#[test]
fn every_corpus_capture_reads_tsharks_packet_count_and_damage_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "canary.invalid\n");
    let Some(corpus) = util::corpus_dir() else {
        return;
    };
    let truth = util::truth(&corpus);
    let mut args = vec![];
    for t in &truth {
        args.push(corpus.join(t["file"].as_str().unwrap()));
    }
    for (t, path) in truth.iter().zip(&args) {
        let r = run(&feed, &["-o", "/dev/null", path.to_str().unwrap()]);
        let damaged = !t["tshark_errors"].as_array().unwrap().is_empty();
        let name = path.display().to_string();
        assert_eq!(
            r.code(),
            Some(if damaged { 3 } else { 0 }),
            "{name}\n{}",
            r.stderr()
        );
        assert_eq!(
            file_packets(&r.stderr()).get(&name).copied(),
            t["packets"].as_u64(),
            "{name}\n{}",
            r.stderr()
        );
        if damaged {
            assert!(
                r.stderr().contains("damaged at byte"),
                "{name}: {}",
                r.stderr()
            );
        }
    }
}

/// Byte offsets where each record (pcap) or block (pcapng, little-endian) ends.
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let ng = bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
    let mut off = if ng { 0 } else { 24 };
    ends.push(off);
    while off < bytes.len() {
        let len = if ng {
            u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize
        } else {
            16 + u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize
        };
        off += len;
        ends.push(off);
    }
    ends
}

#[test]
fn a_capture_cut_at_every_record_boundary_and_inside_every_record_replays_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let mut ng = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(util::root().join("pcaps/input/demo.pcapng.gz")).unwrap(),
    )
    .read_to_end(&mut ng)
    .unwrap();
    let pcap = std::fs::read(util::root().join(DEMO)).unwrap();
    let full = run(&feed, &[&p(DEMO)]);
    assert!(full.events.len() >= 4);
    for (name, bytes) in [("cut.pcap", pcap), ("cut.pcapng", ng)] {
        let ends = record_ends(&bytes);
        let path = dir.path().join(name);
        // packets before the cut → the cut
        let mut cuts: Vec<(u64, usize, bool)> = Vec::new();
        for (k, w) in ends.windows(2).enumerate() {
            let k = k as u64 + if name.ends_with("ng") { 0 } else { 1 };
            cuts.push((k.saturating_sub(1), w[0], false));
            cuts.push((k.saturating_sub(1), w[0] + (w[1] - w[0]) / 2, true));
        }
        // pcapng: the section header and the interface block come before packet 1
        // below 4 bytes nothing says it is a capture (an empty file is "not a capture", exit 1)
        for (packets, cut, mid) in cuts.into_iter().filter(|c| c.1 >= 4) {
            let packets = if name.ends_with("ng") {
                // Enhanced Packet Blocks (type 6) wholly before the cut
                ends.windows(2)
                    .filter(|w| w[1] <= cut && bytes[w[0]..w[0] + 4] == 6u32.to_le_bytes())
                    .count() as u64
            } else {
                packets
            };
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let r = run(&feed, &[path.to_str().unwrap()]);
            let want_code = if mid { 3 } else { 0 };
            assert_eq!(
                r.code(),
                Some(want_code),
                "{name} cut at {cut}\n{}",
                r.stderr()
            );
            let got = file_packets(&r.stderr())
                .get(path.to_str().unwrap())
                .copied();
            assert_eq!(got, Some(packets), "{name} cut at {cut}\n{}", r.stderr());
            let prefix: Vec<Value> = full
                .events
                .iter()
                .filter(|e| e["pcap"]["packet"].as_u64().unwrap() <= packets)
                .cloned()
                .collect();
            assert_eq!(
                keys(&r.events, false),
                keys(&prefix, false),
                "{name} cut at {cut}"
            );
            if mid {
                assert!(
                    r.stderr().contains(&format!("damaged at byte {}", {
                        let before = ends.iter().filter(|&&e| e <= cut).max().unwrap();
                        before
                    })),
                    "{name} cut at {cut}: {}",
                    r.stderr()
                );
            }
        }
    }
}

#[test]
fn garbage_in_the_middle_cut_headers_and_unreadable_inputs_set_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let demo = std::fs::read(util::root().join(DEMO)).unwrap();
    let ends = record_ends(&demo);
    // garbage over the header of record 6: packets 1-5 replayed, then demo.pcap in full
    let mut g = demo.clone();
    g[ends[5]..ends[5] + 16].fill(0xff);
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, &g).unwrap();
    let r = run(&feed, &[garbage.to_str().unwrap(), &p(DEMO)]);
    assert_eq!(r.code(), Some(3), "{}", r.stderr());
    let s = r.stderr();
    assert!(
        s.contains(&format!("garbage.pcap: damaged at byte {}", ends[5])),
        "{s}"
    );
    assert_eq!(
        file_packets(&s).get(garbage.to_str().unwrap()),
        Some(&5),
        "{s}"
    );
    assert!(r.events.iter().any(|e| e["pcap"]["file"] == p(DEMO)));
    // a file cut inside its header is damaged, not unreadable
    let cut = dir.path().join("cut-header.pcap");
    std::fs::write(&cut, &demo[..10]).unwrap();
    let r = run(&feed, &[cut.to_str().unwrap()]);
    assert_eq!(r.code(), Some(3), "{}", r.stderr());
    assert!(r.stderr().contains("ends inside its pcap header"));
    // damaged and unreadable: 1 wins
    let missing = dir.path().join("missing.pcap");
    let r = run(&feed, &[cut.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
}

fn spawn_with_stdin(args: &[&str]) -> std::process::Child {
    util::iocd()
        .arg("replay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn standard_input_compressed_or_not_replays_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let want = keys(&run(&feed, &[&p(DEMO)]).events, false);
    for f in [DEMO, "pcaps/input/demo.pcap.zst"] {
        let bytes = std::fs::read(util::root().join(f)).unwrap();
        let mut child = spawn_with_stdin(&["--feed", feed.to_str().unwrap(), "-"]);
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&bytes));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(events.iter().all(|e| e["pcap"]["file"] == "-"));
        assert_eq!(keys(&events, false), want, "{f}");
    }
}

#[test]
fn a_fifo_delivers_each_packet_before_the_writer_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let fifo = dir.path().join("live.pcap");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let demo = std::fs::read(util::root().join(DEMO)).unwrap();
    let ends = record_ends(&demo);
    let mut child = util::iocd()
        .args(["replay", "--feed", feed.to_str().unwrap()])
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    // the header and packets 1-15 (15: the DNS query for c2.malware.example, the first packet
    // the demo feeds match), then nothing
    w.write_all(&demo[..ends[15]]).unwrap();
    w.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    // finish the capture whatever happened, so the child ends
    w.write_all(&demo[ends[15]..]).unwrap();
    drop(w);
    let first = first.expect("no event while the FIFO was still open");
    let e: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(e["pcap"]["packet"], 15);
    assert_eq!(e["observable"]["where"], "dns.query");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn directories_skip_non_captures_and_recurse_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let root = dir.path().join("cases");
    std::fs::create_dir_all(root.join("b-sub")).unwrap();
    let rotated = util::root().join("pcaps/input/rotated");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&rotated)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    parts.sort();
    // a-0, a-1 | b-sub/0, b-sub/1 | c-3: name order gives the capture order
    std::fs::copy(&parts[0], root.join("a-0.pcap")).unwrap();
    std::fs::copy(&parts[1], root.join("a-1.pcap")).unwrap();
    std::fs::copy(&parts[2], root.join("b-sub/2.pcap")).unwrap();
    std::fs::copy(&parts[3], root.join("c-3")).unwrap();
    util::write_file(&root.join("b-sub/readme.md"), "# notes\n");
    let root_s = root.to_str().unwrap();
    let r = run(&feed, &[root_s]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let n: u64 = file_packets(&r.stderr()).values().sum();
    // without -R: a-0, a-1 and c-3 (25 + 25 + 24 packets; rotated/ is demo.pcap by 25)
    assert_eq!(n, 74, "{}", r.stderr());
    assert!(r.stderr().contains("use --recursive"), "{}", r.stderr());
    let r = run(&feed, &["-R", root_s]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let s = r.stderr();
    assert!(s.contains("readme.md: skipped: not a pcap"), "{s}");
    let order: Vec<String> = file_packets(&s).into_keys().collect();
    assert_eq!(order.len(), 4, "{s}");
    let full = run(&feed, &[&p(DEMO)]);
    assert_eq!(keys(&r.events, true), keys(&full.events, true));
}

#[test]
fn bpf_keeps_dns_drops_tls_and_a_bad_expression_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let feed = feed(dir.path());
    let all = run(&feed, &[&p(DEMO)]);
    assert!(all
        .events
        .iter()
        .any(|e| e["observable"]["where"] == "tls.sni"));
    let r = run(&feed, &["--bpf", "udp port 53", &p(DEMO)]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let wheres: Vec<&str> = r
        .events
        .iter()
        .map(|e| e["observable"]["where"].as_str().unwrap())
        .collect();
    assert!(wheres.contains(&"dns.query"), "{wheres:?}");
    assert!(!wheres.contains(&"tls.sni"), "{wheres:?}");
    assert!(r.events.iter().all(|e| e["flow"]["proto"] == "UDP"
        && e["observable"]["where"]
            .as_str()
            .unwrap()
            .starts_with("dns.")));
    // demo.pcap: 6 DNS packets of 99 (tshark -Y 'udp.port == 53')
    assert!(r.stderr().contains("filtered 93"), "{}", r.stderr());
    // raw IP: compiled for its own link type
    let r = run(&feed, &["--bpf", "tcp port 4433", &p(RAW)]);
    assert!(!r.events.is_empty(), "{}", r.stderr());
    let r = run(&feed, &["--bpf", "udp port", &p(DEMO)]);
    assert_eq!(r.code(), Some(2), "{}", r.stderr());
    assert!(r.stderr().contains("syntax error"), "{}", r.stderr());
}

#[test]
fn merge_interleaves_inputs_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "merge.example\n");
    let t0 = 1_700_000_000_000_000u64;
    let make = |name: &str, offset: u64, client: u8| {
        let path = dir.path().join(name);
        let frames: Vec<(u64, Vec<u8>)> = (0..3u64)
            .map(|i| {
                let q = dns_query(i as u16, &format!("{name}-{i}.merge.example"));
                let f = eth_ipv4(
                    [10, 0, 0, client],
                    [10, 0, 0, 2],
                    PROTO_UDP,
                    1000 + i as u16,
                    53,
                    &q,
                );
                (t0 + offset + i * 2_000_000, f)
            })
            .collect();
        write_pcap(&path, 1, &frames);
        path
    };
    let a = make("a", 0, 1);
    let b = make("b", 1_000_000, 3);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let order = |r: &util::Replay| -> Vec<(String, u64)> {
        r.events
            .iter()
            .map(|e| {
                let f = e["pcap"]["file"].as_str().unwrap();
                (
                    Path::new(f).file_name().unwrap().to_string_lossy().into(),
                    e["pcap"]["packet"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let seq = util::replay(&["--workers", "1", "--feed", feed.to_str().unwrap(), b, a]);
    assert_eq!(
        order(&seq),
        [("b", 1), ("b", 2), ("b", 3), ("a", 1), ("a", 2), ("a", 3)]
            .map(|(f, n)| (f.to_string(), n))
    );
    let merged = util::replay(&[
        "--workers",
        "1",
        "--merge",
        "--feed",
        feed.to_str().unwrap(),
        b,
        a,
    ]);
    assert_eq!(merged.code(), Some(0), "{}", merged.stderr());
    assert_eq!(
        order(&merged),
        [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
            .map(|(f, n)| (f.to_string(), n))
    );
}

/// Byte positions the progress bar drew (`{bytes}/{total_bytes}`), in order, repeats dropped.
fn bar_positions(screen: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for frame in screen.split(['\r', '\n']) {
        let Some((left, _)) = frame.split_once(" KiB (") else {
            continue;
        };
        // "[00:00:01] ███░░░ 12.18 KiB/25.33": the number and unit before the slash
        let Some((done, _)) = left.rsplit_once('/') else {
            continue;
        };
        let words: Vec<&str> = done.split_whitespace().collect();
        if words.len() < 2 {
            continue;
        }
        let done = words[words.len() - 2..].join(" ");
        if out.last() != Some(&done) {
            out.push(done);
        }
    }
    out
}

#[test]
fn a_paced_replay_moves_the_progress_bar_as_its_packets_leave() {
    // The bar is drawn only on a terminal: `script` gives the replay one.
    if !util::have("script") {
        util::skip("script (util-linux) not installed: no terminal for the progress bar");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let typescript = dir.path().join("typescript");
    let cmd = format!(
        "'{}' replay --speed 2 --feed '{}' -o /dev/null '{}'",
        env!("CARGO_BIN_EXE_iocd"),
        util::root().join("config/feeds/demo-domains.txt").display(),
        p(DEMO)
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &cmd])
        .arg(&typescript)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    let pos = bar_positions(&screen);
    // demo.pcap (25 KiB) sits in the read buffer whole from the first read: a bar following
    // the bytes read stands at 0 for the 1.3 s of the paced replay, then jumps to the end.
    // Following the packets handed on, it moves through the capture's 9 conversations.
    println!("progress bar positions: {pos:?}");
    assert!(pos.len() >= 10, "{pos:?}\n{screen}");
    assert_eq!(pos.last().map(String::as_str), Some("25.33 KiB"), "{pos:?}");
}

#[test]
fn speed_replays_at_capture_pace() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.txt");
    util::write_file(&feed, "10.0.0.2\n");
    let path = dir.path().join("slow.pcap");
    let frames: Vec<(u64, Vec<u8>)> = (0..4u64)
        .map(|i| {
            (
                1_700_000_000_000_000 + i * 200_000,
                eth_ipv4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP, 1, 2, b"x"),
            )
        })
        .collect();
    write_pcap(&path, 1, &frames);
    let f = feed.to_str().unwrap();
    let path = path.to_str().unwrap();
    // span 0.6 s: --speed 2 takes ≥ 0.3 s, --realtime ≥ 0.6 s
    for (args, at_least) in [(vec!["--speed", "2"], 0.3), (vec!["--realtime"], 0.6)] {
        let mut a = vec!["--feed", f, path];
        a.extend(args.iter().copied());
        let t = Instant::now();
        let r = util::replay(&a);
        let took = t.elapsed().as_secs_f64();
        assert_eq!(r.code(), Some(0), "{}", r.stderr());
        assert!(took >= at_least, "{args:?} took {took:.3} s");
        assert_eq!(r.events.len(), 1);
    }
    let r = util::replay(&["--feed", f, "--speed", "0", path]);
    assert_eq!(r.code(), Some(2));
}

#[test]
fn replay_help_documents_the_exit_statuses() {
    let out = util::iocd().args(["replay", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for s in [
        "0 ok",
        "1 an input could not be opened or read at all",
        "2 usage error",
        "3 the replay completed but some input was damaged",
        "78 bad configuration",
        "--merge",
        "--bpf",
        "--speed",
        "--recursive",
    ] {
        assert!(help.contains(s), "--help lacks {s:?}: {help}");
    }
}
