"""Topics are bounded per client: what is over a bound is refused with 0x72, logged once, and costs nothing.

Over real sockets against ``elbusd`` (for its RSS) and an in-test broker.
Figures are printed with ``pytest -s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import WireClient, report, rss_kib, start_elbusd, stop_process, wait_for

from elbus_server import DEFAULT_MAX_SUBSCRIPTIONS
from elbus_spec import DataError, QoS, codec

DATA = 0x72


@contextlib.asynccontextmanager
async def elbusd_client(tmp_path: Path, name: str) -> AsyncIterator[tuple[subprocess.Popen[str], WireClient]]:
    """An ``elbusd`` listening at ``tmp_path/b.sock``, and a client registered there as ``name``."""
    proc = start_elbusd(tmp_path / "b.sock")
    try:
        client = await WireClient.connect(str(tmp_path / "b.sock"), name)
        try:
            yield proc, client
        finally:
            await client.close()
    finally:
        stop_process(proc)


async def acks(client: WireClient, op_id: int, n: int, timeout: float = 10) -> list[int]:
    return [await client.ack(op_id, timeout) for _ in range(n)]


async def test_deep_topics_are_refused_and_cost_nothing(tmp_path: Path) -> None:
    """11 SUBSCRIBE frames of one 200 KB, 100,000-level topic each: the original crashes, ours refuses them."""
    async with elbusd_client(tmp_path, "deep") as (proc, client):
        deep = "/".join(["a"] * 100_000)
        before = rss_kib(proc.pid)
        for op_id in range(1, 12):
            client.write(codec.encode_subscribe_frame(op_id, QoS.PROCESSED, [deep + str(op_id)]))
            assert await acks(client, op_id, 2) == [DATA, 1]
        client.write(codec.encode_publish_frame(20, QoS.PROCESSED, deep, b"x"))
        assert await client.ack(20) == DATA
        grown = (rss_kib(proc.pid) - before) / 1024
        report(f"11 SUBSCRIBE frames of 200 KB deep topics (2.2 MB sent): RSS grew {grown:.1f} MiB")
        assert grown < 8, grown
        other = await WireClient.connect(str(tmp_path / "b.sock"), "other")
        client.write(codec.encode_message_frame(21, QoS.PROCESSED, "other", b"still here"))
        assert await client.ack(21) == 1 and (await other.next_frame()).payload == b"still here"
        await other.close()


async def test_a_million_subscriptions_are_capped_per_client(tmp_path: Path) -> None:
    async with elbusd_client(tmp_path, "many") as (proc, client):
        before = rss_kib(proc.pid)
        per_frame, held = 1000, 1  # .broker/warn is held from the start
        for op_id in range(1, 1001):  # 1,000,000 distinct topics
            client.write(codec.encode_subscribe_frame(op_id, QoS.PROCESSED, [f"t/{op_id}/{i}" for i in range(per_frame)]))
            fit = max(0, min(per_frame, DEFAULT_MAX_SUBSCRIPTIONS - held))
            assert await acks(client, op_id, per_frame - fit + 1) == [DATA] * (per_frame - fit) + [1]
            held += fit
        grown = (rss_kib(proc.pid) - before) / 1024
        report(f"1,000,000 topics subscribed by one client: {held} held (the bound), RSS grew {grown:.1f} MiB")
        assert held == DEFAULT_MAX_SUBSCRIPTIONS
        assert grown < 40, grown
        client.write(codec.encode_subscribe_frame(5000, QoS.PROCESSED, ["t/1/1"]))  # one it holds: no new entry
        assert await client.ack(5000) == 1


@pytest.mark.parametrize(
    ("topic", "fits"),
    [
        ("x" * 1024, True),
        ("x" * 1025, False),
        ("é" * 512, True),  # 1024 bytes
        ("é" * 513, False),
        ("/".join(["l"] * 16), True),
        ("/".join(["l"] * 17), False),
    ],
    ids=["1024-bytes", "1025-bytes", "1024-bytes-utf8", "1026-bytes-utf8", "16-levels", "17-levels"],
)
async def test_topic_bounds_at_the_edge(make_broker: Any, topic: str, fits: bool) -> None:
    running = await make_broker()
    client = await WireClient.connect(running.path, "edge")
    client.write(codec.encode_subscribe_frame(1, QoS.PROCESSED, [topic, "ok/topic"]))
    assert await acks(client, 1, 1 if fits else 2) == ([1] if fits else [DATA, 1])
    assert ("ok/topic" in running.broker.subscriptions("edge")) and (topic in running.broker.subscriptions("edge")) == fits
    client.write(codec.encode_publish_frame(2, QoS.PROCESSED, topic, b"p"))
    if fits:  # subscribed: its own publication comes before the ack
        assert (await client.next_frame()).topic == topic
    assert await client.ack(2) == (1 if fits else DATA)
    await client.close()


async def test_refusals_are_logged_once_per_client(make_broker: Any, caplog: pytest.LogCaptureFixture) -> None:
    running = await make_broker()
    client = await WireClient.connect(running.path, "noisy")
    with caplog.at_level(logging.WARNING, logger="elbus_server"):
        for op_id in range(1, 51):
            client.write(codec.encode_publish_frame(op_id, QoS.PROCESSED, "x" * 2000, b""))
            assert await client.ack(op_id) == DATA
    assert len([r for r in caplog.records if "noisy" in r.getMessage()]) == 1
    await client.close()


async def test_in_process_clients_are_bounded_too(make_broker: Any) -> None:
    running = await make_broker(max_subscriptions=3)
    me = await running.broker.register("me")
    await me.subscribe("a", "b")  # with .broker/warn: 3
    with pytest.raises(DataError):
        await me.subscribe("c")
    with pytest.raises(DataError):
        await me.publish("/".join(["l"] * 40))
    await me.subscribe("a")  # held already
    assert running.broker.subscriptions("me") == {".broker/warn", "a", "b"}
    await asyncio.sleep(0)


async def test_the_costliest_subscriptions_a_client_may_hold(tmp_path: Path) -> None:
    """The bound's worst case: every pattern as deep as allowed and sharing no level with another."""
    async with elbusd_client(tmp_path, "deep.many") as (proc, client):
        before = rss_kib(proc.pid)
        for op_id in range(1, DEFAULT_MAX_SUBSCRIPTIONS // 64 + 1):
            topics = ["/".join(f"{op_id}.{i}.{level}" for level in range(16)) for i in range(64)]
            client.write(codec.encode_subscribe_frame(op_id, QoS.PROCESSED, topics))
            assert (await acks(client, op_id, 2 if op_id == DEFAULT_MAX_SUBSCRIPTIONS // 64 else 1))[-1] == 1
        grown = (rss_kib(proc.pid) - before) / 1024
        report(f"{DEFAULT_MAX_SUBSCRIPTIONS - 1} patterns of 16 distinct levels held by one client: "
               f"RSS grew {grown:.1f} MiB")
        assert grown < 32, grown


async def test_names_are_bounded_in_depth_like_topics(make_broker: Any) -> None:
    """A name is a path of '.'-separated levels in the broadcast tree: 64 KiB of levels would cost ~23 MB."""
    running = await make_broker()
    deepest = ".".join(["n"] * 32000)
    for name, fits in (("n." * 15 + "n", True), ("n." * 16 + "n", False), (deepest, False), ("n" * 65000, True)):
        client = await WireClient.connect(running.path, name)
        assert (type(client.result).__name__, getattr(client.result, "code", 1)) == (
            ("Registered", 1) if fits else ("Refused", DATA)), name
        await client.close()
    await wait_for(lambda: set(running.broker.clients) == {".broker"}, 3, "the clients to be gone")
