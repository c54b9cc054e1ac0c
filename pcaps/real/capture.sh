#!/bin/sh
# Regenerate the real-client captures in this folder: curl (OpenSSL) talking to an OpenSSL
# s_server and a plain HTTP listener in two private network namespaces joined by a veth pair,
# recorded with tcpdump on the server side. A small MTU on the veth makes the kernel cut the
# ClientHello into several TCP segments, as real paths with small MTUs do.
# Needs root, iproute2, ethtool, openssl, curl, dig (bind9-dnsutils), tcpdump, python3, tinyproxy,
# ping, editcap (tshark) and aioquic (pip install aioquic; 1.7.2 was used). Only the namespaces' own addresses
# (10.77.0.0/24, 10.77.1.0/24, fd77::/64) are used.
# Arguments, if any, name the captures to record (e.g. `capture.sh real-dig-dns-udp.pcap`);
# without any, every capture is recorded again.
set -eu
only="$*"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
cleanup() {
    cleanup_only
    rm -rf "$tmp"
}
trap cleanup EXIT
# stop the servers (and the TUN forwarder) of both namespaces, then delete them
cleanup_only() {
    for ns in iocd-s iocd-c; do
        ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    ip netns del iocd-s 2>/dev/null || true
    ip netns del iocd-c 2>/dev/null || true
    rm -rf /etc/netns/iocd-s
}
cleanup_only

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 2 -subj "/CN=ioc-test.example" >/dev/null 2>&1

# setup MTU: the veth pair between client and server namespaces
setup() {
    ip netns add iocd-s
    ip netns add iocd-c
    ip link add iocd-veth-s type veth peer name iocd-veth-c
    ip link set iocd-veth-s netns iocd-s
    ip link set iocd-veth-c netns iocd-c
    for ns in s c; do
        ip netns exec iocd-$ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
            net.ipv6.conf.default.disable_ipv6=0 2>/dev/null || true
        ip -n iocd-$ns link set lo up
        ip -n iocd-$ns link set iocd-veth-$ns mtu "$1" up
        # no segmentation offload: tcpdump must see the segments the wire would carry
        ip netns exec iocd-$ns ethtool -K iocd-veth-$ns tso off gso off gro off >/dev/null 2>&1 || true
    done
    ip -n iocd-s addr add 10.77.0.1/24 dev iocd-veth-s
    ip -n iocd-c addr add 10.77.0.2/24 dev iocd-veth-c
    if [ "$1" -ge 1280 ]; then  # IPv6 needs a link MTU of at least 1280 (RFC 8200 §5)
        ip -n iocd-s addr add fd77::1/64 dev iocd-veth-s nodad
        ip -n iocd-c addr add fd77::2/64 dev iocd-veth-c nodad
    fi
    ip netns exec iocd-s openssl s_server -quiet -accept 4433 -cert "$tmp/cert.pem" \
        -key "$tmp/key.pem" -www >/dev/null 2>&1 &
    ip netns exec iocd-s openssl s_server -quiet -6 -accept '[::]:4434' -cert "$tmp/cert.pem" \
        -key "$tmp/key.pem" -www >/dev/null 2>&1 &
    ip netns exec iocd-s python3 -m http.server 8080 --bind 10.77.0.1 >/dev/null 2>&1 &
    # a QUIC server (aioquic, v1 and v2) on UDP 4444
    ip netns exec iocd-s python3 "$here/quic-handshake.py" server 10.77.0.1 4444 "$tmp/cert.pem" \
        "$tmp/key.pem" >/dev/null 2>&1 &
    # an HTTP proxy (tinyproxy) that opens CONNECT tunnels to the s_server; it resolves the
    # tunnel's name from the namespace's own hosts file (`ip netns exec` mounts
    # /etc/netns/iocd-s/hosts over /etc/hosts)
    mkdir -p /etc/netns/iocd-s
    echo "10.77.0.1 connect.ioc-test.example" >/etc/netns/iocd-s/hosts
    printf 'Port 3128\nListen 10.77.0.1\nAllow 10.77.0.0/24\nConnectPort 4433\nTimeout 5\nMaxClients 4\nPidFile "%s/tinyproxy.pid"\n' \
        "$tmp" >"$tmp/tinyproxy.conf"
    ip netns exec iocd-s tinyproxy -d -c "$tmp/tinyproxy.conf" >/dev/null 2>&1 &
    # a DNS "server" that accepts TCP connections and reads queries without answering
    ip netns exec iocd-s python3 -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", 53)); s.listen()
def serve(c):
    while c.recv(4096): pass
while True: threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
' >/dev/null 2>&1 &
    sleep 1
}

# record FILE COMMAND...: capture on the server side (interface $cap_if, snapshot length
# $snaplen) while the client runs COMMAND
cap_if=iocd-veth-s
snaplen=0
record() {
    out=$1; shift
    if [ -n "$only" ]; then
        case " $only " in *" $out "*) ;; *) return 0 ;; esac
    fi
    ip netns exec iocd-s tcpdump -i "$cap_if" -U -s "$snaplen" -w "$here/$out" >/dev/null 2>&1 &
    tcpdump_pid=$!
    sleep 1
    ip netns exec iocd-c "$@" >/dev/null 2>&1 || true
    sleep 1
    kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
}

setup 1500
record real-curl-tls13-sni.pcap curl -sk --max-time 5 --resolve ioc-test.example:4433:10.77.0.1 https://ioc-test.example:4433/
record real-curl-tls12-sni.pcap curl -sk --max-time 5 --tls-max 1.2 --resolve tls12.ioc-test.example:4433:10.77.0.1 https://tls12.ioc-test.example:4433/
record real-curl-tls13-sni-ipv6.pcap curl -sk --max-time 5 --resolve v6.ioc-test.example:4434:[fd77::1] https://v6.ioc-test.example:4434/
record real-dig-dns-over-tcp.pcap dig +tcp +time=1 +tries=1 @10.77.0.1 tcpq.ioc-test.example A
record real-dig-dns-udp.pcap dig +time=1 +tries=1 @10.77.0.1 udpq.ioc-test.example AAAA
record real-curl-http-host-port.pcap curl -s --max-time 5 --resolve web.ioc-test.example:8080:10.77.0.1 http://web.ioc-test.example:8080/
# an IDN (bücher) in punycode, recorded with a 16384-byte snapshot length
snaplen=16384
record real-dig-dns-idn-snaplen16384.pcap dig +time=1 +tries=1 @10.77.0.1 www.xn--bcher-kva.ioc-test.example A
snaplen=0
# HTTP methods outside the common ones (the Python server answers 501 to each)
record real-curl-http-methods.pcap sh -c 'for m in RPC_IN_DATA SEARCH MKCALENDAR; do
    curl -s --max-time 5 -X $m --resolve $m.ioc-test.example:8080:10.77.0.1 http://$m.ioc-test.example:8080/rpc/rpcproxy.dll; done'
# TLS through an HTTP CONNECT tunnel of the proxy
record real-curl-connect-proxy-tls.pcap curl -sk --max-time 5 -x http://10.77.0.1:3128 https://connect.ioc-test.example:4433/
# ICMP echo requests of 3000 bytes over IPv4 and IPv6, 3 fragments each at MTU 1500; the
# last fragment of each request and every reply are then cut out (editcap: only fragments
# with More Fragments set are kept), so neither datagram ever completes
record real-ping-fragments-incomplete.pcap sh -c 'ping -c1 -W1 -s 3000 10.77.0.1; ping -6 -c1 -W1 -s 3000 fd77::1'
if [ -z "$only" ] || case " $only " in *" real-ping-fragments-incomplete.pcap "*) true ;; *) false ;; esac; then
    f="$here/real-ping-fragments-incomplete.pcap"
    mv "$f" "$tmp/full.pcap"
    editcap -F pcap -r "$tmp/full.pcap" "$f" $(tshark -r "$tmp/full.pcap" -T fields -e frame.number \
        -Y '(ip.src == 10.77.0.2 and ip.flags.mf == 1) or (ipv6.src == fd77::2 and ipv6.fraghdr.more == 1)')
fi
# a QUIC client Initial under the greased version 0x1a2a3a4a (aioquic, keys of v1), to a UDP
# port where nothing answers: the client retransmits it
record real-aioquic-greased-version-initial.pcap python3 "$here/quic-grease-client.py" 10.77.0.1 4443 grease.ioc-test.example 1a2a3a4a
# two whole QUIC handshakes (aioquic client and server), one in v1 and one in v2: the
# server's Initials carry its ServerHello
# (the server, started by setup, needs a moment to import aioquic)
record real-aioquic-v1-v2-handshakes.pcap sh -c "sleep 2; python3 '$here/quic-handshake.py' client 10.77.0.1 4444 quic.ioc-test.example 1 6b3343cf"
# raw IP: a point-to-point link of two TUN devices (iocd-tun in each namespace), joined by a
# small Python forwarder, MTU 400 (the hello takes 2 segments); tcpdump on a TUN device writes
# LINKTYPE_RAW (101) records, bare IPv4 packets
ip netns exec iocd-c python3 -c '
import ctypes, fcntl, os, select, struct
def tun():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"iocd-tun", 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
    return fd
c = tun()
ns = os.open("/run/netns/iocd-s", os.O_RDONLY)
assert ctypes.CDLL(None, use_errno=True).setns(ns, 0x40000000) == 0  # CLONE_NEWNET
s = tun()
while True:
    for fd in select.select([c, s], [], [])[0]:
        os.write(s if fd == c else c, os.read(fd, 65536))
' >/dev/null 2>&1 &
sleep 1
ip -n iocd-s addr add 10.77.1.1 peer 10.77.1.2 dev iocd-tun
ip -n iocd-c addr add 10.77.1.2 peer 10.77.1.1 dev iocd-tun
ip -n iocd-s link set iocd-tun mtu 400 up
ip -n iocd-c link set iocd-tun mtu 400 up
cap_if=iocd-tun
record real-curl-tls13-sni-rawip-mtu400.pcap curl -sk --max-time 5 --resolve rawip.ioc-test.example:4433:10.77.1.1 https://rawip.ioc-test.example:4433/
cap_if=iocd-veth-s
cleanup_only
setup 400
record real-curl-tls13-sni-mtu400-2-segments.pcap curl -sk --max-time 5 --resolve split2.ioc-test.example:4433:10.77.0.1 https://split2.ioc-test.example:4433/
cleanup_only
setup 256
record real-curl-tls13-sni-mtu256-3-segments.pcap curl -sk --max-time 5 --resolve split3.ioc-test.example:4433:10.77.0.1 https://split3.ioc-test.example:4433/
echo "captures written to $here"
