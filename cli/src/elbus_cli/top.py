"""What ``elbus top`` shows, computed without I/O: samples of the broker's counters and the rates between two.

The broker keeps counters, not rates: frames and bytes read from each
client (``r_*``, the client's "in") and written to it (``w_*``, its "out").
A rate is the difference between two samples over the time between them.
A sample comes from the ``.broker`` method ``client.stats`` (every client,
secondaries included, with queue depths and drops, timed by the broker's
own uptime), or from ``client.list`` on a broker without it (primaries
only, no drops, timed by the local clock when the reply arrives).

A client that appears between two samples, or whose counters went back
(it reconnected under the same name), is counted from zero: its counters
started within the interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ClientCounters", "ClientRates", "Sample", "SampleError", "rates", "sample_from_result", "snapshot"]

_COUNTERS = ("r_frames", "r_bytes", "w_frames", "w_bytes")


class SampleError(ValueError):
    """A ``client.stats`` or ``client.list`` result that is not shaped as documented."""


@dataclass(frozen=True, slots=True)
class ClientCounters:
    """One client's counters at one moment; ``drops`` is None when the broker does not report them."""

    name: str
    kind: str
    r_frames: int
    r_bytes: int
    w_frames: int
    w_bytes: int
    queue: int
    drops: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """Every client's counters at ``at`` seconds (the broker's uptime, or a local monotonic clock)."""

    at: float
    clients: Mapping[str, ClientCounters]


@dataclass(frozen=True, slots=True)
class ClientRates:
    """One row of ``elbus top``: per-second rates over the last interval, the queue depth and drops now.

    ``in`` is what the broker read from the client (frames it sent), ``out``
    what the broker wrote to it (frames routed to it and its acks).
    """

    name: str
    kind: str
    in_frames_s: float
    in_bytes_s: float
    out_frames_s: float
    out_bytes_s: float
    queue: int
    drops: int | None

    @property
    def frames_s(self) -> float:
        """Frames per second both ways: what the rows are sorted by."""
        return self.in_frames_s + self.out_frames_s


def _count(entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SampleError(f"client {entry.get('name')!r}: {key} is {value!r}, not a count")
    return value


def _client(entry: Any) -> ClientCounters:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise SampleError(f"a client entry without a name: {entry!r}")
    drops = entry.get("drops")
    return ClientCounters(
        entry["name"],
        str(entry.get("kind", "")),
        _count(entry, "r_frames"),
        _count(entry, "r_bytes"),
        _count(entry, "w_frames"),
        _count(entry, "w_bytes"),
        _count(entry, "queue"),
        None if drops is None else _count(entry, "drops"),
    )


def sample_from_result(result: Any, at: float, *, skip: Iterable[str] = ()) -> Sample:
    """A `Sample` from a ``client.stats`` or ``client.list`` result, leaving out the clients named in ``skip``.

    ``at`` is used unless the result carries the broker's ``uptime`` (as a
    float, as ``client.stats`` does). Raises `SampleError` for a result
    that is not a map with a ``clients`` list of client maps.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("clients"), list):
        raise SampleError("the result has no client list")
    uptime = result.get("uptime")
    if isinstance(uptime, float):
        at = uptime
    left_out = set(skip)
    clients = (_client(entry) for entry in result["clients"])
    return Sample(at, {c.name: c for c in clients if c.name not in left_out})


def _rate(now: int, before: int, seconds: float) -> float:
    return (now - before) / seconds if seconds > 0 else 0.0


def rates(previous: Sample, current: Sample) -> list[ClientRates]:
    """The clients of ``current`` with their rates since ``previous``, busiest first (then by name)."""
    seconds = current.at - previous.at
    rows = []
    for name, now in current.clients.items():
        before = previous.clients.get(name)
        if before is None or any(getattr(now, key) < getattr(before, key) for key in _COUNTERS):
            before = ClientCounters(name, now.kind, 0, 0, 0, 0, 0)
        rows.append(
            ClientRates(
                name,
                now.kind,
                _rate(now.r_frames, before.r_frames, seconds),
                _rate(now.r_bytes, before.r_bytes, seconds),
                _rate(now.w_frames, before.w_frames, seconds),
                _rate(now.w_bytes, before.w_bytes, seconds),
                now.queue,
                now.drops,
            )
        )
    rows.sort(key=lambda row: (-row.frames_s, -(row.in_bytes_s + row.out_bytes_s), row.name))
    return rows


def snapshot(previous: Sample, current: Sample) -> dict[str, Any]:
    """What ``elbus top --once --json`` prints: the interval and every client's row, busiest first."""
    return {
        "interval": round(current.at - previous.at, 6),
        "clients": [asdict(row) for row in rates(previous, current)],
    }
