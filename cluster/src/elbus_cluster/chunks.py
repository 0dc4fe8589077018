"""Records cut into chunks put back together (sans-IO), bounded, and dropped whole when a chunk is missing.

A record larger than one NATS message travels as consecutive chunk messages
on one subject (the receiving node's stream, or a publication's topic),
which keeps their order on each subscription that receives them. So a
receiver needs one record in progress per sending node and subscription
(the caller's ``key``): a chunk that is not the next one expected means a
chunk was lost (NATS is at-most-once), and the partial record is dropped
whole; a MESSAGE's sender is answered ``0x77`` when no acknowledgement comes.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["DEFAULT_MAX_RECORD", "Reassembly"]

DEFAULT_MAX_RECORD = 32 << 20  # bytes of one chunked record: a 16 MiB elbus frame and then some
_MAX_IN_PROGRESS = 256  # records in progress at once, each of one sending node and subscription


class _Partial:
    __slots__ = ("count", "next", "parts", "size")

    def __init__(self, count: int) -> None:
        self.count = count
        self.next = 0
        self.parts: list[bytes] = []
        self.size = 0


class Reassembly:
    """The records in progress, one per key; ``dropped`` counts the partial records given up."""

    def __init__(self, max_record: int = DEFAULT_MAX_RECORD) -> None:
        if max_record < 1:
            raise ValueError("max_record must be positive")
        self.max_record = max_record
        self.dropped = 0
        self._partial: dict[Hashable, _Partial] = {}

    def add(self, key: Hashable, index: int, count: int, part: bytes) -> bytes | None:
        """Take one chunk of the record in progress for ``key``; the whole record once its last chunk came, else None."""
        partial = self._partial.get(key)
        if index == 0:
            if partial is not None:  # the previous record of this key lost its tail
                self.dropped += 1
            if len(self._partial) >= _MAX_IN_PROGRESS and key not in self._partial:
                del self._partial[next(iter(self._partial))]
                self.dropped += 1
            partial = self._partial[key] = _Partial(count)
        elif partial is None or index != partial.next or count != partial.count:
            if partial is not None:
                del self._partial[key]
                self.dropped += 1
            return None
        partial.parts.append(part)
        partial.size += len(part)
        partial.next += 1
        if partial.size > self.max_record:
            del self._partial[key]
            self.dropped += 1
            return None
        if partial.next < partial.count:
            return None
        del self._partial[key]
        return b"".join(partial.parts)
