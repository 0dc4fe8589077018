"""The BUS/RT extensions in our broker, used through our own client libraries over real sockets.

EXCLUDE/UNEXCLUDE and PUBLISH_FOR through `elbus_aio` and `elbus_client`
(the traces check the bytes; these check the libraries' methods against
the broker), access control over PUBLISH_FOR, the in-process client's
methods, and ``Broker(extensions=False)``, which answers them as the
original elbus broker does: by dropping the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from raw_client import RawClient, Running

import elbus_aio
import elbus_client
from elbus_server import Acl, Rule
from elbus_spec import AccessDenied, codec

MakeBroker = Callable[..., Awaitable[Running]]


async def nothing_arrives(client: elbus_aio.Client, wait: float = 0.1) -> None:
    with pytest.raises(TimeoutError):
        await client.receive(timeout=wait)


async def test_async_client_exclusions_win_over_subscriptions(running: Running) -> None:
    async with (
        elbus_aio.Client(running.path, "ext.rx") as rx,
        elbus_aio.Client(running.tcp, "ext.tx") as tx,
    ):
        await rx.subscribe("plant/#")
        await rx.exclude("plant/noisy/#", "plant/debug")
        for topic in ("plant/noisy/a", "plant/debug", "plant/ok"):
            await tx.publish(topic, topic.encode())
        got = await rx.receive(timeout=3)
        assert (got.topic, got.payload) == ("plant/ok", b"plant/ok")
        await nothing_arrives(rx)
        assert running.broker.snapshot().ops_in["exclude"] == (1, len("plant/noisy/#\0plant/debug"))
        await rx.unexclude("plant/debug")
        await tx.publish("plant/debug", b"back")
        assert (await rx.receive(timeout=3)).payload == b"back"
        await tx.send("ext.rx", b"a message")  # exclusions filter publications only
        assert (await rx.receive(timeout=3)).payload == b"a message"


async def test_async_client_publish_for_reaches_the_receiver_and_its_secondaries(running: Running) -> None:
    async with (
        elbus_aio.Client(running.path, "pf.r") as r,
        elbus_aio.Client(running.path, "pf.r%%2") as r2,
        elbus_aio.Client(running.path, "pf.other") as other,
        elbus_aio.Client(running.path, "pf.tx") as tx,
    ):
        for client in (r, r2, other):
            await client.subscribe("pf/#")
        await tx.publish_for("pf/x", "pf.r", b"only r", qos=3)
        for client in (r, r2):
            got = await client.receive(timeout=3)
            assert (got.sender, got.topic, got.payload, got.realtime) == ("pf.tx", "pf/x", b"only r", True)
        await nothing_arrives(other)
        await tx.publish_for("pf/x", "pf.nobody", b"lost")  # acknowledged all the same
        await nothing_arrives(r)
    snapshot = running.broker.snapshot()
    assert snapshot.ops_in["publish_for"][0] == 2


async def test_sync_client_exclusions_and_publish_for(running: Running) -> None:
    def use() -> None:  # the blocking client, in a thread: the broker runs on this test's loop
        with elbus_client.connect(running.path, "sync.rx") as rx, elbus_client.connect(running.path, "sync.tx") as tx:
            rx.subscribe("s/#")
            rx.exclude("s/hidden")
            tx.publish("s/hidden", b"no")
            tx.publish_for("s/shown", "sync.rx", b"yes")
            got = rx.receive(3)
            assert (got.topic, got.payload) == ("s/shown", b"yes")
            rx.unexclude("s/hidden")
            tx.publish_for("s/hidden", "sync.rx", b"now yes")
            assert rx.receive(3).payload == b"now yes"
            tx.publish_for("s/shown", "sync.tx", b"not subscribed")
            with pytest.raises(TimeoutError):
                rx.receive(0.1)

    await asyncio.to_thread(use)


async def test_access_control_covers_publish_for_as_publish(make_broker: MakeBroker) -> None:
    rules = Acl((Rule("acl.tx", publish=("open/#",)), Rule("acl.rx", subscribe=("#",))))
    running = await make_broker(acl=rules)
    async with elbus_aio.Client(running.path, "acl.rx") as rx, elbus_aio.Client(running.path, "acl.tx") as tx:
        await rx.subscribe("open/#", "closed/#")
        with pytest.raises(AccessDenied):
            await tx.publish_for("closed/x", "acl.rx", b"denied")
        with pytest.raises(AccessDenied):
            await tx.publish("closed/x", b"denied too")
        await tx.publish_for("open/x", "acl.rx", b"allowed")
        got = await rx.receive(timeout=3)
        assert (got.topic, got.payload) == ("open/x", b"allowed")
        await nothing_arrives(rx)
    snapshot = running.broker.snapshot()
    assert snapshot.acl_denials == 2 and snapshot.ops_in["denied"][0] == 2


async def test_in_process_clients_have_the_extensions_too(running: Running) -> None:
    rx = await running.broker.register("emb.rx")
    tx = await running.broker.register("emb.tx")
    await rx.subscribe("e/#")
    await rx.exclude("e/hidden")
    await tx.publish("e/hidden", b"no")
    await tx.publish_for("e/shown", "emb.rx", b"yes")
    got = await asyncio.wait_for(rx.receive(), 3)
    assert (got.sender, got.topic, got.payload) == ("emb.tx", "e/shown", b"yes") and rx.queued == 0
    await rx.unexclude("e/hidden")
    await tx.publish("e/hidden", b"back")
    assert (await asyncio.wait_for(rx.receive(), 3)).payload == b"back"


async def test_exclusions_leave_with_their_client(running: Running) -> None:
    async with elbus_aio.Client(running.path, "gone.rx") as rx:
        await rx.exclude("g/#", "h")
        await rx.unexclude("h")
        assert running.broker.exclusions("gone.rx") == {"g/#"}
    async with elbus_aio.Client(running.path, "gone.rx") as again:  # the name registers again: nothing excluded
        await again.subscribe("g/#")
        assert not running.broker.exclusions("gone.rx")


@pytest.mark.parametrize(
    "frame",
    [
        codec.encode_exclude_frame(1, 1, ["x"]),
        codec.encode_unexclude_frame(1, 1, ["x"]),
        codec.encode_publish_for_frame(1, 1, "t", "r", b"p"),
    ],
    ids=["exclude", "unexclude", "publish_for"],
)
async def test_without_extensions_the_broker_drops_the_client_as_the_original(make_broker: MakeBroker, frame: bytes) -> None:
    running = await make_broker(extensions=False)
    client = await RawClient.register(running.path, "old.style")
    client.write(frame)
    assert await client.closed()
    assert "old.style" not in running.broker.clients
    assert running.broker.snapshot().protocol_violations == 1


async def test_against_a_broker_without_extensions_the_async_client_says_why_it_lost_the_connection(
    make_broker: MakeBroker,
) -> None:
    running = await make_broker(extensions=False)
    for op, call in (
        ("EXCLUDE", lambda c: c.exclude("x/#")),
        ("UNEXCLUDE", lambda c: c.unexclude("x/#")),
        ("PUBLISH_FOR", lambda c: c.publish_for("x", "someone", b"p")),
    ):
        client = await elbus_aio.connect(running.path, f"old.{op}")
        with pytest.raises(elbus_aio.ConnectionClosed, match=f"ack of {op}, a BUS/RT extension: .* original elbus broker"):
            await call(client)
        await client.close()
    async with elbus_aio.Client(running.path, "old.closed") as closed:
        pass
    with pytest.raises(elbus_aio.ConnectionClosed) as already:
        await closed.exclude("x")  # a connection that was down before the call says only that
    assert "BUS/RT" not in str(already.value)


async def test_against_a_broker_without_extensions_the_sync_client_says_why_it_lost_the_connection(
    make_broker: MakeBroker,
) -> None:
    running = await make_broker(extensions=False)

    def use() -> None:
        for op in ("EXCLUDE", "UNEXCLUDE", "PUBLISH_FOR"):
            with elbus_client.connect(running.path, f"old.sync.{op}") as client:
                call = {"EXCLUDE": client.exclude, "UNEXCLUDE": client.unexclude}.get(op)
                with pytest.raises(elbus_client.ConnectionClosed, match=f"ack of {op}, a BUS/RT extension"):
                    call("x/#") if call is not None else client.publish_for("x", "someone", b"p")

    await asyncio.to_thread(use)


async def test_exclusions_are_bounded_as_subscriptions_and_publish_for_topics_as_publications(make_broker: MakeBroker) -> None:
    running = await make_broker(max_subscriptions=2, max_topic_depth=3)
    client = await RawClient.register(running.path, "bounded")
    client.write(codec.encode_exclude_frame(1, 1, ["a", "b", "c"]))
    assert await client.frames(2) == [codec.encode_ack(1, 0x72), codec.encode_ack(1, 0x01)]  # the third is one too many
    assert running.broker.exclusions("bounded") == {"a", "b"}
    client.write(codec.encode_exclude_frame(2, 1, ["a"]))  # one it has already: not a new one
    assert await client.frame() == codec.encode_ack(2, 0x01)
    client.write(codec.encode_publish_for_frame(3, 1, "a/b/c/d", "bounded", b"deep"))
    assert await client.frame() == codec.encode_ack(3, 0x72)  # four levels, three allowed: as PUBLISH
    await client.nothing()
