"""Fixtures: short UNIX socket paths and brokers; the test helpers live beside this file."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from brokers import KINDS, running_broker
from routing_broker import RoutingBroker


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # UNIX socket paths are limited to ~107 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="elbus-aio-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: Path) -> str:
    return str(sock_dir / "broker.sock")


@pytest.fixture
async def broker(sock_path: str) -> AsyncIterator[RoutingBroker]:
    """The routing test broker (it can hold a client's reads, which tests of backpressure need)."""
    async with RoutingBroker(sock_path) as running:
        yield running


@pytest.fixture(params=KINDS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=["unix", "tcp"])
async def any_broker(request: pytest.FixtureRequest, broker_kind: str, sock_path: str) -> AsyncIterator[Any]:
    """Every broker kind, over UNIX and over TCP."""
    address = sock_path if request.param == "unix" else "127.0.0.1:0"
    async with running_broker(broker_kind, address) as running:
        yield running


@pytest.fixture
async def kind_broker(broker_kind: str, sock_path: str) -> AsyncIterator[Any]:
    """Every broker kind, over UNIX."""
    async with running_broker(broker_kind, sock_path) as running:
        yield running


BROKERS = Path(__file__).with_name("brokers.py")


@pytest.fixture
async def broker_process(broker_kind: str, sock_path: str) -> AsyncIterator[Callable[[], asyncio.subprocess.Process]]:
    """Start a broker of each kind as its own process (so that it can be SIGKILLed or SIGSTOPped)."""
    procs: list[asyncio.subprocess.Process] = []

    async def start() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(BROKERS), broker_kind, sock_path, stdout=asyncio.subprocess.PIPE
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"ready\n"
        return proc

    yield start  # type: ignore[misc]
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
