"""Every scenario recorded from the original broker, replayed against ours over a real UNIX socket.

Bytes must match exactly, except the fields a trace lists as variable
(timestamps, counters, version strings, paths): for those the MessagePack
shape (keys in order, value types and encodings) must match.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from elbus_spec import NOP_FRAME, codec

# The original broker's recordings, shipped in the repository with the conformance suite.
TRACES = Path(__file__).resolve().parents[2] / "conformance" / "traces" / "original"
TRACE_FILES = sorted(TRACES.glob("*.json"))


def test_the_recorded_traces_are_in_the_repository() -> None:
    """A missing or emptied trace directory fails here instead of leaving the replays below without cases."""
    assert TRACES.is_dir(), f"{TRACES} is missing"
    assert {p.stem for p in TRACE_FILES} >= {"handshake-ok", "pubsub", "broker-rpc", "secondaries"}, TRACE_FILES

BROKER_PREFIX = b".broker\x00"


def split_frames(data: bytes) -> list[bytes]:
    """Broker frames in ``data``, keep-alive NOPs dropped."""
    frames, pos = [], 0
    while pos < len(data):
        head = data[pos : pos + 6]
        if head[0] == 0xFE or head == NOP_FRAME:
            frame, pos = head, pos + 6
        else:
            (_, length, _) = codec.SERVER_HEADER.unpack(head)
            frame, pos = data[pos : pos + 6 + length], pos + 6 + length
        if frame != NOP_FRAME:
            frames.append(frame)
    return frames


# Values that legitimately differ between brokers and runs (the traces' "variable_fields").
VARIABLE_KEYS = frozenset({"author", "version", "uptime", "r_frames", "r_bytes", "w_frames", "w_bytes", "queue", "port", "t"})


def shape(value: Any, variable: bool = False) -> Any:
    """What must agree in a MessagePack value: keys in order, and values except variable ones, whose type must agree."""
    if isinstance(value, dict):
        return [(k, shape(v, k in VARIABLE_KEYS)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__ if variable else value


def canonical(data: bytes) -> bool:
    """True if ``data`` is the smallest MessagePack encoding of its value (the original's ``t`` is a ``cf`` uint64)."""
    return bool(msgpack.packb(msgpack.unpackb(data)) == data)


def assert_same_frame(actual: bytes, expected: bytes, variable: bool) -> None:
    if actual == expected:
        return
    body = expected[6:]
    assert variable and body.startswith(BROKER_PREFIX), f"\nactual   {actual.hex()}\nexpected {expected.hex()}"
    assert actual[0] == expected[0] and actual[5] == expected[5], (actual.hex(), expected.hex())
    a_body = actual[6:]
    if expected[0] == 0x12:  # an RPC reply: type and call id exact, the MessagePack result by shape
        assert a_body[:13] == body[:13], (actual.hex(), expected.hex())
        a, e = msgpack.unpackb(a_body[13:]), msgpack.unpackb(body[13:])
    else:  # an announcement: sender and topic exact, payload by shape
        cut = body.index(b"\x00", len(BROKER_PREFIX)) + 1
        assert a_body[:cut] == body[:cut], (actual.hex(), expected.hex())
        a, e = msgpack.unpackb(a_body[cut:]), msgpack.unpackb(body[cut:])
        assert canonical(a_body[cut:]) and canonical(body[cut:])
        assert a["t"] > 1_600_000_000 * 10**9  # unix time in ns, a uint64 like the original's
    assert shape(a) == shape(e), (a, e)


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
async def test_trace(path: Path, make_broker: Callable[..., Awaitable[Any]]) -> None:
    trace = json.loads(path.read_text())
    variable = bool(trace.get("variable_fields"))
    running = await make_broker(timeout=0.5)
    streams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    raw_steps: dict[str, int] = {}  # handshake replies are single bytes, not frames
    try:
        for step in trace["steps"]:
            name = step["conn"]
            event = step.get("event")
            if event == "connect":
                streams[name] = await asyncio.open_unix_connection(running.path)
                raw_steps[name] = 0
                continue
            reader, writer = streams[name]
            if event == "client closes":
                writer.close()
                continue
            if event == "closed by broker":
                rest = await asyncio.wait_for(reader.read(), 3)
                assert not split_frames(rest), (step, rest.hex())
                continue
            data = bytes.fromhex(step["hex"])
            if step["dir"] == "client->broker":
                if step.get("delivery") == "one byte per write":
                    for i in range(len(data)):
                        writer.write(data[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(0.001)
                else:
                    writer.write(data)
                continue
            if raw_steps[name] < 3 and (raw_steps[name] < 2 or len(data) == 1):
                raw_steps[name] += 1
                assert await asyncio.wait_for(reader.readexactly(len(data)), 3) == data, step
                continue
            expected_frames = split_frames(data)
            for expected in expected_frames:
                actual = await read_frame(reader)
                assert_same_frame(actual, expected, variable)
            if not expected_frames:  # extra frames after expected ones show up at this connection's next read
                await nothing_more(reader, step)
    finally:
        for _, writer in streams.values():
            writer.close()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    while True:
        head = await asyncio.wait_for(reader.readexactly(6), 3)
        if head == NOP_FRAME:
            continue
        if head[0] == 0xFE:
            return head
        (_, length, _) = codec.SERVER_HEADER.unpack(head)
        return head + await asyncio.wait_for(reader.readexactly(length), 3)


async def nothing_more(reader: asyncio.StreamReader, step: dict[str, Any]) -> None:
    try:
        extra = await read_frame_within(reader, 0.03)
    except (TimeoutError, asyncio.IncompleteReadError):
        return
    raise AssertionError(f"unexpected frame {extra.hex()} after {step}")


async def read_frame_within(reader: asyncio.StreamReader, wait: float) -> bytes:
    return await asyncio.wait_for(read_frame(reader), wait)
