"""The name directory: which node holds which client names and subscription patterns (sans-IO).

Every node announces its own names and patterns on the directory subject:
a snapshot when it joins or is asked, then deltas, and a heartbeat. Each
message carries the node's change counter (``v``), so a node that missed a
delta sees the gap and asks for a snapshot; a node silent for
``node_timeout`` seconds is forgotten with all its names. From this view a
broker answers at once, without asking NATS:

- which node a client name lives on (`owner`), so a name registered
  nowhere is refused ``0x71`` locally and a name held elsewhere cannot
  register here (``0x76``);
- which nodes hold a name matching a broadcast mask (`nodes_for_mask`);
- whether any other node subscribes to a topic (`interested`), so
  publications nobody else wants never reach NATS.

Names are unique across the bus. Two nodes can claim one name in the same
instant, before either has heard of the other; then the earlier claim wins
(claim time in ns, then the node name, so every node decides alike) and
the node holding the later claim drops its client (`Outcome.lost`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from elbus_server.plugin import NameTree, TopicTree

from .envelope import decode_directory, encode_directory

__all__ = ["Directory", "NodeView", "Outcome"]

_INTEREST_CACHE_SIZE = 4096  # topics whose remote interest is remembered


@dataclass
class NodeView:
    """What this node knows of another one."""

    boot: int
    version: int
    names: dict[str, int] = field(default_factory=dict)  # name -> claim time (ns)
    topics: set[str] = field(default_factory=set)
    last_seen: float = 0.0


@dataclass
class Outcome:
    """What the owner of the directory must do after a received message."""

    sync_from: str | None = None  # ask this node for its snapshot
    send_snapshot: bool = False  # publish our snapshot (someone asked)
    lost: list[str] = field(default_factory=list)  # local names that lost a claim to an earlier one elsewhere
    twin: bool = False  # another broker announces itself under this node's name


class Directory:
    """This node's names and patterns, and its view of every other node's."""

    def __init__(self, node: str, boot: int, *, node_timeout: float, resync_interval: float) -> None:
        self.node = node
        self.boot = boot
        self.node_timeout = node_timeout
        self.resync_interval = resync_interval
        self.version = 0
        self.local_names: dict[str, int] = {}
        self._local_topics: dict[str, int] = {}  # pattern -> local subscriptions holding it
        self._ops: list[list[Any]] = []
        self.nodes: dict[str, NodeView] = {}
        self._claims: dict[str, dict[str, int]] = {}  # name -> {node: claim} over the other nodes
        self._names: NameTree[tuple[str, str]] = NameTree()
        self._topics: TopicTree[str] = TopicTree()
        self._asked: dict[str, float] = {}  # node -> when we last asked it for a snapshot
        self._interest: dict[str, bool] = {}  # topic -> `interested`, until the other nodes' patterns change

    # --- this node --------------------------------------------------------------------------------

    def claim(self, name: str) -> None:
        claim = time.time_ns()
        self.local_names[name] = claim
        self._ops.append(["+n", name, claim])

    def release(self, name: str) -> None:
        if self.local_names.pop(name, None) is not None:
            self._ops.append(["-n", name, 0])

    def add_topic(self, pattern: str) -> bool:
        """Count one more local subscription to ``pattern``; True if it is the first."""
        count = self._local_topics.get(pattern, 0)
        self._local_topics[pattern] = count + 1
        if count == 0:
            self._ops.append(["+t", pattern, 0])
        return count == 0

    def remove_topic(self, pattern: str) -> bool:
        """Count one local subscription to ``pattern`` less; True if it was the last."""
        count = self._local_topics.get(pattern, 0)
        if count <= 1:
            if count == 1:
                del self._local_topics[pattern]
                self._ops.append(["-t", pattern, 0])
            return count == 1
        self._local_topics[pattern] = count - 1
        return False

    @property
    def local_topics(self) -> list[str]:
        return list(self._local_topics)

    def take_delta(self) -> bytes | None:
        """The changes since the last call as one delta message, or None if nothing changed."""
        if not self._ops:
            return None
        self.version += 1
        ops, self._ops = self._ops, []
        return encode_directory("delta", self.node, self.boot, self.version, ops=ops)

    def snapshot(self) -> bytes:
        """Everything this node holds; pending changes are folded in (no delta will repeat them)."""
        if self._ops:
            self.version += 1
            self._ops = []
        return encode_directory("snap", self.node, self.boot, self.version,
                                names=self.local_names, topics=list(self._local_topics))

    def heartbeat(self) -> bytes:
        return encode_directory("hb", self.node, self.boot, self.version)

    def sync_request(self, to: str | None = None) -> bytes:
        return encode_directory("sync", self.node, self.boot, self.version, to=to)

    def bye(self) -> bytes:
        return encode_directory("bye", self.node, self.boot, self.version)

    # --- the other nodes ----------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> Outcome:
        """Apply a directory message; raises `ValueError` for a malformed one (nothing applied)."""
        message = decode_directory(data)
        out = Outcome()
        kind, node, boot, version = message["k"], message["n"], message["b"], message["v"]
        if node == self.node:
            out.twin = boot != self.boot  # our own echo is harmless; another run under our name is a misconfiguration
            return out
        if kind == "sync":
            out.send_snapshot = message.get("to") in (None, self.node)
            return out
        if kind == "bye":
            view = self.nodes.get(node)
            if view is not None and view.boot == boot:
                self.forget(node)
            return out
        view = self.nodes.get(node)
        if kind == "snap":
            names, topics = message.get("names"), message.get("topics")
            if not isinstance(names, dict) or not isinstance(topics, list):
                raise ValueError("directory: malformed snapshot")
            self.forget(node)
            view = self.nodes[node] = NodeView(boot, version, last_seen=now)
            self._asked.pop(node, None)
            for name, claim in names.items():
                self._add_name(view, node, str(name), int(claim), out)
            for pattern in topics:
                self._add_topic(view, node, str(pattern))
            return out
        if view is None or view.boot != boot:
            self._ask(node, now, out)
            return out
        view.last_seen = now
        if kind == "hb":
            if version != view.version:
                self._ask(node, now, out)
            return out
        if version != view.version + 1:  # a delta: only the next one applies
            self._ask(node, now, out)
            return out
        ops = message.get("ops")
        if not isinstance(ops, list):
            raise ValueError("directory: malformed delta")
        view.version = version
        for op in ops:
            if not isinstance(op, list) or len(op) != 3:
                raise ValueError("directory: malformed delta operation")
            what, value, claim = op
            if what == "+n":
                self._add_name(view, node, str(value), int(claim), out)
            elif what == "-n":
                self._remove_name(view, node, str(value))
            elif what == "+t":
                self._add_topic(view, node, str(value))
            elif what == "-t":
                view.topics.discard(str(value))
                self._topics.unsubscribe(node, str(value))
                self._interest.clear()
        return out

    def _ask(self, node: str, now: float, out: Outcome) -> None:
        if now - self._asked.get(node, -self.resync_interval) >= self.resync_interval:
            self._asked[node] = now
            out.sync_from = node

    def _add_name(self, view: NodeView, node: str, name: str, claim: int, out: Outcome) -> None:
        view.names[name] = claim
        self._claims.setdefault(name, {})[node] = claim
        self._names.add(name, (node, name))
        mine = self.local_names.get(name)
        if mine is not None and (claim, node) < (mine, self.node):
            out.lost.append(name)

    def _remove_name(self, view: NodeView, node: str, name: str) -> None:
        if view.names.pop(name, None) is None:
            return
        self._names.remove(name, (node, name))
        claims = self._claims.get(name)
        if claims is not None:
            claims.pop(node, None)
            if not claims:
                del self._claims[name]

    def _add_topic(self, view: NodeView, node: str, pattern: str) -> None:
        view.topics.add(pattern)
        self._topics.subscribe(node, pattern)
        self._interest.clear()

    def forget(self, node: str) -> None:
        """Drop everything known of ``node``."""
        view = self.nodes.pop(node, None)
        if view is None:
            return
        for name in list(view.names):
            self._remove_name(view, node, name)
        self._topics.unsubscribe_all(node)
        self._interest.clear()

    def expire(self, now: float) -> list[str]:
        """Forget the nodes silent for longer than ``node_timeout``; returns their names."""
        dead = [node for node, view in self.nodes.items() if now - view.last_seen > self.node_timeout]
        for node in dead:
            self.forget(node)
        return dead

    def forget_all(self) -> None:
        for node in list(self.nodes):
            self.forget(node)

    # --- lookups -------------------------------------------------------------------------------------

    def owner(self, name: str) -> str | None:
        """The other node holding ``name`` (the earliest claim if several do), or None."""
        claims = self._claims.get(name)
        if not claims:
            return None
        if len(claims) == 1:
            return next(iter(claims))
        return min(claims.items(), key=lambda item: (item[1], item[0]))[0]

    def nodes_for_mask(self, mask: str) -> set[str]:
        """The other nodes holding a name that ``mask`` matches."""
        return {node for node, _ in self._names.match(mask)}

    def interested(self, topic: str) -> bool:
        """Whether any other node subscribes to a pattern matching ``topic`` (asked for every publication: cached)."""
        known = self._interest.get(topic)
        if known is None:
            if len(self._interest) >= _INTEREST_CACHE_SIZE:
                self._interest.clear()
            known = self._interest[topic] = bool(self._topics.match(topic))
        return known
