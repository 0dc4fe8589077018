"""The trace player as a broker: it skips client pings the trace does not write, and names what a client got wrong."""

from __future__ import annotations

import asyncio

from elbus_conformance import TracePlayer, parse_trace
from elbus_conformance._net import open_connection

TRACE = parse_trace(
    """\
@trace pings
connect a
a< eb 0100
a> eb 0100
a< 01
a> 0100 "p"
a< 01
a> 01000000 12 03000000 "p" 00 "x"
a> 000000000000000000
a< 12 03000000 00 "p" 00 "x"
a closes
"""
)
PING = bytes(9)
FRAME = bytes.fromhex("0100000012030000007000") + b"x"


async def _client(address: str, frames: bytes) -> bytes:
    reader, writer = await open_connection(address)
    got = await reader.readexactly(3)
    writer.write(bytes.fromhex("eb0100") + b"\x01\x00p")
    got += await reader.readexactly(2)
    writer.write(frames)
    got += await reader.readexactly(9)
    writer.close()
    return got


async def test_pings_the_trace_does_not_write_are_skipped(trace_player: TracePlayer) -> None:
    playing = asyncio.create_task(trace_player.play_trace(TRACE))
    got = await _client(trace_player.address, PING + PING + FRAME + PING + PING)
    result = await playing
    assert result.passed, result.failure
    assert got == bytes.fromhex("eb01000101") + bytes.fromhex("120300000000700078")


async def test_a_missing_ping_the_trace_writes_is_caught(trace_player: TracePlayer) -> None:
    playing = asyncio.create_task(trace_player.play_trace(TRACE))
    client = asyncio.create_task(_client(trace_player.address, FRAME + FRAME))
    result = await playing
    client.cancel()
    assert not result.passed and result.failure is not None
    assert result.failure.line == 9 and result.failure.field == "op id"
