"""One socket connection to the broker at the `asyncio.Protocol` level.

The protocol logic is `elbus_spec.ClientConnection`; this module only moves
bytes: it feeds what arrives into the connection object (every complete frame
of a chunk in one call), writes with ``transport.write`` directly, resolves
ack futures, and tracks transport backpressure and the time of the last byte
received (for dead-broker detection).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from elbus_spec import (
    Ack,
    ClientConnection,
    Code,
    ElbusError,
    Frame,
    KeepAlive,
    NotSupported,
    ProtocolViolation,
    Refused,
    Registered,
    RemoteProtocolError,
    error_for_code,
)

from ._errors import ConnectionClosed

__all__ = ["Session"]

log = logging.getLogger("elbus_aio")


class Session(asyncio.Protocol):
    """The byte mover of one connection; `Client` owns it and makes a new one per (re)connect."""

    def __init__(self, name: str, deliver: Callable[[Frame], None], *, max_frame_length: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.conn = ClientConnection(name, max_frame_length=max_frame_length)
        self.transport: asyncio.Transport | None = None
        self.registered: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.last_received = self.loop.time()
        self.error: ElbusError | None = None  # why the connection ended, once it has
        self.write_paused = False
        self.read_paused = False
        self._drain_waiters: deque[asyncio.Future[None]] = deque()
        self._deliver = deliver

    # --- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        conn = self.conn
        try:
            events = conn.receive_data(data)
        except ElbusError as exc:  # data after a refusal or a violation: the connection is over anyway
            self.abort(RemoteProtocolError(f"data after the connection ended: {exc}"))
            return
        out = conn.data_to_send()
        if out:
            self.transport.write(out)  # type: ignore[union-attr]
        acks = self.acks
        deliver = self._deliver
        for event in events:
            cls = type(event)
            if cls is Ack:
                fut = acks.pop(event.op_id, None)  # type: ignore[attr-defined]
                if fut is not None and not fut.done():
                    code = event.code  # type: ignore[attr-defined]
                    if code == Code.OK:
                        fut.set_result(None)
                    else:
                        fut.set_exception(error_for_code(code))
            elif cls is KeepAlive:
                continue
            elif isinstance(event, Frame):
                deliver(event)
            elif cls is Registered:
                if not self.registered.done():
                    self.registered.set_result(None)
            elif cls is Refused:
                self._refused(event)  # type: ignore[arg-type]
                return
            elif cls is ProtocolViolation:
                self.abort(RemoteProtocolError(event.reason))  # type: ignore[attr-defined]
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            reason = f": {exc}" if exc else ""
            self.error = ConnectionClosed(f"connection to the broker lost{reason}")
        self._fail_waiters(self.error)
        if not self.registered.done():
            self.registered.set_exception(self.error)
            self.registered.exception()  # retrieved here: connect() reads it, or nobody needs to
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        while self._drain_waiters:
            fut = self._drain_waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    # --- used by the client ------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.error is None and self.transport is not None and self.registered.done()

    def check_open(self) -> None:
        """Raise ConnectionClosed (or why the connection ended) unless frames can be sent."""
        if self.error is not None:
            raise self.error if isinstance(self.error, ConnectionClosed) else ConnectionClosed(str(self.error))
        if self.transport is None or self.transport.is_closing():
            raise ConnectionClosed("the connection is closing")

    def submit(self, op_id: int, data: bytes, qos: int) -> asyncio.Future[None]:
        """Write one whole frame now; the future resolves at its ack (at once without QoS bit 0)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if qos & 1:
            self.acks[op_id] = fut
        else:
            fut.set_result(None)
        self.transport.write(data)  # type: ignore[union-attr]
        return fut

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        self.check_open()
        if not self.write_paused:
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(fut)
        await fut

    def pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.transport.is_closing():
            self.read_paused = False
            self.last_received = self.loop.time()  # silence while we did not read is not the broker's
            self.transport.resume_reading()

    def close(self, error: ElbusError) -> None:
        """Flush what is written, then close; pending waits fail with ``error`` now."""
        if self.error is None:
            self.error = error
        self._fail_waiters(self.error)
        if self.transport is not None:
            self.transport.close()

    def abort(self, error: ElbusError) -> None:
        """Drop the connection at once (protocol violation, dead broker)."""
        if self.error is None:
            self.error = error
            log.warning("closing the connection to the broker: %s", error)
        self._fail_waiters(self.error)
        if self.transport is not None:
            self.transport.abort()

    def _refused(self, event: Refused) -> None:
        if event.stage == "handshake":
            error: ElbusError = NotSupported(f"the broker refused the handshake ({event.code_name})")
        else:
            error = error_for_code(event.code, f"the broker refused the name {self.conn.name!r} ({event.code_name})")
        self.error = error
        if not self.registered.done():
            self.registered.set_exception(error)
        self.transport.close()  # type: ignore[union-attr]

    def _fail_waiters(self, error: ElbusError) -> None:
        closed = error if isinstance(error, ConnectionClosed) else ConnectionClosed(str(error))
        acks, self.acks = self.acks, {}
        for fut in acks.values():
            if not fut.done():
                fut.set_exception(closed)
        while self._drain_waiters:
            fut = self._drain_waiters.popleft()
            if not fut.done():
                fut.set_exception(closed)
