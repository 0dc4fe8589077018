"""Shared fixtures: a socket path in a short temporary directory, and a thread-leak check around every test."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("elbus-reader", "elbus-pinger"))]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every client a test opens must have ended its threads when the test is over."""
    yield
    assert client_threads() == []


@pytest.fixture
def sock_path() -> Iterator[str]:
    # UNIX socket paths are limited to ~100 bytes: pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="elbus-") as tmp:
        yield str(Path(tmp) / "broker.sock")
