"""The broker: registry, routing and listeners, usable inside any asyncio program."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Collection
from typing import Any

import msgpack

from elbus_aio import BusyPoll
from elbus_spec import (
    BROKER_NAME,
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    NOP_FRAME,
    SECONDARY_SEPARATOR,
    Broadcast,
    BroadcastRequest,
    Code,
    Kind,
    Message,
    ProtocolViolation,
    Publication,
    PublishRequest,
    QoS,
    SubscribeRequest,
    UnsubscribeRequest,
    codec,
    error_for_code,
    primary_name,
)

from ._acl import Acl, Denied, Permissions, Rule
from ._core_rpc import CoreRpc
from ._embedded import EmbeddedClient
from ._fanout import PublicationRun
from ._fifo import FifoCommand, FifoListener
from ._peer import ClientKind, Peer
from ._routing import NameTree, TopicTree
from ._transport import SocketPeer

__all__ = ["Broker", "DEFAULT_BUF_SIZE", "DEFAULT_BUSY_POLL", "INFO_TOPIC", "WARN_TOPIC"]

logger = logging.getLogger("elbus_server")

INFO_TOPIC = ".broker/info"
WARN_TOPIC = ".broker/warn"
DEFAULT_BUF_SIZE = 16384
DEFAULT_BUSY_POLL = 100e-6  # seconds: a few wake-ups' worth, enough for a client to answer a small frame
_BACKLOG = 1024  # connections waiting to be accepted, as the original (a burst of clients must not be refused)

_OK = Code.OK
_NOT_REGISTERED = Code.NOT_REGISTERED
_NOT_DELIVERED = Code.NOT_DELIVERED
_pack_header = codec.SERVER_HEADER.pack
_pack_ack = codec.pack_ack  # (op id, code): as codec.encode_ack, for an op id already parsed
_HEADS_CACHE_SIZE = 64  # encoded MESSAGE headers kept per sender (one per body length seen lately)
_MESSAGE, _BROADCAST, _PUBLISH = Kind.MESSAGE.value, Kind.BROADCAST.value, Kind.PUBLISH.value


def _delivery(kind: int, realtime: int, prefix: bytes, payload: bytes) -> bytes:
    """A broker frame whose body is ``prefix`` (``SENDER NUL`` [``TOPIC NUL``], encoded once) then the payload.

    The same bytes as the codec's ``encode_*_delivery``, without encoding
    and checking the sender's name again for every frame.
    """
    return b"".join((_pack_header(kind, len(prefix) + len(payload), realtime), prefix, payload))


def _body_length(address: str, payload: bytes) -> int:
    """The body length of an addressed frame (``ADDRESS NUL PAYLOAD``), as the counters use it."""
    return (len(address) if address.isascii() else len(address.encode())) + 1 + len(payload)


def _topics_length(topics: list[str]) -> int:
    return sum(len(t) if t.isascii() else len(t.encode()) for t in topics) + len(topics) - 1


# Seconds a shutting-down broker waits for its clients to drain before it aborts their connections.
SHUTDOWN_GRACE = 0.5

class Broker:
    """An elbus broker serving any number of UNIX and TCP listeners and in-process clients.

    ``timeout`` bounds each handshake step, the arrival of a started frame
    and blocked writes, and is the keep-alive period. ``queue_size`` bounds
    each client's outgoing queue (frames). ``max_frame_length`` is the largest
    frame body a client may announce; a larger one drops that client before
    any of it is buffered. Outgoing frames are coalesced for ``buf_ttl``
    seconds (0: until the end of the event-loop turn) or until ``buf_size``
    bytes are pending. With ``core_rpc`` the broker registers its ``.broker``
    client (RPC service and announcements). ``max_connections`` caps the
    socket connections open at once (None: no cap); one more is closed as
    soon as it is accepted, so idle or trickling connections cannot take
    every file descriptor of the process.

    ``busy_poll`` is how long (seconds) the loop keeps polling instead of
    sleeping after a received chunk while traffic is dense (see
    `elbus_aio.BusyPoll`): it spares the wake-up that otherwise dominates
    the latency of a request/reply exchange; 0 turns it off.

    ``acl`` restricts socket clients (see `elbus_server.Acl`; None: open,
    the default); `set_acl` replaces it at run time. In-process clients are
    the program itself and are not restricted.

    Use ``async with Broker(...) as broker`` or call `close` at the end.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        buf_size: int = DEFAULT_BUF_SIZE,
        buf_ttl: float = 0.0,
        core_rpc: bool = True,
        max_connections: int | None = None,
        acl: Acl | None = None,
        busy_poll: float = DEFAULT_BUSY_POLL,
    ) -> None:
        if timeout <= 0 or queue_size < 1 or max_frame_length < 1 or buf_size < 1 or buf_ttl < 0 or busy_poll < 0:
            raise ValueError(
                "timeout, queue_size, max_frame_length and buf_size must be positive, buf_ttl and busy_poll >= 0"
            )
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be positive (or None)")
        self.max_connections = max_connections
        self.timeout = timeout
        self.queue_size = queue_size
        self.max_frame_length = max_frame_length
        self.buf_size = buf_size
        self.buf_ttl = buf_ttl
        self.busy_poll = busy_poll
        self._busy: BusyPoll | None = None  # bound by _start
        self.r_frames = 0
        self.r_bytes = 0
        self.w_frames = 0
        self.w_bytes = 0
        self._use_core_rpc = core_rpc
        self._core: CoreRpc | None = None
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # bound by _start
        self._clients: dict[str, Peer] = {}
        self._names: NameTree[Peer] = NameTree()
        self._topics: TopicTree[Peer] = TopicTree()
        self._connections: set[SocketPeer] = set()
        self._servers: list[tuple[asyncio.AbstractServer, str | None]] = []
        self._fifos: list[FifoListener] = []
        self._keepalive: asyncio.Task[None] | None = None
        self._sender: SocketPeer | None = None  # the socket client whose frames are being routed (flow control)
        self._started_at = time.monotonic()
        self._closing = False
        self._closed = False
        self._acl = acl
        self._perms: dict[Peer, Permissions] = {}  # socket clients' resolved rules, while an ACL is set

    # --- life cycle ---------------------------------------------------------------------------

    def _start(self) -> None:
        if self._closing:
            raise RuntimeError("the broker is closed")
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self.busy_poll > 0:
            self._busy = BusyPoll(self._loop, self.busy_poll)
        self._started_at = time.monotonic()
        self._keepalive = self._loop.create_task(self._keep_alive(), name="elbus-keepalive")
        if self._use_core_rpc:
            core = EmbeddedClient(self)
            self._add(core, BROKER_NAME)
            self._core = CoreRpc(self, core)

    async def __aenter__(self) -> Broker:
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self._started_at

    async def serve_unix(self, path: str | os.PathLike[str], *, mode: int | None = None) -> str:
        """Listen on a UNIX socket (an existing socket file there is replaced); returns the path.

        ``mode`` sets the socket file's permission bits. Raises `OSError`.
        """
        self._start()
        p = os.fspath(path)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                os.unlink(p)
        server = await self._loop.create_unix_server(lambda: SocketPeer(self, ClientKind.LOCAL_IPC, p), p, backlog=_BACKLOG)
        if mode is not None:
            os.chmod(p, mode)
        self._servers.append((server, p))
        logger.info("listening on UNIX socket %s", p)
        return p

    async def serve_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on a TCP address (port 0 picks a free one); returns the bound (host, port). Raises `OSError`."""
        self._start()
        bind = [f"{host}:{port}"]
        server = await self._loop.create_server(lambda: SocketPeer(self, ClientKind.TCP, bind[0]), host, port, backlog=_BACKLOG)
        bound = server.sockets[0].getsockname()
        bind[0] = f"{host}:{bound[1]}"
        self._servers.append((server, None))
        logger.info("listening on TCP %s", bind[0])
        return host, bound[1]

    async def serve_fifo(self, path: str | os.PathLike[str]) -> str:
        """Take broker API commands from a named pipe created at ``path`` (see `elbus_server._fifo`).

        Commands are sent by ``.broker``, so the core RPC client is required:
        raises `RuntimeError` without it, `OSError` if the pipe cannot be made.
        """
        self._start()
        if self._core is None:
            raise RuntimeError("the FIFO broker API needs the core RPC client (core_rpc=True)")
        p = os.fspath(path)
        self._fifos.append(FifoListener(p, self._fifo_command))
        logger.info("broker API FIFO at %s", p)
        return p

    def _fifo_command(self, command: FifoCommand) -> None:
        assert self._core is not None
        sender, payload = self._core.client, command.payload
        if command.op == "publish":
            self._route_publish(sender, command.address, payload, QoS.NO, len(payload))
        elif command.op == "broadcast":
            self._route_broadcast(sender, command.address, payload, QoS.NO, len(payload))
        elif self._route_message(sender, command.address, payload, QoS.NO, len(payload)) != _OK:
            logger.warning("FIFO command: %r is not registered", command.address)

    async def close(self) -> None:
        """Announce shutdown on ``.broker/warn``, stop listening, close every client, remove socket files."""
        if self._closed:
            return
        self._closing = True
        self._closed = True
        if self._loop is None:
            return
        if self._core is not None:
            self._announce({"s": "shutdown", "t": time.time_ns()}, WARN_TOPIC)
        for server, _ in self._servers:
            server.close()
        for fifo in self._fifos:
            fifo.close()
        if self._busy is not None:
            self._busy.stop()
        for peer in list(self._connections):
            peer.disconnect("broker shutting down", quiet=True)
        for client in [p for p in self._clients.values() if isinstance(p, EmbeddedClient)]:
            client.disconnect("broker shutting down")
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        # Clients that read get a short grace to take their last frames (the shutdown announcement);
        # one that stopped reading must not hold the shutdown for the whole timeout.
        deadline = self._loop.time() + min(self.timeout, SHUTDOWN_GRACE)
        while self._connections and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        for peer in list(self._connections):
            if peer._transport is not None:
                peer._transport.abort()
        for _, path in self._servers:
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        logger.info("broker closed")

    async def _keep_alive(self) -> None:
        """A NOP to every registered socket client each timeout (clients ignore it)."""
        while True:
            await asyncio.sleep(self.timeout)
            for peer in list(self._connections):
                if peer._registered:
                    peer.push(NOP_FRAME, False)

    # --- registry ---------------------------------------------------------------------------------

    async def register(self, name: str) -> EmbeddedClient:
        """Register an in-process client named ``name`` (a ``primary%%x`` name registers a secondary).

        Raises `Busy` if the name is taken, `NotRegistered` for a secondary
        whose primary is not registered, `DataError` for an empty name.
        """
        self._start()
        code = self._check_name(name, internal=True)
        if code != _OK:
            raise error_for_code(code, f"cannot register {name!r}: code 0x{code:02x}")
        client = EmbeddedClient(self)
        self._add(client, name)
        self._announce_registration(client)
        return client

    @property
    def clients(self) -> dict[str, Peer]:
        """Registered clients by name (a read-only view is the caller's duty)."""
        return self._clients

    def _check_name(self, name: str, *, internal: bool) -> int:
        if not name or (name.startswith(".") and not internal) or "\0" in name:
            return Code.DATA  # names with a leading dot are reserved for internal clients; NUL ends a name on the wire
        if self._closing:
            return Code.OTHER
        if name in self._clients:
            return Code.BUSY
        if SECONDARY_SEPARATOR in name and primary_name(name) not in self._clients:
            return Code.NOT_REGISTERED
        return _OK

    def _register_socket(self, peer: SocketPeer, name: str) -> int:
        code = self._check_name(name, internal=False)
        if code != Code.DATA and self._acl is not None:  # a refused client learns nothing of the names in use
            perms = self._acl.resolve(name, self._source_address(peer))
            if perms is None:
                return Code.ACCESS
            if code == _OK:
                self._perms[peer] = perms
        if code == _OK:
            self._add(peer, name)
        return code

    @staticmethod
    def _source_address(peer: SocketPeer) -> str | None:
        """The IP address a TCP client connects from; None for a UNIX-socket client."""
        if peer.kind is not ClientKind.TCP or peer._transport is None:
            return None
        address = peer._transport.get_extra_info("peername")
        return address[0] if address else ""

    @property
    def acl(self) -> Acl | None:
        return self._acl

    def set_acl(self, acl: Acl | None) -> None:
        """Apply ``acl`` (None: open) to new and connected socket clients.

        A connected client no longer admitted (name or source) is
        disconnected; its subscriptions no longer allowed are dropped.
        """
        self._acl = acl
        self._perms.clear()
        if acl is None:
            return
        for peer in list(self._connections):
            if not peer._registered or peer._closing:
                continue
            perms = acl.resolve(peer.name, self._source_address(peer))
            if perms is None:
                peer.disconnect("no longer allowed by access control")
                continue
            self._perms[peer] = perms
            for pattern in self._topics.patterns(peer):
                if pattern != WARN_TOPIC and not perms.may_subscribe(pattern):
                    self._topics.unsubscribe(peer, pattern)

    def _add(self, peer: Peer, name: str) -> None:
        peer.name = name
        peer.wire_name = name.encode() + b"\0"
        self._clients[name] = peer
        self._names.add(name, peer)
        self._topics.subscribe(peer, WARN_TOPIC)
        if SECONDARY_SEPARATOR in name:
            primary = self._clients[primary_name(name)]
            peer.primary = primary
            primary.secondaries.add(peer)
        logger.debug("client %r registered (%s)", name, peer.kind.value)

    def _announce_registration(self, peer: Peer) -> None:
        if peer.primary is None and self._core is not None and peer is not self._core.client:
            self._announce({"s": "reg", "d": peer.name, "t": time.time_ns()}, INFO_TOPIC)

    def _unregister(self, peer: Peer) -> None:
        """Forget ``peer``; a primary takes its secondaries with it and is announced."""
        if self._clients.get(peer.name) is not peer:
            return
        del self._clients[peer.name]
        self._perms.pop(peer, None)
        self._names.remove(peer.name, peer)
        self._topics.unsubscribe_all(peer)
        logger.debug("client %r unregistered", peer.name)
        if peer.primary is not None:
            peer.primary.secondaries.discard(peer)
            return
        for secondary in list(peer.secondaries):
            secondary.disconnect(f"its primary {peer.name!r} left")
        peer.secondaries.clear()
        if not self._closing and self._core is not None and peer is not self._core.client:
            self._announce({"s": "unreg", "d": peer.name, "t": time.time_ns()}, INFO_TOPIC)

    def _announce(self, event: dict[str, Any], topic: str) -> None:
        assert self._core is not None
        payload = msgpack.packb(event)
        self._route_publish(self._core.client, topic, payload, QoS.NO, len(payload))

    # --- routing ------------------------------------------------------------------------------------

    def _dispatch(self, peer: SocketPeer, events: list[Any]) -> None:
        """Route every event parsed from one received chunk, in order.

        If a receiver holds ``peer`` (flow control), the events after the one
        that filled it wait in the peer's backlog.
        """
        self._sender = peer
        if self._acl is not None:
            events = self._check_access(peer, events)
        try:
            self._dispatch_events(peer, events)
        finally:
            self._sender = None

    def _check_access(self, peer: SocketPeer, events: list[Any]) -> list[Any]:
        """``events`` with each denied request replaced by `Denied` (its ``79`` acks), in order.

        A SUBSCRIBE or UNSUBSCRIBE keeps its allowed topics: one ``79`` per
        denied topic, then the request (acked ``01``) applies the rest.
        """
        perms = self._perms.get(peer)
        if perms is None:  # being disconnected by `set_acl`: nothing more is allowed
            perms = Permissions(Rule("*"))
        checked: list[Any] = []
        for event in events:
            t = type(event)
            if t is tuple:
                if not perms.may_message(event[2]):
                    event = Denied(event[0], event[1])
            elif t is PublishRequest:
                if not perms.may_publish(event.topic):
                    event = Denied(event.op_id, event.qos)
            elif t is BroadcastRequest:
                if not perms.may_broadcast(event.mask):
                    event = Denied(event.op_id, event.qos)
            elif t is SubscribeRequest or t is UnsubscribeRequest:
                topics = [topic for topic in event.topics if perms.may_subscribe(topic)]
                denied = len(event.topics) - len(topics)
                if denied:
                    checked.append(Denied(event.op_id, event.qos, denied, then_ok=not topics, whole=not topics))
                    if topics:
                        checked.append(t(event.op_id, event.qos, topics))
                    continue
            checked.append(event)
        return checked

    def _dispatch_events(self, peer: SocketPeer, events: list[Any]) -> None:
        """Route the events of one chunk; MESSAGE and PUBLISH frames to writable socket clients are batched.

        The batch (frames per receiver, acks to ``peer`` included, in order) is
        queued before any other event is routed and at the end, so the order
        of what each client receives is the order of routing, and counters are
        added once per chunk. A delivery costs one concatenation: the header
        and the sender's name are encoded once per body length (``peer.heads``).
        A MESSAGE to an in-process client or to a client that is not writable
        (flow control, closing) takes the one-by-one path.
        """
        batch: dict[SocketPeer, list[bytes]] = {}
        urgent: set[SocketPeer] = set()
        run = PublicationRun()
        clients = self._clients
        heads = peer.heads
        prefix = peer.wire_name
        received = received_bytes = written = written_bytes = 0
        try:
            for i, event in enumerate(events):
                if type(event) is tuple:
                    if run.frames:  # publications routed before this message go first
                        run.spill(batch, urgent, self)
                    op_id, qos, target, payload, length = event
                    dest = clients.get(target)
                    if (dest is None or (type(dest) is SocketPeer and not dest._paused and not dest._closing)) and not (
                        qos & 1 and peer._paused
                    ):
                        received += 1
                        received_bytes += length
                        realtime = (qos >> 1) & 1
                        if dest is None:
                            code = _NOT_REGISTERED
                        else:
                            dest.w_frames += 1
                            dest.w_bytes += length
                            written += 1
                            written_bytes += length
                            size = len(prefix) + len(payload)
                            head = heads.get(size << 1 | realtime)
                            if head is None:
                                head = self._message_head(peer, size, realtime)
                            frames = batch.get(dest)
                            if frames is None:
                                batch[dest] = [head + payload]
                            else:
                                frames.append(head + payload)
                            if realtime:
                                urgent.add(dest)
                            code = _OK
                        if qos & 1:
                            peer.w_frames += 1
                            peer.w_bytes += 6
                            written += 1
                            written_bytes += 6
                            frames = batch.get(peer)
                            if frames is None:
                                batch[peer] = [_pack_ack(op_id, code)]
                            else:
                                frames.append(_pack_ack(op_id, code))
                            if realtime:
                                urgent.add(peer)
                        continue
                    self._push_batch(batch, urgent, run)
                    code = self._route_message(peer, target, payload, qos, length)
                    if qos & 1:
                        peer.ack(op_id, code, qos & 2)
                elif type(event) is PublishRequest and self._batch_publication(peer, event, batch, urgent, run):
                    received += 1
                else:
                    self._push_batch(batch, urgent, run)
                    if not self._dispatch_event(peer, event):
                        return
                if peer._closing:
                    return
                if peer._holds:
                    peer._backlog = events[i + 1 :]
                    return
        finally:
            self._push_batch(batch, urgent, run)
            peer.r_frames += received
            peer.r_bytes += received_bytes
            self.r_frames += received
            self.r_bytes += received_bytes
            self.w_frames += written
            self.w_bytes += written_bytes

    def _batch_publication(self, peer: SocketPeer, event: PublishRequest, batch: dict[SocketPeer, list[bytes]],
                           urgent: set[SocketPeer], run: PublicationRun) -> bool:
        """Route one PUBLISH through ``run`` into ``batch``; False (nothing done) unless every client
        involved is a writable socket.

        The frame is encoded once for all its receivers, and the topic matched
        once per run of publications to it. Counts everything but the sender's
        received frame, which the caller adds with the chunk's.
        """
        qos = event.qos
        if qos & 1 and peer._paused:
            return False
        topic = event.topic
        if topic != run.topic:
            run.spill(batch, urgent, self)
            receivers = self._topics.match(topic)
            for dest in receivers:
                if type(dest) is not SocketPeer or dest._paused or dest._closing:
                    return False
            run.start(topic, receivers, peer.wire_name)
        payload = event.payload
        length = run.address_size + len(payload)
        peer.r_bytes += length
        self.r_bytes += length
        realtime = (qos >> 1) & 1
        if run.receivers:
            run.add(_delivery(_PUBLISH, realtime, run.prefix, payload), length, realtime)
        if qos & 1:
            if peer in run.receivers:  # it gets its own publication before the ack
                run.spill(batch, urgent, self)
            peer.w_frames += 1
            peer.w_bytes += 6
            self.w_frames += 1
            self.w_bytes += 6
            data = _pack_ack(event.op_id, _OK)
            frames = batch.get(peer)
            if frames is None:
                batch[peer] = [data]
            else:
                frames.append(data)
            if realtime:
                urgent.add(peer)
        return True

    @staticmethod
    def _message_head(peer: Peer, size: int, realtime: int) -> bytes:
        """The MESSAGE header for a body of ``size`` bytes followed by ``peer``'s name, cached in ``peer.heads``."""
        heads = peer.heads
        if len(heads) >= _HEADS_CACHE_SIZE:
            heads.clear()
        head = heads[size << 1 | realtime] = _pack_header(_MESSAGE, size, realtime) + peer.wire_name
        return head

    def _push_batch(self, batch: dict[SocketPeer, list[bytes]], urgent: set[SocketPeer], run: PublicationRun) -> None:
        run.spill(batch, urgent, self)
        if batch:
            for dest, frames in batch.items():
                dest.push_many(frames, dest in urgent)
            batch.clear()
            urgent.clear()

    def _dispatch_event(self, peer: SocketPeer, event: Any) -> bool:
        """Route one event other than a MESSAGE (those come as tuples); False if ``peer`` broke the protocol."""
        t = type(event)
        if t is PublishRequest:
            qos = event.qos
            self._route_publish(peer, event.topic, event.payload, qos, _body_length(event.topic, event.payload))
            if qos & 1:
                peer.ack(event.op_id, _OK, qos & 2)
        elif t is BroadcastRequest:
            qos = event.qos
            self._route_broadcast(peer, event.mask, event.payload, qos, _body_length(event.mask, event.payload))
            if qos & 1:
                peer.ack(event.op_id, _OK, qos & 2)
        elif t is SubscribeRequest or t is UnsubscribeRequest:
            length = _topics_length(event.topics)
            peer.r_frames += 1
            peer.r_bytes += length
            self.r_frames += 1
            self.r_bytes += length
            change = self._topics.subscribe if t is SubscribeRequest else self._topics.unsubscribe
            for topic in event.topics:
                change(peer, topic)
            if event.qos & 1:
                peer.ack(event.op_id, _OK, event.qos & 2)
        elif t is ProtocolViolation:
            peer.disconnect(f"protocol error: {event.reason}")
            return False
        elif t is Denied:
            if event.whole:
                peer.r_frames += 1
                self.r_frames += 1
            if event.qos & 1:
                for _ in range(event.count):
                    peer.ack(event.op_id, Code.ACCESS, event.qos & 2)
                if event.then_ok:
                    peer.ack(event.op_id, _OK, event.qos & 2)
        return True

    def _route_message(self, sender: Peer, target: str, payload: bytes, qos: int, length: int) -> int:
        sender.r_frames += 1
        sender.r_bytes += length
        self.r_frames += 1
        self.r_bytes += length
        peer = self._clients.get(target)
        if peer is None:
            return _NOT_REGISTERED
        peer.w_frames += 1
        peer.w_bytes += length
        self.w_frames += 1
        self.w_bytes += length
        realtime = (qos >> 1) & 1
        if peer.takes_bytes:
            prefix = sender.wire_name  # _delivery() inlined: this is the hot path
            head = _pack_header(_MESSAGE, len(prefix) + len(payload), realtime)
            ok = peer.push(b"".join((head, prefix, payload)), bool(realtime))
        else:
            ok = peer.push_frame(Message(sender.name, None, payload, bool(realtime)))
        return _OK if ok else _NOT_DELIVERED

    def _route_broadcast(self, sender: Peer, mask: str, payload: bytes, qos: int, length: int) -> None:
        sender.r_frames += 1
        sender.r_bytes += length
        self.r_frames += 1
        self.r_bytes += length
        receivers = self._names.match(mask)
        if receivers:
            realtime = (qos >> 1) & 1
            self._deliver(receivers, length, realtime, lambda: _delivery(_BROADCAST, realtime, sender.wire_name, payload),
                          lambda: Broadcast(sender.name, None, payload, bool(realtime)))

    def _route_publish(self, sender: Peer, topic: str, payload: bytes, qos: int, length: int) -> None:
        sender.r_frames += 1
        sender.r_bytes += length
        self.r_frames += 1
        self.r_bytes += length
        receivers = self._topics.match(topic)
        if receivers:
            realtime = (qos >> 1) & 1
            prefix = sender.wire_name + topic.encode() + b"\0"
            self._deliver(receivers, length, realtime, lambda: _delivery(_PUBLISH, realtime, prefix, payload),
                          lambda: Publication(sender.name, topic, payload, bool(realtime)))

    def _deliver(self, receivers: Collection[Peer], length: int, realtime: int, encode: Any, event: Any) -> None:
        """One frame to many receivers: encoded once for sockets, one event for in-process clients."""
        data = frame = None
        flush = bool(realtime)
        for peer in receivers:
            peer.w_frames += 1
            peer.w_bytes += length
            if peer.takes_bytes:
                if data is None:
                    data = encode()
                peer.push(data, flush)
            else:
                if frame is None:
                    frame = event()
                peer.push_frame(frame)
        n = len(receivers)
        self.w_frames += n
        self.w_bytes += length * n
