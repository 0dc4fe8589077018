"""The results as a text table (stdout) and as JSON (a file): medians, and ratios to the ceiling and to pure Python."""

from __future__ import annotations

import statistics
from typing import Any

from .measure import FANOUT_SUBSCRIBERS, STAGES
from .runner import BROKERS, Results, applicable
from .targets import evaluate

__all__ = ["table", "to_json"]


def _value(m: dict[str, Any] | None) -> str:
    if m is None:
        return "n/a"
    text = f"{m['rate']:,.0f}"
    if "p50_us" in m:
        text += f" p50 {m['p50_us']:.0f}/p99 {m['p99_us']:.0f} µs"
    return text


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a is None or b is None or not b["rate"]:
        return ""
    return f"{a['rate'] / b['rate']:.2f}x"


def _kib(value: float) -> str:
    return f"{value / 1024:,.2f} KiB"


def table(results: Results) -> str:
    """The whole report as text: stage rows, then memory, publish cost, fan-out cost, codec, profile."""
    c = results.config
    pure = any(broker == "pure" for broker, _form, _stage in results.measurements)
    compiled = results.machine()["compiled"]
    build = f"ours: {len(compiled)} modules compiled with mypyc" if compiled else "ours: pure Python (nothing compiled)"
    lines = [
        f"elbus benchmark: payload {c.payload_size} B, {c.workers} workers, {c.transport.upper()} socket, "
        f"median of {c.runs} run(s), {results.machine()['cpus']} CPUs, Python {results.machine()['python']}"
        + (f", async clients busy-poll {c.client_busy_poll * 1e6:g} µs" if c.client_busy_poll else "")
        + (", QUICK" if c.quick else ""),
        "form 'client' = through elbus_aio/elbus_rpc (what users get); 'sync' = through elbus_client/SyncRpc;"
        " 'wire' = pre-encoded frames (the broker is the bottleneck)",
        f"publish.fanout: 1 publisher -> {FANOUT_SUBSCRIBERS} subscribers (deliveries/s); "
        "rpc.latency: 1 caller, sequential calls",
        build + ("; 'pure' = ours on its pure-Python modules (ELBUS_PURE=1), against the same clients" if pure else ""),
        "",
    ]
    brokers = [b for b in BROKERS if b in c.brokers and (b != "pure" or pure)]
    head = f"{'stage':<25} {'form':<7} {'unit':<13}" + "".join(f" {b:>32}" for b in brokers) + f" {'ours/ceiling':>12}"
    head += f" {'ours/pure':>9}" if pure else ""
    lines += [head, "-" * len(head)]
    for stage in (s for s in STAGES if s in c.stages):
        for form in c.forms:
            if not applicable("ours", form, stage):
                continue
            medians = {b: results.median(b, form, stage) for b in brokers}
            unit = next((m["unit"] for m in medians.values() if m), "")
            row = f"{stage:<25} {form:<7} {unit:<13}"
            row += "".join(f" {results.failures.get((b, form, stage), '')[:32] or _value(medians[b]):>32}" for b in brokers)
            row += f" {_ratio(medians.get('ours'), medians.get('ceiling')):>12}"
            row += f" {_ratio(medians.get('ours'), medians.get('pure')):>9}" if pure else ""
            lines.append(row)
    if results.memory:
        lines += ["", "broker memory per idle connected client (RSS delta / clients)"]
        for (broker, clients), per in sorted(results.memory.items()):
            lines.append(f"  {broker:<8} {clients:>7,} clients  {_kib(per):>12}")
    if results.publish_cost:
        lines += ["", "publish cost with unrelated subscriptions present (µs per publication to 1 subscriber; flat = 1.00x)"]
        for broker in ("ours", "ceiling"):
            costs = {subs: statistics.median(v) for (b, subs), v in results.publish_cost.items() if b == broker}
            if len(costs) == 2:
                (none, base), (many, loaded) = sorted(costs.items())
                lines.append(
                    f"  {broker:<8} {none:>7,} subs {base:8.2f} µs   {many:>7,} subs {loaded:8.2f} µs   {loaded / base:.2f}x"
                )
    fan, sends = results.median("ours", "wire", "publish.fanout"), results.median("ours", "wire", "send+recv.qos.no")
    if fan and sends:
        one_publication = FANOUT_SUBSCRIBERS / fan["rate"] * 1e6
        ten_sends = FANOUT_SUBSCRIBERS / sends["rate"] * 1e6
        lines += [
            "",
            f"fan-out (ours, wire): 1 publication to {FANOUT_SUBSCRIBERS} subscribers {one_publication:.1f} µs "
            f"vs {FANOUT_SUBSCRIBERS} separate sends {ten_sends:.1f} µs",
        ]
    if results.codec:
        lines += ["", f"{'codec (frames/s)':<32} {'generated':>12} {'construct':>12} {'ratio':>8}"]
        for codec_row in results.codec:
            construct = f"{codec_row.construct_rate:,.0f}" if codec_row.construct_rate else "n/a"
            ratio = f"{codec_row.ratio:.1f}x" if codec_row.ratio else ""
            lines.append(f"{codec_row.operation:<32} {codec_row.codec_rate:>12,.0f} {construct:>12} {ratio:>8}")
    if results.profile:
        lines += [
            "",
            "our broker under send+recv.qos.no (wire), py-spy: top functions by self time",
            f"  {'self':>6} {'total':>6}  function",
        ]
        lines += [f"  {own:5.1f}% {total:5.1f}%  {name}" for name, own, total in results.profile]
    targets = evaluate(results)
    if targets:
        lines += ["", "targets (ours)"]
        lines += [f"  {'met ' if t.met else 'MISS'}  {t.name:<62} {t.measured:>10}" for t in targets]
    failures = dict(results.failures)
    if failures or results.notes:
        lines += ["", "notes:"]
        lines += [f"  {note}" for note in results.notes]
        lines += [f"  FAILED {' '.join(k)}: {v}" for k, v in failures.items()]
    return "\n".join(lines)


def to_json(results: Results) -> dict[str, Any]:
    """Everything in the table, as data: per (broker, form, stage) the median, every run, and the settings."""
    c = results.config
    stages = []
    for (broker, form, stage), runs in sorted(results.measurements.items()):
        median = results.median(broker, form, stage)
        ceiling, pure = results.median("ceiling", form, stage), results.median("pure", form, stage)
        stages.append(
            {
                "broker": broker,
                "form": form,
                "stage": stage,
                "payload_size": c.payload_size,
                "workers": c.workers_of(stage),
                "transport": c.transport,
                "median": median,
                "ratio_to_ceiling": median["rate"] / ceiling["rate"] if median and ceiling and broker != "ceiling" else None,
                "ratio_to_pure": median["rate"] / pure["rate"] if median and pure and broker == "ours" else None,
                "runs": [
                    {"count": m.count, "seconds": m.seconds, "rate": m.rate, "p50_us": m.p50_us, "p99_us": m.p99_us} for m in runs
                ],
            }
        )
    return {
        "settings": {
            "payload_size": c.payload_size,
            "workers": c.workers,
            "transport": c.transport,
            "runs": c.runs,
            "quick": c.quick,
            "window": c.window,
            "ours_loop": c.ours_loop,
            "client_busy_poll": c.client_busy_poll,
        },
        "machine": results.machine(),
        "stages": stages,
        "failures": [{"key": list(k), "error": v} for k, v in results.failures.items()],
        "memory_per_idle_client_bytes": [{"broker": b, "clients": n, "bytes": v} for (b, n), v in sorted(results.memory.items())],
        "publish_cost_us": [
            {"broker": b, "unrelated_subscriptions": s, "median": statistics.median(v), "runs": v}
            for (b, s), v in sorted(results.publish_cost.items())
        ],
        "codec": [{"operation": r.operation, "codec": r.codec_rate, "construct": r.construct_rate} for r in results.codec],
        "profile": [{"function": n, "self_pct": s, "total_pct": t} for n, s, t in results.profile],
        "targets": [{"target": t.name, "measured": t.measured, "met": t.met} for t in evaluate(results)],
        "notes": results.notes,
    }
