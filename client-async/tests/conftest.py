"""Fixtures: short UNIX socket paths and the routing broker; the test helpers live beside this file."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

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
    async with RoutingBroker(sock_path) as running:
        yield running
