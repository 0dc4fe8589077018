"""`Rpc` against the original broker's recorded `.broker` replies, byte for byte (op and call ids aside)."""

from __future__ import annotations

import pytest
from trace_broker import TraceBroker, load_trace

import elbus_aio
from elbus_rpc import Rpc, RpcError
from elbus_spec import QoS


async def test_broker_core_rpc(sock_path: str) -> None:
    async with TraceBroker(load_trace("broker-rpc"), sock_path, rpc_ids=True) as tb:
        client = await elbus_aio.connect(sock_path, "t.r.a")
        rpc = Rpc(client)
        assert await rpc.call(".broker", "test") == {"ok": True}
        info = await rpc.call(".broker", "info")
        assert isinstance(info["author"], str) and isinstance(info["version"], str)
        stats = await rpc.call(".broker", "stats")
        assert set(stats) == {"uptime", "r_frames", "r_bytes", "w_frames", "w_bytes"}
        clients = (await rpc.call(".broker", "client.list"))["clients"]
        assert [c["name"] for c in clients] == [".broker", "t.r.a"]
        assert await rpc.call(".broker", "benchmark.test", b"\x01\x02\x03anything", raw=True) == b"\x01\x02\x03anything"
        with pytest.raises(RpcError) as exc:
            await rpc.call(".broker", "no.such.method")
        assert exc.value.code == -32601
        with pytest.raises(RpcError) as exc:
            await rpc.call(".broker", "test", {"x": 1})
        assert exc.value.code == -32602
        assert await rpc.call(".broker", "test", {}) == {"ok": True}
        await rpc.call0(".broker", "test")
        await rpc.notify(".broker", b"note")
        assert await rpc.call(".broker", "test", qos=QoS.REALTIME_PROCESSED) == {"ok": True}
        assert rpc.pending == 0
        await client.close()
        await tb.finished()
