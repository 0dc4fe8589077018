"""The original published clients (`elbus`, `busrt` sync and `busrt_async`) against our broker over UNIX and TCP.

The sync clients block, so they run in threads (`asyncio.to_thread`) while
the broker runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import busrt.client
import busrt.rpc
import busrt_async.client
import busrt_async.rpc
import elbus.client
import elbus.rpc
import msgpack
import pytest

SYNC = [elbus, busrt]


def hang_up(client: Any) -> None:
    """Disconnect an original sync client at once.

    Its reader thread sits in a blocking recv; closing the socket alone
    would not release the connection until that recv times out (1 s).
    """
    with contextlib.suppress(OSError):
        client.socket.shutdown(socket.SHUT_RDWR)
    client.disconnect()


class SyncPeer:
    """A connected original sync client whose received frames land in a thread-safe queue."""

    def __init__(self, package: types.ModuleType, client: Any) -> None:
        self.package = package
        self.client = client
        self.frames: queue.Queue[Any] = queue.Queue()
        client.on_frame = self.frames.put

    async def send(self, target: str, payload: bytes, op: int | None = None, qos: int = 1) -> int:
        mod = self.package.client
        frame = mod.Frame(payload, tp=mod.OP_MESSAGE if op is None else op, qos=qos)
        result = await asyncio.to_thread(self.client.send, target, frame)
        return await asyncio.to_thread(result.wait_completed, 3)

    async def subscribe(self, *topics: str) -> int:
        result = await asyncio.to_thread(self.client.subscribe, list(topics))
        return await asyncio.to_thread(result.wait_completed, 3)

    async def receive(self) -> Any:
        return await asyncio.to_thread(self.frames.get, True, 3)

    async def nothing(self, wait: float = 0.15) -> None:
        await asyncio.sleep(wait)
        assert self.frames.empty(), self.frames.get()


@pytest.fixture(params=["unix", "tcp"])
def where(request: pytest.FixtureRequest, running: Any) -> str:
    return running.path if request.param == "unix" else running.tcp


@pytest.fixture
async def sync_peers() -> AsyncIterator[Callable[..., Awaitable[SyncPeer]]]:
    peers: list[SyncPeer] = []

    async def make(package: types.ModuleType, where: str, name: str) -> SyncPeer:
        client = package.client.Client(where, name)
        await asyncio.to_thread(client.connect)
        peer = SyncPeer(package, client)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        # always close: a sync client's reader thread spins on a socket the broker closed until it is closed here
        await asyncio.to_thread(hang_up, peer.client)


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_messages_at_every_qos(package: types.ModuleType, where: str, sync_peers: Any) -> None:
    a = await sync_peers(package, where, "i.a")
    b = await sync_peers(package, where, "i.b")
    for qos in range(4):
        assert await a.send("i.b", f"qos {qos}".encode(), qos=qos) == 1
        frame = await b.receive()
        assert (frame.type, frame.sender, frame.topic, frame.payload) == (0x12, "i.a", None, f"qos {qos}".encode())
    assert await a.send("i.nobody", b"x") == 0x71
    assert await a.send("i.b", b"") == 1
    assert (await b.receive()).payload == b""
    big = bytes(range(256)) * 4096  # 1 MiB through small client buffers
    assert await a.send("i.b", big) == 1
    assert (await b.receive()).payload == big


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_broadcasts_and_topics(package: types.ModuleType, where: str, sync_peers: Any) -> None:
    mod = package.client
    x1 = await sync_peers(package, where, "g1.x")
    x2 = await sync_peers(package, where, "g1.y.z")
    x3 = await sync_peers(package, where, "g2.x")
    s = await sync_peers(package, where, "sender")
    assert await s.send("g1.*", b"b1", op=mod.OP_BROADCAST) == 1
    assert (await x1.receive()).payload == b"b1"
    assert (await x2.receive()).type == mod.OP_BROADCAST
    await x3.nothing()
    assert await s.send("?.x", b"b2", op=mod.OP_BROADCAST) == 1
    assert {(await x1.receive()).payload, (await x3.receive()).payload} == {b"b2"}
    await x2.nothing(0)

    assert await x1.subscribe("t/+/e", "t/#") == 1
    assert await x2.subscribe("+/x/#") == 1
    assert await s.send("t/x/e", b"p1", op=mod.OP_PUBLISH) == 1
    got = await x1.receive()
    assert (got.type, got.sender, got.topic, got.payload) == (mod.OP_PUBLISH, "sender", "t/x/e", b"p1")
    await x1.nothing()  # two matching subscriptions, one delivery
    assert (await x2.receive()).topic == "t/x/e"
    assert await s.send("t", b"p2", op=mod.OP_PUBLISH) == 1
    await x1.nothing()  # t/# does not match t
    unsub = await asyncio.to_thread(x1.client.unsubscribe, ["t/+/e", "t/#"])
    assert await asyncio.to_thread(unsub.wait_completed, 3) == 1
    assert await s.send("t/x/e", b"p3", op=mod.OP_PUBLISH, qos=0) == 1
    assert (await x2.receive()).payload == b"p3"
    await x1.nothing()


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_registration_failures(package: types.ModuleType, where: str, sync_peers: Any) -> None:
    await sync_peers(package, where, "dup")
    for name, code in (("dup", "0x76"), (".hidden", "0x72"), ("lonely%%1", "0x71")):
        client = package.client.Client(where, name)
        with pytest.raises(RuntimeError, match=f"Server response: {code}"):
            await asyncio.to_thread(client.connect)
        client.socket.close()


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_secondaries(package: types.ModuleType, where: str, sync_peers: Any, running: Any) -> None:
    p = await sync_peers(package, where, "prim")
    s1 = await sync_peers(package, where, "prim%%1")
    q = await sync_peers(package, where, "q")
    assert await q.send("prim%%1", b"to-secondary") == 1
    assert (await s1.receive()).payload == b"to-secondary"
    assert await s1.send("q", b"from-secondary") == 1
    got = await q.receive()
    assert got.sender == "prim%%1"
    if package is busrt:
        assert got.primary_sender == "prim"
    await asyncio.to_thread(hang_up, p.client)
    for _ in range(100):  # the broker drops the secondary when its primary leaves
        if "prim%%1" not in running.broker.clients:
            break
        await asyncio.sleep(0.02)
    assert await q.send("prim%%1", b"gone") == 0x71


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_core_rpc(package: types.ModuleType, where: str, sync_peers: Any) -> None:
    c = await sync_peers(package, where, "rpc.caller")
    rpc = package.rpc.Rpc(c.client)

    async def call(method: str, params: bytes = b"") -> Any:
        event = await asyncio.to_thread(rpc.call, ".broker", package.rpc.Request(method, params))
        return await asyncio.to_thread(event.wait_completed, 3)

    assert msgpack.unpackb((await call("test")).get_payload()) == {"ok": True}
    info = msgpack.unpackb((await call("info")).get_payload())
    assert list(info) == ["author", "version"]
    stats = msgpack.unpackb((await call("stats")).get_payload())
    assert list(stats) == ["uptime", "r_frames", "r_bytes", "w_frames", "w_bytes"]
    assert stats["r_frames"] >= 3
    clients = msgpack.unpackb((await call("client.list")).get_payload())["clients"]
    assert [x["name"] for x in clients] == [".broker", "rpc.caller"]
    me = clients[1]
    assert me["kind"] == ("local_ipc" if where.startswith("/") else "tcp")
    assert me["port"] == where
    assert (me["source"] is None) == where.startswith("/")
    assert (await call("benchmark.test", b"\x01\x02raw")).get_payload() == b"\x01\x02raw"
    with pytest.raises(package.rpc.RpcException) as err:
        await call("no.such.method")
    assert err.value.rpc_error_code == -32601
    with pytest.raises(package.rpc.RpcException) as err:
        await call("test", msgpack.packb({"x": 1}))
    assert err.value.rpc_error_code == -32602


@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_announcements(package: types.ModuleType, where: str, sync_peers: Any) -> None:
    w = await sync_peers(package, where, "watcher")
    assert await w.subscribe(".broker/info") == 1
    x = await sync_peers(package, where, "newcomer")
    got = await w.receive()
    assert (got.sender, got.topic) == (".broker", ".broker/info")
    reg = msgpack.unpackb(got.payload)
    assert list(reg) == ["s", "d", "t"] and reg["s"] == "reg" and reg["d"] == "newcomer"
    await sync_peers(package, where, "newcomer%%2")
    await w.nothing()  # secondaries are not announced
    await asyncio.to_thread(hang_up, x.client)
    unreg = msgpack.unpackb((await w.receive()).payload)
    assert (unreg["s"], unreg["d"]) == ("unreg", "newcomer") and unreg["t"] >= reg["t"]


# --- busrt_async ------------------------------------------------------------------------------


@pytest.fixture
async def async_peers() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    clients: list[Any] = []

    async def make(where: str, name: str) -> tuple[Any, asyncio.Queue[Any]]:
        client = busrt_async.client.Client(where, name)
        frames: asyncio.Queue[Any] = asyncio.Queue()

        async def on_frame(frame: Any) -> None:
            await frames.put(frame)

        client.on_frame = on_frame
        await client.connect()
        clients.append(client)
        return client, frames

    yield make
    for client in clients:
        if client.is_connected():
            await client.disconnect()


async def test_async_every_op(where: str, async_peers: Any) -> None:
    mod = busrt_async.client
    a, _ = await async_peers(where, "as.a")
    b, b_frames = await async_peers(where, "as.b")
    for qos in range(4):
        result = await a.send("as.b", mod.Frame(b"m%d" % qos, qos=qos))
        assert await result.wait_completed(timeout=3) == 1
        got = await asyncio.wait_for(b_frames.get(), 3)
        assert (got.sender, got.payload) == ("as.a", b"m%d" % qos)
    result = await a.send("as.none", mod.Frame(b"x", qos=1))
    assert await result.wait_completed(timeout=3) == 0x71
    assert await (await b.subscribe(["x/#"])).wait_completed(timeout=3) == 1
    assert await (await a.send("x/y", mod.Frame(b"pub", tp=mod.OP_PUBLISH, qos=1))).wait_completed(timeout=3) == 1
    got = await asyncio.wait_for(b_frames.get(), 3)
    assert (got.type, got.topic, got.payload) == (mod.OP_PUBLISH, "x/y", b"pub")
    assert await (await a.send("as.*", mod.Frame(b"bc", tp=mod.OP_BROADCAST, qos=1))).wait_completed(timeout=3) == 1
    got = await asyncio.wait_for(b_frames.get(), 3)
    assert (got.type, got.payload) == (mod.OP_BROADCAST, b"bc")


async def test_async_rpc_and_registration_errors(where: str, async_peers: Any) -> None:
    a, _ = await async_peers(where, "as.rpc")
    rpc = busrt_async.rpc.Rpc(a)
    event = await rpc.call(".broker", busrt_async.rpc.Request("test"))
    await asyncio.wait_for(event.wait_completed(), 3)
    assert msgpack.unpackb(event.get_payload()) == {"ok": True}
    with pytest.raises(RuntimeError, match="0x76"):
        await busrt_async.client.Client(where, "as.rpc").connect()


# UNIX only: the original sync clients shrink SO_RCVBUF to 8 KiB, below the loopback MSS, and on TCP
# the kernel then trickles a 2 MB backlog through its zero-window persist timer (tens of seconds, with
# every frame already written by the broker): a property of those clients on TCP, not of flow control.
@pytest.mark.parametrize("transport", ["unix"])
@pytest.mark.parametrize("package", SYNC, ids=lambda p: p.__name__)
async def test_sync_fast_sender_loses_nothing(
    package: types.ModuleType, transport: str, make_broker: Any, sync_peers: Any
) -> None:
    """QoS 0 messages faster than the Python listener reads them: a queue that holds the burst loses nothing.

    The broker never holds the sender: the listener's queue must be big
    enough for what it falls behind by (here 2 MB), as with the original.
    """
    running = await make_broker(queue_bytes=8 * 1024 * 1024)
    where = running.path if transport == "unix" else running.tcp
    listener = await sync_peers(package, where, "fast.listener")
    sender = await sync_peers(package, where, "fast.sender")
    n = 10_000
    pad = b"." * 200  # 2 MB in all: more than the socket buffers hold
    got: list[bytes] = []
    done = threading.Event()

    def on_frame(frame: Any) -> None:
        got.append(frame.payload)
        if len(got) % 1000 == 0:
            time.sleep(0.05)  # a listener that falls behind now and then
        if len(got) == n:
            done.set()

    listener.client.on_frame = on_frame

    def blast() -> None:
        for i in range(n):
            sender.client.send("fast.listener", package.client.Frame(b"%05d" % i + pad, qos=0))

    await asyncio.to_thread(blast)
    assert await asyncio.to_thread(done.wait, 10)
    assert got == [b"%05d" % i + pad for i in range(n)]
    assert "fast.listener" in running.broker.clients
