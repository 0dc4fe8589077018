"""Outgoing frames are coalesced for ``buf_ttl`` (or ``buf_size`` bytes); realtime frames flush at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from elbus_spec import QoS, codec


async def test_frames_wait_for_the_ttl_and_realtime_flushes_at_once(make_broker: Any, connect: Any) -> None:
    running = await make_broker(buf_ttl=0.3)
    rx = await connect(running.path, "rx")
    tx = await connect(running.path, "tx")
    started = time.monotonic()
    for i in range(3):
        tx.write(tx.conn.send_message("rx", b"%d" % i, QoS.NO)[1])
    await rx.nothing(0.15)  # still coalescing
    frames = await rx.frames(3)
    assert 0.25 < time.monotonic() - started < 1.5
    assert frames == [codec.encode_message_delivery(0, "tx", b"%d" % i) for i in range(3)]

    tx.write(tx.conn.send_message("rx", b"queued", QoS.NO)[1])
    await asyncio.sleep(0.05)
    tx.write(tx.conn.send_message("rx", b"now", QoS.REALTIME)[1])
    started = time.monotonic()
    first, second = await rx.frames(2)  # the realtime frame flushes what was queued before it, in order
    assert time.monotonic() - started < 0.2
    assert first.endswith(b"queued") and second == codec.encode_message_delivery(1, "tx", b"now")


async def test_buf_size_forces_a_write(make_broker: Any, connect: Any) -> None:
    running = await make_broker(buf_ttl=5.0, buf_size=1000)
    rx = await connect(running.path, "rx")
    tx = await connect(running.path, "tx")
    tx.write(tx.conn.send_message("rx", b"x" * 1200, QoS.NO)[1])
    assert (await rx.frame(1)).endswith(b"x" * 1200)  # over buf_size: written without waiting for the TTL
