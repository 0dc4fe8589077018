"""The client against the original broker's recorded bytes: what it sends must equal what was recorded.

Each test drives elbus_aio clients through the client side of a trace while
`TraceBroker` plays the recorded broker side and compares every byte the
clients write (op ids aside). The client-side results (acks, errors,
delivered frames) are checked against what the original broker answered.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from trace_broker import TraceBroker, load_trace

import elbus_aio
from elbus_aio import Broadcast, Message, Publication, QoS
from elbus_spec import Busy, DataError, NotRegistered


async def test_handshake_ok(sock_path: str) -> None:
    async with TraceBroker(load_trace("handshake-ok"), sock_path) as tb:
        client = await elbus_aio.connect(sock_path, "t.hs.a")
        assert client.is_connected and client.name == "t.hs.a"
        await client.close()
        assert client.closed and not client.is_connected
        await tb.finished()


async def test_registration_refusals_raise_the_code(sock_path: str) -> None:
    async with TraceBroker(load_trace("register-errors"), sock_path) as tb:
        with pytest.raises(DataError):
            await elbus_aio.connect(sock_path, ".hidden")
        with pytest.raises(DataError):
            await elbus_aio.connect(sock_path, "")
        holder = await elbus_aio.connect(sock_path, "t.dup")
        with pytest.raises(Busy) as busy:
            await elbus_aio.connect(sock_path, "t.dup")
        assert busy.value.code == 0x76
        with pytest.raises(NotRegistered):
            await elbus_aio.connect_secondary(sock_path, "t.nop", 1)
        await holder.close()
        await tb.finished()


async def test_message_qos(sock_path: str) -> None:
    async with TraceBroker(load_trace("message-qos"), sock_path) as tb:
        a = await elbus_aio.connect(sock_path, "t.m.a", ping_interval=0.05)
        b = await elbus_aio.connect(sock_path, "t.m.b")
        for qos in QoS:
            await a.send("t.m.b", f"hello qos {qos.value}", qos=qos)
            frame = await b.receive(timeout=2)
            assert frame == Message("t.m.a", None, f"hello qos {qos.value}".encode(), qos.realtime)
        with pytest.raises(NotRegistered):
            await a.send("t.m.nobody", b"x")
        await a.send("t.m.nobody", b"x", qos=QoS.NO)  # dropped without a word
        await a.send("t.m.b", b"")
        assert (await b.receive(timeout=2)).payload == b""
        with pytest.raises(NotRegistered):
            await a.send("", b"p")
        await a.send("t.m.b", b"split")
        # pipelined: one QoS-0 frame and two acknowledged ones, without waiting in between
        futures = [a.send_nowait("t.m.b", b"one", qos=QoS.NO), a.send_nowait("t.m.b", b"two"), a.send_nowait("t.m.b", b"three")]
        assert futures[0].done()
        await asyncio.gather(*futures)
        assert [(await b.receive(timeout=2)).payload for _ in range(4)] == [b"split", b"one", b"two", b"three"]
        await b.send("t.m.a", b"max op id")
        frame = await a.receive(timeout=2)
        assert (frame.sender, frame.payload, frame.kind) == ("t.m.b", b"max op id", Message.kind)
        await a.close()
        await b.close()
        await tb.finished()


async def test_broadcast(sock_path: str) -> None:
    async with TraceBroker(load_trace("broadcast"), sock_path) as tb:
        names = ["t.b.g1.x", "t.b.g1.y.z", "t.b.g2.x", "t.b.g1"]
        receivers = [await elbus_aio.connect(sock_path, name) for name in names]
        sender = await elbus_aio.connect(sock_path, "t.b.sender")
        masks = ["t.b.g1.*", "t.b.?.x", "t.b.g1", "t.b.*", "t.b.g1.*.ignored", "t.b.nomatch.*", "t.?.?.?"]
        for i, mask in enumerate(masks):
            await sender.broadcast(mask, f"bc{i}")
        expected = {"t.b.g1.x": [0, 1, 3, 4, 6], "t.b.g1.y.z": [0, 3, 4], "t.b.g2.x": [1, 3, 6], "t.b.g1": [2, 3]}
        for name, client in zip(names, receivers, strict=True):
            got = []
            while client.queued:
                frame = await client.receive()
                assert isinstance(frame, Broadcast) and frame.sender == "t.b.sender" and frame.topic is None
                got.append(frame.payload)
            assert got == [f"bc{i}".encode() for i in expected[name]], name
        assert (await sender.receive(timeout=2)).payload == b"bc3"  # "t.b.*" reaches the sender itself
        for client in [*receivers, sender]:
            await client.close()
        await tb.finished()


async def test_pubsub(sock_path: str) -> None:
    async with TraceBroker(load_trace("pubsub"), sock_path) as tb:
        a, b, c, p = [await elbus_aio.connect(sock_path, f"t.p.{n}") for n in ("a", "b", "c", "pub")]
        await a.subscribe("tp/+/t/#")
        await b.subscribe("tp/#", "tp/x/t/e")
        await c.subscribe("tp/+/b", "#", qos=QoS.NO)
        for i, topic in enumerate(["tp/x/t/e", "tp/x/t/s/e", "tp/x/t", "tp", "tp//b", "other"]):
            await p.publish(topic, f"pub{i}")
        await a.unsubscribe("tp/+/t/#")
        await p.publish("tp/y/t/e", "after-unsub")
        await a.unsubscribe("never/subscribed")
        got = {}
        for name, client in (("a", a), ("b", b), ("c", c)):
            got[name] = []
            while client.queued:
                frame = await client.receive()
                assert isinstance(frame, Publication) and frame.sender == "t.p.pub"
                got[name].append((frame.topic, frame.payload.decode()))
        assert got["a"] == [("tp/x/t/e", "pub0"), ("tp/x/t/s/e", "pub1")]
        assert [t for t, _ in got["b"]] == ["tp/x/t/e", "tp/x/t/s/e", "tp/x/t", "tp//b", "tp/y/t/e"]
        assert [t for t, _ in got["c"]] == ["tp/x/t/e", "tp/x/t/s/e", "tp/x/t", "tp", "tp//b", "other", "tp/y/t/e"]
        for client in (a, b, c, p):
            await client.close()
        await tb.finished()


async def test_announcements_and_secondary_helper(sock_path: str) -> None:
    async with TraceBroker(load_trace("announcements"), sock_path) as tb:
        w = await elbus_aio.connect(sock_path, "t.an.w")
        await w.subscribe(".broker/info")
        x = await elbus_aio.connect(sock_path, "t.an.x")
        reg = await w.receive(timeout=2)
        assert reg.sender == ".broker" and reg.topic == ".broker/info"
        assert msgpack.unpackb(reg.payload)["s"] == "reg"
        y = await x.secondary(1).connect()
        assert y.name == "t.an.x%%1"
        await y.close()
        await x.close()
        unreg = await w.receive(timeout=2)
        assert msgpack.unpackb(unreg.payload) | {"t": 0} == {"s": "unreg", "d": "t.an.x", "t": 0}
        await w.close()
        await tb.finished()


async def test_secondaries(sock_path: str) -> None:
    async with TraceBroker(load_trace("secondaries"), sock_path, rpc_ids=True) as tb:
        p = await elbus_aio.connect(sock_path, "t.s.p")
        s1 = await elbus_aio.connect_secondary(sock_path, "t.s.p", 1)
        s2 = await p.secondary("x").connect()
        q = await elbus_aio.connect(sock_path, "t.s.q")
        await q.send("t.s.p%%1", b"to-secondary")
        assert (await s1.receive(timeout=2)).payload == b"to-secondary"
        await s1.send("t.s.q", b"from-secondary")
        frame = await q.receive(timeout=2)
        assert (frame.sender, frame.primary_sender) == ("t.s.p%%1", "t.s.p")
        await q.send(".broker", b"\x01\x01\x00\x00\x00client.list\x00")
        reply = await q.receive(timeout=2)
        assert reply.sender == ".broker" and reply.payload[0] == 0x11
        await p.close()
        await asyncio.wait_for(s1.wait_closed(), 2)  # dropped with their primary
        await asyncio.wait_for(s2.wait_closed(), 2)
        with pytest.raises(elbus_aio.ConnectionClosed):
            await s1.send("t.s.q", b"late")
        with pytest.raises(NotRegistered):
            await q.send("t.s.p%%1", b"gone")
        await q.close()
        await tb.finished()


async def test_well_behaved_client_of_protocol_errors(sock_path: str) -> None:
    async with TraceBroker(load_trace("protocol-errors"), sock_path, conns={"ok", "e"}) as tb:
        ok = await elbus_aio.connect(sock_path, "t.e.ok")
        e = await elbus_aio.connect(sock_path, "t.e.e")
        await e.subscribe("")  # the empty topic: an empty body, as recorded
        await e.publish("", b"to-empty-topic")
        frame = await e.receive(timeout=2)
        assert (frame.topic, frame.payload) == ("", b"to-empty-topic")
        await ok.send("t.e.ok", b"still here")
        assert (await ok.receive(timeout=2)).payload == b"still here"
        await ok.close()
        await e.close()
        await tb.finished()


async def test_the_replay_notices_a_difference(sock_path: str) -> None:
    """The comparison is not vacuous: a client that sends other bytes than recorded is reported."""
    async with TraceBroker(load_trace("protocol-errors"), sock_path, conns={"ok", "e"}) as tb:
        ok = await elbus_aio.connect(sock_path, "t.e.ok")
        e = await elbus_aio.connect(sock_path, "t.e.e")
        await e.subscribe("other")
        with pytest.raises(AssertionError, match="recorded 010000004200000000"):
            await tb.finished(timeout=0.5)
        for client in (ok, e):
            await client.close()
