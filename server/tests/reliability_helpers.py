"""Shared parts of the reliability tests: a routing model, raw wire clients, a broker loop in a thread, elbusd subprocesses.

The routing model is written from the routing rules of the docs (Concepts, "Three
ways to send"), independently of
`elbus_server._routing`, so that the stateful test checks the broker against
the rules rather than against itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from elbus_spec import Ack, ClientConnection, Frame, KeepAlive, Refused, Registered, codec

T = TypeVar("T")

# --- a broker's event loop in a thread, for synchronous drivers (hypothesis state machines) -----------


class LoopThread:
    """An asyncio loop running in a daemon thread; `run` executes a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="reliability-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """The coroutine's result; raises what it raised, or `TimeoutError` after ``timeout`` seconds."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


# --- raw clients over real sockets ----------------------------------------------------------------------


async def open_stream(where: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A UNIX socket (a path) or TCP (``host:port``) connection."""
    if where.startswith("/"):
        return await asyncio.open_unix_connection(where)
    host, port = where.rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def raw_register(where: str, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection through the whole handshake; fails unless the broker answers ``01`` at both steps."""
    reader, writer = await open_stream(where)
    assert await reader.readexactly(3) == b"\xeb\x01\x00"
    writer.write(b"\xeb\x01\x00")
    assert await reader.readexactly(1) == b"\x01"
    writer.write(codec.encode_registration(name))
    assert await reader.readexactly(1) == b"\x01"
    return reader, writer


class WireClient:
    """A registered client speaking through `elbus_spec.ClientConnection`; a reader task queues every parsed event."""

    def __init__(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.conn = ClientConnection(name)
        self.reader = reader
        self.writer = writer
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.result: Registered | Refused | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, where: str, name: str, timeout: float = 3.0) -> WireClient:
        """Connect and run the handshake; ``result`` is `Registered`, `Refused` or None (closed without a reply)."""
        reader, writer = await open_stream(where)
        client = cls(name, reader, writer)
        async with asyncio.timeout(timeout):
            while client.result is None:
                data = await reader.read(65536)
                if not data:
                    break
                events = client.conn.receive_data(data)
                writer.write(client.conn.data_to_send())
                for i, event in enumerate(events):
                    if isinstance(event, Registered | Refused):
                        client.result = event
                        for later in events[i + 1 :]:
                            if not isinstance(later, KeepAlive):
                                client.events.put_nowait(later)
                        break
        if isinstance(client.result, Registered):
            client._task = asyncio.get_running_loop().create_task(client._read())
        return client

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await self.reader.read(65536):
                for event in self.conn.receive_data(data):
                    if not isinstance(event, KeepAlive):
                        self.events.put_nowait(event)
        self.events.put_nowait(None)  # closed

    async def next_event(self, timeout: float = 3.0) -> Any:
        """The next ack or delivered frame (keep-alives are skipped); None once the broker closed."""
        return await asyncio.wait_for(self.events.get(), timeout)

    async def next_frame(self, timeout: float = 3.0) -> Frame:
        event = await self.next_event(timeout)
        assert isinstance(event, Frame), event
        return event

    async def ack(self, op_id: int, timeout: float = 3.0) -> int:
        """The code of the ack of ``op_id``; fails on anything else arriving first."""
        event = await self.next_event(timeout)
        assert isinstance(event, Ack) and event.op_id == op_id, event
        return event.code

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate()`` every 10 ms until true; raises `AssertionError` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# --- processes ------------------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit (children inherit it); returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def elbusd_command() -> list[str]:
    script = Path(sys.executable).with_name("elbusd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "elbus_server.elbusd"]


def start_elbusd(sock: Path, *options: str) -> subprocess.Popen[str]:
    """``elbusd -B sock`` in a subprocess, returned once its banner says it listens; raises `RuntimeError` if it exits."""
    proc = subprocess.Popen([*elbusd_command(), "-B", str(sock), *options], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if not banner.startswith("elbusd"):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"elbusd did not start: {banner!r}")
    return proc


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to something other than empty or 0."""
    return os.environ.get(name, "") not in ("", "0")


def report(line: str) -> None:
    """Print a measured figure (shown with ``pytest -s``) and append it to $ELBUS_RELIABILITY_RESULTS if set."""
    print(f"\n[reliability] {line}", flush=True)
    path = os.environ.get("ELBUS_RELIABILITY_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
