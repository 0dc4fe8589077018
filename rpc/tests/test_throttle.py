"""Junk sent to an RPC service is dropped with a warning at most once per interval, not once per frame."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import elbus_aio
import elbus_client
from elbus_rpc import Rpc, SyncRpc
from elbus_rpc._throttle import ThrottledWarning


def test_throttled_warning_says_how_many_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("elbus_rpc.test")
    warn = ThrottledWarning(logger, interval=0.2)
    with caplog.at_level(logging.WARNING, logger="elbus_rpc.test"):
        for i in range(50):
            warn("junk %d", i)
        time.sleep(0.25)
        warn("junk %d", 50)
    assert [r.getMessage() for r in caplog.records] == ["junk 0", "junk 50 (and 49 more like it since the last one logged)"]


@pytest.mark.parametrize("layer", ["async", "sync"])
async def test_a_flood_of_non_rpc_messages_logs_once(kind_broker: Any, caplog: pytest.LogCaptureFixture, layer: str) -> None:
    address = kind_broker.address
    served: Any = None
    if layer == "sync":
        served = await asyncio.to_thread(elbus_client.connect, address, "svc")  # the broker may share this loop
        rpc: Any = SyncRpc(served)
    else:
        served = await elbus_aio.connect(address, "svc")
        rpc = Rpc(served)
    rpc.method("ping")(lambda params, event: "pong")
    try:
        async with elbus_aio.Client(address, "junk") as junk, elbus_aio.Client(address, "caller") as caller_client:
            with caplog.at_level(logging.WARNING, logger="elbus_rpc"):
                for i in range(300):
                    junk.send_nowait("svc", b"\x42 not rpc %d" % i, qos=0)
                await junk.send("svc", b"\x42 last", qos=1)
                assert await Rpc(caller_client).call("svc", "ping") == "pong"  # served after the flood, in order
            dropped = [r for r in caplog.records if "not RPC" in r.getMessage()]
            assert len(dropped) == 1, [r.getMessage() for r in dropped]
    finally:
        if layer == "sync":
            await asyncio.to_thread(rpc.close)
            await asyncio.to_thread(served.close)
        else:
            await served.close()
