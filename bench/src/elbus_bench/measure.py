"""What every stage returns, and the waiting helpers the load generators share."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from elbus_cli.benchmark import STAGES as ORIGINAL_STAGES

__all__ = [
    "FANOUT_SUBSCRIBERS",
    "LATENCY_STAGES",
    "RPC_BROKER_STAGES",
    "STAGES",
    "SYNC_STAGES",
    "Measurement",
    "StageError",
    "Tick",
    "percentile",
    "spread",
]

# The original benchmark's stage names (as the `elbus benchmark` command has them), then ours.
STAGES = (*ORIGINAL_STAGES, "publish.fanout", "rpc.latency")
RPC_BROKER_STAGES = frozenset({"rpc.call"})  # served by the broker's own `.broker` client: n/a on the ceiling
LATENCY_STAGES = frozenset({"rpc.latency"})
SYNC_STAGES = LATENCY_STAGES  # our blocking client's form: round trips only
FANOUT_SUBSCRIBERS = 10


class StageError(RuntimeError):
    """A stage lost frames, got an error code back, lost a connection or stalled (the message has the counts)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of one stage: ``count`` operations, all verified delivered, in ``seconds``.

    ``rate`` is operations per second in ``unit``; latency stages also carry p50/p99 in µs.
    """

    stage: str
    count: int
    seconds: float
    unit: str
    p50_us: float | None = None
    p99_us: float | None = None

    @classmethod
    def latency(cls, count: int, seconds: float, latencies: list[float]) -> Measurement:
        """An `rpc.latency` run from its call times in seconds (p50/p99 in µs)."""
        latencies = sorted(latencies)
        return cls("rpc.latency", count, seconds, "calls/s", percentile(latencies, 0.5) * 1e6, percentile(latencies, 0.99) * 1e6)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted, non-empty list."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Tick:
    """An event every receiving connection of a stage sets on each read, so waiters re-check their condition."""

    def __init__(self, stall_timeout: float = 10.0) -> None:
        self.event = asyncio.Event()
        self.stall_timeout = stall_timeout

    def set(self) -> None:
        self.event.set()

    async def until(self, condition: Callable[[], bool], describe: Callable[[], str]) -> None:
        """Wait until ``condition()`` holds; raises StageError if nothing arrives for ``stall_timeout`` seconds."""
        while not condition():
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), self.stall_timeout)
            except TimeoutError:
                raise StageError(f"stalled for {self.stall_timeout} s: {describe()}") from None
