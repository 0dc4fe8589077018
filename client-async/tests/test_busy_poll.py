"""Adaptive busy polling (`elbus_aio.BusyPoll`), and a client that asks for it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import elbus_aio
from elbus_aio import BusyPoll


async def test_polls_only_after_a_chunk_from_a_busy_connection() -> None:
    loop = asyncio.get_running_loop()
    busy = BusyPoll(loop, 0.02)  # busy: chunks less than 4 windows (80 ms) apart
    a = busy.active(float("-inf"))  # a connection's first chunk
    assert not busy.polling
    b = busy.active(float("-inf"))  # another connection's first chunk, right after: no connection is busy
    assert not busy.polling
    await asyncio.sleep(0.12)
    a = busy.active(a)  # 120 ms after its last
    assert not busy.polling
    await asyncio.sleep(0.01)
    a = busy.active(a)  # 10 ms after its last: busy
    assert busy.polling
    spins = 0

    def count() -> None:
        nonlocal spins
        spins += 1

    started = time.perf_counter()
    while busy.polling:  # the loop keeps turning: callbacks scheduled each turn keep running
        loop.call_soon(count)
        await asyncio.sleep(0)
    assert 0.015 <= time.perf_counter() - started < 0.5 and spins > 10
    await asyncio.sleep(0.1)
    busy.active(b)
    busy.active(a)  # both over 80 ms after their last
    assert not busy.polling


async def test_stop_ends_polling_at_once() -> None:
    busy = BusyPoll(asyncio.get_running_loop(), 10.0)
    busy.active(busy.active(float("-inf")))
    assert busy.polling
    busy.stop()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not busy.polling
    busy.active(busy.active(float("-inf")))
    assert not busy.polling


async def test_a_client_polls_while_its_connection_is_busy(broker: Any) -> None:
    async with elbus_aio.Client(broker.address, "a", busy_poll=0.02) as a, elbus_aio.Client(broker.address, "b") as b:
        assert a.secondary("x").busy_poll == 0.02 and b.busy_poll == 0
        busy = a._session._busy
        assert busy is not None and b._session._busy is None
        await asyncio.sleep(0.2)
        assert not busy.polling
        for _ in range(3):  # sends and acks close together: busy
            await a.send("b", b"x")
        assert busy.polling
        await asyncio.sleep(0.1)
        assert not busy.polling
    with pytest.raises(ValueError, match="busy_poll"):
        elbus_aio.Client(broker.address, "c", busy_poll=-1)
