"""The declarative wire specification: the single source of truth.

Every structure that crosses the wire is declared here with construct and
nothing else. The runtime never parses with these objects (construct is
slow and, compiled, skips checks on untrusted input); instead
`elbus_spec.codegen` walks them and writes the plain-``struct`` codec in
`elbus_spec._codec`, the property tests prove the two agree, and the
protocol reference in the docs is rendered from the same objects.

Each field carries its meaning as construct docs (``"name" / Type * "doc"``).
"""

from __future__ import annotations

from typing import Any

from construct import (
    Adapter,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Construct,
    CString,
    GreedyBytes,
    IfThenElse,
    Int8ul,
    Int16sl,
    Int16ul,
    Int32ul,
    PascalString,
    Prefixed,
    Rebuild,
    Struct,
    Switch,
    this,
)

from .constants import Kind, Op, RpcType

__all__ = [
    "NulJoined",
    "FLAGS",
    "GREETING",
    "RESULT",
    "REGISTRATION",
    "CLIENT_HEADER",
    "ADDRESSED_BODY",
    "TOPICS_BODY",
    "PUBLISH_FOR_BODY",
    "SERVER_HEADER",
    "SENDER_BODY",
    "PUBLICATION_BODY",
    "ACK",
    "NOP",
    "RPC_NOTIFICATION",
    "RPC_REQUEST",
    "RPC_REPLY",
    "RPC_ERROR",
    "STRUCTS",
    "CLIENT_FRAMES",
    "SERVER_FRAMES",
    "CLIENT_FRAME",
    "SERVER_FRAME",
]


class NulJoined(Adapter):  # type: ignore[misc]
    """UTF-8 strings joined by NUL, without a trailing NUL (the topic list)."""

    def __init__(self) -> None:
        super().__init__(GreedyBytes)

    def _decode(self, obj: bytes, context: Any, path: Any) -> list[str]:
        return [part.decode("utf-8") for part in obj.split(b"\x00")]

    def _encode(self, obj: list[str], context: Any, path: Any) -> bytes:
        return b"\x00".join(part.encode("utf-8") for part in obj)


# --- handshake --------------------------------------------------------------

GREETING = Struct(
    "magic" / Const(b"\xeb") * "greeting byte 0xEB",
    "version" / Int16ul * "protocol version, 1",
)
"""Sent by the broker on connect and echoed back by the client."""

RESULT = Struct("code" / Int8ul * "result code (0x01 OK, else an error code)")
"""One byte: the broker's answer to the greeting echo and to the registration."""

REGISTRATION = Struct("name" / PascalString(Int16ul, "utf8") * "client name, u16 length then UTF-8 bytes")
"""The client's name, sent after a successful greeting exchange."""

# --- client -> broker -------------------------------------------------------

FLAGS = BitStruct(
    "qos" / BitsInteger(2) * "QoS: bit 0 asks for an ack, bit 1 is realtime",
    "op" / BitsInteger(6) * "operation code",
)
"""One byte: QoS in the high 2 bits, the operation in the low 6 (a whole byte of 0 is a ping)."""

CLIENT_HEADER = Struct(
    "op_id" / Int32ul * "operation id chosen by the client, echoed in the ack",
    "flags" / FLAGS * "QoS (high 2 bits) and operation (low 6 bits); 0 is a ping",
    "length" / Int32ul * "body length in bytes (ignored for a ping)",
)
"""The 9-byte header of every client frame."""

ADDRESSED_BODY = Struct(
    "target" / CString("utf8") * "client name, broadcast mask or topic",
    "payload" / GreedyBytes * "opaque payload, may be empty",
)
"""Body of MESSAGE, BROADCAST and PUBLISH."""

TOPICS_BODY = Struct("topics" / NulJoined() * "one or more topics joined by NUL, no trailing NUL")
"""Body of SUBSCRIBE, UNSUBSCRIBE, EXCLUDE and UNEXCLUDE."""

PUBLISH_FOR_BODY = Struct(
    "topic" / CString("utf8") * "topic",
    "receiver" / CString("utf8") * "primary name of the only subscribers that get it",
    "payload" / GreedyBytes * "opaque payload",
)
"""Body of PUBLISH_FOR (a BUS/RT extension)."""

# --- broker -> client -------------------------------------------------------

SERVER_HEADER = Struct(
    "kind" / Int8ul * "frame kind",
    "length" / Int32ul * "body length in bytes",
    "realtime" / Int8ul * "1 if the frame was sent realtime, else 0",
)
"""The 6-byte header of a delivered MESSAGE, BROADCAST or PUBLISH frame."""

SENDER_BODY = Struct(
    "sender" / CString("utf8") * "name of the sending client",
    "payload" / GreedyBytes * "opaque payload",
)
"""Body of a delivered MESSAGE or BROADCAST (the mask is not included)."""

PUBLICATION_BODY = Struct(
    "sender" / CString("utf8") * "name of the publishing client",
    "topic" / CString("utf8") * "topic it was published to",
    "payload" / GreedyBytes * "opaque payload",
)
"""Body of a delivered publication."""

ACK = Struct(
    "kind" / Const(b"\xfe") * "frame kind 0xFE",
    "op_id" / Int32ul * "operation id of the acknowledged frame",
    "code" / Int8ul * "result code",
)
"""The broker's acknowledgement of a frame sent with QoS bit 0 set."""

NOP = Struct("nop" / Const(b"\x00" * 6) * "six zero bytes")
"""The broker's keep-alive, sent every timeout."""

# --- RPC payloads (inside MESSAGE payloads) ---------------------------------

RPC_NOTIFICATION = Struct(
    "type" / Const(b"\x00") * "RPC frame type 0x00",
    "data" / GreedyBytes * "notification data",
)
"""An RPC notification: data for the receiver, no reply."""
RPC_REQUEST = Struct(
    "type" / Const(b"\x01") * "RPC frame type 0x01",
    "call_id" / Int32ul * "call id; 0 means no reply wanted (call0)",
    "method" / CString("utf8") * "method name",
    "params" / GreedyBytes * "parameters, MessagePack by convention",
)
"""An RPC call; the receiver answers with a reply or an error unless the call id is 0."""
RPC_REPLY = Struct(
    "type" / Const(b"\x11") * "RPC frame type 0x11",
    "call_id" / Int32ul * "call id of the request",
    "result" / GreedyBytes * "result, MessagePack by convention",
)
"""A successful RPC reply."""
RPC_ERROR = Struct(
    "type" / Const(b"\x12") * "RPC frame type 0x12",
    "call_id" / Int32ul * "call id of the request",
    "code" / Int16sl * "JSON-RPC error code",
    "message" / GreedyBytes * "error message",
)
"""An RPC error reply with a JSON-RPC error code."""

# Every flat structure, by the name the generated codec uses for it.
STRUCTS: dict[str, Construct] = {
    "greeting": GREETING,
    "result": RESULT,
    "registration": REGISTRATION,
    "client_header": CLIENT_HEADER,
    "addressed_body": ADDRESSED_BODY,
    "topics_body": TOPICS_BODY,
    "publish_for_body": PUBLISH_FOR_BODY,
    "server_header": SERVER_HEADER,
    "sender_body": SENDER_BODY,
    "publication_body": PUBLICATION_BODY,
    "ack": ACK,
    "nop": NOP,
    "rpc_notification": RPC_NOTIFICATION,
    "rpc_request": RPC_REQUEST,
    "rpc_reply": RPC_REPLY,
    "rpc_error": RPC_ERROR,
}

# Whole client frames: header + body, by op. The codec gets one encoder each.
CLIENT_FRAMES: dict[str, tuple[Op, Construct]] = {
    "message": (Op.MESSAGE, ADDRESSED_BODY),
    "broadcast": (Op.BROADCAST, ADDRESSED_BODY),
    "publish": (Op.PUBLISH, ADDRESSED_BODY),
    "subscribe": (Op.SUBSCRIBE, TOPICS_BODY),
    "unsubscribe": (Op.UNSUBSCRIBE, TOPICS_BODY),
    "exclude": (Op.EXCLUDE, TOPICS_BODY),
    "unexclude": (Op.UNEXCLUDE, TOPICS_BODY),
    "publish_for": (Op.PUBLISH_FOR, PUBLISH_FOR_BODY),
}

# Whole broker frames: header + body, by kind.
SERVER_FRAMES: dict[str, tuple[Kind, Construct]] = {
    "message": (Kind.MESSAGE, SENDER_BODY),
    "broadcast": (Kind.BROADCAST, SENDER_BODY),
    "publication": (Kind.PUBLISH, PUBLICATION_BODY),
}

RPC_TYPES: dict[RpcType, Construct] = {
    RpcType.NOTIFICATION: RPC_NOTIFICATION,
    RpcType.REQUEST: RPC_REQUEST,
    RpcType.REPLY: RPC_REPLY,
    RpcType.ERROR: RPC_ERROR,
}

# The complete client frame as one construct: the oracle for whole-frame
# encoders. A FLAGS byte of 0 is a ping whose length field is ignored.
CLIENT_FRAME = Struct(
    "op_id" / Int32ul,
    "flags" / FLAGS,
    "body"
    / IfThenElse(
        lambda ctx: ctx.flags.qos == 0 and ctx.flags.op == 0,
        Bytes(4),
        Prefixed(Int32ul, Switch(this.flags.op, {int(op): body for op, body in CLIENT_FRAMES.values()})),
    ),
)

SERVER_FRAME = Struct(
    "kind" / Int8ul,
    "body"
    / Switch(
        this.kind,
        {
            int(Kind.NOP): Const(b"\x00" * 5),
            int(Kind.ACK): Struct("op_id" / Int32ul, "code" / Int8ul),
        },
        default=Struct(
            "length" / Rebuild(Int32ul, lambda ctx: len(ctx.data)),
            "realtime" / Int8ul,
            "data" / Bytes(this.length),
        ),
    ),
)
