"""A real broker for the command's tests, served by a thread of its own.

The tests may use the broker package; the command itself never imports it.
"""

from __future__ import annotations

import asyncio
import os
import threading

from elbus_server import Broker

__all__ = ["BrokerThread"]


class BrokerThread:
    """A real broker on a UNIX socket and a 127.0.0.1 TCP port, served by a thread of its own."""

    def __init__(self, directory: str, name: str = "broker.sock") -> None:
        self.path = os.path.join(directory, name)
        self.tcp = ""
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"broker {name}", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with Broker() as broker:
            await broker.serve_unix(self.path)
            host, port = await broker.serve_tcp("127.0.0.1", 0)
            self.tcp = f"{host}:{port}"
            self._ready.set()
            await self._stop.wait()

    def start(self) -> BrokerThread:
        self._thread.start()
        assert self._ready.wait(10), "the broker did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            assert self._stop is not None
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            assert not self._thread.is_alive(), "the broker did not stop"
