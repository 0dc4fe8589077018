"""The peer workloads on nats-server with nats-py: one-to-one, sequential request/reply, fan-out.

They mirror our client-form stages `send+recv.qos.no`, `rpc.latency` and
`publish.fanout` (same payload, same in-flight window, same counting), so the
report can print ours/NATS. The server is a `BrokerProcess("nats")` on loopback.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import nats
from nats.errors import NoRespondersError

from .measure import FANOUT_SUBSCRIBERS, Measurement, StageError, Tick

__all__ = ["PEER_STAGES", "run_stage"]

# NATS workload -> the stage of ours it is compared with.
PEER_STAGES = ("send+recv.qos.no", "rpc.latency", "publish.fanout")


async def run_stage(stage: str, url: str, *, count: int, payload_size: int = 100, window: int = 4096) -> Measurement:
    """Run one peer workload against the NATS server at ``url``; raises StageError on lost messages."""
    payload = b"\xa5" * payload_size
    subject = f"bench.{uuid.uuid4().hex[:8]}"
    tick = Tick()
    conns: list[nats.NATS] = []

    async def connect() -> nats.NATS:
        nc = await nats.connect(url, allow_reconnect=False, pending_size=64 * 1024 * 1024)
        conns.append(nc)
        return nc

    try:
        if stage == "rpc.latency":
            return await _latency(connect, subject, count, payload)
        receivers = 1 if stage == "send+recv.qos.no" else FANOUT_SUBSCRIBERS
        publisher = await connect()
        counts = [0] * receivers

        for i in range(receivers):
            nc = await connect()

            async def on_message(msg: object, i: int = i) -> None:
                counts[i] += 1
                tick.set()

            await nc.subscribe(subject, cb=on_message, pending_msgs_limit=10 * window)
            await nc.flush()
        start = time.perf_counter()
        for sent in range(count):
            if sent - min(counts) >= window:
                await publisher.flush()
                await tick.until(lambda s=sent: min(counts) > s - window, lambda: f"delivered {counts}")
            await publisher.publish(subject, payload)
        await publisher.flush()
        await tick.until(lambda: min(counts) >= count, lambda: f"delivered {counts}")
        seconds = time.perf_counter() - start
        await asyncio.sleep(0.01)
        if any(n != count for n in counts):
            raise StageError(f"nats {stage}: delivered {counts}, wanted {count} each")
        if stage == "publish.fanout":
            return Measurement(stage, count * receivers, seconds, "deliveries/s")
        return Measurement(stage, count, seconds, "frames/s")
    finally:
        for nc in conns:
            await nc.close()


async def _latency(connect: object, subject: str, count: int, payload: bytes) -> Measurement:
    caller, responder = await connect(), await connect()  # type: ignore[operator]

    async def respond(msg: nats.aio.msg.Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe(subject, cb=respond)
    await responder.flush()
    for attempt in range(50):  # untimed warm-up: the first request can race the subscription's registration
        try:
            await caller.request(subject, payload, timeout=5)
            break
        except NoRespondersError:
            if attempt == 49:
                raise
            await asyncio.sleep(0.02)
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        reply = await caller.request(subject, payload, timeout=5)
        if reply.data != payload:
            raise StageError("nats rpc.latency: the reply differs from the request")
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    return Measurement.latency(count, seconds, latencies)
