"""The broker side of one client connection, without any I/O.

Feed it what the socket received (`receive_data`, in chunks of any size)
and get events back; send what it returns. The handshake is driven by the
bytes alone except for the registration decision, which belongs to the
broker: a `RegistrationRequest` is answered with `accept()` or `refuse()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _codec as codec
from ._base import ConnectionBase, State
from .constants import DEFAULT_MAX_FRAME_LENGTH, Code, Op
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    BroadcastRequest,
    Event,
    ExcludeRequest,
    HandshakeComplete,
    MessageRequest,
    Ping,
    PublishForRequest,
    PublishRequest,
    RegistrationRequest,
    Request,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
)

__all__ = ["BrokerConnection", "RawMessage"]

RawMessage = tuple[int, int, str, bytes, int]
"""A MESSAGE frame from `BrokerConnection.receive_frames`: ``(op_id, qos, target, payload, body_length)``."""

_HEADER = codec.CLIENT_HEADER
_HEADER_SIZE = codec.CLIENT_HEADER_SIZE
_QOS_SHIFT, _QOS_MASK = codec.CLIENT_HEADER_QOS_SHIFT, codec.CLIENT_HEADER_QOS_MASK
_OP_SHIFT, _OP_MASK = codec.CLIENT_HEADER_OP_SHIFT, codec.CLIENT_HEADER_OP_MASK
_PING = Ping()
_MESSAGE = Op.MESSAGE.value

_Parser = Callable[[int, int, bytes, int, int], Request]


def _addressed(cls: type) -> _Parser:
    def parse(op_id: int, qos: int, buf: bytes, start: int, end: int) -> Request:
        target, payload = codec.decode_addressed_body(buf, start, end)
        return cls(op_id, qos, target, payload)  # type: ignore[no-any-return]

    return parse


def _topics(cls: type) -> _Parser:
    def parse(op_id: int, qos: int, buf: bytes, start: int, end: int) -> Request:
        (topics,) = codec.decode_topics_body(buf, start, end)
        return cls(op_id, qos, topics)  # type: ignore[no-any-return]

    return parse


def _publish_for(op_id: int, qos: int, buf: bytes, start: int, end: int) -> Request:
    topic, receiver, payload = codec.decode_publish_for_body(buf, start, end)
    return PublishForRequest(op_id, qos, topic, receiver, payload)


_PARSERS: dict[int, _Parser] = {
    Op.MESSAGE: _addressed(MessageRequest),
    Op.BROADCAST: _addressed(BroadcastRequest),
    Op.PUBLISH: _addressed(PublishRequest),
    Op.SUBSCRIBE: _topics(SubscribeRequest),
    Op.UNSUBSCRIBE: _topics(UnsubscribeRequest),
    Op.EXCLUDE: _topics(ExcludeRequest),
    Op.UNEXCLUDE: _topics(UnexcludeRequest),
    Op.PUBLISH_FOR: _publish_for,
}


class BrokerConnection(ConnectionBase):
    """Protocol state of one client as the broker sees it.

    States: AWAIT_GREETING -> AWAIT_NAME -> AWAIT_REGISTRATION -> READY, or
    CLOSED (registration refused) / ERROR (the client broke the protocol).
    Bytes that arrive while the registration is being decided stay buffered;
    call ``receive_data(b"")`` after `accept` to parse them.
    """

    __slots__ = ("_parsers", "_targets", "name")

    def __init__(self, *, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH, extensions: bool = True) -> None:
        super().__init__(State.AWAIT_GREETING, max_frame_length)
        self.name: str | None = None
        self._targets: dict[bytes, str] = {}  # for codec.decode_message_frames, bounded by the codec
        # Without extensions, ops 0x04-0x06 are unknown, as in the original elbus broker.
        self._parsers = _PARSERS if extensions else {op: p for op, p in _PARSERS.items() if op >= Op.MESSAGE or op <= 3}

    @staticmethod
    def greeting() -> bytes:
        """The bytes to send as soon as the connection is accepted."""
        return codec.PROTOCOL_GREETING

    def accept(self) -> bytes:
        """Accept the requested name; returns the result to send."""
        self._expect_registration()
        self.state = State.READY
        return codec.RESULT_OK

    def refuse(self, code: int) -> bytes:
        """Refuse the requested name with ``code``; returns the byte to send, then close."""
        self._expect_registration()
        if code == Code.OK:
            raise LocalProtocolError("refuse() needs an error code")
        self.state = State.CLOSED
        return codec.encode_result(code)

    def _expect_registration(self) -> None:
        if self.state is not State.AWAIT_REGISTRATION:
            raise LocalProtocolError(f"no registration to answer in state {self.state.value}")

    @staticmethod
    def ack(op_id: int, code: int = Code.OK) -> bytes:
        """The 6-byte acknowledgement of ``op_id``."""
        return codec.encode_ack(op_id, code)

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Add received bytes; return every event that is now complete.

        After a `ProtocolViolation` the connection is in the ERROR state and
        further calls raise `LocalProtocolError`.
        """
        return self._receive(data, False)  # type: ignore[return-value]

    def receive_frames(self, data: bytes | bytearray | memoryview) -> list[Event | RawMessage]:
        """`receive_data` for a router: each MESSAGE frame comes as a plain tuple, not an event.

        A `RawMessage` is ``(op_id, qos, target, payload, body_length)``:
        the same fields, checks and errors as `MessageRequest` (the target is
        valid UTF-8 or the frame is a `ProtocolViolation`), without building
        an event object per frame, which is most of what routing a small
        frame costs. Every other frame is the usual event, in order.
        """
        return self._receive(data, True)

    def _receive(self, data: bytes | bytearray | memoryview, raw: bool) -> list[Event | RawMessage]:
        self._check_open()
        events: list[Any] = []
        if self.state is State.AWAIT_REGISTRATION:  # frames wait, unparsed, for accept()
            self._rx.append(data)
            return events
        received = self._frames(data, events)
        if received is None:
            return events
        view, pos = received
        end = len(view)
        need = _HEADER_SIZE
        max_len = self.max_frame_length
        parsers = self._parsers
        targets = self._targets
        unpack = _HEADER.unpack_from
        messages = codec.decode_message_frames
        append = events.append
        while end - pos >= _HEADER_SIZE:
            op_id, flags, length = unpack(view, pos)
            if flags == 0:  # ping: exactly 9 bytes, the rest of the header is ignored
                append(_PING)
                pos += _HEADER_SIZE
                continue
            op = (flags >> _OP_SHIFT) & _OP_MASK
            parser = parsers.get(op)
            if parser is None:
                self._violate(events, f"unknown operation 0x{op:02x}")
                return events
            if length > max_len:  # checked before a single body byte is buffered
                self._violate(events, f"frame length {length} exceeds the maximum {max_len}")
                return events
            start = pos + _HEADER_SIZE
            if end - start < length:
                need = _HEADER_SIZE + length
                break
            try:
                if raw and op == _MESSAGE:  # this frame and every MESSAGE frame right after it
                    pos = messages(view, pos, end, max_len, targets, events)
                else:
                    append(parser(op_id, (flags >> _QOS_SHIFT) & _QOS_MASK, view, start, start + length))
                    pos = start + length
            except RemoteProtocolError as exc:
                self._violate(events, exc.reason)
                return events
        self._rx.keep(view, pos, need)
        return events

    def _handshake(self, view: bytes, events: list[Event]) -> int | None:
        pos = 0
        if self.state is State.AWAIT_GREETING:
            if not self._greeting(view, events, refusal=codec.encode_result(Code.NOT_SUPPORTED)):
                return None
            pos = codec.GREETING_SIZE
            self._out += codec.RESULT_OK
            self.state = State.AWAIT_NAME
            events.append(HandshakeComplete())
        if self.state is State.AWAIT_NAME:
            size = codec.size_of_registration(view, pos)
            if size is None or len(view) - pos < size:
                self._wait(view, pos, size or len(view) - pos + 1)
                return None
            try:
                (self.name,) = codec.decode_registration(view, pos, pos + size)
            except RemoteProtocolError as exc:
                self._violate(events, exc.reason)
                return None
            pos += size
            self.state = State.AWAIT_REGISTRATION
            events.append(RegistrationRequest(self.name))
        self._wait(view, pos, 0)  # frames that came with the name wait for accept()
        return None
