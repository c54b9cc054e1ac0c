//! What JA3 and JA4 cost per ClientHello: parse curl 7.88.1's TLS 1.3 hello (OpenSSL 3.0.19:
//! 31 cipher suites, 12 extensions; `pcaps/vectors/curl-tls13-client-hello.hex`) N times with
//! no fingerprint, JA3, JA4, or both, and print the wall time per hello. For instruction counts
//! (what BENCHMARKS.md records: this VM has no PMU) run one mode under callgrind:
//!
//! ```sh
//! cargo bench --bench fingerprints --no-run   # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null BINARY --bench both 10000
//! ```
//!
//! `cargo bench --bench fingerprints` runs every mode; under `cargo test` it runs each once and
//! checks the fingerprints are there.

use std::hint::black_box;
use std::time::Instant;

use iocd::proto::{ja::Want, tls};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn want(mode: &str) -> Want {
    let (ja3, ja4) = match mode {
        "none" => (false, false),
        "ja3" => (true, false),
        "ja4" => (false, true),
        _ => (true, true),
    };
    Want {
        ja3,
        ja4,
        quic: false,
    }
}

fn main() {
    let hello = unhex(include_str!("../pcaps/vectors/curl-tls13-client-hello.hex"));
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let bench = std::env::args().any(|a| a == "--bench");
    let modes: Vec<&str> = match args.first() {
        Some(m) => vec![m.as_str()],
        None => vec!["none", "ja3", "ja4", "both"],
    };
    let n: u32 = match (args.get(1), bench) {
        (Some(n), _) => n.parse().expect("count"),
        (None, true) => 200_000,
        (None, false) => 1,
    };
    for mode in modes {
        let w = want(mode);
        let t = Instant::now();
        for _ in 0..n {
            let h = tls::parse_client_hello_with(black_box(&hello), w).expect("hello");
            assert_eq!(h.fp.ja3.is_some(), w.ja3);
            assert_eq!(h.fp.ja4.is_some(), w.ja4);
            black_box(h);
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
        println!("{mode:>5}: {n} hellos, {ns:.0} ns per hello");
    }
}
