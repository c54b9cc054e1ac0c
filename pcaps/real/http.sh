#!/bin/sh
# Record the real-client HTTP/1.x captures of this folder and their truth: curl and wget
# downloading from a local HTTP/1.1 server over one keep-alive connection each (Content-Length,
# chunked, gzip and chunked+gzip bodies, a HEAD, a Content-Disposition name, a 404), an upload
# (curl -F, multipart), and pipelined requests (three requests written at once by a raw
# socket, a HEAD among them), in two private network namespaces joined by a veth pair,
# recorded with tcpdump on the server side twice: whole packets, and cut at 300 bytes (the
# snap length case). Truth: tshark's `http.request.full_uri` and `--export-objects http`
# (sha256/sha1/md5 of every exported object), written to real-http-truth.json.
# Needs root, iproute2, ethtool, curl, wget, tcpdump, tshark, python3. Uses 10.78.0.0/24 and
# namespaces iocd-hs / iocd-hc only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
cleanup() {
    for ns in iocd-hs iocd-hc; do
        ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del $ns 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
for ns in iocd-hs iocd-hc; do ip netns del $ns 2>/dev/null || true; done

ip netns add iocd-hs
ip netns add iocd-hc
ip link add iocd-hveth-s type veth peer name iocd-hveth-c
ip link set iocd-hveth-s netns iocd-hs
ip link set iocd-hveth-c netns iocd-hc
for ns in s c; do
    ip -n iocd-h$ns link set lo up
    ip -n iocd-h$ns link set iocd-hveth-$ns mtu 1500 up
    ip netns exec iocd-h$ns ethtool -K iocd-hveth-$ns tso off gso off gro off >/dev/null 2>&1 || true
done
ip -n iocd-hs addr add 10.78.0.1/24 dev iocd-hveth-s
ip -n iocd-hc addr add 10.78.0.2/24 dev iocd-hveth-c

# the server: HTTP/1.1 with keep-alive; bodies are deterministic (seeded)
cat >"$tmp/server.py" <<'PY'
import gzip, http.server, random, socketserver
rnd = random.Random(78)
FILE = rnd.randbytes(300_000)
TEXT = b"".join(b"line %d of a text file\n" % i for i in range(20000))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send_body(self, body, chunked=False, gz=False, extra=()):
        if gz:
            body = gzip.compress(body, 6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in extra:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            for i in range(0, len(body), 7000):
                c = body[i:i + 7000]
                self.wfile.write(b"%x\r\n" % len(c) + c + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/files/plain.bin": self.send_body(FILE)
        elif p == "/files/chunked.bin": self.send_body(FILE[:150_000], chunked=True)
        elif p == "/files/text.txt": self.send_body(TEXT, gz=True)
        elif p == "/files/chunked-gzip.txt": self.send_body(TEXT[:200_000], chunked=True, gz=True)
        elif p == "/dl": self.send_body(FILE[:50_000], extra=[("Content-Disposition", 'attachment; filename="report.pdf"')])
        else:
            self.send_response(404); self.send_header("Content-Length", "9"); self.end_headers()
            if self.command != "HEAD": self.wfile.write(b"not found")
    do_HEAD = do_GET
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        body = b"stored %d bytes\n" % n
        self.send_response(201); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("10.78.0.1", 8080), H).serve_forever()
PY
ip netns exec iocd-hs python3 "$tmp/server.py" &
sleep 1

out=$here
ip netns exec iocd-hs tcpdump -i iocd-hveth-s -s 0 -U -w "$tmp/full.pcap" tcp 2>/dev/null &
ip netns exec iocd-hs tcpdump -i iocd-hveth-s -s 300 -U -w "$tmp/snap.pcap" tcp 2>/dev/null &
sleep 1
S=http://10.78.0.1:8080
c() { ip netns exec iocd-hc "$@"; }
# curl: five requests on one keep-alive connection, --compressed decodes nothing it stores
c curl -s -o /dev/null "$S/files/plain.bin" -o /dev/null "$S/files/chunked.bin" \
    -o /dev/null "$S/files/text.txt" -o /dev/null "$S/files/chunked-gzip.txt?x=1" \
    -o /dev/null "$S/dl?id=7" -o /dev/null "$S/missing/%7Euser/../nothing.html"
c curl -s -I -o /dev/null "$S/files/plain.bin"
# an upload (multipart/form-data)
python3 -c "import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(40000))" >"$tmp/upload.bin"
c curl -s -o /dev/null -F "file=@$tmp/upload.bin;filename=upload.bin" "$S/upload"
# wget: two files over one connection
c wget -q -O /dev/null "$S/files/plain.bin" "$S/files/chunked.bin"
# pipelining: three requests in one write, a HEAD in the middle
c python3 -c '
import socket
s = socket.create_connection(("10.78.0.1", 8080))
s.sendall(b"GET /files/chunked.bin HTTP/1.1\r\nHost: 10.78.0.1:8080\r\n\r\n"
          b"HEAD /files/plain.bin HTTP/1.1\r\nHost: 10.78.0.1:8080\r\n\r\n"
          b"GET /dl HTTP/1.1\r\nHost: 10.78.0.1:8080\r\nConnection: close\r\n\r\n")
while s.recv(65536): pass
'
sleep 1
kill $(ip netns pids iocd-hs) 2>/dev/null || true
sleep 1
cp "$tmp/full.pcap" "$out/real-http-keepalive-pipelining-upload.pcap"
cp "$tmp/snap.pcap" "$out/real-http-keepalive-snaplen300.pcap"

# truth, from tshark
f="$out/real-http-keepalive-pipelining-upload.pcap"
tshark -r "$f" -Y http.request -T fields -e http.request.full_uri | sort -u >"$tmp/urls"
mkdir "$tmp/objects"
tshark -r "$f" --export-objects "http,$tmp/objects" >/dev/null
python3 - "$tmp" "$here/real-http-truth.json" <<'PY'
import hashlib, json, os, sys
tmp, out = sys.argv[1], sys.argv[2]
files = []
for n in sorted(os.listdir(tmp + "/objects")):
    b = open(os.path.join(tmp, "objects", n), "rb").read()
    files.append({"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
                  "sha1": hashlib.sha1(b).hexdigest(), "md5": hashlib.md5(b).hexdigest()})
# several requests in one frame (pipelining) are one line, their URIs joined by ","
urls = sorted({u for line in open(tmp + "/urls").read().split("\n") if line
               for u in line.replace(",http://", "\nhttp://").split("\n")})
json.dump({"file": "real-http-keepalive-pipelining-upload.pcap", "urls": urls, "http_files": files},
          open(out, "w"), indent=1)
PY
echo "wrote $out/real-http-*.pcap and $here/real-http-truth.json"
