"""What the broker-side and client-side connections share: receive buffer, outbox and error state."""

from __future__ import annotations

from enum import Enum

from . import _codec as codec
from ._mypyc import mypyc_attr
from ._receive_buffer import ReceiveBuffer
from .errors import LocalProtocolError, RemoteProtocolError
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


@mypyc_attr(allow_interpreted_subclasses=True)  # so that `ClientConnection` may have them
class ConnectionBase:
    """A receive buffer, an outbox, and the error rule.

    The receive buffer (`ReceiveBuffer`) hands the parser each chunk whole, or
    the pending bytes joined once the unit they start is complete: receiving
    costs O(bytes) however the stream is cut.
    """

    __slots__ = ("_out", "_rx", "max_frame_length", "state")

    def __init__(self, state: State, max_frame_length: int) -> None:
        if max_frame_length < 1:
            raise ValueError("max_frame_length must be positive")
        self.state = state
        self._rx = ReceiveBuffer()
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
        return len(self._rx)

    def _check_open(self) -> None:
        if self.state is State.ERROR or self.state is State.CLOSED:
            raise LocalProtocolError(f"connection is {self.state.value}")

    def _violate(self, events: list[Event], reason: str) -> list[Event]:
        """Enter the error state after the peer broke the protocol."""
        self.state = State.ERROR
        self._rx.clear()
        events.append(ProtocolViolation(reason))
        return events

    def _frames(self, data: bytes | bytearray | memoryview, events: list[Event]) -> tuple[bytes, int] | None:
        """Receive ``data``: the bytes to parse frames in and where they start, or None while there are none.

        None while a pending unit is incomplete or the handshake is not done
        (its events are added to ``events``).
        """
        view = self._rx.feed(data)
        if view is None:
            return None
        if self.state is State.READY:
            return view, 0
        start = self._handshake(view, events)
        return None if start is None else (view, start)

    def _handshake(self, view: bytes, events: list[Event]) -> int | None:
        """Advance the handshake over ``view``: where the frames start, or None until it is done.

        Bytes it cannot use yet are kept (`_wait`), with the count it needs before it can go on.
        """
        raise NotImplementedError

    def _greeting(self, view: bytes, events: list[Event], refusal: bytes = b"") -> bool:
        """Whether ``view`` starts with the protocol's greeting; waits for it, or fails after sending ``refusal``."""
        if len(view) < codec.GREETING_SIZE:
            self._wait(view, 0, codec.GREETING_SIZE)
            return False
        try:
            codec.check_greeting(view)
        except RemoteProtocolError as exc:
            self._out += refusal
            self._violate(events, exc.reason)
            return False
        return True

    def _wait(self, view: bytes, pos: int, need: int) -> None:
        """Keep ``view[pos:]``, which the handshake can use once it is ``need`` bytes long."""
        self._rx.keep(view, pos, need)
