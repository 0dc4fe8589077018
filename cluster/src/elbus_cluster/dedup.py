"""Exactly once per node: publication messages that arrive through several subscriptions count once.

A node subscribes to NATS with one subject per local pattern, so a topic
matching two of its patterns (``a/#`` and ``a/+``) reaches it twice. Every
publication message carries its origin (one run of the publishing broker)
and a sequence number; the first copy is delivered, the others dropped.
nats-py serves each subscription from its own queue, so copies can come
out of order: a window of the last ``window`` sequence numbers per origin
is remembered, not just the highest one.
"""

from __future__ import annotations

from collections import deque

__all__ = ["DEFAULT_WINDOW", "Deduplicator"]

DEFAULT_WINDOW = 65536  # sequence numbers remembered per origin: far more than NATS holds in flight per node
DEFAULT_ORIGINS = 1024  # origins remembered at once (brokers restart with a new origin each time)


class _Origin:
    __slots__ = ("floor", "order", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.order: deque[int] = deque()  # the remembered numbers, in arrival order
        self.floor = 0  # the highest number forgotten: anything up to it counts as seen


class Deduplicator:
    """Which (origin, seq) pairs were already delivered, within a bounded window."""

    def __init__(self, window: int = DEFAULT_WINDOW, origins: int = DEFAULT_ORIGINS) -> None:
        if window < 1 or origins < 1:
            raise ValueError("window and origins must be positive")
        self.window = window
        self.max_origins = origins
        self._origins: dict[int, _Origin] = {}

    def first(self, origin: int, seq: int) -> bool:
        """True the first time ``(origin, seq)`` is seen (and too old to tell: False)."""
        state = self._origins.get(origin)
        if state is None:
            if len(self._origins) >= self.max_origins:
                del self._origins[next(iter(self._origins))]  # the longest-known origin goes first
            state = self._origins[origin] = _Origin()
        seen = state.seen
        if seq <= state.floor or seq in seen:
            return False
        order = state.order
        if len(order) >= self.window:
            oldest = order.popleft()
            seen.discard(oldest)
            state.floor = max(state.floor, oldest)
        seen.add(seq)
        order.append(seq)
        return True
