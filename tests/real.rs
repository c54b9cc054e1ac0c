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
