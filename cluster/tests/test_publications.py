"""Publications and broadcasts across nodes: exactly once, with the sender's name, only where someone listens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nats_helpers import interested, knows_nodes, sees, wait_for

from elbus_cluster import NatsCluster
from elbus_server import Acl, Broker, EmbeddedClient, Rule
from elbus_spec import Kind

MakeNode = Callable[..., Awaitable[Broker]]
ODD_TOPICS = ["", "a//b", "a/", "/a", "a.b/c d", "+", "#", "é/~"]


async def drain(client: EmbeddedClient, wait: float = 0.3) -> list[tuple[str, str | None, bytes]]:
    got = []
    while True:
        try:
            frame = await asyncio.wait_for(client.receive(), wait)
        except TimeoutError:
            return got
        got.append((frame.sender, frame.topic, frame.payload))


async def test_overlapping_patterns_receive_once_from_every_node(make_node: MakeNode) -> None:
    a, b, c = await make_node("a"), await make_node("b"), await make_node("c")
    for node in (a, b, c):
        await wait_for(knows_nodes(node, 2), what="three nodes")
    listener = await c.register("listener")
    await listener.subscribe("s/#", "s/+", "+/x", "#")
    pa, pb = await a.register("pa"), await b.register("pb")
    await wait_for(interested(a, "s/x"), what="a sees the interest")
    await wait_for(interested(b, "s/x"), what="b sees the interest")
    for i in range(20):
        await pa.publish("s/x", b"a%d" % i)
        await pb.publish("s/x", b"b%d" % i)
    got = await drain(listener)
    assert sorted(got) == sorted([("pa", "s/x", b"a%d" % i) for i in range(20)] + [("pb", "s/x", b"b%d" % i) for i in range(20)])
    assert [p for s, _, p in got if s == "pa"] == [b"a%d" % i for i in range(20)]  # order per sender and topic
    assert c.cluster is not None and isinstance(c.cluster, NatsCluster)
    assert c.cluster.counters["duplicates_dropped"] > 0  # the overlapping subscriptions did deliver copies


async def test_topics_that_subjects_cannot_carry(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    listener = await b.register("listener")
    await listener.subscribe("#", *ODD_TOPICS)
    pub = await a.register("pub")
    await wait_for(interested(a, "a//b"), what="interest")
    for topic in ODD_TOPICS:
        await pub.publish(topic, topic.encode())
    assert await drain(listener) == [("pub", t, t.encode()) for t in ODD_TOPICS]


async def test_wildcards_cross_as_elbus_reads_them(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    listener = await b.register("listener")
    await listener.subscribe("a/#", "+/topic/#")
    pub = await a.register("pub")
    await wait_for(interested(a, "a/b"), what="interest")
    for topic in ["a", "a/b", "a/b/c", "x/topic/event", "x/topic/sub/event", "x/topic", "b"]:
        await pub.publish(topic, b"")
    assert [t for _, t, _ in await drain(listener)] == ["a/b", "a/b/c", "x/topic/event", "x/topic/sub/event"]


async def test_only_topics_with_remote_subscribers_cross(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    local = await a.register("local")
    await local.subscribe("mine/#")
    remote = await b.register("remote")
    await remote.subscribe("theirs/#")
    pub = await a.register("pub")
    await wait_for(interested(a, "theirs/1"), what="interest")
    link = a.cluster
    assert isinstance(link, NatsCluster)
    before = link.counters["published"]
    for i in range(50):
        await pub.publish(f"mine/{i}", b"local only")
    await pub.publish("theirs/1", b"crosses")
    assert len(await drain(local)) == 50
    assert await drain(remote) == [("pub", "theirs/1", b"crosses")]
    assert link.counters["published"] - before == 1
    await remote.unsubscribe("theirs/#")
    await wait_for(lambda: not interested(a, "theirs/1")(), what="interest withdrawn")
    await pub.publish("theirs/1", b"stays")
    assert link.counters["published"] - before == 1


async def test_node_local_announcements_stay_local(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    watcher = await b.register("watcher")
    await watcher.subscribe(".broker/info", "#")
    await asyncio.sleep(0.3)
    await a.register("someone")  # announced on a's .broker/info only
    assert await drain(watcher) == []


async def test_broadcasts_reach_matching_names_on_every_node(make_node: MakeNode) -> None:
    a, b, c = await make_node("a"), await make_node("b"), await make_node("c")
    for node in (a, b, c):
        await wait_for(knows_nodes(node, 2), what="three nodes")
    g1, g2, other = await a.register("grp.1"), await b.register("grp.2"), await c.register("other")
    sender = await c.register("sender")
    await wait_for(sees(c, "grp.1", "grp.2"), what="c sees the group")
    await sender.broadcast("grp.*", b"to the group")
    for client in (g1, g2):
        frame = await asyncio.wait_for(client.receive(), 2)
        assert (frame.kind, frame.sender, frame.payload) == (Kind.BROADCAST, "sender", b"to the group")
    assert await drain(other) == []
    await sender.broadcast("*", b"everyone")
    for client in (g1, g2, other):
        assert (await drain(client)) == [("sender", None, b"everyone")]


async def test_a_publication_for_one_receiver_reaches_its_node_only(make_node: MakeNode) -> None:
    """BUS/RT PUBLISH_FOR: the receiver's subscriptions (its secondaries' too) on the node holding its name."""
    a, b, c = await make_node("a"), await make_node("b"), await make_node("c")
    for node in (a, b, c):
        await wait_for(knows_nodes(node, 2), what="three nodes")
    svc, svc2, other, watcher = (await b.register("svc"), await b.register("svc%%2"), await b.register("other"),
                                 await c.register("watcher"))
    for client in (svc, svc2, other, watcher):
        await client.subscribe("jobs/#")
    pub = await a.register("pub")
    await wait_for(sees(a, "svc", "svc%%2"), what="a sees svc")
    await pub.publish_for("jobs/1", "svc", b"for svc")
    await pub.publish_for("jobs/1", "nobody", b"for nobody")
    assert await drain(svc) == [("pub", "jobs/1", b"for svc")]
    assert await drain(svc2) == [("pub", "jobs/1", b"for svc")]
    assert await drain(other) == [] and await drain(watcher) == []
    assert b.snapshot().ops_in["publish_for"] == (1, len("jobs/1") + 1 + len("for svc") + len("svc") + 1)


async def test_access_control_judges_a_remote_publication_for_one_receiver(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    b.set_acl(Acl((Rule("allowed", publish=("jobs/#",)), Rule("*"))))
    svc = await b.register("svc")
    await svc.subscribe("#")
    allowed, denied = await a.register("allowed"), await a.register("denied")
    await wait_for(sees(a, "svc"), what="a sees svc")
    await denied.publish_for("jobs/1", "svc", b"denied")
    await allowed.publish_for("other/1", "svc", b"not this topic")
    await allowed.publish_for("jobs/1", "svc", b"allowed")
    assert await drain(svc) == [("allowed", "jobs/1", b"allowed")]
