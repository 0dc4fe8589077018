"""One socket connection to the broker at the `asyncio.Protocol` level.

The protocol logic is `elbus_spec.ClientConnection`; this module only moves
bytes: it feeds what arrives into the connection object (every complete frame
of a chunk in one call), resolves ack futures, and tracks transport
backpressure and the time of the last byte received (for dead-broker
detection).

Frames written during one event-loop turn are joined into a single
``transport.write`` at the end of the turn (one system call for a burst of
pipelined frames instead of one each); realtime frames flush at once, as the
protocol's realtime QoS asks. Only whole frames enter that buffer, so a
frame is either written whole or not at all.
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
    ConnectionClosed,
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

from ._busy_poll import BusyPoll

__all__ = ["Session"]

# Batches are written once they reach this size (the transports' default high-water mark).
FLUSH_SIZE = 64 * 1024

log = logging.getLogger("elbus_aio")


class Session(asyncio.Protocol):
    """The byte mover of one connection; `Client` owns it and makes a new one per (re)connect."""

    def __init__(
        self, name: str, deliver: Callable[[Frame], None], *, max_frame_length: int, timeout: float, busy_poll: float = 0.0
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self._busy = BusyPoll(self.loop, busy_poll) if busy_poll > 0 else None
        self._last_io = float("-inf")  # when a chunk was last read or written (busy polling)
        self.conn = ClientConnection(name, max_frame_length=max_frame_length, timeout=timeout)
        self.transport: asyncio.Transport | None = None
        self.registered: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.last_received = self.loop.time()
        self.error: ElbusError | None = None  # why the connection ended, once it has
        self.ready = False  # registered and not ended: frames may be written
        self.write_paused = False
        self.read_paused = False
        self._out: list[bytes] | None = None  # frames written this loop turn, flushed at its end
        self._out_size = 0
        self._done: asyncio.Future[None] = self.loop.create_future()  # the result of every send without ack
        self._done.set_result(None)
        self._drain_waiters: deque[asyncio.Future[None]] = deque()
        self._deliver = deliver

    # --- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        if self._busy is not None:
            self._last_io = self._busy.active(self._last_io)
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
                self.ready = True
                if not self.registered.done():
                    self.registered.set_result(None)
            elif cls is Refused:
                self._refused(event)  # type: ignore[arg-type]
                return
            elif cls is ProtocolViolation:
                self.abort(RemoteProtocolError(event.reason))  # type: ignore[attr-defined]
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.ready = False
        if self._busy is not None:
            self._busy.stop()
        self._out = None
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

    def check_open(self) -> None:
        """Raise ConnectionClosed (saying why the connection ended) unless frames can be sent."""
        if not self.ready:
            error = self.error
            if isinstance(error, ConnectionClosed):
                raise error
            raise ConnectionClosed(str(error) if error is not None else "the connection is not registered")

    def write(self, data: bytes, flush: bool = False) -> None:
        """Queue whole frames for the end of this loop turn (or write them now with ``flush``).

        A turn's batch that reaches FLUSH_SIZE is written at once, so that the
        transport's flow control (pause_writing) sees large bursts as they come.
        """
        if self._busy is not None:
            self._last_io = self._busy.active(self._last_io)
        out = self._out
        if out is None:
            if flush or len(data) >= FLUSH_SIZE:
                self.transport.write(data)  # type: ignore[union-attr]
                return
            self._out = [data]
            self._out_size = len(data)
            self.loop.call_soon(self._flush)
        else:
            out.append(data)
            self._out_size += len(data)
            if flush or self._out_size >= FLUSH_SIZE:
                self._flush()

    def _flush(self) -> None:
        out = self._out
        if out is not None:
            self._out = None
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))  # type: ignore[union-attr]

    def submit(self, op_id: int, data: bytes, qos: int) -> asyncio.Future[None]:
        """Write one whole frame; the future resolves at its ack (is already done without QoS bit 0)."""
        self.write(data, qos & 2 != 0)
        if qos & 1:
            fut: asyncio.Future[None] = self.loop.create_future()
            self.acks[op_id] = fut
            return fut
        return self._done

    def forget_ack(self, fut: asyncio.Future[None]) -> None:
        """Stop tracking an ack given up on (timed out); a scan, as giving up is rare."""
        for op_id, waiting in self.acks.items():
            if waiting is fut:
                del self.acks[op_id]
                return

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
        self.ready = False
        if self.error is None:
            self.error = error
        self._fail_waiters(self.error)
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def abort(self, error: ElbusError) -> None:
        """Drop the connection at once (protocol violation, dead broker)."""
        self.ready = False
        self._out = None
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
