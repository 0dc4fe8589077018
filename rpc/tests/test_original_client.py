"""RPC between our `Rpc` and the original published asyncio client (busrt-async), both directions."""

from __future__ import annotations

from typing import Any

import busrt_async.client
import busrt_async.rpc
import msgpack
import pytest

import elbus_aio
from elbus_rpc import CallEvent, Rpc, RpcError


async def test_rpc_with_the_original_async_client(kind_broker: Any) -> None:
    original = busrt_async.client.Client(kind_broker.address, "orig")
    await original.connect()
    original_rpc = busrt_async.rpc.Rpc(original)

    async def on_call(event: Any) -> bytes:
        params = msgpack.unpackb(event.get_payload()) if event.get_payload() else None
        if event.method == b"add":
            return msgpack.packb(params[0] + params[1])  # type: ignore[no-any-return]
        raise busrt_async.rpc.RpcException("no such thing", busrt_async.rpc.RPC_ERROR_CODE_METHOD_NOT_FOUND)

    original_rpc.on_call = on_call
    try:
        async with elbus_aio.Client(kind_broker.address, "ours") as client:
            ours = Rpc(client)

            @ours.method("mul")
            def mul(params: list[int], event: CallEvent) -> int:
                return params[0] * params[1]

            @ours.method("fail")
            def fail(params: Any, event: CallEvent) -> None:
                raise RuntimeError("failed here")

            # ours -> original
            assert await ours.call("orig", "add", [2, 3]) == 5
            with pytest.raises(RpcError) as exc:
                await ours.call("orig", "other")
            assert (exc.value.code, exc.value.message) == (-32601, "no such thing")
            # original -> ours
            reply = await original_rpc.call("ours", busrt_async.rpc.Request("mul", msgpack.packb([4, 5])))
            assert msgpack.unpackb((await reply.wait_completed(timeout=2)).get_payload()) == 20
            failed = await original_rpc.call("ours", busrt_async.rpc.Request("fail"))
            with pytest.raises(busrt_async.rpc.RpcException) as original_exc:
                await failed.wait_completed(timeout=2)
            assert original_exc.value.rpc_error_code == -32603
            assert original_exc.value.rpc_error_payload == b"failed here"
    finally:
        await original.disconnect()
