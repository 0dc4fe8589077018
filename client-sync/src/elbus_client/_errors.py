"""Errors that belong to the client rather than to the protocol."""

from __future__ import annotations

from elbus_spec import ElbusError

__all__ = ["ConnectionClosed"]


class ConnectionClosed(ElbusError):
    """The connection is closed (by `Client.close`, by the broker, or after an I/O or protocol failure).

    Raised by operations on a closed client and by every ack wait that was
    still pending when the connection ended; ``reason`` says why it ended.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
