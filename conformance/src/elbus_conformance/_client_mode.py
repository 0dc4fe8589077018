"""Client mode: the trace player is the broker, a client library performs the trace's actions.

A `Driver` adapts one client library: it connects, starts operations
without waiting (their outcome is awaited before the client closes, so one
client waiting for an ack never stalls the others), receives frames and
closes. `run_client_trace` plans the trace (`plan_client_trace`: the
written ``a! ...`` actions, or actions derived from the client bytes, and
the connections a raw socket plays), plays its broker side with a fresh
`TracePlayer`, runs the actions through the driver, and fails on the first
byte the client writes that the trace does not, on an outcome other than
the trace's ack code, or on a frame the library hands over differently
from what the broker sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from elbus_spec import Code, Kind
from elbus_spec import codec as spec_codec

from ._client_plan import PlanStep, Receive, plan_client_trace
from ._format import format_step
from ._model import Do, Expect, Trace
from ._net import DEFAULT_TIMING, Timing
from ._pattern import example
from ._player import TracePlayer
from ._report import Failure, TraceResult, count_steps, step_failure, unit_failure
from ._runner import Replay
from ._stream import Side, Stage

__all__ = ["Driver", "AsyncClientDriver", "SyncClientDriver", "run_client_trace", "run_client_traces", "Action", "parse_action"]

_KINDS = {"message": Kind.MESSAGE, "broadcast": Kind.BROADCAST, "publication": Kind.PUBLISH}
_OPERATIONS = ("send", "broadcast", "publish", "subscribe", "unsubscribe", "exclude", "unexclude", "publish_for")
# Operations on topic patterns (no payload), and where the payload is among an operation's arguments.
_TOPIC_OPERATIONS = ("subscribe", "unsubscribe", "exclude", "unexclude")
_PAYLOAD_ARG = {"send": 1, "broadcast": 1, "publish": 1, "publish_for": 2}
# A blocking wait for an ack must end on its own: an abandoned worker thread would outlive the run.
_SYNC_WAIT = 10.0


class Driver(Protocol):
    """What client mode needs of a client library (each call bounded by ``timeout`` seconds).

    A library that does not report the realtime flag of deliveries sets
    ``realtime_reported = False`` on its driver; the flag is then not compared.
    """

    async def connect(self, address: str, name: str, timeout: float) -> Any:
        """A connected, registered client; raises the library's error (with a ``code``) when refused."""

    def start(self, client: Any, verb: str, args: list[str], payload: bytes, qos: int) -> Awaitable[None]:
        """Write one operation now; the awaitable ends at its ack (raising the broker's error) or at once for QoS 0."""

    async def receive(self, client: Any, timeout: float) -> Any:
        """The next frame the library delivers (an `elbus_spec.Frame`); raises TimeoutError."""

    async def close(self, client: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Action:
    """One ``a! verb ...`` step, its options taken apart."""

    verb: str
    args: tuple[str, ...]
    qos: int = 1
    result: int = Code.OK
    realtime: bool = False


def _payload(text: str) -> bytes:
    """An action's payload argument: text, or ``hex:...`` for bytes that are not UTF-8."""
    return bytes.fromhex(text[4:]) if text.startswith("hex:") else text.encode()


def parse_action(step: Do) -> Action:
    """The action of ``step``; raises ValueError for an unknown option."""
    args: list[str] = []
    options: dict[str, Any] = {}
    words = iter(step.args)
    for word in words:
        if word == "--qos":
            options["qos"] = int(next(words))
        elif word == "--result":
            options["result"] = int(next(words), 16)
        elif word == "--realtime":
            options["realtime"] = True
        elif word.startswith("--"):
            raise ValueError(f"unknown option {word!r} in {format_step(step)!r}")
        else:
            args.append(word)
    return Action(step.verb, tuple(args), **options)


@dataclass
class _Session:
    """The library side of one trace."""

    driver: Driver
    address: str
    timing: Timing
    clients: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, list[tuple[Do, int, Awaitable[None]]]] = field(default_factory=dict)

    def fail(self, step: Do, reason: str, **details: str) -> Failure:
        return Failure(step.line, format_step(step), reason, **details)

    async def run(self, step: Do) -> Failure | None:
        try:
            return await self._run(step, parse_action(step))
        except Exception as exc:  # whatever the library raises where the trace expects none is the finding
            return self.fail(step, f"the library raised {exc!r}")

    async def _run(self, step: Do, action: Action) -> Failure | None:
        if action.verb == "connect":
            return await self._connect(step, action)
        client = self.clients.get(step.conn)
        if client is None:
            return self.fail(step, "the client is not connected")
        if action.verb in _OPERATIONS:
            at = _PAYLOAD_ARG.get(action.verb)
            payload = b"" if at is None else _payload(action.args[at])
            outcome = self.driver.start(client, action.verb, list(action.args), payload, action.qos)
            self.pending.setdefault(step.conn, []).append((step, action.result, outcome))
            await asyncio.sleep(0)  # an operation started as a task writes its frame in its first step: before the next one
            return None
        if action.verb == "receive":
            return await self._receive(step, action, client)
        if action.verb == "close":
            failure = await self.settle(step.conn)
            await asyncio.wait_for(self.driver.close(client), self.timing.step)
            del self.clients[step.conn]
            return failure
        return self.fail(step, f"unknown action {action.verb!r}")

    async def _connect(self, step: Do, action: Action) -> Failure | None:
        try:
            self.clients[step.conn] = await asyncio.wait_for(
                self.driver.connect(self.address, action.args[0], self.timing.step), self.timing.step * 2
            )
        except TimeoutError:
            return self.fail(step, "connecting timed out")
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code == action.result != Code.OK:
                return None
            return self.fail(
                step, f"connecting raised {exc!r}", expected=f"{action.result:02x}", got=f"{code:02x}" if code else ""
            )
        if action.result != Code.OK:
            return self.fail(
                step, "the library reported success for a refused registration", expected=f"{action.result:02x}", got="01"
            )
        return None

    async def _receive(self, step: Do, action: Action, client: Any) -> Failure | None:
        kind = action.args[0]
        try:
            frame = await self.driver.receive(client, self.timing.step)
        except TimeoutError:
            return self.fail(step, f"the library delivered nothing within {self.timing.step}s")
        sender, *rest = action.args[1:]
        topic = rest[0] if kind == "publication" else None
        realtime = getattr(self.driver, "realtime_reported", True)
        expected = (_KINDS[kind], sender, topic, _payload(rest[-1]), action.realtime if realtime else None)
        got = (frame.kind, frame.sender, frame.topic, bytes(frame.payload), bool(frame.realtime) if realtime else None)
        if got != expected:
            return self.fail(step, "the library delivered another frame", expected=repr(expected), got=repr(got))
        return None

    async def receive_unit(self, step: Receive) -> Failure | None:
        """The library's next frame, encoded back as the broker frame it stands for, must match ``step.unit``."""
        shown = Expect(step.conn, (step.unit,), note="handed over by the library", line=step.line)
        client = self.clients.get(step.conn)
        if client is None:
            return step_failure(shown, "the client is not connected")
        try:
            frame = await self.driver.receive(client, self.timing.step)
        except TimeoutError:
            return step_failure(shown, f"the library delivered nothing within {self.timing.step}s")
        except Exception as exc:  # whatever the library raises where a frame is due is the finding
            return step_failure(shown, f"the library raised {exc!r}")
        expected = example(step.unit)
        realtime = int(frame.realtime) if getattr(self.driver, "realtime_reported", True) else expected[5]
        payload = bytes(frame.payload)
        if frame.kind == Kind.PUBLISH:
            got = spec_codec.encode_publication_delivery(realtime, frame.sender, frame.topic, payload)
        elif frame.kind == Kind.BROADCAST:
            got = spec_codec.encode_broadcast_delivery(realtime, frame.sender, payload)
        else:
            got = spec_codec.encode_message_delivery(realtime, frame.sender, payload)
        failure = unit_failure(shown, Side.BROKER, Stage.FRAMES, step.unit, got)
        if failure is None:
            return None
        reason = f"the library delivered another frame: {failure.reason}"
        return Failure(failure.line, failure.step, reason, failure.field, failure.expected, failure.got)

    async def settle(self, conn: str) -> Failure | None:
        """Wait for the outcome of every operation ``conn`` started; the first that differs from its ack code."""
        failures = [await self._outcome(step, result, outcome) for step, result, outcome in self.pending.pop(conn, [])]
        return next((f for f in failures if f is not None), None)

    async def _outcome(self, step: Do, result: int, outcome: Awaitable[None]) -> Failure | None:
        try:
            await asyncio.wait_for(outcome, self.timing.step)
        except TimeoutError:
            return self.fail(step, f"the operation did not complete within {self.timing.step}s")
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code == result:
                return None
            return self.fail(step, f"the operation raised {exc!r}", expected=f"{result:02x}", got=f"{code:02x}" if code else "")
        if result != Code.OK:
            return self.fail(step, "the operation succeeded", expected=f"{result:02x}", got="01")
        return None

    async def close(self) -> None:
        for conn in list(self.pending):
            await self.settle(conn)
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.driver.close(client), self.timing.step)


async def _drive(steps: Iterable[PlanStep], session: _Session, raw: Replay) -> Failure | None:
    """The client side of a plan, in order: library actions and receives, raw connections' steps; the first failure."""
    for step in steps:
        if isinstance(step, Do):
            failure = await session.run(step)
        elif isinstance(step, Receive):
            failure = await session.receive_unit(step)
        else:
            failure = await raw.step(step)
        if failure is not None:
            return failure
    return None


async def run_client_trace(driver: Driver, trace: Trace, timing: Timing = DEFAULT_TIMING) -> TraceResult:
    """Play ``trace`` with its client side performed by ``driver``'s library; never raises for what the library does.

    A broker-only trace is not played: its result has no steps run and says why in ``status``.
    """
    plan = plan_client_trace(trace)
    if plan.reason:
        return TraceResult(trace, 0, count_steps(trace), None, 0.0, plan.status)
    directory = tempfile.mkdtemp(prefix="elbus-client-mode-")
    player = TracePlayer(timing)
    started = time.monotonic()
    try:
        await player.start(unix_path=str(Path(directory) / "player.sock"))
        playing = asyncio.create_task(player.play_trace(plan.trace))
        session = _Session(driver, player.address, timing)
        raw = Replay(player.address, timing)
        driving = asyncio.create_task(_drive(plan.steps, session, raw))
        try:
            await asyncio.wait({playing, driving}, return_when=asyncio.FIRST_COMPLETED)
            if playing.done() and playing.result().failure is not None:
                driving.cancel()  # the player has stopped: what the client side waits for will not come
            [outcome] = await asyncio.gather(driving, return_exceptions=True)
            if isinstance(outcome, Exception):
                raise outcome
            failure = outcome if isinstance(outcome, Failure) else None  # None also when cancelled above
        finally:
            driving.cancel()
            await session.close()
            await raw.close()
        played = await playing
    finally:
        await player.close()
        shutil.rmtree(directory, ignore_errors=True)
    # Wrong bytes from the client are the cause of whatever the library then reports (a lost connection, say).
    if played.failure is not None and (played.failure.field or failure is None):
        failure = played.failure
    return TraceResult(trace, played.steps_run, played.steps_total, failure, time.monotonic() - started, plan.status)


async def run_client_traces(driver: Driver, traces: Iterable[Trace], timing: Timing = DEFAULT_TIMING) -> list[TraceResult]:
    """Every trace in turn; broker-only ones are listed with their reason, not played."""
    return [await run_client_trace(driver, trace, timing) for trace in traces]


class AsyncClientDriver:
    """Client mode for `elbus_aio` (or any library with its API)."""

    def __init__(self, module: Any = None) -> None:
        if module is None:
            import elbus_aio as module
        self.module = module

    async def connect(self, address: str, name: str, timeout: float) -> Any:
        return await self.module.connect(address, name, timeout=timeout)

    def start(self, client: Any, verb: str, args: list[str], payload: bytes, qos: int) -> Awaitable[None]:
        if verb in _TOPIC_OPERATIONS or verb == "publish_for":
            # no _nowait variant: the coroutine writes its frame in its first step, which this task runs next
            if verb == "publish_for":
                call = client.publish_for(args[0], args[1], payload, qos=qos)
            else:
                call = getattr(client, verb)(*args, qos=qos)
            started: Awaitable[None] = asyncio.ensure_future(call)
            return started
        method = {"send": client.send_nowait, "broadcast": client.broadcast_nowait, "publish": client.publish_nowait}[verb]
        return method(args[0], payload, qos=qos)  # type: ignore[no-any-return]

    async def receive(self, client: Any, timeout: float) -> Any:
        return await client.receive(timeout=timeout)

    async def close(self, client: Any) -> None:
        await client.close()


class SyncClientDriver:
    """Client mode for the blocking `elbus_client` (its blocking calls run in worker threads)."""

    def __init__(self, module: Any = None) -> None:
        if module is None:
            import elbus_client as module
        self.module = module

    async def connect(self, address: str, name: str, timeout: float) -> Any:
        return await asyncio.to_thread(self.module.connect, address, name, timeout=timeout)

    def start(self, client: Any, verb: str, args: list[str], payload: bytes, qos: int) -> Awaitable[None]:
        if verb in _TOPIC_OPERATIONS:
            pending = getattr(client, f"{verb}_nowait")(*args, qos=qos)
        elif verb == "publish_for":
            pending = client.publish_for_nowait(args[0], args[1], payload, qos=qos)
        else:
            pending = getattr(client, f"{verb}_nowait")(args[0], payload, qos=qos)
        wait: Callable[[float], None] = pending.wait
        return asyncio.ensure_future(asyncio.to_thread(wait, _SYNC_WAIT))  # a task: its thread waits whether awaited or not

    async def receive(self, client: Any, timeout: float) -> Any:
        return await asyncio.to_thread(client.receive, timeout)

    async def close(self, client: Any) -> None:
        await asyncio.to_thread(client.close)
