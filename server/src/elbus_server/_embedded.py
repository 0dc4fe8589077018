"""In-process clients: they talk through the broker without a socket.

Their method shape follows the async client: ``send``, ``broadcast``,
``publish``, ``subscribe``, ``unsubscribe``, ``receive`` / ``async for`` or
an ``on_frame`` callback, ``close``. Frames arrive as `elbus_spec.Message`,
`Broadcast` and `Publication` events. Routing happens synchronously inside
each call, so an acknowledged operation has been routed when it returns.

A full in-process client blocks its senders as far as synchronous routing
allows. Routing runs inside the broker's event loop and must return each
frame's result at once, so a frame cannot wait for room: the frame that
fills the queue is taken, and the socket client that sent it is then held
(its reading paused at that frame, exactly as a full socket client holds
it) until the queue drains to half or the broker's timeout passes. Past the
timeout the sender is released, and frames that still find the queue full
are not delivered (``77``): a stalled in-process client costs its senders at
most one timeout, never the broker's loop. In-process senders are not held:
their routing happens inside their own call, which returns the result
(`NotDelivered` for a full receiver) instead of waiting for room.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from elbus_spec import Code, Frame, QoS, error_for_code
from elbus_spec.errors import LocalProtocolError

from ._peer import ClientKind, Peer

if TYPE_CHECKING:
    from ._broker import Broker
    from ._transport import SocketPeer

__all__ = ["EmbeddedClient", "FrameHandler"]

FrameHandler = Callable[[Frame], Awaitable[None] | None]


class EmbeddedClient(Peer):
    """A client living inside the broker's process (``client.list`` kind ``internal``).

    Without an ``on_frame`` callback, delivered frames wait in a bounded
    queue (the broker's ``queue_size``) read by `receive` or ``async for``;
    the socket client whose frame fills it is held until it drains (see the
    module); a frame that finds the queue full is not delivered (a message
    sender's ack says ``77``) and counted in ``dropped``: an in-process
    client is never disconnected for being slow. With ``on_frame``, each frame is
    handed to the callback on the next event-loop turn (a coroutine
    function's result is run as a task).
    """

    __slots__ = (
        "_broker",
        "_closed",
        "_frames",
        "_handing",
        "_hold_timer",
        "_holding",
        "_on_frame",
        "_tasks",
        "_waiter",
        "dropped",
    )

    def __init__(self, broker: Broker) -> None:
        super().__init__(ClientKind.INTERNAL)
        self._broker = broker
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._on_frame: FrameHandler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._handing = 0  # frames scheduled for the callback, bounded like the queue
        self._holding: set[SocketPeer] = set()  # socket senders held while the queue is full
        self._hold_timer: asyncio.TimerHandle | None = None
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
                self._broker._loop.call_soon(self._call_handler, self._frames.popleft())

    async def receive(self) -> Frame:
        """The next delivered frame; raises `LocalProtocolError` once the client is closed and drained."""
        while not self._frames:
            if self._closed:
                raise LocalProtocolError(f"client {self.name!r} is closed")
            self._waiter = self._broker._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.popleft()
        if self._holding:
            self._made_room()
        return frame

    def __aiter__(self) -> EmbeddedClient:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.receive()
        except LocalProtocolError:
            raise StopAsyncIteration from None

    @property
    def queued(self) -> int:
        return len(self._frames) + self._handing

    def push_frame(self, frame: Frame) -> bool:
        if self._closed:
            return False
        size = self._broker.queue_size
        if self._on_frame is not None:
            if self._handing >= size:
                self.dropped += 1
                return False
            self._handing += 1
            self._broker._loop.call_soon(self._call_handler, frame)
            if self._handing >= size:
                self._hold_sender()
            return True
        if len(self._frames) >= size:
            self.dropped += 1
            return False
        self._frames.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if len(self._frames) >= size:
            self._hold_sender()
        return True

    def _hold_sender(self) -> None:
        """The queue is full: hold the socket client being routed, for at most the broker's timeout."""
        sender = self._broker._sender
        if sender is None or sender in self._holding:
            return
        self._holding.add(sender)
        sender.hold()
        if self._hold_timer is None:
            self._hold_timer = self._broker._loop.call_later(self._broker.timeout, self._release_senders)

    def _made_room(self) -> None:
        if self.queued <= self._broker.queue_size // 2:
            self._release_senders()

    def _release_senders(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        holding, self._holding = self._holding, set()
        for sender in holding:
            sender._release()

    def push(self, data: bytes, flush: bool) -> bool:  # pragma: no cover - in-process peers take events
        raise TypeError("in-process peers take frame events")

    def ack(self, op_id: int, code: int, realtime: bool) -> None:
        """In-process operations return their result directly: nothing to queue."""

    def _call_handler(self, frame: Frame) -> None:
        self._handing -= 1
        if self._holding:
            self._made_room()
        handler = self._on_frame
        if handler is None or self._closed:
            return
        result = handler(frame)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- sending -------------------------------------------------------------------------------

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
        Only a target on another node of a cluster answers later: the
        future then fails with that node's answer.
        """
        self._check_open()
        done = self._broker._loop.create_future()

        def answered(code: int) -> None:  # another node's answer, for a target elsewhere in the cluster
            if not done.done():
                if code != Code.OK and qos & 1:
                    done.set_exception(error_for_code(code))
                else:
                    done.set_result(None)

        code = self._broker._route_message(self, target, bytes(payload), qos, len(payload), answered)
        if code is not None:
            self._result(code, qos)
            done.set_result(None)
        return done

    async def broadcast(self, mask: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to every client whose name matches ``mask``."""
        self._check_open()
        self._broker._route_broadcast(self, mask, bytes(payload), qos, len(payload))

    async def publish(self, topic: str, payload: bytes = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Publish ``payload`` to ``topic``; raises `LocalProtocolError` if the topic contains NUL."""
        self._check_open()
        if "\0" in topic:
            raise LocalProtocolError("a topic cannot contain NUL")
        self._broker._route_publish(self, topic, bytes(payload), qos, len(payload))

    async def subscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Subscribe to topic patterns (``+`` one level, ``#`` one or more levels)."""
        self._check_open()
        for topic in topics:
            self._broker.subscribe(self, topic)

    async def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Drop topic subscriptions (unknown ones are ignored)."""
        self._check_open()
        for topic in topics:
            self._broker.unsubscribe(self, topic)

    def _check_open(self) -> None:
        if self._closed:
            raise LocalProtocolError(f"client {self.name!r} is closed")

    @staticmethod
    def _result(code: int, qos: int) -> None:
        if code != Code.OK and qos & 1:
            raise error_for_code(code)

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
        self._release_senders()
        self._broker._unregister(self)

    async def __aenter__(self) -> EmbeddedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
