"""RPC over the blocking client (elbus_client): calls block, handlers run in a bounded thread pool."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from elbus_spec import (
    DEFAULT_TIMEOUT,
    ElbusError,
    Frame,
    Kind,
    QoS,
    RemoteProtocolError,
    RpcError,
    RpcErrorReply,
    RpcNotification,
    RpcReply,
    RpcRequest,
)

from ._core import (
    RpcCore,
    decode_result,
    encode_params,
    error_payload,
    fail_call,
    settle,
    timeout_error,
    transport_error,
)
from ._handlers import (
    DEFAULT_MAX_CONCURRENT,
    CallEvent,
    Methods,
    NotificationEvent,
    Serving,
    call_event,
    notification_event,
    reply_lost,
)
from ._throttle import ThrottledWarning

__all__ = ["SyncRpc", "SyncClient"]

log = logging.getLogger("elbus_rpc")

# How often a blocked call looks whether the client's connection ended.
_CLOSED_POLL = 0.05


class _Reply:
    """A call's outcome: set once by the client's reader thread, awaited by the calling thread.

    A bare lock, released when it is set. A `concurrent.futures.Future` would do
    the same job through a Condition, whose woken waiter must take the
    condition's lock again, often while the reader thread still holds it: one
    more sleep and wake-up on every call, a good part of a round trip.
    """

    __slots__ = ("_done", "_error", "_lock", "_result")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._done = False
        self._result = b""
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._done

    def set_result(self, result: bytes) -> None:
        self._result = result
        self._done = True
        self._lock.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done = True
        self._lock.release()

    def wait(self, timeout: float) -> bool:
        """Block until set or for ``timeout`` seconds; True once set."""
        return self._done or self._lock.acquire(timeout=timeout)

    def result(self) -> bytes:
        if self._error is not None:
            raise self._error
        return self._result


def _ack_error(ack: Any) -> ElbusError | None:
    """The failure of a done ack (elbus_client's `Pending`), None when it was OK."""
    try:
        ack.wait(0)
    except ElbusError as exc:
        return exc
    return None


def _fail_on_nack(waiter: _Reply, ack: Any) -> None:
    """A request's ack callback (on the reader thread, as replies): a failed send fails the call."""
    exc = _ack_error(ack)
    if exc is not None:
        fail_call(waiter, exc)


class SyncClient(Protocol):
    """What `SyncRpc` needs from a client."""

    on_frame: Any

    def send(self, target: str, payload: Any = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None: ...


class SyncRpc(Serving):
    """The RPC layer on the blocking client; the same surface as `Rpc`, blocking.

    It takes over ``client.on_frame`` (called on the client's reader thread);
    incoming calls are handed to a pool of ``workers`` threads, so a slow
    handler never stalls the reader. Replies are matched on the reader thread.
    `close` (or leaving ``with``) waits for running handlers and stops the pool.

    At most ``max_concurrent`` calls are handed over and not yet answered
    (running, or queued for a worker). When that many are, the reader thread
    waits for one to finish before it takes the next: the client stops
    reading, further frames wait in the broker, whose slow-consumer rule then
    applies, and nothing piles up here. While it waits no reply is read
    either: a handler that calls through the same client may wait for its
    reply until other handlers finish. Replies go unacknowledged (realtime
    when the request was), so that writing them never waits for the reader.

    ``workers=0`` serves calls on the reader thread itself, which spares the
    hand-over to a pool thread (on a 2-core machine a sequential round trip
    then takes about 100 µs instead of 150-300 µs). Only for handlers that
    return quickly and never wait on the same client: while a handler runs,
    nothing else from the broker is read, so a handler that calls through
    this client would wait for a reply that cannot arrive (until its timeout).
    """

    def __init__(
        self,
        client: SyncClient,
        *,
        timeout: float | None = None,
        workers: int = 8,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 (serve on the reader thread) or more")
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be positive")
        self.client = client
        self.timeout = timeout if timeout is not None else getattr(client, "timeout", DEFAULT_TIMEOUT)
        self.on_frame: Callable[[Frame], Any] | None = None
        self.on_notification: Callable[[NotificationEvent], Any] | None = None
        self._core: RpcCore[_Reply] = RpcCore()
        self._lock = threading.Lock()
        self._methods = Methods()
        self._not_rpc = ThrottledWarning(log)
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="elbus-rpc") if workers else None
        )
        self._closed = False
        self.max_concurrent = max_concurrent
        self._in_flight = 0  # calls handed to the pool and not done: at most max_concurrent
        self._room = threading.Condition(threading.Lock())  # signalled when one is done
        # With send_nowait (as elbus_client's), a caller does not wait for the ack:
        # a failure reaches the call through a callback, so the caller wakes once, at the reply.
        self._send_nowait: Callable[..., Any] | None = getattr(client, "send_nowait", None)
        client.on_frame = self._on_frame

    def __enter__(self) -> SyncRpc:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop taking calls and join the handler threads (running handlers finish first)."""
        self._closed = True
        with self._room:
            self._room.notify_all()  # a reader waiting for room refuses its call
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # --- serving ---------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if frame.kind is not Kind.MESSAGE:
            self._callback(self.on_frame, frame, "on_frame")
            return
        try:
            with self._lock:
                event, waiter = self._core.receive(frame.payload)
        except RemoteProtocolError as exc:
            self._not_rpc("dropped a message from %s that is not RPC: %s", frame.sender, exc.reason)
            return
        cls = type(event)
        if cls is RpcReply or cls is RpcErrorReply:
            settle(waiter, event)
        elif isinstance(event, RpcRequest):
            self._hand_over(call_event(frame, event))
        elif isinstance(event, RpcNotification):
            self._callback(self.on_notification, notification_event(frame, event), "on_notification")

    def _hand_over(self, call: CallEvent) -> None:
        """Serve ``call`` on the pool (or here with ``workers=0``), waiting for room first: this is
        the reader thread, so while it waits the client reads nothing more."""
        if self._pool is None:
            if self._closed:
                log.info("call of %s from %s refused: the RPC layer is closed", call.method, call.sender)
            else:
                self._serve(call)
            return
        with self._room:
            while self._in_flight >= self.max_concurrent and not self._closed:
                self._room.wait()
            self._in_flight += 1
        try:
            self._pool.submit(self._serve, call).add_done_callback(self._done)
        except RuntimeError:  # closed: the pool takes nothing more
            self._done(None)
            log.info("call of %s from %s refused: the RPC layer is closed", call.method, call.sender)

    def _done(self, _: object) -> None:
        """A call handed over is done (or cancelled by `close`): make room for the next."""
        with self._room:
            self._in_flight -= 1
            self._room.notify()

    @property
    def in_flight(self) -> int:
        """Calls handed to the pool and not yet done (at most `max_concurrent`)."""
        return self._in_flight

    @staticmethod
    def _callback(callback: Callable[[Any], Any] | None, arg: Any, what: str) -> None:
        if callback is not None:
            try:
                callback(arg)
            except Exception:
                log.exception("%s callback failed", what)

    def _serve(self, call: CallEvent) -> None:
        prepared = self._methods.prepare(call)
        if isinstance(prepared, bytes):
            payload = prepared
        else:
            func, raw, params = prepared
            try:
                result = func(params, call)
            except Exception as exc:
                payload = error_payload(call.call_id, exc)
            else:
                payload = self._methods.result_payload(call, result, raw)
        if not call.wants_reply:
            return
        # Unacknowledged (see CallEvent.reply_qos): an ack would be queued for our reader, and while the
        # reader waits for room (or serves, with workers=0) this write, and the handler, would wait for it.
        try:
            self.client.send(call.sender, payload, qos=call.reply_qos)
        except ElbusError as exc:
            reply_lost(call, exc)

    # --- calling ----------------------------------------------------------------------

    def call(
        self,
        target: str,
        method: str,
        params: Any = None,
        *,
        raw: bool = False,
        timeout: float | None = None,
        qos: int = QoS.PROCESSED,
    ) -> Any:
        """Call ``method`` of ``target``, block for the result; raises as `Rpc.call`."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        waiter = _Reply()
        with self._lock:
            call_id, payload = self._core.start_call(method, encode_params(params), waiter)
        try:
            if self._send_nowait is None:
                self.client.send(target, payload, qos=qos, timeout=limit)
            else:
                self._send_nowait(target, payload, qos=qos).add_done_callback(partial(_fail_on_nack, waiter))
            while not waiter.wait(max(0.0, min(deadline - time.monotonic(), _CLOSED_POLL))):
                if time.monotonic() >= deadline:
                    raise timeout_error(target, method)
                if getattr(self.client, "closed", False):
                    raise transport_error(ElbusError("the client connection is closed"))
            result = waiter.result()
        except RpcError:
            raise
        except ElbusError as exc:
            raise transport_error(exc) from exc
        finally:
            with self._lock:
                self._core.forget(call_id)
        return decode_result(result, raw)

    def call0(self, target: str, method: str, params: Any = None, *, qos: int = QoS.PROCESSED) -> None:
        """Call without wanting a reply; returns at the broker's ack. Raises as `call`."""
        self._send(target, RpcCore.request0(method, encode_params(params)), qos)

    def notify(self, target: str, data: Any = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send an RPC notification; returns at the broker's ack."""
        self._send(target, RpcCore.notification(encode_params(data)), qos)

    def _send(self, target: str, payload: bytes, qos: int) -> None:
        try:
            self.client.send(target, payload, qos=qos, timeout=self.timeout)
        except ElbusError as exc:
            raise transport_error(exc) from exc

    @property
    def pending(self) -> int:
        """Calls awaiting a reply."""
        return self._core.pending
