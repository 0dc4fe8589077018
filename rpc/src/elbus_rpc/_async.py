"""RPC over an asyncio client (elbus_aio, or anything with the same async contract)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from elbus_spec import (
    DEFAULT_TIMEOUT,
    Code,
    ElbusError,
    Frame,
    Kind,
    QoS,
    RemoteProtocolError,
    RpcError,
    RpcErrorReply,
    RpcEvent,
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

__all__ = ["Rpc", "AsyncClient"]

log = logging.getLogger("elbus_rpc")


class AsyncClient(Protocol):
    """What `Rpc` needs from a client.

    Optional, used when present (``elbus_aio.Client`` has them all):
    ``send_nowait``, ``drain`` and ``write_paused`` (calls and replies
    without a task each), ``wait_closed`` (pending calls fail when the client
    closes for good), ``pause_reading``/``resume_reading`` (backpressure: see
    `Rpc`).
    """

    on_frame: Any

    async def send(self, target: str, payload: Any = b"", *, qos: int = QoS.PROCESSED) -> None: ...


def _expire(waiter: asyncio.Future[bytes], target: str, method: str) -> None:
    if not waiter.done():
        waiter.set_exception(timeout_error(target, method))


def _fail_on_nack(waiter: asyncio.Future[bytes], ack: asyncio.Future[None]) -> None:
    """A request's ack callback: a failed send (not registered, connection lost) fails the call."""
    if ack.cancelled():
        return
    exc = ack.exception()
    if exc is not None:
        fail_call(waiter, exc)


class Rpc(Serving):
    """The RPC layer on an asyncio client: every MESSAGE it receives is RPC.

    ::

        rpc = elbus_rpc.Rpc(client)

        @rpc.method("sum")
        async def total(params, event):
            return sum(params)

        print(await rpc.call("other", "sum", [1, 2, 3]))

    It takes over ``client.on_frame``; broadcasts and publications go to
    ``rpc.on_frame``, notifications to ``rpc.on_notification`` (functions or
    coroutine functions). A handler that is a plain function runs at once on
    the event loop (keep it short); a coroutine function runs as a task of its
    own, so calls are served concurrently. A handler's exception becomes an
    error reply (-32603, or the code of an `RpcError` it raises), an unknown
    method gets -32601. ``timeout`` is the
    default for `call` (the client's own timeout when not given). Calls
    awaiting a reply fail at once (-32115) when the client closes for good;
    with a reconnecting client they wait for a reply until their timeout.

    At most ``max_concurrent`` tasks run at once for what it receives
    (handlers, coroutine callbacks, and replies on a client without
    ``send_nowait``). When they are all taken, what arrives next waits, in
    order, and the client stops reading (``client.pause_reading``) until half
    of them are done: further frames wait in the broker, whose slow-consumer
    rule then applies, not in this process. What waits here is what the
    client had already read (one socket read at most). Replies to our own
    calls are matched at once, but while reading is paused none are read: a
    handler that calls through the same client may wait for its reply until
    the others finish. A client that cannot pause reading (the broker's
    in-process client) gets no wait: a call that finds every task taken is
    answered -32118 (busy) at once, a notification or frame is dropped.
    """

    def __init__(
        self, client: AsyncClient, *, timeout: float | None = None, max_concurrent: int = DEFAULT_MAX_CONCURRENT
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be positive")
        self.client = client
        self.timeout = timeout if timeout is not None else getattr(client, "timeout", DEFAULT_TIMEOUT)
        self.max_concurrent = max_concurrent
        self.on_frame: Callable[[Frame], Any] | None = None
        self.on_notification: Callable[[NotificationEvent], Any] | None = None
        self._core: RpcCore[asyncio.Future[bytes]] = RpcCore()
        self._methods = Methods()
        self._not_rpc = ThrottledWarning(log)
        self._busy = ThrottledWarning(log)
        self._tasks: set[asyncio.Task[Any]] = set()  # what runs for received frames: at most max_concurrent
        self._waiting: deque[tuple[Frame, RpcEvent | None]] = deque()  # received while every task was taken
        pause, resume = getattr(client, "pause_reading", None), getattr(client, "resume_reading", None)
        # (pause_reading, resume_reading) when the client has both; without them, no backpressure.
        self._flow: tuple[Callable[[], None], Callable[[], None]] | None = (pause, resume) if pause and resume else None
        self._paused = False
        self._watcher: asyncio.Task[None] | None = None
        # A client with send_nowait (as elbus_aio's) takes calls and replies without a task waiting for each ack.
        self._send_nowait: Callable[..., asyncio.Future[None]] | None = getattr(client, "send_nowait", None)
        client.on_frame = self._on_frame

    @property
    def in_flight(self) -> int:
        """Tasks running for received calls, notifications and frames (at most `max_concurrent`)."""
        return len(self._tasks)

    @property
    def waiting(self) -> int:
        """Received calls, notifications and frames waiting for a task (while reading is paused)."""
        return len(self._waiting)

    # --- serving ---------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        event: RpcEvent | None = None
        if frame.kind is Kind.MESSAGE:
            try:
                event, waiter = self._core.receive(frame.payload)
            except RemoteProtocolError as exc:
                self._not_rpc("dropped a message from %s that is not RPC: %s", frame.sender, exc.reason)
                return
            cls = type(event)
            if cls is RpcReply or cls is RpcErrorReply:
                settle(waiter, event)  # never waits: a handler may be awaiting this very reply
                return
        if self._waiting or len(self._tasks) >= self.max_concurrent:
            self._hold(frame, event)
        else:
            self._take(frame, event)

    def _take(self, frame: Frame, event: RpcEvent | None) -> None:
        if event is None:
            self._callback(self.on_frame, frame, "on_frame")
        elif isinstance(event, RpcRequest):
            self._serve(call_event(frame, event))
        elif isinstance(event, RpcNotification):
            self._callback(self.on_notification, notification_event(frame, event), "on_notification")

    def _hold(self, frame: Frame, event: RpcEvent | None) -> None:
        """Every task is taken: keep the frame for later and stop the client reading, so that
        what follows waits in the broker (as a slow consumer's frames), not here."""
        if self._flow is None:
            self._refuse(frame, event)
            return
        self._waiting.append((frame, event))
        self._flow[0]()  # every time: after a reconnect the new connection reads again
        self._paused = True

    def _refuse(self, frame: Frame, event: RpcEvent | None) -> None:
        """Every task is taken and the client cannot stop reading: a call is answered -32118 (busy) if
        that takes no task (the client has send_nowait); anything else is dropped."""
        self._busy("%d tasks are running: refused a frame from %s", len(self._tasks), frame.sender)
        if isinstance(event, RpcRequest) and self._send_nowait is not None:  # a reply without a task
            call = call_event(frame, event)
            busy = RpcError(-32000 - Code.BUSY, f"busy: {len(self._tasks)} calls are being served")
            self._reply(call, error_payload(call.call_id, busy))

    def _start(self, work: Awaitable[Any], what: str) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(partial(self._task_done, what))

    def _task_done(self, what: str, task: asyncio.Task[Any]) -> None:
        """A task is done: log its failure, take what waits, read again once half the tasks are free."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", what, exc_info=task.exception())
        waiting = self._waiting
        while waiting and len(self._tasks) < self.max_concurrent:
            self._take(*waiting.popleft())
        if self._paused and not waiting and len(self._tasks) <= self.max_concurrent // 2 and self._flow is not None:
            self._paused = False
            self._flow[1]()

    def _callback(self, callback: Callable[[Any], Any] | None, arg: Any, what: str) -> None:
        """Run a user callback (function or coroutine function) without letting it break the reader."""
        if callback is None:
            return
        try:
            result = callback(arg)
        except Exception:
            log.exception("%s callback failed", what)
            return
        if inspect.isawaitable(result):
            self._start(result, f"{what} callback")

    def _serve(self, call: CallEvent) -> None:
        """Run the handler: a plain function at once, a coroutine function as a task of its own."""
        prepared = self._methods.prepare(call)
        if isinstance(prepared, bytes):
            self._reply(call, prepared)
            return
        func, raw, params = prepared
        try:
            result = func(params, call)
        except Exception as exc:
            self._reply(call, self._failure(call, exc))
            return
        if inspect.isawaitable(result):
            self._start(self._finish(call, result, raw), f"handler of {call.method}")
        else:
            self._reply(call, self._methods.result_payload(call, result, raw))

    async def _finish(self, call: CallEvent, pending: Awaitable[Any], raw: bool) -> None:
        try:
            result = await pending
        except Exception as exc:
            payload = self._failure(call, exc)
        else:
            payload = self._methods.result_payload(call, result, raw)
        self._reply(call, payload)

    @staticmethod
    def _failure(call: CallEvent, exc: Exception) -> bytes:
        if not isinstance(exc, RpcError):
            log.debug("handler of %s failed", call.method, exc_info=True)
        return error_payload(call.call_id, exc)

    def _reply(self, call: CallEvent, payload: bytes) -> None:
        """Send the reply (unacknowledged: see `CallEvent.reply_qos`) without blocking the caller:
        through ``send_nowait`` when the client has it (one write), else in a task."""
        if not call.wants_reply:
            return
        send_nowait = self._send_nowait
        if send_nowait is None:
            self._start(self._send_reply(call, payload), f"reply to {call.method}")
            return
        try:
            send_nowait(call.sender, payload, qos=call.reply_qos)
        except ElbusError as exc:
            reply_lost(call, exc)

    async def _send_reply(self, call: CallEvent, payload: bytes) -> None:
        try:
            await self.client.send(call.sender, payload, qos=call.reply_qos)
        except ElbusError as exc:
            reply_lost(call, exc)

    # --- calling ----------------------------------------------------------------------

    def _watch_client(self) -> None:
        """Fail pending calls as soon as the client is closed for good (e.g. the broker died)."""
        wait_closed = getattr(self.client, "wait_closed", None)
        if self._watcher is None and wait_closed is not None:
            self._watcher = asyncio.get_running_loop().create_task(self._fail_when_closed(wait_closed))

    async def _fail_when_closed(self, wait_closed: Callable[[], Any]) -> None:
        await wait_closed()
        error = transport_error(ElbusError("the client connection is closed"))
        for waiter in self._core.forget_all():
            if not waiter.done():
                waiter.set_exception(error)

    async def call(
        self,
        target: str,
        method: str,
        params: Any = None,
        *,
        raw: bool = False,
        timeout: float | None = None,
        qos: int = QoS.PROCESSED,
    ) -> Any:
        """Call ``method`` of ``target`` and return the result.

        ``params``: a dict, list or scalar is sent as MessagePack, bytes as they are, None as
        nothing. The result is decoded from MessagePack (None when empty) unless ``raw``.
        Raises `RpcError`: the remote error's code and message; ``-32000 - code`` for a
        transport failure (-32113 when ``target`` is not registered, -32115 when the
        connection is lost); -32120 when no reply comes within ``timeout`` (default: `timeout`).
        """
        self._watch_client()
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        waiter: asyncio.Future[bytes] = loop.create_future()
        call_id, payload = self._core.start_call(method, encode_params(params), waiter)
        # One timer per call, failing the waiter: cheaper than a timeout context, and the
        # caller's task wakes once per call (at the reply), not also at the broker's ack.
        expiry = loop.call_later(limit, _expire, waiter, target, method)
        try:
            if self._send_nowait is None:
                async with asyncio.timeout(limit):
                    await self.client.send(target, payload, qos=qos)
            else:
                if getattr(self.client, "write_paused", False):  # backpressure first, as send() would
                    async with asyncio.timeout(limit):
                        await self.client.drain()  # type: ignore[attr-defined]
                ack = self._send_nowait(target, payload, qos=qos)
                if not ack.done():
                    ack.add_done_callback(partial(_fail_on_nack, waiter))
            result = await waiter
        except TimeoutError:
            raise timeout_error(target, method) from None
        except ElbusError as exc:
            raise transport_error(exc) from (None if isinstance(exc, RpcError) else exc)
        finally:
            expiry.cancel()
            self._core.forget(call_id)
        return decode_result(result, raw)

    async def call0(self, target: str, method: str, params: Any = None, *, qos: int = QoS.PROCESSED) -> None:
        """Call without wanting a reply (call id 0); returns at the broker's ack. Raises as `call`."""
        await self._send(target, RpcCore.request0(method, encode_params(params)), qos)

    async def notify(self, target: str, data: Any = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send an RPC notification (``data`` encoded like call params); returns at the broker's ack."""
        await self._send(target, RpcCore.notification(encode_params(data)), qos)

    async def _send(self, target: str, payload: bytes, qos: int) -> None:
        try:
            await self.client.send(target, payload, qos=qos)
        except ElbusError as exc:
            raise transport_error(exc) from exc

    @property
    def pending(self) -> int:
        """Calls awaiting a reply."""
        return self._core.pending
