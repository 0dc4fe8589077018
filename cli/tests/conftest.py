"""Shared fixtures: a real broker for the whole module, on a temporary UNIX socket and a 127.0.0.1 TCP port."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from cli_broker import BrokerThread


@pytest.fixture(scope="module")
def sock_dir() -> Iterator[str]:
    # UNIX socket paths are limited to about 100 bytes; pytest's tmp_path may be longer.
    directory = tempfile.mkdtemp(prefix="elbus-cli-", dir="/tmp")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def broker(sock_dir: str) -> Iterator[BrokerThread]:
    running = BrokerThread(sock_dir).start()
    yield running
    running.stop()
