"""`NatsCluster`: one broker's connection to the other brokers of its bus, through NATS.

One NATS connection per broker. What this node sends to another node in one
event-loop turn (messages, broadcasts) goes out as one NATS message on that
node's stream subject, so every frame from one sender to one receiver takes
the same subject on the same connection and keeps its order. Frames that
want an acknowledgement make the batch a request: the receiving node
answers on this node's reply subject with one result code per such frame;
NATS answers "no responders" at once when the node is gone (``0x71``); an
answer that does not come within ``ack_timeout`` is ``0x77``. Nothing is
ever acknowledged ``01`` that the receiving broker did not route.

Publications travel on subjects made from their topic (see
`elbus_cluster.subjects`); each node subscribes to the subjects of its
local patterns, so NATS carries a publication only to nodes that want it,
and a publication no other node wants (as the directory tells) is not
published at all. Names and patterns are announced through the directory
(`elbus_cluster.directory`).

While NATS is unreachable the local bus works as before: remote sends are
answered at once (``0x77``, or ``0x71`` once the directory forgot the
other nodes), publications and broadcasts stay local, and the connection
is retried in the background; nats-py then reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import nats
import nats.errors

from elbus_server.plugin import NameTree
from elbus_spec import BROKER_NAME, Code, Kind, RemoteProtocolError

from .chunks import DEFAULT_MAX_RECORD, Reassembly
from .dedup import Deduplicator
from .directory import Directory
from .envelope import (
    ACK_WANTED,
    CHUNK,
    PUBLICATION_HEAD_SIZE,
    encode_chunks,
    encode_frame,
    encode_publication_head,
    encode_record,
    iter_frames,
    iter_records,
    publication_topic,
    record_size,
    split_chunk,
    split_publication,
)
from .subjects import escape_token, pattern_subject, topic_from_subject, topic_subject

if TYPE_CHECKING:
    from elbus_server.plugin import AckCallback, ClusterHost, Peer

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_MAX_PENDING_ACKS",
    "DEFAULT_MAX_QUEUED",
    "DEFAULT_NODE_TIMEOUT",
    "DEFAULT_PREFIX",
    "SUBSCRIPTION_PENDING_BYTES",
    "SUBSCRIPTION_PENDING_MESSAGES",
    "NatsCluster",
]

logger = logging.getLogger("elbus_cluster")

DEFAULT_PREFIX = "elbus"
DEFAULT_HEARTBEAT = 1.0  # seconds between directory heartbeats
DEFAULT_NODE_TIMEOUT = 3.0  # seconds of silence after which a node is forgotten
DEFAULT_ACK_TIMEOUT = 2.0  # seconds a sender waits for another node's answer before 0x77
DEFAULT_RECONNECT_WAIT = 0.5  # seconds between connection attempts
DEFAULT_MAX_PENDING_ACKS = 65536  # acknowledged frames in flight to other nodes; more are refused 0x77
DEFAULT_MAX_QUEUED = 64 << 20  # bytes waiting for NATS to take them; beyond, remote sends are refused 0x77
# What one NATS subscription may hold before this broker has handled it; beyond, nats-py drops messages
# and reports a slow consumer (counted in `slow_consumers`).
SUBSCRIPTION_PENDING_BYTES = 64 << 20
SUBSCRIPTION_PENDING_MESSAGES = 65536
_TOPIC_CACHE_SIZE = 4096  # publication subjects whose topic is kept decoded
_SLOW_CONSUMER_LOG_PERIOD = 1.0  # seconds between slow-consumer log lines (every drop is counted)

_OK, _NOT_REGISTERED, _NOT_DELIVERED, _DATA = Code.OK, Code.NOT_REGISTERED, Code.NOT_DELIVERED, Code.DATA
_MESSAGE, _BROADCAST, _PUBLISH = Kind.MESSAGE.value, Kind.BROADCAST.value, Kind.PUBLISH.value
_NO_RESPONDERS = "503"


def _internal_only() -> NameTree[str]:
    tree: NameTree[str] = NameTree()
    tree.add(BROKER_NAME, BROKER_NAME)
    return tree


_INTERNAL = _internal_only()  # every node has its own `.broker`: a mask matching it reaches every node


def _node_local(topic: str) -> bool:
    """Topics under a dotted first level (``.broker/info``…) are each broker's own and never cross."""
    return topic.startswith(".")


class _Batch:
    """The records for one node in one turn, and the acknowledgements they wait for."""

    __slots__ = ("acks", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.acks: list[AckCallback] = []


class _PubBatch:
    """The publications to one topic in one turn: one NATS message."""

    __slots__ = ("frames", "size")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0


class NatsCluster:
    """Joins a broker to the other brokers reachable through NATS ``servers``.

    ``node`` names this broker on the bus (default: the host name); it must
    be unique. ``prefix`` is the first token of every subject, so several
    buses can share one NATS. ``user``/``password``, ``token``, ``creds``
    (a ``.creds`` file), ``nkey_seed`` (an nkey seed file) and ``tls``
    (an `ssl.SSLContext`) are handed to nats-py, as are credentials in the
    URLs (``nats://user:pass@host:port``).

    A MESSAGE, broadcast or publication larger than the NATS server's
    ``max_payload`` crosses in chunks, up to ``max_record`` bytes (a larger
    MESSAGE is refused ``0x72``; a larger broadcast or publication stays
    local, logged).

    Bounds: ``max_pending_acks`` acknowledged frames in flight (more are
    refused ``0x77``), each waiting at most ``ack_timeout`` seconds;
    ``max_queued`` bytes waiting for NATS to take them (when NATS is slower
    than the local bus, MESSAGEs to other nodes are then refused ``0x77``
    and publications and broadcasts stay local, counted as ``dropped``:
    the local bus never waits for NATS).
    Each NATS subscription holds at most ``pending_messages`` messages or
    ``pending_bytes`` bytes not yet handled; beyond, nats-py drops what
    comes and reports a slow consumer, which is logged and counted
    (``slow_consumers``).
    Heartbeats every ``heartbeat`` seconds; a node silent for
    ``node_timeout`` seconds is forgotten.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        node: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        creds: str | None = None,
        nkey_seed: str | None = None,
        tls: ssl.SSLContext | None = None,
        tls_hostname: str | None = None,
        heartbeat: float = DEFAULT_HEARTBEAT,
        node_timeout: float = DEFAULT_NODE_TIMEOUT,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
        max_pending_acks: int = DEFAULT_MAX_PENDING_ACKS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_record: int = DEFAULT_MAX_RECORD,
        pending_messages: int = SUBSCRIPTION_PENDING_MESSAGES,
        pending_bytes: int = SUBSCRIPTION_PENDING_BYTES,
    ) -> None:
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        if not servers:
            raise ValueError("the cluster needs at least one NATS server URL")
        if (heartbeat <= 0 or ack_timeout <= 0 or reconnect_wait <= 0 or max_pending_acks < 1 or max_queued < 1
                or pending_messages < 1 or pending_bytes < 1):
            raise ValueError("heartbeat, ack_timeout, reconnect_wait, max_pending_acks, max_queued, pending_messages, "
                             "pending_bytes must be positive")
        if node_timeout <= heartbeat:
            raise ValueError("node_timeout must be longer than heartbeat")
        self.servers = list(servers)
        self.node = node or socket.gethostname()
        if not prefix or any(c in prefix for c in " \t*>"):
            raise ValueError(f"bad subject prefix {prefix!r}")
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.ack_timeout = ack_timeout
        self.reconnect_wait = reconnect_wait
        self.max_pending_acks = max_pending_acks
        self.max_queued = max_queued
        self.pending_messages = pending_messages
        self.pending_bytes = pending_bytes
        self._options: dict[str, Any] = {
            "user": user,
            "password": password,
            "token": token,
            "user_credentials": creds,
            "nkeys_seed": nkey_seed,
            "tls": tls,
            "tls_hostname": tls_hostname,
        }
        self._options = {k: v for k, v in self._options.items() if v is not None}
        self.boot = random.getrandbits(63) | 1
        self.directory = Directory(self.node, self.boot, node_timeout=node_timeout, resync_interval=heartbeat / 2)
        self._dedup = Deduplicator()
        self._chunks = Reassembly(max_record)
        token_ = escape_token(self.node)
        self._inbox = f"{prefix}.node.{token_}"
        self._ack_prefix = f"{prefix}.ack.{token_}."
        self._dir_subject = f"{prefix}.dir"
        self._pub_prefix = f"{prefix}.pub"
        self._host: ClusterHost | None = None  # the broker's router, once attached
        self._nc: Any = None  # nats.aio.client.Client once connected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._max_payload = 1 << 20  # until the server's INFO tells
        self._out: dict[str, _Batch] = {}
        self._pubs: dict[str, _PubBatch] = {}
        self._queue: deque[tuple[str, bytes, str]] = deque()  # (subject, payload, reply) for the sender task
        self._queued = 0  # bytes in _queue
        self._open = 0  # bytes in the open batches of this turn
        self._wake = asyncio.Event()
        self._pending: dict[int, tuple[list[AckCallback], asyncio.TimerHandle]] = {}
        self._pending_acks = 0
        self._batch_id = 0
        self._pub_seq = 0
        self._pattern_subs: dict[str, Any] = {}  # NATS subject -> subscription (one per distinct local pattern)
        self._sub_changes: deque[tuple[str, bool]] = deque()
        self._sub_wake = asyncio.Event()
        self._topics: dict[str, str] = {}  # publication subject -> topic
        self.connected_since: float | None = None
        self._slow_logged = -_SLOW_CONSUMER_LOG_PERIOD  # when a slow consumer was last logged
        self._slow_logged_count = 0  # slow_consumers when it was
        self.counters = {
            "sent_batches": 0, "sent_frames": 0, "received_batches": 0, "received_frames": 0,
            "published": 0, "publications_received": 0, "duplicates_dropped": 0, "ack_timeouts": 0,
            "no_responders": 0, "slow_consumers": 0, "reconnects": 0, "malformed": 0, "dropped": 0, "twins": 0, "chunked": 0,
        }

    # --- life cycle ---------------------------------------------------------------------------------

    def attach(self, host: ClusterHost) -> None:
        self._host = host
        self._loop = asyncio.get_running_loop()
        for name in host.clients:
            if not name.startswith("."):
                self.directory.claim(name)
        for coro in (self._connect(), self._sender(), self._subscriber(), self._heartbeats()):
            self._tasks.append(self._loop.create_task(coro))

    @property
    def connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        nc = self._nc
        if nc is not None and nc.is_connected:
            with contextlib.suppress(Exception):
                await nc.publish(self._dir_subject, self.directory.bye())
                await nc.flush(timeout=1)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending(_NOT_DELIVERED)
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        self._nc = None

    async def _connect(self) -> None:
        """Connect, retrying until it works; nats-py reconnects by itself afterwards."""
        while True:
            try:
                nc = await nats.connect(
                    self.servers,
                    name=f"elbus {self.node}",
                    no_echo=True,  # this node routes its own publications locally
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self.reconnect_wait,
                    connect_timeout=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **self._options,
                )
            except Exception as exc:  # nats-py raises many kinds (OSError, NoServersError, auth errors…)
                logger.warning("cluster: cannot reach NATS %s: %s; retrying", ",".join(self.servers), exc)
                await asyncio.sleep(self.reconnect_wait)
                continue
            break
        self._max_payload = nc.max_payload
        await self._subscribe(nc, self._inbox, self._on_node_stream)
        await self._subscribe(nc, self._ack_prefix + ">", self._on_ack)
        await self._subscribe(nc, self._dir_subject, self._on_directory)
        self._nc = nc
        for pattern in self.directory.local_topics:
            self._sub_changes.append((pattern, True))
        self._sub_wake.set()
        self.connected_since = time.monotonic()
        logger.info("cluster: node %r joined through %s", self.node, nc.connected_url.geturl() if nc.connected_url else "?")
        self._announce()

    async def _subscribe(self, nc: Any, subject: str, handler: Callable[[Any], Awaitable[None]]) -> Any:
        """A NATS subscription whose backlog is bounded (``pending_messages``, ``pending_bytes``)."""
        return await nc.subscribe(subject, cb=handler, pending_msgs_limit=self.pending_messages,
                                  pending_bytes_limit=self.pending_bytes)

    def _announce(self) -> None:
        """Our snapshot, and a request for everyone else's."""
        self._enqueue(self._dir_subject, self.directory.snapshot())
        self._enqueue(self._dir_subject, self.directory.sync_request())

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):  # one report per dropped message
            self.counters["slow_consumers"] += 1
            now = time.monotonic()
            if now - self._slow_logged >= _SLOW_CONSUMER_LOG_PERIOD:
                dropped = self.counters["slow_consumers"] - self._slow_logged_count
                self._slow_logged, self._slow_logged_count = now, self.counters["slow_consumers"]
                logger.warning("cluster: slow consumer: NATS messages dropped for this node: %d (latest on %s)",
                               dropped, exc.subject)
        else:
            logger.debug("cluster: NATS error: %s", exc)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        self.connected_since = None
        logger.warning("cluster: disconnected from NATS; remote sends are refused until it is back")
        self._fail_pending(_NOT_DELIVERED)

    async def _on_reconnected(self) -> None:
        self.counters["reconnects"] += 1
        self.connected_since = time.monotonic()
        if self._nc is not None:
            self._max_payload = self._nc.max_payload
        logger.info("cluster: reconnected to NATS")
        self._announce()

    # --- what the broker calls ------------------------------------------------------------------------

    def name_taken(self, name: str) -> bool:
        return self.directory.owner(name) is not None

    def registered(self, name: str) -> None:
        if not name.startswith("."):
            self.directory.claim(name)
            self._schedule_flush()

    def unregistered(self, name: str) -> None:
        if not name.startswith("."):
            self.directory.release(name)
            self._schedule_flush()

    def subscribed(self, pattern: str) -> None:
        if not _node_local(pattern) and self.directory.add_topic(pattern):
            self._sub_changes.append((pattern, True))
            self._sub_wake.set()
            self._schedule_flush()

    def unsubscribed(self, pattern: str) -> None:
        if not _node_local(pattern) and self.directory.remove_topic(pattern):
            self._sub_changes.append((pattern, False))
            self._sub_wake.set()
            self._schedule_flush()

    def send_message(self, sender: Peer, target: str, payload: bytes, realtime: int, ack: AckCallback | None) -> int | None:
        node = self.directory.owner(target)
        if node is None:
            return _NOT_REGISTERED
        if not self.connected or self._backlog >= self.max_queued:
            return _NOT_DELIVERED
        if ack is not None and self._pending_acks >= self.max_pending_acks:
            return _NOT_DELIVERED
        address = target.encode() + b"\0"
        size = record_size(address, sender.wire_name, payload)
        if size > self._chunks.max_record:
            return _DATA
        record = encode_record(ACK_WANTED if ack else 0, address, _MESSAGE, sender.wire_name, payload, realtime)
        if ack is not None:
            self._pending_acks += 1
        if size > self._max_payload:
            self._send_chunked(node, record, ack)
            return None
        batch = self._batch(node, size)
        batch.parts.append(record)
        if ack is not None:
            batch.acks.append(ack)
        return None

    def broadcast(self, sender: Peer, mask: str, payload: bytes, realtime: int) -> None:
        if not self.connected:
            return
        if self._backlog >= self.max_queued:
            self.counters["dropped"] += 1
            return
        nodes = set(self.directory.nodes) if _INTERNAL.match(mask) else self.directory.nodes_for_mask(mask)
        if not nodes:
            return
        address = mask.encode() + b"\0"
        size = record_size(address, sender.wire_name, payload)
        if size > self._chunks.max_record:
            logger.warning("cluster: a broadcast of %d bytes exceeds max_record; it stays local", size)
            return
        record = encode_record(0, address, _BROADCAST, sender.wire_name, payload, realtime)
        for node in nodes:
            self._send_record(node, record, size)

    def publish_for(self, sender: Peer, topic: str, receiver: str, payload: bytes, realtime: int) -> None:
        node = self.directory.owner(receiver)
        if node is None or _node_local(topic) or not self.connected:
            return
        if self._backlog >= self.max_queued:
            self.counters["dropped"] += 1
            return
        address = receiver.encode() + b"\0"
        prefix = sender.wire_name + topic.encode() + b"\0"
        size = record_size(address, prefix, payload)
        if size > self._chunks.max_record:
            logger.warning("cluster: a publication for %r of %d bytes exceeds max_record; it is dropped", receiver, size)
            return
        self._send_record(node, encode_record(0, address, _PUBLISH, prefix, payload, realtime), size)

    def publish(self, sender: Peer, topic: str, payload: bytes, realtime: int) -> None:
        if _node_local(topic) or not self.connected or not self.directory.interested(topic):
            return
        if self._backlog >= self.max_queued:
            self.counters["dropped"] += 1
            return
        frame = encode_frame(_PUBLISH, sender.wire_name + topic.encode() + b"\0", payload, realtime)
        size = len(frame)
        if size + PUBLICATION_HEAD_SIZE > self._max_payload:
            self._publish_chunked(topic, frame)
            return
        batch = self._pubs.get(topic)
        if batch is None or batch.size + size + PUBLICATION_HEAD_SIZE > self._max_payload:
            if batch is not None:
                self._send_publications(topic, batch)
            batch = self._pubs[topic] = _PubBatch()
            self._schedule_flush()
        batch.frames.append(frame)
        batch.size += size
        self._open += size

    def rpc_methods(self) -> Mapping[str, Callable[[], Any]]:
        return {"cluster.info": self.info, "cluster.nodes": self.nodes}

    # --- introspection -------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """This node and its NATS connection, as ``cluster.info`` answers."""
        nc = self._nc
        url = nc.connected_url if nc is not None else None
        return {
            "node": self.node,
            "connected": self.connected,
            "server": url.geturl() if url is not None else None,
            "servers": self.servers,
            "connected_for": round(time.monotonic() - self.connected_since, 3) if self.connected_since is not None else None,
            "max_payload": self._max_payload,
            "nodes": len(self.directory.nodes) + 1,
            "pending_acks": self._pending_acks,
            "chunks_dropped": self._chunks.dropped,
            **self.counters,
        }

    def nodes(self) -> dict[str, Any]:
        """Every node this one knows, itself first, with its clients and patterns (``cluster.nodes``)."""
        now = time.monotonic()
        listed = [{"node": self.node, "self": True, "clients": sorted(self.directory.local_names),
                   "topics": sorted(self.directory.local_topics), "seen": 0.0}]
        for node, view in sorted(self.directory.nodes.items()):
            listed.append({"node": node, "self": False, "clients": sorted(view.names), "topics": sorted(view.topics),
                           "seen": round(now - view.last_seen, 3)})
        return {"nodes": listed}

    # --- sending ------------------------------------------------------------------------------------

    def _batch(self, node: str, size: int) -> _Batch:
        """The open batch for ``node`` with room for ``size`` more bytes (a full one is sent first)."""
        batch = self._out.get(node)
        if batch is None or batch.size + size > self._max_payload:
            if batch is not None:
                self._send_batch(node, batch)
            batch = self._out[node] = _Batch()
            self._schedule_flush()
        batch.size += size
        self._open += size
        return batch

    def _send_record(self, node: str, record: bytes, size: int) -> None:
        """An unacknowledged record for ``node``: in this turn's batch, or in chunks when too large for one."""
        if size > self._max_payload:
            self._send_chunked(node, record, None)
        else:
            self._batch(node, size).parts.append(record)

    def _schedule_flush(self) -> None:
        """The sender task wakes after this turn and sends what it produced."""
        self._wake.set()

    def _flush(self) -> None:
        """End of the turn: every open batch, publication run and directory change goes out."""
        delta = self.directory.take_delta()
        if delta is not None:
            self._enqueue(self._dir_subject, delta)
        out, self._out = self._out, {}
        for node, batch in out.items():
            self._send_batch(node, batch)
        pubs, self._pubs = self._pubs, {}
        for topic, pub in pubs.items():
            self._send_publications(topic, pub)

    @property
    def _backlog(self) -> int:
        """Bytes produced for NATS that it has not taken yet."""
        return self._queued + self._open

    def _enqueue_chunks(self, subject: str, message: bytes) -> bytes:
        """All chunks of ``message`` but the last, which is returned for the caller to send."""
        *chunks, last = encode_chunks(message, self.boot, self._max_payload)
        for chunk in chunks:
            self._enqueue(subject, chunk)
        self.counters["chunked"] += 1
        return last

    def _send_chunked(self, node: str, record: bytes, ack: AckCallback | None) -> None:
        """A record too large for one NATS message, as chunks behind what this turn already has for ``node``."""
        batch = self._out.pop(node, None)
        if batch is not None:
            self._send_batch(node, batch)
        last = self._enqueue_chunks(f"{self.prefix}.node.{escape_token(node)}", record)
        tail = _Batch()  # the last chunk carries the request for the acknowledgement
        tail.parts.append(last)
        if ack is not None:
            tail.acks.append(ack)
        self._send_batch(node, tail)  # counts the record as one sent frame

    def _publish_chunked(self, topic: str, frame: bytes) -> None:
        """A publication too large for one NATS message, as chunks behind this turn's publications to ``topic``.

        It takes the next sequence number, as any publication message, so
        the receiving node delivers it once however many of its
        subscriptions match, and in its place among the sender's others.
        """
        if len(frame) + PUBLICATION_HEAD_SIZE > self._chunks.max_record:
            logger.warning("cluster: a publication of %d bytes exceeds max_record; it stays local", len(frame))
            return
        batch = self._pubs.pop(topic, None)
        if batch is not None:
            self._send_publications(topic, batch)
        subject = topic_subject(self._pub_prefix, topic)
        self._pub_seq += 1
        self.counters["published"] += 1
        self._enqueue(subject, self._enqueue_chunks(subject, encode_publication_head(self.boot, self._pub_seq) + frame))

    def _send_batch(self, node: str, batch: _Batch) -> None:
        self._open -= batch.size
        reply = ""
        if batch.acks:
            self._batch_id += 1
            reply = self._ack_prefix + str(self._batch_id)
            assert self._loop is not None
            timer = self._loop.call_later(self.ack_timeout, self._ack_timeout, self._batch_id)
            self._pending[self._batch_id] = (batch.acks, timer)
        self.counters["sent_batches"] += 1
        self.counters["sent_frames"] += len(batch.parts)
        self._enqueue(f"{self.prefix}.node.{escape_token(node)}", b"".join(batch.parts), reply)

    def _send_publications(self, topic: str, batch: _PubBatch) -> None:
        self._open -= batch.size
        self._pub_seq += 1
        self.counters["published"] += len(batch.frames)
        head = encode_publication_head(self.boot, self._pub_seq)
        self._enqueue(topic_subject(self._pub_prefix, topic), head + b"".join(batch.frames))

    def _enqueue(self, subject: str, payload: bytes, reply: str = "") -> None:
        self._queue.append((subject, payload, reply))
        self._queued += len(payload)
        self._wake.set()

    async def _sender(self) -> None:
        """Publishes what the turns produced, in order, on the one connection."""
        queue = self._queue
        while True:
            await self._wake.wait()
            self._flush()
            self._wake.clear()  # after: what _flush enqueued is sent below, without another pass
            while queue:
                subject, payload, reply = queue.popleft()
                self._queued -= len(payload)
                nc = self._nc
                if nc is None or not nc.is_connected:
                    continue  # lost: acks, if any, are failed by the disconnection or their timeout
                try:
                    await nc.publish(subject, payload, reply=reply)
                except Exception as exc:  # the connection broke under us: the same as above
                    logger.debug("cluster: publish to %s failed: %s", subject, exc)

    async def _subscriber(self) -> None:
        """Applies local pattern changes to NATS subscriptions, in order."""
        while True:
            await self._sub_wake.wait()
            self._sub_wake.clear()
            while self._sub_changes and self._nc is not None:
                pattern, add = self._sub_changes.popleft()
                subject = pattern_subject(self._pub_prefix, pattern)
                try:
                    if add and subject not in self._pattern_subs:
                        self._pattern_subs[subject] = await self._subscribe(self._nc, subject, self._on_publication)
                    elif not add and subject in self._pattern_subs:
                        await self._pattern_subs.pop(subject).unsubscribe()
                except Exception as exc:  # while disconnected nats-py still records the change
                    logger.debug("cluster: subscription change for %s failed: %s", subject, exc)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            if self.connected:
                self._enqueue(self._dir_subject, self.directory.heartbeat())
            for node in self.directory.expire(time.monotonic()):
                logger.warning("cluster: node %r went silent and is forgotten", node)

    # --- acknowledgements ------------------------------------------------------------------------------

    async def _on_ack(self, msg: Any) -> None:
        try:
            batch_id = int(msg.subject[len(self._ack_prefix):])
        except ValueError:
            self.counters["malformed"] += 1
            return
        entry = self._pending.pop(batch_id, None)
        if entry is None:
            return  # answered too late: its senders already got 0x77
        acks, timer = entry
        timer.cancel()
        self._pending_acks -= len(acks)
        headers = msg.headers
        if headers and headers.get("Status") == _NO_RESPONDERS:
            self.counters["no_responders"] += 1
            for ack in acks:
                ack(_NOT_REGISTERED)
            return
        codes = msg.data
        for i, ack in enumerate(acks):
            ack(codes[i] if i < len(codes) else _NOT_DELIVERED)

    def _ack_timeout(self, batch_id: int) -> None:
        entry = self._pending.pop(batch_id, None)
        if entry is not None:
            self.counters["ack_timeouts"] += 1
            self._pending_acks -= len(entry[0])
            for ack in entry[0]:
                ack(_NOT_DELIVERED)

    def _fail_pending(self, code: int) -> None:
        pending, self._pending = self._pending, {}
        self._pending_acks = 0
        for acks, timer in pending.values():
            timer.cancel()
            for ack in acks:
                ack(code)

    # --- receiving ------------------------------------------------------------------------------------

    def _whole(self, msg: Any, data: bytes) -> bytes | None:
        """``data`` itself, or for a chunk the message it completes (None until then, or if a chunk went missing).

        Chunks are put back together per origin and subscription: the copies
        a node receives through two overlapping subscriptions interleave.
        """
        if not data or not data[0] & CHUNK:
            return data
        origin, index, count, part = split_chunk(data)
        return self._chunks.add((msg.sid, origin), index, count, part)

    async def _on_node_stream(self, msg: Any) -> None:
        host = self._host
        if host is None:
            return
        self.counters["received_batches"] += 1
        try:
            data = self._whole(msg, msg.data)
            if data is None:
                return  # more chunks to come, or a chunk went missing (its sender is answered 0x77 in time)
            records = list(iter_records(data))
            # A PUBLISH record is a PUBLISH_FOR: the host takes it addressed TOPIC NUL RECEIVER.
            addressed = [(address if frame[0] != _PUBLISH else f"{publication_topic(frame)}\0{address}", frame)
                         for _, address, frame in records]
        except ValueError as exc:  # dropped whole: its senders get 0x77 when their answer does not come
            self.counters["malformed"] += 1
            logger.warning("cluster: malformed batch from another node dropped: %s", exc)
            return
        codes = self._deliver(host, addressed)
        if codes is None:
            return
        self.counters["received_frames"] += len(records)
        if msg.reply:
            self._enqueue(msg.reply, bytes(code for (flags, _, _), code in zip(records, codes, strict=True)
                                           if flags & ACK_WANTED))

    async def _on_publication(self, msg: Any) -> None:
        host = self._host
        if host is None:
            return
        subject = msg.subject
        try:
            topic = self._topics.get(subject)
            if topic is None:
                if len(self._topics) >= _TOPIC_CACHE_SIZE:
                    self._topics.clear()
                topic = self._topics[subject] = topic_from_subject(self._pub_prefix, subject)
            data = self._whole(msg, msg.data)
            if data is None:
                return  # more chunks to come, or a chunk went missing (counted in chunks_dropped)
            origin, seq, body = split_publication(data)
            if not self._dedup.first(origin, seq):
                self.counters["duplicates_dropped"] += 1
                return
            frames = list(iter_frames(body))
        except ValueError as exc:
            self.counters["malformed"] += 1
            logger.warning("cluster: malformed publication on %s dropped: %s", subject, exc)
            return
        if self._deliver(host, [(topic, frame) for frame in frames]) is not None:
            self.counters["publications_received"] += len(frames)

    def _deliver(self, host: ClusterHost, records: list[tuple[str, bytes]]) -> bytearray | None:
        """The host's result codes for ``records``; None (nothing delivered, logged) if a frame is malformed."""
        try:
            return host.deliver_remote(records)
        except (ValueError, RemoteProtocolError) as exc:
            self.counters["malformed"] += 1
            logger.warning("cluster: a malformed frame from another node; its batch is dropped: %s", exc)
            return None

    async def _on_directory(self, msg: Any) -> None:
        try:
            out = self.directory.receive(msg.data, time.monotonic())
        except ValueError as exc:
            self.counters["malformed"] += 1
            logger.warning("cluster: malformed directory message dropped: %s", exc)
            return
        if out.twin:
            self.counters["twins"] += 1
            logger.error("cluster: another broker uses the node name %r: node names must be unique on the bus", self.node)
        if out.send_snapshot:
            self._enqueue(self._dir_subject, self.directory.snapshot())
        if out.sync_from is not None:
            self._enqueue(self._dir_subject, self.directory.sync_request(out.sync_from))
        host = self._host
        for name in out.lost:
            client = host.clients.get(name) if host is not None else None
            if client is not None:
                logger.warning("cluster: %r was claimed earlier on another node; the local client is dropped", name)
                client.disconnect(f"name {name!r} claimed earlier on another node")
