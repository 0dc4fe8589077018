"""In-process clients: they talk through the broker without a socket.

Their method shape follows the async client: ``send``, ``broadcast``,
``publish``, ``subscribe``, ``unsubscribe``, ``receive`` / ``async for`` or
an ``on_frame`` callback, ``close``. Frames arrive as `elbus_spec.Message`,
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
from collections.abc import Awaitable, Callable
from typing import Any

from elbus_spec import (
    BroadcastRequest,
    Code,
    Frame,
    PublishRequest,
    QoS,
    SubscribeRequest,
    UnsubscribeRequest,
    error_for_code,
)
from elbus_spec.errors import LocalProtocolError

from ._outbox import UNBOUNDED
from ._peer import ClientKind, Host, PeerState

__all__ = ["EmbeddedClient", "FrameHandler"]

FrameHandler = Callable[[Frame], Awaitable[None] | None]


class EmbeddedClient(PeerState):
    """A client living inside the broker's process (``client.list`` kind ``internal``).

    Without an ``on_frame`` callback, delivered frames wait in a bounded
    queue (the broker's ``queue_size``) read by `receive` or ``async for``;
    a frame that finds the queue full is not delivered and counted in
    ``dropped``. With ``on_frame``, each frame is handed to the callback on
    the next event-loop turn (a coroutine function's result is run as a
    task), at most ``queue_size`` frames waiting for it.
    """

    __slots__ = ("_closed", "_code", "_frames", "_handing", "_host", "_loop", "_on_frame", "_queue_size", "_tasks",
                 "_waiter", "dropped")

    takes_bytes = False

    def __init__(self, host: Host, queue_size: int) -> None:
        super().__init__(ClientKind.INTERNAL)
        self._host = host
        self._loop = asyncio.get_running_loop()
        self._queue_size = queue_size
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._on_frame: FrameHandler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._handing = 0  # frames scheduled for the callback, bounded like the queue
        self._code: int = Code.OK  # the ack of the operation being routed
        self.dropped = 0

    # --- receiving -----------------------------------------------------------------------

    @property
    def on_frame(self) -> FrameHandler | None:
        return self._on_frame

    @on_frame.setter
    def on_frame(self, handler: FrameHandler | None) -> None:
        """Set a callback for every delivered frame; frames already queued are handed to it too."""
        self._on_frame = handler
        if handler is not None:
            while self._frames:
                self._handing += 1
                self._loop.call_soon(self._call_handler, self._frames.popleft())

    async def receive(self) -> Frame:
        """The next delivered frame; raises `LocalProtocolError` once the client is closed and drained."""
        while not self._frames:
            if self._closed:
                raise LocalProtocolError(f"client {self.name!r} is closed")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.popleft()

    def __aiter__(self) -> EmbeddedClient:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.receive()
        except LocalProtocolError:
            raise StopAsyncIteration from None

    # --- the Peer protocol ----------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._frames) + self._handing

    def room(self) -> tuple[int, int]:
        if self._closed:
            return 0, 0
        return self._queue_size - self.queued, UNBOUNDED

    def deliver(self, items: list[Frame], flush: bool) -> None:
        if self._on_frame is not None:
            self._handing += len(items)
            for frame in items:
                self._loop.call_soon(self._call_handler, frame)
            return
        self._frames += items
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def overflow(self, frames: int) -> None:
        self.dropped += frames

    def ack(self, op_id: int, code: int) -> None:
        """In-process operations return their result directly: the call that is routing reads it."""
        self._code = code

    def _call_handler(self, frame: Frame) -> None:
        self._handing -= 1
        handler = self._on_frame
        if handler is None or self._closed:
            return
        result = handler(frame)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- sending -------------------------------------------------------------------------------

    def _route(self, event: Any, qos: int) -> None:
        """Route one operation; raises the error its ack carries (acknowledged QoS only)."""
        self._check_open()
        self._code = Code.OK
        self._host.route(self, [event])
        if self._code != Code.OK and qos & 1:
            raise error_for_code(self._code)

    async def send(self, target: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to the client named ``target``.

        With an acknowledged QoS raises `NotRegistered` (no such client) or
        `NotDelivered` (its queue was full); `LocalProtocolError` if closed.
        """
        self.send_nowait(target, payload, qos=qos)

    def send_nowait(self, target: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Route a one-to-one MESSAGE at once; returns a future that is already done.

        Routing is synchronous, so the result is known before this returns:
        it raises as `send` does, at once, instead of failing the future.
        """
        payload = bytes(payload)
        length = len(target.encode()) + 1 + len(payload)  # the body length, as the counters count it
        self._route((0, qos, target, payload, length), qos)
        done = self._loop.create_future()
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

    def _check_open(self) -> None:
        if self._closed:
            raise LocalProtocolError(f"client {self.name!r} is closed")

    # --- closing ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Unregister (announcing it for a primary); frames already queued can still be read."""
        self.disconnect("closed")

    def disconnect(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._host.leave(self)

    async def __aenter__(self) -> EmbeddedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
