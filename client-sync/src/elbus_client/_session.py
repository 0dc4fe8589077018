"""One connection to the broker: open the socket, do the handshake, and keep what the connection owes."""

from __future__ import annotations

import errno
import socket
import time

from elbus_spec import (
    BrokerUnavailable,
    ClientConnection,
    ConnectionClosed,
    ConnectTimeout,
    ElbusError,
    Endpoint,
    Event,
    ProtocolViolation,
    Refused,
    Registered,
    RemoteProtocolError,
    error_for_code,
)

from ._address import open_socket
from ._pending import Pending

__all__ = ["RECV_SIZE", "Session", "open_session"]

RECV_SIZE = 256 * 1024


class Session:
    """A registered connection: its socket, its protocol state, and the acks still owed on it.

    Op ids are per connection, so pending acks belong to the session: a
    lost session fails its own, and a new one starts a fresh table.
    ``lost`` is the reason the connection ended (None while it lives).
    """

    __slots__ = ("conn", "lost", "pending", "sock")

    def __init__(self, sock: socket.socket, conn: ClientConnection) -> None:
        self.sock = sock
        self.conn = conn
        self.pending: dict[int, Pending] = {}
        self.lost: str | None = None


def open_session(
    endpoint: Endpoint, address: str, name: str, *, timeout: float, max_frame_length: int
) -> tuple[Session, list[Event]]:
    """Connect to ``endpoint`` and register ``name``; returns the session and any events right behind the registration.

    Raises the `elbus_spec.BrokerError` subclass of a refusal, `ConnectionClosed`
    when the broker hangs up without a reply, `RemoteProtocolError` for a
    malformed handshake, `BrokerUnavailable` when the socket cannot connect
    (`ConnectTimeout` when connecting or registering takes longer than ``timeout``).
    """
    conn = ClientConnection(name, max_frame_length=max_frame_length, timeout=timeout)
    try:
        sock = open_socket(endpoint, timeout)
    except OSError as exc:
        raise BrokerUnavailable.wrap(address, exc) from exc
    try:
        early = _handshake(sock, conn, address, timeout)
        sock.settimeout(conn.dead_broker_after)
    except ElbusError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        raise BrokerUnavailable.wrap(address, exc) from exc
    except BaseException:
        sock.close()
        raise
    return Session(sock, conn), early


def _handshake(sock: socket.socket, conn: ClientConnection, address: str, timeout: float) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectTimeout(errno.ETIMEDOUT, f"no registration reply from {address} within {timeout} s")
        sock.settimeout(remaining)
        try:
            data = sock.recv(RECV_SIZE)
        except TimeoutError:
            continue
        if not data:
            raise ConnectionClosed(f"{address} closed the connection during the handshake of {conn.name!r}")
        events = conn.receive_data(data)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
        for index, event in enumerate(events):
            if isinstance(event, Registered):
                return events[index + 1 :]
            if isinstance(event, Refused):
                raise error_for_code(event.code, f"{address} refused {conn.name!r} at {event.stage}: {event.code_name}")
            if isinstance(event, ProtocolViolation):
                raise RemoteProtocolError(event.reason)
