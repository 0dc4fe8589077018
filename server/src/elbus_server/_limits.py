"""The per-client bounds and timings of a broker, in one frozen record every part reads."""

from __future__ import annotations

from dataclasses import dataclass

from elbus_spec import DEFAULT_MAX_FRAME_LENGTH, DEFAULT_QUEUE_SIZE, DEFAULT_TIMEOUT

__all__ = ["DEFAULT_BUF_SIZE", "DEFAULT_QUEUE_BYTES", "Limits"]

DEFAULT_BUF_SIZE = 16384
# Bytes waiting for one client before it is dropped as a slow consumer: 1,000 stalled clients hold ~2 GiB at most.
DEFAULT_QUEUE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds each client and how long the broker waits for it (see `elbus_server.Broker`)."""

    timeout: float = DEFAULT_TIMEOUT
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH
    buf_size: int = DEFAULT_BUF_SIZE
    buf_ttl: float = 0.0

    def __post_init__(self) -> None:
        if min(self.timeout, self.queue_size, self.queue_bytes, self.max_frame_length, self.buf_size) <= 0:
            raise ValueError("timeout, queue_size, queue_bytes, max_frame_length and buf_size must be positive")
        if self.buf_ttl < 0:
            raise ValueError("buf_ttl must be 0 or more")
