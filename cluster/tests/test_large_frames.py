"""Frames above the NATS server's max_payload cross in chunks (up to max_record, beyond it refused 0x72).

MESSAGEs and publications alike: a chunked publication is still delivered
exactly once, in its place among the sender's publications.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from nats_helpers import NatsServer, connected, interested, link, sees, wait_for

import elbus_aio
from elbus_cluster import NatsCluster
from elbus_cluster.chunks import Reassembly
from elbus_cluster.envelope import encode_chunks, split_chunk
from elbus_server import Broker
from elbus_spec import DataError

SIXTEEN_MIB = 16 * 1024 * 1024
FULL = SIXTEEN_MIB - len(b"y\0")  # the payload of a MESSAGE to "y" whose body is 16 MiB, the broker's default limit


async def send_across(server: NatsServer, sock_dir: Path, payload: bytes, **options: Any) -> tuple[bytes, NatsCluster]:
    """``payload`` from a socket client on node a to one on node b; what b received, and a's link."""
    async with Broker(cluster=link(server.url, "a", **options)) as a, Broker(cluster=link(server.url, "b")) as b:
        await wait_for(connected(a, b), what="connected")
        x = await elbus_aio.connect(await a.serve_unix(sock_dir / "a.sock"), "x", max_frame_length=32 << 20)
        y = await elbus_aio.connect(await b.serve_unix(sock_dir / "b.sock"), "y", max_frame_length=32 << 20)
        try:
            await wait_for(sees(a, "y"), what="a sees y")
            await x.send("y", payload)
            got = (await y.receive(timeout=10)).payload
            await x.send("y", b"after")  # the stream goes on behind it
            assert (await y.receive(timeout=2)).payload == b"after"
            assert isinstance(a.cluster, NatsCluster)
            return got, a.cluster
        finally:
            await x.close()
            await y.close()


async def test_sixteen_mib_across_nodes_in_chunks(nats_server: NatsServer, sock_dir: Path) -> None:
    payload = os.urandom(FULL)
    got, link_a = await asyncio.wait_for(send_across(nats_server, sock_dir, payload), 30)
    assert got == payload
    assert link_a.counters["chunked"] == 1 and link_a.info()["max_payload"] == 1 << 20


async def test_sixteen_mib_in_one_message_with_a_raised_max_payload(sock_dir: Path) -> None:
    server = NatsServer(config="max_payload: 33554432\n", tmp=sock_dir).start()
    payload = os.urandom(FULL)
    try:
        got, link_a = await asyncio.wait_for(send_across(server, sock_dir, payload), 30)
        assert got == payload and link_a.counters["chunked"] == 0
    finally:
        server.stop()


async def test_a_frame_over_max_record_is_refused_clearly(nats_server: NatsServer, sock_dir: Path) -> None:
    with pytest.raises(DataError):
        await send_across(nats_server, sock_dir, bytes(FULL), max_record=4 << 20)


async def test_a_sixteen_mib_publication_crosses_once_and_in_order(nats_server: NatsServer, sock_dir: Path) -> None:
    big = os.urandom(SIXTEEN_MIB - len(b"t\0"))
    async with Broker(cluster=link(nats_server.url, "a")) as a, \
            Broker(cluster=link(nats_server.url, "b"), queue_bytes=64 << 20) as b:  # y may hold all eleven
        await wait_for(connected(a, b), what="connected")
        x = await elbus_aio.connect(await a.serve_unix(sock_dir / "a.sock"), "x", max_frame_length=32 << 20)
        y = await elbus_aio.connect(await b.serve_unix(sock_dir / "b.sock"), "y", max_frame_length=32 << 20)
        try:
            await y.subscribe("t", "#", "+")  # three NATS subscriptions on b receive every chunk: copies interleave
            await wait_for(interested(a, "t"), what="a sees b's interest")
            sent = [b"before-%d" % i for i in range(5)] + [big] + [b"after-%d" % i for i in range(5)]
            for payload in sent:
                await x.publish("t", payload)
            got = [(await y.receive(timeout=10)).payload for _ in sent]
            assert [len(p) for p in got] == [len(p) for p in sent] and got == sent
            with pytest.raises(TimeoutError):  # exactly once: no copy follows
                await y.receive(timeout=0.5)
            assert isinstance(a.cluster, NatsCluster) and isinstance(b.cluster, NatsCluster)
            assert a.cluster.counters["chunked"] == 1
            assert b.cluster.counters["duplicates_dropped"] >= 2 and b.cluster.info()["chunks_dropped"] == 0
        finally:
            await x.close()
            await y.close()


def test_chunks_of_interleaved_copies_are_put_back_per_key() -> None:
    record = os.urandom(5000)
    chunks = [split_chunk(c) for c in encode_chunks(record, origin=7, room=1000)]
    whole = Reassembly()
    got = [whole.add((sub, origin), index, count, part) for (origin, index, count, part) in chunks for sub in (1, 2)]
    assert got[-2:] == [record, record] and whole.dropped == 0


def test_a_missing_chunk_drops_the_record_whole() -> None:
    record = os.urandom(10_000)
    chunks = [split_chunk(c) for c in encode_chunks(record, origin=7, room=1000)]
    assert len(chunks) == 11
    whole = Reassembly()
    assert [whole.add(*c) for c in chunks][-1] == record
    lossy = Reassembly()
    assert [lossy.add(*c) for c in chunks[:5] + chunks[6:]] == [None] * 10 and lossy.dropped == 1
    bounded = Reassembly(max_record=5000)
    assert [bounded.add(*c) for c in chunks][-1] is None and bounded.dropped == 1
    with pytest.raises(ValueError):
        split_chunk(b"\x80short")
