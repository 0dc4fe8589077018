"""The settings every benchmark starts our broker with, in one place.

The windowed stages of ``make bench`` keep at most half the default queue in
flight, so they run the broker as deployed (`WINDOWED`: its defaults). The
peer comparison floods: a QoS 0 sender writes as fast as it can while its
receivers, each in its own process, catch up, so a receiver may fall behind
by a whole run (200,000 frames). Under the slow-consumer rule a client whose
queue overflows is dropped, so those runs give the broker a queue that holds a
whole run (`FLOOD`). Both are passed the same way to an in-process `Broker`
(`BrokerSettings.kwargs`) and to ``elbusd`` (`BrokerSettings.flags`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["FLOOD", "FLOOD_QUEUE_BYTES", "FLOOD_QUEUE_SIZE", "WINDOWED", "BrokerSettings"]

# Frames one client may have queued: the largest flood a peer-comparison receiver can fall behind by.
FLOOD_QUEUE_SIZE = 262_144
# Bytes one client may have queued in a flood (``Broker(queue_bytes=)`` / ``elbusd --queue-bytes``): a whole
# one-to-one run, 200,000 deliveries of a 100-byte payload with their headers, is about 24 MiB.
FLOOD_QUEUE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Our broker's options for a benchmark; None leaves the broker's default."""

    busy_poll_us: int | None = None
    queue_size: int | None = None
    queue_bytes: int | None = None

    def with_busy_poll(self, busy_poll_us: int | None) -> BrokerSettings:
        return replace(self, busy_poll_us=busy_poll_us)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``elbus_server.Broker``."""
        out: dict[str, Any] = {}
        if self.busy_poll_us is not None:
            out["busy_poll"] = self.busy_poll_us / 1e6
        if self.queue_size is not None:
            out["queue_size"] = self.queue_size
        if self.queue_bytes is not None:
            out["queue_bytes"] = self.queue_bytes
        return out

    def flags(self) -> list[str]:
        """The same settings as ``elbusd`` options."""
        out = []
        if self.busy_poll_us is not None:
            out += ["--busy-poll", str(self.busy_poll_us)]
        if self.queue_size is not None:
            out += ["--queue-size", str(self.queue_size)]
        if self.queue_bytes is not None:
            out += ["--queue-bytes", str(self.queue_bytes)]
        return out


WINDOWED = BrokerSettings()
FLOOD = BrokerSettings(queue_size=FLOOD_QUEUE_SIZE, queue_bytes=FLOOD_QUEUE_BYTES)
