#!/bin/sh
# Regenerate pcaps/demo.pcap, the capture the README's first command replays: real clients
# (dig, curl) talking to local servers in two private network namespaces joined by a veth pair,
# recorded with tcpdump on the server side, as real/capture.sh does. What it holds is matched
# by config/feeds/demo-*.txt; see pcaps/README.md for the list.
# Needs root, iproute2, ethtool, openssl, curl, dig (bind9-dnsutils), tcpdump, python3.
# Only documentation addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
# RFC 5737 and RFC 3849) and reserved names (.example, .test, example.com/.net/.org, RFC 2606)
# are used, so the demo feeds list nothing real.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../demo.pcap"}  # another file to write, e.g. to compare with the committed one
tmp=$(mktemp -d)
S=iocd-demo-s
C=iocd-demo-c
cleanup_ns() {
    for ns in $S $C; do ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true; done
    ip netns del $S 2>/dev/null || true
    ip netns del $C 2>/dev/null || true
}
trap 'cleanup_ns; rm -rf "$tmp"' EXIT
cleanup_ns

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 2 -subj "/CN=login.phish.test" >/dev/null 2>&1

ip netns add $S
ip netns add $C
ip link add demo-veth-s type veth peer name demo-veth-c
ip link set demo-veth-s netns $S
ip link set demo-veth-c netns $C
for ns in $S $C; do
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
        net.ipv6.conf.default.disable_ipv6=0 2>/dev/null || true
    ip -n $ns link set lo up
done
for side in s c; do
    ns=$S; [ $side = c ] && ns=$C
    ip -n $ns link set demo-veth-$side up
    # no segmentation offload: tcpdump must see the segments the wire would carry
    ip netns exec $ns ethtool -K demo-veth-$side tso off gso off gro off >/dev/null 2>&1 || true
done
# The server side answers for every server address; the client reaches them through it.
ip -n $S addr add 192.0.2.1/24 dev demo-veth-s
ip -n $S addr add 2001:db8:1::1/64 dev demo-veth-s nodad
for a in 192.0.2.53/32 198.51.100.20/32 198.51.100.80/32 203.0.113.66/32; do
    ip -n $S addr add $a dev demo-veth-s
done
for a in 2001:db8:1::53/128 2001:db8:bad::66/128; do
    ip -n $S addr add $a dev demo-veth-s nodad
done
ip -n $C addr add 192.0.2.10/24 dev demo-veth-c
ip -n $C addr add 2001:db8:1::10/64 dev demo-veth-c nodad
ip -n $C route add 198.51.100.0/24 via 192.0.2.1
ip -n $C route add 203.0.113.0/24 via 192.0.2.1
ip -n $C route add 2001:db8:bad::/48 via 2001:db8:1::1

# A DNS server on UDP 53 (IPv4 and IPv6) answering A and AAAA queries from a fixed table.
ip netns exec $S python3 -c '
import socket, struct, threading
TABLE = {
    ("www.example.org", 1): bytes([198, 51, 100, 80]),
    ("c2.malware.example", 1): bytes([203, 0, 113, 66]),
    ("www.example.org", 28): socket.inet_pton(socket.AF_INET6, "2001:db8:1::80"),
}
def answer(q):
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    rdata = TABLE.get((".".join(labels).lower(), qtype))
    head = q[:2] + struct.pack("!HHHHH", 0x8180 if rdata else 0x8183, 1, 1 if rdata else 0, 0, 0)
    rr = b"" if rdata is None else struct.pack("!HHHIH", 0xC00C, qtype, 1, 300, len(rdata)) + rdata
    return head + question + rr
def serve(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM); s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(4096)
        s.sendto(answer(q), peer)
threading.Thread(target=serve, args=(socket.AF_INET6, "2001:db8:1::53"), daemon=True).start()
serve(socket.AF_INET, "192.0.2.53")
' >/dev/null 2>&1 &
# A TLS server (OpenSSL s_server) and plain HTTP servers serving one small page.
mkdir "$tmp/www"
printf '<html><body>iocd demo</body></html>\n' > "$tmp/www/index.html"
ip netns exec $S openssl s_server -quiet -accept 198.51.100.20:443 -cert "$tmp/cert.pem" \
    -key "$tmp/key.pem" -www >/dev/null 2>&1 &
ip netns exec $S python3 -m http.server -d "$tmp/www" 80 --bind 198.51.100.80 >/dev/null 2>&1 &
ip netns exec $S python3 -m http.server -d "$tmp/www" 8080 --bind 203.0.113.66 >/dev/null 2>&1 &
ip netns exec $S python3 -m http.server -d "$tmp/www" 8080 --bind 2001:db8:bad::66 >/dev/null 2>&1 &
sleep 2

ip netns exec $S tcpdump -i demo-veth-s -U -s 0 -w "$out" \
    'not arp and not icmp6 and not ip6 multicast' >/dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
client() {
    ip netns exec $C "$@" >/dev/null 2>&1 || true
    sleep 0.3
}
# unlisted: a lookup and a page on a reserved name
client dig +time=2 +tries=1 @192.0.2.53 www.example.org A
client curl -s --max-time 5 --resolve www.example.org:80:198.51.100.80 http://www.example.org/
# listed domain malware.example: the DNS query (its answer, 203.0.113.66, is a listed address)
client dig +time=2 +tries=1 @192.0.2.53 c2.malware.example A
# listed domain phish.test: the TLS SNI
client curl -sk --max-time 5 --resolve login.phish.test:443:198.51.100.20 https://login.phish.test/
# unlisted SNI on the same server
client curl -sk --max-time 5 --resolve docs.example.com:443:198.51.100.20 https://docs.example.com/
# listed domain tracker.example.net: the HTTP Host
client curl -s --max-time 5 --resolve tracker.example.net:80:198.51.100.80 http://tracker.example.net/pixel.gif
# listed address 203.0.113.66, by IP
client curl -s --max-time 5 http://203.0.113.66:8080/
# listed IPv6 prefix 2001:db8:bad::/48
client curl -s --max-time 5 'http://[2001:db8:bad::66]:8080/'
# unlisted: an AAAA lookup over IPv6
client dig +time=2 +tries=1 @2001:db8:1::53 www.example.org AAAA
sleep 1
kill "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
echo "wrote $out"
