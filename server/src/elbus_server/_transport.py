"""One socket client: an `asyncio.Protocol` that only moves bytes.

Parsing is `elbus_spec.BrokerConnection`'s; routing is the router's (through
`SocketHost`). This module owns the timers (handshake steps, partial
frames, blocked writes) and the outgoing side: frames queued during one
event-loop turn go out in one write at the end of the turn (or after
``buf_ttl``, or as soon as ``buf_size`` bytes are pending); realtime frames
flush at once.

Nobody waits for a socket client. Its queue is bounded in frames
(``queue_size``, frames waiting while its socket is full) and in bytes
(``queue_bytes``, counting the transport's write buffer too); a frame that finds it full is
not delivered (its sender's ack says ``77``) and the client is dropped at
once as a slow consumer, as the original broker unregisters a client whose
channel is full. A client whose writes stay blocked past the timeout is
dropped too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from elbus_aio import BusyPoll
from elbus_spec import NOP_FRAME, BrokerConnection, ProtocolViolation, RegistrationRequest, State
from elbus_spec.errors import LocalProtocolError

from ._limits import Limits
from ._outbox import UNBOUNDED as _UNBOUNDED
from ._peer import ClientKind, Host, Peer, PeerState

__all__ = ["Connections", "SocketHost", "SocketPeer"]

logger = logging.getLogger("elbus_server")


class SocketHost(Host, Protocol):
    """What a socket connection asks of the router, besides routing."""

    def register(self, peer: Peer, name: str) -> int:
        """Register ``peer`` as ``name`` (access control applies); returns the handshake code."""


class Connections:
    """The open socket connections, at most ``limit`` at once (None: no cap)."""

    __slots__ = ("_open", "limit")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._open: set[SocketPeer] = set()

    def admit(self, peer: SocketPeer) -> bool:
        if self.limit is not None and len(self._open) >= self.limit:
            logger.warning("connection refused: %d connections open, the limit", self.limit)
            return False
        self._open.add(peer)
        return True

    def discard(self, peer: SocketPeer) -> None:
        self._open.discard(peer)

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[SocketPeer]:
        return iter(list(self._open))


class SocketPeer(PeerState, asyncio.Protocol):
    """A client connected over a UNIX or TCP socket."""

    __slots__ = (
        "_busy",
        "_closing",
        "_conn",
        "_connections",
        "_flush_handle",
        "_host",
        "_last_input",
        "_limits",
        "_loop",
        "_out",
        "_out_bytes",
        "_partial_since",
        "_paused",
        "_paused_at",
        "_queue_bytes",
        "_registered",
        "_timer",
        "_transport",
        "drop_reason",
    )

    takes_bytes = True

    def __init__(self, host: SocketHost, connections: Connections, limits: Limits, busy: BusyPoll | None,
                 kind: ClientKind, port: str, *, extensions: bool = True) -> None:
        super().__init__(kind, None, port)
        self._host = host
        self._connections = connections
        self._limits = limits
        self._queue_bytes = limits.queue_bytes  # read for every receiver of every routed chunk
        self._loop = asyncio.get_running_loop()
        self._busy = busy
        self._last_input = float("-inf")  # when the previous chunk arrived (busy polling)
        # Without the BUS/RT extensions, EXCLUDE, UNEXCLUDE and PUBLISH_FOR are unknown operations (as for the original).
        self._conn = BrokerConnection(max_frame_length=limits.max_frame_length, extensions=extensions)
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
        self.drop_reason: str | None = None

    @property
    def registered(self) -> bool:
        """Registered and not being dropped."""
        return self._registered and not self._closing

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._transport = transport
        if not self._connections.admit(self):
            self._closing = True
            transport.close()
            return
        if self.kind is ClientKind.TCP:
            peer = transport.get_extra_info("peername")
            if peer:
                host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]  # as the original prints an IPv6 SocketAddr
                self.source = f"{host}:{peer[1]}"
            self.address = peer[0] if peer else ""
        transport.write(self._conn.greeting())
        self._arm(self._limits.timeout, self._handshake_timeout)

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
            if events:
                self._host.route(self, events)
            if conn.buffered:
                if events or self._partial_since is None:  # a new frame started in this chunk
                    self._partial_since = self._loop.time()
                    if self._timer is None:
                        self._arm(self._limits.timeout, self._partial_timeout)
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
        self._connections.discard(self)
        self._leave()

    def pause_writing(self) -> None:
        self._paused = True
        self._paused_at = self._loop.time()
        self._loop.call_later(self._limits.timeout, self._write_stall_check, self._paused_at)

    def resume_writing(self) -> None:
        self._paused = False
        if self._out:
            self._flush()

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
                self._registered = True  # before registering: the registration announcement may reach it
                code = self._host.register(self, event.name)
                if code != 1:
                    self._registered = False
                    transport.write(conn.refuse(code))
                    self.disconnect(f"registration of {event.name!r} refused with 0x{code:02x}", quiet=True)
                    return
                transport.write(conn.accept())
                self._cancel_timer()
                self.data_received(b"")  # frames pipelined behind the name
                return
        if conn.state is State.AWAIT_NAME and events:  # greeting done: the name step gets its own timeout
            self._arm(self._limits.timeout, self._handshake_timeout)

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
        left = since + self._limits.timeout - self._loop.time()
        if left <= 0:
            self.disconnect("frame incomplete after the timeout", abort=True)
        else:
            self._timer = self._loop.call_later(left, self._partial_timeout)

    def _write_stall_check(self, paused_at: float) -> None:
        if self._paused and self._paused_at == paused_at and not self._closing:
            self.disconnect("slow consumer: writes blocked past the timeout", abort=True)

    # --- outgoing (the Peer protocol) --------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._out)

    def room(self) -> tuple[int, int]:
        """Frames count while the socket is full (what is queued otherwise goes out this turn); bytes always."""
        transport = self._transport
        if self._closing or transport is None:
            return 0, 0
        free = self._queue_bytes - self._out_bytes - transport.get_write_buffer_size()
        return (self._limits.queue_size - len(self._out) if self._paused else _UNBOUNDED), free

    def deliver(self, items: list[bytes], size: int, flush: bool) -> None:
        if self._closing:
            return
        self._out += items
        self._out_bytes += size
        if flush or self._out_bytes >= self._limits.buf_size:
            self._flush()
        elif self._flush_handle is None:
            ttl = self._limits.buf_ttl
            if ttl > 0:
                self._flush_handle = self._loop.call_later(ttl, self._flush)
            else:
                self._flush_handle = self._loop.call_soon(self._flush)

    def overflow(self, frames: int) -> None:
        self.disconnect(f"slow consumer: outgoing queue full ({frames} frame(s) not delivered)", abort=True)

    def ack(self, op_id: int, code: int) -> None:  # pragma: no cover - the outbox queues its ack frames
        raise TypeError("a socket client is sent its acks as frames")

    def keep_alive(self) -> None:
        """Queue a NOP (clients ignore it) if the client is registered and has room."""
        if self.registered and min(self.room()) > 0:
            self.deliver([NOP_FRAME], len(NOP_FRAME), False)

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
        """Close the connection and leave the router at once: pending frames are flushed unless ``abort``."""
        if self._closing:
            return
        self.drop_reason = reason
        if not quiet:
            logger.warning("client %r dropped: %s", self.name or self.source or self.port, reason)
        transport = self._transport
        if transport is not None:
            if not abort and self._out and not self._paused:
                self._flush()
            self._closing = True
            if abort:
                transport.abort()
            else:
                transport.close()
                # close() waits for the write buffer to drain: a client that never reads must not keep it forever
                self._loop.call_later(self._limits.timeout, transport.abort)
        self._closing = True
        self._leave()

    def abort(self) -> None:
        """Drop the connection now, whatever is pending (the broker's last step at shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    def _leave(self) -> None:
        if self._registered:
            self._registered = False
            self._host.leave(self)
