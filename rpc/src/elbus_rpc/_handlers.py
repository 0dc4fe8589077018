"""What handlers receive, and how method names find them (decorator registry or handler object)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elbus_spec import Frame, QoS, RpcError, RpcErrorCode, RpcNotification, RpcRequest, primary_name

from ._core import RpcCore, decode_notification, decode_params, encode_result, error_payload

log = logging.getLogger("elbus_rpc")

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "CallEvent",
    "NotificationEvent",
    "Handler",
    "Methods",
    "Serving",
    "call_event",
    "notification_event",
    "raw",
    "reply_lost",
]

Handler = Callable[[Any, "CallEvent"], Any]

# Calls (and callbacks) being served at once, per RPC layer, before it stops reading from its client.
DEFAULT_MAX_CONCURRENT = 1000


@dataclass(frozen=True, slots=True)
class CallEvent:
    """An incoming call, as its handler sees it: who called, which method, the raw parameters."""

    sender: str
    method: str
    params: bytes
    call_id: int
    realtime: bool

    @property
    def primary_sender(self) -> str:
        return primary_name(self.sender)

    @property
    def wants_reply(self) -> bool:
        return self.call_id != 0

    @property
    def reply_qos(self) -> QoS:
        """Replies go unacknowledged, realtime when the request came realtime.

        An ack would tell the responder only whether the caller was still
        there, which it cannot act on (the caller learns of a lost reply by
        its timeout), and it would cost the responder a wake-up per call:
        sequential calls between processes without busy polling went from
        8.3k to 9.7k a second without it. A blocking responder must not wait
        for its own acks either (see `SyncRpc`).
        """
        return QoS.REALTIME if self.realtime else QoS.NO


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """An RPC notification: no reply. ``payload`` is its bytes as received; `data` decodes them."""

    sender: str
    payload: bytes
    realtime: bool

    @property
    def primary_sender(self) -> str:
        return primary_name(self.sender)

    @property
    def data(self) -> Any:
        """The data decoded the way ``notify`` encoded it: MessagePack, None when empty.

        Raises `RpcError` (-32700) when the payload is not MessagePack: bytes
        given to ``notify`` go as they are, so read them from ``payload``.
        Decoded on each access, so a notification nobody reads costs nothing.
        """
        return decode_notification(self.payload)


def call_event(frame: Frame, request: RpcRequest) -> CallEvent:
    return CallEvent(frame.sender, request.method, request.params, request.call_id, frame.realtime)


def notification_event(frame: Frame, note: RpcNotification) -> NotificationEvent:
    return NotificationEvent(frame.sender, note.data, frame.realtime)


def reply_lost(call: CallEvent, error: BaseException) -> None:
    """Log a reply that could not be sent (the connection dropped, the frame was refused): nobody else can."""
    log.info("the reply to %s for %s was not sent: %s", call.sender, call.method, error)


class Methods:
    """Method name -> handler: decorated functions first, then the handler object's attributes, then the fallback.

    A handler object serves method ``"a.b"`` with its attribute ``a_b`` (dots
    become underscores; names starting with ``_`` are never served). The
    fallback, when set, serves every other name (``event.method`` says which).
    """

    def __init__(self) -> None:
        self._methods: dict[str, tuple[Handler, bool]] = {}
        self.handler: object | None = None
        self.fallback: Handler | None = None

    def register(self, name: str, func: Handler, raw: bool) -> None:
        self._methods[name] = (func, raw)

    def find(self, name: str) -> tuple[Handler, bool] | None:
        found = self._methods.get(name)
        if found is not None:
            return found
        attr = name.replace(".", "_")
        if self.handler is not None and attr and not attr.startswith("_"):
            func = getattr(self.handler, attr, None)
            if callable(func):
                return func, getattr(func, "elbus_rpc_raw", False)
        if self.fallback is not None:
            return self.fallback, getattr(self.fallback, "elbus_rpc_raw", False)
        return None

    def prepare(self, event: CallEvent) -> tuple[Handler, bool, Any] | bytes:
        """The handler and its decoded parameters, or the error reply to send instead
        (-32601 for an unknown method, -32700 for parameters that are not MessagePack)."""
        found = self.find(event.method)
        if found is None:
            return error_payload(event.call_id, RpcError(RpcErrorCode.METHOD_NOT_FOUND, f"method not found: {event.method}"))
        func, raw = found
        try:
            return func, raw, (event.params if raw else decode_params(event.params))
        except RpcError as exc:
            return error_payload(event.call_id, exc)

    @staticmethod
    def result_payload(event: CallEvent, result: Any, raw: bool) -> bytes:
        """The reply to send for a handler's return value (an error reply when it cannot be encoded)."""
        try:
            if raw and not isinstance(result, bytes | bytearray | memoryview | None):
                raise TypeError(f"a raw method must return bytes, not {type(result).__name__}")
            return RpcCore.reply(event.call_id, encode_result(result))
        except Exception as exc:
            return error_payload(event.call_id, exc)


def raw(func: Handler) -> Handler:
    """Mark a handler object's method as raw: it gets the parameter bytes and returns bytes."""
    func.elbus_rpc_raw = True  # type: ignore[attr-defined]
    return func


class Serving:
    """How methods are registered, the same on `Rpc` and `SyncRpc`."""

    _methods: Methods

    def method(self, name: str | None = None, *, raw: bool = False) -> Callable[[Handler], Handler]:
        """Decorator: serve ``name`` (default: the function's name) with ``func(params, event)``.

        ``params`` is the decoded MessagePack (None when empty) and the return value is encoded
        back; with ``raw=True`` both stay bytes. On `Rpc` the function may be a coroutine function.
        """

        def register(func: Handler) -> Handler:
            self._methods.register(name or func.__name__, func, raw)
            return func

        return register

    @property
    def handler(self) -> object | None:
        """An object serving the methods not registered by decorator: ``"a.b"`` calls ``obj.a_b(params, event)``."""
        return self._methods.handler

    @handler.setter
    def handler(self, obj: object | None) -> None:
        self._methods.handler = obj

    @property
    def fallback(self) -> Handler | None:
        """Serves every method nothing else serves, instead of the -32601 reply: ``func(params, event)``.

        ``event.method`` names the method; mark the function with `elbus_rpc.raw` to get the parameter
        bytes and return bytes. A proxy, a logger of every call, or a service with its own error rules
        use it.
        """
        return self._methods.fallback

    @fallback.setter
    def fallback(self, func: Handler | None) -> None:
        self._methods.fallback = func
