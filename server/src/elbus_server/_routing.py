"""The two routing trees of the broker, as pure data structures.

`NameTree` answers broadcast masks over client names split on ``.``
(``?`` = exactly one part, ``*`` = one or more remaining parts, ending the
mask). `TopicTree` answers which clients subscribed to a topic split on
``/`` (``+`` = exactly one level, ``#`` = one or more remaining levels,
ending the pattern; ``a/#`` does not match ``a``).

Both walk one tree level per name part, so the cost of a lookup grows with
the number of levels (and, for ``?``/``+``, with the number of distinct
branches at that level), never with the number of clients behind a branch.
Registering costs one node per level: unlike a tree that pre-expands every
``?`` branch, a name with many parts cannot make the broker allocate
exponentially.

Lookups return a read-only view that may be one of the tree's own sets:
iterate it before changing the tree. `TopicTree` remembers the receivers
of the topics published to lately (a publisher sends to few topics, many
times), until the next subscription or unsubscription changes the tree.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Generic, TypeVar

__all__ = ["NameTree", "TopicTree", "normalize_topic_pattern"]

C = TypeVar("C", bound=Hashable)

_EMPTY: frozenset = frozenset()  # type: ignore[type-arg]

MATCH_CACHE_TOPICS = 1024
"""Topics whose receivers `TopicTree.match` remembers; all are forgotten when one more would not fit."""
MATCH_CACHE_RECEIVERS = 65536
"""Receivers held in the merged sets `TopicTree.match` remembers (a topic matching one pattern costs none: it
is the tree's own set); all are forgotten when one more set would not fit, so the memory is bounded."""


def _union(found: list[set[C]]) -> Collection[C]:
    """One set as is, several merged (a client in several of them counts once)."""
    if not found:
        return _EMPTY
    if len(found) == 1:
        return found[0]
    result = set(found[0])
    for s in found[1:]:
        result |= s
    return result


class _NameNode(Generic[C]):
    __slots__ = ("below", "children", "members")

    def __init__(self) -> None:
        self.children: dict[str, _NameNode[C]] = {}
        self.members: set[C] = set()  # names that end at this node
        self.below: set[C] = set()  # names with at least one more part below this node: what `*` here selects


class NameTree(Generic[C]):
    """Client names split on ``.``, answering broadcast masks."""

    __slots__ = ("_root",)

    def __init__(self) -> None:
        self._root: _NameNode[C] = _NameNode()

    def add(self, name: str, client: C) -> None:
        node = self._root
        for part in name.split("."):
            node.below.add(client)
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _NameNode()
            node = child
        node.members.add(client)

    def remove(self, name: str, client: C) -> None:
        path: list[tuple[_NameNode[C], str]] = []
        node = self._root
        for part in name.split("."):
            child = node.children.get(part)
            if child is None:
                return
            node.below.discard(client)
            path.append((node, part))
            node = child
        node.members.discard(client)
        for parent, part in reversed(path):  # prune the branch that became empty
            child = parent.children[part]
            if child.members or child.children:
                break
            del parent.children[part]

    def match(self, mask: str) -> Collection[C]:
        """Every client whose name matches ``mask``."""
        frontier = [self._root]
        for part in mask.split("."):
            if part == "*":  # one or more remaining parts; anything after it is ignored
                return _union([n.below for n in frontier if n.below])
            if part == "?":
                frontier = [c for n in frontier for c in n.children.values()]
            else:
                frontier = [c for n in frontier if (c := n.children.get(part)) is not None]
            if not frontier:
                return _EMPTY
        return _union([n.members for n in frontier if n.members])


def normalize_topic_pattern(pattern: str) -> str:
    """The pattern as the tree stores it: ``#`` ends it, so levels after the first ``#`` are dropped."""
    if "#" not in pattern:
        return pattern
    parts = pattern.split("/")
    try:
        return "/".join(parts[: parts.index("#") + 1])
    except ValueError:  # '#' only inside a level: an ordinary level
        return pattern


class _TopicNode(Generic[C]):
    """One level of the topic tree. Most nodes are a bare step of a longer pattern, so the containers
    are made only when something goes in them: a step costs a few hundred bytes, not a kilobyte."""

    __slots__ = ("any", "children", "subscribers", "wildcard")

    def __init__(self) -> None:
        self.children: dict[str, _TopicNode[C]] | None = None
        self.any: _TopicNode[C] | None = None  # the `+` branch
        self.subscribers: set[C] | None = None  # patterns that end at this node
        self.wildcard: set[C] | None = None  # patterns ending with `#` at the next level

    def empty(self) -> bool:
        return not (self.children or self.any or self.subscribers or self.wildcard)


class TopicTree(Generic[C]):
    """Topic subscriptions of clients; each client's patterns are remembered to drop them at once.

    `match` answers from a cache of the topics matched since the tree last
    changed (bounded by `MATCH_CACHE_TOPICS` and `MATCH_CACHE_RECEIVERS`).
    """

    __slots__ = ("_cache", "_cached_receivers", "_patterns", "_root")

    def __init__(self) -> None:
        self._root: _TopicNode[C] = _TopicNode()
        self._patterns: dict[C, set[str]] = {}
        self._cache: dict[str, Collection[C]] = {}
        self._cached_receivers = 0  # receivers in the merged sets of the cache

    def subscribe(self, client: C, pattern: str) -> None:
        pattern = normalize_topic_pattern(pattern)
        patterns = self._patterns.setdefault(client, set())
        if pattern in patterns:
            return
        patterns.add(pattern)
        self._forget()
        node = self._root
        for part in pattern.split("/"):
            if part == "#":
                if node.wildcard is None:
                    node.wildcard = set()
                node.wildcard.add(client)
                return
            if part == "+":
                if node.any is None:
                    node.any = _TopicNode()
                node = node.any
            else:
                if node.children is None:
                    node.children = {}
                child = node.children.get(part)
                if child is None:
                    child = node.children[part] = _TopicNode()
                node = child
        if node.subscribers is None:
            node.subscribers = set()
        node.subscribers.add(client)

    def unsubscribe(self, client: C, pattern: str) -> None:
        pattern = normalize_topic_pattern(pattern)
        patterns = self._patterns.get(client)
        if patterns is None or pattern not in patterns:
            return
        patterns.discard(pattern)
        if not patterns:
            del self._patterns[client]
        self._remove(client, pattern)
        self._forget()

    def unsubscribe_all(self, client: C) -> None:
        patterns = self._patterns.pop(client, None)
        if patterns:
            for pattern in patterns:
                self._remove(client, pattern)
            self._forget()

    def _forget(self) -> None:
        """Empty the match cache: the tree changed."""
        self._cache.clear()
        self._cached_receivers = 0

    def patterns(self, client: C) -> frozenset[str]:
        return frozenset(self._patterns.get(client, ()))

    def count(self, client: C) -> int:
        """How many patterns ``client`` holds."""
        return len(self._patterns.get(client, ()))

    def holds(self, client: C, pattern: str) -> bool:
        """True if ``client`` is subscribed to ``pattern`` (as `subscribe` normalizes it)."""
        return normalize_topic_pattern(pattern) in self._patterns.get(client, ())

    def __len__(self) -> int:
        """Clients with at least one pattern (0: every match is empty)."""
        return len(self._patterns)

    def _remove(self, client: C, pattern: str) -> None:
        path: list[tuple[_TopicNode[C], str]] = []
        node: _TopicNode[C] | None = self._root
        for part in pattern.split("/"):
            assert node is not None
            if part == "#":
                if node.wildcard:
                    node.wildcard.discard(client)
                break
            path.append((node, part))
            node = node.any if part == "+" else (node.children or {}).get(part)
            if node is None:
                return
        else:
            if node is not None and node.subscribers:
                node.subscribers.discard(client)
        for parent, part in reversed(path):  # prune branches that became empty
            child = parent.any if part == "+" else (parent.children or {}).get(part)
            if child is None or not child.empty():
                break
            if part == "+":
                parent.any = None
            elif parent.children is not None:
                del parent.children[part]

    def match(self, topic: str) -> Collection[C]:
        """Every client with a pattern matching ``topic``, each once (remembered until the tree changes)."""
        receivers = self._cache.get(topic)
        if receivers is None:
            found = self._matching_sets(topic)
            receivers = _union(found)
            merged = len(receivers) if len(found) > 1 else 0  # one set is the tree's own: it costs no memory
            if len(self._cache) >= MATCH_CACHE_TOPICS or self._cached_receivers + merged > MATCH_CACHE_RECEIVERS:
                self._forget()
            self._cache[topic] = receivers
            self._cached_receivers += merged
        return receivers

    def _matching_sets(self, topic: str) -> list[set[C]]:
        """The subscriber sets of every pattern node that ``topic`` reaches (a client may be in several)."""
        found: list[set[C]] = []
        frontier = [self._root]
        for part in topic.split("/"):
            nxt = []
            for node in frontier:
                if node.wildcard:
                    found.append(node.wildcard)
                children = node.children
                if children is not None and (child := children.get(part)) is not None:
                    nxt.append(child)
                if node.any is not None:
                    nxt.append(node.any)
            if not nxt:
                return found
            frontier = nxt
        for node in frontier:
            if node.subscribers:
                found.append(node.subscribers)
        return found
