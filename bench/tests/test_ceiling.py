"""The ceiling broker speaks enough elbus to be a fair yardstick: handshake, routing, acks, refusals."""

from __future__ import annotations

import asyncio

import pytest
from elbus_bench.brokers import BrokerProcess
from elbus_bench.measure import StageError, Tick
from elbus_bench.wire import connect

from elbus_spec import codec


@pytest.fixture
async def ceiling():
    async with BrokerProcess("ceiling") as broker:
        yield broker


async def test_message_is_delivered_with_the_sender_and_acked(ceiling: BrokerProcess) -> None:
    tick = Tick(stall_timeout=5)
    a = await connect(ceiling.address, "a", tick)
    b = await connect(ceiling.address, "b", tick)
    raw: list[bytes] = []
    received = asyncio.get_running_loop().create_future()
    original = b.data_received

    def capture(data: bytes) -> None:
        raw.append(data)
        original(data)
        if b.counter.messages and not received.done():
            received.set_result(None)

    b.data_received = capture  # type: ignore[method-assign]
    a.transport.write(codec.encode_message_frame(9, 1, "b", b"hi") + codec.encode_message_frame(10, 1, "nobody", b"x"))
    await asyncio.wait_for(received, 5)
    await tick.until(lambda: a.counter.acks == 2, lambda: "acks")
    assert b"".join(raw) == codec.encode_message_delivery(0, "a", b"hi")
    assert a.counter.ack_errors == 1  # 0x71 for the unknown target
    a.transport.close()
    b.transport.close()


async def test_duplicate_name_is_refused(ceiling: BrokerProcess) -> None:
    tick = Tick(stall_timeout=5)
    first = await connect(ceiling.address, "same", tick)
    with pytest.raises(StageError, match="refused at step 2: 76"):
        await connect(ceiling.address, "same", tick)
    first.transport.close()


async def test_bad_greeting_gets_not_supported(ceiling: BrokerProcess) -> None:
    reader, writer = await asyncio.open_unix_connection(ceiling.address)
    assert await reader.readexactly(3) == b"\xeb\x01\x00"
    writer.write(b"\xeb\x02\x00")
    assert await asyncio.wait_for(reader.read(10), 5) == b"\x75"
    writer.close()


async def test_a_body_without_separator_drops_only_its_sender_after_earlier_frames(ceiling: BrokerProcess) -> None:
    tick = Tick(stall_timeout=5)
    bad = await connect(ceiling.address, "bad", tick)
    good = await connect(ceiling.address, "good", tick)
    no_separator = codec.encode_client_header(1, 0, 0x12, 4) + b"good"
    bad.transport.write(codec.encode_message_frame(1, 0, "good", b"first") + no_separator)
    await tick.until(lambda: bad.lost and good.counter.messages == 1, lambda: f"lost {bad.lost}, got {good.counter.messages}")
    assert not good.lost
    good.transport.close()
