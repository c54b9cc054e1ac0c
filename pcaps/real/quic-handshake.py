#!/usr/bin/env python3
"""A real QUIC handshake (aioquic on both sides), for the server side of QUIC fingerprints: the
server's Initial carries its ServerHello (JA3S, JA4S).
  quic-handshake.py server HOST PORT CERT KEY       answer QUIC v1 and v2 (HTTP/3 ALPN)
  quic-handshake.py client HOST PORT SNI VERSION... one connection per version (hex: 1, 6b3343cf)"""
import asyncio
import sys

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion

VERSIONS = [QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2]


async def server(host, port, cert, key):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    cfg.supported_versions = VERSIONS
    cfg.load_cert_chain(cert, key)
    await serve(host, port, configuration=cfg)
    await asyncio.Future()


async def client(host, port, sni, version):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=sni)
    cfg.verify_mode = False
    cfg.original_version = version
    cfg.supported_versions = [version]
    async with connect(host, port, configuration=cfg, wait_connected=True) as c:
        await c.ping()


if sys.argv[1] == "server":
    asyncio.run(server(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
else:
    for v in sys.argv[5:]:
        asyncio.run(asyncio.wait_for(client(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(v, 16)), 3))
