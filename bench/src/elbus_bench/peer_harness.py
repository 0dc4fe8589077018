"""The peer comparison's harness: every participant in its own process, on a start barrier.

A `Workload` (one-to-one QoS 0, fan-out 1 -> 10, sequential calls) on a
`Setup` (our broker over a UNIX socket or TCP with busy polling on or off, or
nats-server over TCP) becomes a list of `participants.Role`. `run_roles`
starts each in its own process from a fork server (the client libraries are
imported once, not per participant), waits until all are connected (the
listening ones first), records the broker's CPU time, says "go" to all at
once, collects their reports, and `check`s every count and byte. The same
code runs both systems with the same number of participants; only the
`peer_links.Link` behind each participant differs.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from elbus_server import DEFAULT_BUSY_POLL

from . import participants
from .broker_settings import FLOOD
from .brokers import BrokerProcess
from .measure import FANOUT_SUBSCRIBERS
from .participants import Report, Role

__all__ = [
    "SETUPS",
    "WORKLOADS",
    "HarnessError",
    "PeerResults",
    "Run",
    "Setup",
    "Workload",
    "check",
    "roles_for",
    "run_roles",
    "start_broker",
]

READY_TIMEOUT = 30.0  # seconds for every participant to connect
RECEIVING = ("receiver", "subscriber", "caller")  # the kinds whose counts are the deliveries of a run


class HarnessError(RuntimeError):
    """A participant died, or did not answer the barrier in time."""


@dataclass(frozen=True, slots=True)
class Workload:
    name: str  # "one-to-one", "fan-out" or "rpc"
    count: int  # messages per sender, publications, or calls per caller
    pairs: int = 1  # sender/receiver or caller/responder pairs (fan-out: always 1 publisher)
    payload_size: int = 100

    @property
    def unit(self) -> str:
        return {"one-to-one": "msgs/s", "fan-out": "deliveries/s", "rpc": "calls/s"}[self.name]


@dataclass(frozen=True, slots=True)
class Setup:
    system: str  # "elbus" or "nats"
    transport: str  # "unix" or "tcp"
    busy_poll: bool = False  # our broker's busy polling (elbusd --busy-poll)

    @property
    def label(self) -> str:
        if self.system == "nats":
            return "NATS TCP"
        poll = f"busy-poll {round(DEFAULT_BUSY_POLL * 1e6)} µs" if self.busy_poll else "busy-poll off"
        return f"elbus {self.transport.upper()} {poll}"


WORKLOADS = (Workload("one-to-one", 200_000), Workload("fan-out", 50_000), Workload("rpc", 5_000))
SETUPS = (
    Setup("elbus", "unix", True),
    Setup("elbus", "unix", False),
    Setup("elbus", "tcp", True),
    Setup("elbus", "tcp", False),
    Setup("nats", "tcp"),
)


def start_broker(setup: Setup) -> BrokerProcess:
    """The broker of a setup, not yet started: elbusd with the flood settings, or nats-server."""
    if setup.system == "nats":
        return BrokerProcess("nats")
    settings = FLOOD.with_busy_poll(None if setup.busy_poll else 0)
    return BrokerProcess("elbusd", tcp=setup.transport == "tcp", settings=settings)


def roles_for(workload: Workload, system: str, broker: BrokerProcess, stall: float = 10.0) -> tuple[list[Role], list[Role]]:
    """The participants of one run: (the listening ones, started first; the sending ones)."""
    tag = uuid.uuid4().hex[:8]
    address = broker.url if system == "nats" else broker.address
    n, size = workload.count, workload.payload_size

    def role(kind: str, name: str, dest: str) -> Role:
        return Role(system, kind, address, f"bench.{tag}.{name}", dest, n, size, stall)

    if workload.name == "fan-out":
        topic = f"bench/{tag}/fanout" if system == "elbus" else f"bench.{tag}.fanout"
        subs = [role("subscriber", f"sub{i}", topic) for i in range(FANOUT_SUBSCRIBERS)]
        return subs, [role("publisher", "pub", topic)]
    listen_kind, send_kind = ("responder", "caller") if workload.name == "rpc" else ("receiver", "sender")
    # For elbus the destination is the listener's client name; for NATS a subject of the same spelling.
    listeners = [role(listen_kind, f"{listen_kind}{i}", f"bench.{tag}.{listen_kind}{i}") for i in range(workload.pairs)]
    senders = [role(send_kind, f"{send_kind}{i}", listener.name) for i, listener in enumerate(listeners)]
    return listeners, senders


@dataclass
class Run:
    """One run of one workload: what was delivered, in how long, for how much CPU; ``problems`` empty if all counts are exact."""

    delivered: int
    seconds: float
    broker_cpu: float
    clients_cpu: float
    latencies_us: tuple[float, float] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_1000(self) -> float:
        """CPU milliseconds (broker plus every client) per 1,000 delivered messages or calls."""
        return (self.broker_cpu + self.clients_cpu) / self.delivered * 1e6 if self.delivered else 0.0


@dataclass
class PeerResults:
    """Every run of every (workload, setup), and what went wrong in the others."""

    workloads: tuple[Workload, ...]
    setups: tuple[Setup, ...]
    rounds: int
    runs: dict[tuple[str, str], list[Run]] = field(default_factory=dict)  # (workload name, setup label) -> runs
    failures: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def fail(self, key: tuple[str, str], problems: list[str]) -> None:
        self.failures.setdefault(key, []).extend(problems)


_VERBS = {"sender": "sent", "publisher": "published", "caller": "completed", "responder": "answered"}


def check(roles: list[Role], reports: list[Report]) -> list[str]:
    """Every way the reports fall short of the roles: errors, counts, payload bytes, payload sizes."""
    problems = []
    by_name = {r.name: r for r in reports}
    for role in roles:
        report = by_name.get(role.name)
        if report is None:
            problems.append(f"{role.name}: no report")
            continue
        if report.error:
            problems.append(f"{role.name}: {report.error}")
        verb = _VERBS.get(role.kind, "received")
        if report.count != role.count:
            problems.append(f"{role.name}: {verb} {report.count} of {role.count}")
        if report.wrong:
            what = "replies differ from the request" if role.kind == "caller" else "payloads of the wrong size"
            problems.append(f"{role.name}: {report.wrong} {what}")
        if report.payload_bytes != report.count * role.payload_size:
            problems.append(f"{role.name}: {report.payload_bytes} payload bytes in {report.count} of {role.payload_size} B")
    return problems


class _Participant:
    def __init__(self, ctx: ForkServerContext, role: Role) -> None:
        self.role = role
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(target=participants.run, args=(role, child), name=role.name, daemon=True)
        self.process.start()
        child.close()

    def end(self) -> None:
        """Close the pipe (one still waiting for "go" takes that as "stop") and reap the process."""
        self.conn.close()
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@functools.cache
def _fork_server() -> ForkServerContext:
    """One fork server per harness process, with the participants' libraries imported before it forks."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["elbus_bench.participants"])
    return ctx


async def _collect(group: list[_Participant], timeout: float) -> dict[str, object]:
    """One message from every participant of ``group``; raises HarnessError if one dies or the time runs out."""
    got: dict[str, object] = {}
    pending = list(group)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        waitables = [p.conn for p in pending] + [p.process.sentinel for p in pending]
        if left <= 0 or not await asyncio.to_thread(wait, waitables, left):
            raise HarnessError(f"no answer within {timeout:g} s from {', '.join(p.role.name for p in pending)}")
        for p in list(pending):
            try:
                if p.conn.poll():
                    got[p.role.name] = p.conn.recv()
                    pending.remove(p)
                    continue
            except EOFError:  # it closed the pipe without a word: it is exiting
                p.process.join(1.0)
            if not p.process.is_alive():
                raise HarnessError(f"{p.role.name} exited with {p.process.exitcode} without a report")
    return got


async def run_roles(broker: BrokerProcess, listeners: list[Role], senders: list[Role], timeout: float = 120.0) -> Run:
    """Run one set of participants against a started ``broker``; the Run's problems list what went short."""
    ctx = _fork_server()
    started: list[_Participant] = []
    try:
        for group in (listeners, senders):  # listeners connected (and subscribed) before anyone sends
            batch = [_Participant(ctx, role) for role in group]
            started += batch
            answers = await _collect(batch, READY_TIMEOUT)
            failed = [a for a in answers.values() if isinstance(a, Report)]
            if failed:
                return Run(0, 0.0, 0.0, 0.0, problems=[f"{r.name}: {r.error}" for r in failed])
        responders = [p for p in started if p.role.kind == "responder"]
        others = [p for p in started if p.role.kind != "responder"]
        cpu = broker.cpu_seconds()
        t0 = time.monotonic()
        for p in started:
            p.conn.send("go")
        answers = await _collect(others, timeout)
        for p in responders:
            p.conn.send("stop")
        answers.update(await _collect(responders, timeout))
        broker_cpu = broker.cpu_seconds() - cpu
    finally:
        for p in started:
            p.end()
    reports = [a for a in answers.values() if isinstance(a, Report)]
    roles = listeners + senders
    receiving = [r for r in reports if r.kind in RECEIVING]
    callers = [r for r in reports if r.kind == "caller" and r.latencies_us]
    return Run(
        delivered=sum(r.count for r in receiving),
        seconds=max((r.finished for r in receiving), default=t0) - t0,
        broker_cpu=broker_cpu,
        clients_cpu=sum(r.cpu for r in reports),
        latencies_us=callers[0].latencies_us if len(callers) == 1 else None,
        problems=check(roles, reports),
    )
