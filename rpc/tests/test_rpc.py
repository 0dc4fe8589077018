"""RPC between real clients through real brokers: async and sync, both directions, errors, load, failures."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import msgpack
import pytest
from brokers import HAS_SERVER

import elbus_aio
import elbus_client
from elbus_rpc import CallEvent, NotificationEvent, Rpc, RpcError, RpcTimeout, SyncRpc
from elbus_spec import QoS

BROKERS = Path(__file__).resolve().parents[2] / "client-async" / "tests" / "brokers.py"


async def test_async_calls_async(kind_broker: Any) -> None:
    address = kind_broker.address
    async with elbus_aio.Client(address, "svc") as svc_client, elbus_aio.Client(address, "caller") as caller_client:
        svc = Rpc(svc_client)
        caller = Rpc(caller_client)
        seen: list[CallEvent] = []

        @svc.method("sum")
        async def total(params: list[int], event: CallEvent) -> int:
            seen.append(event)
            return sum(params)

        @svc.method()
        def fail(params: Any, event: CallEvent) -> None:
            raise ValueError("it broke")

        @svc.method("refuse")
        def refuse(params: Any, event: CallEvent) -> None:
            raise RpcError(-32602, "wrong params")

        @svc.method("echo", raw=True)
        def echo(params: bytes, event: CallEvent) -> bytes:
            return params[::-1]

        class Handler:
            def client_info(self, params: dict[str, Any], event: CallEvent) -> dict[str, Any]:
                return {"you": event.sender, **params}

        svc.handler = Handler()
        assert await caller.call("svc", "sum", [1, 2, 3]) == 6
        assert seen[0].sender == "caller" and seen[0].method == "sum" and not seen[0].realtime
        assert await caller.call("svc", "client.info", {"k": "v"}) == {"you": "caller", "k": "v"}
        assert await caller.call("svc", "echo", b"\x00\x01\x02", raw=True) == b"\x02\x01\x00"
        with pytest.raises(RpcError) as exc:
            await caller.call("svc", "fail")
        assert (exc.value.code, exc.value.message) == (-32603, "it broke")
        with pytest.raises(RpcError) as exc:
            await caller.call("svc", "refuse")
        assert (exc.value.code, exc.value.message) == (-32602, "wrong params")
        with pytest.raises(RpcError) as exc:
            await caller.call("svc", "missing")
        assert exc.value.code == -32601
        with pytest.raises(RpcError) as exc:
            await caller.call("nobody", "sum", [1])
        assert exc.value.code == -32113
        assert await caller.call("svc", "sum", [5], qos=QoS.REALTIME_PROCESSED) == 5
        assert seen[-1].realtime
        assert caller.pending == 0


async def test_notifications_call0_and_other_frames(kind_broker: Any) -> None:
    address = kind_broker.address
    async with elbus_aio.Client(address, "svc") as svc_client, elbus_aio.Client(address, "caller") as caller_client:
        svc = Rpc(svc_client)
        caller = Rpc(caller_client)
        notes: asyncio.Queue[NotificationEvent] = asyncio.Queue()
        frames: asyncio.Queue[elbus_aio.Frame] = asyncio.Queue()
        calls: asyncio.Queue[Any] = asyncio.Queue()
        svc.on_notification = notes.put_nowait

        async def on_frame(frame: elbus_aio.Frame) -> None:
            await frames.put(frame)

        svc.on_frame = on_frame
        svc.method("record")(lambda params, event: calls.put_nowait(params))
        await svc_client.subscribe("events/#")
        await caller.notify("svc", b"raw note")
        await caller.notify("svc", {"structured": True})
        await caller.call0("svc", "record", {"n": 1})
        await caller_client.publish("events/x", b"published")
        await caller_client.send("svc", b"\x42 not rpc")  # dropped with a warning, nothing breaks
        note = await asyncio.wait_for(notes.get(), 2)
        assert (note.sender, note.payload) == ("caller", b"raw note")  # bytes went as they are
        note = await asyncio.wait_for(notes.get(), 2)
        assert note.data == {"structured": True} and msgpack.unpackb(note.payload) == {"structured": True}
        assert await asyncio.wait_for(calls.get(), 2) == {"n": 1}
        frame = await asyncio.wait_for(frames.get(), 2)
        assert (frame.topic, frame.payload) == ("events/x", b"published")
        assert await caller.call("svc", "record", 5) is None  # a handler returning None replies empty


async def test_timeouts(kind_broker: Any) -> None:
    address = kind_broker.address
    async with elbus_aio.Client(address, "svc") as svc_client, elbus_aio.Client(address, "caller") as caller_client:
        svc = Rpc(svc_client)
        caller = Rpc(caller_client, timeout=0.2)

        @svc.method("slow")
        async def slow(params: Any, event: CallEvent) -> str:
            await asyncio.sleep(params)
            return "done"

        with pytest.raises(RpcError) as exc:
            await caller.call("svc", "slow", 1)
        assert exc.value.code == -32120 and isinstance(exc.value, RpcTimeout)
        with pytest.raises(TimeoutError):
            await caller.call("svc", "slow", 1, timeout=0.05)
        assert await caller.call("svc", "slow", 0.01) == "done"
        assert caller.pending == 0
        await asyncio.sleep(1)  # the late replies arrive and are dropped quietly
        assert await caller.call("svc", "slow", 0) == "done"


async def test_a_thousand_concurrent_calls(kind_broker: Any) -> None:
    address = kind_broker.address
    async with elbus_aio.Client(address, "svc") as svc_client, elbus_aio.Client(address, "caller") as caller_client:
        svc = Rpc(svc_client)
        caller = Rpc(caller_client)
        running = peak = 0

        @svc.method("square")
        async def square(params: int, event: CallEvent) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            return params * params

        results = await asyncio.wait_for(asyncio.gather(*(caller.call("svc", "square", i) for i in range(1000))), 10)
        assert results == [i * i for i in range(1000)]
        assert peak > 100  # handlers ran concurrently, calls were in flight together
        assert caller.pending == 0


async def test_async_and_sync_clients_call_each_other(kind_broker: Any) -> None:
    address = kind_broker.address
    async with elbus_aio.Client(address, "aio") as aio_client:
        aio = Rpc(aio_client)

        @aio.method("hello")
        async def hello(params: dict[str, str], event: CallEvent) -> str:
            return f"hello {params['name']} from {event.sender}"

        @aio.method("slow")
        async def slow(params: Any, event: CallEvent) -> None:
            await asyncio.sleep(1)  # far past the caller's timeout, however fast the round trip

        # The broker may share this event loop: the blocking client connects and closes in a thread.
        sync_client = elbus_client.Client(address, "sync")
        await asyncio.to_thread(sync_client.connect)
        sync = SyncRpc(sync_client, workers=4)
        try:
            threads: set[str] = set()

            @sync.method("add")
            def add(params: list[int], event: CallEvent) -> int:
                threads.add(threading.current_thread().name)
                return params[0] + params[1]

            @sync.method("fail")
            def fail(params: Any, event: CallEvent) -> None:
                raise RpcError(-32000, "custom")

            # sync -> async (the blocking call runs in a thread, the loop keeps serving)
            assert await asyncio.to_thread(sync.call, "aio", "hello", {"name": "x"}) == "hello x from sync"
            with pytest.raises(RpcError) as exc:
                await asyncio.to_thread(sync.call, "aio", "missing")
            assert exc.value.code == -32601
            with pytest.raises(RpcError) as exc:
                await asyncio.to_thread(sync.call, "nobody", "hello")
            assert exc.value.code == -32113
            # async -> sync, many at once through the bounded pool
            results = await asyncio.gather(*(aio.call("sync", "add", [i, i]) for i in range(200)))
            assert results == [2 * i for i in range(200)]
            assert threads and all(name.startswith("elbus-rpc") for name in threads) and len(threads) <= 4
            with pytest.raises(RpcError) as exc:
                await aio.call("sync", "fail")
            assert (exc.value.code, exc.value.message) == (-32000, "custom")
            with pytest.raises(TimeoutError) as timed_out:
                await asyncio.to_thread(sync.call, "aio", "slow", None, timeout=0.05)
            assert isinstance(timed_out.value, RpcTimeout) and timed_out.value.code == -32120
        finally:
            await asyncio.to_thread(sync.close)
            await asyncio.to_thread(sync_client.close)
        assert not [t for t in threading.enumerate() if t.name.startswith("elbus-rpc")]


@pytest.mark.skipif(not HAS_SERVER, reason="the project's broker is not installed")
async def test_broker_core_rpc_and_embedded_client(sock_path: str) -> None:
    import elbus_server

    async with elbus_server.Broker() as broker:
        await broker.serve_unix(sock_path)
        embedded = Rpc(await broker.register("inproc"))

        @embedded.method("ping")
        async def ping(params: Any, event: CallEvent) -> str:
            return f"pong {event.sender}"

        async with elbus_aio.Client(sock_path, "caller") as client:
            rpc = Rpc(client)
            assert await rpc.call(".broker", "test") == {"ok": True}
            names = [c["name"] for c in (await rpc.call(".broker", "client.list"))["clients"]]
            assert {".broker", "caller", "inproc"} <= set(names)
            assert await rpc.call("inproc", "ping") == "pong caller"
            with pytest.raises(RpcError) as exc:
                await embedded.call("caller", "missing")
            assert exc.value.code == -32601
            rpc.method("whoami")(lambda params, event: event.sender)
            assert await embedded.call("caller", "whoami") == "inproc"


@pytest.mark.parametrize("side", ["async", "sync"])
async def test_killed_broker_fails_waiting_calls_promptly(broker_kind: str, sock_path: str, side: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BROKERS), broker_kind, sock_path, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"ready\n"
        async with elbus_aio.Client(sock_path, "svc", timeout=30) as svc_client:
            svc = Rpc(svc_client)
            svc.method("hang")(lambda params, event: asyncio.sleep(30))
            loop = asyncio.get_running_loop()
            if side == "async":
                async with elbus_aio.Client(sock_path, "caller", timeout=30) as caller_client:
                    call = asyncio.create_task(Rpc(caller_client).call("svc", "hang"))
                    await asyncio.sleep(0.2)
                    started = loop.time()
                    os.kill(proc.pid, signal.SIGKILL)
                    with pytest.raises(RpcError) as exc:
                        await asyncio.wait_for(call, 3)
            else:
                with elbus_client.Client(sock_path, "caller", timeout=30) as sync_client, SyncRpc(sync_client) as sync:
                    call = asyncio.ensure_future(asyncio.to_thread(sync.call, "svc", "hang"))
                    await asyncio.sleep(0.2)
                    started = loop.time()
                    os.kill(proc.pid, signal.SIGKILL)
                    with pytest.raises(RpcError) as exc:
                        await asyncio.wait_for(call, 3)
            assert exc.value.code == -32115
            assert loop.time() - started < 2  # the 30 s timeouts play no part
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
