"""The client side of a connection to a broker, without any I/O.

Create it with the name to register, feed it what the socket received and
send what `data_to_send` returns: it answers the greeting and sends the
name by itself, then reports `Registered` or `Refused`. Outgoing frames come
from the ``send_*`` methods, which number operations and remember which ones
await an acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _codec as codec
from ._base import ConnectionBase, State
from .constants import DEFAULT_MAX_FRAME_LENGTH, Code, Kind, QoS
from .errors import LocalProtocolError, RemoteProtocolError
from .events import Ack, Broadcast, Event, KeepAlive, Message, Publication, Refused, Registered

__all__ = ["ClientConnection", "MAX_OP_ID"]

MAX_OP_ID = 0xFFFF_FFFF
_HEADER = codec.SERVER_HEADER
_HEADER_SIZE = codec.SERVER_HEADER_SIZE
_ACK, _ACK_SIZE = codec.ACK_TAG, codec.ACK_SIZE
_NOP = Kind.NOP.value
_KEEPALIVE = KeepAlive()

Payload = bytes | bytearray | memoryview


class ClientConnection(ConnectionBase):
    """Protocol state of a client: handshake, op ids, pending acks, frame parsing.

    States: AWAIT_GREETING -> AWAIT_HANDSHAKE_RESULT -> AWAIT_REGISTRATION ->
    READY; CLOSED after a refusal, ERROR after a protocol violation.
    """

    __slots__ = ("_op_id", "_registration", "name", "pending")

    def __init__(self, name: str, *, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        super().__init__(State.AWAIT_GREETING, max_frame_length)
        self._registration = codec.encode_registration(name)  # validates the name early
        self.name = name
        self.pending: set[int] = set()
        self._op_id = 0

    # --- receiving -----------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Add received bytes; return every event that is now complete."""
        self._check_open()
        events: list[Event] = []
        received = self._frames(data, events)
        if received is None:
            return events
        view, pos = received
        end = len(view)
        need = _HEADER_SIZE
        unpack = _HEADER.unpack_from
        unpack_ack = codec.unpack_ack_from
        append = events.append
        while end - pos >= _HEADER_SIZE:
            kind = view[pos]
            if kind == _ACK:
                op_id, code = unpack_ack(view, pos)
                self.pending.discard(op_id)
                append(Ack(op_id, code))
                pos += _ACK_SIZE
                continue
            if kind == _NOP:
                append(_KEEPALIVE)
                pos += codec.NOP_SIZE
                continue
            kind, length, flag = unpack(view, pos)
            if length > self.max_frame_length:
                return self._violate(events, f"frame length {length} exceeds the maximum {self.max_frame_length}")
            start = pos + _HEADER_SIZE
            if end - start < length:
                need = _HEADER_SIZE + length
                break
            pos = start + length
            try:
                if kind == Kind.MESSAGE:
                    sender, payload = codec.decode_sender_body(view, start, pos)
                    append(Message(sender, None, payload, flag != 0))
                elif kind == Kind.PUBLISH:
                    sender, topic, payload = codec.decode_publication_body(view, start, pos)
                    append(Publication(sender, topic, payload, flag != 0))
                elif kind == Kind.BROADCAST:
                    sender, payload = codec.decode_sender_body(view, start, pos)
                    append(Broadcast(sender, None, payload, flag != 0))
                else:
                    return self._violate(events, f"unknown frame kind 0x{kind:02x}")
            except RemoteProtocolError as exc:
                return self._violate(events, exc.reason)
        self._rx.keep(view, pos, need)
        return events

    def _handshake(self, view: bytes, events: list[Event]) -> int | None:
        pos = 0
        if self.state is State.AWAIT_GREETING:
            if not self._greeting(view, events):
                return None
            self._out += codec.PROTOCOL_GREETING
            pos = codec.GREETING_SIZE
            self.state = State.AWAIT_HANDSHAKE_RESULT
        for state, stage in ((State.AWAIT_HANDSHAKE_RESULT, "handshake"), (State.AWAIT_REGISTRATION, "registration")):
            if self.state is not state:
                continue
            if len(view) - pos < codec.RESULT_SIZE:
                self._wait(view, pos, codec.RESULT_SIZE)
                return None
            (code,) = codec.decode_result(view, pos)
            pos += codec.RESULT_SIZE
            if code != Code.OK:
                self.state = State.CLOSED
                events.append(Refused(code, stage))
                return None
            if state is State.AWAIT_HANDSHAKE_RESULT:
                self._out += self._registration
                self.state = State.AWAIT_REGISTRATION
            else:
                self.state = State.READY
                events.append(Registered())
        return pos

    # --- sending ---------------------------------------------------------------

    def next_op_id(self) -> int:
        """The next operation id: 1, 2, ... 0xFFFFFFFF, then 1 again (as the original clients)."""
        op_id = self._op_id + 1
        if op_id > MAX_OP_ID:
            op_id = 1
        self._op_id = op_id
        return op_id

    def _frame(self, qos: int) -> int:
        if self.state is not State.READY:
            raise LocalProtocolError(f"cannot send in state {self.state.value}")
        op_id = self.next_op_id()
        if qos & 1:
            self.pending.add(op_id)
        return op_id

    def send_message(self, target: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A one-to-one MESSAGE frame: returns ``(op_id, bytes)``."""
        op_id = self._frame(qos)
        return op_id, codec.encode_message_frame(op_id, qos, target, payload)

    def send_broadcast(self, mask: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A BROADCAST frame to every client matching ``mask``."""
        op_id = self._frame(qos)
        return op_id, codec.encode_broadcast_frame(op_id, qos, mask, payload)

    def send_publish(self, topic: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A PUBLISH frame to ``topic``."""
        op_id = self._frame(qos)
        return op_id, codec.encode_publish_frame(op_id, qos, topic, payload)

    def send_publish_for(
        self, topic: str, receiver: str, payload: Payload, qos: int = QoS.PROCESSED
    ) -> tuple[int, bytes]:
        """A PUBLISH_FOR frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return op_id, codec.encode_publish_for_frame(op_id, qos, topic, receiver, payload)

    def send_subscribe(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A SUBSCRIBE frame for one or more topic patterns."""
        op_id = self._frame(qos)
        return op_id, codec.encode_subscribe_frame(op_id, qos, topics)

    def send_unsubscribe(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An UNSUBSCRIBE frame."""
        op_id = self._frame(qos)
        return op_id, codec.encode_unsubscribe_frame(op_id, qos, topics)

    def send_exclude(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An EXCLUDE frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return op_id, codec.encode_exclude_frame(op_id, qos, topics)

    def send_unexclude(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An UNEXCLUDE frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return op_id, codec.encode_unexclude_frame(op_id, qos, topics)

    def ping(self) -> bytes:
        """The 9-byte ping frame."""
        if self.state is not State.READY:
            raise LocalProtocolError(f"cannot ping in state {self.state.value}")
        return codec.PING_FRAME
