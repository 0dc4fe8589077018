"""The blocking client: one socket, a reader thread, a pinger thread, thread-safe sends.

All protocol logic is in `elbus_spec.ClientConnection`; this module moves
bytes and keeps the bookkeeping: which operations await an ack, where
received frames go, how a connection ends and, optionally, how it is
re-established.

Locks, always taken in this order:
- ``_write_lock`` serialises whole frames on the socket: a frame is encoded
  and written with one ``sendall`` under it, so frames sent from many
  threads never interleave and op ids reach the wire in order;
- ``_state_lock`` (held briefly, never around I/O) guards the lost/closed
  flags and the tables of pending acks, so an operation is either
  registered before its connection ends (and then failed by it) or refused.
The reader thread takes ``_write_lock`` only after its connection has
ended (to close the descriptor): a writer blocked on a full socket must
never stop acks from being read.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

from elbus_spec import (
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_PING_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RECONNECT_DELAY,
    DEFAULT_TIMEOUT,
    PING_FRAME,
    SECONDARY_SEPARATOR,
    Ack,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    Busy,
    ClientConnection,
    Code,
    ConnectionClosed,
    ElbusError,
    Event,
    Frame,
    ProtocolViolation,
    QoS,
    codec,
    error_for_code,
    parse_address,
    primary_name,
)
from elbus_spec.errors import extension_loss_explained

from ._frame_queue import FrameQueue
from ._pending import DONE, Pending
from ._session import RECV_SIZE, Session, open_session

__all__ = ["Client", "connect", "FrameCallback", "DisconnectCallback", "ReconnectCallback", "DeniedCallback"]

_log = logging.getLogger("elbus_client")

_MAX_SECONDARY = 1000
_BY_CLIENT = "closed by the client"

Payload = bytes | bytearray | memoryview | str
FrameCallback = Callable[[Frame], object]
DisconnectCallback = Callable[[str], object]
ReconnectCallback = Callable[[], object]
DeniedCallback = Callable[[str, BrokerError], object]
_Encoder = Callable[[ClientConnection], tuple[int, bytes]]


def _as_bytes(payload: Payload) -> bytes | bytearray | memoryview:
    if isinstance(payload, str):
        return payload.encode()
    return payload



class Client:
    """A blocking elbus client, safe to use from many threads.

    ``Client(address, name)`` only stores its settings; `connect` (or
    ``with Client(...) as client``) opens the socket, registers ``name`` and
    starts two daemon threads: the reader (parses what arrives, resolves
    acks, delivers frames) and the pinger (a ping every ``ping_interval``).
    `close` ends both and joins them.

    ``address`` is a UNIX socket path (ends with ``.sock``/``.socket``/``.ipc``
    or starts with ``/``) or ``host:port`` for TCP. ``timeout`` bounds the
    connect and handshake, is the default wait for acks, and sets the
    dead-broker deadline: no byte from the broker for
    ``DEAD_BROKER_FACTOR * timeout`` ends the connection (the broker sends
    keep-alives every its own timeout, so keep ours at least as long). These
    rules, and what a topic, a payload and a frame may be, are
    `elbus_spec.ClientConnection`'s, shared with the asyncio client.

    Received frames go to a queue of ``queue_size`` frames read by `receive`
    or by iterating the client, or, when ``on_frame`` is set, to that
    callback, called on the reader thread.

    With ``reconnect`` a lost connection is re-established by the reader
    thread (jittered exponential backoff from ``reconnect_delay`` up to
    ``timeout``): the name is registered again and every subscription
    renewed (exclusions too), one topic per frame. Waits pending at the loss fail with
    `ConnectionClosed`, and so do operations attempted during the outage;
    received frames stay queued. ``retry_on_failed_connect`` (with
    ``reconnect`` only) makes `connect` retry the same way while the broker
    is unavailable, instead of raising `BrokerUnavailable`.

    Callbacks run on the reader thread: ``on_disconnect(reason)`` once per
    lost connection (not for `close`), ``on_reconnect()`` once per
    re-established one, and ``on_subscription_denied(topic, error)`` once for
    a subscription the broker refuses to renew (its access control changed,
    say): the topic is dropped and logged, never retried.

    Raises `ValueError` for an address that is neither form and
    `elbus_spec.LocalProtocolError` for a name the protocol cannot carry.
    """

    def __init__(
        self,
        address: str | os.PathLike[str],
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        reconnect: bool = False,
        reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
        retry_on_failed_connect: bool = False,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        on_frame: FrameCallback | None = None,
        on_disconnect: DisconnectCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        on_subscription_denied: DeniedCallback | None = None,
    ) -> None:
        if timeout <= 0 or ping_interval <= 0 or reconnect_delay <= 0:
            raise ValueError("timeout, ping_interval and reconnect_delay must be positive")
        if retry_on_failed_connect and not reconnect:
            raise ValueError("retry_on_failed_connect needs reconnect=True")
        codec.encode_registration(name)  # a name the protocol cannot carry fails here, not at connect
        self.address = os.fspath(address)
        self._endpoint = parse_address(self.address)
        self.name = name
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.retry_on_failed_connect = retry_on_failed_connect
        self.max_frame_length = max_frame_length
        self.queue_size = queue_size
        self.on_frame = on_frame
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        self.on_subscription_denied = on_subscription_denied
        self._queue = FrameQueue(queue_size)
        self._session: Session | None = None
        self._topics: set[str] = set()  # subscriptions and exclusions, renewed after a reconnect
        self._excluded: set[str] = set()
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closing = False
        self._close_reason: str | None = None
        self._closed_event = threading.Event()
        self._reader: threading.Thread | None = None
        self._pinger: threading.Thread | None = None

    def __repr__(self) -> str:
        if self.is_connected:
            state = "connected"
        elif self.closed:
            state = "closed"
        else:
            state = "reconnecting" if self._session is not None else "not connected"
        return f"<elbus_client.Client {self.name!r} at {self.address!r} {state}>"

    # --- life cycle ------------------------------------------------------------------

    def connect(self) -> Client:
        """Open the socket, register the name and start the reader and pinger threads; returns self.

        Raises the `elbus_spec.BrokerError` subclass of the broker's refusal
        (`Busy` for a name in use, `DataError` for an invalid one,
        `NotRegistered` for a secondary without its primary, `AccessDenied`,
        `NotSupported` for the greeting), `ConnectionClosed` when the broker
        hangs up without a reply, `elbus_spec.RemoteProtocolError` for a
        malformed handshake, `BrokerUnavailable` (an `OSError`) when the
        broker cannot be reached: no socket file, connection refused, or
        `ConnectTimeout` when connecting and registering take longer than
        ``timeout``. With ``retry_on_failed_connect`` an unavailable broker is
        tried again until it answers or the client is closed (then
        `ConnectionClosed`). A client connects once (it reconnects by itself
        with ``reconnect``): connecting it again raises `ConnectionClosed`.
        """
        if self._session is not None or self.closed:
            raise ConnectionClosed("a client connects only once; create a new one")
        try:
            session, early = self._open_first()
        except BaseException:
            self._finish("the first connection failed")
            raise
        with self._state_lock:
            installed = not self._closing
            if installed:
                self._session = session
        if not installed:  # closed from another thread while connecting
            session.sock.close()
            raise ConnectionClosed(self._close_reason or _BY_CLIENT)
        self._reader = threading.Thread(
            target=self._read_loop, args=(session, early), name=f"elbus-reader {self.name}", daemon=True
        )
        self._pinger = threading.Thread(target=self._ping_loop, name=f"elbus-pinger {self.name}", daemon=True)
        self._reader.start()
        self._pinger.start()
        return self

    def _open(self) -> tuple[Session, list[Event]]:
        return open_session(self._endpoint, self.address, self.name, timeout=self.timeout, max_frame_length=self.max_frame_length)

    def _open_first(self) -> tuple[Session, list[Event]]:
        """The first connection; with ``retry_on_failed_connect``, retried while the broker is unavailable."""
        delays = ClientConnection.reconnect_delays(self.reconnect_delay, self.timeout)
        while True:
            try:
                return self._open()
            except BrokerUnavailable as exc:
                if not self.retry_on_failed_connect:
                    raise
                _log.info("connecting %r to %s failed, retrying: %s", self.name, self.address, exc)
            if self._closed_event.wait(next(delays)):
                raise ConnectionClosed(self._close_reason or _BY_CLIENT)

    def close(self) -> None:
        """Close the connection (and stop reconnecting) and join the threads; idempotent.

        Every ack wait still pending fails with `ConnectionClosed`, and so
        do `receive` calls once the frames received so far are consumed.
        Safe to call from ``on_frame`` (the reader thread then ends when the
        callback returns).
        """
        with self._state_lock:
            self._closing = True  # from here on the reader installs no new connection
        session = self._session
        if session is not None:
            self._lose(session, _BY_CLIENT)
        self._finish(_BY_CLIENT)
        current = threading.current_thread()
        for thread in (self._reader, self._pinger):
            if thread is not None and thread is not current:
                thread.join(self.timeout)
                if thread.is_alive():
                    _log.warning("%s did not end within %s s (is an on_frame callback blocked?)", thread.name, self.timeout)
        if session is not None:
            with self._write_lock:  # no writer is inside sendall on this descriptor any more
                session.sock.close()

    def __enter__(self) -> Client:
        if self._session is None and not self.closed:
            self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def is_connected(self) -> bool:
        """True while a registered connection is up."""
        session = self._session
        return session is not None and session.lost is None and self._close_reason is None

    @property
    def closed(self) -> bool:
        """True once the client is closed for good: by `close`, or by a loss without ``reconnect``."""
        return self._closed_event.is_set()

    @property
    def close_reason(self) -> str | None:
        """Why the client closed (None while it lives)."""
        return self._close_reason

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the client is closed for good; False if ``timeout`` passed first."""
        return self._closed_event.wait(timeout)

    def _lose(self, session: Session, reason: str) -> None:
        """End one connection once: shut its socket (waking blocked I/O) and fail the acks it owed."""
        with self._state_lock:
            if session.lost is not None:
                return
            session.lost = reason
            pending = session.pending
            session.pending = {}
        if reason != _BY_CLIENT:
            _log.info("connection of %r to %s ended: %s", self.name, self.address, reason)
        try:
            session.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader in recv and any writer in sendall
        except OSError:
            pass  # already disconnected
        for waiter in pending.values():
            waiter._fail(reason)
        if not self.reconnect or self._closing:
            self._finish(reason)

    def _finish(self, reason: str) -> None:
        """Close the client for good: no more frames to wait for, and `closed` is true."""
        with self._state_lock:
            if self._close_reason is not None:
                return
            self._close_reason = reason
            self._closing = True
        self._queue.close(reason)
        self._closed_event.set()  # last: whoever sees the client closed sees every wait failed

    def _down_reason(self, session: Session | None) -> str:
        if self._close_reason is not None:
            return self._close_reason
        if session is None:
            return "not connected: call connect() first"
        return f"{session.lost}; reconnecting"

    # --- background threads ------------------------------------------------------------

    def _read_loop(self, session: Session | None, early: list[Event]) -> None:
        while session is not None:
            reason = self._read(session, early)
            self._lose(session, reason)
            with self._write_lock:  # the shutdown in _lose has made every writer give up
                session.sock.close()
            if session.lost != _BY_CLIENT:
                self._call(self.on_disconnect, session.lost or reason)
            session, early = self._reconnect() if self.reconnect else (None, [])
            if session is not None:
                self._call(self.on_reconnect)

    def _call(self, callback: Callable[..., object] | None, *args: object) -> None:
        """Run an application callback on the reader thread; its failure is logged, never fatal."""
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            _log.exception("%s callback of %r failed", getattr(callback, "__name__", "a"), self.name)

    def _read(self, session: Session, early: list[Event]) -> str:
        """Read and dispatch until the connection ends; returns why it ended."""
        try:
            violation = self._dispatch(session, early)
            buf = bytearray(RECV_SIZE)
            view = memoryview(buf)
            receive = session.conn.receive_data
            while violation is None and session.lost is None:
                try:
                    size = session.sock.recv_into(buf)
                except TimeoutError:
                    return f"no data from the broker for {session.conn.dead_broker_after:g} s: the broker is gone"
                except OSError as exc:
                    return session.lost or f"read failed: {exc}"
                if not size:
                    return session.lost or "the broker closed the connection"
                violation = self._dispatch(session, receive(view[:size]))
            return session.lost or f"protocol violation by the broker: {violation}"
        except Exception:  # a bug here must still end the connection, not leave waiters hanging
            _log.exception("reader of %r failed", self.name)
            return "the reader thread failed"

    def _dispatch(self, session: Session, events: list[Event]) -> str | None:
        """Hand out received events; returns the reason of a protocol violation, if any."""
        for event in events:
            if session.lost is not None:
                return None  # closed meanwhile (from a callback): the rest is not delivered
            if isinstance(event, Frame):
                callback = self.on_frame
                if callback is None:
                    self._queue.put(event)
                    continue
                try:
                    callback(event)
                except Exception:
                    _log.exception("on_frame callback of %r failed on %r", self.name, event)
            elif isinstance(event, Ack):
                with self._state_lock:
                    waiter = session.pending.pop(event.op_id, None)
                if waiter is not None:
                    waiter._resolve(event.code)
            elif isinstance(event, ProtocolViolation):
                return event.reason
        return None

    def _reconnect(self) -> tuple[Session | None, list[Event]]:
        """Connect again until it works or the client is closed; returns the new session (None when closed)."""
        delays = ClientConnection.reconnect_delays(self.reconnect_delay, self.timeout)
        while not self._closed_event.wait(next(delays)):
            try:
                session, early = self._open()
            except (OSError, ElbusError) as exc:
                _log.info("reconnecting %r to %s failed: %s", self.name, self.address, exc)
                continue
            with self._state_lock:
                installed = not self._closing
                renewals = [(self._topics, topic) for topic in sorted(self._topics)]
                renewals += [(self._excluded, topic) for topic in sorted(self._excluded)]
            try:
                if installed and renewals:
                    self._renew(session, renewals)  # before the session is shared: no other writer yet
            except OSError as exc:
                _log.info("renewing the subscriptions of %r failed: %s", self.name, exc)
                installed = False
            with self._state_lock:
                installed = installed and not self._closing
                if installed:
                    self._session = session
            if not installed:
                session.sock.close()
                continue  # closed meanwhile (the loop ends), or the renewal failed (retry)
            _log.info("%r reconnected to %s", self.name, self.address)
            return session, early
        return None, []

    def _renew(self, session: Session, renewals: list[tuple[set[str], str]]) -> None:
        """Subscribe and exclude again on the new connection, one frame per topic; the reader checks the acks.

        One frame per topic, so that each ack speaks for one topic: a refused
        one is dropped and reported once (`_denied`), the others stay renewed.
        """
        frames = []
        for record, topic in renewals:
            if record is self._topics:
                op_id, data = session.conn.send_subscribe([topic], QoS.PROCESSED)
                what = f"the subscription to {topic!r}"
            else:
                op_id, data = session.conn.send_exclude([topic], QoS.PROCESSED)
                what = f"the exclusion of {topic!r}"
            pending = session.pending[op_id] = Pending(op_id, f"renewal of {what}")
            pending.add_done_callback(self._check_renewal(record, topic, what))
            frames.append(data)
        session.sock.sendall(b"".join(frames))

    def _check_renewal(self, record: set[str], topic: str, what: str) -> Callable[[Pending], None]:
        def check(done: Pending) -> None:
            # Not a reason to drop the connection: the topic would be refused again on every attempt.
            if done.code is not None and done.code != Code.OK:
                self._denied(record, topic, error_for_code(done.code, f"{self.name!r}: renewing {what} refused"))

        return check

    def _denied(self, record: set[str], topic: str, error: BrokerError) -> None:
        with self._state_lock:
            record.discard(topic)
        _log.warning("%s; the topic is dropped", error)
        self._call(self.on_subscription_denied, topic, error)

    def _track(self, record: set[str], topics: list[str]) -> Callable[[Pending], None]:
        """Record a SUBSCRIBE's (or EXCLUDE's) topics for renewal once its ack says what the broker kept."""

        def track(done: Pending) -> None:
            if done.code is None:
                return  # the connection ended first: the subscription did not survive it
            kept = ClientConnection.renewable(topics, None if done is DONE else done.code)
            with self._state_lock:
                record.update(kept)

        return track

    def _untrack(self, record: set[str], topics: list[str]) -> None:
        with self._state_lock:
            record.difference_update(topics)

    def _ping_loop(self) -> None:
        while not self._closed_event.wait(self.ping_interval):
            session = self._session
            if session is None or session.lost is not None:
                continue  # reconnecting
            with self._write_lock:
                if session.lost is None:
                    try:
                        self._sendall(session, PING_FRAME)
                    except ConnectionClosed:
                        continue

    # --- sending -----------------------------------------------------------------------

    def _sendall(self, session: Session, data: bytes) -> None:
        try:
            session.sock.sendall(data)
        except OSError as exc:
            # A partly written frame leaves the stream unusable: the connection ends here.
            if isinstance(exc, TimeoutError):
                reason = "the broker did not read for too long"
            elif isinstance(exc, BrokenPipeError | ConnectionResetError):
                reason = "the broker closed the connection"
            else:
                reason = f"write failed: {exc}"
            self._lose(session, reason)
            raise ConnectionClosed(session.lost or reason) from exc

    def _submit(self, encode: _Encoder, qos: int, description: str) -> Pending:
        """Encode and write one frame; the `Pending` is registered before the write so no ack can outrun it.

        The connection's rules refuse a bad payload, topic, QoS or an
        oversized frame while encoding, before anything is written.
        """
        with self._write_lock:
            session = self._session
            if session is None or session.lost is not None:
                raise ConnectionClosed(self._down_reason(session))
            op_id, data = encode(session.conn)  # outside the state lock: encoding a large payload must not delay acks
            with self._state_lock:
                if session.lost is not None:
                    raise ConnectionClosed(self._down_reason(session))
                if qos & 1:
                    pending = session.pending[op_id] = Pending(op_id, description)
                else:
                    pending = DONE
            self._sendall(session, data)
        return pending

    def _wait(self, pending: Pending, timeout: float | None) -> None:
        if pending is DONE:
            return
        if threading.current_thread() is self._reader:
            raise RuntimeError("waiting for an ack on the reader thread would deadlock; use the *_nowait variant")
        try:
            pending.wait(self.timeout if timeout is None else timeout)
        except BrokerTimeout:
            session = self._session
            with self._state_lock:  # the ack is given up: do not keep its entry forever
                if session is not None and session.pending.get(pending.op_id) is pending:
                    del session.pending[pending.op_id]
            raise

    def send_nowait(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a one-to-one MESSAGE to the client ``target`` without waiting for the ack.

        Returns a `Pending` (already done when ``qos`` asks for no ack).
        Raises `ConnectionClosed` when the connection has ended, and, with
        nothing written and the connection kept: `FrameTooLarge` for a frame
        body over ``max_frame_length``, `TypeError` for a payload that is
        neither bytes nor str, `ValueError` for an unknown ``qos``,
        `LocalProtocolError` for a target the protocol cannot carry (NUL in it).
        """
        data = _as_bytes(payload)
        return self._submit(lambda conn: conn.send_message(target, data, qos), qos, f"message to {target!r}")

    def broadcast_nowait(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a BROADCAST to every client matching ``mask`` (``?`` one part, ``*`` the rest); see `send_nowait`."""
        data = _as_bytes(payload)
        return self._submit(lambda conn: conn.send_broadcast(mask, data, qos), qos, f"broadcast to {mask!r}")

    def publish_nowait(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a PUBLISH to ``topic`` (no ``+``/``#`` in it: `InvalidTopic`); see `send_nowait`."""
        ClientConnection.check_publication_topic(topic)
        data = _as_bytes(payload)
        return self._submit(lambda conn: conn.send_publish(topic, data, qos), qos, f"publication to {topic!r}")

    def publish_for_nowait(self, topic: str, receiver: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a PUBLISH_FOR (a BUS/RT extension the original elbus broker refuses); see `send_nowait`."""
        ClientConnection.check_publication_topic(topic)
        data = _as_bytes(payload)
        return self._submit(
            lambda conn: conn.send_publish_for(topic, receiver, data, qos), qos, f"publication to {topic!r} for {receiver!r}"
        )

    def subscribe_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write a SUBSCRIBE for topic patterns (``+`` one level, ``#`` the rest; renewed on reconnect); see `send_nowait`.

        Raises `InvalidTopic` for a pattern with ``+`` or ``#`` inside a level,
        or ``#`` before the last level. Topics are renewed after a reconnect
        once the broker has acknowledged them (a refused one is not).
        """
        items = ClientConnection.check_patterns(topics)
        pending = self._submit(lambda conn: conn.send_subscribe(items, qos), qos, f"subscription to {items!r}")
        pending.add_done_callback(self._track(self._topics, items))
        return pending

    def unsubscribe_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an UNSUBSCRIBE; see `send_nowait`."""
        items = ClientConnection.check_patterns(topics)
        pending = self._submit(lambda conn: conn.send_unsubscribe(items, qos), qos, f"unsubscription from {items!r}")
        self._untrack(self._topics, items)
        return pending

    def exclude_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an EXCLUDE (a BUS/RT extension the original elbus broker refuses; renewed on reconnect); see `send_nowait`."""
        items = ClientConnection.check_patterns(topics)
        pending = self._submit(lambda conn: conn.send_exclude(items, qos), qos, f"exclusion of {items!r}")
        pending.add_done_callback(self._track(self._excluded, items))
        return pending

    def unexclude_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an UNEXCLUDE (a BUS/RT extension the original elbus broker refuses); see `send_nowait`."""
        items = ClientConnection.check_patterns(topics)
        pending = self._submit(lambda conn: conn.send_unexclude(items, qos), qos, f"unexclusion of {items!r}")
        self._untrack(self._excluded, items)
        return pending

    def send(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Send a one-to-one MESSAGE; with an acknowledged ``qos``, block until the broker's ack.

        ``timeout`` None means the client's timeout. Raises the
        `elbus_spec.BrokerError` subclass of the ack code (`NotRegistered`
        when no client has that name, `NotDelivered`, `AccessDenied` ...),
        `elbus_spec.BrokerTimeout` when no ack came in time,
        `ConnectionClosed` when the connection ended first.
        """
        self._wait(self.send_nowait(target, payload, qos=qos), timeout)

    def broadcast(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Broadcast to the clients matching ``mask``; blocks and raises as `send`."""
        self._wait(self.broadcast_nowait(mask, payload, qos=qos), timeout)

    def publish(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Publish to ``topic``; blocks and raises as `send`."""
        self._wait(self.publish_nowait(topic, payload, qos=qos), timeout)

    def publish_for(
        self, topic: str, receiver: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED, timeout: float | None = None
    ) -> None:
        """Publish to ``topic`` for the subscribers whose primary name is ``receiver`` (BUS/RT extension)."""
        pending = self.publish_for_nowait(topic, receiver, payload, qos=qos)
        with extension_loss_explained("PUBLISH_FOR"):
            self._wait(pending, timeout)

    def subscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Subscribe to topic patterns; blocks and raises as `send`."""
        self._wait(self.subscribe_nowait(*topics, qos=qos), timeout)

    def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Unsubscribe from topic patterns; blocks and raises as `send`."""
        self._wait(self.unsubscribe_nowait(*topics, qos=qos), timeout)

    def exclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Exclude topic patterns from delivery (BUS/RT extension)."""
        pending = self.exclude_nowait(*topics, qos=qos)
        with extension_loss_explained("EXCLUDE"):
            self._wait(pending, timeout)

    def unexclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Remove topic exclusions (BUS/RT extension)."""
        pending = self.unexclude_nowait(*topics, qos=qos)
        with extension_loss_explained("UNEXCLUDE"):
            self._wait(pending, timeout)

    # --- receiving ---------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Frame:
        """The next received frame (`elbus_spec.Message`, `Broadcast` or `Publication`).

        Raises `ReceiveTimeout` (a `TimeoutError`) when none arrives within ``timeout`` seconds
        (None waits as long as the connection lives) and `ConnectionClosed`
        once the connection has ended and every frame received before has
        been handed out. Frames come here only while ``on_frame`` is None.
        """
        return self._queue.get(timeout)

    def __iter__(self) -> Iterator[Frame]:
        """Received frames, blocking for each, until the connection ends."""
        while True:
            try:
                yield self._queue.get()
            except ConnectionClosed:
                return

    @property
    def queued(self) -> int:
        """Frames received and not yet taken by `receive`."""
        return len(self._queue)

    # --- secondaries -------------------------------------------------------------------

    def secondary(self, suffix: str | int | None = None, *, on_frame: FrameCallback | None = None) -> Client:
        """Connect a secondary client ``primary%%suffix`` to the same broker with the same settings.

        A secondary registers only while its primary is (else
        `elbus_spec.NotRegistered`), and the broker drops it when the
        primary leaves. With ``suffix`` None the first free number from 1
        up is taken. Raises as `connect`.
        """
        primary = primary_name(self.name)
        suffixes = [suffix] if suffix is not None else range(1, _MAX_SECONDARY + 1)
        for item in suffixes:
            client = Client(
                self.address,
                f"{primary}{SECONDARY_SEPARATOR}{item}",
                timeout=self.timeout,
                ping_interval=self.ping_interval,
                reconnect=self.reconnect,
                reconnect_delay=self.reconnect_delay,
                retry_on_failed_connect=self.retry_on_failed_connect,
                max_frame_length=self.max_frame_length,
                queue_size=self.queue_size,
                on_frame=on_frame,
                on_disconnect=self.on_disconnect,
                on_reconnect=self.on_reconnect,
                on_subscription_denied=self.on_subscription_denied,
            )
            try:
                return client.connect()
            except Busy:
                if suffix is not None:
                    raise
        raise Busy(f"{primary}{SECONDARY_SEPARATOR}1 .. {_MAX_SECONDARY} are all registered")


def connect(
    address: str | os.PathLike[str],
    name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ping_interval: float = DEFAULT_PING_INTERVAL,
    reconnect: bool = False,
    reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
    retry_on_failed_connect: bool = False,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_frame: FrameCallback | None = None,
    on_disconnect: DisconnectCallback | None = None,
    on_reconnect: ReconnectCallback | None = None,
    on_subscription_denied: DeniedCallback | None = None,
) -> Client:
    """Connect to the broker at ``address`` as ``name`` and return the connected `Client`.

    Use it directly or as ``with elbus_client.connect(...) as client:``.
    Raises as `Client.connect`.
    """
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
        on_frame=on_frame,
        on_disconnect=on_disconnect,
        on_reconnect=on_reconnect,
        on_subscription_denied=on_subscription_denied,
    )
    return client.connect()
