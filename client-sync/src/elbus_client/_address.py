"""Opening the socket to a broker endpoint (read by `elbus_spec.parse_address`)."""

from __future__ import annotations

import socket

from elbus_spec import Endpoint

__all__ = ["open_socket"]


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
