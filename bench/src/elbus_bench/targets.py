"""The performance targets of the project, checked against a run's medians.

Each target names what it compares, the measured value and whether it is met;
a target whose measurements are missing from the run (a stage not selected, a
broker not installed) is left out rather than guessed. The targets against
NATS are the peer comparison's (`elbus_bench.peer_report`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .measure import FANOUT_SUBSCRIBERS
from .runner import Results

__all__ = ["Target", "evaluate"]

IDLE_CLIENT_LIMIT = 20 * 1024  # bytes of broker memory per idle client


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    met: bool


def _rate(results: Results, broker: str, form: str, stage: str) -> float | None:
    m = results.median(broker, form, stage)
    return m["rate"] if m else None


def evaluate(results: Results) -> list[Target]:
    """Every target this run has the measurements for."""
    out: list[Target] = []

    def ratio(label: str, a: float | None, b: float | None, floor: float) -> None:
        if a is not None and b:
            out.append(Target(f"{label} >= {floor:g}x", f"{a / b:.2f}x", a / b >= floor))

    for stage, floor in (
        ("send.qos.no", 0.7),
        ("send+recv.qos.no", 0.7),
        ("send.qos.processed", 0.8),
        ("send+recv.qos.processed", 0.8),
    ):
        ratio(
            f"wire {stage}: ours/ceiling", _rate(results, "ours", "wire", stage), _rate(results, "ceiling", "wire", stage), floor
        )
    for stage in ("rpc.call+handle", "rpc.call0"):
        ratio(f"wire {stage}: ours/ceiling", _rate(results, "ours", "wire", stage), _rate(results, "ceiling", "wire", stage), 0.8)
    for stage in ("send+recv.qos.no", "send+recv.qos.processed"):  # compiling is worth it where the broker is the bottleneck
        ratio(f"wire {stage}: compiled/pure", _rate(results, "ours", "wire", stage), _rate(results, "pure", "wire", stage), 1.2)
    latency = results.median("ours", "client", "rpc.latency")
    if latency:
        out.append(Target("client rpc.latency p50 <= 100 µs", f"{latency['p50_us']:.0f} µs", latency["p50_us"] <= 100))
    blocking, async_ = _rate(results, "ours", "sync", "rpc.latency"), _rate(results, "ours", "client", "rpc.latency")
    ratio("blocking client round trips: blocking/async", blocking, async_, 0.5)
    costs = {s: statistics.median(v) for (b, s), v in results.publish_cost.items() if b == "ours"}
    if len(costs) == 2:
        (_none, base), (many, loaded) = sorted(costs.items())
        out.append(
            Target(
                f"publish cost flat (±20%) with {many:,} unrelated subscriptions",
                f"{loaded / base:.2f}x",
                0.8 <= loaded / base <= 1.2,
            )
        )
    fan, sends = _rate(results, "ours", "wire", "publish.fanout"), _rate(results, "ours", "wire", "send+recv.qos.no")
    if fan and sends:
        publication, ten_sends = FANOUT_SUBSCRIBERS / fan, FANOUT_SUBSCRIBERS / sends
        out.append(
            Target(
                f"1 publication to {FANOUT_SUBSCRIBERS} < {FANOUT_SUBSCRIBERS} sends",
                f"{publication / ten_sends:.2f}x",
                publication < ten_sends,
            )
        )
    for (broker, clients), per in sorted(results.memory.items()):
        if broker == "ours":
            out.append(Target(f"idle client ({clients:,} clients) <= 20 KiB", f"{per / 1024:.2f} KiB", per <= IDLE_CLIENT_LIMIT))
    return out
