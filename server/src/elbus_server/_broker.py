"""The broker: listeners, life cycle and the ``.broker`` client around the router, usable inside any asyncio program."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from elbus_aio import BusyPoll
from elbus_spec import (
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    BroadcastRequest,
    PublishRequest,
    QoS,
    parse_address,
)

from ._acl import Acl
from ._cluster import ClusterLink, load_cluster
from ._core_rpc import CoreRpc
from ._embedded import EmbeddedClient
from ._fifo import DEFAULT_FIFO_MODE, FIFO_IDENTITY, FifoCommand, FifoListener
from ._frames import body_length
from ._limits import (
    DEFAULT_BUF_SIZE,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_TOPIC_DEPTH,
    DEFAULT_MAX_TOPIC_LENGTH,
    DEFAULT_QUEUE_BYTES,
    Limits,
)
from ._paths import Owned, claim
from ._peer import ClientKind, Peer
from ._router import INFO_TOPIC, WARN_TOPIC, Router
from ._stats import DEFAULT_METRICS_CLIENTS, BrokerStats
from ._transport import Connections, SocketPeer

if TYPE_CHECKING:  # imported when metrics are asked for: it needs the metrics extra
    from ._metrics import MetricsServer

__all__ = [
    "DEFAULT_BUF_SIZE",
    "DEFAULT_BUSY_POLL",
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_MAX_TOPIC_DEPTH",
    "DEFAULT_MAX_TOPIC_LENGTH",
    "DEFAULT_METRICS_CLIENTS",
    "DEFAULT_QUEUE_BYTES",
    "INFO_TOPIC",
    "WARN_TOPIC",
    "Broker",
]

logger = logging.getLogger("elbus_server")

DEFAULT_BUSY_POLL = 100e-6  # seconds: a few wake-ups' worth, enough for a client to answer a small frame
_BACKLOG = 1024  # connections waiting to be accepted, as the original (a burst of clients must not be refused)

# Seconds a shutting-down broker waits for its clients to drain before it aborts their connections.
SHUTDOWN_GRACE = 0.5


_NO_METRICS = "metrics need the prometheus-client package: pip install 'elbus-server[metrics]'"


def metrics_endpoint(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` is 127.0.0.1, as for ``-B``) as ``(host, port)``; raises `ValueError` for anything else."""
    try:
        endpoint = parse_address(address)
    except ValueError:
        endpoint = address
    if isinstance(endpoint, str):
        raise ValueError(f"the metrics address {address!r} is not HOST:PORT")
    return endpoint


class Broker:
    """An elbus broker serving any number of UNIX and TCP listeners and in-process clients.

    ``timeout`` bounds each handshake step, the arrival of a started frame
    and blocked writes, and is the keep-alive period. Each client's outgoing
    queue holds at most ``queue_size`` frames and about ``queue_bytes``
    bytes (the socket's write buffer included): a socket client whose queue
    is full when a frame arrives is dropped at once as a slow consumer and
    the frame's sender is answered ``77`` (not delivered); nobody ever waits
    for a socket client. ``max_frame_length`` is the largest frame body a
    client may announce; a larger one drops that client before any of it
    is buffered. Outgoing frames are coalesced for ``buf_ttl`` seconds (0:
    until the end of the event-loop turn) or until ``buf_size`` bytes are
    pending. With ``core_rpc`` the broker registers its ``.broker`` client
    (RPC service and announcements). ``max_connections`` caps the socket
    connections open at once (None: no cap); one more is closed as soon as
    it is accepted, so idle or trickling connections cannot take every file
    descriptor of the process.

    ``busy_poll`` is how long (seconds) the loop keeps polling instead of
    sleeping after a received chunk while traffic is dense (see
    `elbus_aio.BusyPoll`): it spares the wake-up that otherwise dominates
    the latency of a request/reply exchange; 0 turns it off.

    Topics are bounded for every client: a topic longer than
    ``max_topic_length`` bytes or deeper than ``max_topic_depth`` levels, in
    a SUBSCRIBE, UNSUBSCRIBE or PUBLISH, and a subscription past
    ``max_subscriptions`` patterns per client, are refused with ``72``
    (ERR_DATA; a SUBSCRIBE acks one ``72`` per refused topic, then ``01``
    for the rest), logged once per client, and cost nothing. Client names
    are held to the same depth, levels split on ``.`` (refused with ``72``
    at registration).

    ``acl`` restricts socket clients (see `elbus_server.Acl`; None: open,
    the default); `set_acl` replaces it at run time. In-process clients are
    the program itself and are not restricted.

    ``extensions`` serves the BUS/RT operations EXCLUDE, UNEXCLUDE and
    PUBLISH_FOR; ``extensions=False`` is the original elbus broker's
    behaviour, which drops a client that sends them (a compatibility switch,
    e.g. to see what a client does against the original).

    ``metrics`` (``"HOST:PORT"``, port 0 for a free one) serves Prometheus
    metrics there over HTTP (needs the ``metrics`` extra; see
    `metrics_address`), with per-client series for the ``metrics_clients``
    busiest clients only. They are read at scrape time from `snapshot`, so
    routing pays nothing for them. Without the extra installed, asking for
    metrics raises `ImportError` (naming it) here, before anything starts.

    ``cluster`` joins this broker to others on other hosts into one bus:
    NATS server URLs (``"nats://HOST:PORT,nats://…"``, through the
    installed cluster plug-in, ``elbus-server[cluster]``) or a
    `elbus_server.plugin.ClusterLink` object; ``node`` names this broker on the bus
    (default: the host name). See the "Beyond one machine" page.

    Use ``async with Broker(...) as broker`` or call `close` at the end.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        buf_size: int = DEFAULT_BUF_SIZE,
        buf_ttl: float = 0.0,
        core_rpc: bool = True,
        max_connections: int | None = None,
        acl: Acl | None = None,
        busy_poll: float = DEFAULT_BUSY_POLL,
        cluster: str | Sequence[str] | ClusterLink | None = None,
        node: str | None = None,
        max_topic_length: int = DEFAULT_MAX_TOPIC_LENGTH,
        max_topic_depth: int = DEFAULT_MAX_TOPIC_DEPTH,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
        extensions: bool = True,
        metrics: str | None = None,
        metrics_clients: int = DEFAULT_METRICS_CLIENTS,
    ) -> None:
        if busy_poll < 0:
            raise ValueError("busy_poll must be 0 or more")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be positive (or None)")
        self.limits = Limits(timeout=timeout, queue_size=queue_size, queue_bytes=queue_bytes,
                             max_frame_length=max_frame_length, buf_size=buf_size, buf_ttl=buf_ttl,
                             max_topic_length=max_topic_length, max_topic_depth=max_topic_depth,
                             max_subscriptions=max_subscriptions)
        self.busy_poll = busy_poll
        self.extensions = extensions
        self._metrics_at = None if metrics is None else metrics_endpoint(metrics)  # ValueError before anything starts
        if metrics_clients < 0:
            raise ValueError("metrics_clients must be 0 or more")
        if metrics is not None:
            try:
                import prometheus_client  # noqa: F401  (the metrics extra: known missing now, not at the first listener)
            except ImportError:
                raise ImportError(_NO_METRICS, name="prometheus_client") from None
        self._metrics_clients = metrics_clients
        self._metrics: MetricsServer | None = None  # once started
        self._router = Router(acl, self.limits)
        if isinstance(cluster, str | list | tuple):
            self._router.cluster = load_cluster(cluster, node)
        elif cluster is not None:
            self._router.cluster = cluster  # type: ignore[assignment]  # an object implementing ClusterLink
        self._connections = Connections(max_connections)
        self._busy: BusyPoll | None = None  # bound by _start
        self._use_core_rpc = core_rpc
        self._core: CoreRpc | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # bound by _start
        self._servers: list[asyncio.AbstractServer] = []
        self._files: list[Owned] = []  # socket files created, removed at close if still ours
        self._fifos: list[FifoListener] = []
        self._keepalive: asyncio.Task[None] | None = None
        self._started_at = time.monotonic()
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._router.closing:
            raise RuntimeError("the broker is closed")
        if self._loop is not None:
            return self._loop
        loop = self._loop = asyncio.get_running_loop()
        if self.busy_poll > 0:
            self._busy = BusyPoll(loop, self.busy_poll)
        self._started_at = time.monotonic()
        self._keepalive = loop.create_task(self._keep_alive(), name="elbus-keepalive")
        if self._use_core_rpc:
            self._core = CoreRpc(self._router, lambda: self.uptime, self.limits.queue_size)
            self._router.core = self._core
            if self._router.cluster is not None:
                self._core.add_methods(self._router.cluster.rpc_methods())
        if self._router.cluster is not None:
            self._router.cluster.attach(self._router)
        if self._metrics_at is not None:
            self._start_metrics(loop, *self._metrics_at)
        return loop

    def _start_metrics(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        from ._metrics import MetricsServer  # only now: it needs the metrics extra, checked by __init__

        server = MetricsServer(loop, self.snapshot, top_clients=self._metrics_clients)
        bound = server.start(host, port)
        self._metrics = server
        logger.info("metrics at http://%s:%d/metrics", *bound)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where the metrics are served, ``(host, port)``, once the broker has started (None without metrics)."""
        return None if self._metrics is None else self._metrics.address

    def snapshot(self) -> BrokerStats:
        """Every counter of the broker and of each registered client, at this instant (see `BrokerStats`)."""
        return self._router.snapshot(self.uptime, self.limits.queue_size)

    async def __aenter__(self) -> Broker:
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self._started_at

    @property
    def timeout(self) -> float:
        return self.limits.timeout

    @property
    def queue_size(self) -> int:
        return self.limits.queue_size

    @property
    def r_frames(self) -> int:
        """Frames received from every client (the ``stats`` counters)."""
        return self._router.r_frames

    @property
    def r_bytes(self) -> int:
        return self._router.r_bytes

    @property
    def w_frames(self) -> int:
        """Frames routed to every client, acks included."""
        return self._router.w_frames

    @property
    def w_bytes(self) -> int:
        return self._router.w_bytes

    def _socket_peer(self, kind: ClientKind, port: str) -> SocketPeer:
        return SocketPeer(self._router, self._connections, self.limits, self._busy, kind, port, extensions=self.extensions)

    async def serve_unix(self, path: str | os.PathLike[str], *, mode: int | None = None) -> str:
        """Listen on a UNIX socket; returns the path.

        A socket file nobody listens on is replaced; if a broker answers
        there, raises `OSError` (``EADDRINUSE``) and touches nothing. ``mode``
        sets the socket file's permission bits. At `close` the file is removed
        only if it is still the one created here. Raises `OSError`.
        """
        loop = self._start()
        p = os.fspath(path)
        claim(p)
        server = await loop.create_unix_server(lambda: self._socket_peer(ClientKind.LOCAL_IPC, p), p, backlog=_BACKLOG)
        self._servers.append(server)
        self._files.append(Owned.of(p))
        if mode is not None:
            os.chmod(p, mode)
        logger.info("listening on UNIX socket %s", p)
        return p

    async def serve_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on a TCP address (port 0 picks a free one); returns the bound (host, port). Raises `OSError`."""
        loop = self._start()
        bind = [f"{host}:{port}"]
        server = await loop.create_server(lambda: self._socket_peer(ClientKind.TCP, bind[0]), host, port, backlog=_BACKLOG)
        bound = server.sockets[0].getsockname()
        bind[0] = f"{host}:{bound[1]}"
        self._servers.append(server)
        logger.info("listening on TCP %s", bind[0])
        return host, bound[1]

    async def serve_fifo(self, path: str | os.PathLike[str], *, mode: int = DEFAULT_FIFO_MODE) -> str:
        """Take broker API commands from a named pipe created at ``path`` (see `elbus_server._fifo`).

        Commands are sent by ``.broker``, so the core RPC client is required.
        The pipe gets permission bits ``mode`` (default 0o600: only its owner
        may send as the broker); with access control set, each command must be
        allowed to the client named ``.broker.fifo``. Raises `RuntimeError`
        without the core client, `OSError` if the pipe cannot be made or
        another broker reads it.
        """
        self._start()
        if self._core is None:
            raise RuntimeError("the FIFO broker API needs the core RPC client (core_rpc=True)")
        p = os.fspath(path)
        self._fifos.append(FifoListener(p, self._fifo_command, mode))
        logger.info("broker API FIFO at %s (mode %o)", p, mode)
        return p

    def _fifo_command(self, command: FifoCommand) -> None:
        router = self._router
        core = router.core
        assert core is not None
        payload = command.payload
        event: Any
        if command.op == "publish":
            event = PublishRequest(0, QoS.NO, command.address, payload)
        elif command.op == "broadcast":
            event = BroadcastRequest(0, QoS.NO, command.address, payload)
        else:
            if command.address not in router.clients:
                logger.warning("FIFO command: %r is not registered", command.address)
                return
            event = (0, QoS.NO, command.address, payload, body_length(command.address, payload))
        if router.acl is not None:
            perms = router.acl.resolve(FIFO_IDENTITY, None)
            if perms is None or not perms.allows(event):
                logger.warning("FIFO command: %s to %r denied by access control (as %s)", command.op,
                               command.address, FIFO_IDENTITY)
                return
        router.route(core, [event])

    async def close(self) -> None:
        """Announce shutdown on ``.broker/warn``, stop listening, close every client, remove socket files."""
        if self._closed:
            return
        self._closed = True
        router = self._router
        router.closing = True
        if self._loop is None:
            return
        if self._core is not None:
            router.announce({"s": "shutdown", "t": time.time_ns()}, WARN_TOPIC)
        if router.cluster is not None:
            await router.cluster.close()
        for server in self._servers:
            server.close()
        for fifo in self._fifos:
            fifo.close()
        if self._busy is not None:
            self._busy.stop()
        for peer in self._connections:
            peer.disconnect("broker shutting down", quiet=True)
        for client in [p for p in router.clients.values() if p.kind is ClientKind.INTERNAL]:
            client.disconnect("broker shutting down")
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        # Clients that read get a short grace to take their last frames (the shutdown announcement);
        # one that stopped reading must not hold the shutdown for the whole timeout.
        deadline = self._loop.time() + min(self.limits.timeout, SHUTDOWN_GRACE)
        while self._connections and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        for peer in self._connections:
            peer.abort()
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.close)
        for owned in self._files:
            owned.remove()
        logger.info("broker closed")

    async def _keep_alive(self) -> None:
        """A NOP to every registered socket client each timeout (clients ignore it)."""
        while True:
            await asyncio.sleep(self.limits.timeout)
            for peer in self._connections:
                peer.keep_alive()

    # --- registry ---------------------------------------------------------------------------------

    async def register(self, name: str) -> EmbeddedClient:
        """Register an in-process client named ``name`` (a ``primary%%x`` name registers a secondary).

        Raises `Busy` if the name is taken, `NotRegistered` for a secondary
        whose primary is not registered, `DataError` for an empty name.
        """
        self._start()
        return EmbeddedClient(self._router, name, self.limits.queue_size)

    @property
    def clients(self) -> dict[str, Peer]:
        """Registered clients by name (a read-only view is the caller's duty)."""
        return self._router.clients

    def subscriptions(self, name: str) -> frozenset[str]:
        """The topic patterns the client registered as ``name`` is subscribed to (empty if none is)."""
        peer = self._router.clients.get(name)
        return frozenset() if peer is None else self._router.subscriptions(peer)

    def exclusions(self, name: str) -> frozenset[str]:
        """The topic patterns the client registered as ``name`` has excluded (BUS/RT EXCLUDE; empty if none)."""
        peer = self._router.clients.get(name)
        return frozenset() if peer is None else self._router.exclusions(peer)

    @property
    def cluster(self) -> ClusterLink | None:
        """The link to the other brokers of the bus, if this broker is part of one."""
        return self._router.cluster

    @property
    def acl(self) -> Acl | None:
        return self._router.acl

    def set_acl(self, acl: Acl | None) -> None:
        """Apply ``acl`` (None: open) to new and connected socket clients.

        A connected client no longer admitted (name or source) is
        disconnected; its subscriptions no longer allowed are dropped.
        """
        self._router.set_acl(acl)
