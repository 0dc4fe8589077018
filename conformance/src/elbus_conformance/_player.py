"""The trace player: plays the broker side of traces on a listening socket and checks what clients write.

It accepts connections in the order the trace connects them, sends each
expected unit's example bytes, and compares what the clients write with
the trace's client bytes (client pings are skipped where the trace does not
write one). Client mode uses it to test client libraries; broker mode's own
tests use it as a broker that follows the recording exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable

from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._net import DEFAULT_TIMING, Pipe, Timing
from ._pattern import Literal, example
from ._report import Failure, TraceResult, count_steps, spaced_hex, step_failure, unit_failure
from ._stream import Side, Splitter, Stage, dissect, is_keepalive

__all__ = ["TracePlayer"]


def _expected_units(splitter: Splitter, data: bytes) -> list[tuple[Stage, bytes]]:
    """The client's expected bytes cut into units; a frame cut short on purpose is a last partial unit."""
    splitter.feed(data)
    units = []
    while (item := splitter.next_unit()) is not None:
        units.append(item)
    if rest := splitter.take_rest():
        units.append((splitter.stage, rest))
    return units


class TracePlayer:
    """A broker that follows traces: `start` listens, `play` plays traces one after another, `close` stops.

    ``address`` is where clients connect (a UNIX path or ``host:port`` after `start`).
    """

    def __init__(self, timing: Timing = DEFAULT_TIMING) -> None:
        self.timing = timing
        self.address = ""
        self._accepted: asyncio.Queue[Pipe] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    async def start(self, *, unix_path: str | None = None, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``unix_path`` or on ``host:port`` (port 0: a free one); returns the address."""
        if unix_path is not None:
            self._server = await asyncio.start_unix_server(self._accept, unix_path)
            self.address = unix_path
        else:
            self._server = await asyncio.start_server(self._accept, host, port)
            self.address = f"{host}:{self._server.sockets[0].getsockname()[1]}"
        return self.address

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._accepted.put(Pipe(reader, writer, Side.CLIENT))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        while not self._accepted.empty():
            await self._accepted.get_nowait().close(0)
        if self.address.startswith("/"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)

    async def play(self, traces: Iterable[Trace]) -> list[TraceResult]:
        """Play each trace's broker side in turn; never raises for what a client does."""
        return [await self.play_trace(trace) for trace in traces]

    async def play_trace(self, trace: Trace) -> TraceResult:
        session = _Session(self._accepted, self.timing)
        started = time.monotonic()
        run = 0
        failure: Failure | None = None
        try:
            for step in trace.steps:
                failure = await session.step(step)
                if failure is not None:
                    break
                run += not isinstance(step, Comment)
        finally:
            await session.close()
        return TraceResult(trace, run, count_steps(trace), failure, time.monotonic() - started)


class _Session:
    """The broker side of one trace."""

    def __init__(self, accepted: asyncio.Queue[Pipe], timing: Timing) -> None:
        self.accepted = accepted
        self.timing = timing
        self.pipes: dict[str, Pipe] = {}
        self.expected: dict[str, Splitter] = {}

    async def step(self, step: Step) -> Failure | None:
        if isinstance(step, Comment | Do):
            return None
        if isinstance(step, Connect):
            try:
                self.pipes[step.conn] = await asyncio.wait_for(self.accepted.get(), self.timing.step)
            except TimeoutError:
                return step_failure(step, f"no client connected within {self.timing.step}s")
            self.expected[step.conn] = Splitter(Side.CLIENT)
            return None
        pipe = self.pipes[step.conn]
        if isinstance(step, Expect):
            try:
                await pipe.write(b"".join(example(unit) for unit in step.units))
            except OSError as exc:
                return step_failure(step, f"cannot write, the client closed the connection: {exc!r}")
            return None
        if isinstance(step, Send):
            return await self._receive(pipe, step)
        if isinstance(step, Silence):
            return None
        del self.pipes[step.conn]
        if isinstance(step, Closed):
            await pipe.close(0)
            return None
        return await self._client_closes(pipe, step)

    async def _receive(self, pipe: Pipe, step: Send) -> Failure | None:
        for stage, unit in _expected_units(self.expected[step.conn], step.data):
            try:
                actual = await self._read_exactly(pipe, stage, unit)
            except TimeoutError:
                return step_failure(step, f"the client wrote nothing complete within {self.timing.step}s", got=pipe.partial.hex())
            if actual is None:
                return step_failure(step, "the client closed the connection", got="(closed)")
            pattern = tuple(Literal(f.data) for f in dissect(Side.CLIENT, stage, unit))  # one piece per field: a precise reason
            if failure := unit_failure(step, Side.CLIENT, stage, pattern, actual):
                return failure
        pipe.splitter.stage = self.expected[step.conn].stage  # what the client writes next is read at the same stage
        return None

    async def _read_exactly(self, pipe: Pipe, stage: Stage, unit: bytes) -> bytes | None:
        """The next ``len(unit)`` bytes, skipping client pings the trace does not write; None at end of stream."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.step
        splitter = pipe.splitter
        while True:
            buffered = splitter.buffered
            skip_ping = not is_keepalive(Side.CLIENT, stage, unit) and is_keepalive(Side.CLIENT, stage, buffered[:9])
            if skip_ping:
                splitter.take(9)
                continue
            # In frames, 9 bytes tell whether a ping comes first; a unit cut short on purpose may be shorter.
            decidable = stage is not Stage.FRAMES or len(buffered) >= 9 or len(buffered) == len(unit)
            if len(buffered) >= len(unit) and decidable:
                return splitter.take(len(unit))
            if pipe.eof:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            await pipe.fill(remaining)

    async def _client_closes(self, pipe: Pipe, step: Close) -> Failure | None:
        failure: Failure | None
        try:
            item = await pipe.read_unit(self.timing.step)
        except TimeoutError:
            item = None
            failure = step_failure(step, f"the client did not close within {self.timing.step}s")
        else:
            failure = None
            if item is not None:
                failure = step_failure(step, "the client wrote more than the trace says", got=spaced_hex(Side.CLIENT, *item))
        await pipe.close(0)
        return failure

    async def close(self) -> None:
        pipes, self.pipes = list(self.pipes.values()), {}
        for pipe in pipes:
            await pipe.close(0)
