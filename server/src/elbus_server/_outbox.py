"""What one routing step hands to each receiver, counted and bounded in one place.

The router routes a whole received chunk (or one in-process operation)
into an `Outbox`, then `Outbox.flush` hands each receiver its frames with
one `Peer.deliver` call, adds the counters once per receiver, and tells a
receiver whose queue could not take a frame (`Peer.overflow`). A receiver's
room is asked once per step; a frame is taken while the receiver still has
room for one more frame and some bytes, so a queue holds at most its bound
in bytes plus one frame. Nothing here waits: a frame that does not fit is
refused at once and its sender is told (``77``) by the router.
"""

from __future__ import annotations

import sys
from typing import Any

from ._frames import pack_ack
from ._peer import Peer

__all__ = ["UNBOUNDED", "Outbox", "Pending"]

UNBOUNDED = sys.maxsize  # the byte room of a receiver that does not bound its queue in bytes

_ACK_LENGTH = 6  # what the counters count for an ack, as the original does


class Pending:
    """The frames routed to one receiver during this step, and the room it had left."""

    __slots__ = ("bytes_left", "frames_left", "items", "length", "refused", "room_bytes", "urgent")

    def __init__(self, room: tuple[int, int]) -> None:
        self.frames_left, self.bytes_left = room
        self.room_bytes = self.bytes_left
        self.items: list[Any] = []
        self.length = 0  # body bytes, as the counters count them
        self.refused = 0
        self.urgent = False

    def take(self, item: Any, size: int, length: int, realtime: int) -> bool:
        """Queue ``item`` (``size`` bytes encoded, 0 for an event; ``length`` counted); False if there is no
        room (then nothing more is taken in this step)."""
        if self.frames_left > 0 < self.bytes_left:
            self.frames_left -= 1
            self.bytes_left -= size
            self.items.append(item)
            self.length += length
            if realtime:
                self.urgent = True
            return True
        self.refused += 1
        return False


class Outbox:
    """Frames routed to each receiver during one routing step, handed over by `flush`."""

    __slots__ = ("_pending", "acks", "frames", "length", "refused")

    def __init__(self) -> None:
        self._pending: dict[Peer, Pending] = {}
        self.frames = 0  # frames handed over, and their counted body bytes, for the broker's totals
        self.length = 0
        self.acks = 0  # ack frames queued by `ack` (among ``frames``)
        self.refused = 0  # frames that found their receiver's queue full

    def pending(self, dest: Peer) -> Pending:
        """What this step routes to ``dest`` (its room is asked once, here)."""
        p = self._pending.get(dest)
        if p is None:
            p = self._pending[dest] = Pending(dest.room())
        return p

    def add(self, dest: Peer, item: Any, length: int, realtime: int) -> bool:
        """Queue ``item`` (an encoded frame, or an event for a client that takes events) for ``dest``;
        False if its queue is full."""
        return self.pending(dest).take(item, len(item) if dest.takes_bytes else 0, length, realtime)

    def extend(self, dest: Peer, items: list[Any], size: int, length: int, realtime: int) -> bool:
        """Queue a run of ``items`` (``size`` bytes encoded, ``length`` counted) for ``dest`` if all fit;
        False (nothing taken) otherwise: then the caller adds them one by one."""
        p = self.pending(dest)
        if p.frames_left < len(items) or p.bytes_left <= 0:
            return False
        p.frames_left -= len(items)
        p.bytes_left -= size
        p.items += items
        p.length += length
        if realtime:
            p.urgent = True
        return True

    def ack(self, sender: Peer, op_id: int, code: int, realtime: int) -> None:
        """Acknowledge ``op_id`` to ``sender``, behind what this step routed to it."""
        if sender.takes_bytes:
            self.acks += self.add(sender, pack_ack(op_id, code), _ACK_LENGTH, realtime)
        else:
            sender.ack(op_id, code)

    def flush(self, now: bool = False) -> None:
        """Hand every receiver its frames and count them; then tell the ones that overflowed. Call once.

        ``now``: every receiver writes what it was handed at once, as for a
        realtime frame, instead of at the end of the event-loop turn.
        """
        overflowed: list[tuple[Peer, int]] | None = None
        frames = length = 0
        for dest, p in self._pending.items():
            items = p.items
            if items:
                n = len(items)
                dest.w_frames += n
                dest.w_bytes += p.length
                frames += n
                length += p.length
                dest.deliver(items, p.room_bytes - p.bytes_left, p.urgent or now)
            if p.refused:
                dest.drops += p.refused
                self.refused += p.refused
                if overflowed is None:
                    overflowed = []
                overflowed.append((dest, p.refused))
        self.frames += frames
        self.length += length
        if overflowed is not None:
            for dest, refused in overflowed:  # may unregister `dest`: after every delivery of this step
                dest.overflow(refused)
