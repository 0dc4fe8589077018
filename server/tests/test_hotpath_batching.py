"""MESSAGE frames routed in batches per received chunk: same bytes, same order, same counters as one by one."""

from __future__ import annotations

import asyncio
from typing import Any

from elbus_spec import Code, QoS, codec


async def test_one_chunk_to_several_receivers_keeps_order_acks_and_counters(running: Any, connect: Any) -> None:
    rx1 = await connect(running.path, "rx1")
    rx2 = await connect(running.tcp, "rx2")
    tx = await connect(running.path, "tx")
    broker = running.broker
    r0, w0 = broker.r_frames, broker.w_frames
    sends = [(f"rx{1 + i % 2}" if i % 5 else "nobody", bytes([i % 256]) * (i % 70)) for i in range(300)]
    chunk = b""
    op_ids = []
    for target, payload in sends:
        op_id, data = tx.conn.send_message(target, payload, QoS.PROCESSED)
        op_ids.append(op_id)
        chunk += data
    tx.write(chunk)  # one write: the broker parses many frames per read
    expected = {"rx1": [], "rx2": []}  # type: dict[str, list[bytes]]
    for target, payload in sends:
        if target != "nobody":
            expected[target].append(codec.encode_message_delivery(0, "tx", payload))
    assert await rx1.frames(len(expected["rx1"])) == expected["rx1"]
    assert await rx2.frames(len(expected["rx2"])) == expected["rx2"]
    acks = await tx.frames(300)
    codes = [Code.NOT_REGISTERED if target == "nobody" else Code.OK for target, _ in sends]
    assert acks == [codec.encode_ack(op_id, code) for op_id, code in zip(op_ids, codes, strict=True)]
    await rx1.nothing()
    delivered = len(expected["rx1"]) + len(expected["rx2"])
    assert broker.r_frames - r0 == 300
    assert broker.w_frames - w0 == delivered + 300
    peer = broker.clients["tx"]
    assert peer.r_frames == 300 and peer.w_frames == 300 and peer.w_bytes == 6 * 300
    assert peer.r_bytes == sum(len(t) + 1 + len(p) for t, p in sends)
    rx = broker.clients["rx1"]
    assert rx.w_frames == len(expected["rx1"])
    assert rx.w_bytes == sum(len("rx1") + 1 + len(p) for t, p in sends if t == "rx1")


async def test_messages_and_publications_in_one_chunk_arrive_in_order(running: Any, connect: Any) -> None:
    rx = await connect(running.path, "rx")
    rx.write(rx.conn.send_subscribe(["t/#"], QoS.PROCESSED)[1])
    await rx.frame()
    tx = await connect(running.path, "tx")
    tx.write(
        tx.conn.send_message("rx", b"1", QoS.NO)[1]
        + tx.conn.send_publish("t/x", b"2", QoS.NO)[1]
        + tx.conn.send_message("rx", b"3", QoS.NO)[1]
    )
    assert await rx.frames(3) == [
        codec.encode_message_delivery(0, "tx", b"1"),
        codec.encode_publication_delivery(0, "tx", "t/x", b"2"),
        codec.encode_message_delivery(0, "tx", b"3"),
    ]


async def test_a_client_sending_to_itself_gets_the_delivery_before_the_ack(running: Any, connect: Any) -> None:
    me = await connect(running.path, "me")
    op_id, data = me.conn.send_message("me", b"loop", QoS.PROCESSED)
    me.write(data)
    assert await me.frames(2) == [codec.encode_message_delivery(0, "me", b"loop"), codec.encode_ack(op_id, Code.OK)]


async def test_invalid_utf8_target_drops_only_its_sender_after_the_frames_before_it(running: Any, connect: Any) -> None:
    rx = await connect(running.path, "rx")
    bad = await connect(running.path, "bad")
    good = bad.conn.send_message("rx", b"before", QoS.NO)[1]
    bad.write(good + codec.CLIENT_HEADER.pack(9, 0x12, 4) + b"\xff\0ab" + good)
    assert await rx.frame() == codec.encode_message_delivery(0, "bad", b"before")
    assert await bad.closed()
    await rx.nothing()
    other = await connect(running.path, "other")
    other.write(other.conn.send_message("rx", b"still here", QoS.NO)[1])
    assert await rx.frame() == codec.encode_message_delivery(0, "other", b"still here")


async def test_realtime_in_a_batch_flushes_without_waiting_for_the_ttl(make_broker: Any, connect: Any) -> None:
    running = await make_broker(buf_ttl=5.0)
    rx = await connect(running.path, "rx")
    tx = await connect(running.path, "tx")
    tx.write(tx.conn.send_message("rx", b"a", QoS.NO)[1] + tx.conn.send_message("rx", b"b", QoS.REALTIME)[1])
    assert await rx.frames(2, timeout=1) == [
        codec.encode_message_delivery(0, "tx", b"a"),
        codec.encode_message_delivery(1, "tx", b"b"),
    ]


async def test_many_payload_sizes_and_a_renamed_sender_encode_correctly(running: Any, connect: Any) -> None:
    rx = await connect(running.path, "rx")
    tx = await connect(running.path, "tx")
    sizes = list(range(150)) * 2  # more distinct body lengths than the per-sender header cache keeps
    tx.write(b"".join(tx.conn.send_message("rx", b"p" * n, QoS.REALTIME if n % 7 == 0 else QoS.NO)[1] for n in sizes))
    expected = [codec.encode_message_delivery(int(n % 7 == 0), "tx", b"p" * n) for n in sizes]
    assert await rx.frames(len(sizes)) == expected
    await tx.close()
    for _ in range(100):  # the name is free again once the broker saw the close
        if "tx" not in running.broker.clients:
            break
        await asyncio.sleep(0.01)
    again = await connect(running.path, "tx")
    again.write(again.conn.send_message("rx", b"p" * 5, QoS.NO)[1])
    assert await rx.frame() == codec.encode_message_delivery(0, "tx", b"p" * 5)


async def test_messages_to_an_in_process_client_keep_their_place(running: Any, connect: Any) -> None:
    local = await running.broker.register("local")
    rx = await connect(running.path, "rx")
    tx = await connect(running.path, "tx")
    ops = [tx.conn.send_message(t, p, QoS.PROCESSED) for t, p in [("rx", b"1"), ("local", b"2"), ("rx", b"3")]]
    tx.write(b"".join(data for _, data in ops))
    assert await rx.frames(2) == [codec.encode_message_delivery(0, "tx", b"1"), codec.encode_message_delivery(0, "tx", b"3")]
    assert await tx.frames(3) == [codec.encode_ack(op_id, Code.OK) for op_id, _ in ops]
    frame = await asyncio.wait_for(local.receive(), 3)
    assert (frame.sender, frame.payload) == ("tx", b"2")


async def test_publications_of_one_chunk_fan_out_in_order_with_acks_and_counters(running: Any, connect: Any) -> None:
    subscribers = [await connect(running.path, f"s{i}") for i in range(3)]
    for sub in subscribers:
        sub.write(sub.conn.send_subscribe(["news/#"], QoS.PROCESSED)[1])
        await sub.frame()
    tx = await connect(running.path, "tx")
    broker = running.broker
    r0, w0 = broker.r_frames, broker.w_frames
    sends = [(f"news/{i % 3}", b"n" * i) for i in range(50)] + [("other", b"nobody")]
    ops = [tx.conn.send_publish(topic, payload, QoS.PROCESSED) for topic, payload in sends]
    tx.write(b"".join(data for _, data in ops))
    expected = [codec.encode_publication_delivery(0, "tx", topic, payload) for topic, payload in sends[:50]]
    for sub in subscribers:
        assert await sub.frames(50) == expected
    assert await tx.frames(51) == [codec.encode_ack(op_id, Code.OK) for op_id, _ in ops]
    assert broker.r_frames - r0 == 51 and broker.w_frames - w0 == 3 * 50 + 51
    lengths = [len(topic) + 1 + len(payload) for topic, payload in sends]
    assert broker.clients["tx"].r_bytes == sum(lengths)
    assert broker.clients["s1"].w_bytes == sum(lengths[:50]) + 6  # and the ack of its subscription


async def test_a_publication_to_an_in_process_subscriber_keeps_its_place(running: Any, connect: Any) -> None:
    local = await running.broker.register("local")
    await local.subscribe("t")
    rx = await connect(running.path, "rx")
    rx.write(rx.conn.send_subscribe(["t"], QoS.PROCESSED)[1])
    await rx.frame()
    tx = await connect(running.path, "tx")
    tx.write(
        tx.conn.send_message("rx", b"1", QoS.NO)[1]
        + tx.conn.send_publish("t", b"2", QoS.NO)[1]  # one receiver in process: routed one by one
        + tx.conn.send_message("rx", b"3", QoS.NO)[1]
    )
    assert await rx.frames(3) == [
        codec.encode_message_delivery(0, "tx", b"1"),
        codec.encode_publication_delivery(0, "tx", "t", b"2"),
        codec.encode_message_delivery(0, "tx", b"3"),
    ]
    frame = await asyncio.wait_for(local.receive(), 3)
    assert (frame.sender, frame.topic, frame.payload) == ("tx", "t", b"2")


async def test_runs_of_publications_keep_order_through_subscription_changes_and_self_delivery(
    running: Any, connect: Any
) -> None:
    """A run of publications to one topic ends at anything else: here the publisher subscribes to
    its own topic mid-chunk, and from then on gets each publication before its ack."""
    rx = await connect(running.path, "rx")
    rx.write(rx.conn.send_subscribe(["tö/#"], QoS.PROCESSED)[1])
    await rx.frame()
    tx = await connect(running.path, "tx")
    first = [tx.conn.send_publish("tö/a", b"%d" % i, QoS.NO)[1] for i in range(3)]
    sub_op, subscribe = tx.conn.send_subscribe(["tö/a"], QoS.PROCESSED)
    then = [tx.conn.send_publish("tö/a", b"%d" % i, QoS.PROCESSED) for i in range(3, 5)]
    realtime = tx.conn.send_publish("tö/b", b"rt", QoS.REALTIME)[1]
    tx.write(b"".join(first) + subscribe + b"".join(data for _, data in then) + realtime)
    assert await rx.frames(6) == [codec.encode_publication_delivery(0, "tx", "tö/a", b"%d" % i) for i in range(5)] + [
        codec.encode_publication_delivery(1, "tx", "tö/b", b"rt")
    ]
    expected = [codec.encode_ack(sub_op, Code.OK)]
    for i, (op_id, _) in zip(range(3, 5), then, strict=True):
        expected += [codec.encode_publication_delivery(0, "tx", "tö/a", b"%d" % i), codec.encode_ack(op_id, Code.OK)]
    assert await tx.frames(5) == expected
    await tx.nothing()
    body = len("tö/a".encode()) + 1 + 1
    assert running.broker.clients["rx"].w_bytes == 6 + 5 * body + len("tö/b".encode()) + 1 + 2
