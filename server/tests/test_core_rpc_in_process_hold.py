"""A full in-process client (``.broker`` among them) holds the socket client sending to it, at most for the timeout.

Raw socket senders write bursts in one go; the acks they get back, and
when, show whether they were held, released by room or by the timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from elbus_spec import QoS, encode_request, parse_rpc

BROKER = b".broker\x00"


def burst(sock: Any, target: str, n: int, qos: int = QoS.PROCESSED) -> None:
    sock.write(b"".join(sock.conn.send_message(target, b"%d" % i, qos)[1] for i in range(n)))


async def test_the_frame_filling_the_queue_holds_its_sender_until_room_is_made(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=4, timeout=5)
    rx = await running.broker.register("hold.rx")
    sock = await connect(running.path, "hold.tx")
    burst(sock, "hold.rx", 10)
    assert [(await sock.frame())[5] for _ in range(4)] == [1, 1, 1, 1]
    await sock.nothing(0.2)  # held: the rest waits unread, neither delivered nor refused
    assert [(await rx.receive()).payload for _ in range(2)] == [b"0", b"1"]  # down to half: released
    assert [(await sock.frame())[5] for _ in range(2)] == [1, 1]  # two more fill it again
    await sock.nothing(0.1)
    got = [(await rx.receive()).payload for _ in range(10 - 2)]
    assert [(await sock.frame())[5] for _ in range(4)] == [1, 1, 1, 1]
    assert got == [b"%d" % i for i in range(2, 10)] and rx.dropped == 0


async def test_a_receiver_full_past_the_timeout_releases_its_sender_with_77(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=2, timeout=0.5)
    rx = await running.broker.register("stuck.rx")
    sock = await connect(running.path, "stuck.tx")
    started = time.monotonic()
    burst(sock, "stuck.rx", 5)
    assert [(await sock.frame())[5] for _ in range(2)] == [1, 1]
    assert [(await sock.frame())[5] for _ in range(3)] == [0x77, 0x77, 0x77]
    assert time.monotonic() - started >= 0.4  # held for the timeout first
    assert rx.dropped == 3 and "stuck.rx" in running.broker.clients  # never disconnected for being slow
    sock.write(sock.conn.send_message("stuck.rx", b"late", QoS.PROCESSED)[1])
    assert (await sock.frame())[5] == 0x77  # still full: refused at once, not held again
    assert [(await rx.receive()).payload for _ in range(2)] == [b"0", b"1"]
    sock.write(sock.conn.send_message("stuck.rx", b"again", QoS.PROCESSED)[1])
    assert (await sock.frame())[5] == 1


async def test_a_closing_receiver_releases_its_sender_at_once(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=2, timeout=5)
    rx = await running.broker.register("gone.rx")
    sock = await connect(running.path, "gone.tx")
    burst(sock, "gone.rx", 4)
    assert [(await sock.frame())[5] for _ in range(2)] == [1, 1]
    await sock.nothing(0.1)
    await rx.close()
    assert [(await sock.frame(1))[5] for _ in range(2)] == [0x71, 0x71]  # not the 5 s timeout


async def test_the_core_service_holds_a_flood_of_calls_instead_of_losing_them(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=8, timeout=5)
    sock = await connect(running.path, "flood")
    n = 300
    sock.write(b"".join(sock.conn.send_message(".broker", encode_request(i, "benchmark.test", b"%d" % i), QoS.NO)[1]
                        for i in range(1, n + 1)))
    replies = [parse_rpc((await sock.frame())[6 + len(BROKER) :]) for _ in range(n)]
    assert [(r.call_id, r.result) for r in replies] == [(i, b"%d" % i) for i in range(1, n + 1)]
    assert running.broker.clients[".broker"].dropped == 0  # type: ignore[attr-defined]


async def test_publications_hold_the_publisher_too(make_broker: Any, connect: Any) -> None:
    running = await make_broker(queue_size=2, timeout=5)
    rx = await running.broker.register("pub.rx")
    await rx.subscribe("hold/#")
    sock = await connect(running.path, "pub.tx")
    sock.write(b"".join(sock.conn.send_publish("hold/x", b"%d" % i, QoS.PROCESSED)[1] for i in range(4)))
    assert [(await sock.frame())[5] for _ in range(2)] == [1, 1]
    await sock.nothing(0.1)
    got = [(await asyncio.wait_for(rx.receive(), 1)).payload for _ in range(4)]
    assert got == [b"0", b"1", b"2", b"3"] and rx.dropped == 0
