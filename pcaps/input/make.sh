#!/bin/sh
# Regenerate the captures of pcaps/input/ from pcaps/demo.pcap and two captures of pcaps/real/
# (raw IP, and a 16384-byte snapshot length), all made by this project.
# Needs Wireshark's mergecap and editcap (Debian: tshark), gzip, zstd and python3; the tests
# do not run this, they use the committed files.
set -e
cd "$(dirname "$0")"
demo=../demo.pcap
raw=../real/real-curl-tls13-sni-rawip-mtu400.pcap
idn=../real/real-dig-dns-idn-snaplen16384.pcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mergecap -F pcapng -w eth-rawip.pcapng "$demo" "$raw"
mergecap -F pcapng -w snaplens.pcapng "$demo" "$idn"
editcap -F nsecpcap "$demo" demo-nsec.pcap
python3 pcap2be.py pcap "$demo" demo-be.pcap
python3 pcap2be.py pcapng "$raw" rawip-be-nsec-tsoffset.pcapng
for link in ppp ppp_hdlc ppp_with_dir c_hdlc; do
    python3 rawip2ppp.py $link "$raw" rawip-$link.pcap
done
editcap -F pcapng "$demo" "$tmp/demo.pcapng"
cat "$tmp/demo.pcapng" rawip-be-nsec-tsoffset.pcapng > two-sections.pcapng
gzip -9 -n -c "$tmp/demo.pcapng" > demo.pcapng.gz
zstd -q -19 -c "$demo" > demo.pcap.zst
head -c 3000 "$demo" | gzip -9 -n > "$tmp/a.gz"
tail -c +3001 "$demo" | gzip -9 -n > "$tmp/b.gz"
cat "$tmp/a.gz" "$tmp/b.gz" > demo-2members.pcap.gz
rm -rf rotated && mkdir rotated
editcap -F pcap -c 25 "$demo" rotated/demo.pcap
printf 'Not a capture: a directory replay skips this file by its content.\n' > rotated/NOTES.txt
