"""Targets are judged from the run's medians, and left out when their measurements are missing."""

from __future__ import annotations

from elbus_bench.measure import Measurement
from elbus_bench.runner import Config, Results
from elbus_bench.targets import evaluate


def _results() -> Results:
    r = Results(Config())
    add = r.measurements.setdefault
    add(("ours", "wire", "send.qos.no"), []).extend([Measurement("send.qos.no", 700, 1.0, "frames/s")] * 3)
    slow = Measurement("send.qos.no", 1000, 2.0, "frames/s")
    add(("ceiling", "wire", "send.qos.no"), []).extend([Measurement("send.qos.no", 1000, 1.0, "frames/s")] * 2 + [slow])
    add(("ours", "wire", "send.qos.processed"), []).append(Measurement("send.qos.processed", 790, 1.0, "frames/s"))
    add(("ceiling", "wire", "send.qos.processed"), []).append(Measurement("send.qos.processed", 1000, 1.0, "frames/s"))
    add(("ours", "client", "rpc.latency"), []).append(Measurement("rpc.latency", 100, 1.0, "calls/s", 90.0, 300.0))
    r.memory[("ours", 1000)] = 25 * 1024
    r.publish_cost[("ours", 0)] = [10.0, 11.0, 9.0]
    r.publish_cost[("ours", 100_000)] = [11.9, 12.0, 30.0]
    return r


def test_targets_use_medians_and_skip_what_was_not_measured() -> None:
    got = {t.name: (t.measured, t.met) for t in evaluate(_results())}
    assert got == {
        "wire send.qos.no: ours/ceiling >= 0.7x": ("0.70x", True),  # the ceiling's median is 1000/s, not its mean
        "wire send.qos.processed: ours/ceiling >= 0.8x": ("0.79x", False),
        "client rpc.latency p50 <= 100 µs": ("90 µs", True),
        "publish cost flat (±20%) with 100,000 unrelated subscriptions": ("1.20x", True),
        "idle client (1,000 clients) <= 20 KiB": ("25.00 KiB", False),
    }


def test_compiled_against_pure_where_the_broker_is_the_bottleneck() -> None:
    r = Results(Config())
    for broker, count in (("ours", 1300), ("pure", 1000)):
        r.measurements[(broker, "wire", "send+recv.qos.no")] = [Measurement("send+recv.qos.no", count, 1.0, "frames/s")]
    r.measurements[("ours", "wire", "send+recv.qos.processed")] = [Measurement("send+recv.qos.processed", 1100, 1.0, "frames/s")]
    r.measurements[("pure", "wire", "send+recv.qos.processed")] = [Measurement("send+recv.qos.processed", 1000, 1.0, "frames/s")]
    got = {t.name: (t.measured, t.met) for t in evaluate(r)}
    assert got == {
        "wire send+recv.qos.no: compiled/pure >= 1.2x": ("1.30x", True),
        "wire send+recv.qos.processed: compiled/pure >= 1.2x": ("1.10x", False),
    }
