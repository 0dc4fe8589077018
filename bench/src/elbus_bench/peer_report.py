"""The peer comparison as a text table (stdout) and as JSON (a file).

Every figure is the median of the rounds with its range (min-max); the CPU
column is milliseconds of CPU time, broker plus every client process, per
1,000 deliveries (calls, for the RPC workload), split as broker + clients,
so that the latency busy polling buys shows its price. "vs NATS" is the
median rate over NATS's median rate.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from .measure import FANOUT_SUBSCRIBERS, spread
from .peer_harness import SETUPS, PeerResults, Run, Workload
from .targets import Target

__all__ = ["evaluate", "table", "to_json"]

NATS_LABEL = "NATS TCP"
OURS_LABEL = SETUPS[0].label  # our broker as deployed: UNIX socket, default busy polling
POLL_OFF_LABEL = SETUPS[1].label  # the same with busy polling off
# The project's targets against NATS: (workload, our setup, floor of ours/NATS on the median rate).
RATE_FLOORS = (
    ("one-to-one", OURS_LABEL, 1.3),
    ("fan-out", OURS_LABEL, 1.3),
    ("rpc", OURS_LABEL, 2.0),
    ("rpc", POLL_OFF_LABEL, 1.5),
)
P50_FLOOR = 2.0  # NATS's median round trip over ours


def _fmt(values: Sequence[float], digits: int = 0) -> str:
    med, lo, hi = spread(values)
    return f"{med:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def _title(w: Workload) -> str:
    payload = f"{w.count:,} x {w.payload_size} B"
    if w.name == "one-to-one":
        return f"one-to-one QoS 0: {w.pairs} sender -> receiver pair(s), {payload} each"
    if w.name == "fan-out":
        return f"fan-out QoS 0: 1 publisher -> {FANOUT_SUBSCRIBERS} subscribers, {payload} publications"
    return f"sequential request/reply: {w.pairs} caller -> responder pair(s), {payload} calls each"


def _median_rate(runs: list[Run] | None) -> float | None:
    return statistics.median(r.rate for r in runs) if runs else None


def table(results: PeerResults) -> str:
    """Per workload, one row per setup: rate, (latencies), CPU per 1,000, ratio to NATS; then the failures."""
    lines = [
        f"peer comparison: every participant in its own process; median (min-max) of {results.rounds} round(s); "
        "CPU = broker + clients, ms per 1,000 deliveries"
    ]
    for w in results.workloads:
        rpc = w.name == "rpc"
        head = f"  {'setup':<28} {w.unit:>28}"
        if rpc:
            head += f" {'p50 µs':>20} {'p99 µs':>20}"
        head += f" {'CPU ms/1k':>24} {'broker+clients':>16} {'vs NATS':>8}"
        lines += ["", _title(w), head]
        nats = _median_rate(results.runs.get((w.name, NATS_LABEL)))
        for setup in results.setups:
            key = (w.name, setup.label)
            runs = results.runs.get(key)
            if not runs:
                lines.append(f"  {setup.label:<28} {'FAILED' if key in results.failures else 'n/a':>28}")
                continue
            row = f"  {setup.label:<28} {_fmt([r.rate for r in runs]):>28}"
            if rpc:
                row += f" {_latency(runs, 0):>20} {_latency(runs, 1):>20}"
            broker = statistics.median(r.broker_cpu / r.delivered * 1e6 for r in runs)
            clients = statistics.median(r.clients_cpu / r.delivered * 1e6 for r in runs)
            rate = _median_rate(runs)
            ratio = f"{rate / nats:.2f}x" if rate and nats and setup.label != NATS_LABEL else ""
            row += f" {_fmt([r.cpu_ms_per_1000 for r in runs], 2):>24} {f'{broker:.2f}+{clients:.2f}':>16} {ratio:>8}"
            lines.append(row)
    targets = evaluate(results)
    if targets:
        lines += ["", f"targets ({OURS_LABEL} against {NATS_LABEL})"]
        lines += [f"  {'met ' if t.met else 'MISS'}  {t.name:<48} {t.measured:>10}" for t in targets]
    if results.failures:
        lines += ["", "FAILED (left out of the figures):"]
        for (workload, label), problems in results.failures.items():
            lines += [f"  {workload} on {label}: {p}" for p in problems[:10]]
    return "\n".join(lines)


def evaluate(results: PeerResults) -> list[Target]:
    """The targets against NATS that this run has both sides of."""
    out = []
    for workload, label, floor in RATE_FLOORS:
        ours = _median_rate(results.runs.get((workload, label)))
        nats = _median_rate(results.runs.get((workload, NATS_LABEL)))
        if ours and nats:
            name = workload if label == OURS_LABEL else f"{workload} (busy-poll off)"
            out.append(Target(f"{name}: ours/NATS rate >= {floor:g}x", f"{ours / nats:.2f}x", ours / nats >= floor))
    ours_runs, nats_runs = results.runs.get(("rpc", OURS_LABEL)), results.runs.get(("rpc", NATS_LABEL))
    if ours_runs and nats_runs:
        ours_p50 = statistics.median(r.latencies_us[0] for r in ours_runs if r.latencies_us)
        nats_p50 = statistics.median(r.latencies_us[0] for r in nats_runs if r.latencies_us)
        ratio = nats_p50 / ours_p50
        out.append(Target(f"rpc: NATS/ours p50 >= {P50_FLOOR:g}x", f"{ratio:.2f}x", ratio >= P50_FLOOR))
    return out


def _latency(runs: list[Run], index: int) -> str:
    return _fmt([r.latencies_us[index] for r in runs if r.latencies_us]) if all(r.latencies_us for r in runs) else "n/a"


def _summary(runs: list[Run], value: Callable[[Run], float]) -> dict[str, float]:
    med, lo, hi = spread([value(r) for r in runs])
    return {"median": med, "min": lo, "max": hi}


def to_json(results: PeerResults) -> dict[str, Any]:
    """Every run and its summary, per workload and setup, with the settings and the failures."""
    rows = []
    for w in results.workloads:
        for setup in results.setups:
            runs = results.runs.get((w.name, setup.label), [])
            row: dict[str, Any] = {
                "workload": w.name,
                "count": w.count,
                "pairs": w.pairs,
                "payload_size": w.payload_size,
                "setup": setup.label,
                "system": setup.system,
                "transport": setup.transport,
                "busy_poll": setup.busy_poll,
                "unit": w.unit,
                "runs": [
                    {
                        "delivered": r.delivered,
                        "seconds": r.seconds,
                        "rate": r.rate,
                        "broker_cpu_s": r.broker_cpu,
                        "clients_cpu_s": r.clients_cpu,
                        "cpu_ms_per_1000": r.cpu_ms_per_1000,
                        "p50_us": r.latencies_us[0] if r.latencies_us else None,
                        "p99_us": r.latencies_us[1] if r.latencies_us else None,
                    }
                    for r in runs
                ],
                "failures": results.failures.get((w.name, setup.label), []),
            }
            if runs:
                row["rate"] = _summary(runs, lambda r: r.rate)
                row["cpu_ms_per_1000"] = _summary(runs, lambda r: r.cpu_ms_per_1000)
            rows.append(row)
    targets = [{"target": t.name, "measured": t.measured, "met": t.met} for t in evaluate(results)]
    return {"rounds": results.rounds, "results": rows, "targets": targets}
