"""The routing core: the registry of clients and the one path every frame takes through the broker.

`Router.route` takes what one client sent (a received chunk of a socket
client, or one operation of an in-process client) and routes it into an
`Outbox`: MESSAGE frames to their target, PUBLISH frames through a
`PublicationRun`, BROADCAST to every name the mask matches, SUBSCRIBE and
UNSUBSCRIBE into the topic tree, acks behind them; the BUS/RT extensions
too: EXCLUDE and UNEXCLUDE into a second tree, of patterns whose
publications a client no longer gets even when subscribed, and
PUBLISH_FOR to the subscribers of one primary name. Acks and counters live
here and in the outbox only.

The counters are plain integers added once per routing step (a received
chunk), from locals the hot branches count anyway; `snapshot` copies them
for the ``.broker`` RPC and the metrics, which read nothing else. The router knows clients only as `Peer`s;
nothing in it waits on a receiver: a full one is told by `Peer.overflow`
and the sender's ack says ``77``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import msgpack

from elbus_spec import (
    SECONDARY_SEPARATOR,
    Broadcast,
    BroadcastRequest,
    Code,
    ExcludeRequest,
    Frame,
    Kind,
    Message,
    ProtocolViolation,
    Publication,
    PublishForRequest,
    PublishRequest,
    QoS,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
    codec,
    primary_name,
)

from ._acl import Acl, Denied, Permissions, Rule
from ._cluster import AckCallback, ClusterLink, remote_frame_event
from ._fanout import PublicationRun
from ._frames import body_length, delivery, pack_ack, pack_header
from ._limits import Limits
from ._outbox import Outbox, Pending
from ._peer import ClientKind, Peer
from ._routing import NameTree, TopicTree, normalize_topic_pattern
from ._stats import BrokerStats, ClientStats

__all__ = ["INFO_TOPIC", "WARN_TOPIC", "Router"]

logger = logging.getLogger("elbus_server")

INFO_TOPIC = ".broker/info"
WARN_TOPIC = ".broker/warn"

_OK = Code.OK
_NOT_REGISTERED = Code.NOT_REGISTERED
_NOT_DELIVERED = Code.NOT_DELIVERED
_DATA = Code.DATA
_HEADS_CACHE_SIZE = 64  # encoded MESSAGE headers kept per sender (one per body length seen lately)
_MESSAGE, _BROADCAST, _PUBLISH = Kind.MESSAGE.value, Kind.BROADCAST.value, Kind.PUBLISH.value
_HEADER_SIZE = codec.SERVER_HEADER_SIZE
_REMOTE_PERMS_CACHE = 4096  # remote senders whose access rules are kept resolved
_KIND_NAMES = {_MESSAGE: "message", _BROADCAST: "broadcast", _PUBLISH: "publish"}
_NOTHING = Pending((0, 0))  # no receiver yet


# The operations counted per kind (frames and body bytes read); ``denied``: frames refused whole by access control.
OPS_IN = ("message", "broadcast", "publish", "publish_for", "subscribe", "unsubscribe", "exclude", "unexclude", "denied")
# The frames written, per kind: publications (PUBLISH_FOR ones included) and acknowledgements.
OPS_OUT = ("message", "broadcast", "publish", "ack")
_PATTERN_OPS = {
    SubscribeRequest: "subscribe",
    UnsubscribeRequest: "unsubscribe",
    ExcludeRequest: "exclude",
    UnexcludeRequest: "unexclude",
}
# Why a registration was refused, by its handshake result code (the label the metrics give it).
_REFUSALS: dict[int, str] = {
    Code.BUSY: "busy",
    Code.DATA: "data",
    Code.NOT_REGISTERED: "not_registered",
    Code.ACCESS: "access",
    Code.OTHER: "other",
}


def _count(counter: list[int], size: int, frames: int = 1) -> None:
    """Add ``frames`` frames of ``size`` body bytes in all to a ``[frames, bytes]`` counter."""
    counter[0] += frames
    counter[1] += size


def _topics_length(topics: list[str]) -> int:
    return sum(len(t) if t.isascii() else len(t.encode()) for t in topics) + max(len(topics) - 1, 0)


def _message_head(sender: Peer, size: int, realtime: int) -> bytes:
    """The MESSAGE header for a body of ``size`` bytes followed by ``sender``'s name, cached in ``sender.heads``."""
    heads = sender.heads
    if len(heads) >= _HEADS_CACHE_SIZE:
        heads.clear()
    head = heads[size << 1 | realtime] = pack_header(_MESSAGE, size, realtime) + sender.wire_name
    return head


class Router:
    """Registered clients by name, their subscriptions, access control and the broker-wide counters.

    ``core`` is the broker's own ``.broker`` client once registered: it
    announces registrations on `INFO_TOPIC`. Socket clients are checked
    against ``acl`` (None: open); in-process clients are not. Every client's
    topics are held to ``limits`` (length, depth, subscriptions per client,
    and as many exclusions): a topic over a bound is refused with ``72``,
    costs nothing, and is logged once per client. ``cluster`` links this node
    to the other brokers of its bus (None: this node alone).
    """

    __slots__ = ("_excluded", "_names", "_perms", "_remote_perms", "_topics", "_warned", "acl", "acl_denials", "clients",
                 "closing", "cluster", "core", "dropped", "limits", "ops_in", "ops_out", "protocol_violations", "r_bytes",
                 "r_frames", "refused", "w_bytes", "w_frames")

    def __init__(self, acl: Acl | None, limits: Limits) -> None:
        self.limits = limits
        self._warned: set[Peer] = set()  # clients already told of in the log for a refused topic
        self.clients: dict[str, Peer] = {}
        self._names: NameTree[Peer] = NameTree()
        self._topics: TopicTree[Peer] = TopicTree()
        self._excluded: TopicTree[Peer] = TopicTree()  # EXCLUDE patterns: they win over subscriptions
        self._perms: dict[Peer, Permissions] = {}  # restricted clients' resolved rules, while an ACL is set
        self.acl = acl
        self._remote_perms: dict[str, Permissions | None] = {}  # remote senders' rules, while an ACL is set
        self.cluster: ClusterLink | None = None
        self.core: Peer | None = None
        self.closing = False
        self.r_frames = 0
        self.r_bytes = 0
        self.w_frames = 0
        self.w_bytes = 0
        self.ops_in: dict[str, list[int]] = {op: [0, 0] for op in OPS_IN}  # op -> [frames, body bytes]
        self.ops_out: dict[str, list[int]] = {op: [0, 0] for op in OPS_OUT}
        self.dropped = 0  # frames refused by full queues
        self.acl_denials = 0
        self.protocol_violations = 0
        self.refused: dict[str, int] = {}  # refused registrations by reason

    # --- registry ---------------------------------------------------------------------------------

    def register(self, peer: Peer, name: str, *, restricted: bool = True) -> int:
        """Register ``peer`` as ``name``; returns the handshake code (``01`` registered).

        A restricted client (a socket client) is checked against the ACL by
        its name and ``peer.address``; names with a leading dot are reserved
        for unrestricted (in-process) clients. Refusals are counted by reason.
        """
        code = self._admit(peer, name, restricted)
        if code != _OK:
            reason = _REFUSALS.get(code, f"0x{code:02x}")
            self.refused[reason] = self.refused.get(reason, 0) + 1
        return code

    def _admit(self, peer: Peer, name: str, restricted: bool) -> int:
        code = self._check_name(name, internal=not restricted)
        if restricted and code != Code.DATA and self.acl is not None:  # a refused client learns nothing of names in use
            perms = self.acl.resolve(name, peer.address if peer.kind is ClientKind.TCP else None)
            if perms is None:
                return Code.ACCESS
            if code == _OK:
                self._perms[peer] = perms
        if code != _OK:
            return code
        peer.name = name
        peer.wire_name = name.encode() + b"\0"
        self.clients[name] = peer
        self._names.add(name, peer)
        self._topics.subscribe(peer, WARN_TOPIC)
        if SECONDARY_SEPARATOR in name:
            primary = self.clients[primary_name(name)]
            peer.primary = primary
            primary.secondaries.add(peer)
        logger.debug("client %r registered (%s)", name, peer.kind.value)
        if self.cluster is not None:
            self.cluster.registered(name)
        if peer.primary is None and peer is not self.core and self.core is not None:
            self.announce({"s": "reg", "d": name, "t": time.time_ns()}, INFO_TOPIC)
        return _OK

    def _check_name(self, name: str, *, internal: bool) -> int:
        if not name or (name.startswith(".") and not internal) or "\0" in name:
            return Code.DATA  # names with a leading dot are reserved for internal clients; NUL ends a name on the wire
        if not self.limits.name_fits(name):
            return Code.DATA  # each level of a name costs a node of the name tree: bounded as topics are
        if self.closing:
            return Code.OTHER
        if name in self.clients or (self.cluster is not None and not name.startswith(".") and self.cluster.name_taken(name)):
            return Code.BUSY  # held here, or on another node of the bus
        if SECONDARY_SEPARATOR in name and primary_name(name) not in self.clients:
            return Code.NOT_REGISTERED
        return _OK

    def leave(self, peer: Peer) -> None:
        """Forget ``peer``; a primary takes its secondaries with it and is announced."""
        if self.clients.get(peer.name) is not peer:
            return
        del self.clients[peer.name]
        self._perms.pop(peer, None)
        self._warned.discard(peer)
        self._names.remove(peer.name, peer)
        if self.cluster is not None:
            for pattern in self._topics.patterns(peer):
                self.cluster.unsubscribed(pattern)
            self.cluster.unregistered(peer.name)
        self._topics.unsubscribe_all(peer)
        self._excluded.unsubscribe_all(peer)
        logger.debug("client %r unregistered", peer.name)
        if peer.primary is not None:
            peer.primary.secondaries.discard(peer)
            return
        for secondary in list(peer.secondaries):
            secondary.disconnect(f"its primary {peer.name!r} left")
        peer.secondaries.clear()
        if not self.closing and self.core is not None and peer is not self.core:
            self.announce({"s": "unreg", "d": peer.name, "t": time.time_ns()}, INFO_TOPIC)

    def subscriptions(self, peer: Peer) -> frozenset[str]:
        """The topic patterns ``peer`` is subscribed to."""
        return self._topics.patterns(peer)

    def exclusions(self, peer: Peer) -> frozenset[str]:
        """The topic patterns ``peer`` has excluded (BUS/RT EXCLUDE)."""
        return self._excluded.patterns(peer)

    def _subscribers(self, topic: str) -> Collection[Peer]:
        """The clients a publication to ``topic`` reaches: subscribed, and not excluding it."""
        receivers = self._topics.match(topic)
        if receivers and self._excluded:
            excluded = self._excluded.match(topic)
            if excluded:
                return [peer for peer in receivers if peer not in excluded]
        return receivers

    def _subscribers_of(self, topic: str, receiver: str) -> list[Peer]:
        """The subscribers a PUBLISH_FOR to ``topic`` reaches: those whose primary name is ``receiver``."""
        return [dest for dest in self._subscribers(topic) if (dest.primary or dest).name == receiver]

    def snapshot(self, uptime: float, queue_size: int = 0) -> BrokerStats:
        """Every counter now, and every registered client's (see `BrokerStats`); ``queue_size`` 0: not told.

        It runs on the event loop, once per scrape or ``client.stats`` call:
        one pass over the clients, in registration order, nothing sorted.
        """
        count_patterns = self._topics.count
        clients = tuple(
            ClientStats(
                name,
                peer.kind.value,
                peer.r_frames,
                peer.r_bytes,
                peer.w_frames,
                peer.w_bytes,
                peer.queued,
                peer.drops,
                count_patterns(peer),
            )
            for name, peer in self.clients.items()
        )
        return BrokerStats(
            uptime,
            self.r_frames,
            self.r_bytes,
            self.w_frames,
            self.w_bytes,
            clients,
            ops_in={op: (frames, size) for op, (frames, size) in self.ops_in.items()},
            ops_out={op: (frames, size) for op, (frames, size) in self.ops_out.items()},
            drops=self.dropped,
            acl_denials=self.acl_denials,
            protocol_violations=self.protocol_violations,
            refused=dict(self.refused),
            queue_size=queue_size,
        )

    def announce(self, event: dict[str, Any], topic: str) -> None:
        """Publish ``event`` (MessagePack) on ``topic`` as ``.broker``."""
        assert self.core is not None
        self.route(self.core, [PublishRequest(0, QoS.NO, topic, msgpack.packb(event))])

    # --- access control -------------------------------------------------------------------------------

    def set_acl(self, acl: Acl | None) -> None:
        """Apply ``acl`` (None: open) to new and registered socket clients.

        A registered client no longer admitted (name or source) is
        disconnected; its subscriptions no longer allowed are dropped.
        """
        self.acl = acl
        self._perms.clear()
        self._remote_perms.clear()
        if acl is None:
            return
        for peer in [p for p in self.clients.values() if p.kind is not ClientKind.INTERNAL]:
            perms = acl.resolve(peer.name, peer.address if peer.kind is ClientKind.TCP else None)
            if perms is None:
                peer.disconnect("no longer allowed by access control")
                continue
            self._perms[peer] = perms
            for pattern in self._topics.patterns(peer):
                if pattern != WARN_TOPIC and not perms.may_subscribe(pattern):
                    self._unsubscribe(peer, pattern)

    def _check_access(self, sender: Peer, events: list[Any]) -> list[Any]:
        """``events`` with each denied request replaced by `Denied` (its ``79`` acks), in order.

        A SUBSCRIBE or UNSUBSCRIBE keeps its allowed topics: one ``79`` per
        denied topic, then the request (acked ``01``) applies the rest.
        """
        perms = self._perms.get(sender)
        if perms is None:  # being disconnected by `set_acl`: nothing more is allowed
            perms = Permissions(Rule("*"))
        checked: list[Any] = []
        for event in events:
            t = type(event)
            if t is SubscribeRequest or t is UnsubscribeRequest:
                topics = [topic for topic in event.topics if perms.may_subscribe(topic)]
                denied = len(event.topics) - len(topics)
                if denied:
                    self.acl_denials += denied
                    checked.append(Denied(event.op_id, event.qos, denied, then_ok=not topics, whole=not topics))
                    if topics:
                        checked.append(t(event.op_id, event.qos, topics))
                    continue
            elif not perms.allows(event):
                event = Denied(event[0], event[1]) if t is tuple else Denied(event.op_id, event.qos)
                self.acl_denials += 1
            checked.append(event)
        return checked

    # --- routing ------------------------------------------------------------------------------------

    def route(self, sender: Peer, events: list[Any]) -> None:
        """Route ``events`` (parsed from what ``sender`` sent; MESSAGE frames as plain tuples), in order.

        Everything routed is handed over at the end, one `Peer.deliver` per
        receiver; a MESSAGE costs one concatenation: the header and the
        sender's name are encoded once per body length (``sender.heads``).
        Stops at a protocol violation (the sender is disconnected).
        """
        if self.acl is not None and sender.kind is not ClientKind.INTERNAL:
            events = self._check_access(sender, events)
        outbox = Outbox()
        run: PublicationRun | None = None  # made at the first publication: most chunks of a request/reply have none
        clients = self.clients
        heads = sender.heads
        prefix_size = len(sender.wire_name)
        acked_in_frames = sender.takes_bytes
        last_dest: Peer | None = None  # the receiver of the previous MESSAGE, and what it was routed so far
        last = _NOTHING
        own: Pending | None = None  # what the sender is routed (its acks)
        # Counted per kind as the branches go (the hot ones in locals); added to the totals once, at the end.
        messages = message_bytes = missed = missed_bytes = publications = publication_bytes = acks = 0
        received = received_bytes = 0  # the other operations
        direct = [0, 0]  # frames and bytes written for broadcasts and PUBLISH_FOR (counted by their helpers)
        ops = self.ops_in
        try:
            for event in events:
                t = type(event)
                if t is PublishRequest:
                    if run is None:
                        run = PublicationRun()
                    qos = event.qos
                    realtime = (qos >> 1) & 1
                    topic = event.topic
                    if topic != run.topic or realtime != run.realtime:
                        run.spill(outbox)
                        if not self.limits.topic_fits(topic):
                            length = body_length(topic, event.payload)
                            publications += 1
                            publication_bytes += length
                            self._refused(sender, "a publication's topic")
                            if qos & 1:
                                outbox.ack(sender, event.op_id, _DATA, realtime)
                            continue
                        run.start(topic, realtime, self._subscribers(topic), sender)
                    publications += 1
                    publication_bytes += run.add(event.payload)
                    if self.cluster is not None:
                        self.cluster.publish(sender, topic, event.payload, realtime)
                    if qos & 1:
                        if sender in run.receivers:  # it gets its own publication before the ack
                            run.spill(outbox)
                        outbox.ack(sender, event.op_id, _OK, realtime)
                    continue
                if run is not None and run.frames:  # publications routed before anything else go first
                    run.spill(outbox)
                if t is tuple:
                    op_id, qos, target, payload, length = event
                    messages += 1
                    message_bytes += length
                    realtime = (qos >> 1) & 1
                    dest = clients.get(target)
                    if dest is None:
                        missed += 1  # nothing written here
                        missed_bytes += length
                        if self.cluster is None:
                            code: int = _NOT_REGISTERED
                        else:
                            answer = self._answer_later(sender, op_id, realtime) if qos & 1 else None
                            remote = self.cluster.send_message(sender, target, payload, realtime, answer)
                            if remote is None:
                                continue  # on its way to another node: acknowledged when that node answers
                            code = remote
                    else:
                        if dest is not last_dest:
                            last_dest, last = dest, outbox.pending(dest)
                        if dest.takes_bytes:
                            size = prefix_size + len(payload)
                            head = heads.get(size << 1 | realtime)
                            if head is None:
                                head = _message_head(sender, size, realtime)
                            data = head + payload
                            taken = last.take(data, len(data), length, realtime)
                        else:
                            taken = last.take(Message(sender.name, None, payload, bool(realtime)), 0, length, realtime)
                        if taken:
                            code = _OK
                        else:
                            missed += 1
                            missed_bytes += length
                            code = _NOT_DELIVERED
                    if qos & 1:
                        if own is None:
                            own = outbox.pending(sender)
                        if acked_in_frames:  # Outbox.ack, with the sender's pending frames looked up once per chunk
                            acks += own.take(pack_ack(op_id, code), 6, 6, realtime)
                        else:
                            sender.ack(op_id, code)
                elif t is BroadcastRequest:
                    length = self._broadcast(outbox, sender, event, direct)
                    received += 1
                    received_bytes += length
                    _count(ops["broadcast"], length)
                elif t is PublishForRequest:
                    if self.limits.topic_fits(event.topic):
                        length = self._publish_for(outbox, sender, event, direct)
                    else:  # as a publication's topic: refused with 72
                        length = body_length(event.topic, event.payload) + body_length(event.receiver, b"")
                        self._refused(sender, "a publication's topic")
                        if event.qos & 1:
                            outbox.ack(sender, event.op_id, _DATA, event.qos & 2)
                    received += 1
                    received_bytes += length
                    _count(ops["publish_for"], length)
                elif t in _PATTERN_OPS:
                    if run is not None:
                        run.topic = None  # the next publication matches its topic again
                    length = _topics_length(event.topics)
                    received += 1
                    received_bytes += length
                    _count(ops[_PATTERN_OPS[t]], length)
                    excluding = t is ExcludeRequest or t is UnexcludeRequest
                    refused = self._change(sender, event.topics, add=t is SubscribeRequest or t is ExcludeRequest,
                                           exclusions=excluding)
                    if event.qos & 1:
                        for _ in range(refused):
                            outbox.ack(sender, event.op_id, _DATA, event.qos & 2)
                        outbox.ack(sender, event.op_id, _OK, event.qos & 2)
                elif t is Denied:
                    received += event.whole
                    ops["denied"][0] += event.whole
                    if event.qos & 1:
                        for _ in range(event.count):
                            outbox.ack(sender, event.op_id, Code.ACCESS, event.qos & 2)
                        if event.then_ok:
                            outbox.ack(sender, event.op_id, _OK, event.qos & 2)
                elif t is ProtocolViolation:
                    self.protocol_violations += 1
                    sender.disconnect(f"protocol error: {event.reason}")
                    break
        finally:
            if run is not None:
                run.spill(outbox)
            outbox.flush()
            received += messages + publications
            received_bytes += message_bytes + publication_bytes
            sender.r_frames += received
            sender.r_bytes += received_bytes
            self.r_frames += received
            self.r_bytes += received_bytes
            if messages:
                _count(ops["message"], message_bytes, messages)
            if publications:
                _count(ops["publish"], publication_bytes, publications)
            written = messages - missed
            if written:
                _count(self.ops_out["message"], message_bytes - missed_bytes, written)
                direct[0] += written
                direct[1] += message_bytes - missed_bytes
            self._count_step(outbox, direct, acks)

    def _change(self, peer: Peer, topics: list[str], *, add: bool, exclusions: bool) -> int:
        """Add or remove ``peer``'s subscriptions (or exclusions) to ``topics``; returns how many were refused.

        A topic over a bound is refused, and so is a new pattern past
        ``max_subscriptions`` (exclusions have a bound of the same size).
        """
        limits = self.limits
        tree = self._excluded if exclusions else self._topics
        refused = 0
        for topic in topics:
            if not limits.topic_fits(topic):
                refused += 1
            elif not add:
                if exclusions:
                    tree.unsubscribe(peer, topic)
                else:
                    self._unsubscribe(peer, topic)
            elif tree.count(peer) < limits.max_subscriptions or tree.holds(peer, topic):
                if exclusions:
                    tree.subscribe(peer, topic)
                else:
                    self._subscribe(peer, topic)
            else:
                refused += 1
        if refused:
            self._refused(peer, f"{refused} topic(s) of a request")
        return refused

    def _refused(self, peer: Peer, what: str) -> None:
        """Log, once per client, that something of it was refused for a bound."""
        if peer not in self._warned:
            self._warned.add(peer)
            limits = self.limits
            logger.warning("client %r: %s over the bounds (%d bytes, %d levels, %d subscriptions) refused with 0x72; "
                           "further refusals are not logged", peer.name, what, limits.max_topic_length,
                           limits.max_topic_depth, limits.max_subscriptions)

    def _count_step(self, outbox: Outbox, direct: list[int], inline_acks: int = 0) -> None:
        """Add what one step wrote to the totals and split it by kind.

        ``direct`` holds the frames and bytes already counted by kind (messages,
        broadcasts, PUBLISH_FOR); acks are the outbox's and ``inline_acks``;
        publications are what remains.
        """
        self.w_frames += outbox.frames
        self.w_bytes += outbox.length
        if outbox.refused:
            self.dropped += outbox.refused
        acks = inline_acks + outbox.acks
        if acks:
            _count(self.ops_out["ack"], 6 * acks, acks)
        publications = outbox.frames - acks - direct[0]
        if publications > 0:
            _count(self.ops_out["publish"], outbox.length - 6 * acks - direct[1], publications)

    def _broadcast(self, outbox: Outbox, sender: Peer, event: BroadcastRequest, direct: list[int]) -> int:
        """Route one BROADCAST to every name its mask matches; returns its body length."""
        payload = event.payload
        length = body_length(event.mask, payload)
        realtime = (event.qos >> 1) & 1
        self._hand_out(
            outbox,
            self._names.match(event.mask),
            length,
            realtime,
            lambda: delivery(_BROADCAST, realtime, sender.wire_name, payload),
            lambda: Broadcast(sender.name, None, payload, bool(realtime)),
            "broadcast",
            direct,
        )
        if self.cluster is not None:
            self.cluster.broadcast(sender, event.mask, payload, realtime)
        if event.qos & 1:
            outbox.ack(sender, event.op_id, _OK, realtime)
        return length

    def _publish_for(self, outbox: Outbox, sender: Peer, event: PublishForRequest, direct: list[int]) -> int:
        """Route one PUBLISH_FOR: an ordinary publication for the subscribers whose primary name is the receiver.

        Returns its body length; what it writes counts as publications.
        """
        topic, receiver, payload = event.topic, event.receiver, event.payload
        length = body_length(topic, payload) + body_length(receiver, b"")
        realtime = (event.qos >> 1) & 1
        self._hand_out(
            outbox,
            self._subscribers_of(topic, receiver),
            length,
            realtime,
            lambda: delivery(_PUBLISH, realtime, sender.wire_name + topic.encode() + b"\0", payload),
            lambda: Publication(sender.name, topic, payload, bool(realtime)),
            "publish",
            direct,
        )
        if self.cluster is not None and receiver not in self.clients:
            self.cluster.publish_for(sender, topic, receiver, payload, realtime)
        if event.qos & 1:
            outbox.ack(sender, event.op_id, _OK, realtime)
        return length

    def _hand_out(
        self,
        outbox: Outbox,
        receivers: Collection[Peer],
        length: int,
        realtime: int,
        encode: Callable[[], bytes],
        event: Callable[[], Frame],
        kind: str,
        direct: list[int],
    ) -> None:
        """One frame to many receivers: encoded once for those that take bytes, one event for the others.

        What is written is counted in ``ops_out[kind]`` and in ``direct`` (frames, bytes).
        """
        data: bytes | None = None
        frame: Frame | None = None
        written = 0
        for dest in receivers:
            if dest.takes_bytes:
                if data is None:
                    data = encode()
                written += outbox.add(dest, data, length, realtime)
            else:
                if frame is None:
                    frame = event()
                written += outbox.add(dest, frame, length, realtime)
        if written:
            _count(self.ops_out[kind], written * length, written)
            direct[0] += written
            direct[1] += written * length

    # --- the other nodes of the bus -----------------------------------------------------------------

    def _subscribe(self, peer: Peer, pattern: str) -> None:
        """Subscribe ``peer``; the cluster hears of each pattern a client takes, once."""
        if self.cluster is not None and not self._topics.holds(peer, pattern):
            self.cluster.subscribed(normalize_topic_pattern(pattern))
        self._topics.subscribe(peer, pattern)

    def _unsubscribe(self, peer: Peer, pattern: str) -> None:
        if self.cluster is not None and self._topics.holds(peer, pattern):
            self.cluster.unsubscribed(normalize_topic_pattern(pattern))
        self._topics.unsubscribe(peer, pattern)

    def _answer_later(self, sender: Peer, op_id: int, realtime: int) -> AckCallback:
        """The acknowledgement of a MESSAGE another node answers: queued to ``sender`` when the answer comes."""

        def answer(code: int) -> None:
            if self.clients.get(sender.name) is not sender:
                return  # the sender left meanwhile
            outbox = Outbox()
            outbox.ack(sender, op_id, code, realtime)
            outbox.flush()
            self._count_step(outbox, [0, 0])

        return answer

    def deliver_remote(self, records: list[tuple[str, bytes]]) -> bytearray:
        """Deliver frames another node routed here, in one step; one result code per frame.

        Each record is ``(address, frame)``: ``frame`` is the encoded
        broker-to-client frame (its sender is a client of another node),
        ``address`` its target (MESSAGE), mask (BROADCAST) or topic
        (PUBLISH; ``TOPIC NUL RECEIVER`` for a PUBLISH_FOR, which reaches
        the subscriptions of that primary name only, and is counted as
        one). The code is what the MESSAGE sender is answered: ``01``,
        ``71`` (no such client here), ``77`` (its queue was full) or ``79``
        (access control judges the remote sender by its name, as a client
        without a source address). Raises `elbus_spec.RemoteProtocolError`
        for a malformed frame (nothing of the batch is delivered then).
        """
        outbox = Outbox()
        codes = bytearray()
        direct = [0, 0]  # what was written for messages and broadcasts (publications are the rest)
        for address, frame in records:
            kind, length, realtime = codec.decode_server_header(frame)
            nul = frame.index(b"\0", _HEADER_SIZE)
            length -= nul + 1 - _HEADER_SIZE  # what the sending client's body held besides the address
            receiver = ""
            if kind != _PUBLISH:
                length += body_length(address, b"")
            elif "\0" in address:  # PUBLISH_FOR: counted as the sender's request was
                address, _, receiver = address.partition("\0")
                length += body_length(receiver, b"")
            if self.acl is not None and not self._remote_allowed(kind, address, frame[_HEADER_SIZE:nul].decode()):
                codes.append(Code.ACCESS)
                continue
            self.r_frames += 1
            self.r_bytes += length
            _count(self.ops_in["publish_for" if receiver else _KIND_NAMES[kind]], length)
            receivers: Collection[Peer]
            if receiver:
                receivers = self._subscribers_of(address, receiver)
            elif kind == _MESSAGE:
                dest = self.clients.get(address)
                if dest is None:
                    codes.append(_NOT_REGISTERED)
                    continue
                receivers = (dest,)
            elif kind == _BROADCAST:
                receivers = self._names.match(address)
            else:
                receivers = self._subscribers(address)
            code = _OK
            event = None
            for dest in receivers:
                if dest.takes_bytes:
                    taken = outbox.add(dest, frame, length, realtime)
                else:
                    if event is None:
                        event = remote_frame_event(frame)
                    taken = outbox.add(dest, event, length, realtime)
                if not taken:
                    code = _NOT_DELIVERED
                elif kind != _PUBLISH:
                    direct[0] += 1
                    direct[1] += length
                    _count(self.ops_out[_KIND_NAMES[kind]], length)
            codes.append(code)
        outbox.flush(now=True)  # a whole batch of another node, already late by a crossing: not held to the turn's end
        self._count_step(outbox, direct)
        return codes

    def _remote_allowed(self, kind: int, address: str, sender: str) -> bool:
        if sender in self._remote_perms:
            perms = self._remote_perms[sender]
        else:
            if len(self._remote_perms) >= _REMOTE_PERMS_CACHE:
                self._remote_perms.clear()
            perms = self._remote_perms[sender] = self.acl.resolve(sender, None) if self.acl is not None else None
        if perms is None:
            return False
        if kind == _MESSAGE:
            return perms.may_message(address)
        if kind == _BROADCAST:
            return perms.may_broadcast(address)
        return perms.may_publish(address)
