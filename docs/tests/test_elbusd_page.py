"""The "Running elbusd" page against a real ``elbusd``: its FIFO lines do what the page says.

The page's ``echo ... > FIFO`` lines are written, as they are, into the FIFO
of an ``elbusd`` started as a subprocess; a client named as on the page
checks what arrives.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1]
PAGE_FIFO = "/run/elbus/elbus.fifo"

elbus_client = pytest.importorskip("elbus_client")
msgpack = pytest.importorskip("msgpack")

from elbus_spec import RpcNotification, RpcRequest, parse_rpc  # noqa: E402


def fifo_lines() -> list[str]:
    return re.findall(rf"^echo '(.*)' > {re.escape(PAGE_FIFO)}$", (DOCS / "elbusd.md").read_text(), re.M)


@pytest.fixture
def elbusd(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    pytest.importorskip("elbus_server.elbusd")
    command = Path(sys.executable).with_name("elbusd")
    if not command.exists():
        pytest.skip("the elbusd command is not installed")
    sock, fifo = tmp_path / "elbus.sock", tmp_path / "elbus.fifo"
    process = subprocess.Popen(
        [str(command), "-B", str(sock), "-B", f"fifo:{fifo}", "-t", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 10)
        assert readable and "ready" in process.stdout.readline(), "elbusd did not start"
        yield sock, fifo
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert process.returncode == 0
    assert not sock.exists()


def test_fifo_lines_of_the_page_reach_the_client(elbusd: tuple[Path, Path]) -> None:
    sock, fifo = elbusd
    lines = fifo_lines()
    assert len(lines) == 5
    with elbus_client.connect(str(sock), "svc.worker") as client:
        client.subscribe("sensors/#")
        fd = os.open(fifo, os.O_WRONLY)
        try:
            for line in lines:
                os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        frames = [client.receive(timeout=5) for _ in lines]
    assert {frame.sender for frame in frames} == {".broker"}
    message, broadcast, publication, notification, call = frames
    assert (message.kind.name, message.payload) == ("MESSAGE", b"hello")
    assert (broadcast.kind.name, broadcast.payload) == ("BROADCAST", b"reload")
    assert (publication.kind.name, publication.topic, publication.payload) == ("PUBLISH", "sensors/room1/temp", b"21.5")
    note = parse_rpc(notification.payload)
    assert isinstance(note, RpcNotification) and note.data == b"ping"
    request = parse_rpc(call.payload)
    assert isinstance(request, RpcRequest)
    assert (request.call_id, request.method) == (0, "reload")
    # the page: "The last line calls `reload` with `{...}`" (written as JSON): same values, same types
    shown = re.search(r"calls `reload` with `(\{.*?\})`", (DOCS / "elbusd.md").read_text())
    assert shown is not None
    typed = sorted((key, type(value), value) for key, value in json.loads(shown.group(1)).items())
    assert sorted((key, type(value), value) for key, value in msgpack.unpackb(request.params).items()) == typed
