"""pytest fixtures: a real broker per test, and the trace player.

Use them from a ``conftest.py``::

    from elbus_conformance.pytest_plugin import broker, trace_player  # noqa: F401

(or list the module in the root conftest's ``pytest_plugins``). ``broker`` starts ``elbus_server.Broker`` on a UNIX socket in
the test's temporary directory and on a free 127.0.0.1 port, with a short
timeout so that timeout traces stay fast; the test is skipped when
elbus-server is not installed. ``trace_player`` is a broker that follows
traces, for testing clients.
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ._net import Timing
from ._player import TracePlayer

__all__ = ["RunningBroker", "BROKER_TIMEOUT", "broker", "trace_player", "free_tcp_port", "running_broker"]

# The broker's timeout in tests: long enough for loopback, short enough that a partial-frame trace takes ~1 s.
BROKER_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class RunningBroker:
    """A broker started for one test: where it listens, its timeout, and the broker object itself."""

    broker: Any
    unix_path: str
    tcp_address: str
    timeout: float

    @property
    def timing(self) -> Timing:
        """Replay timing that matches this broker's timeout."""
        return Timing(broker_timeout=self.timeout)


def free_tcp_port() -> int:
    """A 127.0.0.1 port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _socket_dir(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``, or a shorter temporary directory: sun_path holds ~107 bytes and pytest's paths can be longer."""
    if len(str(tmp_path)) < 80:
        yield tmp_path
        return
    short = tempfile.mkdtemp(prefix="elbus-")
    try:
        yield Path(short)
    finally:
        shutil.rmtree(short, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_broker(directory: Path, timeout: float = BROKER_TIMEOUT) -> AsyncIterator[RunningBroker]:
    """Start `elbus_server.Broker` on ``directory/broker.sock`` and a free 127.0.0.1 port; closed on exit.

    Skips the calling test when elbus-server is not installed.
    """
    server = pytest.importorskip("elbus_server", reason="elbus-server is not installed")
    options = {"timeout": timeout} if "timeout" in inspect.signature(server.Broker).parameters else {}
    instance = server.Broker(**options)
    path = str(directory / "broker.sock")
    port = free_tcp_port()
    try:
        await instance.serve_unix(path)
        await instance.serve_tcp("127.0.0.1", port)
        yield RunningBroker(instance, path, f"127.0.0.1:{port}", options.get("timeout", 5.0))
    finally:
        await instance.close()


@pytest_asyncio.fixture
async def broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    """A real `elbus_server.Broker` on a UNIX socket and a 127.0.0.1 port, closed after the test."""
    with _socket_dir(tmp_path) as directory:
        async with running_broker(directory) as running:
            yield running


@pytest_asyncio.fixture
async def trace_player(tmp_path: Path) -> AsyncIterator[TracePlayer]:
    """A `TracePlayer` listening on a UNIX socket in the test's temporary directory."""
    player = TracePlayer(Timing(silence=0.1, broker_timeout=BROKER_TIMEOUT))
    with _socket_dir(tmp_path) as directory:
        await player.start(unix_path=str(directory / "player.sock"))
        try:
            yield player
        finally:
            await player.close()
