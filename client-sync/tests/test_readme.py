"""The README's examples run, in order, as separate programs against our broker.

Each ``python`` fence follows a marker: ``<!-- example: run expect="TEXT" -->``
runs to completion and must print TEXT; ``<!-- example: background
name=NAME expect="TEXT" -->`` is a long-running program (a listener, an RPC
server): it is started, awaited until the client NAME is registered, and
stopped after the following examples ran, and its output must contain TEXT.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

import elbus_client
from elbus_spec import encode_request, parse_rpc

pytest.importorskip("elbus_server")
pytest.importorskip("elbus_rpc")

from .broker_thread import BrokerThread

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(r"<!--\s*example:\s*(?P<args>.*?)\s*-->\s*\n```python\n(?P<code>.*?)^```", re.S | re.M)
ADDRESS = "/tmp/elbus/elbus.sock"


def _examples() -> list[tuple[dict[str, str], str]]:
    found = []
    for match in EXAMPLE.finditer(README.read_text()):
        words = shlex.split(match["args"])  # the docs' marker grammar: "broker [background] [name=N] [expect=T]"
        options = dict(word.split("=", 1) for word in words if "=" in word)
        found.append(({"kind": "background" if "background" in words else "run", **options}, match["code"]))
    return found


def _registered(address: str, name: str) -> bool:
    with elbus_client.connect(address, "t.readme-probe", timeout=2) as probe:
        probe.send(".broker", encode_request(1, "client.list", b""))
        clients = msgpack.unpackb(parse_rpc(probe.receive(timeout=2).payload).result)["clients"]
    return any(c["name"] == name for c in clients)


def test_readme_has_a_listener_a_sender_and_rpc() -> None:
    kinds = [(options["kind"], options.get("name")) for options, _ in _examples()]
    assert kinds == [("background", "demo.listener"), ("run", None), ("background", "demo.calc"), ("run", None)]


def test_readme_examples_run(sock_path: str) -> None:
    background: list[tuple[subprocess.Popen[str], str]] = []
    with BrokerThread(sock_path, timeout=5.0):
        try:
            for options, code in _examples():
                program = [sys.executable, "-c", code.replace(ADDRESS, sock_path)]
                if options["kind"] == "run":
                    done = subprocess.run(program, capture_output=True, text=True, timeout=30)
                    assert done.returncode == 0, done.stderr
                    assert options["expect"] in done.stdout
                    continue
                process = subprocess.Popen(program, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                background.append((process, options["expect"]))
                deadline = time.monotonic() + 20
                while not _registered(sock_path, options["name"]):
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, f"{options['name']} never registered"
                    time.sleep(0.05)
        finally:
            for process, _ in background:
                process.terminate()
        for process, expect in background:
            out, err = process.communicate(timeout=10)
            assert expect in out, err
