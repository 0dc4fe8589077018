"""Every ``elbus`` command, run as a real subprocess against a real broker on a temporary UNIX socket.

The broker runs in a thread with its own event loop for the whole module;
peers (the receivers and RPC servers the commands talk to) are asyncio
clients in the test's own loop. Every test uses its own client names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import busrt
import msgpack
import pytest
from cli_broker import BrokerThread

import elbus_aio
import elbus_rpc
from elbus_cli import ENV_ADDRESS
from elbus_cli.benchmark import STAGES
from elbus_cli.commands import MAX_INPUT
from elbus_spec import RpcError

# Generous for a loaded 2-core machine; a healthy run takes a fraction of it.
CLI_DEADLINE = 20.0
_ENV = {key: value for key, value in os.environ.items() if key != ENV_ADDRESS}


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


@dataclass
class Result:
    code: int
    out: str
    err: str


def _command(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "elbus_cli", *args]


async def start(
    *args: str | bytes,
    stdin: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """``elbus ARGS`` started, its stdout a pipe (stdin and stderr as given: a pipe, a terminal, nothing)."""
    return await asyncio.create_subprocess_exec(
        *_command(*args), stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=_ENV if env is None else env
    )


async def elbus(*args: str | bytes, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    """Run ``elbus ARGS`` to completion (stdin fed and closed) and collect its exit code and output."""
    proc = await start(*args, stdin=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), CLI_DEADLINE)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), err.decode())
    assert "Traceback" not in result.err, result.err
    return result


@contextlib.asynccontextmanager
async def running_listener(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A long-running ``elbus ARGS`` (listen, rpc listen), yielded once it says it is listening.

    The caller stops it; whatever still runs at the end is killed.
    """
    proc = await start(*args)
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), CLI_DEADLINE)
        assert b"listening as" in line, line
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def interrupt(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """Ctrl-C: the exit code and what was left on stderr."""
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    err = await asyncio.wait_for(proc.stderr.read(), CLI_DEADLINE)
    return await asyncio.wait_for(proc.wait(), CLI_DEADLINE), err.decode()


async def read_json_line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), CLI_DEADLINE)
    return json.loads(line)


@contextlib.asynccontextmanager
async def peer(broker: BrokerThread, name: str) -> AsyncIterator[elbus_aio.Client]:
    async with elbus_aio.Client(broker.path, name) as client:
        yield client


# --- broker ---------------------------------------------------------------------------------


async def test_broker_test(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "broker", "test")
    assert (result.code, result.out) == (0, "OK\n")
    result = await elbus(broker.path, "--json", "broker", "test")
    assert (result.code, json.loads(result.out)) == (0, {"ok": True})


async def test_broker_info_and_stats(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "broker", "info")
    assert result.code == 0
    assert [line.split(":")[0] for line in result.out.splitlines()] == ["author", "version"]
    info = json.loads((await elbus(broker.path, "broker", "info", "--json")).out)  # --json after the command works too
    assert isinstance(info["author"], str) and isinstance(info["version"], str)
    stats = json.loads((await elbus(broker.path, "--json", "broker", "stats")).out)
    assert set(stats) == {"uptime", "r_frames", "r_bytes", "w_frames", "w_bytes"}
    assert stats["r_frames"] > 0


async def test_broker_client_list_table_and_json(broker: BrokerThread) -> None:
    me = unique("lister")
    async with peer(broker, unique("listed")) as listed:
        result = await elbus(broker.path, "-n", me, "broker", "client.list")
        assert result.code == 0
        lines = result.out.splitlines()
        assert lines[0].split() == [
            "name",
            "kind",
            "source",
            "port",
            "r_frames",
            "r_bytes",
            "w_frames",
            "w_bytes",
            "queue",
            "instances",
        ]
        assert set(lines[1]) == {"-", " "}
        rows = {line.split()[0]: line for line in lines[2:]}
        assert ".broker" in rows and listed.name in rows and me not in rows
        assert rows[listed.name].split()[1] == "local_ipc"
        assert rows[listed.name].endswith(" 1")  # one instance, right-aligned under "instances"
        assert len({len(line) for line in lines[:2]}) == 1  # the rule spans the header

        clients = json.loads((await elbus(broker.path, "-n", me, "--json", "broker", "client.list")).out)
        by_name = {entry["name"]: entry for entry in clients}
        assert by_name[listed.name]["kind"] == "local_ipc" and by_name[listed.name]["instances"] == 1
        assert me not in by_name


async def test_broker_client_list_over_tcp_shows_the_source(broker: BrokerThread) -> None:
    async with elbus_aio.Client(broker.tcp, unique("tcp-peer")) as tcp_peer:
        clients = json.loads((await elbus(broker.tcp, "--json", "broker", "client.list")).out)
    entry = next(entry for entry in clients if entry["name"] == tcp_peer.name)
    assert entry["kind"] == "tcp" and entry["source"].startswith("127.0.0.1:")


# --- send, broadcast, publish ---------------------------------------------------------------


async def test_send_delivers_the_argument_and_prints_nothing(broker: BrokerThread) -> None:
    sender = unique("sender")
    async with peer(broker, unique("receiver")) as receiver:
        result = await elbus(broker.path, "-n", sender, "send", receiver.name, "hello there")
        assert (result.code, result.out, result.err) == (0, "", "")
        frame = await receiver.receive(timeout=5)
    assert (frame.sender, frame.payload, frame.topic) == (sender, b"hello there", None)


async def test_send_reads_the_payload_from_stdin(broker: BrokerThread) -> None:
    async with peer(broker, unique("receiver")) as receiver:
        result = await elbus(broker.path, "send", receiver.name, stdin=b"\x00\x01binary\xff")
        assert result.code == 0
        frame = await receiver.receive(timeout=5)
    assert frame.payload == b"\x00\x01binary\xff"
    assert frame.sender.startswith("elbus-cli.")  # the default name: elbus-cli.<host>.<pid>


async def test_arguments_that_are_not_utf8(broker: BrokerThread) -> None:
    async with peer(broker, unique("receiver")) as receiver:
        result = await elbus(broker.path, "send", receiver.name, b"a\xffb")  # a payload is bytes: sent as typed
        assert result.code == 0
        assert (await receiver.receive(timeout=5)).payload == b"a\xffb"
    for args in (["send", b"a\xffb", "x"], ["-n", b"a\xffb", "broker", "test"], ["rpc", "call", ".broker", "test", b"k=\xff"]):
        result = await elbus(broker.path, *args)
        assert result.code == 2 and "utf-8" in result.err.lower(), (args, result)


async def test_send_to_nobody_fails_with_the_code_name(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "send", unique("nobody"), "x")
    assert result.code == 1
    assert "NOT_REGISTERED (0x71)" in result.err and result.out == ""


async def test_send_without_ack_to_nobody_succeeds(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "send", "--qos", "0", unique("nobody"), "x")
    assert result.code == 0


async def test_send_realtime_is_flagged(broker: BrokerThread) -> None:
    async with peer(broker, unique("receiver")) as receiver:
        assert (await elbus(broker.path, "send", "--qos", "3", receiver.name, "now")).code == 0
        frame = await receiver.receive(timeout=5)
    assert frame.realtime and frame.payload == b"now"


async def test_broadcast_reaches_every_matching_name(broker: BrokerThread) -> None:
    group = unique("grp")
    async with peer(broker, f"{group}.a") as first, peer(broker, f"{group}.b") as second, peer(broker, unique("other")) as other:
        result = await elbus(broker.path, "broadcast", f"{group}.*", "to all")
        assert result.code == 0
        frames = [await first.receive(timeout=5), await second.receive(timeout=5)]
        with pytest.raises(TimeoutError):
            await other.receive(timeout=0.2)
    assert [(type(frame).__name__, frame.payload) for frame in frames] == [("Broadcast", b"to all")] * 2


async def test_publish_with_every_qos(broker: BrokerThread) -> None:
    topic = f"cli/{uuid.uuid4().hex[:8]}/state"
    async with peer(broker, unique("subscriber")) as subscriber:
        await subscriber.subscribe(topic)
        for qos in "0123":
            result = await elbus(broker.path, "publish", "--qos", qos, topic, f"v{qos}")
            assert (result.code, result.out) == (0, "")
        frames = [await subscriber.receive(timeout=5) for _ in range(4)]
    assert [(frame.topic, frame.payload, frame.realtime) for frame in frames] == [
        (topic, b"v0", False),
        (topic, b"v1", False),
        (topic, b"v2", True),
        (topic, b"v3", True),
    ]


async def test_one_ctrl_c_stops_reading_the_payload_from_a_terminal(broker: BrokerThread) -> None:
    controller, terminal = pty.openpty()
    try:
        proc = await start(broker.path, "send", unique("receiver"), stdin=terminal)
        os.close(terminal)
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), CLI_DEADLINE)
        assert b"reading the payload from stdin" in line
        code, err = await interrupt(proc)  # one SIGINT, as one Ctrl-C
        out = await proc.stdout.read() if proc.stdout is not None else b""
    finally:
        os.close(controller)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (code, err, out) == (130, "", b"")


async def test_a_payload_over_the_frame_size_limit_is_refused_naming_the_limit(broker: BrokerThread) -> None:
    async with peer(broker, unique("receiver")) as receiver:
        result = await elbus(broker.path, "send", receiver.name, stdin=b"x" * (MAX_INPUT + 1))
        with pytest.raises(TimeoutError):
            await receiver.receive(timeout=0.2)
    assert result.code == 2 and result.out == ""
    assert result.err == f"elbus: the input on stdin is over the frame size limit of {MAX_INPUT} bytes (16 MiB)\n"


async def test_params_over_the_frame_size_limit_once_encoded_are_refused(broker: BrokerThread) -> None:
    # Each "1e9," is 4 bytes of JSON and 9 of MessagePack (a float64): under the limit as JSON, over it encoded.
    count = MAX_INPUT // 9 + 1
    document = b"[" + b"1e9," * (count - 1) + b"1e9]"
    assert len(document) < MAX_INPUT
    result = await elbus(broker.path, "rpc", "call", ".broker", "test", "-", stdin=document)
    assert result.code == 2 and "the params document is over the frame size limit" in result.err
    assert "lost" not in result.err


async def test_publish_payload_from_stdin(broker: BrokerThread) -> None:
    topic = f"cli/{uuid.uuid4().hex[:8]}"
    async with peer(broker, unique("subscriber")) as subscriber:
        await subscriber.subscribe(topic)
        assert (await elbus(broker.path, "publish", topic, stdin=b'{"from": "stdin"}')).code == 0
        frame = await subscriber.receive(timeout=5)
    assert frame.payload == b'{"from": "stdin"}'


# --- listen ---------------------------------------------------------------------------------


async def test_listen_prints_json_lines_and_stops_on_ctrl_c(broker: BrokerThread) -> None:
    me = unique("listener")
    topic = f"cli/{uuid.uuid4().hex[:8]}/+"
    async with (
        running_listener(broker.path, "-n", me, "--json", "listen", "-t", topic, "-t", "other/#") as proc,
        peer(broker, unique("talker")) as talker,
    ):
        await talker.publish(topic.replace("+", "temp"), msgpack.packb({"t": 21.5}))
        await talker.send(me, b"plain words")
        await talker.broadcast(me, b"\xff\x00\x01")
        await talker.send(me, b"[" * 5000 + b"]" * 5000)  # too deep to print as JSON: text, and on it goes
        await talker.send(me, b"last")
        records = [await read_json_line(proc) for _ in range(5)]
        code, err = await interrupt(proc)
    assert code == 130 and "Traceback" not in err
    assert [(r["kind"], r["sender"], r["topic"], r["format"], r["payload"]) for r in records] == [
        ("publication", talker.name, topic.replace("+", "temp"), "msgpack", {"t": 21.5}),
        ("message", talker.name, None, "text", "plain words"),
        ("broadcast", talker.name, None, "hex", "ff0001"),
        ("message", talker.name, None, "text", "[" * 5000 + "]" * 5000),
        ("message", talker.name, None, "text", "last"),
    ]
    assert all(record["time"] and record["realtime"] is False for record in records)


async def test_listen_human_output(broker: BrokerThread) -> None:
    me = unique("listener")
    async with running_listener(broker.path, "-n", me, "listen") as proc, peer(broker, unique("talker")) as talker:
        await talker.send(me, b'{"a": [1, 2]}')
        assert proc.stdout is not None
        head = await asyncio.wait_for(proc.stdout.readline(), CLI_DEADLINE)
        body = [await asyncio.wait_for(proc.stdout.readline(), CLI_DEADLINE) for _ in range(6)]
        code, _ = await interrupt(proc)
    assert code == 130
    assert head.decode().split()[1:] == ["message", "from", talker.name]
    assert b"".join(body).decode() == 'json: {\n  "a": [\n    1,\n    2\n  ]\n}\n'


async def test_listen_exits_3_when_the_broker_goes_away(sock_dir: str) -> None:
    doomed = BrokerThread(sock_dir, "doomed.sock").start()
    try:
        async with running_listener(doomed.path, "listen") as proc:
            await asyncio.to_thread(doomed.stop)
            code = await asyncio.wait_for(proc.wait(), CLI_DEADLINE)
            assert proc.stderr is not None
            err = (await proc.stderr.read()).decode()
    finally:
        doomed.stop()
    assert code == 3 and "lost" in err


# --- rpc ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def rpc_server(broker: BrokerThread) -> AsyncIterator[tuple[elbus_aio.Client, list[tuple[str, Any]]]]:
    """A peer serving ``echo`` (returns its params), ``fail`` (an RpcError) and recording ``record``."""
    async with peer(broker, unique("server")) as client:
        rpc = elbus_rpc.Rpc(client)
        seen: list[tuple[str, Any]] = []

        @rpc.method("echo")
        def echo(params: Any, call: Any) -> Any:
            return params

        @rpc.method("fail")
        def fail(params: Any, call: Any) -> Any:
            raise RpcError(-32099, "it failed on purpose")

        @rpc.method("record")
        def record(params: Any, call: Any) -> None:
            seen.append((call.sender, params))

        rpc.on_notification = lambda note: seen.append((note.sender, note.payload))  # the CLI sends the text as it is
        yield client, seen


async def test_rpc_call_types_key_value_params(broker: BrokerThread) -> None:
    async with rpc_server(broker) as (server, _):
        result = await elbus(
            broker.path, "--json", "rpc", "call", server.name, "echo", "n=3", "x=0.5", "on=true", "s=word", "eq=a=b"
        )
    assert result.code == 0
    assert json.loads(result.out) == {"n": 3, "x": 0.5, "on": True, "s": "word", "eq": "a=b"}


async def test_rpc_call_pretty_prints_the_result(broker: BrokerThread) -> None:
    async with rpc_server(broker) as (server, _):
        result = await elbus(broker.path, "rpc", "call", server.name, "echo", "a=1")
    assert (result.code, result.out) == (0, '{\n  "a": 1\n}\n')


async def test_rpc_call_params_document_from_stdin(broker: BrokerThread) -> None:
    async with rpc_server(broker) as (server, _):
        from_json = await elbus(
            broker.path, "--json", "rpc", "call", server.name, "echo", "-", stdin=b'{"list": [1, "two"], "none": null}'
        )
        packed = msgpack.packb({"bin": b"\x00\x01"})
        from_msgpack = await elbus(broker.path, "--json", "rpc", "call", server.name, "echo", "-", stdin=packed)
        bad = await elbus(broker.path, "rpc", "call", server.name, "echo", "-", stdin=b"\x81\xa2ok")
        number = await elbus(broker.path, "rpc", "call", server.name, "echo", "-", stdin=b"49")  # replied as the byte "1"
    assert json.loads(from_json.out) == {"list": [1, "two"], "none": None}
    assert (number.code, number.out) == (0, "49\n")
    assert json.loads(from_msgpack.out) == {"bin": "0001"}
    assert bad.code == 2 and "neither JSON nor MessagePack" in bad.err


async def test_rpc_call_without_params_and_empty_result(broker: BrokerThread) -> None:
    async with rpc_server(broker) as (server, _):
        human = await elbus(broker.path, "rpc", "call", server.name, "echo")
        machine = await elbus(broker.path, "--json", "rpc", "call", server.name, "echo")
    assert (human.code, human.out) == (0, "")
    assert (machine.code, machine.out) == (0, "null\n")


async def test_rpc_call_broker_core_method(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "rpc", "call", ".broker", "test")
    assert (result.code, result.out) == (0, '{\n  "ok": true\n}\n')


@pytest.mark.parametrize(
    ("target", "method", "expected"),
    [
        ("server", "fail", "RPC error -32099: it failed on purpose"),
        ("server", "no.such.method", "RPC error -32601"),
        (".broker", "no.such.method", "RPC error -32601"),
        ("nobody", "echo", "RPC error -32113"),
    ],
)
async def test_rpc_call_errors_show_code_and_message(broker: BrokerThread, target: str, method: str, expected: str) -> None:
    async with rpc_server(broker) as (server, _):
        name = {"server": server.name, "nobody": unique("nobody")}.get(target, target)
        result = await elbus(broker.path, "rpc", "call", name, method)
    assert result.code == 1
    assert expected in result.err and result.out == ""


async def test_rpc_call_times_out(broker: BrokerThread) -> None:
    async with peer(broker, unique("silent")) as silent:  # reads frames but never answers
        result = await elbus(broker.path, "--timeout", "0.5", "rpc", "call", silent.name, "anything")
    assert result.code == 1 and "RPC error -32120" in result.err


async def test_rpc_call_bad_params_are_usage_errors(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "rpc", "call", ".broker", "test", "novalue")
    assert result.code == 2 and "'novalue' is not key=value" in result.err


async def test_rpc_call0_and_notify(broker: BrokerThread) -> None:
    me = unique("caller")
    async with rpc_server(broker) as (server, seen):
        call0 = await elbus(broker.path, "-n", me, "rpc", "call0", server.name, "record", "k=v")
        notify = await elbus(broker.path, "-n", me, "rpc", "notify", server.name, "news")
        assert (call0.code, call0.out, notify.code, notify.out) == (0, "", 0, "")
        for _ in range(50):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.05)
    assert seen == [(me, {"k": "v"}), (me, b"news")]


async def test_rpc_call0_and_notify_to_nobody_fail(broker: BrokerThread) -> None:
    call0 = await elbus(broker.path, "rpc", "call0", unique("nobody"), "m")
    notify = await elbus(broker.path, "rpc", "notify", unique("nobody"), "x")
    assert call0.code == notify.code == 1
    assert "-32113" in call0.err and "-32113" in notify.err


async def test_rpc_listen_prints_calls_notifications_and_frames(broker: BrokerThread) -> None:
    me = unique("rpc-listener")
    topic = f"cli/{uuid.uuid4().hex[:8]}"
    async with (
        running_listener(broker.path, "-n", me, "--json", "rpc", "listen", "-t", topic) as proc,
        peer(broker, unique("caller")) as caller,
    ):
        rpc = elbus_rpc.Rpc(caller)
        assert await rpc.call(me, "any.method", {"x": 1}) is None  # answered with an empty result
        await rpc.notify(me, b"note")
        await caller.publish(topic, b"pub")
        records = [await read_json_line(proc) for _ in range(3)]
        code, _ = await interrupt(proc)
    assert code == 130
    assert [(r["kind"], r["sender"], r.get("method"), r["payload"]) for r in records] == [
        ("rpc.call", caller.name, "any.method", {"x": 1}),
        ("rpc.notification", caller.name, None, "note"),
        ("publication", caller.name, None, "pub"),
    ]


async def test_rpc_both_ways_with_an_original_published_client(broker: BrokerThread) -> None:
    """The original ``busrt`` client (from PyPI) serves a call from ``elbus rpc call`` and calls ``elbus rpc listen``."""
    original = busrt.client.Client(broker.path, unique("original"))
    await asyncio.to_thread(original.connect)
    try:
        rpc = busrt.rpc.Rpc(original)
        rpc.on_call = lambda event: event.get_payload()  # an echo
        result = await elbus(broker.path, "--json", "rpc", "call", original.name, "echo", "a=1", "b=word")
        assert (result.code, json.loads(result.out)) == (0, {"a": 1, "b": "word"})

        me = unique("rpc-listener")
        async with running_listener(broker.path, "-n", me, "--json", "rpc", "listen") as proc:
            call = await asyncio.to_thread(rpc.call, me, busrt.rpc.Request("hello", msgpack.packb({"x": 1})))
            reply = await asyncio.to_thread(call.wait_completed, 5)
            record = await read_json_line(proc)
            code, _ = await interrupt(proc)
    finally:
        original.disconnect()
    assert reply.is_empty() and code == 130
    assert (record["kind"], record["sender"], record["method"], record["payload"]) == (
        "rpc.call",
        original.name,
        "hello",
        {"x": 1},
    )


# --- benchmark ------------------------------------------------------------------------------

async def test_benchmark_every_stage_json(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "--json", "benchmark", "-w", "2", "-i", "400", "--payload-size", "10")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["workers"], report["iters"], report["iters_per_worker"], report["payload_size"]) == (2, 400, 200, 10)
    assert [stage["stage"] for stage in report["stages"]] == list(STAGES)  # the original names: see test_args
    assert all(stage["iters"] == 400 and stage["iters_per_second"] > 0 for stage in report["stages"])
    assert result.err == ""  # no progress bar when stderr is not a terminal


async def test_benchmark_table_for_chosen_stages(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "benchmark", "-i", "200", "--stage", "rpc.call", "--stage", "send.qos.no")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "1 worker(s), 200 iters, 200 iters/worker, 100 byte(s) payload"
    assert lines[1].split() == ["stage", "iters", "seconds", "iters/s"]
    assert [line.split()[0] for line in lines[3:]] == ["send.qos.no", "rpc.call"]  # in the original's order


async def test_benchmark_progress_bar_on_a_terminal(broker: BrokerThread) -> None:
    def read_terminal(fd: int) -> bytes:
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once the program's side is closed and drained
            while chunk := os.read(fd, 65536):
                drawn += chunk
        return drawn

    controller, terminal = pty.openpty()
    try:
        proc = await start(broker.path, "benchmark", "-i", "3000", "--stage", "send+recv.qos.processed", stderr=terminal)
        os.close(terminal)
        reading = asyncio.create_task(asyncio.to_thread(read_terminal, controller))  # never let the bar block the program
        out, _ = await asyncio.wait_for(proc.communicate(), CLI_DEADLINE)
        drawn = await asyncio.wait_for(reading, CLI_DEADLINE)
    finally:
        os.close(controller)
    assert proc.returncode == 0
    assert b"send+recv.qos.processed [" in drawn and b"/3_000" in drawn
    assert drawn.endswith(b"\r\x1b[K")
    assert out.decode().splitlines()[3].split()[0] == "send+recv.qos.processed"


async def test_benchmark_stops_cleanly_on_ctrl_c(broker: BrokerThread) -> None:
    me = unique("bench")
    proc = await start(broker.path, "-n", me, "benchmark", "-w", "2", "-i", "10000000")
    try:
        for _ in range(100):  # until its workers are registered and busy
            clients = json.loads((await elbus(broker.path, "--json", "broker", "client.list")).out)
            if any(entry["name"].startswith(me) for entry in clients):
                break
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), CLI_DEADLINE)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (proc.returncode, out, err) == (130, b"", b"")
    clients = json.loads((await elbus(broker.path, "--json", "broker", "client.list")).out)
    assert not [entry for entry in clients if entry["name"].startswith(me)]


async def test_benchmark_exits_3_when_the_broker_goes_away(sock_dir: str) -> None:
    doomed = BrokerThread(sock_dir, "doomed-bench.sock").start()
    proc = await start(doomed.path, "benchmark", "-i", "10000000", "--stage", "send+recv.qos.processed")
    try:
        for _ in range(100):  # until its worker is registered
            clients = json.loads((await elbus(doomed.path, "--json", "broker", "client.list")).out)
            if any(entry["name"].startswith("elbus-cli.") for entry in clients):
                break
        await asyncio.to_thread(doomed.stop)
        out, err = await asyncio.wait_for(proc.communicate(), CLI_DEADLINE)
    finally:
        doomed.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (proc.returncode, out) == (3, b"")
    assert b"benchmark failed: the connection to the broker was lost" in err and b"Traceback" not in err


async def test_benchmark_needs_an_iteration_per_worker(broker: BrokerThread) -> None:
    result = await elbus(broker.path, "benchmark", "-w", "4", "-i", "3")
    assert result.code == 2 and "3 iterations cannot be shared by 4 workers" in result.err


# --- addresses, names, connection failures, usage -------------------------------------------


async def test_address_from_the_environment(broker: BrokerThread) -> None:
    result = await elbus("broker", "test", env={**_ENV, ENV_ADDRESS: broker.path})
    assert (result.code, result.out) == (0, "OK\n")


async def test_tcp_address(broker: BrokerThread) -> None:
    result = await elbus(broker.tcp, "broker", "test")
    assert (result.code, result.out) == (0, "OK\n")


async def test_port_alone_is_the_loopback_port_as_for_elbusd(broker: BrokerThread) -> None:
    host, _, port = broker.tcp.rpartition(":")
    assert host == "127.0.0.1"
    result = await elbus(f":{port}", "broker", "test")
    assert (result.code, result.out) == (0, "OK\n")


async def test_a_broker_that_never_answers_is_one_line(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "mute.sock")
    with socket.socket(socket.AF_UNIX) as mute:  # accepts connections, never says a word
        mute.bind(path)
        mute.listen()
        result = await elbus("--timeout", "0.5", path, "broker", "test")
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines() == [f"elbus: cannot connect to the broker at {path}: no answer within 0.5 s"]


async def test_no_broker_is_a_connection_failure(sock_dir: str) -> None:
    result = await elbus(os.path.join(sock_dir, "absent.sock"), "broker", "test")
    assert result.code == 3 and "cannot connect to the broker" in result.err


async def test_name_in_use_is_a_connection_failure(broker: BrokerThread) -> None:
    async with peer(broker, unique("taken")) as taken:
        result = await elbus(broker.path, "-n", taken.name, "send", "x", "y")
    assert result.code == 3 and "BUSY (0x76)" in result.err


async def test_bad_address_is_a_usage_error() -> None:
    result = await elbus("no-port-here", "broker", "test")
    assert result.code == 2 and "no-port-here" in result.err


async def test_an_unknown_command_is_named() -> None:
    result = await elbus("frobnicate")
    assert (result.code, result.out) == (2, "")
    assert "unknown command 'frobnicate'" in result.err and "required" not in result.err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["broker", "nothing"],
        ["send", "--qos", "4", "x", "y"],
        ["benchmark", "--stage", "no.such.stage"],
    ],
)
async def test_usage_errors_exit_2(args: list[str]) -> None:
    result = await elbus(*args)
    assert result.code == 2 and result.out == "" and "usage:" in result.err


async def test_help_documents_address_and_exit_codes() -> None:
    from elbus_cli import DEFAULT_ADDRESS

    result = await elbus("--help")
    assert result.code == 0
    for text in (DEFAULT_ADDRESS, ENV_ADDRESS, "exit codes", "130", "listen", "benchmark"):
        assert text in result.out
    sub = await elbus("rpc", "call", "--help")
    assert sub.code == 0 and "usage: elbus [ADDRESS] rpc call" in sub.out and "true/false" in sub.out
