//! Memory latency of this machine: a pointer chase over a random cyclic permutation of cache
//! lines, one dependent load per step, for working sets from 16 KiB to 256 MiB. Context for the
//! indicator-set figures in BENCHMARKS.md, whose lookups are bounded by it.
//!
//! `cargo bench --bench memlat`; under `cargo test` it runs the two smallest sizes briefly.

use std::time::Instant;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes_kib: &[usize] = if bench {
        &[16, 128, 256, 512, 1024, 2048, 4096, 8192, 32768, 262144]
    } else {
        &[16, 128]
    };
    let steps = if bench { 20_000_000 } else { 100_000 };
    println!("| working set | ns per dependent load |\n|---|---:|");
    for &kib in sizes_kib {
        let lines = kib * 1024 / 64;
        // one usize per 64-byte line: next[line * 8] holds the index of the next line's slot
        let mut next = vec![0usize; lines * 8];
        let mut order: Vec<usize> = (0..lines).collect();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..lines).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for i in 0..lines {
            next[order[i] * 8] = order[(i + 1) % lines] * 8;
        }
        let mut p = 0usize;
        let t = Instant::now();
        for _ in 0..steps {
            p = next[p];
        }
        let ns = t.elapsed().as_nanos() as f64 / steps as f64;
        println!("| {kib} KiB | {ns:.1} |");
        std::hint::black_box(p);
    }
}
