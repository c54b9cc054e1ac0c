#!/usr/bin/env bash
# bench-compare.sh — compare iocd binaries on the replay bench workloads by instruction count
# (deterministic enough to compare) and wall time (noisy on this shared 2-core VM).
#
# Usage:  benches/compare/compare.sh IOCD_BINARY [IOCD_BINARY...]
#   e.g.  DATA=bench-data benches/compare/compare.sh /tmp/iocd-before target/release/iocd
#
# Workloads (all with `iocd replay -o /dev/null -w 1`, files in $DATA, default
# bench-data/ — what `cargo bench --bench replay` generates — plus the heavy feed, built as
# benches/compare/README.md says):
#   normal  the exact bench case: --feed domains-g2-n1000000-s4301.txt (1M domains)
#           --feed ips-g2-n100000-s4301.txt (100k IPs/CIDRs)
#           capture-g2-p1000000-d1000000-i100000-s4301.pcap (1M packets, 682 MiB); ~464 events.
#           Feed loading is a large part of this run (see `load`).
#   heavy   match-heavy: --feed heavy-d5000-i5000.txt only (top 5000 registrable domains of the
#           capture's DNS queries + top 5000 server addresses, built by tools/names.py and
#           tools/heavy_feed.py), same capture; ~85k events, ~550k matches.
#   load    the bench's 10-packet capture with the normal feeds: ≈ indicator loading alone, so
#           normal − load ≈ per-packet cost.
#
# For each binary and workload:
#   instructions  total guest instructions (all threads) from
#                 `valgrind --tool=callgrind --callgrind-out-file=/dev/null` ("Collected").
#                 `perf stat -e instructions:u` is not supported on this VM (no PMU), hence
#                 callgrind: ~70 s per run for normal/heavy, ~40 s for load.
#                 Not exactly reproducible: glibc malloc work varies with how the capture,
#                 worker and output threads interleave (seen by diffing two callgrind
#                 profiles), and hash maps are randomly seeded; 3-7 runs of one binary at
#                 704f2e9 spread by up to 0.2% (normal), 0.35% (heavy), 0.27% (load).
#                 CG_RUNS=N (default 1) runs callgrind N times and reports the minimum and the
#                 spread (max-min)/min; treat differences below ~0.5% as noise.
#   best wall s   best of $RUNS (default 3) runs, interleaved round-robin across binaries and
#                 workloads so that load drift hits all of them alike; the capture is in page cache.
#   events        the "events N" that iocd reports on stderr (and matches N), from the callgrind
#                 run, checked against the wall runs (a mismatch is flagged with '!').
#
# Environment: DATA (data dir), RUNS (wall runs, default 3), WORKLOADS (default "normal heavy
# load"), CALLGRIND=0 to skip instruction counts, CG_RUNS (callgrind runs per binary and
# workload, default 1), KEEP=dir to keep each run's stderr there.
# Output: a Markdown table on stdout; progress on stderr. Exit non-zero if any run fails.
set -euo pipefail

DATA=${DATA:-bench-data}
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-"normal heavy load"}
CALLGRIND=${CALLGRIND:-1}
CG_RUNS=${CG_RUNS:-1}
CAPTURE=$DATA/capture-g2-p1000000-d1000000-i100000-s4301.pcap
TINY=$DATA/capture-g2-p10-d1000000-i100000-s4301.pcap
DOMAINS=$DATA/domains-g2-n1000000-s4301.txt
IPS=$DATA/ips-g2-n100000-s4301.txt
HEAVY=$DATA/heavy-d5000-i5000.txt

[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
for f in "$CAPTURE" "$TINY" "$DOMAINS" "$IPS" "$HEAVY"; do
    [ -r "$f" ] || { echo "missing $f" >&2; exit 1; }
done
for b in "$@"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 1; }; done

# The iocd arguments of a workload (after the binary).
args() {
    case $1 in
        normal) echo "replay --feed $DOMAINS --feed $IPS -o /dev/null -w 1 $CAPTURE" ;;
        heavy) echo "replay --feed $HEAVY -o /dev/null -w 1 $CAPTURE" ;;
        load) echo "replay --feed $DOMAINS --feed $IPS -o /dev/null -w 1 $TINY" ;;
        *) echo "unknown workload $1" >&2; exit 2 ;;
    esac
}

TMP=$(mktemp -d /tmp/bench-compare.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
declare -A INSTR IMAX WALL WALLS EVENTS MATCHES WEVENTS

# "events N" and "matches N" from iocd's end-of-run statistics on stderr.
field() { grep -oE "(^|[[:space:]])$1 [0-9]+" "$2" | tail -1 | awk '{print $2}'; }

echo "commands (binary first):" >&2
for w in $WORKLOADS; do echo "  $w: IOCD $(args "$w")" >&2; done

if [ "$CALLGRIND" = 1 ]; then
    n=0
    for b in "$@"; do
        n=$((n + 1))
        for w in $WORKLOADS; do
          for c in $(seq 1 "$CG_RUNS"); do
            log=$TMP/cg-$n-$w-$c.err
            echo "callgrind $c/$CG_RUNS: $b $w ..." >&2
            # shellcheck disable=SC2046
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$b" $(args "$w") \
                >/dev/null 2>"$log" || { echo "FAILED: $b $w"; tail -20 "$log"; exit 1; } >&2
            i=$(grep -oE 'Collected : [0-9]+' "$log" | awk '{print $3}')
            echo "  $i instructions" >&2
            if [ -z "${INSTR[$n,$w]:-}" ] || [ "$i" -lt "${INSTR[$n,$w]}" ]; then INSTR[$n,$w]=$i; fi
            if [ -z "${IMAX[$n,$w]:-}" ] || [ "$i" -gt "${IMAX[$n,$w]}" ]; then IMAX[$n,$w]=$i; fi
            EVENTS[$n,$w]=$(field events "$log")
            MATCHES[$n,$w]=$(field matches "$log")
            if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$log" "$KEEP/"; fi
          done
        done
    done
fi

for r in $(seq 1 "$RUNS"); do
    for w in $WORKLOADS; do
        n=0
        for b in "$@"; do
            n=$((n + 1))
            log=$TMP/wall-$n-$w-$r.err
            t0=$(date +%s.%N)
            # shellcheck disable=SC2046
            "$b" $(args "$w") >/dev/null 2>"$log" || { echo "FAILED: $b $w"; tail -20 "$log"; exit 1; } >&2
            t1=$(date +%s.%N)
            s=$(echo "$t1 - $t0" | bc -l)
            s=$(printf '%.3f' "$s")
            echo "wall run $r: $b $w ${s}s" >&2
            WALLS[$n,$w]="${WALLS[$n,$w]:-}${WALLS[$n,$w]:+ }$s"
            if [ -z "${WALL[$n,$w]:-}" ] || [ "$(echo "$s < ${WALL[$n,$w]}" | bc -l)" = 1 ]; then
                WALL[$n,$w]=$s
            fi
            e=$(field events "$log")
            if [ -z "${EVENTS[$n,$w]:-}" ]; then
                EVENTS[$n,$w]=$e
                MATCHES[$n,$w]=$(field matches "$log")
            fi
            if [ "$e" != "${EVENTS[$n,$w]}" ]; then WEVENTS[$n,$w]="!"; fi
            if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$log" "$KEEP/"; fi
        done
    done
done

echo
echo "| binary | workload | instructions (min of $CG_RUNS) | spread | best wall s | wall runs s | events | matches |"
echo "|---|---|---:|---:|---:|---|---:|---:|"
n=0
for b in "$@"; do
    n=$((n + 1))
    for w in $WORKLOADS; do
        i=${INSTR[$n,$w]:-–}
        if [ "$i" != – ]; then i=$(echo "$i" | sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta'); fi
        sp=–
        if [ -n "${IMAX[$n,$w]:-}" ] && [ "$CG_RUNS" -gt 1 ]; then
            sp=$(printf '%.3f%%' "$(echo "100 * (${IMAX[$n,$w]} - ${INSTR[$n,$w]}) / ${INSTR[$n,$w]}" | bc -l)")
        fi
        echo "| $b | $w | $i | $sp | ${WALL[$n,$w]:-–} | ${WALLS[$n,$w]:-} | ${EVENTS[$n,$w]:-?}${WEVENTS[$n,$w]:-} | ${MATCHES[$n,$w]:-?} |"
    done
done
if [ $# -gt 1 ] && [ "$CALLGRIND" = 1 ]; then
    echo
    echo "instructions relative to the first binary:"
    for w in $WORKLOADS; do
        base=${INSTR[1,$w]}
        line="  $w:"
        for n in $(seq 2 $#); do
            line="$line $(printf '%+.2f%%' "$(echo "100 * (${INSTR[$n,$w]} - $base) / $base" | bc -l)")"
        done
        echo "$line"
    done
fi
