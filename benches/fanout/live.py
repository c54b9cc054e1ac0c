#!/usr/bin/env python3
"""Live capture throughput: `iocd run` on a veth pair, tcpreplay --topspeed from the peer.

For each capture setup (1 libpcap thread; af_packet with 1, 2, 4 fanout threads) this starts
iocd (release build) capturing on the namespace end of a fresh veth pair, sends the wire-safe
corpus and content captures LOOP times at top speed from the host end, lets the daemon drain,
stops it, and reads its final stats record and the CPU time of each of its threads
(/proc/PID/task/*/stat). Printed, one Markdown row per setup: packets sent and tcpreplay's
rate, packets captured, kernel drops, the capture threads' CPU time (schedstat, ns) per packet
and the packets one core of capture reads per second (packets / capture-thread CPU seconds),
the workers' and the whole process's CPU time. (No instruction counts: this VM has no
hardware performance counters, `perf stat -e instructions` says <not supported>.)

Run as root from the repository: python3 benches/fanout/live.py [LOOP]   (default 100)
Needs tcpreplay and iproute2; names start with `fo` (fo-bench-ns, fobh/fobn).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IOCD = os.environ.get("IOCD", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "iocd"))
PCAPS = os.environ.get("IOCD_PCAPS", "/work/shared/pcaps")
LOOP = int(sys.argv[1]) if len(sys.argv) > 1 else 100
NS, HOST_IF, NS_IF = "fo-bench-ns", "fobh", "fobn"


def sh(*a, check=True):
    return subprocess.run(a, check=check, capture_output=True, text=True)


def wire_safe(path):
    b = open(path, "rb").read()
    if len(b) < 24 or b[:4] != b"\xd4\xc3\xb2\xa1" or int.from_bytes(b[20:24], "little") != 1:
        return False
    off = 24
    while off + 16 <= len(b):
        cap = int.from_bytes(b[off + 8:off + 12], "little")
        ln = int.from_bytes(b[off + 12:off + 16], "little")
        if cap != ln or not 14 <= cap <= 9022:
            return False
        off += 16 + cap
    return off == len(b)


def files():
    out = []
    for d in ("corpus", "content"):
        p = os.path.join(PCAPS, d)
        out += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".pcap") and wire_safe(os.path.join(p, f)))
    return out


def net_up():
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "link", "del", HOST_IF, check=False)
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    sh("ip", "link", "set", NS_IF, "netns", NS)
    open(f"/proc/sys/net/ipv6/conf/{HOST_IF}/disable_ipv6", "w").write("1")
    sh("ip", "netns", "exec", NS, "sh", "-c", f"echo 1 > /proc/sys/net/ipv6/conf/{NS_IF}/disable_ipv6")
    sh("ip", "link", "set", HOST_IF, "mtu", "9000", "up")
    sh("ip", "-n", NS, "link", "set", NS_IF, "mtu", "9000", "up")


def net_down():
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "link", "del", HOST_IF, check=False)


def cpu_by_thread(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{t}/comm").read().strip()
            # schedstat: nanoseconds on the CPU (user and system), not clock ticks.
            ns = int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except OSError:
            continue
        out[name] = out.get(name, 0) + ns / 1e9
    return out


def run(label, capture, workers, pcaps, d):
    events = os.path.join(d, f"{label}.json")
    conf = os.path.join(d, f"{label}.toml")
    open(os.path.join(d, "f.txt"), "w").write("evil.test\n198.51.100.7\n")
    open(conf, "w").write(f"""workers = {workers}
[capture]
{capture}
[daemon]
user = "root"
[stats]
interval = "0s"
[[sinks]]
type = "json"
path = "{events}"
[[feeds]]
path = "{d}/f.txt"
""")
    err = open(os.path.join(d, f"{label}.err"), "w")
    p = subprocess.Popen(["ip", "netns", "exec", NS, IOCD, "run", "--config", conf, "--interface", NS_IF],
                         stdout=subprocess.DEVNULL, stderr=err)
    for _ in range(200):
        if "READY" in open(err.name).read():
            break
        time.sleep(0.1)
    # ip netns exec execs iocd: same pid.
    pid = p.pid
    tr = sh("tcpreplay", "-q", "--topspeed", "--loop", str(LOOP), "-i", HOST_IF, *pcaps)
    time.sleep(3)  # drain
    cpu = cpu_by_thread(pid)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    rec = [json.loads(l) for l in open(events) if '"event_type":"stats"' in l][-1]
    text = tr.stdout + tr.stderr
    sent = int(re.search(r"Actual: (\d+) packets", text).group(1))
    rate = float(re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", text).group(1))
    cap_cpu = sum(v for k, v in cpu.items() if k.startswith("capture"))
    work_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    all_cpu = sum(cpu.values())
    pk = rec["packets"]
    drops = rec["drops"]["kernel"]
    per_thread = ", ".join(str(c["packets"]) for c in rec["capture"])
    print(f"| {label} | {sent} | {rate:,.0f} | {pk} ({per_thread}) | {drops} | {rec['drops']['queue_full']} | "
          f"{cap_cpu:.3f} | {cap_cpu / pk * 1e9:.0f} | {pk / cap_cpu if cap_cpu else 0:,.0f} | {work_cpu:.3f} | {all_cpu:.3f} |", flush=True)


def main():
    pcaps = files()
    print(f"iocd {IOCD}; {len(pcaps)} captures x {LOOP} loops; load average {os.getloadavg()}; {os.cpu_count()} cores")
    print("| setup | sent | tcpreplay pps | captured (per thread) | kernel drops | queue_full | capture CPU s | capture ns/packet | packets per capture-core s | worker CPU s | process CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        os.chmod(d, 0o755)
        try:
            net_up()
            run("libpcap", 'method = "libpcap"', 1, pcaps, d)
            for n in (1, 2, 4):
                net_down()
                net_up()
                run(f"af_packet x{n}", f'method = "af_packet"\nthreads = {n}', 1, pcaps, d)
        finally:
            net_down()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
