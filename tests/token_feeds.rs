//! Feeds of the indicator types beyond addresses and names — URLs, file hashes, e-mail
//! addresses, JA3/JA4 fingerprints, certificate hashes — in every format iocd reads, loaded by
//! the real binary: `iocd check` counts them by type, `iocd lookup` answers for each (issue 19
//! item 3, issue 18 items 1 and 4). Wire matching of these kinds is the protocol parsers'
//! (tests beside them); here loading and lookup are proven end to end.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, feeds_config as config, write_file};

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const SHA1: &str = "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9";
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const JA3: &str = "e7d705a3286e19ea42f587b344ee6865";
const JA4: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";

/// `value` with its last hex digit changed: a near miss that must never match.
fn decoy(value: &str) -> String {
    let mut s = value.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// One feed file of each format, every one holding new-type entries, and the config naming them.
fn every_format(dir: &Path) -> std::path::PathBuf {
    write_file(
        &dir.join("plain.txt"),
        &format!(
            "# shapes: hashes, an address, URLs (one https), a Maltrail host/path\n\
             {MD5}\n{SHA1}\n{SHA256}\nbilling@evil-invoices.example\n\
             http://dl.evil.example/load/x.bin\nhttps://cdn.evil.example/x.exe\n\
             loader.example/bins/mips\nevil.example\n"
        ),
    );
    write_file(&dir.join("ja3.txt"), &format!("{JA3}\n"));
    write_file(
        &dir.join("urlhaus.csv"),
        "# id,dateadded,url,url_status\n\
         \"1\",\"2024-05-01 12:00:00\",\"http://203.0.113.5:8088/Mozi.a\",\"online\"\n\
         \"2\",\"2024-05-01 12:00:00\",\"https://Update-Check.example/files/a.zip\",\"online\"\n",
    );
    write_file(
        &dir.join("intel.dat"),
        &format!(
            "#fields\tindicator\tindicator_type\tmeta.source\n\
             evil.example/gate.php\tIntel::URL\tx\n{SHA256}\tIntel::FILE_HASH\tx\n\
             {SHA1}\tIntel::CERT_HASH\tx\nceo@evil.example\tIntel::EMAIL\tx\n"
        ),
    );
    let stix = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [{
        "type": "indicator", "id": "indicator--1", "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z",
        "pattern": format!("[file:hashes.'SHA-256' = '{SHA256}'] OR \
                            [x509-certificate:hashes.'SHA-1' = '{SHA1}'] OR \
                            [url:value = 'http://evil.example/a'] OR \
                            [email-addr:value = 'ceo@evil.example']")
    }]});
    write_file(&dir.join("bundle.json"), &stix.to_string());
    let attr = |t: &str, v: &str| serde_json::json!({"type": t, "value": v, "to_ids": true});
    let misp = serde_json::json!({"Event": {"info": "test", "Attribute": [
        attr("md5", MD5), attr("filename|sha256", &format!("a.exe|{SHA256}")),
        attr("x509-fingerprint-sha256", SHA256), attr("ja3-fingerprint-md5", JA3),
        attr("email-dst", "victim@bank.example"), attr("url", "http://evil.example/b"),
        attr("jarm-fingerprint", "2ad2ad0002ad2ad00042d42d00000069d641f34fe76acdc05c40262f8815e5")
    ]}});
    write_file(&dir.join("event.json"), &misp.to_string());
    write_file(
        &dir.join("misp.csv"),
        &format!(
            "uuid,event_id,category,type,value,comment,to_ids\n\
             \"u1\",\"1\",\"Payload delivery\",\"sha1\",\"{SHA1}\",\"\",\"1\"\n\
             \"u2\",\"1\",\"Network activity\",\"x509-fingerprint-sha1\",\"{SHA1}\",\"\",\"1\"\n\
             \"u3\",\"1\",\"Payload delivery\",\"email-src\",\"a@evil.example\",\"\",\"1\"\n"
        ),
    );
    write_file(
        &dir.join("empty-hashes.json"),
        &format!(
            r#"{{"name": "empty-hashes", "type": "string", "list": ["{MD5}", "{SHA256}"],
                "description": "hashes of empty files", "version": 1}}"#
        ),
    );
    config(
        dir,
        "[[feeds]]\nname = \"plain\"\npath = \"plain.txt\"\n\
         [[feeds]]\nname = \"ja3\"\npath = \"ja3.txt\"\ntype = \"ja3\"\n\
         [[feeds]]\nname = \"urlhaus\"\npath = \"urlhaus.csv\"\nformat = \"csv\"\n\
         [feeds.csv.columns]\nvalue = \"url\"\n\
         [[feeds]]\nname = \"zeek\"\npath = \"intel.dat\"\nformat = \"zeek\"\n\
         [[feeds]]\nname = \"stix\"\npath = \"bundle.json\"\nformat = \"stix\"\n\
         [[feeds]]\nname = \"misp\"\npath = \"event.json\"\nformat = \"misp\"\n\
         [[feeds]]\nname = \"misp-csv\"\npath = \"misp.csv\"\nformat = \"misp_csv\"\n\
         [[feeds]]\nname = \"empty-hashes\"\npath = \"empty-hashes.json\"\n\
         format = \"misp_warninglist\"\naction = \"flag\"\n",
    )
}

#[test]
fn check_counts_the_new_types_of_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = every_format(dir.path());
    let (code, out, err) = util::run_iocd(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("8 of 8 feeds usable"), "{out}");
    let has = |feed: &str, part: &str| {
        let line = util::check_line(&out, feed);
        assert!(line.contains(part), "{feed}: {part:?} not in {line}");
    };
    has(
        "plain",
        "8 indicators: ipv4 0, ipv6 0, cidr 0, domain 1, md5 1, sha1 1, sha256 1, email 1, url 3; 0 duplicates, 0 bad",
    );
    has("plain", "1 https URLs (seen in clear only through a proxy");
    has(
        "ja3",
        "1 indicators: ipv4 0, ipv6 0, cidr 0, domain 0, ja3 1;",
    );
    has("urlhaus", "domain 0, url 2;");
    has("urlhaus", "1 https URLs");
    has("zeek", "domain 0, cert_sha1 1, sha256 1, email 1, url 1;");
    has(
        "stix",
        "domain 0, cert_sha1 1, sha256 1, email 1, url 1; 0 duplicates, 0 bad",
    );
    has(
        "misp",
        "domain 0, ja3 1, cert_sha256 1, md5 1, sha256 1, email 1, url 1;",
    );
    has("misp-csv", "domain 0, cert_sha1 1, sha1 1, email 1;");
    has("empty-hashes", "domain 0, md5 1, sha256 1;");
    assert!(
        out.contains("skipped 1: misp type jarm-fingerprint (JARM needs active scanning)"),
        "{out}"
    );
}

#[test]
fn url_https_host_loads_https_urls_as_their_hosts() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("urls.txt"),
        "https://cdn.evil.example/x.exe\nhttp://dl.evil.example/a\n",
    );
    let cfg = config(
        dir.path(),
        "[[feeds]]\nname = \"urls\"\npath = \"urls.txt\"\nurl_https = \"host\"\n",
    );
    let c = cfg.to_str().unwrap();
    let (code, out, _) = util::run_iocd(&["check", "--config", c]);
    assert_eq!(code, Some(0), "{out}");
    let line = util::check_line(&out, "urls");
    assert!(
        line.contains("domain 1, url 1;") && line.contains("1 https URLs (loaded as their hosts"),
        "{line}"
    );
    // the host is exact: its subdomains do not match, the host itself does (as an SNI would)
    let (code, out, _) = util::run_iocd(&["lookup", "--config", c, "cdn.evil.example"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("domain cdn.evil.example (exact)"), "{out}");
    let (code, out, _) = util::run_iocd(&["lookup", "--config", c, "a.cdn.evil.example"]);
    assert_eq!(
        (code, out.trim()),
        (Some(1), "a.cdn.evil.example: no match")
    );
    // an invalid url_https names the key and the values
    write_file(
        &cfg,
        "sensor = \"t\"\n[[feeds]]\npath = \"urls.txt\"\nurl_https = \"sni\"\n",
    );
    let (code, _, err) = util::run_iocd(&["check", "--config", c]);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("url_https") && err.contains("host"), "{err}");
}

/// (type, value, feed) of a matching indicator.
type Match = (String, String, String);

/// `lookup --json` of each value: (verdict, [(type, value, feed)]).
fn lookups(cfg: &Path, values: &[&str]) -> Vec<(String, Vec<Match>)> {
    let mut args = vec!["lookup", "--json", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(values);
    let (_, out, err) = util::run_iocd(&args);
    let answers: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{err}")))
        .collect();
    assert_eq!(answers.len(), values.len(), "{out}{err}");
    answers
        .iter()
        .map(|a| {
            let mut m: Vec<Match> = a["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["type"].as_str().unwrap_or_default().to_owned(),
                        m["value"].as_str().unwrap_or_default().to_owned(),
                        m["feed"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            m.sort();
            (a["verdict"].as_str().unwrap().to_owned(), m)
        })
        .collect()
}

fn m(t: &str, v: &str, feed: &str) -> Match {
    (t.into(), v.into(), feed.into())
}

#[test]
fn lookup_answers_for_urls_hashes_fingerprints_and_addresses() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("urls.txt"),
        "http://dl.evil.example/load/\nhttp://Evil.Example:80/a/../gate.php?id=1#x\n",
    );
    write_file(&dir.path().join("ja3.txt"), &format!("{JA3}\n"));
    write_file(
        &dir.path().join("hashes.txt"),
        &format!("{JA3}\n{SHA1}\nbilling@evil-invoices.example\n"),
    );
    write_file(&dir.path().join("certs.txt"), &format!("{SHA1}\n"));
    write_file(&dir.path().join("ja4.txt"), &format!("{JA4}\n"));
    write_file(&dir.path().join("names.txt"), "evil-invoices.example\n");
    let cfg = config(
        dir.path(),
        "[[feeds]]\nname = \"urls\"\npath = \"urls.txt\"\nmatch = \"prefix\"\n\
         [[feeds]]\nname = \"ja3\"\npath = \"ja3.txt\"\ntype = \"ja3\"\n\
         [[feeds]]\nname = \"hashes\"\npath = \"hashes.txt\"\n\
         [[feeds]]\nname = \"certs\"\npath = \"certs.txt\"\ntype = \"cert_sha1\"\n\
         [[feeds]]\nname = \"ja4\"\npath = \"ja4.txt\"\ntype = \"ja4\"\n\
         [[feeds]]\nname = \"names\"\npath = \"names.txt\"\n",
    );
    let colons: String = SHA1
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let got = lookups(
        &cfg,
        &[
            "http://dl.evil.example/load/stage2.bin",
            "dl.evil.example/loader",
            "https://evil.example/gate.php?id=1",
            "http://evil.example/gate.php?id=2",
            JA3,
            &decoy(JA3),
            &colons,
            JA4,
            &decoy(JA4),
            "Billing@Evil-Invoices.example",
        ],
    );
    let none = || ("none".to_owned(), vec![]);
    assert_eq!(
        got,
        [
            // a prefix entry covers the URLs below its path...
            (
                "alert".into(),
                vec![m("url", "dl.evil.example/load/", "urls")]
            ),
            // ...on a `/` boundary only
            none(),
            // the scheme is not part of the key; the query is
            (
                "alert".into(),
                vec![m("url", "evil.example/gate.php?id=1", "urls")]
            ),
            none(),
            // 32 hex digits: tried as MD5, JA3 and JA3S; each hit says which it is
            (
                "alert".into(),
                vec![m("md5", JA3, "hashes"), m("ja3", JA3, "ja3")]
            ),
            none(),
            // 40 hex digits (a colon-separated fingerprint too): file and certificate SHA-1
            (
                "alert".into(),
                vec![m("sha1", SHA1, "hashes"), m("cert_sha1", SHA1, "certs")]
            ),
            ("alert".into(), vec![m("ja4", JA4, "ja4")]),
            none(),
            // an address and its domain, as the wire checks both
            (
                "alert".into(),
                vec![
                    m("email", "billing@evil-invoices.example", "hashes"),
                    m("domain", "evil-invoices.example", "names")
                ]
            ),
        ]
        .map(|(v, mut ms): (String, Vec<_>)| {
            ms.sort();
            (v, ms)
        })
        .to_vec(),
        "{got:#?}"
    );
}

#[test]
fn allowlists_and_validity_apply_to_the_new_types() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        &dir.path().join("bad.csv"),
        &format!("value,expires\n{SHA256},\n{MD5},2020-01-01\nhttp://cdn.example/a.js,\n"),
    );
    write_file(
        &dir.path().join("allow.txt"),
        &format!("{SHA256}\nhttp://cdn.example/a.js\n"),
    );
    let cfg = config(
        dir.path(),
        "[[feeds]]\nname = \"bad\"\npath = \"bad.csv\"\nformat = \"csv\"\nseverity = \"high\"\n\
         [feeds.csv.columns]\nvalue = \"value\"\nvalid_until = \"expires\"\n\
         [[feeds]]\nname = \"allow\"\npath = \"allow.txt\"\naction = \"allow\"\n",
    );
    let got = lookups(&cfg, &[SHA256, MD5, "http://cdn.example/a.js"]);
    let verdicts: Vec<&str> = got.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(
        verdicts,
        ["suppressed", "inactive", "suppressed"],
        "{got:?}"
    );
}

#[test]
fn the_shipped_sslbl_example_loads_certificate_and_ja3_lists() {
    let dir = tempfile::tempdir().unwrap();
    // the published shapes (see src/indicators/formats/csv.rs tests), good entries only
    let certs = dir.path().join("sslblacklist.csv");
    write_file(
        &certs,
        &format!(
            "################################################################\n\
             # abuse.ch SSLBL SSL Certificate Blacklist (SHA1 Fingerprints) #\n\
             ################################################################\n\
             #\n# Listingdate,SHA1,Listingreason\n\
             2024-04-30 10:26:52,{SHA1},AsyncRAT C&C\n\
             2024-04-29 07:12:03,{},QuasarRAT C&C\n",
            decoy(SHA1)
        ),
    );
    let ja3 = dir.path().join("ja3_fingerprints.csv");
    write_file(
        &ja3,
        &format!(
            "# abuse.ch SSLBL JA3 Fingerprint Blacklist (CSV)\n#\n\
             # ja3_md5,Firstseen,Lastseen,Listingreason\n\
             {JA3},2019-07-09 12:03:01,2021-11-17 11:32:12,TrickBot\n"
        ),
    );
    let example = std::fs::read_to_string(util::root().join("config/examples/sslbl.toml"))
        .unwrap()
        .replace(
            "/var/lib/iocd/feeds/sslblacklist.csv",
            certs.to_str().unwrap(),
        )
        .replace(
            "/var/lib/iocd/feeds/ja3_fingerprints.csv",
            ja3.to_str().unwrap(),
        );
    let cfg = dir.path().join("sslbl.toml");
    write_file(&cfg, &example);
    let c = cfg.to_str().unwrap();
    let (code, out, err) = util::run_iocd(&["check", "--config", c]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        util::check_line(&out, "sslbl-certs")
            .contains("2 indicators: ipv4 0, ipv6 0, cidr 0, domain 0, cert_sha1 2;"),
        "{out}"
    );
    assert!(
        util::check_line(&out, "sslbl-ja3")
            .contains("1 indicators: ipv4 0, ipv6 0, cidr 0, domain 0, ja3 1;"),
        "{out}"
    );
    let (code, out, _) = util::run_iocd(&["lookup", "--config", c, SHA1]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("cert_sha1 {SHA1} (exact) feed=sslbl-certs"))
            && out.contains("description: AsyncRAT C&C"),
        "{out}"
    );
}
