"""A full in-process client (``.broker`` among them) refuses what does not fit, at once, and holds nobody.

Raw socket senders write bursts in one go; the acks they get back, and
when, show that nothing waited for the in-process receiver.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from elbus_spec import QoS, encode_request, parse_rpc

BROKER = b".broker\x00"


def burst(sock: Any, target: str, n: int, qos: int = QoS.PROCESSED) -> None:
    sock.write(b"".join(sock.conn.send_message(target, b"%d" % i, qos)[1] for i in range(n)))


async def test_frames_past_a_full_queue_are_refused_with_77_at_once(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=4, timeout=5)
    rx = await running.broker.register("full.rx")
    sock = await connect(running.path, "full.tx")
    started = time.monotonic()
    burst(sock, "full.rx", 10)
    assert [(await sock.frame())[5] for _ in range(10)] == [1] * 4 + [0x77] * 6
    assert time.monotonic() - started < 1  # nobody waited for the receiver
    assert rx.dropped == 6 and "full.rx" in running.broker.clients  # never disconnected for being slow
    assert [(await rx.receive()).payload for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    sock.write(sock.conn.send_message("full.rx", b"again", QoS.PROCESSED)[1])
    assert (await sock.frame())[5] == 1
    assert (await rx.receive()).payload == b"again"


async def test_a_closed_receiver_is_not_registered(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=2, timeout=5)
    rx = await running.broker.register("gone.rx")
    sock = await connect(running.path, "gone.tx")
    await rx.close()
    burst(sock, "gone.rx", 2)
    assert [(await sock.frame(1))[5] for _ in range(2)] == [0x71, 0x71]


async def test_the_core_service_refuses_calls_past_its_queue_and_goes_on(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=8, timeout=5)
    sock = await connect(running.path, "flood")
    sock.write(b"".join(sock.conn.send_message(".broker", encode_request(i, "benchmark.test", b"%d" % i),
                                               QoS.PROCESSED)[1] for i in range(1, 21)))
    frames = [await sock.frame() for _ in range(20 + 8)]  # 20 acks and the 8 replies, in any interleaving
    acks = [f[5] for f in frames if f[0] == 0xFE]
    assert acks == [1] * 8 + [0x77] * 12
    replies = [parse_rpc(f[6 + len(BROKER) :]) for f in frames if f[0] != 0xFE]
    assert [r.call_id for r in replies] == list(range(1, 9))
    sock.write(sock.conn.send_message(".broker", encode_request(99, "test", b""), QoS.PROCESSED)[1])
    assert (await sock.frame())[5] == 1 and parse_rpc((await sock.frame())[6 + len(BROKER) :]).call_id == 99


async def test_publications_past_a_full_queue_are_dropped_and_the_publisher_goes_on(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=2, timeout=5)
    rx = await running.broker.register("pub.rx")
    await rx.subscribe("full/#")
    sock = await connect(running.path, "pub.tx")
    sock.write(b"".join(sock.conn.send_publish("full/x", b"%d" % i, QoS.PROCESSED)[1] for i in range(4)))
    assert [(await sock.frame(1))[5] for _ in range(4)] == [1, 1, 1, 1]  # a publication's ack is not its delivery
    got = [(await asyncio.wait_for(rx.receive(), 1)).payload for _ in range(2)]
    assert got == [b"0", b"1"] and rx.dropped == 2
