"""The blocking client: one socket, a reader thread, a pinger thread, thread-safe sends.

All protocol logic is in `elbus_spec.ClientConnection`; this module moves
bytes and keeps the bookkeeping: which operations await an ack, where
received frames go, and how the connection ends.

Locks, always taken in this order:
- ``_write_lock`` serialises whole frames on the socket: a frame is encoded
  and written with one ``sendall`` under it, so frames sent from many
  threads never interleave and op ids reach the wire in order;
- ``_state_lock`` (held briefly, never around I/O) guards the closed flag
  and the table of pending acks, so an operation is either registered
  before the connection ends (and then failed by it) or refused.
The reader thread takes ``_write_lock`` only after the connection has
ended (to close the descriptor): a writer blocked on a full socket must
never stop acks from being read.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from elbus_spec import (
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    PING_FRAME,
    SECONDARY_SEPARATOR,
    Ack,
    BrokerTimeout,
    Busy,
    ClientConnection,
    Event,
    Frame,
    ProtocolViolation,
    QoS,
    Refused,
    Registered,
    RemoteProtocolError,
    error_for_code,
    primary_name,
)

from ._address import open_socket, parse_address
from ._errors import ConnectionClosed
from ._frame_queue import FrameQueue
from ._pending import DONE, Pending

__all__ = ["Client", "connect", "DEAD_BROKER_FACTOR"]

_log = logging.getLogger("elbus_client")

# The broker sends a keep-alive NOP every `timeout` seconds (its own
# timeout, 5 s by default in the standalone server). Silence for twice our
# timeout tolerates one late NOP and scheduling jitter before the broker is
# declared dead; the same bound applies to a write the broker does not drain.
DEAD_BROKER_FACTOR = 2.0

_RECV_SIZE = 256 * 1024
_MAX_SECONDARY = 1000

Payload = bytes | bytearray | memoryview | str
FrameCallback = Callable[[Frame], object]


def _as_bytes(payload: Payload) -> bytes | bytearray | memoryview:
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, memoryview) and (payload.format != "B" or not payload.c_contiguous):
        return payload.tobytes()  # the codec counts bytes with len(): only a flat byte view has the right length
    return payload


def _check_topics(topics: tuple[str, ...]) -> list[str]:
    if not topics:
        raise ValueError("at least one topic is required")
    for topic in topics:
        if not isinstance(topic, str):
            raise TypeError(f"topics must be str, not {type(topic).__name__} (pass them as separate arguments)")
    return list(topics)


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
    ``DEAD_BROKER_FACTOR * timeout`` closes the connection (the broker sends
    keep-alives every its own timeout, so keep ours at least as long).

    Received frames go to a queue of ``queue_size`` frames read by `receive`
    or by iterating the client, or, when ``on_frame`` is set, to that
    callback, called on the reader thread.

    Raises `ValueError` for an address that is neither form and
    `elbus_spec.LocalProtocolError` for a name the protocol cannot carry.
    """

    def __init__(
        self,
        address: str | os.PathLike[str],
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ping_interval: float = 1.0,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        on_frame: FrameCallback | None = None,
    ) -> None:
        if timeout <= 0 or ping_interval <= 0:
            raise ValueError("timeout and ping_interval must be positive")
        self.address = os.fspath(address)
        self._endpoint = parse_address(self.address)
        self.name = name
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.max_frame_length = max_frame_length
        self.queue_size = queue_size
        self.on_frame = on_frame
        self._conn = ClientConnection(name, max_frame_length=max_frame_length)  # validates the name now
        self._queue = FrameQueue(queue_size)
        self._sock: socket.socket | None = None
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self._close_reason: str | None = None
        self._closed_event = threading.Event()
        self._reader: threading.Thread | None = None
        self._pinger: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else ("closed" if self._close_reason else "not connected")
        return f"<elbus_client.Client {self.name!r} at {self.address!r} {state}>"

    # --- life cycle ------------------------------------------------------------------

    def connect(self) -> Client:
        """Open the socket, register the name and start the reader and pinger threads; returns self.

        Raises the `elbus_spec.BrokerError` subclass of the broker's refusal
        (`Busy` for a name in use, `DataError` for an invalid one,
        `NotRegistered` for a secondary without its primary, `AccessDenied`,
        `NotSupported` for the greeting), `BrokerTimeout` when the handshake
        takes longer than ``timeout``, `ConnectionClosed` when the broker
        hangs up without a reply, `elbus_spec.RemoteProtocolError` for a
        malformed handshake, `OSError` when the socket cannot connect. A
        client connects once: a closed client raises `ConnectionClosed`.
        """
        if self._sock is not None or self._close_reason is not None:
            raise ConnectionClosed("a client connects only once; create a new one")
        sock = open_socket(self._endpoint, self.timeout)
        try:
            early = self._handshake(sock)
        except BaseException:
            sock.close()
            self._close_reason = "the handshake failed"
            self._closed_event.set()
            raise
        sock.settimeout(self.timeout * DEAD_BROKER_FACTOR)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, args=(sock, early), name=f"elbus-reader {self.name}", daemon=True)
        self._pinger = threading.Thread(target=self._ping_loop, name=f"elbus-pinger {self.name}", daemon=True)
        self._reader.start()
        self._pinger.start()
        return self

    def _handshake(self, sock: socket.socket) -> list[Event]:
        """Greeting and registration; returns events that arrived right behind the registration result."""
        conn = self._conn
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerTimeout(f"no registration reply from {self.address} within {self.timeout} s")
            sock.settimeout(remaining)
            try:
                data = sock.recv(_RECV_SIZE)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionClosed(f"{self.address} closed the connection during the handshake of {self.name!r}")
            events = conn.receive_data(data)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
            for index, event in enumerate(events):
                if isinstance(event, Registered):
                    return events[index + 1 :]
                if isinstance(event, Refused):
                    raise error_for_code(event.code, f"{self.address} refused {self.name!r} at {event.stage}: {event.code_name}")
                if isinstance(event, ProtocolViolation):
                    raise RemoteProtocolError(event.reason)

    def close(self) -> None:
        """Close the connection and join the threads; idempotent.

        Every ack wait still pending fails with `ConnectionClosed`, and so
        do `receive` calls once the frames received so far are consumed.
        Safe to call from ``on_frame`` (the reader thread then ends when the
        callback returns).
        """
        self._lose("closed by the client")
        current = threading.current_thread()
        for thread in (self._reader, self._pinger):
            if thread is not None and thread is not current:
                thread.join(self.timeout)
                if thread.is_alive():
                    _log.warning("%s did not end within %s s (is an on_frame callback blocked?)", thread.name, self.timeout)
        if self._sock is not None:
            with self._write_lock:  # no writer is inside sendall on this descriptor any more
                self._sock.close()

    def __enter__(self) -> Client:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def is_connected(self) -> bool:
        """True between a successful `connect` and the end of the connection."""
        return self._sock is not None and self._close_reason is None

    @property
    def closed(self) -> bool:
        """True once the connection has ended, for whatever reason."""
        return self._closed_event.is_set()

    @property
    def close_reason(self) -> str | None:
        """Why the connection ended (None while it lives)."""
        return self._close_reason

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the connection ends; False if ``timeout`` passed first."""
        return self._closed_event.wait(timeout)

    def _lose(self, reason: str) -> None:
        """End the connection once: fail pending acks, wake receivers, and shut the socket to wake blocked I/O."""
        with self._state_lock:
            if self._close_reason is not None:
                return
            self._close_reason = reason
            pending = self._pending
            self._pending = {}
        if reason != "closed by the client":
            _log.info("connection of %r to %s ended: %s", self.name, self.address, reason)
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader in recv and any writer in sendall
            except OSError:
                pass  # already disconnected
        for waiter in pending.values():
            waiter._fail(reason)
        self._queue.close(reason)
        self._closed_event.set()  # last: whoever sees the client closed sees every wait failed

    # --- background threads ------------------------------------------------------------

    def _read_loop(self, sock: socket.socket, early: list[Event]) -> None:
        reason = "the broker closed the connection"
        try:
            self._dispatch(early)
            buf = bytearray(_RECV_SIZE)
            view = memoryview(buf)
            receive = self._conn.receive_data
            while self._close_reason is None:
                try:
                    size = sock.recv_into(buf)
                except TimeoutError:
                    reason = f"no data from the broker for {self.timeout * DEAD_BROKER_FACTOR:g} s: the broker is gone"
                    break
                except OSError as exc:
                    reason = f"read failed: {exc}"
                    break
                if not size:
                    break
                violation = self._dispatch(receive(view[:size]))
                if violation is not None:
                    reason = f"protocol violation by the broker: {violation}"
                    break
        except Exception:  # a bug here must still end the connection, not leave waiters hanging
            _log.exception("reader of %r failed", self.name)
            reason = "the reader thread failed"
        finally:
            self._lose(reason)
            with self._write_lock:  # the shutdown in _lose has made every writer give up
                sock.close()

    def _dispatch(self, events: list[Event]) -> str | None:
        """Hand out received events; returns the reason of a protocol violation, if any."""
        for event in events:
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
                    waiter = self._pending.pop(event.op_id, None)
                if waiter is not None:
                    waiter._resolve(event.code)
            elif isinstance(event, ProtocolViolation):
                return event.reason
        return None

    def _ping_loop(self) -> None:
        while not self._closed_event.wait(self.ping_interval):
            try:
                self._write(PING_FRAME)
            except ConnectionClosed:
                return

    # --- sending -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            if self._close_reason is not None:
                raise ConnectionClosed(self._close_reason)
            self._sendall(data)

    def _sendall(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError as exc:
            # A partly written frame leaves the stream unusable: the connection ends here.
            if isinstance(exc, TimeoutError):
                reason = "the broker did not read for too long"
            elif isinstance(exc, BrokenPipeError | ConnectionResetError):
                reason = "the broker closed the connection"
            else:
                reason = f"write failed: {exc}"
            self._lose(reason)
            raise ConnectionClosed(self._close_reason or reason) from exc

    def _submit(self, encode: Callable[[], tuple[int, bytes]], qos: int, description: str) -> Pending:
        """Encode and write one frame; the `Pending` is registered before the write so no ack can outrun it."""
        qos = QoS(qos)
        with self._write_lock:
            if self._sock is None:
                raise ConnectionClosed(self._close_reason or "not connected: call connect() first")
            op_id, data = encode()  # outside the state lock: encoding a large payload must not delay acks
            with self._state_lock:
                if self._close_reason is not None:
                    raise ConnectionClosed(self._close_reason)
                if qos & 1:
                    pending = self._pending[op_id] = Pending(op_id, description)
                else:
                    pending = DONE
            self._sendall(data)
        return pending

    def _wait(self, pending: Pending, timeout: float | None) -> None:
        if pending is DONE:
            return
        if threading.current_thread() is self._reader:
            raise RuntimeError("waiting for an ack on the reader thread would deadlock; use the *_nowait variant")
        try:
            pending.wait(self.timeout if timeout is None else timeout)
        except BrokerTimeout:
            with self._state_lock:  # the ack is given up: do not keep its entry forever
                self._pending.pop(pending.op_id, None)
            raise

    def send_nowait(self, target: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a one-to-one MESSAGE to the client ``target`` without waiting for the ack.

        Returns a `Pending` (already done when ``qos`` asks for no ack).
        Raises `ConnectionClosed` when the connection has ended,
        `elbus_spec.LocalProtocolError` for a target the protocol cannot
        carry (NUL in it), `ValueError` for an unknown ``qos``.
        """
        data = _as_bytes(payload)
        return self._submit(lambda: self._conn.send_message(target, data, qos), qos, f"message to {target!r}")

    def broadcast_nowait(self, mask: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a BROADCAST to every client matching ``mask`` (``?`` one part, ``*`` the rest); see `send_nowait`."""
        data = _as_bytes(payload)
        return self._submit(lambda: self._conn.send_broadcast(mask, data, qos), qos, f"broadcast to {mask!r}")

    def publish_nowait(self, topic: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a PUBLISH to ``topic``; see `send_nowait`."""
        data = _as_bytes(payload)
        return self._submit(lambda: self._conn.send_publish(topic, data, qos), qos, f"publication to {topic!r}")

    def publish_for_nowait(self, topic: str, receiver: str, payload: Payload = b"", *, qos: int = QoS.PROCESSED) -> Pending:
        """Write a PUBLISH_FOR (a BUS/RT extension the original elbus broker refuses); see `send_nowait`."""
        data = _as_bytes(payload)
        return self._submit(
            lambda: self._conn.send_publish_for(topic, receiver, data, qos), qos, f"publication to {topic!r} for {receiver!r}"
        )

    def subscribe_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write a SUBSCRIBE for the topic patterns (``+`` one level, ``#`` the rest); see `send_nowait`."""
        items = _check_topics(topics)
        return self._submit(lambda: self._conn.send_subscribe(items, qos), qos, f"subscription to {items!r}")

    def unsubscribe_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an UNSUBSCRIBE; see `send_nowait`."""
        items = _check_topics(topics)
        return self._submit(lambda: self._conn.send_unsubscribe(items, qos), qos, f"unsubscription from {items!r}")

    def exclude_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an EXCLUDE (a BUS/RT extension the original elbus broker refuses); see `send_nowait`."""
        items = _check_topics(topics)
        return self._submit(lambda: self._conn.send_exclude(items, qos), qos, f"exclusion of {items!r}")

    def unexclude_nowait(self, *topics: str, qos: int = QoS.PROCESSED) -> Pending:
        """Write an UNEXCLUDE (a BUS/RT extension the original elbus broker refuses); see `send_nowait`."""
        items = _check_topics(topics)
        return self._submit(lambda: self._conn.send_unexclude(items, qos), qos, f"unexclusion of {items!r}")

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
        self._wait(self.publish_for_nowait(topic, receiver, payload, qos=qos), timeout)

    def subscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Subscribe to topic patterns; blocks and raises as `send`."""
        self._wait(self.subscribe_nowait(*topics, qos=qos), timeout)

    def unsubscribe(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Unsubscribe from topic patterns; blocks and raises as `send`."""
        self._wait(self.unsubscribe_nowait(*topics, qos=qos), timeout)

    def exclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Exclude topic patterns from delivery (BUS/RT extension)."""
        self._wait(self.exclude_nowait(*topics, qos=qos), timeout)

    def unexclude(self, *topics: str, qos: int = QoS.PROCESSED, timeout: float | None = None) -> None:
        """Remove topic exclusions (BUS/RT extension)."""
        self._wait(self.unexclude_nowait(*topics, qos=qos), timeout)

    # --- receiving ---------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Frame:
        """The next received frame (`elbus_spec.Message`, `Broadcast` or `Publication`).

        Raises `TimeoutError` when none arrives within ``timeout`` seconds
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
                max_frame_length=self.max_frame_length,
                queue_size=self.queue_size,
                on_frame=on_frame,
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
    ping_interval: float = 1.0,
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_frame: FrameCallback | None = None,
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
        max_frame_length=max_frame_length,
        queue_size=queue_size,
        on_frame=on_frame,
    )
    return client.connect()
