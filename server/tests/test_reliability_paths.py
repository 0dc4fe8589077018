"""Listening paths: a second broker never takes a live socket or FIFO, and a broker removes only its own files.

The control FIFO is owner-only by default and, with access control set, its
commands are judged as the client ``.broker.fifo``. Real elbusd processes,
sockets and FIFOs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import WireClient, elbusd_command, free_port, start_elbusd, stop_process

from elbus_server import Acl, Broker, Rule
from elbus_spec import QoS, codec


async def still_answers(sock: Path, name: str) -> None:
    """A client registers at ``sock`` and gets an acknowledged message to itself back."""
    client = await WireClient.connect(str(sock), name)
    client.write(codec.encode_message_frame(1, QoS.PROCESSED, name, b"ping"))
    assert (await client.next_frame()).payload == b"ping" and await client.ack(1) == 1
    await client.close()


@pytest.mark.parametrize("order", ["unix-first", "tcp-first"])
async def test_a_second_elbusd_leaves_a_live_socket_alone(tmp_path: Path, order: str) -> None:
    sock, pid = tmp_path / "b.sock", tmp_path / "b.pid"
    port = free_port()
    first = start_elbusd(sock, "-B", f"127.0.0.1:{port}", "-P", str(pid))
    try:
        inode = sock.stat().st_ino
        binds = ["-B", str(sock), "-B", f"127.0.0.1:{free_port()}"]
        if order == "tcp-first":
            binds = binds[2:] + binds[:2]
        second = subprocess.run([*elbusd_command(), *binds, "-P", str(pid)], capture_output=True, text=True, timeout=20)
        assert second.returncode == 1
        assert f"cannot listen on {sock}: another broker answers there" in second.stderr, second.stderr
        assert sock.stat().st_ino == inode and pid.read_text().strip() == str(first.pid)  # nothing touched
        await still_answers(sock, "after.second")
        again = subprocess.run([*elbusd_command(), "-B", str(tmp_path / "c.sock"), "-B", f"127.0.0.1:{port}"],
                               capture_output=True, text=True, timeout=20)  # its TCP port is taken instead
        assert again.returncode == 1 and not (tmp_path / "c.sock").exists()
        await still_answers(sock, "after.third")
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
        assert not sock.exists() and not pid.exists()  # the first broker's own files: removed by it
    finally:
        stop_process(first)


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    sock = tmp_path / "b.sock"
    with socket.socket(socket.AF_UNIX) as dead:  # a broker that died without removing its file
        dead.bind(str(sock))
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    async with Broker() as broker:
        await broker.serve_unix(sock)
        await still_answers(sock, "on.stale")


async def test_close_leaves_a_path_that_is_no_longer_ours(tmp_path: Path) -> None:
    sock = tmp_path / "b.sock"
    broker = Broker()
    await broker.serve_unix(sock)
    sock.unlink()
    with socket.socket(socket.AF_UNIX) as successor:  # another broker took the path meanwhile
        successor.bind(str(sock))
        successor.listen()
        await broker.close()
        assert sock.exists()
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(sock))


async def test_the_fifo_is_owner_only_unless_widened(tmp_path: Path) -> None:
    async with Broker() as broker:
        await broker.serve_fifo(tmp_path / "a.fifo")
        await broker.serve_fifo(tmp_path / "b.fifo", mode=0o620)
        assert (tmp_path / "a.fifo").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "b.fifo").stat().st_mode & 0o777 == 0o620
    sock, fifo = tmp_path / "e.sock", tmp_path / "e.fifo"
    proc = start_elbusd(sock, "-B", f"fifo:{fifo}", "--fifo-mode", "640")
    try:
        assert fifo.stat().st_mode & 0o777 == 0o640
    finally:
        stop_process(proc)


async def test_a_second_broker_leaves_a_live_fifo_alone(tmp_path: Path) -> None:
    sock, fifo = tmp_path / "b.sock", tmp_path / "b.fifo"
    async with Broker() as first, Broker() as second:
        await first.serve_unix(sock)
        await first.serve_fifo(fifo)
        inode = fifo.stat().st_ino
        with pytest.raises(OSError, match="another broker answers there"):
            await second.serve_fifo(fifo)
        assert fifo.stat().st_ino == inode
        await second.close()
        assert fifo.exists()
        target = await WireClient.connect(str(sock), "fifo.target")
        await write_fifo(fifo, "fifo.target still mine\n")
        assert (await target.next_frame()).payload == b"still mine"
        await target.close()


async def write_fifo(fifo: Path, text: str) -> None:
    def write() -> None:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    await asyncio.to_thread(write)


async def test_fifo_commands_pass_access_control_as_broker_fifo(tmp_path: Path, caplog: Any) -> None:
    sock, fifo = tmp_path / "b.sock", tmp_path / "b.fifo"
    rules = Acl((Rule(".broker.fifo", message=("svc",), publish=("x/#",)), Rule("*", subscribe=("#",))))
    async with Broker(acl=rules) as broker:
        await broker.serve_unix(sock)
        await broker.serve_fifo(fifo)
        listener = await WireClient.connect(str(sock), "listener")  # subscribed to .broker/warn, as every client
        listener.write(codec.encode_subscribe_frame(1, QoS.PROCESSED, ["x/#", "y/#"]))
        assert await listener.ack(1) == 1
        svc = await WireClient.connect(str(sock), "svc")
        await write_fifo(fifo, '=.broker/warn {"s":"shutdown"}\n=y/z no\nlistener no\n=x/y yes\nsvc yes\n')
        got = await listener.next_frame()
        assert (got.sender, got.topic, got.payload) == (".broker", "x/y", b"yes")  # nothing denied came before it
        assert (await svc.next_frame()).payload == b"yes"
        assert sum("denied by access control (as .broker.fifo)" in r.getMessage() for r in caplog.records) == 3
        broker.set_acl(Acl((Rule("*", subscribe=("#",)),)))  # no rule for .broker.fifo: nothing passes
        await write_fifo(fifo, "=x/y again\nsvc again\n")
        await asyncio.sleep(0.2)
        assert listener.events.empty() and svc.events.empty()
        for c in (listener, svc):
            await c.close()
