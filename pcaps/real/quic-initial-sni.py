#!/usr/bin/env python3
"""Truth for QUIC client Initials that tshark 4.0 does not decrypt (a greased version): read
an Ethernet/IPv4/UDP pcap, open each long-header Initial with the client keys of QUIC v1
(RFC 9001 §5.2: HKDF with the v1 salt over the Destination Connection ID, §5.4 header
protection, AES-128-GCM), and print the frame number, the version and the SNI of the
ClientHello in its first CRYPTO frame. Independent of iocd: Python's `cryptography` only.
Usage: quic-initial-sni.py FILE"""
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC

SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def hmac(key, data):
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def expand_label(secret, label, n):
    full = b"tls13 " + label
    info = struct.pack(">HB", n, len(full)) + full + b"\x00"
    return hmac(secret, info + b"\x01")[:n]


def varint(b, i):
    n = 1 << (b[i] >> 6)
    v = b[i] & 0x3F
    for x in b[i + 1 : i + n]:
        v = (v << 8) | x
    return v, i + n


def sni(hello):
    i = 4 + 2 + 32
    i += 1 + hello[i]
    i += 2 + struct.unpack_from(">H", hello, i)[0]
    i += 1 + hello[i]
    end = i + 2 + struct.unpack_from(">H", hello, i)[0]
    i += 2
    while i < end:
        t, n = struct.unpack_from(">HH", hello, i)
        if t == 0:
            return hello[i + 9 : i + 4 + n].decode()
        i += 4 + n


def initial(pkt):
    dl = pkt[5]
    dcid = pkt[6 : 6 + dl]
    i = 6 + dl
    i += 1 + pkt[i]
    tok, i = varint(pkt, i)
    i += tok
    length, pn_off = varint(pkt, i)
    secret = expand_label(hmac(SALT_V1, dcid), b"client in", 32)
    key, iv, hp = (expand_label(secret, l, n) for l, n in ((b"quic key", 16), (b"quic iv", 12), (b"quic hp", 16)))
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(pkt[pn_off + 4 : pn_off + 20])
    first = pkt[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    pn = bytes(a ^ b for a, b in zip(pkt[pn_off : pn_off + pn_len], mask[1:]))
    header = bytes([first]) + pkt[1:pn_off] + pn
    nonce = bytearray(iv)
    for k, b in enumerate(pn.rjust(8, b"\0")):
        nonce[4 + k] ^= b
    plain = AESGCM(key).decrypt(bytes(nonce), pkt[pn_off + pn_len : pn_off + length], header)
    j = 0
    while j < len(plain) and plain[j] in (0, 1):  # PADDING, PING
        j += 1
    if j == len(plain) or plain[j] != 6:
        return None  # no CRYPTO frame first (a probe)
    off, j = varint(plain, j + 1)
    n, j = varint(plain, j)
    return sni(plain[j : j + n]) if off == 0 else None


data = open(sys.argv[1], "rb").read()
off, frame = 24, 0
while off + 16 <= len(data):
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    rec = data[off + 16 : off + 16 + caplen]
    off += 16 + caplen
    frame += 1
    ip = rec[14:]
    if rec[12:14] != b"\x08\x00" or ip[9] != 17:
        continue
    udp = ip[(ip[0] & 15) * 4 :]
    pkt = udp[8:]
    if pkt and pkt[0] & 0xC0 == 0xC0 and (pkt[0] >> 4) & 3 == 0:
        print(frame, "0x" + pkt[1:5].hex(), initial(pkt))
