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
from .constants import DEFAULT_MAX_FRAME_LENGTH, GREETING, PROTOCOL_VERSION, Code, Op
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

_HEADER = codec._CLIENT_HEADER
_HEADER_SIZE = codec.CLIENT_HEADER_SIZE
_PING = Ping()
_GREETING = codec.encode_greeting(PROTOCOL_VERSION)
_MESSAGE = Op.MESSAGE.value
_TARGET_CACHE_SIZE = 64  # encoded targets -> names, per connection; emptied when full: bounded memory per client

_Parser = Callable[[int, int, bytearray, int, int], Request]


def _addressed(cls: type) -> _Parser:
    def parse(op_id: int, qos: int, buf: bytearray, start: int, end: int) -> Request:
        target, payload = codec.decode_addressed_body(buf, start, end)
        return cls(op_id, qos, target, payload)  # type: ignore[no-any-return]

    return parse


def _topics(cls: type) -> _Parser:
    def parse(op_id: int, qos: int, buf: bytearray, start: int, end: int) -> Request:
        (topics,) = codec.decode_topics_body(buf, start, end)
        return cls(op_id, qos, topics)  # type: ignore[no-any-return]

    return parse


def _publish_for(op_id: int, qos: int, buf: bytearray, start: int, end: int) -> Request:
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
        self._targets: dict[bytes, str] = {}
        # Without extensions, ops 0x04-0x06 are unknown, as in the original elbus broker.
        self._parsers = _PARSERS if extensions else {op: p for op, p in _PARSERS.items() if op >= Op.MESSAGE or op <= 3}

    @staticmethod
    def greeting() -> bytes:
        """The bytes to send as soon as the connection is accepted."""
        return _GREETING

    def accept(self) -> bytes:
        """Accept the requested name; returns the ``01`` to send."""
        self._expect_registration()
        self.state = State.READY
        return b"\x01"

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
        buf = self._buf
        events: list[Any] = []
        if self.state is not State.READY:
            buf += data
            data = b""
            if not self._handshake(events):
                return events
        # parse an immutable copy: slices of it are the payloads, with no second copy
        if buf:
            buf += data
            view = bytes(buf)
        else:
            view = data if type(data) is bytes else bytes(data)
        pos = 0
        end = len(view)
        max_len = self.max_frame_length
        parsers = self._parsers
        targets = self._targets
        unpack = _HEADER.unpack_from
        find = view.find
        append = events.append
        while end - pos >= _HEADER_SIZE:
            op_id, flags, length = unpack(view, pos)
            if flags == 0:  # ping: exactly 9 bytes, the rest of the header is ignored
                append(_PING)
                pos += _HEADER_SIZE
                continue
            op = flags & 0x3F
            parser = parsers.get(op)
            if parser is None:
                return self._violate(events, f"unknown operation 0x{op:02x}")
            if length > max_len:  # checked before a single body byte is buffered
                return self._violate(events, f"frame length {length} exceeds the maximum {max_len}")
            start = pos + _HEADER_SIZE
            if end - start < length:
                break
            if raw and op == _MESSAGE:
                sep = find(b"\0", start, start + length)
                if sep < 0:
                    return self._violate(events, "addressed_body: target is not NUL-terminated")
                name = view[start:sep]
                target = targets.get(name)
                if target is None:  # a target not seen lately: decode and check it once
                    try:
                        target = name.decode()
                    except UnicodeDecodeError:
                        return self._violate(events, "addressed_body: a string is not valid UTF-8")
                    if len(targets) >= _TARGET_CACHE_SIZE:
                        targets.clear()
                    targets[name] = target
                pos = start + length
                append((op_id, flags >> 6, target, view[sep + 1 : pos], length))
                continue
            pos = start + length
            try:
                append(parser(op_id, flags >> 6, view, start, pos))
            except RemoteProtocolError as exc:
                return self._violate(events, exc.reason)
        if buf:
            del buf[:pos]
        elif pos < end:
            buf += view[pos:]
        return events

    def _handshake(self, events: list[Event]) -> bool:
        """Advance the handshake; True once frames may be parsed."""
        buf = self._buf
        if self.state is State.AWAIT_GREETING:
            if len(buf) < codec.GREETING_SIZE:
                return False
            if buf[0] != GREETING or int.from_bytes(buf[1:3], "little") != PROTOCOL_VERSION:
                self._out += codec.encode_result(Code.NOT_SUPPORTED)
                self._violate(events, f"unsupported greeting {bytes(buf[:3]).hex()}")
                return False
            del buf[: codec.GREETING_SIZE]
            self._out += codec.encode_result(Code.OK)
            self.state = State.AWAIT_NAME
            events.append(HandshakeComplete())
        if self.state is State.AWAIT_NAME:
            if len(buf) < 2:
                return False
            size = 2 + int.from_bytes(buf[:2], "little")
            if len(buf) < size:
                return False
            try:
                (self.name,) = codec.decode_registration(buf, 0, size)
            except RemoteProtocolError as exc:
                self._violate(events, exc.reason)
                return False
            del buf[:size]
            self.state = State.AWAIT_REGISTRATION
            events.append(RegistrationRequest(self.name))
        return self.state is State.READY
