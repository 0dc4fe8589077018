"""Faults: NATS down, NATS back, a NATS node killed mid-stream in a 3-node NATS cluster, a slow consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats_helpers import NatsServer, connected, interested, knows_nodes, link, nats_cluster, sees, wait_for

from elbus_cluster import NatsCluster
from elbus_cluster.envelope import encode_publication_head
from elbus_server import Broker
from elbus_spec import Kind, NotDelivered, NotRegistered, codec

MakeNode = Callable[..., Awaitable[Broker]]


async def test_nats_down_the_local_bus_works_and_remote_sends_answer_fast(make_node: MakeNode, nats_server: NatsServer) -> None:
    a = await make_node("a")
    b = await make_node("b")
    x, y = await a.register("x"), await a.register("y")
    remote = await b.register("remote")
    await wait_for(sees(a, "remote"), what="a sees remote")
    nats_server.stop()
    await wait_for(lambda: not connected(a)(), what="a notices")
    await x.send("y", b"local")
    assert (await y.receive()).payload == b"local"
    started = time.monotonic()
    with pytest.raises((NotDelivered, NotRegistered)):
        await x.send("remote", b"lost")
    with pytest.raises(NotRegistered):
        await x.send("nobody", b"x")
    assert time.monotonic() - started < 0.1
    # The other node ages out of the view: its names are then unknown (0x71).
    await wait_for(lambda: not sees(a, "remote")(), timeout=3, what="b forgotten")
    # NATS comes back on the same address: the connection comes back by itself, and so does the bus.
    nats_server.start()
    await wait_for(connected(a, b), timeout=5, what="reconnected")
    await wait_for(sees(a, "remote"), timeout=5, what="b known again")
    await x.send("remote", b"back")
    assert (await asyncio.wait_for(remote.receive(), 2)).payload == b"back"


async def test_a_broker_started_without_nats_joins_when_it_comes(make_node: MakeNode, nats_server: NatsServer) -> None:
    nats_server.stop()
    a = await make_node("a", wait=False)
    x, y = await a.register("x"), await a.register("y")
    await x.send("y", b"works alone")
    assert (await y.receive()).payload == b"works alone"
    with pytest.raises(NotRegistered):
        await x.send("elsewhere", b"")
    nats_server.start()
    b = await make_node("b")
    await b.register("elsewhere")
    await wait_for(connected(a), timeout=5, what="a connected")
    await wait_for(sees(a, "elsewhere"), what="a sees b's client")
    await x.send("elsewhere", b"")


async def test_killing_a_nats_node_mid_stream_loses_no_acknowledged_frame() -> None:
    servers = [s.start() for s in nats_cluster(3)]
    a = b = None
    try:
        a = Broker(cluster=link([servers[0].url, servers[1].url], "a"), timeout=2.0)
        b = Broker(cluster=link([servers[2].url, servers[1].url], "b"), timeout=2.0)
        await a.__aenter__()
        await b.__aenter__()
        await wait_for(connected(a, b), what="connected")
        await wait_for(knows_nodes(a, 1), timeout=10, what="the NATS routes formed")
        sender, receiver = await a.register("sender"), await b.register("receiver")
        await wait_for(sees(a, "receiver"), what="a sees receiver")
        acked: list[int] = []
        refused = 0
        received: set[int] = set()

        async def read() -> None:
            while True:
                received.add(int((await receiver.receive()).payload))

        reader = asyncio.create_task(read())
        for i in range(3000):
            if i == 1000:
                url = a.cluster.info()["server"]  # type: ignore[attr-defined]
                next(s for s in servers if s.url == url).stop()  # the NATS node the sender's broker is connected to
            try:
                await sender.send_nowait("receiver", b"%d" % i)
            except (NotDelivered, NotRegistered):
                refused += 1
            else:
                acked.append(i)
            if i % 50 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        reader.cancel()
        assert set(acked) <= received, f"acknowledged but lost: {sorted(set(acked) - received)[:10]}"
        assert len(acked) > 1000  # the stream went on through the other NATS node
        print(f"acked {len(acked)}, refused {refused}, received {len(received)}")
    finally:
        for broker in (a, b):
            if broker is not None:
                await broker.close()
        for server in servers:
            server.stop()



async def test_bytes_waiting_for_nats_are_bounded(make_node: MakeNode) -> None:
    """Past ``max_queued`` bytes not yet taken by NATS, MESSAGEs to other nodes are refused 0x77 and publications
    stay local: the local bus never waits for NATS."""
    a = await make_node("a", max_queued=1)
    b = await make_node("b")
    await wait_for(knows_nodes(a, 1), what="a knows b")
    remote = await b.register("remote")
    await remote.subscribe("t")
    sender, local = await a.register("sender"), await a.register("local")
    await wait_for(sees(a, "remote"), what="a sees remote")
    await wait_for(lambda: a.cluster.directory.interested("t"), what="interest")  # type: ignore[union-attr]
    sent, refused = [], 0
    for _ in range(3000):  # in one event-loop turn: nothing reaches NATS meanwhile
        try:
            sent.append(sender.send_nowait("remote", b"x" * 100))
        except NotDelivered:
            refused += 1
    await asyncio.gather(*sent)
    assert sent and refused
    for _ in range(3000):
        await sender.publish("t", b"p")
    await sender.send("local", b"still fine")
    assert (await local.receive()).payload == b"still fine"
    assert a.cluster.counters["dropped"] > 0  # type: ignore[union-attr]


async def test_a_nats_slow_consumer_is_counted_and_the_local_bus_goes_on(
        make_node: MakeNode, caplog: pytest.LogCaptureFixture) -> None:
    """A NATS subscription past its backlog bound drops what comes: nats-py reports a slow consumer, the broker
    logs and counts it, and both its local bus and later traffic from other nodes work on."""
    a = await make_node("a")
    b = await make_node("b", pending_messages=2)
    await wait_for(knows_nodes(a, 1), what="a knows b")
    listener, x, y = await b.register("listener"), await b.register("x"), await b.register("y")
    await listener.subscribe("t/#")
    publisher = await a.register("publisher")
    await wait_for(lambda: a.cluster.directory.interested("t/0"), what="interest")  # type: ignore[union-attr]
    caplog.set_level(logging.WARNING, "elbus_cluster")
    for i in range(300):  # one NATS message per topic, all written in one burst: b's reader outruns its handler
        await publisher.publish(f"t/{i}", b"p")
    link = b.cluster
    assert isinstance(link, NatsCluster)
    await wait_for(lambda: link.counters["slow_consumers"] > 0, what="a slow consumer reported")
    assert "slow consumer: NATS messages dropped for this node" in caplog.text
    assert caplog.text.count("slow consumer") == 1  # a burst is one log line, every drop is counted
    assert link.info()["slow_consumers"] == link.counters["slow_consumers"]
    got = 0
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(listener.receive(), 0.3)
            got += 1
    assert 0 < got < 300 and got + link.counters["slow_consumers"] == 300  # each message delivered or counted
    await x.send("y", b"local")
    assert (await y.receive()).payload == b"local"
    await wait_for(sees(a, "listener"), what="a sees listener")
    await publisher.send("listener", b"across, later")
    assert (await asyncio.wait_for(listener.receive(), 2)).payload == b"across, later"


# Another process floods the subject of a node's subscription: 24 MB, well past the server's max_pending for it.
FLOOD = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    for _ in range(400):
        await nc.publish("elbus.pub.t", bytes(60000))
    await nc.flush()
    await nc.close()
asyncio.run(main())
"""


async def test_nats_server_dropping_a_slow_node_is_an_outage_it_recovers_from(sock_dir: Path) -> None:
    """nats-server closes the connection of a node that does not read (its ``max_pending``); the node reconnects,
    and the bus works across again."""
    server = NatsServer(config='max_pending: 1MB\nwrite_deadline: "200ms"\n', tmp=sock_dir).start()
    try:
        async with Broker(cluster=link(server.url, "a")) as a, Broker(cluster=link(server.url, "b")) as b:
            await wait_for(connected(a, b), what="connected")
            listener = await b.register("listener")
            await listener.subscribe("t")
            await wait_for(interested(a, "t"), what="a sees b's interest")
            flood = subprocess.Popen([sys.executable, "-c", FLOOD, server.url])
            flood.wait(30)  # blocks this event loop, both brokers' included: b reads nothing meanwhile
            time.sleep(0.3)  # past the server's write deadline
            link_b = b.cluster
            assert isinstance(link_b, NatsCluster)
            await wait_for(lambda: link_b.counters["reconnects"] >= 1, what="b dropped and reconnected")
            x, y = await b.register("x"), await b.register("y")
            await x.send("y", b"local")
            assert (await y.receive()).payload == b"local"
            sender = await a.register("sender")
            await wait_for(sees(a, "listener"), what="a sees listener")
            await sender.send("listener", b"across again")
            while (frame := await asyncio.wait_for(listener.receive(), 2)).topic is not None:
                pass  # what of the flood got through before the drop
            assert frame.payload == b"across again"
    finally:
        server.stop()


async def test_malformed_messages_from_nats_are_dropped_whole(pair: tuple[Broker, Broker], nats_server: NatsServer) -> None:
    """Anything on the bus's subjects that is not what a broker sends is counted and dropped; the node works on."""
    a, b = pair
    target = await b.register("target")
    await target.subscribe("t")
    sender = await a.register("sender")
    await wait_for(sees(a, "target"), what="a sees target")
    nc = await nats.connect(nats_server.url)
    try:
        bad_frame = b"\x00target\x00" + codec.encode_server_header(Kind.MESSAGE, 3, 0) + b"\xff\x00x"  # sender not UTF-8
        for subject, data in [("elbus.node.b", b"\x00no-nul"), ("elbus.node.b", bad_frame), ("elbus.pub.t", b"short"),
                              ("elbus.dir", b"\xc1"), ("elbus.pub.t", encode_publication_head(1, 1) + b"\x01\x00")]:
            await nc.publish(subject, data)
        await nc.flush()
    finally:
        await nc.close()
    link = b.cluster
    assert isinstance(link, NatsCluster)
    await wait_for(lambda: link.counters["malformed"] == 5, what="five malformed messages counted")
    await sender.send("target", b"still works")
    assert (await asyncio.wait_for(target.receive(), 2)).payload == b"still works"
