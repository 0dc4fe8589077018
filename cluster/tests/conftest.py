"""Fixtures: a real nats-server on a free loopback port, and brokers joined through it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats_helpers import NatsServer, connected, knows_nodes, link, wait_for

from elbus_server import Broker


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # UNIX socket paths are limited to about 100 bytes: pytest's tmp_path can be longer
    d = Path(tempfile.mkdtemp(prefix="elbus-c-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer().start()
    yield server
    server.stop()


@pytest.fixture
async def make_node(nats_server: NatsServer) -> AsyncIterator[Callable[..., Awaitable[Broker]]]:
    """Brokers joined through ``nats_server`` (or the given servers), started and connected."""
    brokers: list[Broker] = []

    async def make(node: str, servers: str | None = None, wait: bool = True, **options: Any) -> Broker:
        broker = Broker(cluster=link(servers or nats_server.url, node, **options), timeout=2.0)
        brokers.append(broker)
        await broker.__aenter__()
        if wait:
            await wait_for(connected(broker), what=f"{node} connected")
        return broker

    yield make
    for broker in brokers:
        await broker.close()


@pytest.fixture
async def pair(make_node: Callable[..., Awaitable[Broker]]) -> tuple[Broker, Broker]:
    """Two brokers, ``a`` and ``b``, that know each other."""
    a = await make_node("a")
    b = await make_node("b")
    await wait_for(knows_nodes(a, 1), what="a knows b")
    await wait_for(knows_nodes(b, 1), what="b knows a")
    return a, b
