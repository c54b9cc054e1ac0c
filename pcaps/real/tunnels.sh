#!/bin/sh
# Record real tunnelled traffic: curl's TLS ClientHello inside GTP-U (osmo-ggsn and its SGSN
# emulator, sgsnemu, which carry user packets over GTP-U in user space through TUN devices)
# and inside VXLAN-GPE (the Linux kernel's `vxlan ... gpe external` device, with lightweight
# tunnel routes giving the VNI and remote), between two private network namespaces joined by
# a veth pair; tcpdump records the underlay on the server side.
# Needs root, iproute2, openssl, curl, tcpdump, osmo-ggsn (Debian 12: osmo-ggsn 1.9.0, which
# ships sgsnemu). Addresses: the namespaces' own 10.77.0.0/24 underlay, 10.88.0.0/24 for the
# GTP PDP context pool, 10.99.0.0/24 inside VXLAN-GPE.
# Arguments, if any, name the captures to record; without any, both are recorded again.
set -eu
only="$*"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
cleanup_only() {
    for ns in iocd-s iocd-c; do
        ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    sleep 1
    ip netns del iocd-s 2>/dev/null || true
    ip netns del iocd-c 2>/dev/null || true
}
trap 'cleanup_only; rm -rf "$tmp"' EXIT
cleanup_only
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 2 -subj "/CN=ioc-test.example" >/dev/null 2>&1

# two namespaces joined by a veth pair (the underlay), an OpenSSL s_server on port 4433 of
# every address of the server side
setup() {
    ip netns add iocd-s
    ip netns add iocd-c
    ip link add iocd-veth-s type veth peer name iocd-veth-c
    ip link set iocd-veth-s netns iocd-s
    ip link set iocd-veth-c netns iocd-c
    for ns in s c; do
        ip -n iocd-$ns link set lo up
        ip -n iocd-$ns link set iocd-veth-$ns up
    done
    ip -n iocd-s addr add 10.77.0.1/24 dev iocd-veth-s
    ip -n iocd-c addr add 10.77.0.2/24 dev iocd-veth-c
    ip netns exec iocd-s openssl s_server -quiet -accept 4433 -cert "$tmp/cert.pem" \
        -key "$tmp/key.pem" -www >/dev/null 2>&1 &
}

wanted() {
    [ -z "$only" ] || case " $only " in *" $1 "*) true ;; *) false ;; esac
}

# start tcpdump on the underlay into FILE; stop() ends it
start() {
    ip netns exec iocd-s tcpdump -i iocd-veth-s -U -w "$here/$1" \
        'not arp and not ip6' >/dev/null 2>&1 &
    tcpdump_pid=$!
    sleep 1
}
stop() {
    sleep 1
    kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
}

if wanted real-sgsnemu-gtpu-tls.pcap; then
    setup
    cat >"$tmp/ggsn.cfg" <<CFG
log stderr
 logging level all notice
ggsn ggsn0
 gtp state-dir $tmp
 gtp bind-ip 10.77.0.1
 apn internet
  gtpu-mode tun
  tun-device apn0
  type-support v4
  ip prefix dynamic 10.88.0.0/24
  ip dns 0 10.77.0.1
  ip ifconfig 10.88.0.0/24
  no shutdown
 default-apn internet
 no shutdown ggsn
CFG
    ip netns exec iocd-s osmo-ggsn -c "$tmp/ggsn.cfg" >/dev/null 2>&1 &
    sleep 2
    start real-sgsnemu-gtpu-tls.pcap
    # GTP-C creates the PDP context (the phone gets 10.88.0.1 on tun0), then curl's packets
    # travel as G-PDUs to the GGSN's apn0 address 10.88.0.0
    (cd "$tmp" && ip netns exec iocd-c sgsnemu -l 10.77.0.2 -r 10.77.0.1 --createif \
        --defaultroute --apn internet --timelimit 6 >/dev/null 2>&1) &
    sleep 3
    ip netns exec iocd-c curl -sk --max-time 3 --resolve gtp.ioc-test.example:4433:10.88.0.0 \
        https://gtp.ioc-test.example:4433/ >/dev/null 2>&1 || true
    sleep 4
    stop
    cleanup_only
fi

if wanted real-curl-vxlan-gpe-tls.pcap; then
    setup
    for side in s:1:2 c:2:1; do
        ns=iocd-${side%%:*}; me=$(echo $side | cut -d: -f2); peer=${side##*:}
        ip -n $ns link add iocd-gpe type vxlan external gpe dstport 4790
        ip -n $ns addr add 10.99.0.$me/32 dev iocd-gpe
        ip -n $ns link set iocd-gpe up
        ip -n $ns route add 10.99.0.$peer/32 encap ip id 4242 dst 10.77.0.$peer dev iocd-gpe \
            src 10.99.0.$me
    done
    start real-curl-vxlan-gpe-tls.pcap
    ip netns exec iocd-c curl -sk --max-time 3 --resolve gpe.ioc-test.example:4433:10.99.0.1 \
        https://gpe.ioc-test.example:4433/ >/dev/null 2>&1 || true
    stop
    cleanup_only
fi
echo "captures written to $here"
