#!/usr/bin/env python3
"""Rewrite a raw-IP pcap (LINKTYPE_RAW) as a pcap of a PPP link type, each IP packet framed as
that link type frames it. There is no kernel PPP here to record a real PPP link (pppd needs
ppp_generic, which this build host's kernel lacks), so the PPP headers are written by hand
around packets of a real capture. Usage: rawip2ppp.py ppp|ppp_hdlc|ppp_with_dir|c_hdlc IN OUT

  ppp           LINKTYPE_PPP (9), address/control and protocol fields compressed
                (RFC 1661 §6.5, §6.6): 0x21 (IPv4) or 0x57 (IPv6), then the packet
  ppp_hdlc      LINKTYPE_PPP_HDLC (50), RFC 1662 §3.1 framing: 0xFF 0x03, then 0x0021 / 0x0057
  ppp_with_dir  LINKTYPE_PPP_WITH_DIR (204): a direction byte (1 sent, 0 received: sent when
                the source is the first packet's source), then 0xFF 0x03 and the protocol
  c_hdlc        LINKTYPE_C_HDLC (104), Cisco HDLC: 0x0F 0x00, then the EtherType
"""
import struct
import sys

LINKS = {"ppp": 9, "ppp_hdlc": 50, "ppp_with_dir": 204, "c_hdlc": 104}


def frame(kind, pkt, sent):
    v6 = pkt[0] >> 4 == 6
    if kind == "ppp":
        return bytes([0x57 if v6 else 0x21]) + pkt
    if kind == "c_hdlc":
        return bytes([0x0F, 0x00]) + (b"\x86\xdd" if v6 else b"\x08\x00") + pkt
    ppp = b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + pkt
    return bytes([1 if sent else 0]) + ppp if kind == "ppp_with_dir" else ppp


def main(kind, src, dst):
    data = open(src, "rb").read()
    magic, = struct.unpack_from("<I", data, 0)
    assert magic == 0xA1B2C3D4, "expects a little-endian microsecond pcap"
    snaplen, link = struct.unpack_from("<II", data, 16)
    assert link == 101, "expects LINKTYPE_RAW"
    out = [data[:20] + struct.pack("<I", LINKS[kind])]
    off, first_src = 24, None
    while off + 16 <= len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        src_addr = pkt[12:16] if pkt[0] >> 4 == 4 else pkt[8:24]
        first_src = first_src or src_addr
        f = frame(kind, pkt, src_addr == first_src)
        extra = len(f) - len(pkt)
        out.append(struct.pack("<IIII", sec, usec, caplen + extra, wire + extra) + f)
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
