"""Real elbusd processes joined by ``--cluster``, with the original PyPI clients (busrt_async, elbus) on each node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import busrt_async.client
import busrt_async.rpc
import elbus.client
import msgpack
import pytest
from nats_helpers import NatsServer
from reliability_helpers import elbusd_command, start_elbusd, stop_process

mod = busrt_async.client


async def original(sock: Path, name: str) -> tuple[Any, asyncio.Queue[Any]]:
    client = mod.Client(str(sock), name)
    frames: asyncio.Queue[Any] = asyncio.Queue()

    async def on_frame(frame: Any) -> None:
        await frames.put(frame)

    client.on_frame = on_frame
    await client.connect()
    return client, frames


async def call(client: Any, method: str) -> Any:
    event = await busrt_async.rpc.Rpc(client).call(".broker", busrt_async.rpc.Request(method))
    await asyncio.wait_for(event.wait_completed(), 3)
    return msgpack.unpackb(event.get_payload())


async def eventually(probe: Callable[[], Any], check: Callable[[Any], bool], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


@pytest.fixture
async def two_elbusd(nats_server: NatsServer, sock_dir: Path) -> AsyncIterator[tuple[Path, Path, list[subprocess.Popen[str]]]]:
    procs = [start_elbusd(sock_dir / f"{node}.sock", "--cluster", nats_server.url, "--node", node) for node in "ab"]
    yield sock_dir / "a.sock", sock_dir / "b.sock", procs
    for proc in procs:
        stop_process(proc)


async def test_original_clients_across_elbusd_nodes(two_elbusd: tuple[Path, Path, list[subprocess.Popen[str]]]) -> None:
    sock_a, sock_b, procs = two_elbusd
    x, _ = await original(sock_a, "x")
    y, y_frames = await original(sock_b, "y")
    admin, _ = await original(sock_a, "admin")
    nodes = await eventually(lambda: call(admin, "cluster.nodes"),
                             lambda v: len(v["nodes"]) == 2 and "y" in v["nodes"][1]["clients"], 5)
    assert [(n["node"], "y" in n["clients"]) for n in nodes["nodes"]] == [("a", False), ("b", True)]
    info = await call(admin, "cluster.info")
    assert info["node"] == "a" and info["connected"] and info["nodes"] == 2
    assert [c["name"] for c in (await call(admin, "client.list"))["clients"]] == [".broker", "admin", "x"]  # local only

    assert await (await x.send("y", mod.Frame(b"hi", qos=1))).wait_completed(timeout=3) == 1
    got = await asyncio.wait_for(y_frames.get(), 3)
    assert (got.sender, got.payload) == ("x", b"hi")
    assert await (await x.send("nobody", mod.Frame(b"", qos=1))).wait_completed(timeout=3) == 0x71

    assert await (await y.subscribe(["t/#"])).wait_completed(timeout=3) == 1
    await asyncio.sleep(0.5)  # the interest reaches node a
    assert await (await x.send("t/1", mod.Frame(b"pub", tp=mod.OP_PUBLISH, qos=1))).wait_completed(timeout=3) == 1
    got = await asyncio.wait_for(y_frames.get(), 3)
    assert (got.type, got.sender, got.topic, got.payload) == (mod.OP_PUBLISH, "x", "t/1", b"pub")

    # Node b dies: sends to its clients are refused at once, and it leaves a's view within the node timeout.
    procs[1].kill()
    procs[1].wait()
    started = time.monotonic()
    assert await (await x.send("y", mod.Frame(b"", qos=1))).wait_completed(timeout=3) == 0x71
    assert time.monotonic() - started < 1.0
    nodes = await eventually(lambda: call(admin, "cluster.nodes"), lambda v: len(v["nodes"]) == 1, 5)
    assert [n["node"] for n in nodes["nodes"]] == ["a"]
    for client in (x, admin):
        await client.disconnect()


def test_unreadable_cluster_tls_files_are_refused_clearly() -> None:
    result = subprocess.run([*elbusd_command(), "-B", "/tmp/never.sock", "--cluster", "nats://127.0.0.1:1",
                             "--cluster-tls-ca", "/nonexistent/ca.pem"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 1 and "TLS" in result.stderr


async def test_the_original_sync_client_across_nodes(two_elbusd: tuple[Path, Path, list[subprocess.Popen[str]]]) -> None:
    """The `elbus` package's blocking client: an acknowledged message from node a to node b."""
    sock_a, sock_b, _ = two_elbusd
    frames: queue.Queue[Any] = queue.Queue()
    sender = elbus.client.Client(str(sock_a), "sync.x")
    receiver = elbus.client.Client(str(sock_b), "sync.y")
    receiver.on_frame = frames.put
    try:
        await asyncio.to_thread(sender.connect)
        await asyncio.to_thread(receiver.connect)
        deadline = time.monotonic() + 5
        while True:  # until node a has heard of sync.y
            result = await asyncio.to_thread(sender.send, "sync.y", elbus.client.Frame(b"sync hello", qos=1))
            code = await asyncio.to_thread(result.wait_completed, 3)
            if code != 0x71 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert code == 1
        frame = await asyncio.to_thread(frames.get, True, 3)
        assert (frame.sender, frame.payload) == ("sync.x", b"sync hello")
    finally:
        for client in (sender, receiver):
            with contextlib.suppress(OSError):
                client.socket.shutdown(socket.SHUT_RDWR)
            await asyncio.to_thread(client.disconnect)


def _elbus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "elbus_cli", *args], capture_output=True, text=True, timeout=20)


async def test_the_elbus_command_shows_the_nodes(two_elbusd: tuple[Path, Path, list[subprocess.Popen[str]]],
                                                 sock_dir: Path) -> None:
    sock_a, sock_b, _ = two_elbusd
    y, _ = await original(sock_b, "y")
    admin, _ = await original(sock_a, "admin")
    await eventually(lambda: call(admin, "cluster.nodes"),
                     lambda v: len(v["nodes"]) == 2 and "y" in v["nodes"][1]["clients"], 5)
    table = await asyncio.to_thread(_elbus, str(sock_a), "broker", "cluster.nodes")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["node", "self", "clients", "topics", "seen"]
    assert [row[:3] for row in rows[2:]] == [["a", "yes", "1"], ["b", "1", "0"]]  # node b's "self" cell is empty
    nodes = json.loads((await asyncio.to_thread(_elbus, str(sock_a), "--json", "broker", "cluster.nodes")).stdout)
    assert [(n["node"], n["self"], n["clients"]) for n in nodes] == [("a", True, ["admin"]), ("b", False, ["y"])]
    info = await asyncio.to_thread(_elbus, str(sock_a), "broker", "cluster.info")
    assert info.returncode == 0 and "node" in info.stdout and "connected" in info.stdout, info.stderr
    alone = sock_dir / "alone.sock"
    proc = start_elbusd(alone)
    try:
        refused = await asyncio.to_thread(_elbus, str(alone), "broker", "cluster.nodes")
        assert refused.returncode == 1 and "not part of a cluster" in refused.stderr, refused.stderr
    finally:
        stop_process(proc)
    for client in (y, admin):
        await client.disconnect()
