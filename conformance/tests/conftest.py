"""A deliberately broken broker for the self-test: a relay in front of a real one that corrupts its replies.

The relay forwards client bytes untouched and cuts what the broker sends
into units; a mutation may rewrite, reorder or drop them. It records when a
mutation actually happened, so a test can tell "the suite caught it" from
"there was nothing to catch".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from elbus_conformance._net import open_connection
from elbus_conformance._stream import Side, Splitter, Stage
from elbus_conformance.pytest_plugin import broker, trace_player  # noqa: F401  (fixtures)

# How long the reordering relay holds a frame waiting for the next one on the same connection.
HOLD = 0.1

Mutation = Callable[["Relay", Stage, bytes], list[bytes]]


def wrong_ack_code(relay: Relay, stage: Stage, unit: bytes) -> list[bytes]:
    """The first OK acknowledgement gets code 77 (not delivered) instead."""
    if not relay.mutated and stage is Stage.FRAMES and unit[0] == 0xFE and unit[5] == 0x01:
        relay.mutated = True
        return [unit[:5] + b"\x77"]
    return [unit]


def drop_publication(relay: Relay, stage: Stage, unit: bytes) -> list[bytes]:
    """The first publication delivered to anyone is lost."""
    if not relay.mutated and stage is Stage.FRAMES and unit[0] == 0x01:
        relay.mutated = True
        return []
    return [unit]


MUTATIONS: dict[str, Mutation] = {"wrong-ack-code": wrong_ack_code, "drop-publication": drop_publication}


class Relay:
    """Listens on a UNIX socket and relays every connection to ``upstream`` through ``mutation``.

    With ``reorder`` set, the first two frames that reach one connection less
    than `HOLD` apart are swapped.
    """

    def __init__(self, upstream: str, mutation: str | None = None, *, reorder: bool = False) -> None:
        self.upstream = upstream
        self.mutation = MUTATIONS[mutation] if mutation else None
        self.reorder = reorder
        self.mutated = False
        self.address = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, path: str) -> str:
        self._server = await asyncio.start_unix_server(self._serve, path)
        self.address = path
        return path

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await open_connection(self.upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._downstream(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = Splitter(Side.BROKER)
        held: bytes | None = None
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), HOLD if held else None)
            except TimeoutError:
                writer.write(held or b"")  # nothing followed soon enough: let it go unswapped
                held = None
                continue
            if not data:
                writer.write(held or b"")
                writer.close()
                return
            splitter.feed(data)
            while (item := splitter.next_unit()) is not None:
                stage, unit = item
                units = self.mutation(self, stage, unit) if self.mutation else [unit]
                for out in units:
                    if self.reorder and not self.mutated and stage is Stage.FRAMES and out[0] != 0:
                        if held is None:
                            held = out
                            continue
                        out, held = out + held, None
                        self.mutated = True
                    writer.write(out)
            await writer.drain()


@pytest_asyncio.fixture
async def make_relay(tmp_path: Path) -> AsyncIterator[Callable[..., asyncio.Future[Relay]]]:
    """Start relays in front of a broker address (``mutation``: a name in MUTATIONS); all are closed after the test."""
    relays: list[Relay] = []

    async def start(upstream: str, mutation: str | None = None, *, reorder: bool = False) -> Relay:
        relay = Relay(upstream, mutation, reorder=reorder)
        await relay.start(str(tmp_path / f"relay{len(relays)}.sock"))
        relays.append(relay)
        return relay

    yield start  # type: ignore[misc]
    for relay in relays:
        with contextlib.suppress(Exception):
            await relay.close()
