//! The TLS server side (ServerHello JA3S/JA4S over TCP and in QUIC server Initials, certificate
//! hashes, certificate names) against
//! independent oracles: the content corpus's `truth.jsonl` (tshark 4.0's
//! `tls.handshake.certificate` hashed, its `tls.handshake.ja3s`, FoxIO's Python `ja4s`, Python
//! `cryptography`'s names) and a capture made here with OpenSSL (`pcaps/real/tls-certs.sh`,
//! expected values from tshark). Every value is listed in a feed with a decoy one hex digit
//! away: each value must be reported where it was seen, no decoy ever.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::util;

/// A near miss that must never match: a digest or fingerprint with its last hex digit changed,
/// a name with its first letter changed.
fn decoy(v: &str, kind: &str) -> String {
    let mut b = v.as_bytes().to_vec();
    let i = if kind == "domain" {
        0
    } else {
        b.iter()
            .rposition(|c| c.is_ascii_hexdigit())
            .expect("a hex digit")
    };
    b[i] = if b[i] == b'0' || b[i] == b'q' {
        b'1'
    } else if kind == "domain" {
        b'q'
    } else {
        b'0'
    };
    String::from_utf8(b).unwrap()
}

/// A certificate's CN or DNS SAN as iocd reports it (`tls.cert_name`): lowercased, a leading
/// `*.` dropped; `None` for what is not a host name (an e-mail address, an IP address, a name
/// without a dot).
fn host_name(raw: &str) -> Option<String> {
    let n = raw.strip_prefix("*.").unwrap_or(raw).to_ascii_lowercase();
    let ok = n.contains('.')
        && n.split('.').all(|l| !l.is_empty())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && n.parse::<std::net::IpAddr>().is_err();
    ok.then_some(n)
}

/// Replay `pcap` against a CSV feed of `(value, type)` rows; the (where, value) of every event,
/// and the replay's stderr (its summary).
fn replay_feed(
    dir: &Path,
    pcap: &Path,
    rows: &[(String, &str)],
) -> (BTreeSet<(String, String)>, String) {
    let mut csv = String::from("value,type\n");
    for (v, t) in rows {
        csv.push_str(&format!("{v},{t}\n"));
    }
    util::write_file(&dir.join("feed.csv"), &csv);
    let cfg = util::feeds_config(
        dir,
        "[[feeds]]\nname = \"tls\"\npath = \"feed.csv\"\nformat = \"csv\"\n\
         [feeds.csv.columns]\nvalue = \"value\"\ntype = \"type\"\n",
    );
    let r = util::replay(&["--config", cfg.to_str().unwrap(), pcap.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let seen = r
        .events
        .iter()
        .map(|e| {
            let o = &e["observable"];
            (
                o["where"].as_str().unwrap_or_default().to_owned(),
                o["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (seen, r.stderr())
}

/// Check that every `(where, value)` of `want` was reported and no decoy was.
fn check(file: &str, want: &[(String, &str, &str)], seen: &BTreeSet<(String, String)>) {
    let missed: Vec<_> = want
        .iter()
        .filter(|(v, _, at)| !seen.contains(&(at.to_string(), v.clone())))
        .collect();
    assert!(
        missed.is_empty(),
        "{file}: missed {missed:?}; seen {seen:?}"
    );
    let decoys: BTreeSet<String> = want.iter().map(|(v, t, _)| decoy(v, t)).collect();
    let hit: Vec<_> = seen.iter().filter(|(_, v)| decoys.contains(v)).collect();
    assert!(hit.is_empty(), "{file}: decoys matched {hit:?}");
}

/// Feed rows for `want` and a decoy of each.
fn rows(want: &[(String, &'static str, &str)]) -> Vec<(String, &'static str)> {
    let mut r = Vec::new();
    for (v, t, _) in want {
        r.push((v.clone(), *t));
        r.push((decoy(v, t), *t));
    }
    r
}

/// The JA4S of a QUIC ServerHello (FoxIO `technical_details/JA4S.md`) from tshark's JA3S
/// string of it (`771,4865,51-43`: legacy version, cipher, extensions in order): `q`, `13`
/// (QUIC carries TLS 1.3 only, RFC 9001 §4.2), the extension count, `00` (a TLS 1.3
/// ServerHello has no ALPN: it is in EncryptedExtensions), the cipher in hex, and the first
/// 12 hex digits of the SHA-256 of the extensions in hex, comma-joined.
fn quic_ja4s(ja3s: &str) -> String {
    use sha2::Digest as _;
    let f: Vec<&str> = ja3s.split(',').collect();
    let cipher: u16 = f[1].parse().unwrap();
    let exts: Vec<String> = f[2]
        .split('-')
        .filter(|e| !e.is_empty())
        .map(|e| format!("{:04x}", e.parse::<u16>().unwrap()))
        .collect();
    assert!(
        !exts.contains(&"0010".to_owned()),
        "ALPN in a TLS 1.3 ServerHello: {ja3s}"
    );
    let hash = if exts.is_empty() {
        "000000000000".to_owned()
    } else {
        let d = sha2::Sha256::digest(exts.join(",").as_bytes());
        d[..6].iter().map(|b| format!("{b:02x}")).collect()
    };
    format!("q13{:02}00_{cipher:04x}_{hash}", exts.len())
}

/// Captures whose TLS iocd does not reach, with the reason.
const NOT_READ: &[(&str, &str)] = &[];

#[test]
fn content_corpus_certificates_and_server_fingerprints_recall_one() {
    let Some(dir) = util::content_dir() else {
        return;
    };
    let truth = std::fs::read_to_string(dir.join("truth.jsonl")).unwrap();
    let mut checked = 0;
    for line in truth.lines() {
        let t: Value = serde_json::from_str(line).unwrap();
        let file = t["file"].as_str().unwrap();
        let mut want: Vec<(String, &'static str, &str)> = Vec::new();
        for v in util::strings(&t, "tls_cert_sha1") {
            want.push((v, "cert_sha1", "tls.cert_sha1"));
        }
        for v in util::strings(&t, "tls_cert_sha256") {
            want.push((v, "cert_sha256", "tls.cert_sha256"));
        }
        for j in t["ja3s"].as_array().unwrap() {
            let md5 = j["md5"].as_str().unwrap().to_owned();
            if j["transport"] == "tcp" {
                want.push((md5, "ja3s", "tls.ja3s"));
            } else {
                // a QUIC server's Initial: its JA3S, and its JA4S derived from tshark's JA3S
                // string (the truth has no QUIC JA4S)
                want.push((quic_ja4s(j["full"].as_str().unwrap()), "ja4s", "quic.ja4s"));
                want.push((md5, "ja3s", "quic.ja3s"));
            }
        }
        for v in util::strings(&t, "ja4s") {
            if v.starts_with('t') {
                want.push((v, "ja4s", "tls.ja4s"));
            }
        }
        let mut names = BTreeSet::new();
        for leaf in t["tls_cert_names"].as_array().unwrap() {
            for key in ["subject_cn", "san_dns"] {
                for n in leaf[key].as_array().unwrap() {
                    names.extend(host_name(n.as_str().unwrap()));
                }
            }
        }
        want.extend(names.into_iter().map(|n| (n, "domain", "tls.cert_name")));
        if want.is_empty() {
            continue;
        }
        if let Some((_, why)) = NOT_READ.iter().find(|(f, _)| *f == file) {
            util::skip(&format!("{file}: {why}"));
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (seen, _) = replay_feed(tmp.path(), &dir.join(file), &rows(&want));
        check(file, &want, &seen);
        checked += 1;
    }
    assert!(
        checked >= 6,
        "only {checked} captures with TLS server truth"
    );
}

/// `pcaps/real/real-tls12-cert-chain.pcap`: OpenSSL 3.0 s_server with a chain of three (root,
/// intermediate, leaf; MTU 600, so the Certificate message spans many TCP segments) to
/// `openssl s_client -tls1_2`, curl `--tls-max 1.2` and curl `--tlsv1.3`. Expected values from
/// tshark 4.0.17, as printed by `pcaps/real/tls-certs.sh`: `tls.handshake.certificate` through
/// `xxd -r -p | sha1sum / sha256sum`, and `tls.handshake.ja3s`.
#[test]
fn real_openssl_chain_of_three_is_hashed_and_named() {
    let pcap = util::root().join("pcaps/real/real-tls12-cert-chain.pcap");
    let s = |v: &str| v.to_owned();
    let want: Vec<(String, &'static str, &str)> = vec![
        (
            s("9201fa8582b259adcfb1bd27cc7525541f32847f"),
            "cert_sha1",
            "tls.cert_sha1",
        ),
        (
            s("9596054c7794e203fd01ec852571ddb92557a471"),
            "cert_sha1",
            "tls.cert_sha1",
        ),
        (
            s("f6722969950a4c8ccb66296a19668213c76ccc06"),
            "cert_sha1",
            "tls.cert_sha1",
        ),
        (
            s("07acc284f4ee433031a7e1dc580878fcb614ca991593d462599be7865e1ba5d4"),
            "cert_sha256",
            "tls.cert_sha256",
        ),
        (
            s("f90fe459d59cb0c8308979c1f50bb3db708c6fb01e8cc3c96230021889228ee5"),
            "cert_sha256",
            "tls.cert_sha256",
        ),
        (
            s("019536769bbef0ec773c37c44b9b75996cb14234ce58e503bb05c0b7ef3acc0b"),
            "cert_sha256",
            "tls.cert_sha256",
        ),
        // s_client and curl over TLS 1.2, then curl over TLS 1.3
        (s("e54965894d6b45ecb4323c7ea3d6c115"), "ja3s", "tls.ja3s"),
        (s("ec74a5c51106f0419184d0dd08fb05bc"), "ja3s", "tls.ja3s"),
        (s("15af977ce25de452b96affa2addb1036"), "ja3s", "tls.ja3s"),
        // the leaf's CN and DNS SANs (`*.wild...` reported as its parent)
        (s("c2.cert-test.example"), "domain", "tls.cert_name"),
        (s("wild.cert-test.example"), "domain", "tls.cert_name"),
        (s("alt.cert-test.example"), "domain", "tls.cert_name"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let (seen, summary) = replay_feed(tmp.path(), &pcap, &rows(&want));
    check("real-tls12-cert-chain.pcap", &want, &seen);
    // the CA certificates' names are not the server's
    assert!(
        !seen
            .iter()
            .any(|(at, v)| at == "tls.cert_name" && v.contains("ca")),
        "{seen:?}"
    );
    // two TLS 1.2 handshakes of three certificates each; the TLS 1.3 one hides its chain
    for count in [
        "tls_server_hellos 3",
        "tls_certificates 6",
        "tls13_certs_hidden 1",
        "tls_server_malformed 0",
        "tls_server_capped 0",
    ] {
        assert!(summary.contains(count), "{count}: {summary}");
    }
}

/// The project's earlier real captures (pcaps/real/capture.sh): curl with `--tls-max 1.2` to
/// s_server (a self-signed certificate, CN ioc-test.example, no SAN), and curl through a
/// tinyproxy `CONNECT` tunnel over TLS 1.3, whose ServerHello follows the proxy's `200`.
/// Expected values from tshark 4.0.17 (`tls.handshake.ja3s`; `tls.handshake.certificate`
/// through `xxd -r -p | sha1sum / sha256sum`).
#[test]
fn real_curl_tls12_and_connect_tunnel_server_sides() {
    let s = |v: &str| v.to_owned();
    let tls12: Vec<(String, &'static str, &str)> = vec![
        (s("e54965894d6b45ecb4323c7ea3d6c115"), "ja3s", "tls.ja3s"),
        (
            s("5dbf1c0640fe8b95d52c2be479c89d5535d69fdf"),
            "cert_sha1",
            "tls.cert_sha1",
        ),
        (
            s("1686717ee75802b21e65dca86a82e1b4b1a01a3d7b04657e0ce26fcece7cc593"),
            "cert_sha256",
            "tls.cert_sha256",
        ),
        (s("ioc-test.example"), "domain", "tls.cert_name"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let pcap = util::root().join("pcaps/real/real-curl-tls12-sni.pcap");
    let (seen, _) = replay_feed(tmp.path(), &pcap, &rows(&tls12));
    check("real-curl-tls12-sni.pcap", &tls12, &seen);

    let tunnel: Vec<(String, &'static str, &str)> =
        vec![(s("15af977ce25de452b96affa2addb1036"), "ja3s", "tls.ja3s")];
    let pcap = util::root().join("pcaps/real/real-curl-connect-proxy-tls.pcap");
    let (seen, summary) = replay_feed(tmp.path(), &pcap, &rows(&tunnel));
    check("real-curl-connect-proxy-tls.pcap", &tunnel, &seen);
    assert!(summary.contains("tls13_certs_hidden 1"), "{summary}");
}

/// `pcaps/real/real-aioquic-v1-v2-handshakes.pcap`: two whole QUIC handshakes between aioquic
/// 1.7.2 client and server (`pcaps/real/capture.sh`, `quic-handshake.py`), one in QUIC v1 and
/// one in v2. Expected values from tshark 4.0.17, which decrypts both server Initials (frames 10
/// and 21): `tls.handshake.ja3s` `15af977ce25de452b96affa2addb1036`, `tls.handshake.ja3s_full`
/// `771,4866,43-51`; the JA4S derived from that string as for the content corpus.
#[test]
fn real_aioquic_v1_and_v2_server_initials() {
    let pcap = util::root().join("pcaps/real/real-aioquic-v1-v2-handshakes.pcap");
    let ja4s = quic_ja4s("771,4866,43-51");
    assert_eq!(ja4s, "q130200_1302_a56c5b993250");
    let want: Vec<(String, &'static str, &str)> = vec![
        (
            "15af977ce25de452b96affa2addb1036".to_owned(),
            "ja3s",
            "quic.ja3s",
        ),
        (ja4s, "ja4s", "quic.ja4s"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let (seen, stderr) = replay_feed(tmp.path(), &pcap, &rows(&want));
    check("real-aioquic-v1-v2-handshakes.pcap", &want, &seen);
    // both handshakes' ServerHellos, v1 and v2, none left unread
    assert!(
        stderr.contains("server_hellos_parsed 2 ") && stderr.contains("server_decrypt_failures 0 "),
        "{stderr}"
    );
}
