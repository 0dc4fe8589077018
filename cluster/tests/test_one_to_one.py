"""One-to-one by plain name across nodes: delivery, the remote broker's answer in the ack, 0x71 at once, order, RPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nats_helpers import knows_nodes, sees, wait_for

import elbus_aio
from elbus_rpc import Rpc, RpcError
from elbus_server import Acl, Broker, Rule
from elbus_spec import Kind, NotDelivered, NotRegistered, QoS
from elbus_spec.errors import AccessDenied

MakeNode = Callable[..., Awaitable[Broker]]


async def test_embedded_clients_reach_each_other_by_plain_name(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    ca, cb = await a.register("ca"), await b.register("cb")
    await wait_for(sees(a, "cb"), what="a sees cb")
    for qos in QoS:
        await ca.send("cb", b"hello %d" % qos, qos=qos)
        frame = await asyncio.wait_for(cb.receive(), 2)
        assert (frame.kind, frame.sender, frame.payload, frame.realtime) == (Kind.MESSAGE, "ca", b"hello %d" % qos, bool(qos & 2))


async def test_socket_clients_and_the_remote_answer(make_node: MakeNode, sock_dir: Path) -> None:
    a = await make_node("a")
    b = Broker(cluster=a.cluster.__class__(a.cluster.servers, node="b", heartbeat=0.2, node_timeout=1.0,  # type: ignore[union-attr]
                                           ack_timeout=1.0), queue_size=2, timeout=2.0)
    try:
        await b.__aenter__()
        pa = await a.serve_unix(sock_dir / "a.sock")
        pb = await b.serve_unix(sock_dir / "b.sock")
        x = await elbus_aio.connect(pa, "x")
        y = await elbus_aio.connect(pb, "y")
        await wait_for(sees(a, "y"), what="a sees y")
        await x.send("y", b"over NATS")
        frame = await y.receive(timeout=2)
        assert (frame.sender, frame.payload) == ("x", b"over NATS")
        # The ack carries what the receiving broker answered: an in-process client that does not read fills its queue.
        await b.register("sink")
        await wait_for(sees(a, "sink"), what="a sees sink")
        await x.send("sink", b"1")
        await x.send("sink", b"2")
        with pytest.raises(NotDelivered):
            await x.send("sink", b"3")
        await x.close()
        await y.close()
    finally:
        await b.close()


async def test_a_name_registered_nowhere_is_refused_at_once(pair: tuple[Broker, Broker]) -> None:
    a, _ = pair
    ca = await a.register("ca")
    started = time.monotonic()
    for _ in range(100):
        with pytest.raises(NotRegistered):
            await ca.send("nobody", b"x")
    assert time.monotonic() - started < 1.0


async def test_a_client_that_leaves_is_soon_unknown_everywhere(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    ca, cb = await a.register("ca"), await b.register("cb")
    await wait_for(sees(a, "cb"), what="a sees cb")
    await cb.close()
    await wait_for(lambda: not sees(a, "cb")(), timeout=1.0, what="cb forgotten")
    with pytest.raises(NotRegistered):
        await ca.send("cb", b"x")


async def test_order_per_sender_and_receiver(pair: tuple[Broker, Broker], sock_dir: Path) -> None:
    a, b = pair
    pa, pb = await a.serve_unix(sock_dir / "a.sock"), await b.serve_unix(sock_dir / "b.sock")
    x = await elbus_aio.connect(pa, "x")
    y = await elbus_aio.connect(pb, "y")
    await wait_for(sees(a, "y"), what="a sees y")
    n = 5000
    acks = [x.send_nowait("y", b"%d" % i, qos=i % 4) for i in range(n)]
    got = [(await y.receive(timeout=5)).payload for _ in range(n)]
    assert got == [b"%d" % i for i in range(n)]
    await asyncio.gather(*acks)
    await x.close()
    await y.close()


async def test_rpc_calls_replies_errors_and_notifications(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    caller, server = Rpc(await a.register("caller")), Rpc(await b.register("server"))
    notes: asyncio.Queue[bytes] = asyncio.Queue()

    @server.method("add")
    def add(params: list[int], event: object) -> int:
        return sum(params)

    @server.method("fail")
    def fail(params: object, event: object) -> None:
        raise RpcError(-32001, b"refused")

    server.on_notification = lambda event: notes.put_nowait(event.payload)  # type: ignore[attr-defined]
    await wait_for(sees(a, "server"), what="a sees server")
    assert await caller.call("server", "add", [1, 2, 3]) == 6
    with pytest.raises(RpcError) as err:
        await caller.call("server", "fail")
    assert err.value.code == -32001
    with pytest.raises(RpcError) as err:
        await caller.call("nobody", "add", [1])
    assert err.value.code == -32113
    await caller.notify("server", b"note")
    assert await asyncio.wait_for(notes.get(), 2) == b"note"


async def test_access_control_applies_to_remote_senders(make_node: MakeNode) -> None:
    a = await make_node("a")
    b = await make_node("b")
    await wait_for(knows_nodes(a, 1), what="a knows b")
    b.set_acl(Acl((Rule("trusted", message=("*",)), Rule("*", publish=("*",)))))
    ok, other, target = await a.register("trusted"), await a.register("other"), await b.register("target")
    await wait_for(sees(a, "target"), what="a sees target")
    await ok.send("target", b"allowed")
    assert (await asyncio.wait_for(target.receive(), 2)).payload == b"allowed"
    with pytest.raises(AccessDenied):
        await other.send("target", b"denied")
