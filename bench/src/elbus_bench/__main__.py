"""``python -m elbus_bench``: run the benchmark, print the table, write the JSON file."""

from __future__ import annotations

import argparse
import json
import sys
import time

import uvloop

from . import report, runner
from .measure import STAGES
from .serve import raise_fd_limit

__all__ = ["main"]


def _stages(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m elbus_bench", description=__doc__)
    p.add_argument("--stages", type=_stages, default=STAGES, help=f"comma-separated subset of: {', '.join(STAGES)}")
    p.add_argument("--forms", default=",".join(runner.FORMS), help="comma-separated: client (async), sync (blocking), wire")
    p.add_argument(
        "--brokers",
        default=",".join(runner.BROKERS),
        help="comma-separated: ours (as installed), pure (ours on its pure-Python modules), ceiling",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per stage; the table shows medians (default 3)")
    p.add_argument("--payload-size", type=int, default=100, help="payload bytes (default 100)")
    p.add_argument("--workers", type=int, default=2, help="concurrent sender/receiver pairs (default 2)")
    p.add_argument("--tcp", action="store_true", help="TCP on 127.0.0.1 instead of a UNIX socket")
    p.add_argument("--quick", action="store_true", help="a smoke run: small counts, one run, 1,000 idle clients (< 30 s)")
    p.add_argument("--window", type=int, default=runner.Config.window, help="frames in flight per sender (default %(default)s)")
    p.add_argument("--client-busy-poll", type=int, default=0, metavar="US",
                   help="busy_poll of our async clients in µs (default 0: off, as elbus_aio's default)")
    p.add_argument("--ours-loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop of our broker's process")
    p.add_argument("--no-extras", action="store_true", help="skip memory, subscriptions and codec measurements")
    p.add_argument("--profile", metavar="PATH", help="profile our broker with py-spy under send+recv.qos.no (raw stacks to PATH)")
    p.add_argument("--json", default="bench-results.json", metavar="PATH", help="results file (default %(default)s)")
    return p


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = max(1, total), 0, time.monotonic()

    def __call__(self, label: str) -> None:
        self.done += 1
        filled = min(20, 20 * self.done // self.total)
        elapsed = time.monotonic() - self.start
        sys.stderr.write(f"\r\x1b[K[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} {elapsed:5.0f}s {label}")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write(f"\r\x1b[Kdone in {time.monotonic() - self.start:.0f} s\n")


def config_from(args: argparse.Namespace) -> runner.Config:
    brokers = tuple(b.strip() for b in args.brokers.split(",") if b.strip())
    forms = tuple(f.strip() for f in args.forms.split(",") if f.strip())
    if not forms or any(f not in runner.FORMS for f in forms):
        raise SystemExit(f"--forms takes a comma-separated subset of: {', '.join(runner.FORMS)}")
    if not brokers or any(b not in runner.BROKERS for b in brokers):
        raise SystemExit(f"--brokers takes a comma-separated subset of: {', '.join(runner.BROKERS)}")
    if args.runs < 1 or args.workers < 1 or args.payload_size < 0 or args.window < 1 or args.client_busy_poll < 0:
        raise SystemExit("--runs, --workers and --window must be positive, --payload-size and --client-busy-poll not negative")
    return runner.Config(
        stages=args.stages,
        forms=forms,
        brokers=brokers,
        runs=1 if args.quick and args.runs == 3 else args.runs,
        payload_size=args.payload_size,
        workers=args.workers,
        tcp=args.tcp,
        quick=args.quick,
        window=args.window,
        ours_loop=args.ours_loop,
        memory_clients=() if args.no_extras else ((1_000,) if args.quick else (1_000, 10_000)),
        subscriptions=0 if args.no_extras else (10_000 if args.quick else 100_000),
        codec=not args.no_extras,
        profile_path=args.profile,
        client_busy_poll=args.client_busy_poll / 1e6,
    )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    config = config_from(args)
    raise_fd_limit()  # the memory stage holds 10,000 connections open
    stage_steps = sum(runner.applicable(b, f, s) for b in config.brokers for f in config.forms for s in config.stages)
    steps = config.runs * stage_steps + (len(config.memory_clients) + 1) * len(set(config.brokers) - {"pure"}) + 2
    progress = _Progress(steps)
    results = uvloop.run(runner.run(config, progress))
    progress.finish()
    print(report.table(results))
    with open(args.json, "w") as out:
        json.dump(report.to_json(results), out, indent=2)


if __name__ == "__main__":
    main()
