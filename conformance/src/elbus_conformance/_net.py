"""Addresses and the byte pipe both players use: connect, read with deadlines, split into units.

An address is read by `elbus_spec.parse_address`, as the clients and the
broker read it: a UNIX socket path or ``HOST:PORT`` (``:PORT`` is 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from elbus_spec import parse_address

from ._stream import Side, Splitter, Stage, is_keepalive

__all__ = ["open_connection", "Pipe", "Timing", "DEFAULT_TIMING"]

_READ_SIZE = 65536


async def open_connection(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``address``; raises OSError when nothing listens there, ValueError for a malformed HOST:PORT."""
    endpoint = parse_address(address)
    if isinstance(endpoint, str):
        return await asyncio.open_unix_connection(endpoint)
    reader, writer = await asyncio.open_connection(*endpoint)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a replay waits.

    ``step``: for a unit that is due; ``silence``: the window of a ``nothing``
    step; ``broker_timeout``: the broker's own timeout, which bounds how long
    a ``closed`` step may take (a partial frame is dropped only after it).
    """

    step: float = 2.0
    silence: float = 0.15
    broker_timeout: float = 5.0

    @property
    def close_deadline(self) -> float:
        return self.broker_timeout * 1.5 + self.step


DEFAULT_TIMING = Timing()


class Pipe:
    """One socket and the splitter of what the peer writes on it.

    `read_unit` returns the next unit that is not a keep-alive, or None at
    end of stream; it raises TimeoutError when nothing complete arrives
    before the deadline (the partial bytes stay available as `partial`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Side) -> None:
        self.reader = reader
        self.writer = writer
        self.splitter = Splitter(peer)
        self.eof = False

    @property
    def partial(self) -> bytes:
        return self.splitter.buffered

    async def read_unit(self, timeout: float) -> tuple[Stage, bytes] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while (item := self.splitter.next_unit()) is not None:
                if not is_keepalive(self.splitter.side, *item):
                    return item
            if self.eof:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            await self.fill(remaining)

    async def fill(self, timeout: float) -> None:
        """Read what arrives within ``timeout`` into the splitter; sets `eof` at end of stream."""
        try:
            data = await asyncio.wait_for(self.reader.read(_READ_SIZE), timeout)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if data:
            self.splitter.feed(data)
        else:
            self.eof = True

    async def write(self, data: bytes, *, bytewise: bool = False) -> None:
        """Write ``data`` (one byte per write when ``bytewise``); raises OSError when the peer is gone."""
        chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            if bytewise:
                await asyncio.sleep(0.001)  # let each byte leave in its own segment

    async def close(self, timeout: float) -> None:
        """Half-close, wait (up to ``timeout``) for the peer to close its side, then close the socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not self.eof and not self.writer.is_closing():
            try:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                while not self.eof and (remaining := deadline - loop.time()) > 0:
                    await self.fill(remaining)
                    self.splitter.take_rest()  # what comes after our close is not part of the trace
            except (OSError, TimeoutError):
                pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
