"""elbus_aio clients talking to each other through a routing broker over real UNIX and TCP sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from routing_broker import RoutingBroker

import elbus_aio
from elbus_aio import Broadcast, ConnectionClosed, Message, Publication, QoS
from elbus_spec import LocalProtocolError, NotRegistered


async def test_send_broadcast_publish_between_clients(any_broker: Any) -> None:
    address = any_broker.address
    async with elbus_aio.Client(address, "app.a") as a, await elbus_aio.connect(address, "app.b") as b:
        await b.subscribe("news/#")
        await a.send("app.b", "héllo")
        await a.broadcast("app.?", b"to all")
        await a.publish("news/today", memoryview(b"paper"), qos=QoS.REALTIME_PROCESSED)
        frames = [await b.receive(timeout=2) for _ in range(3)]
        assert frames == [
            Message("app.a", None, "héllo".encode(), False),
            Broadcast("app.a", None, b"to all", False),
            Publication("app.a", "news/today", b"paper", True),
        ]
        assert (await a.receive(timeout=2)).payload == b"to all"  # the mask matches the sender too
        with pytest.raises(NotRegistered) as exc:
            await a.send("app.nobody", b"x")
        assert exc.value.code == 0x71
        await b.unsubscribe("news/#")
        await a.publish("news/today", b"late")
        await a.send("app.b", b"marker")
        assert (await b.receive(timeout=2)).payload == b"marker"


async def test_bad_arguments_raise_before_anything_is_written(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.a") as a:
        with pytest.raises(LocalProtocolError):
            await a.send("bad\x00target", b"x")
        with pytest.raises(ValueError):
            await a.subscribe()
        with pytest.raises(TimeoutError):
            await a.receive(timeout=0.05)
        await a.send("app.a", b"still fine")
        assert (await a.receive(timeout=2)).payload == b"still fine"
    with pytest.raises(ValueError):
        elbus_aio.Client(kind_broker.address, "x", timeout=0)


async def test_async_for_ends_when_the_client_closes(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.a") as a, elbus_aio.Client(kind_broker.address, "app.b") as b:
        for i in range(3):
            a.send_nowait("app.b", bytes([i]), qos=QoS.NO)

        async def consume() -> list[bytes]:
            return [frame.payload async for frame in b]

        consumer = asyncio.create_task(consume())
        await a.send("app.b", b"last")
        await asyncio.sleep(0.05)
        await b.close()
        assert await asyncio.wait_for(consumer, 2) == [b"\x00", b"\x01", b"\x02", b"last"]
        with pytest.raises(ConnectionClosed):
            await b.receive()
        with pytest.raises(ConnectionClosed):
            await b.send("app.a", b"x")


async def test_on_frame_callbacks_sync_and_async(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.a") as a, elbus_aio.Client(kind_broker.address, "app.b") as b:
        seen: list[bytes] = []
        b.on_frame = lambda frame: seen.append(frame.payload)
        await a.send("app.b", b"sync")
        got = asyncio.get_running_loop().create_future()

        async def handler(frame: elbus_aio.Frame) -> None:
            await asyncio.sleep(0)
            got.set_result(frame.payload)

        b.on_frame = handler
        await a.send("app.b", b"async")
        assert await asyncio.wait_for(got, 2) == b"async"
        assert seen == [b"sync"] and b.queued == 0
        b.on_frame = None
        await a.send("app.b", b"queued")
        assert (await b.receive(timeout=2)).payload == b"queued"


async def test_pipelining_thousands_of_frames(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.a") as a, elbus_aio.Client(kind_broker.address, "app.b") as b:
        futures = [a.send_nowait("app.b", i.to_bytes(4, "little")) for i in range(5000)]
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        payloads = [(await b.receive(timeout=2)).payload for _ in range(5000)]
        assert payloads == [i.to_bytes(4, "little") for i in range(5000)]


async def test_close_fails_pending_acks(broker: RoutingBroker) -> None:
    a = await elbus_aio.connect(broker.address, "app.a")
    broker.hold("app.a")  # the broker stops reading: no ack will come
    pending = a.send_nowait("app.a", b"x")
    waiter = asyncio.create_task(a.receive())
    await asyncio.sleep(0.05)
    await a.close()
    with pytest.raises(ConnectionClosed):
        await pending
    with pytest.raises(ConnectionClosed):
        await waiter
    assert a.closed and not a.is_connected
    await a.close()  # idempotent


async def test_broker_gone_fails_waits_at_once(broker: RoutingBroker) -> None:
    a = await elbus_aio.connect(broker.address, "app.a", timeout=30)
    broker.hold("app.a")
    pending = a.send_nowait("app.a", b"x")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await broker.stop()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(pending, 2)
    await asyncio.wait_for(a.wait_closed(), 2)
    assert loop.time() - started < 2  # not the 30 s timeout: the socket closing is enough
    assert a.closed


async def test_full_queue_stops_reading_and_loses_nothing(kind_broker: Any) -> None:
    async with (
        elbus_aio.Client(kind_broker.address, "app.a") as a,
        elbus_aio.Client(kind_broker.address, "app.b", queue_size=4, timeout=0.3) as b,
    ):
        await asyncio.gather(*(a.send_nowait("app.b", str(i)) for i in range(200)))
        await asyncio.sleep(0.6)  # longer than b's dead-broker deadline: not reading is not silence
        assert b.is_connected
        assert [(await b.receive(timeout=2)).payload for _ in range(200)] == [str(i).encode() for i in range(200)]


async def test_secondary_helper(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.p", timeout=2) as p:
        async with p.secondary(7) as s, await elbus_aio.connect_secondary(kind_broker.address, "app.p", "x") as x:
            assert (s.name, x.name, s.timeout) == ("app.p%%7", "app.p%%x", 2)
            await s.send("app.p%%x", b"hi")
            frame = await x.receive(timeout=2)
            assert (frame.sender, frame.primary_sender) == ("app.p%%7", "app.p")


async def test_connect_failures(sock_path: str, kind_broker: Any) -> None:
    with pytest.raises(OSError):
        await elbus_aio.connect(sock_path + ".none.sock", "x")
    with pytest.raises(ValueError):
        await elbus_aio.connect("no-port-here", "x")
    async with elbus_aio.Client(kind_broker.address, "app.a"):
        with pytest.raises(elbus_aio.Busy):
            await elbus_aio.connect(kind_broker.address, "app.a")
    assert elbus_aio.is_unix_address("/run/x") and elbus_aio.is_unix_address("x.ipc")
    assert not elbus_aio.is_unix_address("localhost:7777")


async def test_bus_rt_extensions(broker: RoutingBroker) -> None:
    """Exclusions and publish-for, for brokers that implement the BUS/RT extensions."""
    async with (
        elbus_aio.Client(broker.address, "app.pub") as pub,
        elbus_aio.Client(broker.address, "app.a") as a,
        elbus_aio.Client(broker.address, "app.b") as b,
    ):
        for client in (a, b):
            await client.subscribe("t/#")
        await a.exclude("t/private/#", "t/x")
        await pub.publish("t/private/1", b"p1")
        await pub.publish_for("t/y", "app.b", b"for b")
        await a.unexclude("t/private/#")
        await pub.publish("t/private/2", b"p2")
        await pub.send("app.a", b"end")
        await pub.send("app.b", b"end")
        assert [f.payload for f in [await a.receive(timeout=2) for _ in range(2)]] == [b"p2", b"end"]
        assert [f.payload for f in [await b.receive(timeout=2) for _ in range(4)]] == [b"p1", b"for b", b"p2", b"end"]
        with pytest.raises(ValueError):
            await a.exclude()


async def test_concurrent_receivers_share_the_frames(kind_broker: Any) -> None:
    async with elbus_aio.Client(kind_broker.address, "app.a") as a, elbus_aio.Client(kind_broker.address, "app.b") as b:
        receivers = [asyncio.create_task(b.receive(timeout=2)) for _ in range(3)]
        await asyncio.sleep(0.01)
        for i in range(3):
            await a.send("app.b", str(i))
        frames = await asyncio.gather(*receivers)
        assert sorted(f.payload for f in frames) == [b"0", b"1", b"2"]
        late = asyncio.create_task(b.receive())
        await asyncio.sleep(0.01)
        late.cancel()  # a cancelled receiver takes nothing with it
        await a.send("app.b", b"next")
        assert (await b.receive(timeout=2)).payload == b"next"


async def test_an_address_that_is_neither_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="host:port"):
        await elbus_aio.connect("localhost", "app.x", timeout=1)
