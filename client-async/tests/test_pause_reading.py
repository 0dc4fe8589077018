"""`pause_reading` / `resume_reading`: an ``on_frame`` consumer stops the client reading, and reading goes on after."""

from __future__ import annotations

import asyncio
from typing import Any

from brokers import running_broker

import elbus_aio


async def test_paused_client_reads_nothing_until_resumed(sock_path: str, broker_kind: str) -> None:
    async with (
        running_broker(broker_kind, sock_path) as running,
        elbus_aio.Client(running.address, "paused") as paused,
        elbus_aio.Client(running.address, "sender") as sender,
    ):
        got: list[Any] = []
        paused.on_frame = lambda frame: got.append(frame.payload)
        await sender.send("paused", b"before")
        async with asyncio.timeout(2):
            while not got:
                await asyncio.sleep(0.01)
        paused.pause_reading()
        await sender.send("paused", b"while paused")  # acknowledged by the broker: it waits there
        await asyncio.sleep(0.2)
        assert got == [b"before"] and paused.is_connected
        paused.resume_reading()
        async with asyncio.timeout(2):
            while len(got) < 2:
                await asyncio.sleep(0.01)
        assert got == [b"before", b"while paused"]
