#!/usr/bin/env python3
"""Rewrite a little-endian microsecond pcap as a big-endian pcap (`pcap`) or as a big-endian
pcapng with nanosecond timestamps and an if_tsoffset (`pcapng`). editcap writes only the host
byte order, so these two are made here. Usage: pcap2be.py pcap|pcapng IN OUT"""
import struct
import sys

# if_tsoffset written into the pcapng: timestamps are stored this many seconds early, so a
# reader that ignores the option is off by this much.
TSOFFSET = 1_000_000_000


def records(data):
    magic, = struct.unpack_from("<I", data, 0)
    assert magic == 0xA1B2C3D4, "expects a little-endian microsecond pcap"
    snaplen, link = struct.unpack_from("<II", data, 16)
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, off)
        out.append((sec, usec, wire, data[off + 16 : off + 16 + caplen]))
        off += 16 + caplen
    return snaplen, link, out


def block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(">II", btype, n) + body + struct.pack(">I", n)


def main():
    mode, src, dst = sys.argv[1:4]
    snaplen, link, recs = records(open(src, "rb").read())
    if mode == "pcap":
        out = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link)
        for sec, usec, wire, d in recs:
            out += struct.pack(">IIII", sec, usec, len(d), wire) + d
    else:
        out = block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
        opts = struct.pack(">HH", 9, 1) + b"\x09\0\0\0"  # if_tsresol 9: nanoseconds
        opts += struct.pack(">HHq", 14, 8, TSOFFSET)  # if_tsoffset
        opts += struct.pack(">HH", 0, 0)
        out += block(1, struct.pack(">HHI", link, 0, snaplen) + opts)
        for sec, usec, wire, d in recs:
            ts = (sec - TSOFFSET) * 1_000_000_000 + usec * 1000
            out += block(6, struct.pack(">IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(d), wire) + d)
    open(dst, "wb").write(out)


main()
