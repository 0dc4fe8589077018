"""In-process clients: they talk through the broker without a socket.

Their method shape follows the async client: ``send``, ``broadcast``,
``publish``, ``subscribe``, ``unsubscribe``, the BUS/RT ``exclude``,
``unexclude`` and ``publish_for``, ``receive`` / ``async for`` or an
``on_frame`` callback, ``close``. Frames arrive as `elbus_spec.Message`,
`Broadcast` and `Publication` events. Each call is routed synchronously,
through the same path as a socket client's frames, so an acknowledged
operation has been routed when it returns.

A full in-process client holds nobody: a frame that finds its queue full
is not delivered (a message sender's ack says ``77``) and counted in
``dropped``; the client itself is never disconnected for being slow (it is
the program's own, and the program decides what to do with it).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from elbus_spec import (
    BroadcastRequest,
    Code,
    ExcludeRequest,
    Frame,
    PublishForRequest,
    PublishRequest,
    QoS,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
    error_for_code,
)
from elbus_spec.client_connection import MAX_OP_ID
from elbus_spec.errors import LocalProtocolError

from ._frames import body_length
from ._outbox import UNBOUNDED
from ._peer import ClientKind, Host, Peer, PeerState

__all__ = ["EmbeddedClient", "EmbeddedHost", "FrameHandler"]

_UNANSWERED = -1  # no acknowledgement yet: the MESSAGE went to another node of the bus

FrameHandler = Callable[[Frame], Awaitable[None] | None]


class EmbeddedHost(Host, Protocol):
    """What an in-process client asks of the router, besides routing."""

    def register(self, peer: Peer, name: str, *, restricted: bool = True) -> int:
        """Register ``peer`` as ``name``; returns the handshake code."""


class _Inbox(PeerState):
    """An in-process client as the router sees it (a `Peer`): its queue of delivered frames, its counters."""

    __slots__ = ("answers", "closed", "code", "frames", "handing", "host", "last_op", "loop", "on_frame", "queue_size",
                 "tasks", "waiter")

    takes_bytes = False

    def __init__(self, host: Host, queue_size: int) -> None:
        super().__init__(ClientKind.INTERNAL)
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.queue_size = queue_size
        self.frames: deque[Frame] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.on_frame: FrameHandler | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.handing = 0  # frames scheduled for the callback, bounded like the queue
        self.code: int = Code.OK  # the ack of the operation being routed
        self.answers: dict[int, asyncio.Future[None]] = {}  # MESSAGEs another node of the bus answers later
        self.last_op = 0  # op ids of MESSAGEs, so that a later answer finds its future

    @property
    def queued(self) -> int:
        return len(self.frames) + self.handing

    def room(self) -> tuple[int, int]:
        if self.closed:
            return 0, 0
        return self.queue_size - self.queued, UNBOUNDED

    def deliver(self, items: list[Frame], size: int, flush: bool) -> None:
        if self.on_frame is not None:
            self.hand(items)
            return
        self.frames += items
        self.wake()

    def overflow(self, frames: int) -> None:
        """Nothing to do: the frames are counted in ``drops``, and an in-process client is never dropped."""

    def ack(self, op_id: int, code: int) -> None:
        """In-process operations return their result directly: the call that is routing reads the first error.
        A MESSAGE to another node of the bus is answered later: its future takes the result."""
        answer = self.answers.pop(op_id, None) if op_id else None
        if answer is None:
            if self.code == Code.OK or self.code == _UNANSWERED:  # the first answer, then the first error
                self.code = code
        elif not answer.done():
            if code == Code.OK:
                answer.set_result(None)
            else:
                answer.set_exception(error_for_code(code))

    def disconnect(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.wake()
        answers, self.answers = self.answers, {}
        for answer in answers.values():
            if not answer.done():
                answer.set_exception(LocalProtocolError(f"client {self.name!r} closed before the answer came"))
        self.host.leave(self)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def hand(self, frames: Iterable[Frame]) -> None:
        """Schedule ``frames`` for the callback, one event-loop turn each."""
        for frame in frames:
            self.handing += 1
            self.loop.call_soon(self._call_handler, frame)

    def _call_handler(self, frame: Frame) -> None:
        self.handing -= 1
        handler = self.on_frame
        if handler is None or self.closed:
            return
        result = handler(frame)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


class EmbeddedClient:
    """A client living inside the broker's process (``client.list`` kind ``internal``).

    Without an ``on_frame`` callback, delivered frames wait in a bounded
    queue (the broker's ``queue_size``) read by `receive` or ``async for``;
    a frame that finds the queue full is not delivered and counted in
    ``dropped``. With ``on_frame``, each frame is handed to the callback on
    the next event-loop turn (a coroutine function's result is run as a
    task), at most ``queue_size`` frames waiting for it.
    """

    __slots__ = ("_host", "_inbox")

    def __init__(self, host: EmbeddedHost, name: str, queue_size: int) -> None:
        """Register as ``name`` with ``host``; raises the error of the refusal code (see `Broker.register`)."""
        self._host = host
        self._inbox = _Inbox(host, queue_size)
        code = host.register(self._inbox, name, restricted=False)
        if code != Code.OK:
            raise error_for_code(code, f"cannot register {name!r}: code 0x{code:02x}")

    @property
    def name(self) -> str:
        return self._inbox.name

    @property
    def kind(self) -> ClientKind:
        return ClientKind.INTERNAL

    @property
    def queued(self) -> int:
        """Frames delivered and not yet received (or handed to ``on_frame``)."""
        return self._inbox.queued

    @property
    def dropped(self) -> int:
        """Frames that found the queue full and were not delivered."""
        return self._inbox.drops

    # --- receiving -----------------------------------------------------------------------

    @property
    def on_frame(self) -> FrameHandler | None:
        return self._inbox.on_frame

    @on_frame.setter
    def on_frame(self, handler: FrameHandler | None) -> None:
        """Set a callback for every delivered frame; frames already queued are handed to it too."""
        inbox = self._inbox
        inbox.on_frame = handler
        if handler is not None:
            frames, inbox.frames = inbox.frames, deque()
            inbox.hand(frames)

    async def receive(self) -> Frame:
        """The next delivered frame; raises `LocalProtocolError` once the client is closed and drained."""
        inbox = self._inbox
        while not inbox.frames:
            if inbox.closed:
                raise LocalProtocolError(f"client {self.name!r} is closed")
            inbox.waiter = inbox.loop.create_future()
            try:
                await inbox.waiter
            finally:
                inbox.waiter = None
        return inbox.frames.popleft()

    def __aiter__(self) -> EmbeddedClient:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.receive()
        except LocalProtocolError:
            raise StopAsyncIteration from None

    # --- sending -------------------------------------------------------------------------------

    def _route(self, event: Any, qos: int) -> None:
        """Route one operation; raises the error its ack carries (acknowledged QoS only)."""
        self._check_open()
        inbox = self._inbox
        inbox.code = Code.OK
        self._host.route(inbox, [event])
        if inbox.code != Code.OK and qos & 1:
            raise error_for_code(inbox.code)

    async def send(self, target: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to the client named ``target``.

        With an acknowledged QoS raises `NotRegistered` (no such client) or
        `NotDelivered` (its queue was full); `LocalProtocolError` if closed.
        """
        await self.send_nowait(target, payload, qos=qos)

    def send_nowait(self, target: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Route a one-to-one MESSAGE at once; returns a future that is already done.

        Routing is synchronous, so the result is known before this returns:
        it raises as `send` does, at once, instead of failing the future.
        Only a target on another node of the bus answers later: the future
        then takes that node's answer.
        """
        payload = bytes(payload)
        length = body_length(target, payload)
        inbox = self._inbox
        inbox.last_op = inbox.last_op % MAX_OP_ID + 1
        op_id = inbox.last_op
        done = inbox.loop.create_future()
        self._check_open()
        inbox.code = _UNANSWERED
        self._host.route(inbox, [(op_id, qos, target, payload, length)])
        if inbox.code == _UNANSWERED:
            if qos & 1:
                inbox.answers[op_id] = done  # another node answers later
                return done
        elif inbox.code != Code.OK and qos & 1:
            raise error_for_code(inbox.code)
        done.set_result(None)
        return done

    async def broadcast(self, mask: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to every client whose name matches ``mask``."""
        self._route(BroadcastRequest(0, qos, mask, bytes(payload)), qos)

    async def publish(self, topic: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Publish ``payload`` to ``topic``; raises `LocalProtocolError` if the topic contains NUL."""
        if "\0" in topic:
            raise LocalProtocolError("a topic cannot contain NUL")
        self._route(PublishRequest(0, qos, topic, bytes(payload)), qos)

    async def subscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Subscribe to topic patterns (``+`` one level, ``#`` one or more levels)."""
        self._route(SubscribeRequest(0, qos, list(topics)), qos)

    async def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Drop topic subscriptions (unknown ones are ignored)."""
        self._route(UnsubscribeRequest(0, qos, list(topics)), qos)

    async def exclude(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Stop receiving publications whose topic matches these patterns, even when subscribed (BUS/RT)."""
        self._route(ExcludeRequest(0, qos, list(topics)), qos)

    async def unexclude(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Drop exclusions (unknown ones are ignored)."""
        self._route(UnexcludeRequest(0, qos, list(topics)), qos)

    async def publish_for(self, topic: str, receiver: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Publish ``payload`` to ``topic`` for the subscribers whose primary name is ``receiver`` only (BUS/RT)."""
        if "\0" in topic or "\0" in receiver:
            raise LocalProtocolError("a topic or a receiver cannot contain NUL")
        self._route(PublishForRequest(0, qos, topic, receiver, bytes(payload)), qos)

    def _check_open(self) -> None:
        if self._inbox.closed:
            raise LocalProtocolError(f"client {self.name!r} is closed")

    # --- closing ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._inbox.closed

    async def close(self) -> None:
        """Unregister (announcing it for a primary); frames already queued can still be read."""
        self.disconnect("closed")

    def disconnect(self, reason: str) -> None:
        """Unregister and wake a pending `receive` (it ends once the queue is drained)."""
        self._inbox.disconnect(reason)

    async def __aenter__(self) -> EmbeddedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
