//! Community ID flow hashing, version 1 (https://github.com/corelight/community-id-spec), so
//! events can be joined with Zeek, Suricata and other tools' logs of the same flow.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;

/// For ICMP the "ports" are type and code; message types that come in request/reply pairs map to
/// their counterpart so both directions hash alike (spec: "ICMP and ICMPv6").
fn icmp_counterpart(v6: bool, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if v6 {
        &[
            (128, 129),
            (129, 128),
            (130, 131),
            (131, 130),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (144, 145),
            (145, 144),
        ]
    } else {
        &[
            (8, 0),
            (0, 8),
            (13, 14),
            (14, 13),
            (15, 16),
            (16, 15),
            (17, 18),
            (18, 17),
            (10, 9),
            (9, 10),
        ]
    };
    pairs.iter().find(|(a, _)| *a == t).map(|(_, b)| *b)
}

/// The Community ID (`1:<base64 sha1>`) of a flow with seed `seed`. `sport`/`dport` are the
/// ports for TCP, UDP and SCTP, and ICMP type and code for ICMP/ICMPv6; they are ignored for
/// other protocols. Source and destination must be of the same family.
pub fn community_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
) -> String {
    let has_ports = matches!(proto, ICMP | TCP | UDP | ICMPV6 | SCTP);
    let (mut sport, mut dport, mut one_way) = (sport, dport, false);
    if proto == ICMP || proto == ICMPV6 {
        let t = sport as u8;
        match icmp_counterpart(proto == ICMPV6, t) {
            Some(c) => dport = u16::from(c),
            None => one_way = true,
        }
        sport = u16::from(t);
    }
    let (a, b) = (ip_octets(src), ip_octets(dst));
    let ordered = (a.as_slice(), sport) < (b.as_slice(), dport);
    let swap = !(one_way || ordered);
    let (sa, da, sp, dp) = if swap {
        (&b, &a, dport, sport)
    } else {
        (&a, &b, sport, dport)
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(sa);
    h.update(da);
    h.update([proto, 0]);
    if has_ports {
        h.update(sp.to_be_bytes());
        h.update(dp.to_be_bytes());
    }
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's published baseline, `baseline/baseline_deflt.json` (seed 0); ICMP rows give
    /// type and code as ports, and protocol 46 (RSVP) has none.
    const BASELINE: &[(u8, &str, &str, u16, u16, &str)] = &[
        (
            58,
            "fe80::200:86ff:fe05:80da",
            "fe80::260:97ff:fe07:69ea",
            135,
            136,
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
        ),
        (
            58,
            "fe80::260:97ff:fe07:69ea",
            "fe80::200:86ff:fe05:80da",
            136,
            135,
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
        ),
        (
            58,
            "fe80::260:97ff:fe07:69ea",
            "fe80::200:86ff:fe05:80da",
            135,
            136,
            "1:zavyT/cezQr1fmImYCwYnMXbgck=",
        ),
        (
            58,
            "fe80::200:86ff:fe05:80da",
            "fe80::260:97ff:fe07:69ea",
            136,
            135,
            "1:zavyT/cezQr1fmImYCwYnMXbgck=",
        ),
        (
            58,
            "3ffe:501:1800:2345::2",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            3,
            0,
            "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=",
        ),
        (
            58,
            "3ffe:501:410:0:2c0:dfff:fe47:33e",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            1,
            4,
            "1:hLZd0XGWojozrvxqE0dWB1iM6R0=",
        ),
        (
            58,
            "3ffe:507:0:1:200:86ff:fe05:80da",
            "3ffe:501:0:1001::2",
            128,
            129,
            "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
        ),
        (
            58,
            "3ffe:501:0:1001::2",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            129,
            128,
            "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
        ),
        (
            58,
            "fe80::200:86ff:fe05:80da",
            "ff02::2",
            133,
            134,
            "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=",
        ),
        (
            58,
            "fe80::260:97ff:fe07:69ea",
            "ff02::1",
            134,
            133,
            "1:pkvHqCL88/tg1k4cPigmZXUtL00=",
        ),
        (
            1,
            "192.168.0.89",
            "192.168.0.1",
            8,
            0,
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
        ),
        (
            1,
            "192.168.0.1",
            "192.168.0.89",
            0,
            8,
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
        ),
        (
            1,
            "10.0.0.1",
            "10.0.0.2",
            11,
            0,
            "1:YHxtAirCG//0OzkcVAukqKQN9xM=",
        ),
        (
            6,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            "2607:f8b0:400c:c03::1a",
            63943,
            25,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        ),
        (
            6,
            "2607:f8b0:400c:c03::1a",
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            25,
            63943,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        ),
        (
            132,
            "192.168.170.8",
            "192.168.170.56",
            7,
            7,
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
        ),
        (
            132,
            "192.168.170.56",
            "192.168.170.8",
            7,
            7,
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
        ),
        (
            6,
            "128.232.110.120",
            "66.35.250.204",
            34855,
            80,
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        ),
        (
            6,
            "66.35.250.204",
            "128.232.110.120",
            80,
            34855,
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        ),
        (
            17,
            "192.168.1.52",
            "8.8.8.8",
            54585,
            53,
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
        ),
        (
            17,
            "8.8.8.8",
            "192.168.1.52",
            53,
            54585,
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
        ),
        (
            46,
            "10.1.12.1",
            "10.1.12.2",
            0,
            0,
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
        ),
        (
            46,
            "10.1.12.2",
            "10.1.12.1",
            0,
            0,
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
        ),
    ];

    #[test]
    fn matches_the_published_baseline() {
        for &(proto, s, d, sp, dp, want) in BASELINE {
            let got = community_id(0, s.parse().unwrap(), d.parse().unwrap(), proto, sp, dp);
            assert_eq!(got, want, "proto {proto} {s}:{sp} -> {d}:{dp}");
        }
    }
}
