"""The asyncio client: connect, send with acks, receive, keep-alive, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from elbus_spec import (
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    SECONDARY_SEPARATOR,
    ConnectionClosed,
    ElbusError,
    Frame,
    QoS,
    primary_name,
)

from ._address import open_transport
from ._session import Session

__all__ = ["Client", "connect", "connect_secondary", "FrameCallback"]

log = logging.getLogger("elbus_aio")

Payload = bytes | bytearray | memoryview | str
FrameCallback = Callable[[Frame], None] | Callable[[Frame], Awaitable[None]]

# The broker sends a keep-alive NOP every `timeout` seconds (the original
# broker's own timeout, 5 s by default, like ours): a connection that stays
# silent for IDLE_FACTOR x timeout has a dead or hung broker behind it. The
# margin absorbs scheduling jitter around the broker's NOP timer.
IDLE_FACTOR = 1.5


def _bytes(payload: Payload) -> bytes | bytearray | memoryview:
    return payload.encode() if isinstance(payload, str) else payload


class Client:
    """A named client of an elbus broker.

    Use ``await elbus_aio.connect(address, name)`` or ``async with
    elbus_aio.Client(address, name) as client``. ``address`` is a UNIX socket
    path (ending in ``.sock``/``.socket``/``.ipc`` or starting with ``/``) or
    ``host:port`` for TCP.

    ``timeout`` bounds connecting and registering, and sets the dead-broker
    deadline: with no byte at all from the broker for ``1.5 * timeout`` seconds
    (it sends keep-alives every ``timeout``), the connection is dropped, which
    fails every pending wait with `ConnectionClosed`. Pings go out every
    ``ping_interval`` seconds. Received frames wait in a queue of
    ``queue_size`` frames; when it is full the client stops reading from the
    socket (the broker then applies its slow-consumer rule) rather than drop
    anything. With ``reconnect=True`` a lost connection is re-established in
    the background (with jittered exponential backoff from
    ``reconnect_delay`` up to ``timeout``), the name is registered again and
    every subscription is renewed; waits pending at the loss fail with
    `ConnectionClosed`, and so do operations attempted during the outage.

    ``busy_poll`` (seconds, 0 by default: off) keeps the event loop polling
    instead of sleeping for that long after I/O while the connection is busy
    (see `BusyPoll`): request/reply exchanges skip a wake-up per reply, for
    the CPU of this process while they run. 100e-6 suits a local broker, on
    a machine where every polling process (the broker polls by default) has
    a core to itself; with more pollers than cores it makes things slower.
    """

    def __init__(
        self,
        address: str,
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ping_interval: float = 1.0,
        reconnect: bool = False,
        reconnect_delay: float = 0.1,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        busy_poll: float = 0.0,
    ) -> None:
        if timeout <= 0 or ping_interval <= 0 or reconnect_delay <= 0:
            raise ValueError("timeout, ping_interval and reconnect_delay must be positive")
        if busy_poll < 0:
            raise ValueError("busy_poll must be 0 (off) or more")
        if queue_size < 1:
            raise ValueError("queue_size must be positive")
        self.address = address
        self.name = name
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.max_frame_length = max_frame_length
        self.queue_size = queue_size
        self.busy_poll = busy_poll
        self._session: Session | None = None
        self._topics: set[str] = set()  # subscriptions and exclusions, renewed after a reconnect
        self._excluded: set[str] = set()
        self._queue: deque[Frame] = deque()
        self._receivers: deque[asyncio.Future[None]] = deque()
        self._on_frame: FrameCallback | None = None
        self._on_frame_is_async = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keepalive: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._closed: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "closed" if self.closed else "disconnected"
        return f"<elbus_aio.Client {self.name!r} at {self.address!r} {state}>"

    # --- life cycle ----------------------------------------------------------------

    async def connect(self) -> Client:
        """Connect and register; returns self.

        Raises OSError when nothing listens at the address, TimeoutError when the
        handshake takes longer than ``timeout``, the `elbus_spec.BrokerError`
        subclass for a refusal (e.g. `Busy` when the name is taken,
        `NotRegistered` for a secondary whose primary is absent), and
        `ConnectionClosed` when the broker hangs up during the handshake.
        """
        if self._closing:
            raise ConnectionClosed("the client is closed")
        if self.is_connected:
            return self
        self._closed_future()
        await self._open()
        return self

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @property
    def is_connected(self) -> bool:
        """True while registered on a live connection."""
        return self._session is not None and self._session.ready

    @property
    def closed(self) -> bool:
        """True once the client is closed for good (`close`, or a loss without ``reconnect``)."""
        return self._closed is not None and self._closed.done()

    def _closed_future(self) -> asyncio.Future[None]:
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        return self._closed

    async def wait_closed(self) -> None:
        """Return once the client is closed for good."""
        await asyncio.shield(self._closed_future())

    async def close(self) -> None:
        """Close the connection: written frames are flushed, pending ack waits and receivers
        fail with `ConnectionClosed`, background tasks stop. Idempotent."""
        if self._closing:
            await self.wait_closed()
            return
        self._closing = True
        for task in (self._reconnecting, self._keepalive):
            if task is not None:
                task.cancel()
        session = self._session
        if session is not None:
            session.close(ConnectionClosed("the client closed the connection"))
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.shield(session.lost)
            except TimeoutError:
                session.abort(ConnectionClosed("the client closed the connection"))
        for task in (self._reconnecting, self._keepalive):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._finish()

    def _finish(self) -> None:
        self._closing = True
        closed = self._closed_future()
        if not closed.done():
            closed.set_result(None)
        self._wake_receivers()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        session: Session | None = None

        def make_session() -> Session:
            nonlocal session
            session = Session(self.name, self._deliver, max_frame_length=self.max_frame_length, busy_poll=self.busy_poll)
            return session

        try:
            async with asyncio.timeout(self.timeout):
                _, opened = await open_transport(self.address, make_session)
                await opened.registered
        except BaseException as exc:
            if session is not None:  # made, even when the timeout struck before open_transport returned
                if isinstance(exc, ElbusError):
                    session.close(exc)
                else:
                    session.abort(ConnectionClosed(f"connecting failed: {exc!r}"))
            raise
        self._session = opened
        opened.lost.add_done_callback(lambda _: self._on_lost(opened))
        self._keepalive = loop.create_task(self._keep_alive(opened), name=f"elbus_aio keep-alive {self.name}")

    def _on_lost(self, session: Session) -> None:
        if session is not self._session:
            return
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self._closing:
            return
        if self.reconnect:
            if self._reconnecting is not None and not self._reconnecting.done():
                return  # lost while the reconnect loop was renewing subscriptions: it retries
            log.warning("%s: %s; reconnecting", self.name, session.error)
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(), name=f"elbus_aio reconnect {self.name}"
            )
        else:
            self._finish()

    async def _keep_alive(self, session: Session) -> None:
        """Ping every ping_interval; drop the connection when the broker is silent too long."""
        loop = session.loop
        idle_limit = self.timeout * IDLE_FACTOR
        next_ping = loop.time() + self.ping_interval
        ping = session.conn.ping()
        while session.ready:
            now = loop.time()
            if session.read_paused:
                session.last_received = now
            deadline = session.last_received + idle_limit
            if now >= deadline:
                session.abort(ConnectionClosed(f"no data from the broker for {idle_limit:g} s"))
                return
            if now >= next_ping:
                session.write(ping)
                next_ping = now + self.ping_interval
            await asyncio.sleep(min(next_ping, deadline) - now)

    async def _reconnect(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                await self._open()
                await self._renew()
            except (OSError, TimeoutError, ElbusError) as exc:
                log.info("%s: reconnect failed: %r", self.name, exc)
                if self._session is not None and self._session.ready:
                    self._session.abort(ConnectionClosed(f"renewing subscriptions failed: {exc!r}"))
                delay = min(delay * 2, self.timeout)
                continue
            self._resume_reading_if_drained()
            log.info("%s: reconnected", self.name)
            return

    async def _renew(self) -> None:
        """Subscribe and exclude again on a new connection, in one acknowledged frame each."""
        session = self._live()
        for topics, encode in ((self._topics, session.conn.send_subscribe), (self._excluded, session.conn.send_exclude)):
            if topics:
                op_id, data = encode(sorted(topics), QoS.PROCESSED)
                async with asyncio.timeout(self.timeout):
                    await session.submit(op_id, data, QoS.PROCESSED)

    def secondary(self, suffix: str | int, **options: Any) -> Client:
        """An unconnected client registering as ``<primary>%%<suffix>`` with the same options
        (overridable); use it with ``await``-ed `connect` or ``async with``."""
        settings: dict[str, Any] = {
            "timeout": self.timeout,
            "ping_interval": self.ping_interval,
            "reconnect": self.reconnect,
            "reconnect_delay": self.reconnect_delay,
            "max_frame_length": self.max_frame_length,
            "queue_size": self.queue_size,
            "busy_poll": self.busy_poll,
        }
        settings.update(options)
        return Client(self.address, f"{primary_name(self.name)}{SECONDARY_SEPARATOR}{suffix}", **settings)

    # --- sending -------------------------------------------------------------------

    def _live(self) -> Session:
        session = self._session
        if session is None or self._closing:
            raise ConnectionClosed("the client is not connected" if session is None else "the client is closed")
        session.check_open()
        return session

    @property
    def write_paused(self) -> bool:
        """True while the transport's write buffer is over its high-water mark (`drain` waits for it to fall)."""
        session = self._session
        return session is not None and session.write_paused

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark (raises `ConnectionClosed`)."""
        await self._live().drain()

    def send_nowait(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Write a one-to-one MESSAGE at once, without waiting; the future resolves at the ack.

        Raises `ConnectionClosed` when not connected and `elbus_spec.LocalProtocolError`
        for a target containing NUL. The future fails with the `BrokerError` for the
        ack's code (e.g. `NotRegistered`) or with `ConnectionClosed`.
        """
        session = self._session
        if session is None or not session.ready:
            session = self._live()
        op_id, data = session.conn.send_message(target, payload.encode() if isinstance(payload, str) else payload, qos)
        return session.submit(op_id, data, qos)

    def broadcast_nowait(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Write a BROADCAST to every client matching ``mask`` at once; see `send_nowait`."""
        session = self._live()
        op_id, data = session.conn.send_broadcast(mask, _bytes(payload), qos)
        return session.submit(op_id, data, qos)

    def publish_nowait(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Write a PUBLISH to ``topic`` at once; see `send_nowait`."""
        session = self._live()
        op_id, data = session.conn.send_publish(topic, _bytes(payload), qos)
        return session.submit(op_id, data, qos)

    async def _await(self, make: Callable[[], asyncio.Future[None]]) -> None:
        # Respect backpressure before writing: a cancellation while waiting here
        # writes nothing; once written (whole, into the session's buffer), it goes out whole.
        session = self._live()
        if session.write_paused:
            await session.drain()
        fut = make()
        if not fut.done():
            await fut
        else:
            fut.result()

    async def send(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to the client named ``target``.

        With QoS bit 0 set (the default, PROCESSED) returns once the broker acknowledged,
        raising the `elbus_spec.BrokerError` subclass of a failure code (`NotRegistered`
        when nobody has that name, `NotDelivered`, `AccessDenied`). Raises `ConnectionClosed`
        when the connection is or gets closed. Cancelling leaves the connection usable.
        """
        await self._await(lambda: self.send_nowait(target, payload, qos=qos))

    async def broadcast(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Send ``payload`` to every client whose name matches ``mask`` (``?``, ``*``); see `send`."""
        await self._await(lambda: self.broadcast_nowait(mask, payload, qos=qos))

    async def publish(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Publish ``payload`` to ``topic``; see `send`."""
        await self._await(lambda: self.publish_nowait(topic, payload, qos=qos))

    async def publish_for(self, topic: str, receiver: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> None:
        """Publish to the subscribers whose primary name is ``receiver`` (a BUS/RT broker extension)."""

        def make() -> asyncio.Future[None]:
            session = self._live()
            op_id, data = session.conn.send_publish_for(topic, receiver, _bytes(payload), qos)
            return session.submit(op_id, data, qos)

        await self._await(make)

    async def subscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Subscribe to topic patterns (``+`` one level, ``#`` the rest); renewed after a reconnect.

        Raises ValueError without topics, otherwise as `send`.
        """
        await self._topics_op("send_subscribe", topics, qos, self._topics.update)

    async def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Drop subscriptions; raises ValueError without topics, otherwise as `send`."""
        await self._topics_op("send_unsubscribe", topics, qos, self._topics.difference_update)

    async def exclude(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Exclude topic patterns from delivery (a BUS/RT broker extension: the original elbus
        broker drops clients that use it); renewed after a reconnect. Raises as `subscribe`."""
        await self._topics_op("send_exclude", topics, qos, self._excluded.update)

    async def unexclude(self, *topics: str, qos: int = QoS.PROCESSED) -> None:
        """Remove exclusions (a BUS/RT broker extension); raises as `subscribe`."""
        await self._topics_op("send_unexclude", topics, qos, self._excluded.difference_update)

    async def _topics_op(self, encoder: str, topics: tuple[str, ...], qos: int, track: Callable[[tuple[str, ...]], None]) -> None:
        if not topics:
            raise ValueError("at least one topic is needed")

        def make() -> asyncio.Future[None]:
            session = self._live()
            op_id, data = getattr(session.conn, encoder)(topics, qos)
            track(topics)
            return session.submit(op_id, data, qos)

        await self._await(make)

    # --- receiving ------------------------------------------------------------------

    @property
    def on_frame(self) -> FrameCallback | None:
        """Called with every received frame instead of queueing it (a function or a coroutine
        function; coroutines run as tasks). ``None`` (the default) queues frames for `receive`."""
        return self._on_frame

    @on_frame.setter
    def on_frame(self, callback: FrameCallback | None) -> None:
        self._on_frame = callback
        self._on_frame_is_async = inspect.iscoroutinefunction(callback)

    def _deliver(self, frame: Frame) -> None:
        callback = self._on_frame
        if callback is not None:
            if self._on_frame_is_async:
                task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(callback(frame))  # type: ignore[arg-type]
                self._tasks.add(task)
                task.add_done_callback(self._callback_done)
                return
            try:
                callback(frame)
            except Exception:
                log.exception("%s: on_frame callback failed", self.name)
            return
        queue = self._queue
        queue.append(frame)
        if self._receivers:
            self._wake_receivers(1)
        if len(queue) >= self.queue_size and self._session is not None:
            self._session.pause_reading()

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: on_frame callback failed", self.name, exc_info=task.exception())

    def _wake_receivers(self, count: int | None = None) -> None:
        receivers = self._receivers
        while receivers and (count is None or count > 0):
            fut = receivers.popleft()
            if not fut.done():
                fut.set_result(None)
                if count is not None:
                    count -= 1

    def _resume_reading_if_drained(self) -> None:
        session = self._session
        if session is not None and session.read_paused and len(self._queue) <= self.queue_size // 2:
            session.resume_reading()

    def pause_reading(self) -> None:
        """Stop reading from the broker: for an ``on_frame`` callback whose own work is full.

        Frames already read are still delivered; the next ones wait in the
        broker, whose slow-consumer rule then applies. Lasts until
        `resume_reading` or a new connection.
        """
        if self._session is not None:
            self._session.pause_reading()

    def resume_reading(self) -> None:
        """Read from the broker again after `pause_reading` (unless the receive queue is full)."""
        if len(self._queue) < self.queue_size and self._session is not None:
            self._session.resume_reading()

    @property
    def queued(self) -> int:
        """Frames received and waiting in the queue (as the blocking client's ``queued``)."""
        return len(self._queue)

    async def receive(self, timeout: float | None = None) -> Frame:
        """The next received frame (`elbus_spec.Message`, `Broadcast` or `Publication`).

        Raises TimeoutError after ``timeout`` seconds, and `ConnectionClosed` once the
        client is closed for good and the queue is empty.
        """
        async with asyncio.timeout(timeout):
            queue = self._queue
            while not queue:
                if self.closed:
                    raise ConnectionClosed("the client is closed")
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._receivers.append(fut)
                try:
                    await fut
                except asyncio.CancelledError:
                    if fut.done() and not fut.cancelled() and queue:
                        self._wake_receivers(1)  # pass the wake-up on to another receiver
                    raise
            frame = queue.popleft()
            if queue and self._receivers:
                self._wake_receivers(1)
            self._resume_reading_if_drained()
            return frame

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None


async def connect(
    address: str,
    name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ping_interval: float = 1.0,
    reconnect: bool = False,
    reconnect_delay: float = 0.1,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    busy_poll: float = 0.0,
) -> Client:
    """Connect to the broker at ``address`` and register ``name``; see `Client` and `Client.connect`."""
    client = Client(
        address,
        name,
        timeout=timeout,
        ping_interval=ping_interval,
        reconnect=reconnect,
        reconnect_delay=reconnect_delay,
        max_frame_length=max_frame_length,
        queue_size=queue_size,
        busy_poll=busy_poll,
    )
    return await client.connect()


async def connect_secondary(address: str, name: str, suffix: str | int, **options: Any) -> Client:
    """Connect as the secondary ``<name>%%<suffix>``; raises `elbus_spec.NotRegistered` when
    the primary ``name`` is not registered (otherwise as `connect`)."""
    return await connect(address, f"{primary_name(name)}{SECONDARY_SEPARATOR}{suffix}", **options)
