"""The per-client bounds and timings of a broker, in one frozen record every part reads."""

from __future__ import annotations

from dataclasses import dataclass

from elbus_spec import DEFAULT_MAX_FRAME_LENGTH, DEFAULT_QUEUE_SIZE, DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_BUF_SIZE",
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_MAX_TOPIC_DEPTH",
    "DEFAULT_MAX_TOPIC_LENGTH",
    "DEFAULT_QUEUE_BYTES",
    "Limits",
]

DEFAULT_BUF_SIZE = 16384
# Bytes waiting for one client before it is dropped as a slow consumer: 1,000 stalled clients hold ~2 GiB at most.
DEFAULT_QUEUE_BYTES = 2 * 1024 * 1024
# A topic (subscribed or published) longer or deeper than this is refused with 0x72; one subscription then adds
# at most 16 tree nodes (~5 KiB), and a publication's match takes at most 16 steps.
DEFAULT_MAX_TOPIC_LENGTH = 1024  # bytes
DEFAULT_MAX_TOPIC_DEPTH = 16  # levels
# Topic patterns one client may hold (``.broker/warn`` included): ~21 MiB at worst (every pattern 16 levels deep,
# sharing none), far less when patterns share their first levels, as they usually do.
DEFAULT_MAX_SUBSCRIPTIONS = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds each client and how long the broker waits for it (see `elbus_server.Broker`)."""

    timeout: float = DEFAULT_TIMEOUT
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH
    buf_size: int = DEFAULT_BUF_SIZE
    buf_ttl: float = 0.0
    max_topic_length: int = DEFAULT_MAX_TOPIC_LENGTH
    max_topic_depth: int = DEFAULT_MAX_TOPIC_DEPTH
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS

    def topic_fits(self, topic: str) -> bool:
        """True if ``topic`` is within the length (bytes) and depth bounds; costs no allocation for ASCII."""
        n = len(topic)
        if n > self.max_topic_length or (not topic.isascii() and len(topic.encode()) > self.max_topic_length):
            return False
        return topic.count("/") < self.max_topic_depth

    def name_fits(self, name: str) -> bool:
        """True if a client name has at most ``max_topic_depth`` ``.``-separated levels: each is a node of
        the name tree, as each topic level is one of the topic tree (its length is bounded by the handshake)."""
        return name.count(".") < self.max_topic_depth

    def __post_init__(self) -> None:
        if min(self.timeout, self.queue_size, self.queue_bytes, self.max_frame_length, self.buf_size,
               self.max_topic_length, self.max_topic_depth, self.max_subscriptions) <= 0:
            raise ValueError("timeout, queue and frame sizes and topic bounds must be positive")
        if self.buf_ttl < 0:
            raise ValueError("buf_ttl must be 0 or more")
