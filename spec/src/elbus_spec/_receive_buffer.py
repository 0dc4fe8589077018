"""Received bytes that wait for the rest of their unit, joined once it is complete."""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """The unparsed tail of a byte stream, kept so that reassembly costs O(bytes).

    A parser takes each received chunk as one contiguous ``bytes`` from `feed`,
    parses the whole units in it, and hands the incomplete rest back to `keep`
    with the number of bytes that rest needs before parsing it can make
    progress (a partial frame's header gives its full length; a partial header
    needs a header's worth). Until that many bytes have arrived, `feed` only
    appends the chunk to a list and answers None: nothing is copied twice or
    scanned again, so an 8 MiB frame in 2,048 pieces is joined once, not
    re-copied 2,048 times. A chunk that arrives with nothing pending is
    returned as it is: a chunk of whole frames is never copied.
    """

    __slots__ = ("_chunks", "_need", "_size")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._need = 0

    def __len__(self) -> int:
        """Bytes received and not parsed yet."""
        return self._size

    def feed(self, data: bytes | bytearray | memoryview) -> bytes | None:
        """Add ``data``; the bytes to parse now, or None while the pending unit is still incomplete.

        Returned bytes are no longer held here: give back what is left of them with `keep`.
        """
        if not self._chunks:
            return data if type(data) is bytes else bytes(data)
        self.append(data)
        if self._size < self._need:
            return None
        return self.take()

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Hold ``data`` without parsing it (copied unless it is ``bytes``, which cannot change under us)."""
        if data:
            chunk = data if type(data) is bytes else bytes(data)
            self._chunks.append(chunk)
            self._size += len(chunk)

    def take(self) -> bytes:
        """Everything held, as one ``bytes``; empties the buffer."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.clear()
        return data

    def keep(self, data: bytes, pos: int, need: int) -> None:
        """Hold ``data[pos:]``, the start of a unit that cannot be parsed before it is ``need`` bytes long."""
        if pos < len(data):
            self._chunks.append(data[pos:] if pos else data)
            self._size += len(data) - pos
        self._need = need

    def clear(self) -> None:
        """Drop everything held."""
        self._chunks.clear()
        self._size = 0
        self._need = 0
