"""Opening the connection to a broker address (read by `elbus_spec.parse_address`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar

from elbus_spec import parse_address

P = TypeVar("P", bound=asyncio.Protocol)

__all__ = ["open_transport"]


async def open_transport(address: str, protocol_factory: Callable[[], P]) -> tuple[asyncio.Transport, P]:
    """Connect to ``address``; TCP sockets get TCP_NODELAY (frames are small and latency-bound).

    Raises ValueError for an address that is neither a UNIX path nor ``host:port``, and
    OSError (e.g. FileNotFoundError, ConnectionRefusedError) when the broker is not there.
    """
    loop = asyncio.get_running_loop()
    endpoint = parse_address(address)
    if isinstance(endpoint, str):
        transport, protocol = await loop.create_unix_connection(protocol_factory, endpoint)
    else:
        host, port = endpoint
        transport, protocol = await loop.create_connection(protocol_factory, host, port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return transport, protocol
