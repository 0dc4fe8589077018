"""Shared fixtures: a running broker on a temporary UNIX socket and a 127.0.0.1 TCP port, and raw socket clients."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from raw_client import TIMEOUT, RawClient, Running

from elbus_server import Broker

# Modules whose tests run on both loops: elbusd uses uvloop, a library user may run either.
BOTH_LOOPS = {"test_traces.py", "test_robustness.py", "test_embedded.py", "test_coalescing.py"}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    if item.path.name in BOTH_LOOPS:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # UNIX socket paths are limited to about 100 bytes: pytest's tmp_path can be longer
    d = Path(tempfile.mkdtemp(prefix="elbus-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def make_broker(sock_dir: Path) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    brokers: list[Broker] = []

    async def make(**options: object) -> Running:
        options.setdefault("timeout", TIMEOUT)
        broker = Broker(**options)  # type: ignore[arg-type]
        brokers.append(broker)
        path = await broker.serve_unix(sock_dir / f"b{len(brokers)}.sock")
        host, port = await broker.serve_tcp("127.0.0.1", 0)
        return Running(broker, path, host, port)

    yield make
    for broker in brokers:
        await broker.close()


@pytest.fixture
async def running(make_broker: Callable[..., Awaitable[Running]]) -> Running:
    return await make_broker()


@pytest.fixture
async def raw_clients() -> AsyncIterator[list[RawClient]]:
    clients: list[RawClient] = []
    yield clients
    for c in clients:
        await c.close()


@pytest.fixture
def connect(raw_clients: list[RawClient]) -> Callable[[str, str], Awaitable[RawClient]]:
    async def connect(where: str, name: str) -> RawClient:
        client = await RawClient.register(where, name)
        raw_clients.append(client)
        return client

    return connect


@pytest.fixture
def open_raw(raw_clients: list[RawClient]) -> Callable[[str], Awaitable[RawClient]]:
    """A connected client that has not done the handshake (for tests of the handshake itself)."""

    async def open_raw(where: str) -> RawClient:
        client = await RawClient.open(where)
        raw_clients.append(client)
        return client

    return open_raw
