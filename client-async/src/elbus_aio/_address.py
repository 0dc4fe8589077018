"""Broker addresses: a UNIX socket path or ``host:port`` for TCP, by the original clients' rules."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar

__all__ = ["is_unix_address", "open_transport"]

_UNIX_SUFFIXES = (".sock", ".socket", ".ipc")

P = TypeVar("P", bound=asyncio.Protocol)


def is_unix_address(address: str) -> bool:
    """True for a UNIX socket path: ends with ``.sock``/``.socket``/``.ipc`` or starts with ``/``."""
    return address.endswith(_UNIX_SUFFIXES) or address.startswith("/")


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a tuple; raises ValueError when there is no port."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"not a UNIX socket path nor host:port: {address!r}")
    return host.strip("[]"), int(port)


async def open_transport(address: str, protocol_factory: Callable[[], P]) -> tuple[asyncio.BaseTransport, P]:
    """Connect to ``address``; TCP sockets get TCP_NODELAY (frames are small and latency-bound).

    Raises OSError (e.g. FileNotFoundError, ConnectionRefusedError) when the broker is not there.
    """
    loop = asyncio.get_running_loop()
    if is_unix_address(address):
        transport, protocol = await loop.create_unix_connection(protocol_factory, address)
    else:
        host, port = split_host_port(address)
        transport, protocol = await loop.create_connection(protocol_factory, host, port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return transport, protocol
