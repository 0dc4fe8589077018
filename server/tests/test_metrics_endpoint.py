"""The metrics endpoint of a real broker, scraped over HTTP while traffic flows, checked against what was sent.

A background publisher keeps traffic flowing during every scrape; the
exact traffic of each test goes through other operations and other
clients, so its counters can be checked to the frame and the byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from raw_client import RawClient, Running
from reliability_helpers import elbusd_command, free_port

import elbus_aio
from elbus_server import Broker

MakeBroker = Callable[..., Awaitable[Running]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape_now(url: str) -> Samples:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


async def scrape(broker: Broker) -> Samples:
    """One scrape over HTTP, from a thread (the broker's loop answers it meanwhile)."""
    assert broker.metrics_address is not None
    host, port = broker.metrics_address
    return await asyncio.to_thread(_scrape_now, f"http://{host}:{port}/metrics")


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: value for (found, labels), value in samples.items() if found == name}


@contextlib.asynccontextmanager
async def background_traffic(path: str) -> AsyncIterator[None]:
    """Publications streaming to a subscriber for as long as the block runs (QoS 0: no acks)."""
    async with elbus_aio.Client(path, "bg.sub") as sub, elbus_aio.Client(path, "bg.pub") as pub:
        await sub.subscribe("bg/#")

        async def stream() -> None:
            while True:
                await pub.publish("bg/t", b"tick", qos=0)
                await asyncio.sleep(0.001)

        async def drain() -> None:
            async for _ in sub:
                pass

        tasks = [asyncio.create_task(stream()), asyncio.create_task(drain())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_scrape_while_traffic_flows_counts_what_was_sent(make_broker: MakeBroker) -> None:
    running = await make_broker(metrics="127.0.0.1:0", metrics_clients=100)
    async with background_traffic(running.path):
        async with elbus_aio.Client(running.path, "m.rx") as rx, elbus_aio.Client(running.tcp, "m.tx") as tx:
            await asyncio.sleep(0.05)
            before = await scrape(running.broker)
            for _ in range(50):
                await tx.send("m.rx", b"0123456789")
            for _ in range(20):
                await tx.broadcast("m.rx", b"0123456789")
            for _ in range(70):
                await rx.receive(timeout=3)
            after = await scrape(running.broker)
    body = len("m.rx") + 1 + 10
    assert get(after, "elbus_client_frames_read_total", client="m.tx") == 70
    assert get(after, "elbus_client_bytes_read_total", client="m.tx") == 70 * body
    assert get(after, "elbus_client_frames_written_total", client="m.rx") == 70
    assert get(after, "elbus_client_bytes_written_total", client="m.rx") == 70 * body
    assert get(after, "elbus_client_frames_written_total", client="m.tx") == 70  # the acks
    assert get(after, "elbus_client_bytes_written_total", client="m.tx") == 70 * 6

    def delta(name: str, **labels: str) -> float:
        return get(after, name, **labels) - get(before, name, **labels)

    # The background traffic publishes unacknowledged: the other kinds are ours alone.
    assert delta("elbus_op_frames_read_total", op="message") == 50
    assert delta("elbus_op_bytes_read_total", op="message") == 50 * body
    assert delta("elbus_op_frames_read_total", op="broadcast") == delta("elbus_op_frames_written_total", op="broadcast") == 20
    assert delta("elbus_op_frames_written_total", op="message") == 50
    assert delta("elbus_op_frames_written_total", op="ack") == 70
    assert delta("elbus_op_frames_read_total", op="publish") > 0, "the background traffic flowed during the scrapes"
    assert get(after, "elbus_clients", kind="tcp") == 1 and get(after, "elbus_clients", kind="local_ipc") == 3
    assert get(after, "elbus_subscriptions") == 6  # .broker/warn for each of the 4 clients and .broker, and bg/#
    for samples in (before, after):  # one scrape is one instant: the parts add up to the totals
        for what in ("frames_read", "bytes_read", "frames_written", "bytes_written"):
            total = get(samples, f"elbus_{what}_total")
            parts = by_label(samples, f"elbus_op_{what}_total", "op")
            assert sum(parts.values()) == total, (what, parts, total)


async def test_drops_denials_violations_and_refusals_are_counted(make_broker: MakeBroker) -> None:
    running = await make_broker(metrics="127.0.0.1:0", queue_size=4)
    full = await running.broker.register("m.full")  # an in-process client that never reads: 4 frames, then drops
    async with elbus_aio.Client(running.path, "m.tx") as tx:
        for _ in range(6):
            await tx.send("m.full", b"x", qos=0)
        await tx.send("m.tx", b"sync")  # acknowledged: the six before it are routed
        await tx.receive(timeout=3)
        with pytest.raises(elbus_aio.Busy):
            await elbus_aio.connect(running.path, "m.tx")
        bad = await RawClient.register(running.path, "m.bad")
        bad.write(bytes.fromhex("010000007f03000000616263"))  # an unknown operation
        assert await bad.closed()
        samples = await scrape(running.broker)
    assert full.dropped == 2
    assert get(samples, "elbus_slow_consumer_drops_total") == 2 and get(samples, "elbus_client_drops_total", client="m.full") == 2
    assert get(samples, "elbus_client_queue_depth", client="m.full") == 4 == get(samples, "elbus_queue_depth_max")
    assert get(samples, "elbus_refused_registrations_total", reason="busy") == 1
    assert get(samples, "elbus_protocol_violations_total") == 1
    assert get(samples, "elbus_queue_depth_bucket", le="+Inf") == get(samples, "elbus_queue_depth_gcount") == 3


async def test_the_endpoint_stops_with_the_broker(sock_dir: Path) -> None:
    broker = Broker(metrics=":0")
    await broker.serve_unix(sock_dir / "m.sock")
    assert broker.metrics_address is not None
    host, port = broker.metrics_address
    assert host == "127.0.0.1" and (await scrape(broker))
    await broker.close()
    with pytest.raises(OSError):
        await asyncio.to_thread(_scrape_now, f"http://{host}:{port}/metrics")


@pytest.mark.parametrize("address", ["9100", "/tmp/metrics.sock", "host:port"])
def test_a_bad_metrics_address_is_refused_before_anything_starts(address: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        Broker(metrics=address)


def test_elbusd_serves_metrics_and_says_where(sock_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*elbusd_command(), "-B", str(sock_dir / "d.sock"), "--metrics", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(3)]
        assert f"http://127.0.0.1:{port}/metrics" in banner[-1], banner
        samples = _scrape_now(f"http://127.0.0.1:{port}/metrics")
        assert get(samples, "elbus_clients", kind="internal") == 1
    finally:
        proc.terminate()
        proc.wait(10)


# Runs elbusd where prometheus_client cannot be imported, as when the metrics extra is not installed.
_WITHOUT_PROMETHEUS = """
import sys

class NoPrometheus:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "prometheus_client":
            raise ImportError("not installed")
        return None

sys.meta_path.insert(0, NoPrometheus())
from elbus_server.elbusd import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_extra_elbusd_names_it_and_stops(sock_dir: Path) -> None:
    run = subprocess.run([sys.executable, "-c", _WITHOUT_PROMETHEUS, "-B", str(sock_dir / "x.sock"), "--metrics", ":0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "pip install 'elbus-server[metrics]'" in run.stderr, run.stderr
    assert not (sock_dir / "x.sock").exists()
