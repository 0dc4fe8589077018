"""Backpressure: a flood of calls on a slow service stays bounded in the service, is all answered, and harms nobody.

Every test runs the project's broker (elbus_server.Broker) on a real socket.
The flood is many more calls than the bound; each call carries a kilobyte of
parameters, so that one socket read (what may wait beyond the bound, at most
256 KiB with asyncio's transports) holds a few hundred calls, far fewer than
the flood: had the service kept reading, thousands would have waited in it.
What the service does not read waits in the broker, within the service's
queue there (`BROKER_QUEUE`); a flood beyond that queue meets the broker's
slow-consumer rule instead, which the last flood test shows.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from brokers import HAS_SERVER, running_broker

import elbus_aio
import elbus_client
from elbus_rpc import CallEvent, NotificationEvent, Rpc, RpcError, SyncRpc

pytestmark = pytest.mark.skipif(not HAS_SERVER, reason="the project's broker is not installed")

FLOOD = 3000
BOUND = 20
PARAMS = b"\x00" * 1024  # raw parameters: a kilobyte a call
READ_SIZE = 256 * 1024  # the most an asyncio transport reads at once
# Calls one socket read can hold, with room for frame headers: the most that may wait beyond the bound.
ONE_READ = READ_SIZE // len(PARAMS)
# The service's queue in the broker: room for the whole flood, which waits there while the service is saturated.
BROKER_QUEUE = {"queue_bytes": 4 * FLOOD * len(PARAMS)}


@asynccontextmanager
async def broker_with(sock_path: str, *names: str, **options: Any) -> AsyncIterator[list[elbus_aio.Client]]:
    async with running_broker("elbus_server", sock_path, **options) as broker:
        clients = [await elbus_aio.connect(broker.address, name) for name in names]
        try:
            yield clients
        finally:
            for client in clients:
                await client.close()


class Peaks:
    """The most seen at once: handlers running (counted by the handlers), and the service's own counters."""

    def __init__(self, in_flight: Callable[[], int], waiting: Callable[[], int] = lambda: 0) -> None:
        self._in_flight = in_flight
        self._waiting = waiting
        self._lock = threading.Lock()
        self.running = self.running_peak = self.in_flight_peak = self.waiting_peak = 0

    def sample(self) -> None:
        with self._lock:
            self.in_flight_peak = max(self.in_flight_peak, self._in_flight())
            self.waiting_peak = max(self.waiting_peak, self._waiting())

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.running_peak = max(self.running_peak, self.running)
        self.sample()

    def leave(self) -> None:
        with self._lock:
            self.running -= 1


async def flood_while_bystanding(flood: Rpc, bystander: Rpc, target: str, peaks: Peaks) -> tuple[list[Any], float]:
    """Send `FLOOD` raw calls of ``slow`` at once; meanwhile a bystander calls the broker again and again,
    and ``peaks`` samples the service's counters every millisecond.

    Returns the replies (in order) and the bystander's slowest round trip.
    """
    calls = asyncio.gather(*(flood.call(target, "slow", PARAMS, raw=True, timeout=60) for _ in range(FLOOD)))

    async def sample() -> None:
        while not calls.done():
            peaks.sample()
            await asyncio.sleep(0.001)

    sampling = asyncio.ensure_future(sample())
    slowest = 0.0
    while not calls.done():
        started = time.monotonic()
        assert await bystander.call(".broker", "test", timeout=5) == {"ok": True}
        slowest = max(slowest, time.monotonic() - started)
        await asyncio.sleep(0.01)
    await sampling
    return await calls, slowest


async def test_async_flood_is_bounded_answered_and_harms_nobody(sock_path: str) -> None:
    async with broker_with(sock_path, "svc", "flood", "bystander", **BROKER_QUEUE) as clients:
        svc_client, flood_client, bystander_client = clients
        svc = Rpc(svc_client, max_concurrent=BOUND)
        peaks = Peaks(lambda: svc.in_flight, lambda: svc.waiting)

        @svc.method("slow", raw=True)
        async def slow(params: bytes, event: CallEvent) -> bytes:
            peaks.enter()
            try:
                await asyncio.sleep(0.002)
                return params[:1]
            finally:
                peaks.leave()

        replies, slowest = await flood_while_bystanding(Rpc(flood_client), Rpc(bystander_client), "svc", peaks)
        assert replies == [b"\x00"] * FLOOD
        # The handler tasks reached the bound and never passed it.
        assert peaks.running_peak == peaks.in_flight_peak == BOUND
        # The service stopped reading: what waited in it was at most one socket read, not the flood.
        assert 0 < peaks.waiting_peak <= ONE_READ < FLOOD // 10
        assert (svc.in_flight, svc.waiting) == (0, 0)
        # Nobody was dropped, and the bystander was served all along.
        assert svc_client.is_connected and flood_client.is_connected
        assert slowest < 2.0, slowest


async def test_sync_flood_is_bounded_answered_and_harms_nobody(sock_path: str) -> None:
    async with broker_with(sock_path, "flood", "bystander", **BROKER_QUEUE) as (flood_client, bystander_client):
        address = flood_client.address
        svc_client = await asyncio.to_thread(elbus_client.connect, address, "svc")
        svc = SyncRpc(svc_client, workers=4, max_concurrent=BOUND)
        peaks = Peaks(lambda: svc.in_flight)

        @svc.method("slow", raw=True)
        def slow(params: bytes, event: CallEvent) -> bytes:
            peaks.enter()
            try:
                time.sleep(0.001)
                return params[:1]
            finally:
                peaks.leave()

        try:
            replies, slowest = await flood_while_bystanding(Rpc(flood_client), Rpc(bystander_client), "svc", peaks)
            assert replies == [b"\x00"] * FLOOD
            # Calls handed to the pool (running or queued) reached the bound and never passed it.
            assert peaks.in_flight_peak == BOUND and peaks.running_peak == 4
            assert svc.in_flight == 0
            assert svc_client.is_connected and flood_client.is_connected
            assert slowest < 2.0, slowest
        finally:
            await asyncio.to_thread(svc.close)
            await asyncio.to_thread(svc_client.close)


async def test_a_flood_beyond_the_brokers_queue_drops_the_service_not_the_bus(sock_path: str) -> None:
    """The broker's queue for the service (2 MiB by default) cannot hold the flood: the stalled service is dropped
    as a slow consumer, every call of the flood ends (answered, refused with the broker's 0x77 at once, or, for a
    request that was queued when the service was dropped, timed out), and the bystander is served."""
    async with broker_with(sock_path, "svc", "flood", "bystander") as (svc_client, flood_client, bystander_client):
        svc = Rpc(svc_client, max_concurrent=BOUND)

        @svc.method("slow", raw=True)
        async def slow(params: bytes, event: CallEvent) -> bytes:
            await asyncio.sleep(0.01)
            return params[:1]

        flood, bystander = Rpc(flood_client), Rpc(bystander_client)
        big = PARAMS * 8  # 8 KiB a call: 24 MiB in all, far beyond the service's queue in the broker
        started = time.monotonic()
        results = await asyncio.gather(*(flood.call("svc", "slow", big, raw=True, timeout=3) for _ in range(FLOOD)),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, RpcError)]
        assert failed and len(failed) + results.count(b"\x00") == FLOOD
        assert any(r.code == -32000 - 0x77 for r in failed)  # refused by the broker, not timed out
        assert time.monotonic() - started < 10
        await until(lambda: not svc_client.is_connected)
        assert flood_client.is_connected and bystander_client.is_connected
        assert await bystander.call(".broker", "test", timeout=5) == {"ok": True}


async def test_coroutine_notification_callbacks_are_bounded_too(sock_path: str) -> None:
    async with broker_with(sock_path, "svc", "notifier") as (svc_client, notifier_client):
        svc = Rpc(svc_client, max_concurrent=5)
        peaks = Peaks(lambda: svc.in_flight)
        got: list[Any] = []

        async def on_notification(note: NotificationEvent) -> None:
            peaks.enter()
            await asyncio.sleep(0)
            got.append(note.data)
            peaks.leave()

        svc.on_notification = on_notification
        notifier = Rpc(notifier_client)
        await asyncio.gather(*(notifier.notify("svc", {"n": i}) for i in range(500)))
        await until(lambda: len(got) == 500)
        assert sorted(item["n"] for item in got) == list(range(500))
        assert peaks.in_flight_peak == 5


async def test_a_client_that_cannot_pause_gets_busy_replies_beyond_the_bound(sock_path: str) -> None:
    """The broker's in-process client cannot stop reading: calls beyond the bound are answered -32118 at once."""
    async with running_broker("elbus_server", sock_path) as broker:
        svc = Rpc(await broker.broker.register("svc"), max_concurrent=4)
        peaks = Peaks(lambda: svc.in_flight)

        @svc.method("slow")
        async def slow(params: int, event: CallEvent) -> int:
            peaks.enter()
            await asyncio.sleep(0.05)
            peaks.leave()
            return params

        async with elbus_aio.Client(broker.address, "caller") as caller_client:
            caller = Rpc(caller_client)
            results = await asyncio.gather(*(caller.call("svc", "slow", i) for i in range(50)), return_exceptions=True)
        served = [r for r in results if not isinstance(r, BaseException)]
        busy = [r for r in results if isinstance(r, RpcError) and r.code == -32118]
        assert len(served) + len(busy) == 50 and served and busy
        assert peaks.in_flight_peak == 4


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        Rpc(elbus_aio.Client("/nowhere.sock", "x"), max_concurrent=0)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
