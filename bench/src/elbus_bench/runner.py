"""The benchmark run: which broker, form and stage run how often, in what order, and the medians.

`Config` is what the command line chose; `run(config, progress)` starts each
broker in its own subprocess, runs every selected stage in both forms (our
client, the wire-level generator) for ``config.runs`` rounds, interleaving the
brokers so they see the same machine conditions, then the memory, subscription
and codec measurements (the comparison with NATS is `elbus_bench.peers`). A stage that fails is recorded with its error and
the run goes on. The brokers are ours as installed (compiled where it was
built with a C compiler), ``pure`` (ours on its pure-Python modules: measured
only when something is compiled to compare with) and the ceiling.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import codec_speed, wire
from .brokers import BrokerProcess, BrokerStartError, ours_available, sync_available
from .compilation import compiled_modules
from .measure import FANOUT_SUBSCRIBERS, RPC_BROKER_STAGES, STAGES, SYNC_STAGES, Measurement
from .profile import Profiler

__all__ = ["BROKERS", "FORMS", "Config", "Results", "applicable", "run"]

FORMS = ("client", "sync", "wire")  # our async client, our blocking client (rpc.latency only), wire-level
BROKERS = ("ours", "pure", "ceiling")  # ours as installed, ours on its pure-Python modules, the ceiling
OURS = frozenset({"ours", "pure"})
# Operations per stage in a full run; --quick divides them by QUICK_DIVISOR.
WIRE_COUNTS = {"rpc": 100_000, "publish.fanout": 50_000, "rpc.latency": 5_000, "send": 200_000}
CLIENT_COUNTS = {"rpc": 20_000, "publish.fanout": 20_000, "rpc.latency": 3_000, "send": 100_000}
QUICK_DIVISOR = 10


@dataclass
class Config:
    stages: tuple[str, ...] = STAGES
    forms: tuple[str, ...] = FORMS
    brokers: tuple[str, ...] = BROKERS
    runs: int = 3
    payload_size: int = 100
    workers: int = 2
    tcp: bool = False
    quick: bool = False
    window: int = wire.DEFAULT_WINDOW
    ours_loop: str = "uvloop"
    memory_clients: tuple[int, ...] = (1_000, 10_000)
    subscriptions: int = 100_000  # 0: no publish-cost measurement
    codec: bool = True
    profile_path: str | None = None
    client_busy_poll: float = 0.0  # seconds; our async clients' busy_poll (0: their default, off)

    @property
    def transport(self) -> str:
        return "tcp" if self.tcp else "unix"

    def count(self, form: str, stage: str) -> int:
        table = WIRE_COUNTS if form == "wire" else CLIENT_COUNTS  # the blocking client runs the client counts
        key = stage if stage in table else stage.split(".")[0].split("+")[0]
        n = table[key]
        return max(100, n // QUICK_DIVISOR) if self.quick else n

    def workers_of(self, stage: str) -> int:
        """Concurrent senders of a stage: fan-out has one publisher, latency one sequential caller."""
        return 1 if stage in ("publish.fanout", "rpc.latency") else self.workers


@dataclass
class Results:
    config: Config
    measurements: dict[tuple[str, str, str], list[Measurement]] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    memory: dict[tuple[str, int], float] = field(default_factory=dict)  # (broker, clients) -> bytes per client
    publish_cost: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # (broker, subscriptions) -> µs
    codec: list[codec_speed.CodecRow] = field(default_factory=list)
    profile: list[tuple[str, float, float]] = field(default_factory=list)  # (function, self %, total %)
    notes: list[str] = field(default_factory=list)

    def median(self, broker: str, form: str, stage: str) -> dict[str, Any] | None:
        """The median rate (and latencies) of the runs of one stage, or None if it never completed."""
        runs = self.measurements.get((broker, form, stage))
        if not runs:
            return None
        out: dict[str, Any] = {"rate": statistics.median(m.rate for m in runs), "unit": runs[0].unit, "runs": len(runs)}
        if runs[0].p50_us is not None:
            out["p50_us"] = statistics.median(m.p50_us or 0.0 for m in runs)
            out["p99_us"] = statistics.median(m.p99_us or 0.0 for m in runs)
        return out

    def machine(self) -> dict[str, Any]:
        return {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "compiled": compiled_modules(),
        }


Progress = Callable[[str], None]


def applicable(broker: str, form: str, stage: str) -> bool:
    """False for the `.broker` RPC stage on the ceiling (it has no `.broker`) and for non-RPC-latency blocking stages."""
    if broker == "ceiling" and stage in RPC_BROKER_STAGES:
        return False
    return form != "sync" or stage in SYNC_STAGES


async def run(config: Config, progress: Progress) -> Results:
    """Run everything the config selects; progress(label) is called before each step."""
    results = Results(config)
    brokers = [b for b in config.brokers if b not in OURS or ours_available()]
    if OURS & set(config.brokers) and not OURS & set(brokers):
        results.notes.append("our broker, async client or RPC layer is not installed: only the ceiling was measured")
    if "pure" in brokers and not compiled_modules():
        brokers.remove("pure")
        results.notes.append("nothing is compiled (no C compiler, or ELBUS_PURE set): ours is pure Python, 'pure' was skipped")
    forms = [f for f in config.forms if f == "wire" or (ours_available() and (f == "client" or sync_available()))]
    for skipped in set(config.forms) - set(forms):
        results.notes.append(f"the {skipped!r} form was skipped: our client for it is not installed")
    for round_no in range(config.runs):
        for broker in brokers:
            process = BrokerProcess(broker, tcp=config.tcp, loop=_loop(config, broker))
            try:
                await process.start()
            except BrokerStartError as exc:
                results.notes.append(f"run {round_no + 1}: {_error(exc)}")
                continue
            try:
                for stage in config.stages:
                    for form in forms:
                        if applicable(broker, form, stage):
                            progress(f"run {round_no + 1}/{config.runs} {broker} {form} {stage}")
                            await _measure(results, (broker, form, stage), process.address, config)
            finally:
                await process.stop()
    for broker in brokers:
        if broker != "pure":  # what compiling changes is time, not memory
            await _memory_and_subscriptions(results, config, broker, progress)
    if config.profile_path and "ours" in brokers:
        progress("profile ours wire send+recv.qos.no")
        results.profile = await _profile(config)
    if config.codec:
        progress("codec vs construct")
        results.codec = codec_speed.measure(config.payload_size, 2_000 if config.quick else 20_000)
    return results


def _error(exc: BaseException) -> str:
    """The exception on one line (a broker's traceback included), cut to a table-friendly length."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]


def _loop(config: Config, broker: str) -> str:
    return config.ours_loop if broker in OURS else "uvloop"


async def _measure(results: Results, key: tuple[str, str, str], address: str, config: Config) -> None:
    _broker, form, stage = key
    options = {"count": config.count(form, stage), "payload_size": config.payload_size, "workers": config.workers_of(stage)}
    try:
        if form == "wire":
            m = await wire.run_stage(stage, address, window=config.window, **options)
        elif form == "sync":
            from . import sync

            m = await sync.run_stage(stage, address, **options)
        else:
            from . import aio

            m = await aio.run_stage(stage, address, window=config.window, busy_poll=config.client_busy_poll, **options)
    except Exception as exc:  # a failed stage is reported in the table, and the other stages still run
        results.failures[key] = _error(exc)
        return
    results.measurements.setdefault(key, []).append(m)


async def _memory_and_subscriptions(results: Results, config: Config, broker: str, progress: Progress) -> None:
    for clients in config.memory_clients:
        progress(f"{broker} memory per idle client ({clients:,} clients)")
        try:
            async with BrokerProcess(broker, tcp=config.tcp, loop=_loop(config, broker)) as process:
                results.memory[(broker, clients)] = await wire.idle_memory(process.rss, process.address, clients)
        except Exception as exc:  # reported; the other measurements still run
            results.failures[(broker, "memory", f"{clients} clients")] = _error(exc)
    count = config.count("wire", "publish.fanout") * FANOUT_SUBSCRIBERS // 5
    if not config.subscriptions:
        return
    progress(f"{broker} publish cost with 0 and {config.subscriptions:,} unrelated subscriptions")
    try:
        async with BrokerProcess(broker, tcp=config.tcp, loop=_loop(config, broker)) as process:
            for _ in range(config.runs):  # alternating, in one process, so both settings see the same conditions
                for subscriptions in (0, config.subscriptions):
                    cost = await wire.publish_cost(
                        process.address,
                        subscriptions=subscriptions,
                        count=count,
                        payload_size=config.payload_size,
                        window=config.window,
                    )
                    results.publish_cost.setdefault((broker, subscriptions), []).append(cost)
    except Exception as exc:  # reported; the other measurements still run
        results.failures[(broker, "publish-cost", f"{config.subscriptions:,} subscriptions")] = _error(exc)


async def _profile(config: Config) -> list[tuple[str, float, float]]:
    async with BrokerProcess("ours", tcp=config.tcp, loop=config.ours_loop) as process:
        assert config.profile_path is not None
        async with Profiler(process.pid, config.profile_path) as profiler:
            await wire.run_stage(
                "send+recv.qos.no",
                process.address,
                count=config.count("wire", "send") * (1 if config.quick else 5),
                payload_size=config.payload_size,
                workers=config.workers,
                window=config.window,
            )
        return profiler.summary()
