"""Records cut into chunks put back together (sans-IO), bounded, and dropped whole when a chunk is missing.

A record larger than one NATS message travels as consecutive chunk messages
on the receiving node's stream subject, which keeps their order. So a
receiver needs one record in progress per sending node: a chunk that is not
the next one expected means a chunk was lost (NATS is at-most-once), and the
partial record is dropped whole; its sender is answered ``0x77`` when no
acknowledgement comes.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_RECORD", "Reassembly"]

DEFAULT_MAX_RECORD = 32 << 20  # bytes of one chunked record: a 16 MiB elbus frame and then some
_MAX_ORIGINS = 256  # sending nodes with a record in progress at once


class _Partial:
    __slots__ = ("count", "next", "parts", "size")

    def __init__(self, count: int) -> None:
        self.count = count
        self.next = 0
        self.parts: list[bytes] = []
        self.size = 0


class Reassembly:
    """The records in progress, one per origin; ``dropped`` counts the partial records given up."""

    def __init__(self, max_record: int = DEFAULT_MAX_RECORD) -> None:
        if max_record < 1:
            raise ValueError("max_record must be positive")
        self.max_record = max_record
        self.dropped = 0
        self._partial: dict[int, _Partial] = {}

    def add(self, origin: int, index: int, count: int, part: bytes) -> bytes | None:
        """Take one chunk; the whole record once its last chunk came, else None."""
        partial = self._partial.get(origin)
        if index == 0:
            if partial is not None:  # the previous record of this origin lost its tail
                self.dropped += 1
            if len(self._partial) >= _MAX_ORIGINS and origin not in self._partial:
                del self._partial[next(iter(self._partial))]
                self.dropped += 1
            partial = self._partial[origin] = _Partial(count)
        elif partial is None or index != partial.next or count != partial.count:
            if partial is not None:
                del self._partial[origin]
                self.dropped += 1
            return None
        partial.parts.append(part)
        partial.size += len(part)
        partial.next += 1
        if partial.size > self.max_record:
            del self._partial[origin]
            self.dropped += 1
            return None
        if partial.next < partial.count:
            return None
        del self._partial[origin]
        return b"".join(partial.parts)
