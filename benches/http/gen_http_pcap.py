#!/usr/bin/env python3
"""An HTTP-download-heavy capture for the HTTP stream figures (BENCHMARKS.md): CONNS keep-alive
connections in turn, each REQS GET requests answered by a body of SIZE bytes (Content-Length;
every fourth chunked, every eighth gzip-encoded), in 1,448-byte segments with an ACK every two.
Deterministic (seeded). Usage: gen_http_pcap.py OUT.pcap [CONNS REQS SIZE]"""
import gzip, random, struct, sys

out = sys.argv[1]
conns, reqs, size = (int(a) for a in (sys.argv[2:5] or (50, 20, 262144)))
rnd = random.Random(4301)
MSS = 1448
f = open(out, "wb")
f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
ts = [1_700_000_000_000_000]

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def pkt(src, dst, sp, dp, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    frame = eth + ip + tcp
    ts[0] += 20
    f.write(struct.pack("<IIII", ts[0] // 1_000_000, ts[0] % 1_000_000, len(frame), len(frame)) + frame)

for c in range(conns):
    cli, srv = [10, 1, c >> 8, c & 255], [10, 2, 0, 1]
    sp, dp = 20000 + c, 80
    cs, ss = rnd.getrandbits(32), rnd.getrandbits(32)
    pkt(cli, srv, sp, dp, cs, 0, 0x02); pkt(srv, cli, dp, sp, ss, cs + 1, 0x12); pkt(cli, srv, sp, dp, cs + 1, ss + 1, 0x10)
    cs += 1; ss += 1
    for r in range(reqs):
        req = b"GET /files/%d/%d.bin HTTP/1.1\r\nHost: dl%d.example\r\nUser-Agent: gen\r\nAccept: */*\r\n\r\n" % (c, r, c % 7)
        pkt(cli, srv, sp, dp, cs, ss, 0x18, req); cs += len(req)
        body = rnd.randbytes(size // 2) + bytes(size - size // 2)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        if r % 8 == 7:
            body = gzip.compress(body, 6, mtime=0); head += b"Content-Encoding: gzip\r\n"
        if r % 4 == 3:
            chunks = [body[i:i + 8192] for i in range(0, len(body), 8192)]
            body = b"".join(b"%x\r\n" % len(x) + x + b"\r\n" for x in chunks) + b"0\r\n\r\n"
            head += b"Transfer-Encoding: chunked\r\n\r\n"
        else:
            head += b"Content-Length: %d\r\n\r\n" % len(body)
        resp = head + body
        for i, at in enumerate(range(0, len(resp), MSS)):
            seg = resp[at:at + MSS]
            pkt(srv, cli, dp, sp, ss, cs, 0x18 if at + MSS >= len(resp) else 0x10, seg); ss += len(seg)
            if i % 2: pkt(cli, srv, sp, dp, cs, ss, 0x10)
    pkt(cli, srv, sp, dp, cs, ss, 0x11); pkt(srv, cli, dp, sp, ss, cs + 1, 0x11); pkt(cli, srv, sp, dp, cs + 1, ss + 1, 0x10)
f.close()
