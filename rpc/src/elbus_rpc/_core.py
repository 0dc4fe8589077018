"""The RPC logic without any I/O: call ids, pending calls, reply matching, reply payloads.

`RpcCore` is what both the asyncio `Rpc` and the blocking `SyncRpc` run on:
they only move payloads through their client and wait. Payloads are parsed
and built with `elbus_spec`'s RPC codec; parameters and results use
MessagePack by convention.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgpack

from elbus_spec import (
    BrokerError,
    Code,
    ElbusError,
    LocalProtocolError,
    RpcError,
    RpcErrorCode,
    RpcErrorReply,
    RpcEvent,
    RpcReply,
    RpcTimeout,
    encode_notification,
    encode_reply,
    encode_request,
    parse_rpc,
)
from elbus_spec.rpc import error_payload

__all__ = [
    "RpcCore",
    "MAX_CALL_ID",
    "encode_params",
    "decode_params",
    "decode_notification",
    "encode_result",
    "decode_result",
    "error_payload",
    "RpcTimeout",
    "transport_error",
    "timeout_error",
    "settle",
    "fail_call",
]

MAX_CALL_ID = 0xFFFF_FFFF

W = TypeVar("W")


def encode_params(params: Any) -> bytes | bytearray | memoryview:
    """Call parameters on the wire: bytes-like as they are, None as nothing, anything else as MessagePack.

    Raises TypeError for values MessagePack cannot encode.
    """
    if params is None:
        return b""
    if isinstance(params, bytes | bytearray | memoryview):
        return params
    return msgpack.packb(params)  # type: ignore[no-any-return]


def _unpack(data: bytes, what_is: str) -> Any:
    """MessagePack as `encode_params` writes it: nothing gives None; RpcError(-32700) when it is not MessagePack."""
    if not data:
        return None
    try:
        return msgpack.unpackb(data, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise RpcError(RpcErrorCode.PARSE, f"{what_is} not MessagePack: {exc}") from None


def decode_params(params: bytes) -> Any:
    """Received parameters: nothing gives None; otherwise MessagePack, or RpcError(-32700) when it is not."""
    return _unpack(params, "parameters are")


def decode_notification(data: bytes) -> Any:
    """A notification's data, as `Rpc.notify` encoded it: nothing gives None; otherwise MessagePack,
    or RpcError(-32700) when it is not (bytes sent as they are)."""
    return _unpack(data, "the notification is")


encode_result = encode_params


def decode_result(result: bytes, raw: bool = False) -> Any:
    """A reply's result: the bytes when ``raw``, None when empty, else decoded MessagePack.

    Raises RpcError(-32700) when a non-raw result is not MessagePack.
    """
    return result if raw else _unpack(result, "result is")


def transport_error(exc: ElbusError) -> RpcError:
    """A transport failure as the caller sees it: ``-32000 - broker code`` (an unreachable target is
    -32113, a broker timeout an `RpcTimeout`); a lost or closed connection counts as an I/O error (-32115)."""
    if isinstance(exc, RpcError):
        return exc
    code = exc.code if isinstance(exc, BrokerError) else Code.IO
    return (RpcTimeout if code == Code.TIMEOUT else RpcError)(-32000 - code, str(exc))


def timeout_error(target: str, method: str) -> RpcTimeout:
    """No reply in time: -32120 (``-32000 - ERR_TIMEOUT``)."""
    return RpcTimeout(-32000 - Code.TIMEOUT, f"no reply from {target!r} to {method!r} in time")


class RpcCore(Generic[W]):
    """Call ids and the calls awaiting a reply, each with a waiter of the caller's choosing.

    Call ids count from 1 to 0xFFFFFFFF, then wrap to 1, skipping ids still
    pending (0 is reserved for calls that want no reply).
    """

    __slots__ = ("_last_id", "_pending")

    def __init__(self) -> None:
        self._last_id = 0
        self._pending: dict[int, W] = {}

    @property
    def pending(self) -> int:
        """The number of calls awaiting a reply."""
        return len(self._pending)

    def _next_id(self) -> int:
        if len(self._pending) >= MAX_CALL_ID:
            raise LocalProtocolError("every call id is in use")
        call_id = self._last_id
        while True:
            call_id = call_id + 1 if call_id < MAX_CALL_ID else 1
            if call_id not in self._pending:
                self._last_id = call_id
                return call_id

    def start_call(self, method: str, params: bytes | bytearray | memoryview, waiter: W) -> tuple[int, bytes]:
        """Register ``waiter`` under a new call id; returns ``(call_id, request payload)``.

        Raises LocalProtocolError for a method name containing NUL.
        """
        call_id = self._next_id()
        payload = encode_request(call_id, method, params)
        self._pending[call_id] = waiter
        return call_id, payload

    def forget(self, call_id: int) -> W | None:
        """Stop waiting for ``call_id`` (timeout, cancellation, send failure); returns its waiter."""
        return self._pending.pop(call_id, None)

    def forget_all(self) -> list[W]:
        """Every pending waiter, forgotten (the connection is gone)."""
        waiters = list(self._pending.values())
        self._pending.clear()
        return waiters

    @staticmethod
    def request0(method: str, params: bytes | bytearray | memoryview) -> bytes:
        """A request that wants no reply (call id 0)."""
        return encode_request(0, method, params)

    @staticmethod
    def notification(data: bytes | bytearray | memoryview) -> bytes:
        return encode_notification(data)

    @staticmethod
    def reply(call_id: int, result: bytes | bytearray | memoryview) -> bytes:
        return encode_reply(call_id, result)

    def receive(self, payload: bytes) -> tuple[RpcEvent, W | None]:
        """Parse a MESSAGE payload; for a reply or an error reply, also pop the waiting call's waiter
        (None for a reply nobody waits for any more). Raises RemoteProtocolError if it is not RPC."""
        event = parse_rpc(payload)
        if isinstance(event, RpcReply | RpcErrorReply):
            return event, self._pending.pop(event.call_id, None)
        return event, None


def settle(waiter: Any, event: RpcEvent) -> None:
    """Resolve a caller's future (asyncio or concurrent) with a reply's result or an error reply's `RpcError`.

    A waiter that is gone (None) or already done (timed out, cancelled) is left alone.
    """
    if waiter is None or waiter.done():
        return
    if isinstance(event, RpcReply):
        waiter.set_result(event.result)
    elif isinstance(event, RpcErrorReply):
        waiter.set_exception(RpcError(event.code, event.message))


def fail_call(waiter: Any, error: BaseException) -> None:
    """Fail a caller's waiter (asyncio or `SyncRpc`'s) because its request was not delivered: an
    `ElbusError` as the caller sees a transport failure. A waiter already settled is left alone."""
    if not waiter.done():
        waiter.set_exception(transport_error(error) if isinstance(error, ElbusError) else error)
