"""The routing rules as the docs state them (Concepts, "Three ways to send"), written as plainly as possible.

The reference the brokers' tests compare against (the routing trees, the
reliability state machine's model, the fake broker of the client tests):
one name or topic at a time, part by part, with no cleverness to share a
bug with the trees under test.
"""

from __future__ import annotations

__all__ = ["mask_matches", "normalize_pattern", "topic_matches"]


def mask_matches(mask: str, name: str) -> bool:
    """Broadcast mask on a client name: parts split on ``.``, ``?`` one part, ``*`` one or more remaining parts."""
    m, n = mask.split("."), name.split(".")
    for i, part in enumerate(m):
        if part == "*":
            return len(n) > i
        if i >= len(n) or (part != "?" and part != n[i]):
            return False
    return len(m) == len(n)


def topic_matches(pattern: str, topic: str) -> bool:
    """Topic pattern on a topic: levels split on ``/``, ``+`` one level, ``#`` one or more remaining ones (``a/#`` not ``a``)."""
    p, t = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return len(t) > i
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(p) == len(t)


def normalize_pattern(pattern: str) -> str:
    """A topic pattern as it is effective: ``#`` ends it, later levels are ignored."""
    levels = pattern.split("/")
    return "/".join(levels[: levels.index("#") + 1]) if "#" in levels else pattern
