//! Damaged and mutated captures: every capture in `pcaps/` and in the public corpus
//! (`../shared/pcaps/corpus/`, SKIP for its part when absent) cut at a sample of lengths and with
//! random byte flips must replay without a panic or a hang.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{self, Rng};

fn captures() -> Vec<PathBuf> {
    let mut out = vec![util::root().join("pcaps/demo.pcap")];
    let mut dirs = vec![util::root().join("pcaps/real")];
    dirs.extend(util::corpus_dir());
    for dir in dirs {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn truncated_and_bit_flipped_captures_never_panic_or_hang() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    util::write_file(
        &feed,
        "10.0.0.0/8\n192.168.0.0/16\ncom\nnet\norg\n2000::/3\n",
    );
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut runs = 0;
    for cap in captures() {
        let bytes = std::fs::read(&cap).unwrap();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        // cuts: inside the file header, just after it, and at random points
        for cut in [0, 10, 24, 24 + 8, 24 + 16] {
            variants.push(bytes[..cut.min(bytes.len())].to_vec());
        }
        for _ in 0..3 {
            let cut = rng.below(bytes.len() as u64) as usize;
            variants.push(bytes[..cut].to_vec());
        }
        // flips: leave the 24-byte file header alone half the time so packets get decoded
        for k in 0..4 {
            let mut b = bytes.clone();
            let from = if k % 2 == 0 { 24.min(b.len()) } else { 0 };
            for _ in 0..(1 + b.len() / 200) {
                if b.len() > from {
                    let i = from + rng.below((b.len() - from) as u64) as usize;
                    b[i] ^= 1 << rng.below(8);
                }
            }
            variants.push(b);
        }
        for (i, v) in variants.iter().enumerate() {
            let p = dir.path().join(format!("v{i}.pcap"));
            std::fs::write(&p, v).unwrap();
            let mut c = util::iocd();
            c.args(["replay", "--workers", "2", "-o", "/dev/null", "--feed"])
                .arg(&feed)
                .arg(&p);
            let out = util::run_with_timeout(c, Duration::from_secs(30));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0) | Some(1) | Some(3)),
                "{} variant {i}: status {:?}\n{stderr}",
                cap.display(),
                out.status
            );
            assert!(
                !stderr.contains("panicked"),
                "{} variant {i}: {stderr}",
                cap.display()
            );
            runs += 1;
        }
    }
    println!("{runs} mutated replays");
}
