"""A fake broker that plays the recorded broker side of a trace over a real UNIX socket.

The traces (`TRACES`) were recorded byte for byte against the
original Rust broker. `TraceBroker` accepts connections in the order of the
trace's ``connect`` steps and walks the steps in recorded order: it writes
each ``broker->client`` step and reads each ``client->broker`` step from the
client under test, recording every difference from the recorded bytes.

Comparison is exact except for what legitimately differs between clients:
op ids (a client numbers its own operations; the broker echoes them, so acks
are rewritten to the ids the client used), RPC call ids when ``rpc_ids`` is
set (likewise rewritten in replies), pings (sent on a timer, so they are
dropped from both sides), and the write boundaries (only bytes count).
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLIENT_HEADER = struct.Struct("<IBI")
_SERVER_HEADER = struct.Struct("<BIB")
_MESSAGE = 0x12
_ACK = 0xFE
_RPC_REQUEST = 0x01
_RPC_REPLIES = (0x11, 0x12)


# The original broker's recordings, shipped in the repository with the conformance suite.
TRACES = Path(__file__).resolve().parents[2] / "conformance" / "traces" / "original"


def load_trace(name: str) -> dict[str, Any]:
    """One recorded trace by name; a missing file is an error, never a reason to skip."""
    return json.loads((TRACES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def split_client_frames(data: bytes) -> list[bytes]:
    """Client frames of a recorded byte string (pings are 9 bytes whatever LEN says)."""
    frames = []
    pos = 0
    while pos < len(data):
        _, flags, length = _CLIENT_HEADER.unpack_from(data, pos)
        size = 9 if flags == 0 else 9 + length
        frames.append(data[pos : pos + size])
        pos += size
    return frames


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_steps: int = 0
    broker_steps: int = 0
    op_ids: dict[int, int] = field(default_factory=dict)  # recorded -> used by the client
    call_ids: dict[int, int] = field(default_factory=dict)


class TraceBroker:
    """Replay ``trace`` at ``path``; only the connections in ``conns`` (default: all) take part."""

    def __init__(self, trace: dict[str, Any], path: str, *, conns: set[str] | None = None, rpc_ids: bool = False) -> None:
        self.trace = trace
        self.path = path
        self.rpc_ids = rpc_ids
        self.steps = [s for s in trace["steps"] if conns is None or s["conn"] in conns]
        self.mismatches: list[str] = []
        self._accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._conns: dict[str, _Conn] = {}
        self._server: asyncio.Server | None = None
        self._runner: asyncio.Task[None] | None = None
        self.position = 0

    async def __aenter__(self) -> TraceBroker:
        self._server = await asyncio.start_unix_server(self._accept, self.path)
        self._runner = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._runner.cancel()
        for conn in self._conns.values():
            conn.writer.close()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._accepted.put((reader, writer))

    async def finished(self, timeout: float = 5.0) -> None:
        """Wait until every step is played; raise AssertionError listing every difference."""
        assert self._runner is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._runner), timeout)
        except TimeoutError:
            step = self.steps[self.position] if self.position < len(self.steps) else None
            raise AssertionError(f"trace stalled at step {self.position}: {step}; differences: {self.mismatches}") from None
        assert not self.mismatches, self.mismatches

    async def _run(self) -> None:
        for position, step in enumerate(self.steps):
            self.position = position
            name = step["conn"]
            event = step.get("event")
            if event == "connect":
                reader, writer = await self._accepted.get()
                self._conns[name] = _Conn(reader, writer)
            elif event == "closed by broker":
                self._conns[name].writer.close()
            elif event == "client closes":
                await self._expect_eof(name)
            elif step.get("dir") == "broker->client":
                await self._write(name, bytes.fromhex(step["hex"]))
            elif step.get("dir") == "client->broker":
                await self._read(name, bytes.fromhex(step["hex"]), step.get("note", ""))
        self.position = len(self.steps)

    async def _write(self, name: str, data: bytes) -> None:
        conn = self._conns[name]
        conn.broker_steps += 1
        if conn.broker_steps > 3:  # past greeting, handshake result, registration result
            data = self._rewrite_broker_frames(conn, data)
        conn.writer.write(data)
        await conn.writer.drain()

    async def _read(self, name: str, expected: bytes, note: str) -> None:
        conn = self._conns[name]
        conn.client_steps += 1
        if conn.client_steps <= 2:  # greeting echo and registration: exact bytes
            actual = await conn.reader.readexactly(len(expected))
            if actual != expected:
                self.mismatches.append(f"{name} {note}: sent {actual.hex()}, recorded {expected.hex()}")
            return
        for recorded in split_client_frames(expected):
            if recorded[4] == 0:
                continue  # a ping: timer-driven, not comparable
            actual = await self._next_frame(conn)
            self._compare(name, conn, recorded, actual, note)

    async def _next_frame(self, conn: _Conn) -> bytes:
        while True:
            header = await conn.reader.readexactly(9)
            if header[4] == 0:
                continue
            (length,) = struct.unpack_from("<I", header, 5)
            return header + await conn.reader.readexactly(length)

    def _compare(self, name: str, conn: _Conn, recorded: bytes, actual: bytes, note: str) -> None:
        (recorded_id,) = struct.unpack_from("<I", recorded)
        (actual_id,) = struct.unpack_from("<I", actual)
        conn.op_ids[recorded_id] = actual_id
        recorded_call = self._call_id(recorded)
        actual_call = self._call_id(actual)
        if recorded_call is not None and actual_call is not None:
            conn.call_ids[recorded_call[1]] = actual_call[1]
            at = recorded_call[0]
            recorded = recorded[:at] + actual[at : at + 4] + recorded[at + 4 :]
        if actual[4:] != recorded[4:]:
            self.mismatches.append(f"{name} {note}: sent {actual.hex()}, recorded {recorded.hex()} (op ids aside)")

    def _call_id(self, frame: bytes) -> tuple[int, int] | None:
        """(offset, call id) of an RPC request inside a MESSAGE frame, when rpc ids are compared loosely."""
        if not self.rpc_ids or frame[4] & 0x3F != _MESSAGE:
            return None
        at = frame.find(b"\x00", 9) + 1
        if at == 0 or len(frame) < at + 5 or frame[at] != _RPC_REQUEST:
            return None
        return at + 1, struct.unpack_from("<I", frame, at + 1)[0]

    def _rewrite_broker_frames(self, conn: _Conn, data: bytes) -> bytes:
        out = bytearray()
        pos = 0
        while pos < len(data):
            kind, length, flag = _SERVER_HEADER.unpack_from(data, pos)
            if kind == _ACK:
                out += _SERVER_HEADER.pack(kind, conn.op_ids.get(length, length), flag)
                pos += 6
                continue
            size = 6 if kind == 0 else 6 + length
            frame = bytearray(data[pos : pos + size])
            if self.rpc_ids and kind == _MESSAGE:
                at = frame.find(b"\x00", 6) + 1
                if at and len(frame) >= at + 5 and frame[at] in _RPC_REPLIES:
                    (call_id,) = struct.unpack_from("<I", frame, at + 1)
                    struct.pack_into("<I", frame, at + 1, conn.call_ids.get(call_id, call_id))
            out += frame
            pos += size
        return bytes(out)

    async def _expect_eof(self, name: str) -> None:
        conn = self._conns[name]
        rest = b""
        while True:
            try:
                header = await conn.reader.readexactly(9)
            except asyncio.IncompleteReadError as exc:
                rest = exc.partial
                break
            if header[4] != 0:
                self.mismatches.append(f"{name}: unexpected frame before closing: {header.hex()}")
        if rest:
            self.mismatches.append(f"{name}: stray bytes before closing: {rest.hex()}")
        conn.writer.close()
