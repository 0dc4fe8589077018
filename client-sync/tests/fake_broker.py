"""A fake broker that plays the recorded broker side of a trace over a real UNIX socket.

It walks the trace's steps in order on one thread: it accepts a connection
at each ``connect``, writes each broker->client chunk as recorded, reads
each client->broker chunk and compares it byte for byte with the recording,
closes where the broker closed, and waits for EOF where the client closed.

Connections are "clients" (played by `elbus_client.Client`) or "raw"
(the recording holds bytes no well-behaved client writes: a bad greeting,
a malformed frame, a partial frame; the test plays those with a plain
socket). On client connections, pings are not compared: the recorded
client pinged by hand, ours pings on its own schedule, so 9-byte ping
frames are skipped at frame boundaries on both sides.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elbus_spec import BrokerConnection, HandshakeComplete, ProtocolViolation, RegistrationRequest, Request

# The original broker's recordings, shipped in the repository with the conformance suite.
TRACES = Path(__file__).resolve().parents[2] / "conformance" / "traces" / "original"
TRACE_FILES = sorted(TRACES.glob("*.json"))

_HEADER = struct.Struct("<LBL")  # client frame header: op id, flags, length
_HANDSHAKE_CHUNKS = 2  # a client's first two chunks are the greeting echo and the registration
STEP_TIMEOUT = 5.0


def load_trace(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def split_frames(data: bytes) -> list[bytes]:
    """Client frames in ``data`` (which holds whole frames only), pings included."""
    frames = []
    pos = 0
    while pos < len(data):
        _op_id, flags, length = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size if flags == 0 else pos + _HEADER.size + length
        frames.append(data[pos:end])
        pos = end
    return frames


def without_pings(data: bytes) -> bytes:
    return b"".join(frame for frame in split_frames(data) if frame[4] != 0)


@dataclass
class ConnPlan:
    """What the trace says about one connection, parsed once for the broker and the test."""

    name: str
    raw: bool = False
    client_name: str | None = None
    # client->broker chunks after the handshake: the requests each holds
    requests: dict[int, list[Request]] = field(default_factory=dict)


def plan_connections(trace: dict[str, Any]) -> dict[str, ConnPlan]:
    """Classify every connection of the trace as played by our client or raw, with its requests per step."""
    plans: dict[str, ConnPlan] = {}
    parsers: dict[str, BrokerConnection] = {}
    for index, step in enumerate(trace["steps"]):
        conn = step["conn"]
        if step.get("event") == "connect":
            plans[conn] = ConnPlan(conn)
            parsers[conn] = BrokerConnection()
            continue
        if step.get("dir") != "client->broker":
            continue
        plan, parser = plans[conn], parsers[conn]
        if plan.raw:
            continue
        events = parser.receive_data(bytes.fromhex(step["hex"]))
        if any(isinstance(e, ProtocolViolation) for e in events) or parser.buffered:
            plan.raw = True  # a malformed or partial frame: no API call writes that
            continue
        for event in events:
            if isinstance(event, RegistrationRequest):
                plan.client_name = event.name
                parser.accept()
        requests = [e for e in events if isinstance(e, Request)]
        if requests:
            plan.requests[index] = requests
        elif not any(isinstance(e, HandshakeComplete | RegistrationRequest) for e in events):
            if without_pings(bytes.fromhex(step["hex"])):
                plan.raw = True
    for plan in plans.values():
        if plan.client_name is None:
            plan.raw = True  # never registered (bad greeting, name not UTF-8)
    return plans


class TraceBroker:
    """Plays the broker side of ``trace`` on a UNIX socket at ``path``; `errors` lists every mismatch."""

    def __init__(self, trace: dict[str, Any], path: str, plans: dict[str, ConnPlan]) -> None:
        self.trace = trace
        self.path = path
        self.plans = plans
        self.errors: list[str] = []
        self.done = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(16)
        self._listener.settimeout(STEP_TIMEOUT)
        self._socks: dict[str, socket.socket] = {}
        self._rx: dict[str, bytearray] = {}
        self._chunks: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="trace-broker", daemon=True)

    def __enter__(self) -> TraceBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._listener.close()
        for sock in self._socks.values():
            sock.close()
        self._thread.join(STEP_TIMEOUT)

    def _run(self) -> None:
        try:
            for index, step in enumerate(self.trace["steps"]):
                self._play(index, step)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            for sock in self._socks.values():  # hang up so the client side fails now rather than at its timeouts
                sock.close()
        finally:
            self.done.set()

    def _play(self, index: int, step: dict[str, Any]) -> None:
        conn = step["conn"]
        event = step.get("event")
        if event == "connect":
            sock, _ = self._listener.accept()
            sock.settimeout(STEP_TIMEOUT)
            self._socks[conn] = sock
            self._rx[conn] = bytearray()
            self._chunks[conn] = 0
        elif event == "closed by broker":
            self._socks[conn].close()
        elif event == "client closes":
            self._expect_eof(conn)
        elif step["dir"] == "broker->client":
            self._socks[conn].sendall(bytes.fromhex(step["hex"]))
        else:
            expected = bytes.fromhex(step["hex"])
            framed = not self.plans[conn].raw and self._chunks[conn] >= _HANDSHAKE_CHUNKS
            self._chunks[conn] += 1
            got = self._read_frames(conn, len(without_pings(expected))) if framed else self._read_exact(conn, len(expected))
            if framed:
                expected = without_pings(expected)
            if got != expected:
                raise AssertionError(f"step {index} ({conn}): expected {expected.hex()}, got {got.hex()}")

    def _recv_more(self, conn: str) -> None:
        data = self._socks[conn].recv(65536)
        if not data:
            raise AssertionError(f"{conn}: the client closed while the broker expected bytes")
        self._rx[conn] += data

    def _read_exact(self, conn: str, size: int) -> bytes:
        rx = self._rx[conn]
        while len(rx) < size:
            self._recv_more(conn)
        data = bytes(rx[:size])
        del rx[:size]
        return data

    def _read_frames(self, conn: str, size: int) -> bytes:
        """Whole client frames until ``size`` bytes of non-ping frames have arrived."""
        rx = self._rx[conn]
        got = bytearray()
        while len(got) < size:
            while len(rx) < _HEADER.size:
                self._recv_more(conn)
            _op_id, flags, length = _HEADER.unpack_from(rx)
            end = _HEADER.size if flags == 0 else _HEADER.size + length
            while len(rx) < end:
                self._recv_more(conn)
            if flags:
                got += rx[:end]
            del rx[:end]
        return bytes(got)

    def _expect_eof(self, conn: str) -> None:
        sock = self._socks[conn]
        rx = self._rx[conn]
        while True:
            data = sock.recv(65536)
            if not data:
                break
            rx += data
        leftover = without_pings(bytes(rx)) if not self.plans[conn].raw else bytes(rx)
        if leftover:
            raise AssertionError(f"{conn}: unexpected bytes before the close: {leftover.hex()}")
        sock.close()
