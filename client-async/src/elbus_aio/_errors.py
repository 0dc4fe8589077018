"""Errors of the asyncio client that the spec does not define."""

from __future__ import annotations

from elbus_spec import ElbusError

__all__ = ["ConnectionClosed"]


class ConnectionClosed(ElbusError):
    """The connection to the broker is closed or was lost.

    Raised by operations attempted without a live connection and set on every
    wait (acks, drains, receives) still pending when the connection ends.
    """
