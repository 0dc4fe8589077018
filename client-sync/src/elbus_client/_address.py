"""Broker addresses: a UNIX socket path or ``host:port`` for TCP, by the rules of the original clients."""

from __future__ import annotations

import os
import socket

__all__ = ["is_unix_address", "open_socket"]

_UNIX_SUFFIXES = (".sock", ".socket", ".ipc")


def is_unix_address(address: str) -> bool:
    """True for a UNIX socket path: it ends with ``.sock``/``.socket``/``.ipc`` or starts with ``/``."""
    return address.endswith(_UNIX_SUFFIXES) or address.startswith("/")


def _tcp_endpoint(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"not a UNIX socket path nor host:port: {address!r}")
    return host.strip("[]"), int(port)  # "[::1]:7777" names an IPv6 host


def open_socket(address: str | os.PathLike[str], timeout: float) -> socket.socket:
    """A socket connected to ``address`` with ``timeout`` for the connect itself.

    TCP sockets get TCP_NODELAY: frames are written whole, so Nagle's
    algorithm would only add latency. Raises `ValueError` for an address
    that is neither form, `OSError` when the connection fails.
    """
    address = os.fspath(address)
    if not is_unix_address(address):
        sock = socket.create_connection(_tcp_endpoint(address), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock
