"""Frames above the NATS server's max_payload are refused 0x72 at once; a server configured for them carries 16 MiB."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from nats_helpers import NatsServer, connected, link, sees, wait_for

import elbus_aio
from elbus_server import Broker
from elbus_spec import DataError

SIXTEEN_MIB = 16 * 1024 * 1024
FULL = SIXTEEN_MIB - len(b"y\0")  # the payload of a MESSAGE to "y" whose body is 16 MiB, the broker's default limit


async def send_across(server: NatsServer, sock_dir: Path, payload: bytes) -> bytes:
    """``payload`` from a socket client on node a to one on node b; what b received."""
    async with Broker(cluster=link(server.url, "a")) as a, Broker(cluster=link(server.url, "b")) as b:
        await wait_for(connected(a, b), what="connected")
        x = await elbus_aio.connect(await a.serve_unix(sock_dir / "a.sock"), "x", max_frame_length=32 << 20)
        y = await elbus_aio.connect(await b.serve_unix(sock_dir / "b.sock"), "y", max_frame_length=32 << 20)
        try:
            await wait_for(sees(a, "y"), what="a sees y")
            await x.send("y", payload)
            return (await y.receive(timeout=10)).payload
        finally:
            await x.close()
            await y.close()


async def test_a_frame_over_max_payload_is_refused_clearly(nats_server: NatsServer, sock_dir: Path) -> None:
    with pytest.raises(DataError):
        await send_across(nats_server, sock_dir, bytes(FULL))
    assert await send_across(nats_server, sock_dir, b"s" * 512 * 1024) == b"s" * 512 * 1024


async def test_sixteen_mib_across_nodes_with_a_raised_max_payload(sock_dir: Path) -> None:
    server = NatsServer(config="max_payload: 33554432\n", tmp=sock_dir).start()
    payload = os.urandom(FULL)
    try:
        assert await asyncio.wait_for(send_across(server, sock_dir, payload), 30) == payload
    finally:
        server.stop()
