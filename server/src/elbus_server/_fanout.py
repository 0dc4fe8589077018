"""Publications in a row to one topic, handed to its subscribers together.

A publisher streaming to a topic sends chunks full of PUBLISH frames that
all go to the same subscribers. Routed one by one, every frame costs a step
per subscriber (its list in the batch, its counters). A run matches the
topic once, collects the encoded frames, and hands them to every subscriber
when it ends: one list extension and one counter update per subscriber per
run instead of per frame. The broker ends the run before it routes anything
else, so each client still receives its frames in the order they were
routed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["PublicationRun"]


class PublicationRun:
    """The deliveries of consecutive publications to ``topic``, not yet in the batch."""

    __slots__ = ("address_size", "frames", "length", "prefix", "realtime", "receivers", "topic")

    def __init__(self) -> None:
        self.topic: str | None = None  # None: no run; the next publication matches its topic
        self.receivers: Collection[Any] = ()
        self.prefix = b""  # the delivery body before the payload: SENDER NUL TOPIC NUL
        self.address_size = 0  # TOPIC NUL in bytes, as the body length counts it
        self.frames: list[bytes] = []
        self.length = 0  # body bytes of the frames, as the counters count them
        self.realtime = 0

    def start(self, topic: str, receivers: Collection[Any], sender: bytes) -> None:
        """Begin a run of publications to ``topic`` by the client whose name with its NUL is ``sender``."""
        address = topic.encode() + b"\0"
        self.topic = topic
        self.receivers = receivers
        self.prefix = sender + address
        self.address_size = len(address)

    def add(self, data: bytes, length: int, realtime: int) -> None:
        self.frames.append(data)
        self.length += length
        self.realtime |= realtime

    def spill(self, batch: dict[Any, list[bytes]], urgent: set[Any], counters: Any) -> None:
        """End the run: append its frames to each receiver's list in ``batch`` and count them
        (on each receiver and on ``counters``, the broker)."""
        self.topic = None
        frames = self.frames
        if not frames:
            return
        n, length = len(frames), self.length
        for dest in self.receivers:
            dest.w_frames += n
            dest.w_bytes += length
            mine = batch.get(dest)
            if mine is None:
                batch[dest] = frames.copy()
            else:
                mine += frames
            if self.realtime:
                urgent.add(dest)
        k = len(self.receivers)
        counters.w_frames += n * k
        counters.w_bytes += length * k
        self.frames = []
        self.length = 0
        self.realtime = 0
