#!/usr/bin/env python3
"""Deterministic indicator feeds for the load-scaling figures of issue 13 (BENCHMARKS.md).

    python3 benches/load/gen_feeds.py OUT_DIR N [SEED]

writes OUT_DIR/load-domains-N-sSEED.txt (90% of N: distinct names of 2-3 random labels over 12
TLDs) and OUT_DIR/load-ips-N-sSEED.txt (10% of N: 80% public IPv4, 10% IPv6 in 2000::/3, 10%
IPv4 CIDRs /20-/30), the shape of the issue's 10M set (9M domains, 1M IPv4/IPv6/CIDR). Same N
and SEED, same bytes (random.Random is seeded; no set ordering, no clock). Synthetic values,
not real indicators. Existing files are kept (delete them to regenerate).
"""
import os, random, sys

TLDS = ["com", "net", "org", "io", "info", "ru", "cn", "de", "xyz", "top", "co.uk", "com.br"]
ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789"


def label(r):
    n = r.randint(4, 14)
    return "".join(r.choice(ALPHA) for _ in range(n))


def public_v4(r):
    while True:
        a = r.randint(1, 223)
        if a not in (10, 100, 127, 169, 172, 192, 198, 203):
            return a, r.randint(0, 255), r.randint(0, 255), r.randint(1, 254)


def write(path, header, lines):
    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(header + "\n")
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def domains(r, n):
    seen = set()
    while len(seen) < n:
        name = label(r) + "." + (label(r) + "." if r.random() < 0.3 else "") + r.choice(TLDS)
        if name not in seen:
            seen.add(name)
            yield name


def ips(r, n):
    for i in range(n):
        k = i % 10
        if k < 8:
            yield "%d.%d.%d.%d" % public_v4(r)
        elif k == 8:
            g = [0x2000 | r.randint(0, 0x1FFF)] + [r.randint(0, 0xFFFF) for _ in range(7)]
            yield ":".join("%x" % x for x in g)
        else:
            a, b, c, _ = public_v4(r)
            p = r.randint(20, 30)
            v = ((a << 24) | (b << 16) | (c << 8)) & (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF
            yield "%d.%d.%d.%d/%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255, p)


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 4301
    os.makedirs(out, exist_ok=True)
    nd, ni = n * 9 // 10, n - n * 9 // 10
    d = os.path.join(out, f"load-domains-{n}-s{seed}.txt")
    i = os.path.join(out, f"load-ips-{n}-s{seed}.txt")
    write(d, f"# iocd load benchmark: {nd} synthetic names (seed {seed}); not real indicators",
          domains(random.Random(seed), nd))
    write(i, f"# iocd load benchmark: {ni} synthetic addresses and CIDRs (seed {seed}); not real indicators",
          ips(random.Random(seed + 1), ni))
    print(d)
    print(i)


if __name__ == "__main__":
    main()
