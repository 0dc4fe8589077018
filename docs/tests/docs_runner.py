"""Running the guides' examples for real: a broker in a thread, examples as subprocesses.

Each example runs as its own Python process, as a reader would run it; the
examples that need a broker get a real `elbus_server.Broker` serving a
temporary UNIX socket and a free TCP port, whose addresses replace those of
`make run` in their code.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from docgen_examples import DEFAULT_ADDRESS, DEFAULT_TCP_ADDRESS, CodeExample, required_modules

from elbus_spec import ClientConnection, Refused, Registered

__all__ = ["BrokerThread", "ExampleRun", "missing_modules", "wait_registered"]

EXAMPLE_TIMEOUT = 30.0


def missing_modules(examples: list[CodeExample]) -> list[str]:
    """Modules the examples import that are not installed (elbus_server too when a broker is needed)."""
    needed = set().union(*(required_modules(e) for e in examples))
    if any(e.kind == "broker" for e in examples):
        needed.add("elbus_server")
    return sorted(m for m in needed if importlib.util.find_spec(m) is None)


class BrokerThread:
    """A real broker on its own event loop in a background thread, serving a UNIX socket and a TCP port."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.tcp = ""  # "127.0.0.1:PORT" once started
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="docs-broker", daemon=True)

    @property
    def addresses(self) -> dict[str, str]:
        """``make run``'s address -> this broker's, for the examples' code."""
        return {DEFAULT_ADDRESS: self.path, DEFAULT_TCP_ADDRESS: self.tcp}

    def __enter__(self) -> BrokerThread:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the broker did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by __enter__
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        import elbus_server

        self._stop = asyncio.Event()
        async with elbus_server.Broker() as broker:
            await broker.serve_unix(self.path)
            host, port = await broker.serve_tcp("127.0.0.1", 0)
            self.tcp = f"{host}:{port}"
            self._ready.set()
            await self._stop.wait()


def wait_registered(address: str, name: str, deadline: float) -> None:
    """Block until a client named ``name`` is registered at the broker, or raise TimeoutError.

    Registering the secondary ``name%%probe`` succeeds only while the
    primary ``name`` is registered: the broker itself answers the question.
    """
    while time.monotonic() < deadline:
        conn = ClientConnection(f"{name}%%docs-probe")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(address)
            answer: bool | None = None
            while answer is None:
                data = sock.recv(4096)
                if not data:
                    answer = False
                for event in conn.receive_data(data):
                    if isinstance(event, Registered | Refused):
                        answer = isinstance(event, Registered)
                out = conn.data_to_send()
                if out and answer is None:
                    sock.sendall(out)
        if answer:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not register")


class ExampleRun:
    """One example as a Python process; the test broker's addresses substituted for `make run`'s.

    Its output is unbuffered, as a reader sees it in a terminal: what a
    long-running example printed before it was stopped is not lost.
    """

    def __init__(self, example: CodeExample, cwd: Path, addresses: dict[str, str] | None) -> None:
        self.example = example
        code = example.code
        for default, actual in (addresses or {}).items():
            code = code.replace(default, actual)
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", code],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, timeout: float = EXAMPLE_TIMEOUT) -> tuple[int, str, str]:
        """Wait for the process; returns (status, stdout, stderr)."""
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def stop(self) -> tuple[int, str, str]:
        """Terminate a long-running example and return what it printed."""
        self.process.terminate()
        try:
            return self.finish(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.finish(5)

    def describe(self, result: tuple[int, str, str]) -> str:
        status, out, err = result
        return f"{self.example.id} exited {status}\n--- stdout\n{out}\n--- stderr\n{err}"
