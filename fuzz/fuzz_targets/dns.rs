//! `dns::observe` (and `dns::parse_questions`) on one arbitrary DNS message.
#![no_main]

use iocd::name::MAX_NAME_LEN;
use iocd::observe::{Info, Observed, Where};
use iocd::proto::dns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|msg: &[u8]| {
    let mut out = Vec::new();
    let r = dns::observe(msg, &mut out);
    assert!(out.len() <= dns::MAX_QUESTIONS + dns::MAX_ANSWERS);
    let mut queries = Vec::new();
    for o in &out {
        match o {
            Observed::Domain {
                name,
                at,
                ech,
                info,
            } => {
                assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
                assert!(!ech);
                assert!(matches!(at, Where::DnsQuery | Where::DnsAnswer));
                // Every DNS name says its record type; an answer name is a CNAME or DNAME.
                match (at, info) {
                    (Where::DnsQuery, Info::Dns { .. }) => {}
                    (Where::DnsAnswer, Info::Dns { rrtype }) => {
                        assert!(*rrtype == 5 || *rrtype == 39)
                    }
                    _ => panic!("{at:?} without its record type: {info:?}"),
                }
                if *at == Where::DnsQuery {
                    queries.push(name.clone());
                }
            }
            Observed::Ip { at, .. } => assert_eq!(*at, Where::DnsAnswerIp),
            Observed::Token { .. } => panic!("DNS yields no hash or fingerprint: {o:?}"),
            Observed::Hello { .. } => panic!("DNS yields no ClientHello: {o:?}"),
        }
    }
    // observe reads the questions exactly as parse_questions does, before any answer
    let mut names = Vec::new();
    let q = dns::parse_questions(msg, &mut names);
    assert_eq!(names, queries);
    let leading_queries = out
        .iter()
        .take_while(|o| {
            matches!(
                o,
                Observed::Domain {
                    at: Where::DnsQuery,
                    ..
                }
            )
        })
        .count();
    assert_eq!(leading_queries, queries.len());
    if let Ok(info) = q {
        assert_eq!(info.questions, names.len());
        if let Ok(o) = r {
            assert_eq!(o, info);
        }
    } else {
        assert_eq!(r, q);
    }
});
