"""Fixtures: the brokers and the trace replayer of the async client's tests, reused here."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from brokers import KINDS, running_broker


@pytest.fixture
def sock_path() -> Iterator[str]:
    # UNIX socket paths are limited to ~107 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="elbus-rpc-"))
    yield str(path / "broker.sock")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=KINDS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def kind_broker(broker_kind: str, sock_path: str) -> AsyncIterator[Any]:
    """Every broker kind, over UNIX."""
    async with running_broker(broker_kind, sock_path) as running:
        yield running
