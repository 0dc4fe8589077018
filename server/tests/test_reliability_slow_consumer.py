"""Slow consumers hold nobody: a receiver that never reads is dropped when its queue is full, over real sockets.

The frame that did not fit is answered ``77`` and its sender goes on; the
other subscribers of the same topic see no pause; the broker's memory stays
within the bound per client. Figures are printed with ``pytest -s``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import elbus.client
from reliability_helpers import WireClient, report, rss_kib, start_elbusd, stop_process, wait_for

from elbus_spec import QoS, codec

PAYLOAD = b"p" * 1024


async def test_the_original_client_gets_77_from_a_receiver_that_never_reads_and_goes_on(
    make_broker: Any, connect: Any
) -> None:
    """The PyPI ``elbus`` client waits 3 s at most for an ack: against a broker that held it, it would fail."""
    running = await make_broker(timeout=5)
    stalled = await connect(running.path, "stalled")  # registered, never reads
    reader = await connect(running.path, "reading")
    client = elbus.client.Client(running.path, "orig.sender")
    await asyncio.to_thread(client.connect)
    try:
        def send(target: str, payload: bytes) -> int:
            started = time.monotonic()
            code = client.send(target, elbus.client.Frame(payload, qos=QoS.PROCESSED)).wait_completed(3)
            assert time.monotonic() - started < 1, "the sender was held"
            return int(code)

        codes: list[int] = []
        while not codes or codes[-1] == 1:  # 64 KiB frames: the default 2 MiB bound is crossed within ~40
            codes.append(await asyncio.to_thread(send, "stalled", b"x" * 65536))
            assert len(codes) < 200, "the never-reading client was never dropped"
        assert codes[-1] == 0x77 and set(codes[:-1]) == {1}
        assert "stalled" not in running.broker.clients and await stalled.closed()
        assert await asyncio.to_thread(send, "stalled", b"late") == 0x71
        assert await asyncio.to_thread(send, "reading", b"goes on") == 1  # the sender is still connected
        assert (await reader.frame()).endswith(b"\0goes on")
        report(f"original elbus client: 0x77 after {len(codes) - 1} frames of 64 KiB to a never-reading client")
    finally:
        await asyncio.to_thread(client.disconnect)


async def test_a_reading_subscriber_sees_no_pause_while_another_never_reads(make_broker: Any) -> None:
    running = await make_broker(timeout=5)
    where = running.path
    publisher = await WireClient.connect(where, "pub")
    reader = await WireClient.connect(where, "sub.reading")
    stalled = await WireClient.connect(where, "sub.stalled")
    stalled._task.cancel()  # type: ignore[union-attr]  # it stops reading from here on
    for sub in (reader, stalled):
        sub.write(codec.encode_subscribe_frame(1, QoS.PROCESSED, ["t/x"]))
    assert await reader.ack(1) == 1
    await wait_for(lambda: "t/x" in running.broker.subscriptions("sub.stalled"), 3, "the stalled subscription")
    arrivals: list[float] = []
    n, batch = 6000, 100  # 6 MB: three times the stalled subscriber's bound

    async def read() -> None:
        while len(arrivals) < n:
            await reader.next_frame(3)
            arrivals.append(time.monotonic())

    reading = asyncio.create_task(read())
    longest_ack_wait = 0.0
    op_id = 100
    for _ in range(n // batch):
        first = op_id
        publisher.write(b"".join(codec.encode_publish_frame(op_id + i, QoS.PROCESSED, "t/x", PAYLOAD)
                                 for i in range(batch)))
        op_id += batch
        started = time.monotonic()
        for i in range(batch):
            assert await publisher.ack(first + i) == 1
        longest_ack_wait = max(longest_ack_wait, time.monotonic() - started)
    await asyncio.wait_for(reading, 10)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 1 and longest_ack_wait < 1, (max(gaps), longest_ack_wait)
    assert "sub.stalled" not in running.broker.clients and "sub.reading" in running.broker.clients
    report(f"slow consumer: longest pause seen by a reading subscriber {max(gaps) * 1000:.1f} ms, "
           f"longest wait of the publisher for a batch of acks {longest_ack_wait * 1000:.1f} ms")
    for c in (publisher, reader, stalled):
        await c.close()


async def test_stalled_clients_cost_at_most_their_queue_bound(tmp_path: Path) -> None:
    """20 clients that never read, 1 MiB bound each, sent 64 KiB messages until each is dropped, then 20 MiB more:
    the broker grows by about the bounds, and nothing once they are gone."""
    sock = tmp_path / "b.sock"
    proc = start_elbusd(sock, "--queue-bytes", str(1024 * 1024))
    clients: list[WireClient] = []
    try:
        sender = await WireClient.connect(str(sock), "sender")
        for i in range(20):
            c = await WireClient.connect(str(sock), f"stalled.{i}")
            c._task.cancel()  # type: ignore[union-attr]  # it never reads
            clients.append(c)
        before = peak = rss_kib(proc.pid)
        payload = b"b" * 65536
        codes: dict[str, list[int]] = {c.name: [] for c in clients}
        op_id = 0

        async def one_round() -> None:
            nonlocal op_id
            for c in clients:
                op_id += 1
                sender.write(codec.encode_message_frame(op_id, QoS.PROCESSED, c.name, payload))
                codes[c.name].append(await sender.ack(op_id))

        while any(0x77 not in got for got in codes.values()):
            await one_round()
            peak = max(peak, rss_kib(proc.pid))
            assert op_id < 20 * 200, "a stalled client was never dropped"
        filled = (peak - before) / 1024
        for _ in range(16):  # 20 MiB more, to names no longer registered
            await one_round()
            peak = max(peak, rss_kib(proc.pid))
        after = (peak - before) / 1024
        assert all(got[got.index(0x77) + 1 :] == [0x71] * (len(got) - got.index(0x77) - 1) for got in codes.values())
        report(f"20 never-reading clients, --queue-bytes 1 MiB: broker RSS peak growth {filled:.1f} MiB until all "
               f"were dropped, {after:.1f} MiB after 20 MiB more")
        assert filled < 20 * 1.25 + 8, filled  # each bound plus one frame, and allocator slack
        assert after - filled < 4, (filled, after)
        await sender.close()
    finally:
        for c in clients:
            await c.close()
        stop_process(proc)
