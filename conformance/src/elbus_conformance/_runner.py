"""Broker mode: play the client side of traces against a running broker and check every byte it sends back.

Steps run in the trace's order. Every connection is read on its own, so
what the broker sends on different connections may arrive in any order;
only the order within one connection is checked. Keep-alive NOPs are
skipped wherever they fall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._net import DEFAULT_TIMING, Pipe, Timing, open_connection
from ._pattern import example
from ._report import Failure, TraceResult, count_steps, spaced_hex, step_failure, unit_failure
from ._stream import FrameTooLong, Side, Stage

__all__ = ["run_trace", "run_traces", "Replay"]

# How long frames already on their way get to arrive before the trace's connections close.
_STRAY_WINDOW = 0.02


class Replay:
    """The client side of one trace against one broker."""

    def __init__(self, address: str, timing: Timing) -> None:
        self.address = address
        self.timing = timing
        self.pipes: dict[str, Pipe] = {}

    async def step(self, step: Step) -> Failure | None:
        if isinstance(step, Comment | Do):
            return None
        if isinstance(step, Connect):
            try:
                reader, writer = await asyncio.wait_for(open_connection(self.address), self.timing.step)
            except (OSError, TimeoutError) as exc:
                return step_failure(step, f"cannot connect to {self.address}: {exc!r}")
            self.pipes[step.conn] = Pipe(reader, writer, Side.BROKER)
            return None
        pipe = self.pipes[step.conn]
        try:
            if isinstance(step, Send):
                return await self._send(pipe, step)
            if isinstance(step, Expect):
                return await self._expect(pipe, step)
            if isinstance(step, Silence):
                return await self._silence(pipe, step)
            if isinstance(step, Closed):
                return await self._closed(pipe, step)
            return await self._close(pipe, step)
        except FrameTooLong as exc:
            return step_failure(step, str(exc))

    async def _send(self, pipe: Pipe, step: Send) -> Failure | None:
        try:
            await pipe.write(step.data, bytewise=step.bytewise)
        except OSError as exc:
            return step_failure(step, f"cannot write, the broker closed the connection: {exc!r}")
        return None

    async def _expect(self, pipe: Pipe, step: Expect) -> Failure | None:
        for unit in step.units:
            try:
                item = await pipe.read_unit(self.timing.step)
            except TimeoutError:
                expected = spaced_hex(Side.BROKER, pipe.splitter.stage, example(unit))
                got = pipe.partial.hex() or "(nothing)"
                return step_failure(step, f"nothing complete arrived within {self.timing.step}s", expected=expected, got=got)
            if item is None:
                return step_failure(step, "the broker closed the connection", got="(closed)")
            if failure := unit_failure(step, Side.BROKER, item[0], unit, item[1]):
                return failure
        return None

    async def _silence(self, pipe: Pipe, step: Silence) -> Failure | None:
        try:
            item = await pipe.read_unit(self.timing.silence)
        except TimeoutError:
            return None
        if item is None:
            return None  # closing is not sending: a `closed` step may follow
        return step_failure(step, "a unit arrived where nothing should", got=spaced_hex(Side.BROKER, *item))

    async def _closed(self, pipe: Pipe, step: Closed) -> Failure | None:
        deadline = self.timing.close_deadline
        try:
            item = await pipe.read_unit(deadline)
        except TimeoutError:
            return step_failure(step, f"the connection is still open after {deadline}s")
        if item is not None:
            return step_failure(step, "a unit arrived before the close", got=spaced_hex(Side.BROKER, *item))
        await pipe.close(0)
        del self.pipes[step.conn]
        return None

    async def check_strays(self, closing: list[Close]) -> Failure | None:
        """Fail if a unit no step expects already waits on a connection about to close.

        An extra frame (a duplicate delivery) must not go unnoticed at the
        end of a trace. A run of closes is checked as a whole before the
        first of them: leaving may make the broker announce it, and those
        announcements come after the recording ended.
        """
        items = await asyncio.gather(*(self._stray(self.pipes[step.conn]) for step in closing))
        for step, item in zip(closing, items, strict=True):
            if item is not None:
                return step_failure(step, "a unit arrived that the trace does not expect", got=spaced_hex(Side.BROKER, *item))
        return None

    @staticmethod
    async def _stray(pipe: Pipe) -> tuple[Stage, bytes] | None:
        try:
            return await pipe.read_unit(_STRAY_WINDOW)
        except TimeoutError:
            return None

    async def _close(self, pipe: Pipe, step: Close) -> Failure | None:
        del self.pipes[step.conn]
        await pipe.close(self.timing.step)
        return None

    async def close(self) -> None:
        """Close every connection still open; each waits for the broker to see the client leave."""
        pipes, self.pipes = list(self.pipes.values()), {}
        await asyncio.gather(*(pipe.close(self.timing.step) for pipe in pipes))


def _close_runs(steps: Sequence[Step]) -> list[list[Close]]:
    """For each step, the run of client closes it starts (actions between them do not break a run), else []."""
    runs: list[list[Close]] = []
    current: list[Close] | None = None
    for step in steps:
        if isinstance(step, Close):
            if current is None:
                current = []
                runs.append(current)
            else:
                runs.append([])
            current.append(step)
            continue
        runs.append([])
        if not isinstance(step, Do):
            current = None
    return runs


async def run_trace(address: str, trace: Trace, timing: Timing = DEFAULT_TIMING) -> TraceResult:
    """Play ``trace``'s client side against the broker at ``address``; never raises for what the broker does."""
    replay = Replay(address, timing)
    started = time.monotonic()
    run = 0
    failure: Failure | None = None
    steps = [step for step in trace.steps if not isinstance(step, Comment)]
    try:
        for step, closing in zip(steps, _close_runs(steps), strict=True):
            failure = await replay.check_strays(closing) if closing else None
            failure = failure or await replay.step(step)
            if failure is not None:
                break
            run += 1
    finally:
        await replay.close()
    return TraceResult(trace, run, count_steps(trace), failure, time.monotonic() - started)


async def run_traces(address: str, traces: Iterable[Trace], timing: Timing = DEFAULT_TIMING) -> list[TraceResult]:
    """Play each trace in turn (never two at once: traces see broker-wide state such as client.list)."""
    return [await run_trace(address, trace, timing) for trace in traces]
