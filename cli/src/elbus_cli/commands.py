"""What each ``elbus`` command does, over the asyncio client and the RPC layer.

Every command connects one client (the benchmark several), does its work
within the ``--timeout`` and prints through `output`. Failures become
`CliError` with the exit code that says what failed: the broker's answer
(1), the input (2) or the connection (3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgpack

import elbus_aio
import elbus_rpc
from elbus_spec import (
    BROKER_NAME,
    DEFAULT_MAX_FRAME_LENGTH,
    BrokerError,
    Code,
    ElbusError,
    Frame,
    LocalProtocolError,
    RpcError,
    RpcErrorCode,
)

from .benchmark import STAGES, run_benchmark
from .errors import CliError, ExitCode
from .output import FrameRecord, format_decoded, format_mapping, format_number, render_table, to_json
from .payload import ParamsError, decode_payload, params_from_document, params_from_pairs
from .progress import Progress

__all__ = ["MAX_INPUT", "Settings", "read_input", "run"]

_KINDS = {elbus_aio.Message: "message", elbus_aio.Broadcast: "broadcast", elbus_aio.Publication: "publication"}
_TOP_COLUMNS = ("name", "kind", "in_frames/s", "in_bytes/s", "out_frames/s", "out_bytes/s", "queue", "drops")
_CLIENT_COLUMNS = ("name", "kind", "source", "port", "r_frames", "r_bytes", "w_frames", "w_bytes", "queue", "instances")
_NODE_COLUMNS = ("node", "self", "clients", "topics", "seen")


def _emit(text: str) -> None:
    # Flushed per line so that `elbus listen | grep …` sees frames as they come.
    print(text, flush=True)


def _code_name(code: int) -> str:
    try:
        return f"{Code(code).name} (0x{code:02x})"
    except ValueError:
        return f"0x{code:02x}"


#: The largest payload or params document the command sends: the async client's frame size limit,
#: which is also the broker's default (a broker drops a client whose frame is over its limit).
MAX_INPUT = DEFAULT_MAX_FRAME_LENGTH


def _too_large(what: str) -> CliError:
    return CliError(f"{what} is over the frame size limit of {MAX_INPUT} bytes ({MAX_INPUT / 2**20:g} MiB)", ExitCode.USAGE)


def _read_stdin() -> bytes:
    """Stdin up to the frame size limit; says so on a terminal, where the user may not expect to type."""
    if sys.stdin.isatty():
        print("elbus: reading the payload from stdin, end with Ctrl-D", file=sys.stderr, flush=True)
    data = sys.stdin.buffer.read(MAX_INPUT + 1)  # one byte more tells "too large" without reading it all
    if len(data) > MAX_INPUT:
        raise _too_large("the input on stdin")
    return data


def _payload(args: argparse.Namespace) -> bytes:
    if args.payload is None:
        return _read_stdin()
    # fsencode gives back the argument's bytes as typed, even when they are not UTF-8.
    return os.fsencode(args.payload)


def _params(pairs: list[str]) -> bytes:
    try:
        params = params_from_document(_read_stdin()) if pairs == ["-"] else params_from_pairs(pairs)
    except ParamsError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    if len(params) > MAX_INPUT:  # JSON may grow as MessagePack: "1e9" takes 9 bytes as a float
        raise _too_large("the params document")
    return params


def read_input(args: argparse.Namespace) -> bytes:
    """What the command sends: its payload or RPC params (empty for the others), read before connecting.

    It is read before the event loop starts, where Ctrl-C interrupts a blocking
    read of stdin at once: in the loop, ``asyncio.run``'s handler only cancels
    the main task, which a blocking read does not notice until a second Ctrl-C.
    Input over the frame size limit is refused here with a message naming the
    limit, where the broker would drop the connection.
    """
    if "params" in args:
        return _params(args.params)
    if "payload" in args:
        return _payload(args)
    return b""


@dataclass(frozen=True, slots=True)
class Settings:
    """The connection and output settings every command gets."""

    address: str
    name: str
    timeout: float
    json: bool


async def _connect(settings: Settings, name: str) -> elbus_aio.Client:
    """A connected client named ``name``; connection failures become exit code 3 (a bad address 2)."""
    try:
        return await elbus_aio.connect(settings.address, name, timeout=settings.timeout)
    except LocalProtocolError as exc:  # before ValueError: a bad name may be both
        raise CliError(f"bad client name {name!r}: {exc.reason}", ExitCode.USAGE) from None
    except ValueError as exc:
        raise CliError(f"bad broker address {settings.address!r}: {exc}", ExitCode.USAGE) from None
    except BrokerError as exc:
        raise CliError(
            f"the broker at {settings.address} refused the name {name!r}: {_code_name(exc.code)}", ExitCode.CONNECTION
        ) from None
    except (OSError, ElbusError) as exc:
        # ConnectionClosed (an ElbusError) is a hang-up during the handshake. A socket error wrapped
        # by the client is its cause: its own words (e.g. "Connection refused") are the reason.
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {settings.timeout:g} s"
        else:
            reason = (cause.strerror if isinstance(cause, OSError) else None) or str(cause) or type(cause).__name__
        raise CliError(f"cannot connect to the broker at {settings.address}: {reason}", ExitCode.CONNECTION) from None


@contextlib.asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[elbus_aio.Client]:
    """The command's client, closed on the way out."""
    client = await _connect(settings, settings.name)
    try:
        yield client
    finally:
        await client.close()


@contextlib.contextmanager
def _reported(what: str) -> Iterator[None]:
    """Turn a failed ack, an RPC error or a lost connection during ``what`` into `CliError`."""
    try:
        yield
    except LocalProtocolError as exc:
        # What we were asked to send cannot be sent, e.g. a target name that is not UTF-8, or a
        # frame over the client's size limit (its reason names the limit).
        raise CliError(f"{what}: {exc.reason}", ExitCode.USAGE) from None
    except BrokerError as exc:
        raise CliError(f"{what} failed: {_code_name(exc.code)}") from None
    except RpcError as exc:
        raise CliError(f"{what} failed: RPC error {exc.code}" + (f": {exc.message}" if exc.message else "")) from None
    except elbus_aio.ConnectionClosed:
        raise CliError(f"{what} failed: the connection to the broker was lost", ExitCode.CONNECTION) from None


async def _within(settings: Settings, what: str, operation: Awaitable[Any]) -> Any:
    """``operation``'s result within ``--timeout``; failures become `CliError` (see `_reported`)."""
    with _reported(what):
        try:
            async with asyncio.timeout(settings.timeout):
                return await operation
        except TimeoutError:
            raise CliError(f"{what} failed: no answer within {settings.timeout:g} s") from None


async def _send(args: argparse.Namespace, settings: Settings, payload: bytes) -> None:
    async with _client(settings) as client:
        await _within(settings, f"send to {args.target!r}", client.send(args.target, payload, qos=args.qos))


async def _broadcast(args: argparse.Namespace, settings: Settings, payload: bytes) -> None:
    async with _client(settings) as client:
        await _within(settings, f"broadcast to {args.mask!r}", client.broadcast(args.mask, payload, qos=args.qos))


async def _publish(args: argparse.Namespace, settings: Settings, payload: bytes) -> None:
    async with _client(settings) as client:
        await _within(settings, f"publish to {args.topic!r}", client.publish(args.topic, payload, qos=args.qos))


def _print_record(record: FrameRecord, settings: Settings) -> None:
    _emit(to_json(record.as_dict(), lines=True) if settings.json else record.as_text())


def _frame_record(frame: Frame) -> FrameRecord:
    return FrameRecord(
        datetime.now().astimezone(), _KINDS[type(frame)], frame.sender, frame.topic, decode_payload(frame.payload), frame.realtime
    )


async def _subscribe(client: elbus_aio.Client, topics: list[str], settings: Settings) -> None:
    if topics:
        await _within(settings, "subscribe", client.subscribe(*topics))


def _listening(client: elbus_aio.Client) -> None:
    # Always on stderr: it tells people (and scripts) that frames will now be seen.
    print(f"elbus: listening as {client.name} (Ctrl-C to stop)", file=sys.stderr, flush=True)


async def _listen(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    async with _client(settings) as client:
        await _subscribe(client, args.topics, settings)
        _listening(client)
        async for frame in client:
            _print_record(_frame_record(frame), settings)
    raise CliError("the connection to the broker was lost", ExitCode.CONNECTION)


async def _rpc_listen(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    async with _client(settings) as client:
        # The RPC layer runs our printing in its callbacks, where a closed stdout would only be
        # logged: carry it out to end the command as `listen` does.
        stdout_gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def show(record: FrameRecord) -> None:
            try:
                _print_record(record, settings)
            except BrokenPipeError as exc:
                if not stdout_gone.done():
                    stdout_gone.set_exception(exc)

        def show_notification(note: Any) -> None:
            now = datetime.now().astimezone()
            show(FrameRecord(now, "rpc.notification", note.sender, None, decode_payload(note.payload), note.realtime))

        @elbus_rpc.raw
        def show_call(params: bytes, call: Any) -> bytes:
            """Every method, whatever its name: show the call and reply with nothing (as the original)."""
            now = datetime.now().astimezone()
            shown = decode_payload(params, msgpack_first=True)
            show(FrameRecord(now, "rpc.call", call.sender, None, shown, call.realtime, call.method))
            return b""

        rpc = elbus_rpc.Rpc(client)
        rpc.fallback = show_call
        rpc.on_frame = lambda frame: show(_frame_record(frame))
        rpc.on_notification = show_notification
        await _subscribe(client, args.topics, settings)
        _listening(client)
        closed = asyncio.ensure_future(client.wait_closed())
        try:
            await asyncio.wait((closed, stdout_gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if stdout_gone.done():
            stdout_gone.result()  # raises the BrokenPipeError
    raise CliError("the connection to the broker was lost", ExitCode.CONNECTION)


async def _rpc_notify(args: argparse.Namespace, settings: Settings, payload: bytes) -> None:
    async with _client(settings) as client:
        rpc = elbus_rpc.Rpc(client, timeout=settings.timeout)
        await _within(settings, f"notify {args.target!r}", rpc.notify(args.target, payload))


async def _rpc_call0(args: argparse.Namespace, settings: Settings, params: bytes) -> None:
    async with _client(settings) as client:
        rpc = elbus_rpc.Rpc(client, timeout=settings.timeout)
        await _within(settings, f"call0 {args.target} {args.method}", rpc.call0(args.target, args.method, params))


async def _rpc_call(args: argparse.Namespace, settings: Settings, params: bytes) -> None:
    async with _client(settings) as client:
        rpc = elbus_rpc.Rpc(client, timeout=settings.timeout)
        with _reported(f"call {args.target} {args.method}"):  # the RPC layer applies the timeout: error -32120
            result = await rpc.call(args.target, args.method, params, raw=True)
    if settings.json:
        _emit(to_json(decode_payload(result, msgpack_first=True).value if result else None))
    elif result:
        _emit(format_decoded(decode_payload(result, msgpack_first=True)))


async def _broker_call(settings: Settings, method: str) -> Any:
    """The MessagePack result of a ``.broker`` core method (they take no params)."""
    async with _client(settings) as client:
        rpc = elbus_rpc.Rpc(client, timeout=settings.timeout)
        with _reported(f"broker {method}"):
            try:
                result = await rpc.call(BROKER_NAME, method, b"", raw=True)
            except RpcError as exc:
                if exc.code == RpcErrorCode.METHOD_NOT_FOUND and method.startswith("cluster."):
                    raise CliError(f"broker {method}: this broker is not part of a cluster") from None
                raise
    try:
        return msgpack.unpackb(result, raw=False, strict_map_key=False)
    except ValueError:
        raise CliError(f"broker {method}: the result is not MessagePack: {bytes(result[:64]).hex()}") from None


async def _broker_mapping(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    method = args.action.removeprefix("broker.")
    result = await _broker_call(settings, method)
    if settings.json:
        _emit(to_json(result))
    elif method == "test":
        if not (isinstance(result, dict) and result.get("ok") is True):
            raise CliError(f"broker test: the broker answered {to_json(result, lines=True)} instead of ok")
        _emit("OK")
    else:
        _emit(format_mapping(result) if isinstance(result, dict) else to_json(result))


async def _broker_entries(settings: Settings, method: str, key: str, what: str) -> list[dict[str, Any]]:
    """The maps listed under ``key`` in the result of ``.broker`` method ``method`` (entries that are not maps left out)."""
    result = await _broker_call(settings, method)
    entries = result.get(key) if isinstance(result, dict) else None
    if not isinstance(entries, list):
        raise CliError(f"broker {method}: the result has no {what} list")
    return [entry for entry in entries if isinstance(entry, dict)]


async def _broker_client_list(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    clients = await _broker_entries(settings, "client.list", "clients", "client")
    # The command's own connection is not one of the clients the user asks about.
    clients = [entry for entry in clients if entry.get("name") != settings.name]
    if settings.json:
        _emit(to_json(clients))
    else:
        _emit(render_table(_CLIENT_COLUMNS, [[entry.get(column) for column in _CLIENT_COLUMNS] for entry in clients]))


async def _broker_cluster_nodes(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    """Every node of the bus, this one first: its clients and topics counted (listed in ``--json``)."""
    nodes = await _broker_entries(settings, "cluster.nodes", "nodes", "node")
    for entry in nodes:  # the command's own connection is not one of the clients the user asks about
        if entry.get("self") and isinstance(entry.get("clients"), list):
            entry["clients"] = [name for name in entry["clients"] if name != settings.name]
    if settings.json:
        _emit(to_json(nodes))
        return
    rows = [[entry.get("node"), "yes" if entry.get("self") else "", _counted(entry.get("clients")),
             _counted(entry.get("topics")), entry.get("seen")] for entry in nodes]
    _emit(render_table(_NODE_COLUMNS, rows))


def _counted(value: object) -> object:
    return len(value) if isinstance(value, list) else value


async def _top(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    """The live view, or with ``--once`` two samples ``--interval`` apart, printed as a plain table or JSON."""
    # rich is imported by this command only: the others start without it.
    from rich.console import Console

    from .top import SampleError, snapshot
    from .top_live import Sampler, watch

    async with _client(settings) as client:
        sampler = Sampler(elbus_rpc.Rpc(client, timeout=settings.timeout), settings.name)
        with _reported("top"):
            try:
                if not args.once:
                    await watch(sampler, settings.address, args.interval, Console())
                    return
                first = await sampler.sample()
                await asyncio.sleep(args.interval)
                second = await sampler.sample()
            except SampleError as exc:
                raise CliError(f"top: {sampler.method}: {exc}") from None
    shown = snapshot(first, second)
    if settings.json:
        _emit(to_json(shown))
        return
    _emit(f"rates over {shown['interval']:.2f} s")
    rows = [[round(value) if isinstance(value, float) else value for value in row.values()] for row in shown["clients"]]
    _emit(render_table(_TOP_COLUMNS, rows))


async def _benchmark(args: argparse.Namespace, settings: Settings, _: bytes) -> None:
    with _reported("benchmark"):
        report = await run_benchmark(
            lambda name: _connect(settings, name),
            settings.name,
            workers=args.workers,
            iters=args.iters,
            payload_size=args.payload_size,
            stages=args.stages or STAGES,
            progress=Progress(sys.stderr),
        )
    if settings.json:
        _emit(to_json(report.as_dict()))
        return
    _emit(
        f"{report.workers} worker(s), {format_number(report.workers * report.iters_per_worker)} iters, "
        f"{format_number(report.iters_per_worker)} iters/worker, {format_number(report.payload_size)} byte(s) payload"
    )
    rows = [[result.stage, result.iters, round(result.seconds, 3), round(result.iters_per_second)] for result in report.results]
    _emit(render_table(("stage", "iters", "seconds", "iters/s"), rows))


_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings, bytes], Awaitable[None]]] = {
    "listen": _listen,
    "send": _send,
    "broadcast": _broadcast,
    "publish": _publish,
    "rpc.listen": _rpc_listen,
    "rpc.notify": _rpc_notify,
    "rpc.call0": _rpc_call0,
    "rpc.call": _rpc_call,
    "broker.info": _broker_mapping,
    "broker.stats": _broker_mapping,
    "broker.test": _broker_mapping,
    "broker.client.list": _broker_client_list,
    "broker.cluster.info": _broker_mapping,
    "broker.cluster.nodes": _broker_cluster_nodes,
    "benchmark": _benchmark,
    "top": _top,
}


async def run(action: str, args: argparse.Namespace, settings: Settings, data: bytes) -> int:
    """Run command ``action`` with its parsed ``args`` and its `read_input` ``data``.

    Returns the exit code or raises `CliError`.
    """
    await _ACTIONS[action](args, settings, data)
    return ExitCode.OK
