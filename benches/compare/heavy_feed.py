#!/usr/bin/env python3
"""Build the match-heavy plain feed from names.py output: the ND most frequent registrable
domains of the DNS query names (last two labels, three under co.uk / com.br) and the NI most
frequent server addresses (TCP SYN and UDP/443 destinations), ties broken by value.
Usage: heavy_feed.py NAMES.tsv ND NI > FEED"""
import collections, sys
src, nd, ni = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = collections.Counter(); ips = collections.Counter()
for l in open(src):
    k, c, v = l.rstrip('\n').split('\t'); c = int(c)
    if k == 'qname':
        lab = v.split('.')
        n = 3 if '.'.join(lab[-2:]) in ('co.uk', 'com.br') else 2
        base['.'.join(lab[-n:])] += c
    else:
        ips[v] += c
top = lambda ctr, n: [v for v, _ in sorted(ctr.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
print(f"# iocd match-heavy bench feed: top {nd} registrable domains of DNS queries and top {ni}")
print(f"# server addresses of {src.split('/')[-1]}; synthetic, not real indicators")
for v in top(base, nd) + top(ips, ni):
    print(v)
