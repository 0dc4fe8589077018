"""Publications in a row to one topic, handed to its subscribers together.

A publisher streaming to a topic sends chunks full of PUBLISH frames that
all go to the same subscribers. Routed one by one, every frame costs a step
per subscriber. A run matches the topic once, encodes each frame once, and
hands the frames to every subscriber when it ends: one `Outbox.extend` per
subscriber per run instead of one step per frame. The router ends the run
before it routes anything else, so each client still receives its frames in
the order they were routed. A subscriber that takes events (an in-process
client) gets one `Publication` per frame, made only for it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from elbus_spec import Kind, Publication

from ._frames import delivery
from ._outbox import Outbox
from ._peer import Peer

__all__ = ["PublicationRun"]

_PUBLISH = Kind.PUBLISH.value


class PublicationRun:
    """The deliveries of consecutive publications to ``topic`` by one sender, not yet in the outbox."""

    __slots__ = ("address_size", "frames", "length", "payloads", "prefix", "realtime", "receivers", "sender",
                 "size", "topic")

    def __init__(self) -> None:
        self.topic: str | None = None  # None: no run; the next publication matches its topic
        self.receivers: Collection[Peer] = ()
        self.sender = ""
        self.prefix = b""  # the delivery body before the payload: SENDER NUL TOPIC NUL
        self.address_size = 0  # TOPIC NUL in bytes, as the body length counts it
        self.realtime = 0
        self.frames: list[bytes] = []
        self.payloads: list[bytes] = []
        self.size = 0  # encoded bytes of the frames
        self.length = 0  # body bytes of the frames, as the counters count them

    def start(self, topic: str, realtime: int, receivers: Collection[Peer], sender: Peer) -> None:
        """Begin a run of publications to ``topic`` (all realtime or none) by ``sender``."""
        address = topic.encode() + b"\0"
        self.topic = topic
        self.realtime = realtime
        self.receivers = receivers
        self.sender = sender.name
        self.prefix = sender.wire_name + address
        self.address_size = len(address)

    def add(self, payload: bytes) -> int:
        """Add one publication; returns its body length as the counters count it."""
        length = self.address_size + len(payload)
        if self.receivers:
            data = delivery(_PUBLISH, self.realtime, self.prefix, payload)
            self.frames.append(data)
            self.payloads.append(payload)
            self.size += len(data)
            self.length += length
        return length

    def spill(self, outbox: Outbox) -> None:
        """End the run: hand its frames to each receiver through ``outbox``."""
        topic, self.topic = self.topic, None
        frames = self.frames
        if not frames:
            return
        size, length, realtime = self.size, self.length, self.realtime
        for dest in self.receivers:
            items: list[Any] = frames
            if not dest.takes_bytes:
                items = [Publication(self.sender, topic, p, bool(realtime)) for p in self.payloads]
            if not outbox.extend(dest, items, size if dest.takes_bytes else 0, length, realtime):
                for item, payload in zip(items, self.payloads, strict=True):  # it has room for fewer: one by one
                    outbox.add(dest, item, self.address_size + len(payload), realtime)
        self.frames = []
        self.payloads = []
        self.size = 0
        self.length = 0
