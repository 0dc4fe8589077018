"""What the server tests' fixtures hand out: a started broker's addresses, and raw socket clients."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from elbus_server import Broker
from elbus_spec import NOP_FRAME, ClientConnection, Refused, Registered, codec

__all__ = ["TIMEOUT", "RawClient", "Running"]

TIMEOUT = 1.0  # the broker's timeout in tests: short, so that timeout behaviour is quick to observe


@dataclass
class Running:
    """A started broker and where to reach it."""

    broker: Broker
    path: str
    host: str
    port: int

    @property
    def tcp(self) -> str:
        return f"{self.host}:{self.port}"


class RawClient:
    """A client speaking raw bytes over a real socket; `ClientConnection` does the handshake and parsing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn: ClientConnection | None = None
        self.events: list[object] = []

    @classmethod
    async def open(cls, where: str) -> RawClient:
        if where.startswith("/"):
            reader, writer = await asyncio.open_unix_connection(where)
        else:
            host, port = where.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    @classmethod
    async def register(cls, where: str, name: str) -> RawClient:
        client = await cls.open(where)
        result = await client.handshake(name)
        assert isinstance(result, Registered), result
        return client

    async def handshake(self, name: str) -> Registered | Refused | None:
        """Run the handshake; the result event, or None if the broker closed without one."""
        self.conn = ClientConnection(name)
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), 3)
            if not data:
                return None
            events = self.conn.receive_data(data)
            self.write(self.conn.data_to_send())
            for i, event in enumerate(events):
                if isinstance(event, Registered | Refused):
                    self.events.extend(events[i + 1 :])
                    return event

    def write(self, data: bytes) -> None:
        if data:
            self.writer.write(data)

    async def raw(self, n: int, timeout: float = 3) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def frame(self, timeout: float = 3) -> bytes:
        """The next whole broker frame as bytes, keep-alive NOPs skipped."""
        while True:
            head = await self.raw(6, timeout)
            if head == NOP_FRAME:
                continue
            if head[0] == 0xFE:
                return head
            (_, length, _) = codec.SERVER_HEADER.unpack(head)
            return head + await self.raw(length, timeout)

    async def frames(self, n: int, timeout: float = 3) -> list[bytes]:
        return [await self.frame(timeout) for _ in range(n)]

    async def nothing(self, wait: float = 0.15) -> None:
        """Assert that no frame (other than a NOP) arrives within ``wait`` seconds."""
        with contextlib.suppress(TimeoutError):
            data = await self.frame(wait)
            raise AssertionError(f"unexpected frame {data.hex()}")

    async def closed(self, timeout: float = 3) -> bool:
        """True once the broker closed the connection (anything still sent is skipped)."""
        async def drain() -> None:
            while await self.reader.read(65536):
                pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
