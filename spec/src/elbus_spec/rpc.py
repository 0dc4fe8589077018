"""The RPC layer's payloads, without any I/O: typed events and their encoders.

An RPC payload rides inside a MESSAGE; its first byte says what it is. The
caller and handler logic (call ids, waiting, dispatch) lives in the rpc
package; this module only turns payloads into events and back.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _codec as codec
from .constants import RpcErrorCode, RpcType
from .errors import RemoteProtocolError, RpcError

__all__ = [
    "RpcEvent",
    "RpcNotification",
    "RpcRequest",
    "RpcReply",
    "RpcErrorReply",
    "parse_rpc",
    "encode_notification",
    "encode_request",
    "encode_reply",
    "encode_error",
    "error_payload",
]

encode_notification = codec.encode_rpc_notification
encode_request = codec.encode_rpc_request
encode_reply = codec.encode_rpc_reply
encode_error = codec.encode_rpc_error

_I16 = range(-0x8000, 0x8000)


class RpcEvent:
    """Base of the RPC payload events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RpcNotification(RpcEvent):
    """A notification: data, no reply."""

    data: bytes


@dataclass(frozen=True, slots=True)
class RpcRequest(RpcEvent):
    """A call of ``method``; ``call_id`` 0 means no reply is wanted."""

    call_id: int
    method: str
    params: bytes


@dataclass(frozen=True, slots=True)
class RpcReply(RpcEvent):
    """A successful reply to call ``call_id``."""

    call_id: int
    result: bytes


@dataclass(frozen=True, slots=True)
class RpcErrorReply(RpcEvent):
    """An error reply to call ``call_id``."""

    call_id: int
    code: int
    message: bytes


def parse_rpc(payload: bytes | bytearray) -> RpcEvent:
    """The RPC event in a MESSAGE payload; raises RemoteProtocolError if it is not one."""
    if not payload:
        raise RemoteProtocolError("rpc: empty payload")
    kind = payload[0]
    if kind == RpcType.REQUEST:
        return RpcRequest(*codec.decode_rpc_request(payload))
    if kind == RpcType.REPLY:
        return RpcReply(*codec.decode_rpc_reply(payload))
    if kind == RpcType.ERROR:
        return RpcErrorReply(*codec.decode_rpc_error(payload))
    if kind == RpcType.NOTIFICATION:
        return RpcNotification(*codec.decode_rpc_notification(payload))
    raise RemoteProtocolError(f"rpc: unknown frame type 0x{kind:02x}")


def error_payload(call_id: int, exc: BaseException) -> bytes:
    """The error reply for a handler's exception: an RpcError keeps its code and message bytes
    (``data``, so a forwarded error reply goes on unchanged), anything else is -32603."""
    if isinstance(exc, RpcError) and exc.code in _I16:
        return encode_error(call_id, exc.code, exc.data)
    return encode_error(call_id, RpcErrorCode.INTERNAL, (str(exc) or type(exc).__name__).encode("utf-8", "replace"))
