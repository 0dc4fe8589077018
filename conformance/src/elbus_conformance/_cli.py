"""``elbus-conformance``: run the traces against a broker, play them as a broker, list, import and render them.

Everything the command prints is plain text: its help has no reStructuredText
markup, a missing client library is one line, and a reader that stops early
(``elbus-conformance list | head``) ends it quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from elbus_spec import parse_address

from ._authored import write_authored
from ._catalog import UnknownTrace, load_traces, source_traces_dir, traces_dir
from ._client_mode import AsyncClientDriver, Driver, SyncClientDriver, run_client_traces
from ._client_plan import plan_client_trace
from ._coverage import coverage_table
from ._format import TraceSyntaxError
from ._importer import import_directory
from ._net import Timing
from ._player import TracePlayer
from ._render import render_site
from ._report import count_steps, format_report
from ._runner import run_traces

__all__ = ["build_parser", "main"]

_DRIVERS: dict[str, Callable[[], Driver]] = {"aio": AsyncClientDriver, "sync": SyncClientDriver}
_DESCRIPTION = (
    "The elbus conformance suite: run the frame traces against a broker, play their broker side "
    "to a client library or to any client, list, render, import and author them."
)


class _Refused(Exception):
    """What the command cannot do as asked: printed as one line, exit status 2."""


def _timing(args: argparse.Namespace) -> Timing:
    return Timing(step=args.step_timeout, silence=args.silence, broker_timeout=args.timeout)


def _address(text: str) -> str:
    """An argparse type: a broker address as the clients read it (``:PORT`` is 127.0.0.1)."""
    try:
        parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", action="append", default=[], metavar="NAME", help="run only this trace (repeatable)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out traces that wait for the broker's timeout")
    parser.add_argument("--timeout", type=float, default=5.0, help="the broker's timeout in seconds (default 5, as elbusd)")
    parser.add_argument("--step-timeout", type=float, default=2.0, help="how long an expected frame may take (default 2)")
    parser.add_argument("--silence", type=float, default=0.15, help="the window of a 'nothing arrives' step (default 0.15)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``elbus-conformance``."""
    parser = argparse.ArgumentParser(prog="elbus-conformance", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    broker = commands.add_parser("broker", help="play the client side of the traces against a running broker")
    broker.add_argument(
        "--target", type=_address, required=True, help="the broker: a UNIX socket path or HOST:PORT (:PORT is 127.0.0.1)"
    )
    _selection(broker)
    client = commands.add_parser("client", help="play the broker side of the traces to a client library and check its bytes")
    client.add_argument("--library", choices=sorted(_DRIVERS), required=True, help="aio: elbus_aio, sync: elbus_client")
    _selection(client)
    play = commands.add_parser("play", help="act as a broker that plays the broker side of the traces (for clients)")
    play.add_argument(
        "--listen", type=_address, required=True, help="a UNIX socket path or HOST:PORT to listen on (:PORT is 127.0.0.1)"
    )
    _selection(play)
    commands.add_parser("list", help="list the traces with their group, steps, provenance and how client mode plays them")
    commands.add_parser("coverage", help="traces, steps and step runs per area of the protocol, as a Markdown table")
    render = commands.add_parser("render", help="render the traces to Markdown, one page per group")
    render.add_argument("--out", required=True, type=Path)
    author = commands.add_parser("author", help="rewrite traces/authored from the trace builders")
    author.add_argument(
        "--out", type=Path, help="directory for the trace files (default: traces/authored of a source checkout)"
    )
    imported = commands.add_parser("import", help="re-import the captures of traces/original into traces/recorded")
    imported.add_argument("--source", type=Path, help="directory of JSON captures (default: traces/original)")
    imported.add_argument(
        "--out", type=Path, help="directory for the trace files (default: traces/recorded of a source checkout)"
    )
    return parser


async def _play(args: argparse.Namespace, traces: list) -> int:  # type: ignore[type-arg]
    player = TracePlayer(_timing(args))
    endpoint = parse_address(args.listen)
    if isinstance(endpoint, str):
        await player.start(unix_path=endpoint)
    else:
        await player.start(host=endpoint[0], port=endpoint[1])
    print(f"playing {len(traces)} traces on {player.address}", flush=True)
    try:
        results = await player.play(traces)
    finally:
        await player.close()
    print(format_report(results, f"client side checked by the trace player on {player.address}"))
    return 0 if all(r.passed for r in results) else 1


def _output_dir(given: Path | None, subdir: str) -> Path:
    """Where ``author`` and ``import`` write: ``--out``, else the source checkout's traces."""
    if given is not None:
        return given
    root = source_traces_dir()
    if root is None:
        raise _Refused(f"--out is required: the traces of an installed package ({traces_dir()}) are never rewritten")
    return root / subdir


def _driver(library: str) -> Driver:
    try:
        return _DRIVERS[library]()
    except ImportError as exc:
        missing = exc.name or "a library"
        raise _Refused(f"client mode with --library {library} needs {missing}, which cannot be imported: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    if args.command == "import":
        written = import_directory(args.source or traces_dir() / "original", _output_dir(args.out, "recorded"))
        print("\n".join(str(path) for path in written))
        return 0
    if args.command == "author":
        print("\n".join(str(path) for path in write_authored(_output_dir(args.out, "authored"))))
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
    if args.command == "play":
        return asyncio.run(_play(args, traces))
    if args.command == "client":
        results = asyncio.run(run_client_traces(_driver(args.library), traces, _timing(args)))
        print(format_report(results, f"client library {args.library} against the trace player"))
        return 0 if results and all(r.passed for r in results) else 1
    results = asyncio.run(run_traces(args.target, traces, _timing(args)))
    print(format_report(results, f"broker at {args.target}"))
    return 0 if all(r.passed for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 when a trace fails, 2 for bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # now, not at exit, so that a reader gone away is handled below
    except (_Refused, UnknownTrace, TraceSyntaxError, FileNotFoundError) as exc:
        print(f"elbus-conformance: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout stopped early (``list | head``): end quietly, and keep the
        # interpreter from reporting the same closed pipe when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status
