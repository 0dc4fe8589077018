"""Every trace in client mode, played by the original published asyncio client (busrt-async).

This checks the traces and the derivation of actions, not our code: the
bytes the traces say a client writes (op ids renumbered, as client mode
does for the recordings) are the bytes the original client writes for the
same calls.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from elbus_conformance import Timing, format_report, load_traces, run_client_traces
from elbus_conformance._authored import EXTENSION
from elbus_spec import Code, Kind, Op

busrt = pytest.importorskip("busrt_async.client")

TIMING = Timing(step=1.0, silence=0.05, broker_timeout=1.0)
_OPS = {
    "send": Op.MESSAGE,
    "broadcast": Op.BROADCAST,
    "publish": Op.PUBLISH,
    "subscribe": Op.SUBSCRIBE,
    "unsubscribe": Op.UNSUBSCRIBE,
}


class Refused(Exception):
    """The original client raises RuntimeError('Server response: 0x76'); this carries the code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"refused with {code:02x}")
        self.code = code


class BusrtAsyncDriver:
    """Client mode for busrt-async 0.1.x, whose API predates ours (results are codes, frames come by callback)."""

    realtime_reported = False  # the original client drops the realtime flag of deliveries

    async def connect(self, address: str, name: str, timeout: float) -> Any:
        client = busrt.Client(address, name)
        client.timeout = timeout
        client.received = asyncio.Queue()

        async def on_frame(frame: Any) -> None:
            await client.received.put(frame)

        client.on_frame = on_frame
        try:
            await client.connect()
        except RuntimeError as exc:
            raise Refused(int(str(exc).rsplit(" ", 1)[-1], 16)) from None
        return client

    def start(self, client: Any, verb: str, args: list[str], payload: bytes, qos: int) -> Any:
        frame = busrt.Frame(payload, tp=_OPS[verb], qos=qos)
        if verb in ("subscribe", "unsubscribe"):
            frame.topic = args
            target = None
        else:
            target = args[0]

        async def outcome() -> None:
            code = await (await sent).wait_completed()
            if code != Code.OK:
                raise Refused(code)

        sent = asyncio.ensure_future(client.send(target, frame))
        return outcome()

    async def receive(self, client: Any, timeout: float) -> Any:
        frame = await asyncio.wait_for(client.received.get(), timeout)
        return SimpleNamespace(
            kind=Kind(frame.type), sender=frame.sender, topic=frame.topic, payload=frame.payload, realtime=None
        )

    async def close(self, client: Any) -> None:
        await client.disconnect()


async def test_the_original_client_writes_what_the_traces_say() -> None:
    # busrt-async 0.1 predates the BUS/RT extensions: it has no call that writes them.
    traces = [trace for trace in load_traces() if EXTENSION not in trace.tags]
    results = await run_client_traces(BusrtAsyncDriver(), traces, TIMING)
    played = [r for r in results if not r.broker_only]
    assert len(played) == len(results) - 4 and all(r.steps_run == r.steps_total for r in played)
    assert all(r.passed for r in results), format_report(results)
