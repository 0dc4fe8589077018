"""The brokers client tests run against: the routing test broker, and the project's broker when installed.

`running_broker(kind, address)` starts one in-process; run this module as a
script (``python brokers.py KIND ADDRESS``) to get one in its own process,
which prints ``ready`` once it listens (tests SIGKILL it to play a dead broker).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from routing_broker import RoutingBroker

HAS_SERVER = importlib.util.find_spec("elbus_server") is not None
# Every kind runs; the project's broker is a required peer whenever its package is installed.
KINDS = ["routing", "elbus_server"] if HAS_SERVER else ["routing"]


class ServerBroker:
    """The project's broker (elbus_server.Broker) behind the same small surface as RoutingBroker."""

    def __init__(self, address: str, *, timeout: float = 5.0, **options: Any) -> None:
        import elbus_server

        self.address = address
        self.broker: Any = elbus_server.Broker(timeout=timeout, **options)

    async def start(self) -> ServerBroker:
        if self.address.startswith("/") or self.address.endswith((".sock", ".socket", ".ipc")):
            await self.broker.serve_unix(self.address)
        else:
            host, _, port = self.address.rpartition(":")
            host, bound = await self.broker.serve_tcp(host, int(port))
            self.address = f"{host}:{bound}"
        return self

    async def stop(self) -> None:
        await self.broker.close()


@asynccontextmanager
async def running_broker(kind: str, address: str, **options: Any) -> AsyncIterator[Any]:
    broker = RoutingBroker(address, **options) if kind == "routing" else ServerBroker(address, **options)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def _main(kind: str, address: str) -> None:
    async with running_broker(kind, address):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
