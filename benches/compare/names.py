#!/usr/bin/env python3
"""Count DNS query names (UDP/53 client->server) and TCP SYN destination addresses in a classic
pcap (Ethernet, IPv4/IPv6). Writes TSV "count<TAB>value" to stdout, kinds: qname (DNS query name),
dst (TCP SYN destination, except
DNS over TCP: the resolvers), quic (UDP/443 destination; count = client datagrams).
Usage: names.py CAPTURE.pcap [MAX_PACKETS]"""
import struct, sys, collections, ipaddress
path = sys.argv[1]; maxp = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 62
q = collections.Counter(); dst = collections.Counter(); quic = collections.Counter()
with open(path, 'rb') as f:
    gh = f.read(24)
    end = '<' if gh[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
    n = 0
    while n < maxp:
        h = f.read(16)
        if len(h) < 16: break
        _, _, incl, _ = struct.unpack(end + 'IIII', h)
        d = f.read(incl); n += 1
        et = struct.unpack('>H', d[12:14])[0]; off = 14
        if et == 0x0800:
            ihl = (d[off] & 15) * 4; proto = d[off + 9]; da = d[off + 16:off + 20]; off += ihl
        elif et == 0x86dd:
            proto = d[off + 6]; da = d[off + 24:off + 40]; off += 40
        else:
            continue
        if proto == 17:
            dport = struct.unpack('>H', d[off + 2:off + 4])[0]
            if dport == 443:
                quic[str(ipaddress.ip_address(bytes(da)))] += 1
            if dport != 53: continue
            p = off + 8 + 12; labels = []
            while p < len(d) and d[p] != 0 and d[p] < 64:
                labels.append(d[p + 1:p + 1 + d[p]].decode('ascii', 'replace')); p += 1 + d[p]
            if labels: q['.'.join(labels).lower()] += 1
        elif proto == 6:
            flags = d[off + 13]
            dport = struct.unpack('>H', d[off + 2:off + 4])[0]
            if flags & 0x02 and not flags & 0x10 and dport != 53:
                dst[str(ipaddress.ip_address(bytes(da)))] += 1
for name, c in q.items(): print(f"qname\t{c}\t{name}")
for a, c in dst.items(): print(f"dst\t{c}\t{a}")
for a, c in quic.items(): print(f"quic\t{c}\t{a}")
