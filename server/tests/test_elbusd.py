"""``elbusd`` end to end as a subprocess, and its pure parts: bind values and FIFO lines."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import elbus.client
import elbus.rpc
import msgpack
import pytest
from reliability_helpers import elbusd_command, free_port

from elbus_server._fifo import parse_fifo_line
from elbus_server.elbusd import build_parser, classify_bind
from elbus_spec import RpcNotification, RpcRequest, parse_rpc


def test_classify_bind() -> None:
    assert classify_bind("/run/elbus.sock") == ("unix", "/run/elbus.sock")
    assert classify_bind("rel/path.ipc") == ("unix", "rel/path.ipc")
    assert classify_bind("fifo:/tmp/x") == ("fifo", "/tmp/x")
    assert classify_bind("127.0.0.1:7777") == ("tcp", "127.0.0.1:7777")
    assert classify_bind(":7777") == ("tcp", "127.0.0.1:7777")  # loopback unless a host is named
    assert classify_bind("[::1]:7777") == ("tcp", "[::1]:7777")
    for bad in ("localhost", "host:port", ":"):
        with pytest.raises(ValueError):
            classify_bind(bad)
    args = build_parser().parse_args(["-B", "/a.sock", "-B", "0.0.0.0:1", "-w", "4", "--buf-ttl", "10", "--socket-mode", "660"])
    assert args.bind == [("unix", "/a.sock"), ("tcp", "0.0.0.0:1")] and args.socket_mode == 0o660


def test_parse_fifo_lines() -> None:
    assert parse_fifo_line("  \n") is None
    c = parse_fifo_line("target hello world")
    assert c is not None and (c.op, c.address, c.payload) == ("message", "target", b"hello world")
    c = parse_fifo_line("g.* all")
    assert c is not None and (c.op, c.address) == ("broadcast", "g.*")
    c = parse_fifo_line("=a/b 42")
    assert c is not None and (c.op, c.address, c.payload) == ("publish", "a/b", b"42")
    c = parse_fifo_line("svc .note")
    assert c is not None and parse_rpc(c.payload) == RpcNotification(b"note")
    c = parse_fifo_line("svc :do.it a=1 b=2.5 c=true d=false e=text")
    assert c is not None
    request = parse_rpc(c.payload)
    assert isinstance(request, RpcRequest) and (request.call_id, request.method) == (0, "do.it")
    assert msgpack.unpackb(request.params) == {"a": 1, "b": 2.5, "c": True, "d": False, "e": "text"}
    for bad in ("= payload", "svc :", "svc :m novalue"):
        with pytest.raises(ValueError):
            parse_fifo_line(bad)


async def test_elbusd_end_to_end(sock_dir: Path) -> None:
    sock, fifo, pid = sock_dir / "e.sock", sock_dir / "e.fifo", sock_dir / "e.pid"
    port = free_port()
    proc = subprocess.Popen(
        [*elbusd_command(), "-B", str(sock), "-B", f"127.0.0.1:{port}", "-B", f"fifo:{fifo}", "-P", str(pid), "-t", "1",
         "--socket-mode", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    clients: list[Any] = []
    try:
        assert proc.stdout is not None
        banner = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert banner.startswith("elbusd") and "connect to" in banner
        shown = [await asyncio.to_thread(proc.stdout.readline) for _ in range(3)]
        assert str(sock) in shown[0] and f"127.0.0.1:{port}" in shown[1] and str(fifo) in shown[2]
        assert pid.read_text().strip() == str(proc.pid)
        assert sock.stat().st_mode & 0o777 == 0o600

        frames: queue.Queue[Any] = queue.Queue()
        listener = elbus.client.Client(str(sock), "fifo.target")
        listener.on_frame = frames.put
        await asyncio.to_thread(listener.connect)
        clients.append(listener)
        sub = await asyncio.to_thread(listener.subscribe, ["fifo/#"])
        assert await asyncio.to_thread(sub.wait_completed, 3) == 1

        with open(fifo, "w") as pipe:
            pipe.write("fifo.target hello world\n=fifo/t 42\nbroken :\n")
        got = await asyncio.to_thread(frames.get, True, 3)
        assert (got.sender, got.payload) == (".broker", b"hello world")
        got = await asyncio.to_thread(frames.get, True, 3)
        assert (got.topic, got.payload) == ("fifo/t", b"42")

        caller = elbus.client.Client(f"127.0.0.1:{port}", "tcp.caller")
        await asyncio.to_thread(caller.connect)
        clients.append(caller)
        rpc = elbus.rpc.Rpc(caller)
        event = await asyncio.to_thread(rpc.call, ".broker", elbus.rpc.Request("test"))
        assert msgpack.unpackb((await asyncio.to_thread(event.wait_completed, 3)).get_payload()) == {"ok": True}

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 10) == 0
        got = await asyncio.to_thread(frames.get, True, 3)
        for client in clients:  # the original client's reader spins on a closed connection until closed here
            client.disconnect()
        clients.clear()
        assert (got.sender, got.topic) == (".broker", ".broker/warn")
        assert msgpack.unpackb(got.payload)["s"] == "shutdown"
        assert not sock.exists() and not pid.exists() and not fifo.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for client in clients:
            await asyncio.to_thread(client.disconnect)


async def test_elbusd_sigint_and_bad_bind(sock_dir: Path) -> None:
    sock = sock_dir / "i.sock"
    proc = subprocess.Popen([*elbusd_command(), "-B", str(sock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 10) == 0
    assert not sock.exists()
    failed = subprocess.run([*elbusd_command(), "-B", "/nonexistent-dir/x.sock"], capture_output=True, timeout=10)
    assert failed.returncode == 1 and b"nonexistent-dir" in failed.stderr


@pytest.mark.skipif(shutil.which("true") is None or os.name != "posix", reason="POSIX only")
def test_elbusd_rejects_bad_options() -> None:
    result = subprocess.run([*elbusd_command(), "-B", "localhost"], capture_output=True, timeout=10)
    assert result.returncode == 2 and b"neither a socket path nor HOST:PORT" in result.stderr
