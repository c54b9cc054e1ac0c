//! Captures of real clients (curl with OpenSSL, dig) made by `pcaps/real/capture.sh` in two
//! network namespaces: every name the client sent must be reported where it was seen.

use crate::util;

/// (capture, where, observable value shown, feed line)
const EXPECTED: &[(&str, &str, &str)] = &[
    ("real-curl-tls13-sni.pcap", "tls.sni", "ioc-test.example"),
    (
        "real-curl-tls12-sni.pcap",
        "tls.sni",
        "tls12.ioc-test.example",
    ),
    (
        "real-curl-tls13-sni-ipv6.pcap",
        "tls.sni",
        "v6.ioc-test.example",
    ),
    (
        "real-curl-tls13-sni-mtu400-2-segments.pcap",
        "tls.sni",
        "split2.ioc-test.example",
    ),
    (
        "real-curl-tls13-sni-mtu256-3-segments.pcap",
        "tls.sni",
        "split3.ioc-test.example",
    ),
    (
        "real-curl-http-host-port.pcap",
        "http.host",
        "web.ioc-test.example",
    ),
    (
        "real-dig-dns-over-tcp.pcap",
        "dns.query",
        "tcpq.ioc-test.example",
    ),
    (
        "real-dig-dns-udp.pcap",
        "dns.query",
        "udpq.ioc-test.example",
    ),
    // methods outside RFC 9110's list: Outlook Anywhere, WebDAV SEARCH, CalDAV
    (
        "real-curl-http-methods.pcap",
        "http.host",
        "rpc_in_data.ioc-test.example",
    ),
    (
        "real-curl-http-methods.pcap",
        "http.host",
        "search.ioc-test.example",
    ),
    (
        "real-curl-http-methods.pcap",
        "http.host",
        "mkcalendar.ioc-test.example",
    ),
    // the CONNECT request to the proxy, then the ClientHello sent through its tunnel
    (
        "real-curl-connect-proxy-tls.pcap",
        "http.host",
        "connect.ioc-test.example",
    ),
    (
        "real-curl-connect-proxy-tls.pcap",
        "tls.sni",
        "connect.ioc-test.example",
    ),
];

#[test]
fn every_name_a_real_client_sent_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    // the parent domain: every name above is it or a subdomain of it
    util::write_file(&feed, "ioc-test.example\n");
    for (file, at, value) in EXPECTED {
        let pcap = util::root().join("pcaps/real").join(file);
        let r = util::replay(&["--feed", feed.to_str().unwrap(), pcap.to_str().unwrap()]);
        assert_eq!(r.code(), Some(0), "{file}: {}", r.stderr());
        let found = r
            .events
            .iter()
            .any(|e| e["observable"]["where"] == *at && e["observable"]["value"] == *value);
        assert!(
            found,
            "{file}: no {at} event for {value}: {:?}\n{}",
            r.events,
            r.stderr()
        );
    }
}

/// Two pings of 3,000 bytes (IPv4, IPv6) whose last fragment was cut out: neither datagram
/// completes, yet each gives both addresses, once, at its first fragment.
#[test]
fn addresses_of_fragments_that_never_complete_are_reported_once_per_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    util::write_file(&feed, "10.77.0.1\n10.77.0.2\nfd77::1\nfd77::2\n");
    let pcap = util::root().join("pcaps/real/real-ping-fragments-incomplete.pcap");
    let r = util::replay(&["--feed", feed.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let mut got: Vec<(String, String, u64, String)> = r
        .events
        .iter()
        .map(|e| {
            assert!(e["flow"]["src_port"].is_null(), "{e}");
            (
                e["observable"]["where"].as_str().unwrap().to_string(),
                e["observable"]["value"].as_str().unwrap().to_string(),
                e["pcap"]["packet"].as_u64().unwrap(),
                e["flow"]["proto"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want = |w: &str, v: &str, n: u64, p: &str| (w.to_string(), v.to_string(), n, p.to_string());
    assert_eq!(
        got,
        vec![
            want("ip.dst", "10.77.0.1", 1, "ICMP"),
            want("ip.dst", "fd77::1", 3, "ICMPv6"),
            want("ip.src", "10.77.0.2", 1, "ICMP"),
            want("ip.src", "fd77::2", 3, "ICMPv6"),
        ],
        "{}",
        r.stderr()
    );
    assert_eq!(
        util::summary_number(&r.stderr(), "pending"),
        2,
        "{}",
        r.stderr()
    );
}
