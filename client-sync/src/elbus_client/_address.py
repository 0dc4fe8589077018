"""Broker addresses: a UNIX socket path or ``host:port`` for TCP, by the rules of the original clients."""

from __future__ import annotations

import os
import socket

__all__ = ["Endpoint", "is_unix_address", "parse_address", "open_socket"]

_UNIX_SUFFIXES = (".sock", ".socket", ".ipc")

Endpoint = str | tuple[str, int]


def is_unix_address(address: str) -> bool:
    """True for a UNIX socket path: it ends with ``.sock``/``.socket``/``.ipc`` or starts with ``/``."""
    return address.endswith(_UNIX_SUFFIXES) or address.startswith("/")


def parse_address(address: str | os.PathLike[str]) -> Endpoint:
    """The UNIX socket path, or ``(host, port)`` for TCP; `ValueError` when ``address`` is neither."""
    address = os.fspath(address)
    if is_unix_address(address):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"not a UNIX socket path nor host:port: {address!r}")
    return host.strip("[]"), int(port)  # "[::1]:7777" names an IPv6 host


def open_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    """A socket connected to ``endpoint`` with ``timeout`` for the connect itself.

    TCP sockets get TCP_NODELAY: frames are written whole, so Nagle's
    algorithm would only add latency. Raises `OSError` when the connection
    fails.
    """
    if not isinstance(endpoint, str):
        sock = socket.create_connection(endpoint, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(endpoint)
    except BaseException:
        sock.close()
        raise
    return sock
