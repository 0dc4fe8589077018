"""The asyncio client: connect, send with acks, receive, keep-alive, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from elbus_spec import (
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_PING_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RECONNECT_DELAY,
    DEFAULT_TIMEOUT,
    SECONDARY_SEPARATOR,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    ClientConnection,
    ConnectionClosed,
    ConnectTimeout,
    ElbusError,
    Frame,
    QoS,
    ReceiveTimeout,
    primary_name,
)
from elbus_spec.errors import extension_loss_explained

from ._address import open_transport
from ._session import Session

__all__ = ["Client", "connect", "connect_secondary", "FrameCallback", "DisconnectCallback", "ReconnectCallback", "DeniedCallback"]

log = logging.getLogger("elbus_aio")

Payload = bytes | bytearray | memoryview | str
FrameCallback = Callable[[Frame], None] | Callable[[Frame], Awaitable[None]]
DisconnectCallback = Callable[[str], object]
ReconnectCallback = Callable[[], object]
DeniedCallback = Callable[[str, BrokerError], object]




class Client:
    """A named client of an elbus broker.

    Use ``await elbus_aio.connect(address, name)`` or ``async with
    elbus_aio.Client(address, name) as client``. ``address`` is a UNIX socket
    path (ending in ``.sock``/``.socket``/``.ipc`` or starting with ``/``) or
    ``host:port`` for TCP.

    ``timeout`` bounds connecting and registering, is the default wait for
    acks, and sets the dead-broker deadline: with no byte at all from the
    broker for ``DEAD_BROKER_FACTOR * timeout`` seconds (it sends keep-alives
    every its own timeout), the connection is dropped, which fails every
    pending wait with `ConnectionClosed`. These rules, and what a topic, a
    payload and a frame may be, are `elbus_spec.ClientConnection`'s, shared
    with the blocking client. Pings go out every
    ``ping_interval`` seconds. Received frames wait in a queue of
    ``queue_size`` frames; when it is full the client stops reading from the
    socket (the broker then applies its slow-consumer rule) rather than drop
    anything. With ``reconnect=True`` a lost connection is re-established in
    the background (with jittered exponential backoff from
    ``reconnect_delay`` up to ``timeout``), the name is registered again and
    every subscription is renewed, one topic per frame; waits pending at the
    loss fail with `ConnectionClosed`, and so do operations attempted during
    the outage. ``retry_on_failed_connect`` (with ``reconnect`` only) makes
    `connect` retry the same way while the broker is unavailable, instead of
    raising `BrokerUnavailable`.

    Callbacks (functions, or coroutine functions run as tasks):
    ``on_disconnect(reason)`` once per lost connection (not for `close`),
    ``on_reconnect()`` once per re-established one, and
    ``on_subscription_denied(topic, error)`` once for a subscription the
    broker refuses to renew (its access control changed, say): the topic is
    dropped and logged, never retried.

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
        ping_interval: float = DEFAULT_PING_INTERVAL,
        reconnect: bool = False,
        reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
        retry_on_failed_connect: bool = False,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        busy_poll: float = 0.0,
        on_disconnect: DisconnectCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        on_subscription_denied: DeniedCallback | None = None,
    ) -> None:
        if timeout <= 0 or ping_interval <= 0 or reconnect_delay <= 0:
            raise ValueError("timeout, ping_interval and reconnect_delay must be positive")
        if retry_on_failed_connect and not reconnect:
            raise ValueError("retry_on_failed_connect needs reconnect=True")
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
        self.retry_on_failed_connect = retry_on_failed_connect
        self.max_frame_length = max_frame_length
        self.queue_size = queue_size
        self.busy_poll = busy_poll
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        self.on_subscription_denied = on_subscription_denied
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

        Raises `BrokerUnavailable` (an `OSError`) when nothing listens at the
        address, `ConnectTimeout` (also a `TimeoutError`) when connecting and
        registering take longer than ``timeout``, the `BrokerError` subclass
        for a refusal (e.g. `Busy` when the name is taken, `NotRegistered` for
        a secondary whose primary is absent), and `ConnectionClosed` when the
        broker hangs up during the handshake. With ``retry_on_failed_connect``
        an unavailable broker is tried again until it answers or the client is
        closed (then `ConnectionClosed`).
        """
        if self._closing:
            raise ConnectionClosed("the client is closed")
        if self.is_connected:
            return self
        self._closed_future()
        delays = ClientConnection.reconnect_delays(self.reconnect_delay, self.timeout)
        while True:
            try:
                await self._open()
            except BrokerUnavailable as exc:
                if not self.retry_on_failed_connect:
                    raise
                log.info("%s: connecting failed, retrying: %s", self.name, exc)
            else:
                if self._closing and self._session is not None:  # closed while connecting: the connection goes too
                    self._session.close(ConnectionClosed("the client was closed while connecting"))
                    raise ConnectionClosed("the client was closed while connecting")
                return self
            await asyncio.sleep(next(delays))
            if self._closing:
                raise ConnectionClosed("the client was closed while connecting")

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
            session = Session(
                self.name, self._deliver, max_frame_length=self.max_frame_length, timeout=self.timeout, busy_poll=self.busy_poll
            )
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
            if isinstance(exc, ElbusError):
                raise
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(errno.ETIMEDOUT, f"no registration from {self.address} within {self.timeout} s") from None
            if isinstance(exc, OSError):
                raise BrokerUnavailable.wrap(self.address, exc) from exc
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
        if self.reconnect and self._reconnecting is not None and not self._reconnecting.done():
            return  # lost while the reconnect loop was renewing subscriptions: it retries
        self._call(self.on_disconnect, str(session.error))
        if self.reconnect:
            log.warning("%s: %s; reconnecting", self.name, session.error)
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(), name=f"elbus_aio reconnect {self.name}"
            )
        else:
            self._finish()

    async def _keep_alive(self, session: Session) -> None:
        """Ping every ping_interval; drop the connection when the broker is silent too long."""
        loop = session.loop
        idle_limit = session.conn.dead_broker_after
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
        delays = ClientConnection.reconnect_delays(self.reconnect_delay, self.timeout)
        while not self._closing:
            await asyncio.sleep(next(delays))
            try:
                await self._open()
                await self._renew()
            except (OSError, TimeoutError, ElbusError) as exc:
                log.info("%s: reconnect failed: %r", self.name, exc)
                if self._session is not None and self._session.ready:
                    self._session.abort(ConnectionClosed(f"renewing subscriptions failed: {exc!r}"))
                continue
            self._resume_reading_if_drained()
            log.info("%s: reconnected", self.name)
            self._call(self.on_reconnect)
            return

    async def _renew(self) -> None:
        """Subscribe and exclude again on a new connection, one acknowledged frame per topic.

        One frame per topic, so that each ack speaks for one topic: a refused
        one is dropped and reported once (`_denied`), the others stay renewed.
        A lost connection or a missing ack raises, and the reconnect loop
        tries again.
        """
        session = self._live()
        renewals: list[tuple[set[str], str, asyncio.Future[None]]] = []
        for record, encode in ((self._topics, session.conn.send_subscribe), (self._excluded, session.conn.send_exclude)):
            for topic in sorted(record):
                op_id, data = encode([topic], QoS.PROCESSED)
                renewals.append((record, topic, session.submit(op_id, data, QoS.PROCESSED)))
        if not renewals:
            return
        async with asyncio.timeout(self.timeout):
            outcomes = await asyncio.gather(*(fut for _, _, fut in renewals), return_exceptions=True)
        for (record, topic, _), outcome in zip(renewals, outcomes, strict=True):
            if isinstance(outcome, BrokerError):
                self._denied(record, topic, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome

    def _denied(self, record: set[str], topic: str, error: BrokerError) -> None:
        record.discard(topic)
        log.warning("%s: renewing %r refused (%s); the topic is dropped", self.name, topic, error)
        self._call(self.on_subscription_denied, topic, error)

    def _call(self, callback: Callable[..., object] | None, *args: object) -> None:
        """Run an application callback (a coroutine one as a task); its failure is logged, never fatal."""
        if callback is None:
            return
        try:
            result = callback(*args)
        except Exception:
            log.exception("%s: %s callback failed", self.name, getattr(callback, "__name__", "a"))
            return
        if inspect.isawaitable(result):
            task: asyncio.Task[Any] = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def secondary(self, suffix: str | int, **options: Any) -> Client:
        """An unconnected client registering as ``<primary>%%<suffix>`` with the same options
        (overridable); use it with ``await``-ed `connect` or ``async with``."""
        settings: dict[str, Any] = {
            "timeout": self.timeout,
            "ping_interval": self.ping_interval,
            "reconnect": self.reconnect,
            "reconnect_delay": self.reconnect_delay,
            "retry_on_failed_connect": self.retry_on_failed_connect,
            "max_frame_length": self.max_frame_length,
            "queue_size": self.queue_size,
            "busy_poll": self.busy_poll,
            "on_disconnect": self.on_disconnect,
            "on_reconnect": self.on_reconnect,
            "on_subscription_denied": self.on_subscription_denied,
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

        Raises `ConnectionClosed` when not connected, and, with nothing
        written and the connection kept: `FrameTooLarge` for a frame body over
        ``max_frame_length``, `TypeError` for a payload that is neither bytes
        nor str, `ValueError` for an unknown ``qos``, `LocalProtocolError` for
        a target containing NUL. The future fails with the `BrokerError` for
        the ack's code (e.g. `NotRegistered`) or with `ConnectionClosed`.
        """
        session = self._session
        if session is None or not session.ready:
            session = self._live()
        op_id, data = session.conn.send_message(target, payload, qos)
        return session.submit(op_id, data, qos)

    def broadcast_nowait(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Write a BROADCAST to every client matching ``mask`` at once; see `send_nowait`."""
        session = self._live()
        op_id, data = session.conn.send_broadcast(mask, payload, qos)
        return session.submit(op_id, data, qos)

    def publish_nowait(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> asyncio.Future[None]:
        """Write a PUBLISH to ``topic`` (no ``+``/``#`` in it: `InvalidTopic`) at once; see `send_nowait`."""
        ClientConnection.check_publication_topic(topic)
        session = self._live()
        op_id, data = session.conn.send_publish(topic, payload, qos)
        return session.submit(op_id, data, qos)

    async def _await(self, make: Callable[[], asyncio.Future[None]], timeout: float | None, what: str, about: object) -> None:
        # Respect backpressure before writing: a cancellation while waiting here
        # writes nothing; once written (whole, into the session's buffer), it goes out whole.
        session = self._live()
        if session.write_paused:
            await session.drain()
        fut = make()
        if fut.done():
            fut.result()
            return
        limit = session.conn.ack_timeout(timeout)
        try:
            async with asyncio.timeout(limit):
                await fut
        except TimeoutError:
            if not fut.cancelled():
                fut.result()  # the broker's own timeout code (BrokerTimeout), or an ack just as time ran out
                return
            session.forget_ack(fut)
            raise BrokerTimeout(f"no ack for {what} {about!r} within {limit} s") from None  # formatted only here: sends are hot

    async def send(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Send ``payload`` to the client named ``target``.

        With QoS bit 0 set (the default, PROCESSED) returns once the broker acknowledged,
        raising the `BrokerError` subclass of a failure code (`NotRegistered`
        when nobody has that name, `NotDelivered`, `AccessDenied`), and `BrokerTimeout`
        (a `TimeoutError`) when no ack comes within ``timeout`` seconds (None: the
        client's ``timeout``, as the blocking client). Raises `ConnectionClosed`
        when the connection is or gets closed, and as `send_nowait` for bad
        arguments. Cancelling leaves the connection usable.
        """
        await self._await(lambda: self.send_nowait(target, payload, qos=qos), timeout, "message to", target)

    async def broadcast(
        self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None
    ) -> None:
        """Send ``payload`` to every client whose name matches ``mask`` (``?``, ``*``); see `send`."""
        await self._await(lambda: self.broadcast_nowait(mask, payload, qos=qos), timeout, "broadcast to", mask)

    async def publish(
        self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None
    ) -> None:
        """Publish ``payload`` to ``topic``; see `send`."""
        await self._await(lambda: self.publish_nowait(topic, payload, qos=qos), timeout, "publication to", topic)

    async def publish_for(
        self, topic: str, receiver: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None
    ) -> None:
        """Publish to the subscribers whose primary name is ``receiver`` (a BUS/RT broker extension)."""

        ClientConnection.check_publication_topic(topic)

        def make() -> asyncio.Future[None]:
            session = self._live()
            op_id, data = session.conn.send_publish_for(topic, receiver, payload, qos)
            return session.submit(op_id, data, qos)

        self._live()  # a connection already down says so, not that the broker refused the extension
        with extension_loss_explained("PUBLISH_FOR"):
            await self._await(make, timeout, "publication to", topic)

    async def subscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Subscribe to topic patterns (``+`` one level, ``#`` the rest); renewed after a reconnect.

        Raises `InvalidTopic` for a pattern with ``+`` or ``#`` inside a level
        or ``#`` before the last level, ValueError without topics, otherwise as
        `send`. Topics are renewed after a reconnect once the broker has
        acknowledged them (a refused one is not).
        """
        await self._topics_op("send_subscribe", topics, qos, timeout, self._topics, add=True)

    async def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Drop subscriptions; raises as `subscribe`."""
        await self._topics_op("send_unsubscribe", topics, qos, timeout, self._topics, add=False)

    async def exclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Exclude topic patterns from delivery (a BUS/RT broker extension: the original elbus
        broker drops clients that use it); renewed after a reconnect. Raises as `subscribe`."""
        self._live()
        with extension_loss_explained("EXCLUDE"):
            await self._topics_op("send_exclude", topics, qos, timeout, self._excluded, add=True)

    async def unexclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Remove exclusions (a BUS/RT broker extension); raises as `subscribe`."""
        self._live()
        with extension_loss_explained("UNEXCLUDE"):
            await self._topics_op("send_unexclude", topics, qos, timeout, self._excluded, add=False)

    async def _topics_op(
        self, encoder: str, topics: tuple[str, ...], qos: int, timeout: float | None, record: set[str], *, add: bool
    ) -> None:
        """Send one topic operation; a removal is recorded at once, an addition once acknowledged."""
        items = ClientConnection.check_patterns(topics)
        acked = qos & 1 != 0

        def make() -> asyncio.Future[None]:
            session = self._live()
            op_id, data = getattr(session.conn, encoder)(items, qos)
            if not add:
                record.difference_update(items)
            elif not acked:
                record.update(items)
            return session.submit(op_id, data, qos)

        try:
            await self._await(make, timeout, encoder.removeprefix("send_"), items)
        except BrokerError as exc:
            if add and not isinstance(exc, BrokerTimeout):
                record.update(ClientConnection.renewable(items, exc.code))
            raise
        if add and acked:
            record.update(items)

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
            log.error("%s: callback failed", self.name, exc_info=task.exception())

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

        Raises `ReceiveTimeout` (a `TimeoutError`) after ``timeout`` seconds, and
        `ConnectionClosed` once the client is closed for good and the queue is empty.
        """
        try:
            return await self._receive(timeout)
        except TimeoutError:
            raise ReceiveTimeout(f"no frame received within {timeout} s") from None

    async def _receive(self, timeout: float | None) -> Frame:
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
    ping_interval: float = DEFAULT_PING_INTERVAL,
    reconnect: bool = False,
    reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
    retry_on_failed_connect: bool = False,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    busy_poll: float = 0.0,
    on_disconnect: DisconnectCallback | None = None,
    on_reconnect: ReconnectCallback | None = None,
    on_subscription_denied: DeniedCallback | None = None,
) -> Client:
    """Connect to the broker at ``address`` and register ``name``; see `Client` and `Client.connect`."""
    client = Client(
        address,
        name,
        timeout=timeout,
        ping_interval=ping_interval,
        reconnect=reconnect,
        reconnect_delay=reconnect_delay,
        retry_on_failed_connect=retry_on_failed_connect,
        max_frame_length=max_frame_length,
        queue_size=queue_size,
        busy_poll=busy_poll,
        on_disconnect=on_disconnect,
        on_reconnect=on_reconnect,
        on_subscription_denied=on_subscription_denied,
    )
    return await client.connect()


async def connect_secondary(address: str, name: str, suffix: str | int, **options: Any) -> Client:
    """Connect as the secondary ``<name>%%<suffix>``; raises `elbus_spec.NotRegistered` when
    the primary ``name`` is not registered (otherwise as `connect`)."""
    return await connect(address, f"{primary_name(name)}{SECONDARY_SEPARATOR}{suffix}", **options)
