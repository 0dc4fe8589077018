"""Slowloris: connections that trickle bytes never hold the broker's resources past its timeouts.

The handshake timeout runs per step from the step's start and the
partial-frame timeout from the frame's first byte, so a client that sends one
byte just before each timeout would expire still loses its connection after
one timeout. Meanwhile well-behaved clients keep exchanging acknowledged
messages with a bounded round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from reliability_helpers import WireClient, open_stream, report, wait_for

from elbus_server import Broker
from elbus_spec import Code, QoS

TIMEOUT = 0.5
TRICKLERS = 200


async def trickle(where: str, prefix: bytes, data: bytes, interval: float, deadline: float) -> float | None:
    """Send ``prefix`` at once, then ``data`` one byte every ``interval`` s.

    Returns the seconds from the first trickled byte until the broker hung
    up, or None if it never did before ``deadline``.
    """
    reader, writer = await open_stream(where)
    await reader.readexactly(3)  # the greeting
    writer.write(prefix)
    if prefix:
        await reader.readexactly(1)  # the handshake result
    started = time.monotonic()
    try:
        for byte in data:
            writer.write(bytes([byte]))
            try:
                if await asyncio.wait_for(reader.read(65536), interval) == b"" or reader.at_eof():
                    return time.monotonic() - started
            except TimeoutError:
                pass
            except ConnectionError:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                return None
        while time.monotonic() < deadline:  # everything sent: the broker must still hang up
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(65536), 0.1) == b"":
                    return time.monotonic() - started
        return None
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()


async def round_trips(a: WireClient, b: WireClient, stop: asyncio.Event) -> list[float]:
    """Acknowledged messages a→b until ``stop``; the round-trip times."""
    times = []
    while not stop.is_set():
        started = time.monotonic()
        op_id, data = a.conn.send_message(b.name, b"ping", QoS.PROCESSED)
        a.write(data)
        assert await a.ack(op_id) == Code.OK
        assert (await b.next_frame()).payload == b"ping"
        times.append(time.monotonic() - started)
        await asyncio.sleep(0.01)
    return times


# A frame started and trickled: the whole frame is much longer than what arrives before the timeout.
REGISTERED_TRICKLE = bytes.fromhex("01000000520a000000") + b"a.x\0payload"


@pytest.mark.parametrize("interval", [1.0, TIMEOUT * 0.6])
async def test_trickling_clients_are_dropped_and_others_keep_working(sock_dir: Path, interval: float) -> None:
    async with Broker(timeout=TIMEOUT) as broker:
        path = await broker.serve_unix(sock_dir / "s.sock")
        a = await WireClient.connect(path, "good.a")
        b = await WireClient.connect(path, "good.b")
        baseline = len(broker._connections)

        async def registered_trickler(i: int) -> float | None:
            c = await WireClient.connect(path, f"slow.{i}")
            started = time.monotonic()
            try:
                for byte in REGISTERED_TRICKLE:
                    c.write(bytes([byte]))
                    with contextlib.suppress(TimeoutError):
                        if await c.next_event(interval) is None:
                            return time.monotonic() - started
                return None
            finally:
                await c.close()

        stop = asyncio.Event()
        pinging = asyncio.create_task(round_trips(a, b, stop))
        deadline = time.monotonic() + 5
        started = time.monotonic()
        handshakes = [trickle(path, b"", b"\xeb\x01\x00\x05\x00hello", interval, deadline) for _ in range(TRICKLERS // 2)]
        names = [trickle(path, b"\xeb\x01\x00", b"\x05\x00hello", interval, deadline) for _ in range(TRICKLERS // 4)]
        frames = [registered_trickler(i) for i in range(TRICKLERS // 4)]
        dropped = await asyncio.gather(*handshakes, *names, *frames)
        elapsed = time.monotonic() - started
        stop.set()
        rtts = await pinging
        assert all(d is not None for d in dropped), f"{dropped.count(None)} trickling clients were never dropped"
        # one timeout, plus the interval of the byte that noticed, plus scheduling slack on a loaded machine
        assert max(d for d in dropped if d is not None) < TIMEOUT + interval + 1.0, max(dropped)  # type: ignore[type-var]
        await wait_for(lambda: len(broker._connections) == baseline, 3, "the trickling connections to be gone")
        assert set(broker.clients) == {".broker", "good.a", "good.b"}
        assert rtts and max(rtts) < 0.5, f"good clients stalled: {max(rtts):.3f} s"
        report(f"slowloris: {TRICKLERS} clients trickling 1 byte per {interval:g} s against timeout {TIMEOUT} s: "
               f"all dropped within {max(d for d in dropped if d is not None):.2f} s (run {elapsed:.2f} s); "
               f"good-client round trip max {max(rtts) * 1000:.1f} ms over {len(rtts)} messages")
        await a.close()
        await b.close()


async def test_connection_limit_is_configurable(sock_dir: Path) -> None:
    """With ``max_connections=N`` the N+1th connection is refused at once rather than held until a timeout."""
    async with Broker(timeout=TIMEOUT, max_connections=2) as broker:
        path = await broker.serve_unix(sock_dir / "l.sock")
        held = [await open_stream(path) for _ in range(2)]
        reader, writer = await open_stream(path)
        assert await asyncio.wait_for(reader.read(), 1) == b""  # closed without even a greeting
        writer.close()
        for r, _ in held:
            assert await asyncio.wait_for(r.readexactly(3), 1) == b"\xeb\x01\x00"
        held[0][1].close()  # a place frees: the next connection is served
        while len(broker._connections) > 1:
            await asyncio.sleep(0.01)
        reader, writer = await open_stream(path)
        assert await asyncio.wait_for(reader.readexactly(3), 1) == b"\xeb\x01\x00"
        for _, w in [*held[1:], (reader, writer)]:
            w.close()
