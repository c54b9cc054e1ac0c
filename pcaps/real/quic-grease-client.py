#!/usr/bin/env python3
"""A QUIC client (aioquic) whose first Initial carries a greased version (RFC 9000 §15), as
clients do to force version negotiation: the version 0xVERSION is listed first in
supported_versions, so aioquic protects its Initial with the keys it uses for any version but
v2, QUIC v1's. Usage: quic-grease-client.py HOST PORT SNI VERSION_HEX"""
import asyncio
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion


async def main(host, port, sni, version):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=sni)
    cfg.original_version = version
    cfg.supported_versions = [version, QuicProtocolVersion.VERSION_1]
    async with connect(host, port, configuration=cfg, wait_connected=True) as c:
        await c.ping()


try:
    asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4], 16)), 2))
except (asyncio.TimeoutError, ConnectionError):
    pass  # nobody answers: the Initial was sent (and retransmitted), which is all we want
