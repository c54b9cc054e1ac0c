#!/usr/bin/env python3
"""Regenerate fuzz/seeds/<target>/ from the public capture corpus ../shared/pcaps/corpus/ (needs tshark) plus a few hand-made DNS
messages. Seeds are small starting points for the fuzzer, checked in; what the fuzzer finds
goes to fuzz/corpus/ (gitignored). Run from the repository root: fuzz/seeds/extract.py"""

import hashlib
import pathlib
import struct
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The public captures are kept outside the project, next to it (pcaps/README.md).
CORPUS = ROOT.parent / "shared" / "pcaps" / "corpus"
# The content corpus (TLS certificates among others) and the chain of three made here.
CONTENT = ROOT.parent / "shared" / "pcaps" / "content"
SERVER_CAPTURES = [ROOT / "pcaps" / "real" / "real-tls12-cert-chain.pcap"]
SEEDS = ROOT / "fuzz" / "seeds"
MAX_SEED = 2048  # bytes; libFuzzer's -max_len follows the largest seed
PER_FILE = 3

# Index into LINKS in fuzz_targets/decode.rs, by pcap LINKTYPE.
LINK_INDEX = {1: 0, 0: 1, 108: 2, 101: 3, 12: 3, 14: 3, 228: 4, 229: 5, 113: 6, 276: 7}


def save(target, data, max_len=MAX_SEED):
    if not data or len(data) > max_len:
        return
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def classic_pcap_frames(path):
    """(linktype, [frames]) of a classic pcap file; None for pcapng."""
    b = path.read_bytes()
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    link = struct.unpack(e + "I", b[20:24])[0] & 0x0FFFFFFF
    frames, off = [], 24
    while off + 16 <= len(b):
        incl = struct.unpack(e + "I", b[off + 8 : off + 12])[0]
        frames.append(b[off + 16 : off + 16 + incl])
        off += 16 + incl
    return link, frames


def tshark_hex(path, display_filter, field):
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", field],
        capture_output=True, text=True, check=False,
    ).stdout
    # tunnels give one value per layer, comma-separated: keep the innermost
    return [bytes.fromhex(l.split(",")[-1].strip()) for l in out.splitlines() if l.strip()]


def dns_message(flags, counts, body):
    return struct.pack(">HHHHHH", 0x1234, flags, *counts) + body


def name(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def rr(owner, typ, cls, rdata):
    return owner + struct.pack(">HHIH", typ, cls, 60, len(rdata)) + rdata


def hand_made_dns():
    q = name(b"www", b"example", b"com") + b"\0\1\0\1"
    yield dns_message(0x0100, (1, 0, 0, 0), q)
    chain = (
        rr(b"\xc0\x0c", 5, 1, name(b"a", b"cdn", b"example", b"net"))
        + rr(b"\xc0\x2d", 5, 1, b"\x04edge\xc0\x0c")
        + rr(b"\xc0\x0c", 1, 1, bytes([192, 0, 2, 1]))
        + rr(b"\xc0\x0c", 28, 1, bytes(15) + b"\1")
        + rr(name(b"example", b"com"), 39, 1, name(b"example", b"net"))
    )
    yield dns_message(0x8180, (1, 5, 0, 0), q + chain)
    # mDNS announcement: QDCOUNT 0, cache-flush bit in CLASS
    yield dns_message(0x8400, (0, 2, 0, 0),
                      rr(name(b"nas", b"local"), 1, 0x8001, bytes([192, 168, 1, 5]))
                      + rr(b"\xc0\x0c", 28, 0x8001, b"\xfe\x80" + bytes(13) + b"\1"))
    # forward pointer in the question, as in sv-dns-forward-compression-pointer.pcap
    yield dns_message(0x0100, (2, 0, 0, 0), b"\xc0\x12\0\1\0\1" + name(b"later", b"example") + b"\0\1\0\1")


def server_seeds():
    """tls_server seeds: the server's segments carrying a ServerHello or a Certificate, and the
    reassembled TCP data of a Certificate spread over segments, behind the target's one-byte
    header (0: server side, whole chunks)."""
    paths = SERVER_CAPTURES + (sorted(CONTENT.iterdir()) if CONTENT.is_dir() else [])
    for path in paths:
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        flt = "tls.handshake.type == 2 || tls.handshake.type == 11"
        for field in ("tcp.payload", "tcp.reassembled.data"):
            for p in tshark_hex(path, flt, field)[:PER_FILE]:
                save("tls_server", b"\0" + p, 16384)


def main():
    for m in hand_made_dns():
        save("dns", m)
    server_seeds()
    if not CORPUS.is_dir():
        raise SystemExit(f"the public capture corpus is not at {CORPUS}")
    for path in sorted(CORPUS.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        dns = tshark_hex(path, "dns && udp", "udp.payload")
        for p in dns[:PER_FILE]:
            save("dns", p)
        hellos = tshark_hex(path, "tls.handshake.type == 1", "tcp.payload")
        for p in hellos[:PER_FILE]:
            save("tls", p)
            save("tls", p[5:])  # the bare handshake message, as QUIC CRYPTO frames carry it
        parsed = classic_pcap_frames(path)
        if parsed is None or parsed[0] not in LINK_INDEX:
            continue
        link, frames = parsed
        prefix = bytes([LINK_INDEX[link]])
        for f in frames[:PER_FILE]:
            save("decode", prefix + f)


if __name__ == "__main__":
    main()
