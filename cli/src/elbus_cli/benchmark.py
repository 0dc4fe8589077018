"""``elbus benchmark``: the original client's benchmark stages, measured with our clients.

Each stage runs ``iters`` iterations split evenly over ``workers`` clients
running concurrently and reports iterations per second. The stages and
their targets are the original's:

- ``send.qos.no`` / ``send.qos.processed``: messages to a name nobody holds
  (``<worker>-null``): the broker looks the target up and, for
  ``processed``, acks ``NOT_REGISTERED``; this measures the sending path.
- ``send+recv.qos.no`` / ``send+recv.qos.processed``: each worker sends to
  itself and receives every frame.
- ``rpc.call``: calls of ``.broker``'s ``benchmark.test`` (an echo).
- ``rpc.call+handle``: each worker calls its own ``benchmark.selftest``
  echo handler, so both RPC sides run in this process.
- ``rpc.call0``: calls without reply to ``<worker>-null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import elbus_aio
import elbus_rpc
from elbus_spec import BROKER_NAME, Code, NotRegistered, QoS, RpcError

from .errors import CliError, ExitCode
from .progress import Progress

__all__ = ["STAGES", "BenchmarkReport", "StageResult", "run_benchmark"]

STAGES = (
    "send.qos.no",
    "send.qos.processed",
    "send+recv.qos.no",
    "send+recv.qos.processed",
    "rpc.call",
    "rpc.call+handle",
    "rpc.call0",
)
_CLIENT_STAGES = STAGES[:4]
# How the RPC layer reports the broker's NOT_REGISTERED ack (-32000 - code).
_RPC_NOT_REGISTERED = -32000 - Code.NOT_REGISTERED

# A worker sending to itself without acks could outrun its own reading; with
# more than a queue's worth in flight the broker would drop it as a slow
# consumer. The sender waits whenever this many frames are unread.
SEND_WINDOW = 1024

Connect = Callable[[str], Awaitable[elbus_aio.Client]]


@dataclass(frozen=True, slots=True)
class StageResult:
    """One stage: ``iters`` iterations in ``seconds``."""

    stage: str
    iters: int
    seconds: float

    @property
    def iters_per_second(self) -> float:
        return self.iters / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "iters": self.iters, "seconds": self.seconds, "iters_per_second": self.iters_per_second}


@dataclass(frozen=True, slots=True)
class BenchmarkReport:
    """The settings of a run and its stage results, in the order they ran."""

    workers: int
    iters_per_worker: int
    payload_size: int
    results: tuple[StageResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "iters": self.workers * self.iters_per_worker,
            "iters_per_worker": self.iters_per_worker,
            "payload_size": self.payload_size,
            "stages": [result.as_dict() for result in self.results],
        }


class _Window:
    """Frames sent but not yet received by one worker, with a wait for the backlog to shrink."""

    __slots__ = ("caught_up", "received", "resume_at")

    def __init__(self) -> None:
        self.received = 0
        self.resume_at = 0
        self.caught_up = asyncio.Event()

    async def before_send(self, sent: int) -> None:
        if sent - self.received >= SEND_WINDOW:
            self.resume_at = sent - SEND_WINDOW // 2
            self.caught_up.clear()
            await self.caught_up.wait()

    def on_receive(self) -> None:
        self.received += 1
        if self.received >= self.resume_at:
            self.caught_up.set()


async def _all(jobs: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` concurrently; the first failure cancels the others and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def _send(client: elbus_aio.Client, count: int, payload: bytes, qos: QoS, progress: Progress) -> None:
    target = f"{client.name}-null"
    for _ in range(count):
        try:
            await client.send(target, payload, qos=qos)
        except NotRegistered:
            pass  # the expected ack: nobody holds the target
        progress.done += 1


async def _send_receive(client: elbus_aio.Client, count: int, payload: bytes, qos: QoS, progress: Progress) -> None:
    window = _Window()

    async def receive() -> None:
        for _ in range(count):
            await client.receive()
            window.on_receive()
            progress.done += 1

    async def send() -> None:
        for sent in range(count):
            await window.before_send(sent)
            await client.send(client.name, payload, qos=qos)

    await _all([receive(), send()])


async def _call(rpc: elbus_rpc.Rpc, target: str, method: str, count: int, payload: bytes, progress: Progress) -> None:
    for _ in range(count):
        result = await rpc.call(target, method, payload, raw=True)
        if result != payload:
            raise CliError(f"{target} {method} returned {len(result)} bytes instead of the {len(payload)} sent")
        progress.done += 1


async def _call0(rpc: elbus_rpc.Rpc, target: str, count: int, payload: bytes, progress: Progress) -> None:
    for _ in range(count):
        try:
            await rpc.call0(target, "test", payload)
        except RpcError as exc:
            if exc.code != _RPC_NOT_REGISTERED:  # the expected error: nobody holds the target
                raise
        progress.done += 1


@contextlib.asynccontextmanager
async def _clients(connect: Connect, name: str, workers: int) -> AsyncIterator[list[elbus_aio.Client]]:
    clients: list[elbus_aio.Client] = []
    try:
        for worker in range(1, workers + 1):
            clients.append(await connect(f"{name}-{worker}"))
        yield clients
    finally:
        for client in clients:
            await client.close()


def _rpc(client: elbus_aio.Client) -> elbus_rpc.Rpc:
    rpc = elbus_rpc.Rpc(client)

    @rpc.method("benchmark.selftest", raw=True)
    def selftest(params: bytes, call: Any) -> bytes:
        return params

    return rpc


async def run_benchmark(
    connect: Connect,
    name: str,
    *,
    workers: int,
    iters: int,
    payload_size: int,
    stages: Sequence[str],
    progress: Progress,
) -> BenchmarkReport:
    """Run ``stages`` (in `STAGES` order) with ``workers`` clients named ``<name>-<n>``.

    ``connect(name)`` opens one client. Raises `CliError` (usage) when there
    are fewer iterations than workers, and whatever a client raises when
    the broker fails.
    """
    if iters < workers:
        raise CliError(f"{iters} iterations cannot be shared by {workers} workers", ExitCode.USAGE)
    per_worker = iters // workers
    payload = b"\xee" * payload_size
    wanted = [stage for stage in STAGES if stage in stages]
    results: list[StageResult] = []

    async def measure(stage: str, jobs: list[Coroutine[Any, Any, None]]) -> None:
        async with progress.stage(stage, per_worker * workers):
            started = time.perf_counter()
            await _all(jobs)
            results.append(StageResult(stage, per_worker * workers, time.perf_counter() - started))

    if any(stage in _CLIENT_STAGES for stage in wanted):
        async with _clients(connect, name, workers) as clients:
            for stage in wanted:
                if stage not in _CLIENT_STAGES:
                    continue
                qos = QoS.NO if stage.endswith(".no") else QoS.PROCESSED
                run = _send_receive if stage.startswith("send+recv") else _send
                await measure(stage, [run(client, per_worker, payload, qos, progress) for client in clients])
    rpc_stages = [stage for stage in wanted if stage not in _CLIENT_STAGES]
    if rpc_stages:
        async with _clients(connect, name, workers) as clients:
            rpcs = [_rpc(client) for client in clients]
            for stage in rpc_stages:
                if stage == "rpc.call":
                    jobs = [_call(rpc, BROKER_NAME, "benchmark.test", per_worker, payload, progress) for rpc in rpcs]
                elif stage == "rpc.call+handle":
                    jobs = [
                        _call(rpc, client.name, "benchmark.selftest", per_worker, payload, progress)
                        for rpc, client in zip(rpcs, clients, strict=True)
                    ]
                else:
                    jobs = [
                        _call0(rpc, f"{client.name}-null", per_worker, payload, progress)
                        for rpc, client in zip(rpcs, clients, strict=True)
                    ]
                await measure(stage, jobs)
    return BenchmarkReport(workers, per_worker, payload_size, tuple(results))
