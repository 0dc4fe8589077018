"""What the broker-side and client-side connections share: buffer and error state."""

from __future__ import annotations

from enum import Enum

from .errors import LocalProtocolError
from .events import Event, ProtocolViolation


class State(Enum):
    """Where a connection is in its life; each side uses the states that apply to it."""

    AWAIT_GREETING = "await greeting"
    AWAIT_HANDSHAKE_RESULT = "await handshake result"
    AWAIT_NAME = "await name"
    AWAIT_REGISTRATION = "await registration"
    READY = "ready"
    CLOSED = "closed"
    ERROR = "error"


class ConnectionBase:
    """A receive buffer consumed from the front, an outbox, and the error rule.

    The buffer is a ``bytearray`` that each `receive_data` call appends to and
    trims once, after parsing every complete unit in it: O(bytes), never
    ``data += ...`` per unit.
    """

    __slots__ = ("_buf", "_out", "max_frame_length", "state")

    def __init__(self, state: State, max_frame_length: int) -> None:
        if max_frame_length < 1:
            raise ValueError("max_frame_length must be positive")
        self.state = state
        self._buf = bytearray()
        self._out = bytearray()
        self.max_frame_length = max_frame_length

    def data_to_send(self) -> bytes:
        """Bytes the protocol itself requires us to send now (handshake replies); empties the outbox."""
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed: non-zero means a unit is partially received."""
        return len(self._buf)

    def _check_open(self) -> None:
        if self.state is State.ERROR or self.state is State.CLOSED:
            raise LocalProtocolError(f"connection is {self.state.value}")

    def _violate(self, events: list[Event], reason: str) -> list[Event]:
        """Enter the error state after the peer broke the protocol."""
        self.state = State.ERROR
        self._buf.clear()
        events.append(ProtocolViolation(reason))
        return events
