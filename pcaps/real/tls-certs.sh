#!/bin/sh
# Record real-tls12-cert-chain.pcap: OpenSSL's s_server presenting a chain of three (a root CA,
# an intermediate CA, a leaf; made here with openssl req/x509) to `openssl s_client -tls1_2`
# and to curl with --tls-max 1.2, then once more to curl over TLS 1.3 (certificate encrypted),
# in two private network namespaces joined by a veth pair with MTU 600 (so the Certificate
# message spans several TCP segments), recorded with tcpdump on the server side.
# Prints the expected certificate hashes from tshark (`tls.handshake.certificate`, the DER of
# every certificate, through xxd -r -p | sha1sum/sha256sum), which tests/tls_server.rs lists.
# Needs root, iproute2, ethtool, openssl, curl, tcpdump, tshark, xxd. Only the namespaces' own
# addresses (10.77.9.0/24) are used.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/real-tls12-cert-chain.pcap"
tmp=$(mktemp -d)
cleanup() {
    for ns in tlss-s tlss-c; do
        ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del $ns 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

cd "$tmp"
# root -> intermediate -> leaf
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 3650 \
    -subj "/CN=iocd test root CA" -addext "basicConstraints=critical,CA:true" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr \
    -subj "/CN=iocd test intermediate CA" >/dev/null 2>&1
printf 'basicConstraints=critical,CA:true\n' >inter.ext
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 3650 \
    -extfile inter.ext -out inter.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr \
    -subj "/CN=c2.cert-test.example" >/dev/null 2>&1
printf 'subjectAltName=DNS:c2.cert-test.example,DNS:*.wild.cert-test.example,DNS:alt.cert-test.example,IP:10.77.9.1\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 3650 \
    -extfile leaf.ext -out leaf.pem >/dev/null 2>&1
cat inter.pem root.pem >chain.pem

ip netns add tlss-s
ip netns add tlss-c
ip link add tlss-veth-s type veth peer name tlss-veth-c
ip link set tlss-veth-s netns tlss-s
ip link set tlss-veth-c netns tlss-c
for ns in s c; do
    ip -n tlss-$ns link set lo up
    ip -n tlss-$ns link set tlss-veth-$ns mtu 600 up
    ip netns exec tlss-$ns ethtool -K tlss-veth-$ns tso off gso off gro off >/dev/null 2>&1 || true
done
ip -n tlss-s addr add 10.77.9.1/24 dev tlss-veth-s
ip -n tlss-c addr add 10.77.9.2/24 dev tlss-veth-c

ip netns exec tlss-s openssl s_server -quiet -accept 4433 -cert leaf.pem -key leaf.key \
    -cert_chain chain.pem -www >/dev/null 2>&1 &
sleep 1
ip netns exec tlss-s tcpdump -i tlss-veth-s -s 0 -U -w "$out" tcp port 4433 >/dev/null 2>&1 &
sleep 1
echo | ip netns exec tlss-c openssl s_client -tls1_2 -connect 10.77.9.1:4433 \
    -servername s-client.cert-test.example >/dev/null 2>&1 || true
ip netns exec tlss-c curl -sk --tls-max 1.2 --resolve curl12.cert-test.example:4433:10.77.9.1 \
    https://curl12.cert-test.example:4433/ >/dev/null || true
ip netns exec tlss-c curl -sk --tlsv1.3 --resolve curl13.cert-test.example:4433:10.77.9.1 \
    https://curl13.cert-test.example:4433/ >/dev/null || true
sleep 1
ip netns pids tlss-s | xargs -r kill
sleep 1
echo "wrote $out"
echo "certificate DER hashes (tshark tls.handshake.certificate):"
tshark -r "$out" -Y tls.handshake.certificate -T fields -e tls.handshake.certificate 2>/dev/null |
    tr ',' '\n' | sort -u | while read -r der; do
        s1=$(echo "$der" | xxd -r -p | sha1sum | cut -d' ' -f1)
        s256=$(echo "$der" | xxd -r -p | sha256sum | cut -d' ' -f1)
        echo "sha1 $s1 sha256 $s256"
    done
echo "JA3S (tshark tls.handshake.ja3s):"
tshark -r "$out" -Y 'tls.handshake.type == 2' -T fields -e tls.handshake.ja3s -e tls.handshake.ja3s_full 2>/dev/null | sort | uniq -c
