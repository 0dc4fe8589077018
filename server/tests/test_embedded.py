"""In-process clients: the same operations as socket clients, through the same routing, without a socket."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import msgpack
import pytest

from elbus_server import Broker, ClientKind
from elbus_spec import (
    Broadcast,
    Busy,
    DataError,
    LocalProtocolError,
    Message,
    NotDelivered,
    NotRegistered,
    Publication,
    QoS,
    codec,
)


async def test_embedded_and_socket_clients_talk_both_ways(running: Any, connect: Any) -> None:
    me = await running.broker.register("emb")
    assert me.kind is ClientKind.INTERNAL
    sock = await connect(running.path, "sock")
    await me.send("sock", b"hello socket")
    assert await sock.frame() == codec.encode_message_delivery(0, "emb", b"hello socket")
    await me.send("sock", b"now", qos=QoS.REALTIME)
    assert await sock.frame() == codec.encode_message_delivery(1, "emb", b"now")
    op_id, data = sock.conn.send_message("emb", b"hello embedded", QoS.REALTIME_PROCESSED)
    sock.write(data)
    assert await sock.frame() == codec.encode_ack(op_id, 1)
    assert await asyncio.wait_for(me.receive(), 2) == Message("sock", None, b"hello embedded", True)


async def test_publish_broadcast_subscribe(running: Any, connect: Any) -> None:
    a = await running.broker.register("e.a")
    b = await running.broker.register("e.b")
    sock = await connect(running.path, "e.sock")
    await a.subscribe("x/+", "x/#")
    await a.publish("x/1", b"p")
    assert await a.receive() == Publication("e.a", "x/1", b"p", False)  # own publication, once
    await b.broadcast("e.*", b"all")
    assert await a.receive() == Broadcast("e.b", None, b"all", False)
    assert await b.receive() == Broadcast("e.b", None, b"all", False)
    assert await sock.frame() == codec.encode_broadcast_delivery(0, "e.b", b"all")
    await a.unsubscribe("x/+", "x/#")
    sock.write(sock.conn.send_publish("x/1", b"q", QoS.NO)[1])
    await asyncio.sleep(0.1)
    assert a.queued == 0


async def test_iteration_and_callbacks(running: Any) -> None:
    rx = await running.broker.register("rx")
    tx = await running.broker.register("tx")
    for i in range(3):
        await tx.send("rx", b"%d" % i)
    got = []
    async for frame in rx:
        got.append(frame.payload)
        if len(got) == 3:
            break
    assert got == [b"0", b"1", b"2"]

    seen: list[bytes] = []
    rx.on_frame = lambda frame: seen.append(frame.payload)
    await tx.send("rx", b"sync")
    assert seen == []  # handed over on the next loop turn, after the sender's call returned
    await asyncio.sleep(0)
    assert seen == [b"sync"]

    done = asyncio.Event()

    async def handler(frame: Any) -> None:
        seen.append(frame.payload)
        done.set()

    rx.on_frame = handler
    await tx.send("rx", b"async")
    await asyncio.wait_for(done.wait(), 2)
    assert seen[-1] == b"async"


async def test_errors_and_secondaries(running: Any, connect: Any) -> None:
    broker = running.broker
    p = await broker.register("prim")
    with pytest.raises(Busy):
        await broker.register("prim")
    with pytest.raises(NotRegistered):
        await broker.register("nobody%%1")
    with pytest.raises(DataError):
        await broker.register("")
    s = await broker.register("prim%%1")
    sock = await connect(running.path, "prim%%2")  # a socket secondary of an embedded primary
    with pytest.raises(NotRegistered):
        await p.send("no.such.client", b"x")
    await p.send("no.such.client", b"x", qos=QoS.NO)  # unacknowledged: no error
    await s.send("prim", b"from secondary")
    frame = await p.receive()
    assert (frame.sender, frame.primary_sender) == ("prim%%1", "prim")
    await p.close()
    assert "prim%%1" not in broker.clients and s.closed
    assert await sock.closed()
    with pytest.raises(LocalProtocolError):
        await p.send("x", b"")
    with pytest.raises(LocalProtocolError):
        await s.receive()


async def test_full_queue_is_not_delivered(make_broker: Any) -> None:
    running = await make_broker(queue_size=2)
    rx = await running.broker.register("full")
    tx = await running.broker.register("tx")
    await tx.send("full", b"1")
    await tx.send("full", b"2")
    with pytest.raises(NotDelivered):
        await tx.send("full", b"3")
    assert rx.dropped == 1 and "full" in running.broker.clients  # never disconnected for being slow
    assert [(await rx.receive()).payload for _ in range(2)] == [b"1", b"2"]


async def test_counters_and_client_list(running: Any, connect: Any) -> None:
    broker = running.broker
    rx = await broker.register("count.rx")
    sock = await connect(running.path, "count.tx")
    sock.write(sock.conn.send_message("count.rx", b"12345", QoS.PROCESSED)[1])
    await sock.frame()
    tx = broker.clients["count.tx"]
    body = len(b"count.rx\x0012345")
    assert (tx.r_frames, tx.r_bytes, tx.w_frames, tx.w_bytes) == (1, body, 1, 6)
    assert (broker.clients["count.rx"].w_frames, broker.clients["count.rx"].w_bytes) == (1, body) and rx.queued == 1
    core = await broker.register("caller")
    listed = {}

    def on_reply(frame: Any) -> None:
        listed.update(msgpack.unpackb(frame.payload[5:]))

    core.on_frame = on_reply
    await core.send(".broker", b"\x01\x01\x00\x00\x00client.list\x00")
    for _ in range(50):
        if listed:
            break
        await asyncio.sleep(0.01)
    entries = {c["name"]: c for c in listed["clients"]}
    assert entries["count.tx"]["r_bytes"] == body and entries["count.tx"]["kind"] == "local_ipc"
    assert entries["count.rx"]["queue"] == 1 and entries["count.rx"]["kind"] == "internal"


async def test_close_announces_shutdown_and_removes_the_socket(sock_dir: Any, connect: Any) -> None:
    broker = Broker(timeout=1.0)
    path = await broker.serve_unix(sock_dir / "closing.sock", mode=0o600)
    assert os.stat(path).st_mode & 0o777 == 0o600
    sock = await connect(path, "listener")
    emb = await broker.register("emb")
    await broker.close()
    frame = await sock.frame()
    prefix = b".broker\x00.broker/warn\x00"
    assert frame[0] == 0x01 and frame[6:].startswith(prefix)
    payload = msgpack.unpackb(frame[6 + len(prefix) :])
    assert list(payload) == ["s", "t"] and payload["s"] == "shutdown"
    assert await sock.closed()
    assert not os.path.exists(path)
    assert emb.closed
    with pytest.raises(RuntimeError):
        await broker.register("late")


async def test_async_with_and_a_replaced_socket_file(sock_dir: Any) -> None:
    path = sock_dir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file left behind by a crashed broker
    stale.close()
    async with Broker() as second:
        await second.serve_unix(path)  # a stale socket file is replaced
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert await reader.readexactly(3) == b"\xeb\x01\x00"
        writer.close()


async def test_callback_backlog_is_bounded(make_broker: Any) -> None:
    running = await make_broker(queue_size=3)
    rx = await running.broker.register("cb")
    seen: list[bytes] = []
    rx.on_frame = lambda frame: seen.append(frame.payload)
    tx = await running.broker.register("cb.tx")
    for i in range(3):
        await tx.send("cb", b"%d" % i)
    with pytest.raises(NotDelivered):  # three callbacks already waiting for the next loop turn
        await tx.send("cb", b"3")
    assert rx.queued == 3
    await asyncio.sleep(0)
    assert seen == [b"0", b"1", b"2"] and rx.queued == 0
    await tx.send("cb", b"4")


async def test_nul_in_names_and_topics_is_refused(running: Any, open_raw: Any) -> None:
    with pytest.raises(DataError):
        await running.broker.register("a\0b")
    c = await open_raw(running.path)
    result = await c.handshake("x\0y")
    assert result is not None and result.code == 0x72
    me = await running.broker.register("nul.test")
    with pytest.raises(LocalProtocolError):
        await me.publish("a\0b", b"")
