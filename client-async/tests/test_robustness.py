"""Keep-alive, dead-broker detection, backpressure, cancellation, a killed broker, auto-reconnect."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from routing_broker import RoutingBroker

import elbus_aio
from elbus_aio import ConnectionClosed
from elbus_spec import NOP_FRAME, PING_FRAME, BrokerConnection, MessageRequest, Ping, ProtocolViolation, RemoteProtocolError


class RawBroker:
    """Accepts one client, registers it, then only does what the test tells it; records the events."""

    def __init__(self, path: str, nop_every: float | None = None) -> None:
        self.path = path
        self.nop_every = nop_every
        self.events: list[object] = []
        self.conn = BrokerConnection()
        self.writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RawBroker:
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        if self.writer is not None:
            self.writer.close()
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(self.conn.greeting())
        if self.nop_every:
            self._tasks.append(asyncio.get_running_loop().create_task(self._nops()))
        try:
            while data := await reader.read(65536):
                events = self.conn.receive_data(data)
                writer.write(self.conn.data_to_send())
                for event in events:
                    if event.__class__.__name__ == "RegistrationRequest":
                        writer.write(self.conn.accept())
                        events += self.conn.receive_data(b"")
                    self.events.append(event)
        except ConnectionError:
            pass  # the client dropped the connection: tests look at what it did before

    async def _nops(self) -> None:
        while True:
            await asyncio.sleep(self.nop_every)  # type: ignore[arg-type]
            assert self.writer is not None
            self.writer.write(NOP_FRAME)


async def test_pings_flow_every_interval(sock_path: str) -> None:
    async with RawBroker(sock_path) as raw:
        async with elbus_aio.Client(sock_path, "app.a", ping_interval=0.05):
            await asyncio.sleep(0.4)
        pings = sum(isinstance(e, Ping) for e in raw.events)
        assert 2 <= pings <= 10  # every 0.05 s for 0.4 s, with slack for a loaded machine
        assert PING_FRAME == bytes(9)
        assert not any(isinstance(e, ProtocolViolation) for e in raw.events)


async def test_a_silent_broker_is_detected_dead(sock_path: str) -> None:
    async with RawBroker(sock_path) as raw:
        loop = asyncio.get_running_loop()
        client = await elbus_aio.connect(sock_path, "app.a", timeout=0.2, ping_interval=0.05)
        started = loop.time()
        pending = client.send_nowait("app.b", b"never acked")
        with pytest.raises(ConnectionClosed, match="no data from the broker"):
            await asyncio.wait_for(pending, 2)
        await asyncio.wait_for(client.wait_closed(), 1)
        assert 0.25 <= loop.time() - started < 1.5  # 1.5 x timeout, plus slack for a loaded machine
        assert any(isinstance(e, MessageRequest) for e in raw.events)


async def test_keep_alive_nops_keep_an_idle_connection(sock_path: str) -> None:
    async with RawBroker(sock_path, nop_every=0.2):
        async with elbus_aio.Client(sock_path, "app.a", timeout=0.25, ping_interval=0.05) as client:
            await asyncio.sleep(1)
            assert client.is_connected


async def test_cancelled_sends_leave_the_connection_usable(broker: RoutingBroker) -> None:
    """Sends cancelled while the transport is paused or while awaiting acks never tear a frame."""
    size = 256 * 1024
    async with elbus_aio.Client(broker.address, "app.a") as a, elbus_aio.Client(broker.address, "app.b") as b:
        broker.hold("app.a")
        sends = [asyncio.create_task(a.send("app.b", bytes([i]) * size)) for i in range(12)]
        await asyncio.sleep(0.2)
        assert all(not task.done() for task in sends)  # paused in drain or waiting for the ack
        for task in sends[::2]:
            task.cancel()
        await asyncio.sleep(0.05)
        broker.hold("app.a", False)
        results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 5)
        assert all(isinstance(r, asyncio.CancelledError) for r in results[::2])
        assert all(r is None for r in results[1::2])
        await a.send("app.b", b"after")
        received = []
        while (frame := await b.receive(timeout=2)).payload != b"after":
            received.append(frame.payload)
        assert all(p == p[:1] * size for p in received)  # every delivered frame is whole
        indexes = [p[0] for p in received]
        assert set(range(1, 12, 2)) <= set(indexes) and len(indexes) == len(set(indexes))
        assert set(range(0, 12, 2)) - set(indexes)  # some cancelled sends never hit the wire


async def test_killed_broker_fails_waits_promptly(sock_path: str, broker_process) -> None:  # type: ignore[no-untyped-def]
    proc = await broker_process()
    loop = asyncio.get_running_loop()
    async with elbus_aio.Client(sock_path, "app.a", timeout=30) as a:
        receiving = asyncio.create_task(a.receive())
        await asyncio.sleep(0.05)
        started = loop.time()
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(receiving, 2)
        assert loop.time() - started < 2  # the socket closing is enough: not the 30 s timeout
        assert a.closed


async def test_reconnect_registers_and_resubscribes(sock_path: str, broker_process) -> None:  # type: ignore[no-untyped-def]
    proc = await broker_process()
    async with elbus_aio.Client(sock_path, "app.sub", reconnect=True, reconnect_delay=0.05) as sub:
        await sub.subscribe("a/#", "b/+")
        await sub.subscribe("c")
        await sub.unsubscribe("c")
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.sleep(0.1)
        assert not sub.is_connected and not sub.closed
        with pytest.raises(ConnectionClosed):
            await sub.send("app.sub", b"during the outage")
        await broker_process()
        for _ in range(100):
            if sub.is_connected:
                break
            await asyncio.sleep(0.05)
        assert sub.is_connected
        async with elbus_aio.Client(sock_path, "app.pub") as pub:
            for topic in ("c", "a/1", "b/2", "b/2/3"):
                await pub.publish(topic, topic)
            await pub.send("app.sub", b"end")
        got = []
        while (frame := await sub.receive(timeout=2)).payload != b"end":
            got.append(frame.topic)
        assert got == ["a/1", "b/2"]
    assert sub.closed


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (bytes([0x77, 0, 0, 0, 0, 0]), "unknown frame kind 0x77"),
        (bytes([0x12]) + (1 << 20).to_bytes(4, "little") + b"\x00", "exceeds the maximum 1024"),
    ],
)
async def test_a_broker_breaking_the_protocol_is_dropped(sock_path: str, garbage: bytes, reason: str) -> None:
    async with RawBroker(sock_path) as raw:
        client = elbus_aio.Client(sock_path, "app.a", max_frame_length=1024)
        closed = asyncio.create_task(client.wait_closed())  # waiting before connecting is fine
        await client.connect()
        pending = client.send_nowait("app.b", b"x")
        await asyncio.sleep(0.05)
        assert raw.writer is not None
        raw.writer.write(garbage)
        with pytest.raises(ConnectionClosed, match=reason):
            await asyncio.wait_for(pending, 2)
        await asyncio.wait_for(closed, 2)
        assert client.closed and not client.is_connected


async def test_reconnect_fails_pending_waits_and_renews_exclusions(sock_path: str) -> None:
    first = await RoutingBroker(sock_path).start()
    async with elbus_aio.Client(sock_path, "app.sub", reconnect=True, reconnect_delay=0.05) as sub:
        await sub.subscribe("t/#")
        await sub.exclude("t/x", "t/z")
        await sub.unexclude("t/z")
        first.hold("app.sub")
        pending = sub.send_nowait("app.sub", b"unacknowledged")
        await first.stop()
        with pytest.raises(ConnectionClosed):  # waits pending at the loss fail, reconnecting or not
            await asyncio.wait_for(pending, 2)
        while sub.is_connected:
            await asyncio.sleep(0.01)
        async with RoutingBroker(sock_path) as second:
            for _ in range(200):  # the backoff tops out at the 5 s timeout: an attempt comes within it
                if sub.is_connected:
                    break
                await asyncio.sleep(0.05)
            assert sub.is_connected
            assert second.clients["app.sub"].excluded == {"t/x"}
            async with elbus_aio.Client(sock_path, "app.pub") as pub:
                for topic in ("t/x", "t/y", "t/z"):
                    await pub.publish(topic, topic)
            assert [(await sub.receive(timeout=2)).topic for _ in range(2)] == ["t/y", "t/z"]


async def test_connect_times_out_and_closes_on_a_mute_server(sock_path: str) -> None:
    hung_up = asyncio.get_running_loop().create_future()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung_up.set_result(await reader.read())  # no greeting; wait for the client to give up

    server = await asyncio.start_unix_server(mute, sock_path)
    try:
        with pytest.raises(TimeoutError):
            await elbus_aio.connect(sock_path, "app.a", timeout=0.2)
        assert await asyncio.wait_for(hung_up, 2) == b""  # the client closed its socket
    finally:
        server.close()


async def test_a_broker_of_another_protocol_version_is_refused(sock_path: str) -> None:
    async def other_version(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\xeb\x02\x00")
        await reader.read()

    server = await asyncio.start_unix_server(other_version, sock_path)
    try:
        with pytest.raises(RemoteProtocolError, match="unsupported greeting eb0200"):
            await elbus_aio.connect(sock_path, "app.a", timeout=2)
    finally:
        server.close()


@pytest.mark.parametrize("seed", range(6))
async def test_garbage_from_the_broker_never_escapes(sock_path: str, seed: int) -> None:
    """Whatever bytes arrive, the client either goes on or closes with ConnectionClosed; nothing else escapes."""
    import random

    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    escaped: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: escaped.append(context))
    try:
        async with RawBroker(sock_path) as raw:
            client = await elbus_aio.connect(sock_path, "app.a", max_frame_length=4096)
            pending = client.send_nowait("app.b", b"x")
            assert raw.writer is not None
            for _ in range(20):
                raw.writer.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)
            if client.is_connected:  # the garbage happened to parse: the connection still works
                await client.close()
            with pytest.raises(ConnectionClosed):
                await pending
            await asyncio.wait_for(client.wait_closed(), 2)
    finally:
        loop.set_exception_handler(None)
    assert not escaped
