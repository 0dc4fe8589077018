"""``elbus-conformance``: run the traces against a broker, play them as a broker, list, import and render them."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from ._authored import write_authored
from ._catalog import UnknownTrace, load_traces, traces_dir
from ._client_mode import AsyncClientDriver, SyncClientDriver, run_client_traces
from ._client_plan import plan_client_trace
from ._coverage import coverage_table
from ._format import TraceSyntaxError
from ._importer import import_directory
from ._net import Timing, is_unix_address
from ._player import TracePlayer
from ._render import render_site
from ._report import count_steps, format_report
from ._runner import run_traces

__all__ = ["main"]

_DRIVERS = {"aio": AsyncClientDriver, "sync": SyncClientDriver}


def _timing(args: argparse.Namespace) -> Timing:
    return Timing(step=args.step_timeout, silence=args.silence, broker_timeout=args.timeout)


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", action="append", default=[], metavar="NAME", help="run only this trace (repeatable)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out traces that wait for the broker's timeout")
    parser.add_argument("--timeout", type=float, default=5.0, help="the broker's timeout in seconds (default 5, as elbusd)")
    parser.add_argument("--step-timeout", type=float, default=2.0, help="how long an expected frame may take (default 2)")
    parser.add_argument("--silence", type=float, default=0.15, help="the window of a 'nothing arrives' step (default 0.15)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elbus-conformance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    broker = commands.add_parser("broker", help="play the client side of the traces against a running broker")
    broker.add_argument("--target", required=True, help="the broker: a UNIX socket path or HOST:PORT")
    _selection(broker)
    client = commands.add_parser("client", help="play the broker side of the traces to a client library and check its bytes")
    client.add_argument("--library", choices=sorted(_DRIVERS), required=True, help="aio: elbus_aio, sync: elbus_client")
    _selection(client)
    play = commands.add_parser("play", help="act as a broker that plays the broker side of the traces (for clients)")
    play.add_argument("--listen", required=True, help="a UNIX socket path or HOST:PORT to listen on")
    _selection(play)
    commands.add_parser("list", help="list the traces with their group, steps, provenance and how client mode plays them")
    commands.add_parser("coverage", help="traces, steps and step runs per area of the protocol, as a Markdown table")
    render = commands.add_parser("render", help="render the traces to Markdown, one page per group")
    render.add_argument("--out", required=True, type=Path)
    author = commands.add_parser("author", help="rewrite traces/authored from the trace builders")
    author.add_argument("--out", type=Path, help="directory for the trace files (default: traces/authored)")
    imported = commands.add_parser("import", help="re-import the captures of traces/original into traces/recorded")
    imported.add_argument("--source", type=Path, help="directory of JSON captures (default: traces/original)")
    imported.add_argument("--out", type=Path, help="directory for the trace files (default: traces/recorded)")
    return parser


async def _play(args: argparse.Namespace, traces: list) -> int:  # type: ignore[type-arg]
    player = TracePlayer(_timing(args))
    if is_unix_address(args.listen):
        await player.start(unix_path=args.listen)
    else:
        host, _, port = args.listen.rpartition(":")
        await player.start(host=host, port=int(port))
    print(f"playing {len(traces)} traces on {player.address}", flush=True)
    try:
        results = await player.play(traces)
    finally:
        await player.close()
    print(format_report(results, f"client side checked by the trace player on {player.address}"))
    return 0 if all(r.passed for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 when a trace fails, 2 for bad arguments)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "import":
            root = traces_dir()
            written = import_directory(args.source or root / "original", args.out or root / "recorded")
            print("\n".join(str(path) for path in written))
            return 0
        if args.command == "author":
            print("\n".join(str(path) for path in write_authored(args.out or traces_dir() / "authored")))
            return 0
        if args.command == "render":
            pages = render_site(load_traces(), args.out)
            print("\n".join(str(path) for path in pages))
            return 0
        if args.command == "list":
            for trace in load_traces():
                status = plan_client_trace(trace).status
                print(f"{trace.name:32} {trace.group:16} {count_steps(trace):4} steps  {trace.provenance.split(';')[0]}")
                print(f"{'':32} client mode: {status}")
            return 0
        if args.command == "coverage":
            print(coverage_table(load_traces()), end="")
            return 0
        traces = [t for t in load_traces(args.trace) if not (args.skip_slow and t.slow)]
    except (UnknownTrace, TraceSyntaxError, FileNotFoundError) as exc:
        print(f"elbus-conformance: {exc}", file=sys.stderr)
        return 2
    if args.command == "play":
        return asyncio.run(_play(args, traces))
    if args.command == "client":
        results = asyncio.run(run_client_traces(_DRIVERS[args.library](), traces, _timing(args)))
        print(format_report(results, f"client library {args.library} against the trace player"))
        return 0 if results and all(r.passed for r in results) else 1
    results = asyncio.run(run_traces(args.target, traces, _timing(args)))
    print(format_report(results, f"broker at {args.target}"))
    return 0 if all(r.passed for r in results) else 1
