"""One socket client: an `asyncio.Protocol` that only moves bytes.

Parsing is `elbus_spec.BrokerConnection`'s; routing is the broker's. This
module owns the timers (handshake steps, partial frames, blocked writes) and
the outgoing side: frames queued during one event-loop turn go out in one
write at the end of the turn (or after ``buf_ttl``, or as soon as
``buf_size`` bytes are pending); realtime frames flush at once. While the
transport is paused (the client does not read fast enough), frames wait in
a bounded queue and the socket client that sent them is held: its reading
pauses at that very frame (the rest of its chunk waits in a backlog) until
the receiver drains, which is the flow control the original broker gets from
its bounded channels. A client whose queue overflows anyway (frames from
several senders or from in-process clients), or whose writes stay blocked
past the timeout, is dropped as a slow consumer, which releases its senders.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from elbus_spec import BrokerConnection, ProtocolViolation, RegistrationRequest, State, codec
from elbus_spec.errors import LocalProtocolError

from ._peer import ClientKind, Peer

if TYPE_CHECKING:
    from ._broker import Broker

__all__ = ["SocketPeer"]

logger = logging.getLogger("elbus_server")

_encode_ack = codec.encode_ack


class SocketPeer(Peer, asyncio.Protocol):
    """A client connected over a UNIX or TCP socket."""

    __slots__ = (
        "_backlog",
        "_broker",
        "_busy",
        "_closing",
        "_conn",
        "_flush_handle",
        "_holding",
        "_holds",
        "_last_input",
        "_loop",
        "_out",
        "_out_bytes",
        "_partial_since",
        "_paused",
        "_paused_at",
        "_registered",
        "_timer",
        "_transport",
        "drop_reason",
    )

    takes_bytes = True

    def __init__(self, broker: Broker, kind: ClientKind, port: str) -> None:
        super().__init__(kind, None, port)
        self._broker = broker
        self._loop = broker._loop
        self._busy = broker._busy
        self._last_input = float("-inf")  # when the previous chunk arrived (busy polling)
        self._conn = BrokerConnection(max_frame_length=broker.max_frame_length, extensions=False)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
        self._paused = False
        self._paused_at = 0.0
        self._closing = False
        self._registered = False
        self._timer: asyncio.TimerHandle | None = None
        self._partial_since: float | None = None
        self._holds = 0  # receivers holding this client's reading (flow control)
        self._holding: set[SocketPeer] = set()  # senders this client holds
        self._backlog: list[Any] | None = None  # parsed frames waiting while held
        self.drop_reason: str | None = None

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._transport = transport
        limit = self._broker.max_connections
        if limit is not None and len(self._broker._connections) >= limit:
            logger.warning("connection refused: %d connections open, the limit", limit)
            self._closing = True
            transport.close()
            return
        if self.kind is ClientKind.TCP:
            peer = transport.get_extra_info("peername")
            if peer:
                host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]  # as the original prints an IPv6 SocketAddr
                self.source = f"{host}:{peer[1]}"
        self._broker._connections.add(self)
        transport.write(self._conn.greeting())
        self._arm(self._broker.timeout, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._busy is not None:
            self._last_input = self._busy.active(self._last_input)
        conn = self._conn
        try:
            events = conn.receive_frames(data)
        except LocalProtocolError:  # already refused or failed: late bytes are ignored
            return
        if self._registered:
            if self._holds:  # held (flow control): keep order behind the backlog
                self._backlog = [*(self._backlog or ()), *events]
            else:
                self._broker._dispatch(self, events)
            if conn.buffered:
                if events or self._partial_since is None:  # a new frame started in this chunk
                    self._partial_since = self._loop.time()
                    if self._timer is None:
                        self._arm(self._broker.timeout, self._partial_timeout)
            else:
                self._partial_since = None
        else:
            self._handshake(events)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._cancel_timer()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._out.clear()
        self._release_senders()
        self._broker._connections.discard(self)
        self._leave()

    def pause_writing(self) -> None:
        self._paused = True
        self._paused_at = self._loop.time()
        self._loop.call_later(self._broker.timeout, self._write_stall_check, self._paused_at)

    def resume_writing(self) -> None:
        self._paused = False
        if self._out:
            self._flush()
        if not self._paused:
            self._release_senders()

    # --- flow control --------------------------------------------------------------------

    def hold(self) -> None:
        """A receiver of this client's frames is full: stop reading from this client."""
        self._holds += 1
        if self._holds == 1 and self._transport is not None and not self._closing:
            self._transport.pause_reading()

    def _release(self) -> None:
        self._holds -= 1
        if self._holds == 0 and not self._closing:
            self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        if self._holds or self._closing:
            return
        backlog = self._backlog
        if backlog:
            self._backlog = None
            self._broker._dispatch(self, backlog)
            if self._holds or self._closing:
                return
        assert self._transport is not None
        self._transport.resume_reading()

    def _release_senders(self) -> None:
        holding = self._holding
        if holding:
            self._holding = set()
            for sender in holding:
                sender._release()

    # --- handshake --------------------------------------------------------------------

    def _handshake(self, events: list[Any]) -> None:
        conn = self._conn
        transport = self._transport
        assert transport is not None
        reply = conn.data_to_send()
        if reply:
            transport.write(reply)
        for event in events:
            if isinstance(event, ProtocolViolation):
                self.disconnect(event.reason)
                return
            if isinstance(event, RegistrationRequest):
                code = self._broker._register_socket(self, event.name)
                if code != 1:
                    transport.write(conn.refuse(code))
                    self.disconnect(f"registration of {event.name!r} refused with 0x{code:02x}", quiet=True)
                    return
                transport.write(conn.accept())
                self._registered = True
                self._cancel_timer()
                self._broker._announce_registration(self)
                self.data_received(b"")  # frames pipelined behind the name
                return
        if conn.state is State.AWAIT_NAME and events:  # greeting done: the name step gets its own timeout
            self._arm(self._broker.timeout, self._handshake_timeout)

    def _handshake_timeout(self) -> None:
        self._timer = None
        if not self._registered:
            self.disconnect("handshake timed out", abort=True)

    # --- timers -------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _partial_timeout(self) -> None:
        """A frame started must be complete within the timeout (checked lazily: one timer at a time)."""
        self._timer = None
        since = self._partial_since
        if since is None or self._closing:
            return
        if self._holds:  # we stopped reading it: the rest of its frame cannot arrive meanwhile
            since = self._partial_since = self._loop.time()
        left = since + self._broker.timeout - self._loop.time()
        if left <= 0:
            self.disconnect("frame incomplete after the timeout", abort=True)
        else:
            self._timer = self._loop.call_later(left, self._partial_timeout)

    def _write_stall_check(self, paused_at: float) -> None:
        if self._paused and self._paused_at == paused_at and not self._closing:
            self.disconnect("slow consumer: writes blocked past the timeout", abort=True)

    # --- outgoing -------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._out)

    def push(self, data: bytes, flush: bool) -> bool:
        if self._closing:
            return False
        out = self._out
        if self._paused:
            if len(out) >= self._broker.queue_size:
                self.disconnect("slow consumer: outgoing queue full", abort=True)
                return False
            out.append(data)
            sender = self._broker._sender
            if sender is not None and sender not in self._holding:
                self._holding.add(sender)
                sender.hold()
            return True
        out.append(data)
        self._out_bytes += len(data)
        self._schedule_flush(flush)
        return True

    def push_many(self, frames: list[bytes], flush: bool) -> None:
        """Queue the frames routed to this client from one received chunk (it was writable when they were routed)."""
        if self._closing:
            return
        if self._paused:
            for data in frames:
                self.push(data, flush)
            return
        self._out += frames
        self._out_bytes += sum(map(len, frames))
        self._schedule_flush(flush)

    def _schedule_flush(self, now: bool) -> None:
        """Write at once (realtime, or ``buf_size`` bytes pending), else after ``buf_ttl`` or at the end of the loop turn."""
        if now or self._out_bytes >= self._broker.buf_size:
            self._flush()
        elif self._flush_handle is None:
            ttl = self._broker.buf_ttl
            if ttl > 0:
                self._flush_handle = self._loop.call_later(ttl, self._flush)
            else:
                self._flush_handle = self._loop.call_soon(self._flush)

    def push_frame(self, frame: Any) -> bool:  # pragma: no cover - socket peers take bytes
        raise TypeError("socket peers take encoded frames")

    def ack(self, op_id: int, code: int, realtime: bool) -> None:
        self.w_frames += 1
        self.w_bytes += 6
        broker = self._broker
        broker.w_frames += 1
        broker.w_bytes += 6
        self.push(_encode_ack(op_id, code), realtime)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._paused or self._closing or not self._out:
            return
        out = self._out
        self._out = []
        self._out_bytes = 0
        assert self._transport is not None
        if len(out) == 1:
            self._transport.write(out[0])
        else:
            self._transport.write(b"".join(out))

    # --- closing ----------------------------------------------------------------------------

    def disconnect(self, reason: str, *, abort: bool = False, quiet: bool = False) -> None:
        """Close the connection: pending frames are flushed unless ``abort`` (then they are dropped)."""
        if self._closing:
            return
        self.drop_reason = reason
        if not quiet:
            logger.warning("client %r dropped: %s", self.name or self.source or self.port, reason)
        # unregistered on the next loop turn: this may run while the broker iterates a set of receivers
        self._loop.call_soon(self._leave)
        transport = self._transport
        if transport is None:
            return
        if abort:
            self._closing = True
            self._release_senders()
            transport.abort()
            return
        if self._out and not self._paused:
            self._flush()
        self._closing = True
        self._release_senders()
        transport.close()
        # close() waits for the write buffer to drain: a client that never reads must not keep it forever
        self._loop.call_later(self._broker.timeout, transport.abort)

    def _leave(self) -> None:
        if self._registered:
            self._registered = False
            self._broker._unregister(self)
