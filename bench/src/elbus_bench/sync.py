"""Sequential RPC round trips through our blocking client (`elbus_client` + `elbus_rpc.SyncRpc`).

The issue's target is the blocking client within 2x of the async one on round
trips, so this form has the one stage ``rpc.latency``. The blocking calls run
in a worker thread, off the generator's event loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import elbus_client
import elbus_rpc

from .measure import SYNC_STAGES, Measurement, StageError

__all__ = ["run_stage"]


async def run_stage(
    stage: str, address: str, *, count: int, payload_size: int = 100, workers: int = 1, window: int = 0
) -> Measurement:
    """Run ``rpc.latency`` through the blocking client; raises ValueError for any other stage."""
    if stage not in SYNC_STAGES:
        raise ValueError(f"the blocking client form has only {', '.join(sorted(SYNC_STAGES))}, not {stage!r}")
    return await asyncio.to_thread(_latency, address, count, b"\xa5" * payload_size)


def _latency(address: str, count: int, payload: bytes) -> Measurement:
    tag = uuid.uuid4().hex[:8]
    with (
        elbus_client.connect(address, f"bench.{tag}.c") as caller_client,
        elbus_client.connect(address, f"bench.{tag}.h") as handler_client,
        elbus_rpc.SyncRpc(caller_client) as caller,
        elbus_rpc.SyncRpc(handler_client) as handler,
    ):

        @handler.method("bench.echo", raw=True)
        def echo(params: bytes, event: object) -> bytes:
            return params

        latencies = []
        start = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            if caller.call(handler_client.name, "bench.echo", payload, raw=True) != payload:
                raise StageError("rpc.latency (blocking client): the reply differs from the request's parameters")
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - start
    return Measurement.latency(count, seconds, latencies)
