"""Broker addresses, by the original clients' rules: a UNIX socket path or ``host:port``.

One definition for the clients, the broker's ``-B`` option and the command
line, so that every tool reads an address the same way.
"""

from __future__ import annotations

import os

__all__ = ["LOOPBACK", "UNIX_SUFFIXES", "Endpoint", "is_unix_address", "parse_address"]

UNIX_SUFFIXES = (".sock", ".socket", ".ipc")
#: The host of a ``:PORT`` address: TCP reaches beyond this machine only when a host says so.
LOOPBACK = "127.0.0.1"

Endpoint = str | tuple[str, int]


def is_unix_address(address: str) -> bool:
    """True for a UNIX socket path: it ends with ``.sock``/``.socket``/``.ipc`` or starts with ``/``."""
    return address.endswith(UNIX_SUFFIXES) or address.startswith("/")


def parse_address(address: str | os.PathLike[str]) -> Endpoint:
    """The UNIX socket path, or ``(host, port)`` for TCP (``[::1]:7777`` names an IPv6 host).

    ``:PORT`` is `LOOPBACK` (127.0.0.1) on that port, for the clients as for
    the broker's ``-B :PORT``: a client finds the broker where it listens.
    Raises `ValueError` when ``address`` is neither.
    """
    address = os.fspath(address)
    if is_unix_address(address):
        return address
    host, sep, port = address.rpartition(":")
    if sep and not host:
        host = LOOPBACK
    if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"not a UNIX socket path nor host:port: {address!r}")
    return host.strip("[]"), int(port)
