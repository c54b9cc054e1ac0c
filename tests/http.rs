//! HTTP/1.x read as a stream by the real binary: every request of a connection, both
//! directions, and the `[tables] max_file_size` key.

use crate::util;

/// The public content captures: `iocd replay` reads as many requests as tshark, and the Host
/// of every one of them (not only each connection's first) is matched.
#[test]
fn every_request_of_the_content_captures_is_read_and_its_host_matched() {
    let dir = util::root().join("../shared/pcaps/content");
    if !dir.join("truth.jsonl").is_file() {
        util::skip(&format!("no content captures at {}", dir.display()));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for t in util::truth(&dir) {
        // tshark also lists, without a Host, requests it read again from retransmitted
        // segments (sv-http-filestore-5408.pcap: 12 retransmissions); every real request of
        // these captures has a Host
        let requests = t["http_requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["host"].is_string())
            .count() as u64;
        if requests == 0 {
            continue;
        }
        let name = t["file"].as_str().unwrap();
        // a feed of every request's Host (a name or an address, port stripped)
        let hosts: Vec<String> = t["http_requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["host"].as_str())
            .map(|h| {
                h.rsplit_once(':')
                    .map_or(h, |(n, _)| n)
                    .to_ascii_lowercase()
            })
            .collect();
        let feed = tmp.path().join(format!("{name}.txt"));
        util::write_file(&feed, &format!("{}\n", hosts.join("\n")));
        let cfg = util::broad_config(&feed);
        let pcap = dir.join(name);
        let r = util::replay(&[
            "-c",
            cfg.to_str().unwrap(),
            "--workers",
            "1",
            pcap.to_str().unwrap(),
        ]);
        assert_eq!(r.code(), Some(0), "{name}: {}", r.stderr());
        let err = r.stderr();
        assert_eq!(
            util::summary_number(&err, "http_requests"),
            requests,
            "{name}"
        );
        // every response tshark matched to a request is read too (sv-http-filestore-5408.pcap
        // has one more, on a stream tshark saw no request of)
        let responses = t["http_responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["for_uri"].is_string())
            .count() as u64;
        assert!(
            util::summary_number(&err, "http_responses") >= responses,
            "{name}"
        );
        for h in &hosts {
            assert!(
                r.events
                    .iter()
                    .any(|e| e["observable"]["where"] == "http.host"
                        && e["observable"]["value"] == h.as_str()),
                "{name}: {h}"
            );
        }
    }
}

/// curl, wget and pipelined requests (pcaps/real/http.sh): 13 requests, 13 responses, on 5
/// connections that stay read to their end (none bypassed).
#[test]
fn real_keep_alive_and_pipelined_connections_are_read_to_their_end() {
    let pcap = util::root().join("pcaps/real/real-http-keepalive-pipelining-upload.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("f.txt");
    util::write_file(&feed, "10.78.0.1\n");
    let r = util::replay(&["--feed", feed.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let err = r.stderr();
    assert_eq!(util::summary_number(&err, "http_requests"), 13);
    assert_eq!(util::summary_number(&err, "http_responses"), 13);
    assert_eq!(util::summary_number(&err, "http_framing_errors"), 0);
    assert_eq!(util::summary_number(&err, "bypassed"), 0);
}

#[test]
fn max_file_size_over_its_ceiling_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("f.txt");
    util::write_file(&feed, "example.com\n");
    let cfg = tmp.path().join("c.toml");
    util::write_file(
        &cfg,
        &format!(
            "[tables]\nmax_file_size = \"5GiB\"\n[[feeds]]\nname = \"f\"\npath = \"{}\"\n",
            feed.display()
        ),
    );
    let r = util::replay(&["-c", cfg.to_str().unwrap(), &util::demo_pcap()]);
    assert_eq!(r.code(), Some(78), "{}", r.stderr());
    assert!(r.stderr().contains("max_file_size"), "{}", r.stderr());
}
