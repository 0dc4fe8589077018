"""Split the two byte streams of a connection into units and name their fields, without any I/O.

A *unit* is what one side says at once: the greeting, a one-byte result,
the name registration, or one frame. The broker's stream and the client's
stream are split by different rules (6-byte vs 9-byte headers, different
handshakes), so each direction has its own `Splitter`. Field names are the
ones of the protocol reference (`elbus_spec.schema`); they label the trace files and every mismatch the
runner reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from elbus_spec import BROKER_NAME, NOP_FRAME, PING_FRAME, Code, Kind, Op, RpcType, codec

__all__ = ["Side", "Stage", "Field", "Splitter", "dissect", "is_keepalive", "FrameTooLong"]

_BROKER_HEADER = codec.SERVER_HEADER_SIZE
_CLIENT_HEADER = codec.CLIENT_HEADER_SIZE
# A frame announcing more than this is reported, not buffered: the runner must not be made to allocate 4 GiB.
MAX_UNIT = 16 * 1024 * 1024


class FrameTooLong(ValueError):
    """A frame header announced a body longer than the splitter accepts."""


class Side(Enum):
    """Who writes the stream: the broker (to a client) or a client (to the broker)."""

    BROKER = "broker"
    CLIENT = "client"


class Stage(Enum):
    """Where a stream is: each stage has its own unit layout."""

    GREETING = "greeting"
    HANDSHAKE_RESULT = "handshake result"
    NAME = "name"
    REGISTRATION_RESULT = "registration result"
    FRAMES = "frames"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Field:
    """One named field of a unit; ``text`` marks a field best shown as a string."""

    name: str
    data: bytes
    text: bool = False


def is_keepalive(side: Side, stage: Stage, unit: bytes) -> bool:
    """True for the broker's keep-alive NOP and for a client ping: traces skip both wherever they fall."""
    if stage is not Stage.FRAMES:
        return False
    if side is Side.BROKER:
        return unit == NOP_FRAME
    return len(unit) == _CLIENT_HEADER and unit[4] == 0


class Splitter:
    """Cut one direction of a connection into units as bytes arrive.

    `feed` appends bytes; `next_unit` returns ``(stage, unit)`` for the next
    complete unit or None when more bytes are needed. The stage advances the
    way the protocol does: a result other than ``01`` moves the broker's
    stream to REFUSED, where whatever follows is one trailing unit.
    Raises `FrameTooLong` for a header announcing more than ``max_unit`` bytes.
    """

    def __init__(self, side: Side, *, max_unit: int = MAX_UNIT) -> None:
        self.side = side
        self.stage = Stage.GREETING
        self.max_unit = max_unit
        self._buf = bytearray()

    @property
    def buffered(self) -> bytes:
        """Bytes received but not yet part of a complete unit."""
        return bytes(self._buf)

    def take(self, size: int) -> bytes:
        """Remove and return the first ``size`` buffered bytes, whatever units they make; the stage stays."""
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def take_rest(self) -> bytes:
        """Remove and return the bytes that do not make a complete unit (a frame cut short)."""
        return self.take(len(self._buf))

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_unit(self) -> tuple[Stage, bytes] | None:
        size = self._unit_size()
        if size is None or len(self._buf) < size:
            return None
        stage = self.stage
        unit = bytes(self._buf[:size])
        del self._buf[:size]
        self.stage = self._after(stage, unit)
        return stage, unit

    def _unit_size(self) -> int | None:
        buf, stage = self._buf, self.stage
        if not buf:
            return None
        if stage is Stage.GREETING:
            return 3
        if stage in (Stage.HANDSHAKE_RESULT, Stage.REGISTRATION_RESULT):
            return 1
        if stage is Stage.NAME:
            return codec.size_of_registration(buf)
        if stage is Stage.REFUSED:
            return len(buf)
        if self.side is Side.BROKER:
            if len(buf) < _BROKER_HEADER:
                return None
            if buf[0] in (Kind.NOP, Kind.ACK):
                return _BROKER_HEADER
            return self._checked(_BROKER_HEADER, codec.SERVER_HEADER.unpack_from(buf)[1])
        if len(buf) < _CLIENT_HEADER:
            return None
        if buf[4] == 0:  # a ping: the other 8 header bytes are ignored, no body follows
            return _CLIENT_HEADER
        return self._checked(_CLIENT_HEADER, codec.CLIENT_HEADER.unpack_from(buf)[2])

    def _checked(self, header: int, length: int) -> int:
        if length > self.max_unit:
            raise FrameTooLong(f"frame announces {length} bytes, more than {self.max_unit}")
        return header + length

    def _after(self, stage: Stage, unit: bytes) -> Stage:
        if self.side is Side.BROKER:
            if stage is Stage.GREETING:
                return Stage.HANDSHAKE_RESULT
            if stage is Stage.HANDSHAKE_RESULT:
                return Stage.REGISTRATION_RESULT if unit[0] == Code.OK else Stage.REFUSED
            if stage is Stage.REGISTRATION_RESULT:
                return Stage.FRAMES if unit[0] == Code.OK else Stage.REFUSED
            return stage
        if stage is Stage.GREETING:
            return Stage.NAME if unit == codec.PROTOCOL_GREETING else Stage.REFUSED
        if stage is Stage.NAME:
            return Stage.FRAMES
        return stage


# --- naming the fields of one unit -------------------------------------------------


def _printable(data: bytes) -> bool:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return bool(text) and text.isprintable()


def _word(name: str, data: bytes) -> list[Field]:
    """A name, topic or payload field; empty fields are left out (there is nothing to show)."""
    return [Field(name, data, _printable(data))] if data else []


def _nul_split(body: bytes, names: list[str]) -> list[Field]:
    """Body parts separated by NUL, named in order; the last name takes the rest, NULs and all."""
    fields: list[Field] = []
    rest = body
    for name in names[:-1]:
        head, nul, rest = rest.partition(b"\x00")
        fields += _word(name, head)
        if not nul:
            return fields
        fields.append(Field("nul", nul))
    return fields + _word(names[-1], rest)


def _rpc(payload: bytes) -> list[Field]:
    """The RPC fields of a payload to or from the broker's core service."""
    kind = payload[:1]
    if kind == bytes([RpcType.NOTIFICATION]):
        return [Field("rpc type", kind), *_word("rpc data", payload[1:])]
    if len(payload) < 5 or kind[0] not in (RpcType.REQUEST, RpcType.REPLY, RpcType.ERROR):
        return _word("payload", payload)
    fields = [Field("rpc type", kind), Field("rpc call id", payload[1:5])]
    if kind[0] == RpcType.REQUEST:
        return fields + _nul_split(payload[5:], ["rpc method", "rpc params"])
    if kind[0] == RpcType.REPLY:
        return fields + _word("rpc result", payload[5:])
    return [*fields, Field("rpc error code", payload[5:7]), *_word("rpc error message", payload[7:])]


def _payload_fields(fields: list[Field], peer: str | None) -> list[Field]:
    """Split the payload field into RPC fields when the peer is the broker's core service."""
    if peer != BROKER_NAME or not fields or fields[-1].name != "payload":
        return fields
    return fields[:-1] + _rpc(fields[-1].data)


def _peer(fields: list[Field]) -> str | None:
    for field in fields:
        if field.name in ("target", "sender"):
            return field.data.decode(errors="replace")
    return None


_CLIENT_BODIES: dict[int, list[str]] = {  # keyed by the op byte, as read off the wire
    Op.MESSAGE: ["target", "payload"],
    Op.BROADCAST: ["mask", "payload"],
    Op.PUBLISH: ["topic", "payload"],
    Op.PUBLISH_FOR: ["topic", "receiver", "payload"],
}
_TOPIC_OPS = (Op.SUBSCRIBE, Op.UNSUBSCRIBE, Op.EXCLUDE, Op.UNEXCLUDE)
_BROKER_BODIES: dict[int, list[str]] = {  # keyed by the kind byte
    Kind.MESSAGE: ["sender", "payload"],
    Kind.BROADCAST: ["sender", "payload"],
    Kind.PUBLISH: ["sender", "topic", "payload"],
}


def _client_frame(unit: bytes) -> list[Field]:
    if len(unit) < _CLIENT_HEADER:
        return [Field("partial header", unit)]
    header = [Field("op id", unit[:4]), Field("flags", unit[4:5]), Field("length", unit[5:9])]
    if unit[4] == 0:
        return [Field("ping", unit)] if unit == PING_FRAME else header
    body, op = unit[9:], unit[4] & 0x3F
    if op in _TOPIC_OPS:
        names = ["topic"] * (body.count(b"\x00") + 1)
        return header + _nul_split(body, names)
    if op in _CLIENT_BODIES:
        fields = _nul_split(body, _CLIENT_BODIES[op])
        return header + _payload_fields(fields, _peer(fields))
    return [*header, *_word("body", body)]


def _broker_frame(unit: bytes) -> list[Field]:
    if len(unit) < _BROKER_HEADER:
        return [Field("partial header", unit)]
    if unit[0] == Kind.NOP:
        return [Field("nop", unit)]
    if unit[0] == Kind.ACK:
        return [Field("kind", unit[:1]), Field("op id", unit[1:5]), Field("code", unit[5:6])]
    header = [Field("kind", unit[:1]), Field("length", unit[1:5]), Field("realtime", unit[5:6])]
    names = _BROKER_BODIES.get(unit[0])
    if names is None:
        return [*header, *_word("body", unit[6:])]
    fields = _nul_split(unit[6:], names)
    return header + _payload_fields(fields, _peer(fields))


def dissect(side: Side, stage: Stage, unit: bytes) -> list[Field]:
    """The named fields of ``unit`` (as cut by a `Splitter` at ``stage``); their data joins back to ``unit``."""
    if stage is Stage.GREETING:
        return [Field("greeting", unit[:1]), Field("version", unit[1:3])]
    if stage in (Stage.HANDSHAKE_RESULT, Stage.REGISTRATION_RESULT):
        return [Field(stage.value, unit)]
    if stage is Stage.NAME:
        return [Field("name length", unit[:2]), *_word("name", unit[2:])]
    if stage is Stage.REFUSED:
        return [Field("trailing bytes", unit)]
    return _broker_frame(unit) if side is Side.BROKER else _client_frame(unit)
