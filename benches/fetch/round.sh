#!/bin/sh
# A fetch round for 20 remote feeds totalling 2 M entries where one changed (BENCHMARKS.md,
# "Feeds iocd fetches itself"). Run as root from the repository, with a release build:
#
#   benches/fetch/round.sh [path/to/iocd]
#
# 1. `iocd feeds update` three times against tests/data/fetch_server.py on loopback (plain
#    HTTP: the figure is iocd's work, not TLS): all 20 new, all unchanged (304), one changed.
#    Wall, user and system time and peak RSS from /usr/bin/time.
# 2. `iocd run` on the loopback of a network namespace (fe-bench) with refresh = "5s": the
#    reload after one feed changed against a SIGHUP after every copy was touched, from the
#    daemon's "reload done in" lines; and, with tcpreplay, the packets the workers handled
#    (100 000 generated DNS queries at IOCD_FETCH_BENCH_PPS) while fetch rounds and their
#    reloads ran against a quiet run (stats record `packets`, `drops`, `fetches`).
set -e
bin=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/release/iocd}")
root=$(cd "$(dirname "$0")/../.." && pwd)
w=${IOCD_FETCH_BENCH_DIR:-/tmp/iocd-fetch-bench}
rm -rf "$w"
mkdir -p "$w/www" "$w/state"
# entries per feed (IOCD_FETCH_BENCH_PER_FEED, default 100 000: 2 M in all)
per=${IOCD_FETCH_BENCH_PER_FEED:-100000}
python3 - "$w/www" "$per" <<'PY'
import sys
d, per = sys.argv[1], int(sys.argv[2])
for f in range(20):
    with open(f"{d}/f{f:02}.txt", "w") as out:
        out.write("".join(f"h{i}.f{f:02}.bench.test\n" for i in range(per)))
PY
ns=fe-bench
ip netns del $ns 2>/dev/null || true
ip netns add $ns
ip -n $ns link set lo up
cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
}
trap cleanup EXIT
ip netns exec $ns python3 "$root/tests/data/fetch_server.py" "$w/www" > "$w/port" &
server=$!
while [ ! -s "$w/port" ]; do sleep 0.1; done
port=$(head -1 "$w/port")
{
    printf '[daemon]\nuser = "root"\nstate_dir = "%s"\n' "$w/state"
    printf '[stats]\ninterval = "1s"\n[[sinks]]\ntype = "json"\npath = "%s"\n' "$w/events.json"
    for f in $(seq -w 0 19); do
        printf '[[feeds]]\nname = "f%s"\nurl = "http://127.0.0.1:%s/f%s.txt"\nrefresh = "5s"\n' "$f" "$port" "$f"
    done
} > "$w/iocd.toml"
t() { /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB peak RSS" "$@"; }
echo "## iocd feeds update: 20 feeds of $per entries (load $(cut -d' ' -f1-3 /proc/loadavg))"
round() {
    t ip netns exec $ns "$bin" feeds update --config "$w/iocd.toml" > "$w/$1.out" 2> "$w/$1.err"
    tail -1 "$w/$1.out" | sed "s/^/$1: /"
    tail -1 "$w/$1.err" | sed "s/^/$1: /"
}
round first
round second
echo "h-new.f07.bench.test" >> "$w/www/f07.txt"
round third

echo "## iocd run: reload after one feed changed vs every copy touched"
ip netns exec $ns "$bin" run --interface lo --config "$w/iocd.toml" 2> "$w/run.err" &
daemon=$!
until grep -q READY "$w/run.err"; do sleep 0.2; done
sleep 6
echo "h-new2.f07.bench.test" >> "$w/www/f07.txt"
until grep -q "reload done" "$w/run.err"; do sleep 0.2; done
grep "reload done" "$w/run.err" | tail -1 | sed 's/^/one changed: /'
touch "$w"/state/feeds/f??
kill -HUP $daemon
until [ "$(grep -c 'reload done' "$w/run.err")" -ge 2 ]; do sleep 0.2; done
grep "reload done" "$w/run.err" | tail -1 | sed 's/^/all 20 touched (SIGHUP): /'
# 100 000 DNS queries (Ethernet/IPv4/UDP), one name each, every tenth listed in feed f05
python3 - "$w/dns.pcap" <<'PY'
import struct, sys
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
for i in range(100_000):
    name = f"h{i}.f05.bench.test" if i % 10 == 0 else f"q{i}.other.bench.test"
    q = struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    sport = 10000 + i % 50000
    udp = struct.pack(">HHHH", sport, 53, 8 + len(q), 0) + q
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, 0, 5]), bytes([10, 0, 0, 53])) + udp
    frame = b"\0" * 12 + b"\x08\x00" + ip
    out.write(struct.pack("<IIII", 1_700_000_000 + i // 10000, (i % 10000) * 100, len(frame), len(frame)))
    out.write(frame)
PY
pps=${IOCD_FETCH_BENCH_PPS:-20000}
echo "## packets handled by the workers while fetching (tcpreplay --pps $pps of 100 000 DNS queries on lo)"
for run in quiet fetching; do
    writer=""
    if [ $run = fetching ]; then
        # f05 changes every 2 s: each round fetches it, checks it and the daemon reloads
        ( for i in 1 2 3; do echo "h-x$i.f05.bench.test" >> "$w/www/f05.txt"; sleep 2; done ) &
        writer=$!
    fi
    r0=$(grep -c "reload done" "$w/run.err" || true)
    tail -1 "$w/events.json" > "$w/before.$run"
    ip netns exec $ns tcpreplay -q --pps "$pps" -i lo "$w/dns.pcap" > "$w/tcpreplay.$run" 2>&1
    [ -n "$writer" ] && wait "$writer"
    # the reloads the fetches asked for end before the next run
    sleep 20
    r1=$(grep -c "reload done" "$w/run.err" || true)
    grep -o "Actual: [0-9]* packets" "$w/tcpreplay.$run" | sed "s/^/$run: tcpreplay /"
    tail -1 "$w/events.json" > "$w/after.$run"
    python3 - "$w/before.$run" "$w/after.$run" "$run" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
d = lambda k: b[k] - a[k]
drops = {k: b["drops"][k] - a["drops"][k] for k in b["drops"]}
m = b["workers"]["matches"] - a["workers"]["matches"]
f = {k: b["fetches"][k] - a["fetches"][k] for k in b["fetches"]}
print(f"{sys.argv[3]}: workers handled {d('packets')} packets, drops {drops}, matches {m}, fetches {f}")
PY
    echo "$run: reloads during the run: $((r1 - r0))"
done
