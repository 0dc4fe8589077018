"""The stages through our async client (`elbus_aio`) and RPC layer (`elbus_rpc`): what users get.

The same workloads as `elbus_bench.wire`, with the same in-flight window, but
every frame goes through the client's public API: `send_nowait` /
`publish_nowait` for streams, `Rpc.call` / `Rpc.call0` for RPC (pipelined in
batches of concurrent calls), and ``on_frame`` callbacks that count deliveries.
Imported only when our client is installed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import elbus_aio
import elbus_rpc
from elbus_spec import BROKER_NAME, QoS

from .measure import FANOUT_SUBSCRIBERS, Measurement, StageError, Tick

__all__ = ["run_stage"]

DEFAULT_WINDOW = 4096
RPC_BATCH = 256  # concurrent calls per worker


class _Count:
    """An ``on_frame`` callback counting frames and waking the stage's waiters."""

    def __init__(self, tick: Tick) -> None:
        self.n, self.tick = 0, tick

    def __call__(self, frame: object) -> None:
        self.n += 1
        self.tick.set()


async def run_stage(
    stage: str,
    address: str,
    *,
    count: int,
    payload_size: int = 100,
    workers: int = 2,
    window: int = DEFAULT_WINDOW,
    busy_poll: float = 0.0,
) -> Measurement:
    """Run one stage through the client (its ``busy_poll`` as given); raises StageError on lost frames
    and the client's errors on failures."""
    payload = b"\xa5" * payload_size
    tick, tag = Tick(), uuid.uuid4().hex[:8]
    clients: list[elbus_aio.Client] = []

    async def connect(name: str) -> elbus_aio.Client:
        client = await elbus_aio.connect(address, f"bench.{tag}.{name}", busy_poll=busy_poll)
        clients.append(client)
        return client

    try:
        if stage == "publish.fanout":
            return await _fanout(connect, tick, tag, count, payload, window)
        if stage == "rpc.latency":
            return await _latency(connect, count, payload)
        if stage.startswith("rpc."):
            return await _rpc(stage, connect, tick, count, payload, workers)
        return await _send(stage, connect, tick, count, payload, workers, window)
    finally:
        for client in clients:
            await client.close()


async def _send(stage: str, connect: Any, tick: Tick, count: int, payload: bytes, workers: int, window: int) -> Measurement:
    per = max(1, count // workers)
    qos = QoS.PROCESSED if stage.endswith("processed") else QoS.NO
    pairs = []
    for w in range(workers):
        sender, receiver = await connect(f"{w}.a"), await connect(f"{w}.b")
        receiver.on_frame = counter = _Count(tick)
        pairs.append((sender, receiver, counter))

    async def pump(sender: elbus_aio.Client, target: str, counter: _Count) -> None:
        acks = []
        for sent in range(per):
            if sent - counter.n >= window:

                def caught_up(floor: int = sent - window) -> bool:
                    return counter.n > floor

                await tick.until(caught_up, lambda: f"{target} got {counter.n}")
            future = sender.send_nowait(target, payload, qos=qos)
            if qos:
                acks.append(future)
        if stage == "send.qos.no":  # a final acknowledged send: its ack follows the routing of every frame before it
            await sender.send(target, payload, qos=QoS.PROCESSED)
        await asyncio.gather(*acks)
        if stage.startswith("send+recv"):
            await tick.until(lambda: counter.n >= per, lambda: f"{target} got {counter.n} of {per}")

    start = time.perf_counter()
    await asyncio.gather(*(pump(s, r.name, c) for s, r, c in pairs))
    seconds = time.perf_counter() - start
    expect = per + (stage == "send.qos.no")
    await tick.until(lambda: all(c.n >= expect for *_, c in pairs), lambda: f"got {[c.n for *_, c in pairs]} of {expect} each")
    await asyncio.sleep(0.01)
    if any(c.n != expect for *_, c in pairs):
        raise StageError(f"{stage}: delivered {[c.n for *_, c in pairs]}, wanted {expect} each")
    return Measurement(stage, per * workers, seconds, "frames/s")


async def _rpc(stage: str, connect: Any, tick: Tick, count: int, payload: bytes, workers: int) -> Measurement:
    per = max(1, count // workers)
    jobs: list[tuple[elbus_rpc.Rpc, str, str, _Count | None]] = []
    for w in range(workers):
        caller = elbus_rpc.Rpc(await connect(f"{w}.c"))
        if stage == "rpc.call":
            jobs.append((caller, BROKER_NAME, "benchmark.test", None))
            continue
        handler_client = await connect(f"{w}.h")
        handler = elbus_rpc.Rpc(handler_client)
        calls = _Count(tick)

        @handler.method("bench.echo", raw=True)
        def echo(params: bytes, event: object, calls: _Count = calls) -> bytes:
            calls(event)
            return params

        jobs.append((caller, handler_client.name, "bench.echo", calls))

    async def drive(caller: elbus_rpc.Rpc, target: str, method: str) -> None:
        for first in range(0, per, RPC_BATCH):
            batch = range(first, min(per, first + RPC_BATCH))
            if stage == "rpc.call0":
                await asyncio.gather(*(caller.call0(target, method, payload) for _ in batch))
                continue
            results = await asyncio.gather(*(caller.call(target, method, payload, raw=True) for _ in batch))
            if any(r != payload for r in results):
                raise StageError(f"{stage}: a reply from {target} differs from the request's parameters")

    start = time.perf_counter()
    await asyncio.gather(*(drive(caller, target, method) for caller, target, method, _ in jobs))
    if stage == "rpc.call0":  # processed = acked by the broker; the stage ends when every handler has run
        handlers = [c for *_, c in jobs if c is not None]
        await tick.until(lambda: all(c.n >= per for c in handlers), lambda: f"handled {[c.n for c in handlers]}")
    seconds = time.perf_counter() - start
    await asyncio.sleep(0.01)
    handled = [c.n for *_, c in jobs if c is not None]
    if any(n != per for n in handled):
        raise StageError(f"{stage}: handled {handled}, wanted {per} each")
    return Measurement(stage, per * workers, seconds, "calls/s")


async def _fanout(connect: Any, tick: Tick, tag: str, count: int, payload: bytes, window: int) -> Measurement:
    topic = f"bench/{tag}/fanout"
    publisher = await connect("pub")
    counters = []
    for i in range(FANOUT_SUBSCRIBERS):
        sub = await connect(f"sub{i}")
        sub.on_frame = counter = _Count(tick)
        await sub.subscribe(topic)
        counters.append(counter)

    def delivered() -> int:
        return min(c.n for c in counters)

    start = time.perf_counter()
    for sent in range(count):
        if sent - delivered() >= window:

            def caught_up(floor: int = sent - window) -> bool:
                return delivered() > floor

            await tick.until(caught_up, lambda: f"delivered {[c.n for c in counters]}")
        publisher.publish_nowait(topic, payload, qos=QoS.NO)
    await tick.until(lambda: delivered() >= count, lambda: f"delivered {[c.n for c in counters]}")
    seconds = time.perf_counter() - start
    await asyncio.sleep(0.01)
    if any(c.n != count for c in counters):
        raise StageError(f"publish.fanout: delivered {[c.n for c in counters]}, wanted {count} each")
    return Measurement("publish.fanout", count * FANOUT_SUBSCRIBERS, seconds, "deliveries/s")


async def _latency(connect: Any, count: int, payload: bytes) -> Measurement:
    caller = elbus_rpc.Rpc(await connect("c"))
    handler_client = await connect("h")
    handler = elbus_rpc.Rpc(handler_client)

    @handler.method("bench.echo", raw=True)
    def echo(params: bytes, event: object) -> bytes:
        return params

    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        if await caller.call(handler_client.name, "bench.echo", payload, raw=True) != payload:
            raise StageError("rpc.latency: the reply differs from the request's parameters")
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    return Measurement.latency(count, seconds, latencies)
