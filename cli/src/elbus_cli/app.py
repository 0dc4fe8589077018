"""The ``elbus`` command line: arguments, defaults, and turning failures into exit codes.

The broker address is an optional first positional argument, before the
command. argparse cannot tell ``elbus broker info`` (no address) from
``elbus ADDRESS broker info`` by itself, so `split_address` takes the
address out of the arguments first, and a word that is neither an address
nor a command is reported as an unknown command.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from elbus_spec import ElbusError, parse_address

from .benchmark import STAGES
from .commands import MAX_INPUT, Settings, read_input, run
from .defaults import DEFAULT_ADDRESS, ENV_ADDRESS, default_name
from .errors import CliError, ExitCode

__all__ = ["COMMANDS", "build_parser", "main", "split_address", "unknown_command"]

COMMANDS = ("listen", "send", "broadcast", "publish", "rpc", "broker", "benchmark", "top")
# Global options that take a value: their value is not a positional word.
_VALUED_OPTIONS = ("-n", "--name", "--timeout")

_EPILOG = f"""\
broker address:
  ADDRESS is a UNIX socket path (ending in .sock, .socket or .ipc, or starting
  with /) or HOST:PORT for TCP. Without it, ${ENV_ADDRESS} is used when set,
  else {DEFAULT_ADDRESS} (where `make run` starts the broker).

exit codes:
  0    success
  1    the broker refused an operation (failed ack) or an RPC call failed
  2    bad command line or bad input
  3    the broker could not be reached, refused the client name, or went away
  130  interrupted (Ctrl-C)

Every command has --help, e.g. `elbus rpc call --help`.
"""


def _positional_indexes(args: Sequence[str]) -> Iterator[int]:
    """Where the positional words are among the global options (up to ``--``)."""
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            return
        if word in _VALUED_OPTIONS:
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            yield index
            index += 1


def _is_address(word: str) -> bool:
    try:
        parse_address(word)
    except ValueError:
        return False
    return True


def split_address(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The broker address given before the command (or None) and the other arguments.

    The first positional word is the address when it is not a command name
    and either reads as an address or is followed by a command name: so
    ``elbus frobnicate`` is an unknown command, while ``elbus nohost broker info``
    still reports a bad address.
    """
    args = list(argv)
    first, second = [*itertools.islice(_positional_indexes(args), 2), None, None][:2]
    if first is None or args[first] in COMMANDS:
        return None, args
    if _is_address(args[first]) or (second is not None and args[second] in COMMANDS):
        return args[first], args[:first] + args[first + 1 :]
    return None, args


def unknown_command(args: Sequence[str]) -> str | None:
    """The word that stands where the command should be, when it is not one (after `split_address`)."""
    first = next(_positional_indexes(args), None)
    return None if first is None or args[first] in COMMANDS else args[first]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _count(minimum: int, maximum: int | None = None, limit: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from ``minimum`` (to ``maximum``, named ``limit`` in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {text!r}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, {limit}: {text!r}")
        return value

    return parse


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """The global options, accepted before the command and after it.

    The top-level parser holds the real defaults; sub-commands suppress
    theirs so that a value given before the command is not overwritten.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    group.add_argument("-n", "--name", default=default(None), help="client name (default: elbus-cli.<host>.<pid>)")
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        default=default(5.0),
        help="seconds to wait for the broker: connecting, acks, RPC replies (default: 5)",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="print machine-readable JSON")
    return parent


def _qos_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--qos",
        type=int,
        choices=range(4),
        default=1,
        metavar="{0,1,2,3}",
        help="0 no ack, 1 wait for the broker's ack (default), 2 realtime, 3 realtime with ack",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``elbus`` (the address is taken out first, see `split_address`)."""
    common = _common_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="elbus",
        usage="elbus [-h] [ADDRESS] [-n NAME] [--timeout S] [--json] COMMAND ...",
        description="Command-line client of the elbus message broker.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(defaults=True)],
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, prog="elbus [ADDRESS]")

    def command(
        sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, action: str | None = None
    ) -> argparse.ArgumentParser:
        sub_parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if action is not None:
            sub_parser.set_defaults(action=action)
        return sub_parser

    listen = command(commands, "listen", "print every frame received: messages, broadcasts, publications", "listen")
    listen.add_argument(
        "-t",
        "--topic",
        dest="topics",
        action="append",
        default=[],
        metavar="TOPIC",
        help="subscribe to TOPIC (repeatable; + and # wildcards)",
    )

    payload_help = "the payload (default: read from stdin)"
    send = command(commands, "send", "send a one-to-one message and wait for the broker's ack", "send")
    send.add_argument("target", help="the receiving client's name")
    send.add_argument("payload", nargs="?", help=payload_help)
    _qos_option(send)

    broadcast = command(commands, "broadcast", "send a message to every client whose name matches MASK", "broadcast")
    broadcast.add_argument("mask", help="client name mask (? matches one part, * the rest)")
    broadcast.add_argument("payload", nargs="?", help=payload_help)
    _qos_option(broadcast)

    publish = command(commands, "publish", "publish to a topic", "publish")
    publish.add_argument("topic")
    publish.add_argument("payload", nargs="?", help=payload_help)
    _qos_option(publish)

    rpc = command(commands, "rpc", "the RPC layer: listen, notify, call0, call")
    rpc_commands = rpc.add_subparsers(title="rpc commands", metavar="RPC_COMMAND", required=True, prog="elbus [ADDRESS] rpc")
    rpc_listen = command(
        rpc_commands, "listen", "print RPC notifications and calls (answered with an empty result) and other frames", "rpc.listen"
    )
    rpc_listen.add_argument(
        "-t", "--topic", dest="topics", action="append", default=[], metavar="TOPIC", help="also subscribe to TOPIC (repeatable)"
    )
    notify = command(rpc_commands, "notify", "send an RPC notification", "rpc.notify")
    notify.add_argument("target")
    notify.add_argument("payload", nargs="?", help=payload_help)
    params_help = (
        "(optional, any number) parameters as key=value, sent as a MessagePack map; values become true/false, "
        "integers, floats, else strings. A single - reads a JSON or MessagePack params document from stdin. "
        "Without any, the params are empty."
    )
    for name, help_text in (
        ("call0", "call a method without waiting for a reply"),
        ("call", "call a method and print its result"),
    ):
        call = command(rpc_commands, name, help_text, f"rpc.{name}")
        call.add_argument("target", help="the called client's name")
        call.add_argument("method", help="the method's name")
        call.add_argument("params", nargs="*", metavar="k=v", help=params_help)

    broker = command(commands, "broker", "ask the broker itself: info, stats, test, client.list, cluster.*")
    broker_commands = broker.add_subparsers(
        title="broker commands", metavar="BROKER_COMMAND", required=True, prog="elbus [ADDRESS] broker"
    )
    command(broker_commands, "info", "the broker's author and version", "broker.info")
    command(broker_commands, "stats", "uptime and frames/bytes read and written", "broker.stats")
    command(broker_commands, "test", "check that the broker answers RPC", "broker.test")
    command(broker_commands, "client.list", "the registered clients, as a table", "broker.client.list")
    command(broker_commands, "cluster.info", "a clustered broker's node, NATS connection and counters", "broker.cluster.info")
    command(broker_commands, "cluster.nodes", "every node of the bus, with its clients and topics, as a table",
            "broker.cluster.nodes")

    benchmark = command(
        commands, "benchmark", "measure the broker with this client: iterations per second per stage", "benchmark"
    )
    benchmark.add_argument("-w", "--workers", type=_count(1), default=1, help="concurrent clients (default: 1)")
    benchmark.add_argument(
        "--payload-size",
        type=_count(0, MAX_INPUT, f"the frame size limit ({MAX_INPUT / 2**20:g} MiB)"),
        default=100,
        metavar="N",
        help=f"payload bytes, at most {MAX_INPUT} (default: 100)",
    )
    benchmark.add_argument(
        "-i", "--iters", type=_count(1), default=10_000, help="iterations per stage, shared by the workers (default: 10000)"
    )
    benchmark.add_argument(
        "--stage",
        dest="stages",
        action="append",
        choices=STAGES,
        metavar="STAGE",
        help=f"run only this stage (repeatable; default: all): {', '.join(STAGES)}",
    )
    top = command(
        commands,
        "top",
        "a live view of the broker's clients, busiest first: frames/s and bytes/s in and out, queues, drops (q quits)",
        "top",
    )
    top.add_argument(
        "--interval", type=_positive_float, default=1.0, metavar="S", help="seconds between two samples (default: 1)"
    )
    top.add_argument(
        "--once", action="store_true", help="take two samples --interval apart, print the rows once (as JSON with --json), exit"
    )
    return parser


def _report(message: str) -> None:
    print(f"elbus: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``elbus`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code (see `ExitCode`).

    As any argparse program, a bad command line raises ``SystemExit(2)``
    after printing the usage, and ``--help`` raises ``SystemExit(0)``.
    """
    address, rest = split_address(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    word = unknown_command(rest)
    if word is not None:
        parser.error(f"unknown command {word!r} (commands: {', '.join(COMMANDS)})")
    args = parser.parse_args(rest)
    settings = Settings(
        address=address or os.environ.get(ENV_ADDRESS) or DEFAULT_ADDRESS,
        name=args.name or default_name(),
        timeout=args.timeout,
        json=args.json,
    )
    # The libraries report what they drop (e.g. a message that is not RPC) through logging. The
    # command reports the failures of its own connections itself, in one line each (cannot connect,
    # connection lost): the async client's warnings about closing a connection would say them twice.
    logging.basicConfig(level=logging.WARNING, format="elbus: %(message)s")
    logging.getLogger("elbus_aio").setLevel(logging.ERROR)
    try:
        data = read_input(args)
        return asyncio.run(run(args.action, args, settings, data))
    except CliError as exc:
        _report(str(exc))
        return exc.exit_code
    except ElbusError as exc:
        # Anything a command did not anticipate still gets one line, not a traceback.
        _report(f"{type(exc).__name__}: {exc}")
        return ExitCode.ERROR
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `elbus listen | head`): stop quietly, and
        # keep the interpreter from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.ERROR
