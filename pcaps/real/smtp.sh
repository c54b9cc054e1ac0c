#!/bin/sh
# Record real SMTP clients for the SMTP tests: swaks 20201014 (Debian 12) sending mail to a small
# SMTP server (Python, below: EHLO with PIPELINING/8BITMIME/STARTTLS, MAIL, RCPT, DATA, RSET,
# QUIT, STARTTLS through Python's ssl) in two private network namespaces joined by a veth pair,
# recorded with tcpdump on the server side, then write the truth of what was sent with tshark
# (`smtp.req.parameter`, `imf.*`, `--export-objects imf` parsed by Python's `email`, compat32,
# `get_payload(decode=True)` as ../shared/pcaps/content/README.md does): real-swaks-smtp.json.
# Needs root, iproute2, ethtool, openssl, swaks, tcpdump, tshark, python3. Only the namespaces'
# own addresses (10.78.25.0/24) and reserved names (.example) are used.
# Usage: smtp.sh [OUT.pcap] (default: real-swaks-smtp.pcap next to this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/real-swaks-smtp.pcap}
tmp=$(mktemp -d)
S=iocd-smtp-s
C=iocd-smtp-c
cleanup() {
    for ns in $S $C; do
        ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    ip netns del $S 2>/dev/null || true
    ip netns del $C 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
mkdir -p "$tmp"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 2 -subj "/CN=mx.smtp-test.example" >/dev/null 2>&1

ip netns add $S
ip netns add $C
ip link add ismtp-s type veth peer name ismtp-c
ip link set ismtp-s netns $S
ip link set ismtp-c netns $C
for ns in $S $C; do
    ip -n $ns link set lo up
done
ip -n $S link set ismtp-s mtu 1500 up
ip -n $C link set ismtp-c mtu 1500 up
ip netns exec $S ethtool -K ismtp-s tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $C ethtool -K ismtp-c tso off gso off gro off >/dev/null 2>&1 || true
ip -n $S addr add 10.78.25.1/24 dev ismtp-s
ip -n $C addr add 10.78.25.2/24 dev ismtp-c

cat >"$tmp/server.py" <<'PY'
import socket, ssl, sys, threading
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
def serve(c):
    f = c.makefile("rb")
    def say(s):
        c.sendall(s.encode() + b"\r\n")
    say("220 mx.smtp-test.example ESMTP test")
    tls = False
    while True:
        line = f.readline()
        if not line:
            break
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            ext = ["PIPELINING", "8BITMIME", "SIZE 104857600"] + ([] if tls else ["STARTTLS"])
            for e in ext:
                say("250-" + e)
            say("250 HELP")
        elif cmd.startswith(b"HELO") or cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT") or cmd in (b"RSET", b"NOOP"):
            say("250 OK")
        elif cmd == b"DATA":
            say("354 go ahead")
            while f.readline() not in (b".\r\n", b""):
                pass
            say("250 queued")
        elif cmd == b"STARTTLS":
            say("220 ready to start TLS")
            c = ctx.wrap_socket(c, server_side=True)
            f = c.makefile("rb")
            tls = True
        elif cmd == b"QUIT":
            say("221 bye")
            break
        else:
            say("502 not implemented")
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.78.25.1", int(sys.argv[3])))
s.listen()
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
PY
for port in 25 2525 587; do
    ip netns exec $S python3 "$tmp/server.py" "$tmp/cert.pem" "$tmp/key.pem" $port >/dev/null 2>&1 &
done
sleep 1

# the files attached: one binary, one text sent quoted-printable in a message made by Python
head -c 3000 /dev/urandom >"$tmp/payload.bin"
python3 - "$tmp" <<'PY'
import sys, email.message, email.policy
d = sys.argv[1]
m = email.message.EmailMessage(policy=email.policy.SMTP)
m["From"] = "=?utf-8?q?J=C3=BCrgen?= <juergen@qp-sender.example>"
m["To"] = "Group: one@qp-rcpt.example, \"Two, T.\" <two@qp-rcpt.example>;"
m["Reply-To"] = "replies@qp-reply.example (replies)"
m["Subject"] = "quoted-printable attachment"
m.set_content("see attached\n")
m.add_attachment("caf\u00e9 = na\u00efve, a long line " + "x" * 120 + "\n" * 2 + "end\n",
                 subtype="plain", cte="quoted-printable", filename="notes-\u00e9t\u00e9.txt")
open(d + "/qp.eml", "wb").write(m.as_bytes())
PY

ip netns exec $S tcpdump -i ismtp-s -s 262144 -w "$tmp/cap.pcap" -U 'tcp' >/dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
run() { ip netns exec $C swaks --silent 2 "$@" >/dev/null; }
# 1: plain, port 25, two recipients, a Cc header, a base64 attachment
run --server 10.78.25.1:25 --ehlo client.example --from alice@sender.example \
    --to bob@rcpt.example,carol@rcpt.example \
    --header 'Cc: "Dave D." <dave@cc.example>' \
    --attach-type application/octet-stream --attach-name payload.bin --attach @"$tmp/payload.bin"
# 2: PIPELINING on a port that is no SMTP port, the quoted-printable message made above
run --server 10.78.25.1:2525 --pipeline --ehlo client.example --from juergen@qp-sender.example \
    --to one@qp-rcpt.example,two@qp-rcpt.example --data @"$tmp/qp.eml"
# 3: STARTTLS on 587 with an SNI: what follows is encrypted
run --server 10.78.25.1:587 --tls --tls-sni mx.smtp-test.example --ehlo client.example \
    --from hidden@tls-sender.example --to hidden@tls-rcpt.example --body 'secret'
sleep 1
kill "$tcpdump_pid" 2>/dev/null || true
sleep 1
cp "$tmp/cap.pcap" "$out"

# the truth, from tshark and Python's email
mkdir -p "$tmp/imf"
# tshark decodes SMTP on port 25 only: the other two ports are named
dec="-d tcp.port==2525,smtp -d tcp.port==587,smtp"
# shellcheck disable=SC2086 # $dec is two options
tshark -r "$out" $dec -q --export-objects imf,"$tmp/imf" >/dev/null 2>&1
python3 - "$out" "$tmp/imf" "${out%.pcap}.json" "$dec" <<'PY'
import sys, os, json, subprocess, hashlib, email, email.utils
from email import policy
pcap, imf, dst, dec = sys.argv[1:5]
def fields(*f):
    r = subprocess.run(["tshark", "-r", pcap] + dec.split() + ["-Y", "smtp.req or imf or tls.handshake.type==1", "-T", "fields", "-E", "separator=|", "-E", "aggregator=^"]
                       + [x for k in f for x in ("-e", k)], capture_output=True, text=True, check=True)
    return [l.split("|") for l in r.stdout.splitlines()]
mail_from, rcpt_to = set(), set()
# a pipelined segment holds several commands: their fields come joined by the aggregator
for cmds, pars in fields("smtp.req.command", "smtp.req.parameter"):
  for cmd, par in zip(cmds.split("^"), pars.split("^")):
    if cmd.upper() in ("MAIL", "RCPT") and "<" in par:
        a = par[par.index("<") + 1:par.index(">")].lower()
        (mail_from if cmd.upper() == "MAIL" else rcpt_to).add(a)
hdr = set()
for row in fields("imf.from", "imf.to", "imf.cc", "imf.reply_to", "imf.sender"):
    for v in (x for f in row for x in f.split("^")):
        for _, a in email.utils.getaddresses([v]):
            if a:
                hdr.add(a.lower())
att = []
for name in sorted(os.listdir(imf)):
    msg = email.message_from_bytes(open(os.path.join(imf, name), "rb").read(), policy=policy.compat32)
    for p in msg.walk():
        if p.is_multipart():
            continue
        if p.get_content_disposition() == "attachment" or p.get_filename():
            b = p.get_payload(decode=True)
            att.append({"filename": p.get_filename(), "content_type": p.get_content_type(),
                        "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
                        "md5": hashlib.md5(b).hexdigest(), "sha1": hashlib.sha1(b).hexdigest()})
sni = sorted({l[0] for l in fields("tls.handshake.extensions_server_name") if l[0]})
json.dump({"file": os.path.basename(pcap), "mail_from": sorted(mail_from), "rcpt_to": sorted(rcpt_to),
           "header": sorted(hdr), "attachments": att, "tls_sni": sni}, open(dst, "w"), indent=1)
open(dst, "a").write("\n")
PY
echo "wrote $out and ${out%.pcap}.json"
