"""One participant of the peer comparison, run in its own process by the harness.

`run(role, conn)` is the process's entry point. ``conn`` is its end of a
pipe to the harness, which is the start barrier: the participant connects
(and subscribes, or warms up its calls), sends ``"ready"``, waits for
``"go"``, runs its role and sends back its `Report`. A responder runs until
the harness sends ``"stop"``; a receiver stops at its expected count, or when
nothing has arrived for ``role.stall`` seconds (its short count is then the
harness's to judge). CPU time is the process's own, user plus system, from
``"go"`` to the end of the role.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvloop

from .measure import percentile
from .peer_links import Link, open_link

__all__ = ["KINDS", "Report", "Role", "run"]

# sender/publisher flood; receiver/subscriber count; caller calls in sequence; responder answers.
KINDS = ("sender", "publisher", "receiver", "subscriber", "caller", "responder")
WARMUP_CALLS = 20  # untimed calls before "ready": first connections and caches, on both sides


@dataclass(frozen=True, slots=True)
class Role:
    """What one participant does: ``count`` messages of ``payload_size`` bytes to or from ``dest``."""

    system: str  # "elbus" or "nats"
    kind: str  # one of KINDS
    address: str  # the broker's address, or the NATS server's URL
    name: str  # the client name (elbus)
    dest: str  # where it sends, listens or calls: a client name, a topic or a subject
    count: int  # messages to send or to expect, calls to make
    payload_size: int
    stall: float = 10.0  # seconds without progress before a receiver or caller gives up


@dataclass(slots=True)
class Report:
    """What one participant counted, sent back to the harness."""

    name: str
    kind: str
    count: int = 0  # messages sent or received, calls made or answered (warm-up excluded)
    payload_bytes: int = 0
    wrong: int = 0  # payloads received whose size is not the role's payload_size; replies that differ from the request
    cpu: float = 0.0  # CPU seconds of this process from "go" to the end
    finished: float = 0.0  # time.monotonic() of the last message or reply (the same clock in every process)
    latencies_us: tuple[float, float] | None = None  # a caller's p50, p99
    error: str | None = None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Pipe:
    """The harness's messages, read without blocking the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.messages: asyncio.Queue[str] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(conn.fileno(), self._read)

    def _read(self) -> None:
        while self.conn.poll():
            try:
                self.messages.put_nowait(self.conn.recv())
            except EOFError:  # the harness is gone: stop as if told to
                self.messages.put_nowait("stop")
                asyncio.get_running_loop().remove_reader(self.conn.fileno())
                return

    async def expect(self, word: str) -> None:
        got = await self.messages.get()
        if got != word:
            raise RuntimeError(f"expected {word!r} from the harness, got {got!r}")


def run(role: Role, conn: Connection) -> None:
    """The process's entry point: connect, meet the barrier, run, report (errors included) on ``conn``."""
    uvloop.run(_main(role, conn))
    conn.close()


async def _main(role: Role, conn: Connection) -> None:
    report = Report(role.name, role.kind)
    link: Link | None = None
    try:
        pipe = _Pipe(conn)
        link = await open_link(role.system, role.address, role.name)
        body = await _prepare(role, link, report)
        conn.send("ready")
        await pipe.expect("go")
        cpu = _cpu()
        await body(pipe)
        report.cpu = _cpu() - cpu
    except Exception as exc:  # reported: the harness fails the run with it
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        if link is not None:
            try:
                await link.close()
            except Exception as exc:
                report.error = report.error or f"close: {type(exc).__name__}: {exc}"
    with contextlib.suppress(OSError):  # the harness is gone: nobody to report to
        conn.send(report)


# The timed part of a role, given the pipe (a responder waits on it for "stop").
_Body = Callable[[_Pipe], Awaitable[None]]


async def _prepare(role: Role, link: Link, report: Report) -> _Body:
    """Do the untimed set-up of ``role`` and return its timed part."""
    payload = b"\xa5" * role.payload_size
    if role.kind in ("sender", "publisher"):
        return _Flood(role, link, report, payload)
    if role.kind in ("receiver", "subscriber"):
        receive = _Receive(role, report)
        await link.listen(role.dest, role.kind == "subscriber", receive.on_payload)
        return receive
    if role.kind == "responder":
        answer = _Answer(role, report)
        await link.answer(role.dest, answer.on_call)
        return answer
    if role.kind == "caller":
        for _ in range(WARMUP_CALLS):
            await link.call(role.dest, payload, role.stall)
        return _Call(role, link, report, payload)
    raise ValueError(f"unknown participant kind {role.kind!r}")


class _Flood:
    def __init__(self, role: Role, link: Link, report: Report, payload: bytes) -> None:
        self.role, self.link, self.report, self.payload = role, link, report, payload

    async def __call__(self, pipe: _Pipe) -> None:
        role = self.role
        await self.link.flood(role.dest, role.kind == "publisher", self.payload, role.count)
        self.report.count, self.report.payload_bytes = role.count, role.count * len(self.payload)
        self.report.finished = time.monotonic()


class _Receive:
    def __init__(self, role: Role, report: Report) -> None:
        self.role, self.report = role, report
        self.done = asyncio.get_running_loop().create_future()

    def on_payload(self, payload: bytes) -> None:
        report = self.report
        report.count += 1
        size = len(payload)
        report.payload_bytes += size
        if size != self.role.payload_size:
            report.wrong += 1
        if report.count == self.role.count:
            report.finished = time.monotonic()
            if not self.done.done():
                self.done.set_result(None)

    async def __call__(self, pipe: _Pipe) -> None:
        seen = -1
        while not self.done.done() and self.report.count != seen:  # ends early when nothing came for `stall` s
            seen = self.report.count
            await asyncio.wait([self.done], timeout=self.role.stall)
        await asyncio.sleep(0.05)  # a surplus message would arrive now, and be counted against the run
        if not self.report.finished:
            self.report.finished = time.monotonic()


class _Answer:
    def __init__(self, role: Role, report: Report) -> None:
        self.role, self.report = role, report
        self.warmup = WARMUP_CALLS

    def on_call(self, params: bytes) -> None:
        if self.warmup:  # the caller's untimed calls, before "go"
            self.warmup -= 1
            return
        report = self.report
        report.count += 1
        report.payload_bytes += len(params)
        if len(params) != self.role.payload_size:
            report.wrong += 1

    async def __call__(self, pipe: _Pipe) -> None:
        await pipe.expect("stop")
        self.report.finished = time.monotonic()


class _Call:
    def __init__(self, role: Role, link: Link, report: Report, payload: bytes) -> None:
        self.role, self.link, self.report, self.payload = role, link, report, payload

    async def __call__(self, pipe: _Pipe) -> None:
        role, report, payload, call = self.role, self.report, self.payload, self.link.call
        latencies = []
        clock = time.perf_counter
        for _ in range(role.count):
            t0 = clock()
            reply = await call(role.dest, payload, role.stall)
            latencies.append(clock() - t0)
            report.count += 1
            report.payload_bytes += len(reply)
            if reply != payload:
                report.wrong += 1
        report.finished = time.monotonic()
        latencies.sort()
        report.latencies_us = (percentile(latencies, 0.5) * 1e6, percentile(latencies, 0.99) * 1e6)
