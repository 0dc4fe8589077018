"""Client mode catches a faulty client on traces whose actions are derived from the recorded bytes.

The client here is a small, real one: `elbus_spec.ClientConnection` over an
asyncio socket, with one deliberate fault at a time. Without a fault it
passes the same traces, so a failure is the fault being caught.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

import pytest

from elbus_conformance import Timing, format_report, load_traces, run_client_trace
from elbus_conformance._net import open_connection
from elbus_spec import Ack, ClientConnection, Frame, Refused, Registered, error_for_code

TIMING = Timing(step=1.0, silence=0.05, broker_timeout=1.0)


class _ReusedOpIds(ClientConnection):
    """Numbers every operation 1."""

    __slots__ = ()

    def next_op_id(self) -> int:
        return 1


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: ClientConnection) -> None:
        self.reader, self.writer, self.conn = reader, writer, conn
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            for event in self.conn.receive_data(data):
                if isinstance(event, Ack) and (future := self.acks.pop(event.op_id, None)) and not future.done():
                    future.set_result(None) if event.code == 1 else future.set_exception(error_for_code(event.code))
                elif isinstance(event, Frame):
                    await self.frames.put(event)


class FaultyDriver:
    """A client driver with one fault: ``reuse-op-id``, ``wrong-qos`` (QoS 1 and 3 swapped), ``realtime-lost``, or none."""

    def __init__(self, fault: str = "") -> None:
        self.fault = fault

    async def connect(self, address: str, name: str, timeout: float) -> _Client:
        reader, writer = await open_connection(address)
        conn = (_ReusedOpIds if self.fault == "reuse-op-id" else ClientConnection)(name)
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            events = conn.receive_data(data) if data else []
            writer.write(conn.data_to_send())
            for event in events:
                if isinstance(event, Refused):
                    writer.close()
                    raise error_for_code(event.code)
                if isinstance(event, Registered):
                    return _Client(reader, writer, conn)
            if not data:
                raise ConnectionError("closed during the handshake")

    def start(self, client: _Client, verb: str, args: list[str], payload: bytes, qos: int) -> Awaitable[None]:
        if self.fault == "wrong-qos" and qos & 1:
            qos ^= 2
        if verb in ("subscribe", "unsubscribe"):
            op_id, data = getattr(client.conn, f"send_{verb}")(args, qos)
        else:
            op_id, data = getattr(client.conn, f"send_{'message' if verb == 'send' else verb}")(args[0], payload, qos)
        client.writer.write(data)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if qos & 1:
            client.acks[op_id] = future
        else:
            future.set_result(None)
        return future

    async def receive(self, client: _Client, timeout: float) -> Any:
        frame = await asyncio.wait_for(client.frames.get(), timeout)
        if self.fault == "realtime-lost":
            return type(frame)(frame.sender, frame.topic, frame.payload, False)
        return frame

    async def close(self, client: _Client) -> None:
        client.writer.close()
        client.reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await client.reading


# recorded traces: their op ids (0x0a.., 0x1e.., 0xffffffff) are renumbered, the actions derived from the bytes
@pytest.mark.parametrize("name", ["message-qos", "broadcast", "pubsub", "broker-rpc"])
async def test_the_faultless_client_passes(name: str) -> None:
    [trace] = load_traces([name])
    result = await run_client_trace(FaultyDriver(), trace, TIMING)
    assert result.passed and result.status == "ran", format_report([result])


@pytest.mark.parametrize(
    ("fault", "name", "field", "reason"),
    [
        ("reuse-op-id", "message-qos", "op id", "expected 02000000, got 01000000"),
        ("reuse-op-id", "pubsub", "op id", "expected 02000000, got 01000000"),
        ("wrong-qos", "message-qos", "flags", "expected 52, got d2"),
        ("wrong-qos", "broadcast", "flags", "expected 53, got d3"),
        ("realtime-lost", "message-qos", "realtime", "expected 01, got 00"),
    ],
)
async def test_a_faulty_client_is_caught(fault: str, name: str, field: str, reason: str) -> None:
    [trace] = load_traces([name])
    result = await run_client_trace(FaultyDriver(fault), trace, TIMING)
    assert not result.passed and result.failure is not None, format_report([result])
    assert result.failure.field == field and reason in result.failure.reason, format_report([result])
