"""Our broker (`elbus_server.Broker`) on its own event loop in a background thread, for blocking clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import elbus_server


class BrokerThread:
    """A `Broker` serving a UNIX socket and a free 127.0.0.1 TCP port from a background thread's event loop."""

    def __init__(self, sock_path: str, **options: Any) -> None:
        self.path = sock_path
        self.options = {"timeout": 1.0, **options}
        self.tcp = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="broker-loop", daemon=True)

    def __enter__(self) -> BrokerThread:
        self._thread.start()
        assert self._ready.wait(10), "the broker did not start"
        if self._error:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))  # type: ignore[union-attr]
        self._thread.join(10)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = self.loop.create_future()
            async with elbus_server.Broker(**self.options) as broker:
                self.broker = broker
                await broker.serve_unix(self.path)
                host, port = await broker.serve_tcp("127.0.0.1", 0)
                self.tcp = f"{host}:{port}"
                self._ready.set()
                await self._stop

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
