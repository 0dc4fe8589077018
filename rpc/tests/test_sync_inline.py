"""SyncRpc(workers=0): calls served on the client's reader thread, with the same results and errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import elbus_aio
import elbus_client
from elbus_rpc import Rpc, RpcError, SyncRpc


async def test_calls_served_on_the_reader_thread(kind_broker: Any) -> None:
    address = kind_broker.address
    served = await asyncio.to_thread(elbus_client.connect, address, "svc")  # the broker may share this loop
    rpc = SyncRpc(served, workers=0)
    threads: set[str] = set()

    @rpc.method("add")
    def add(params: Any, event: Any) -> Any:
        threads.add(threading.current_thread().name)
        return sum(params)

    @rpc.method("fail")
    def fail(params: Any, event: Any) -> Any:
        raise RpcError(-7, "no")

    try:
        async with elbus_aio.Client(address, "caller") as caller_client:
            caller = Rpc(caller_client)
            assert await asyncio.gather(*(caller.call("svc", "add", [i, 1]) for i in range(50))) == [i + 1 for i in range(50)]
            with pytest.raises(RpcError) as exc:
                await caller.call("svc", "fail")
            assert (exc.value.code, exc.value.message) == (-7, "no")
            with pytest.raises(RpcError) as exc:
                await caller.call("svc", "missing")
            assert exc.value.code == -32601
        assert len(threads) == 1 and not any(name.startswith("elbus-rpc") for name in threads)  # no pool thread
    finally:
        await asyncio.to_thread(rpc.close)
        await asyncio.to_thread(served.close)


def test_workers_and_the_bound_are_checked() -> None:
    class OnlySend:
        on_frame: Any = None
        timeout = 1.0

        def send(self, target: str, payload: Any = b"", *, qos: int = 1, timeout: float | None = None) -> None:
            raise AssertionError("not called")

    with pytest.raises(ValueError, match=r"0 .* or more"):
        SyncRpc(OnlySend(), workers=-1)
    with pytest.raises(ValueError, match="max_concurrent"):
        SyncRpc(OnlySend(), max_concurrent=0)
    SyncRpc(OnlySend(), workers=0).close()  # replies go unacknowledged: send() does not wait on the reader thread
    SyncRpc(OnlySend(), workers=1).close()
