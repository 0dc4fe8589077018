"""The metrics collector and its HTTP endpoint, fed with snapshots built here (the broker's own are tested with it).

Each exposition is parsed back with prometheus_client's own parser, so what
is checked is what Prometheus would read.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from elbus_server._metrics import BrokerCollector, MetricsServer, metric_names
from elbus_server._stats import BrokerStats, ClientStats


def client(name: str, frames: int, *, queue: int = 0, drops: int = 0, kind: str = "tcp") -> ClientStats:
    return ClientStats(name, kind, frames, frames * 10, frames * 2, frames * 20, queue, drops, 1)


def stats(*clients: ClientStats) -> BrokerStats:
    return BrokerStats(
        12.5,
        100,
        1000,
        200,
        2000,
        clients,
        ops_in={"message": (60, 600), "publish": (40, 400)},
        ops_out={"message": (60, 600), "ack": (140, 840)},
        drops=3,
        acl_denials=4,
        protocol_violations=5,
        refused={"busy": 6, "access": 1},
        queue_size=8192,
    )


def scrape(collector: BrokerCollector) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of one scrape."""
    registry = CollectorRegistry()
    registry.register(collector)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    [found] = [v for found_labels, v in samples[name] if found_labels == labels]
    return found


def test_every_counter_of_the_snapshot_is_exposed() -> None:
    samples = scrape(BrokerCollector(lambda: stats(client("a", 5, queue=3, drops=2), client(".broker", 1, kind="internal"))))
    assert value(samples, "elbus_uptime_seconds") == 12.5
    assert [value(samples, f"elbus_{n}_total") for n in ("frames_read", "bytes_read", "frames_written", "bytes_written")] == [
        100,
        1000,
        200,
        2000,
    ]
    assert value(samples, "elbus_op_frames_read_total", op="publish") == 40
    assert value(samples, "elbus_op_bytes_written_total", op="ack") == 840
    assert value(samples, "elbus_clients", kind="tcp") == value(samples, "elbus_clients", kind="internal") == 1
    assert value(samples, "elbus_subscriptions") == 2
    assert value(samples, "elbus_queue_depth_max") == 3
    troubles = ("slow_consumer_drops", "acl_denials", "protocol_violations")
    assert [value(samples, f"elbus_{n}_total") for n in troubles] == [3, 4, 5]
    assert value(samples, "elbus_refused_registrations_total", reason="busy") == 6
    assert value(samples, "elbus_client_frames_read_total", client="a") == 5
    assert value(samples, "elbus_client_drops_total", client="a") == 2
    assert value(samples, "elbus_client_queue_depth", client="a") == 3


def test_the_queue_depth_histogram_counts_clients_per_bucket() -> None:
    depths = [0, 0, 1, 5, 50, 500, 5000]
    samples = scrape(BrokerCollector(lambda: stats(*(client(f"c{i}", 1, queue=d) for i, d in enumerate(depths)))))
    buckets = {labels["le"]: v for labels, v in samples["elbus_queue_depth_bucket"]}
    assert buckets == {"0.0": 2, "1.0": 3, "10.0": 4, "100.0": 5, "1000.0": 6, "8192.0": 7, "+Inf": 7}
    assert value(samples, "elbus_queue_depth_gsum") == sum(depths)
    assert value(samples, "elbus_queue_depth_gcount") == len(depths)


def test_per_client_series_are_the_busiest_n_only() -> None:
    many = [client(f"c{i:03}", i) for i in range(500)]
    samples = scrape(BrokerCollector(lambda: stats(*many), top_clients=5))
    for name in ("elbus_client_frames_read_total", "elbus_client_bytes_written_total", "elbus_client_queue_depth"):
        assert sorted(labels["client"] for labels, _ in samples[name]) == ["c495", "c496", "c497", "c498", "c499"]
    assert "elbus_client_frames_read_total" not in scrape(BrokerCollector(lambda: stats(*many), top_clients=0))


def test_an_empty_broker_exposes_every_family_that_metric_names_lists() -> None:
    registry = CollectorRegistry()
    registry.register(BrokerCollector(lambda: BrokerStats(0.0, 0, 0, 0, 0, ())))
    families = {family.name for family in text_string_to_metric_families(generate_latest(registry).decode())}
    # The text format writes a gauge histogram's count and sum as gauges of their own.
    written_apart = {"elbus_queue_depth_gcount", "elbus_queue_depth_gsum"}
    assert {name.removesuffix("_total") for name in metric_names()} == families - written_apart
    assert len(metric_names()) == 23


async def test_the_endpoint_takes_each_snapshot_on_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    taken_on: list[int] = []

    def snapshot() -> BrokerStats:
        taken_on.append(threading.get_ident())
        return stats(client("a", 7))

    server = MetricsServer(asyncio.get_running_loop(), snapshot, top_clients=3)
    host, port = server.start("127.0.0.1", 0)
    try:
        url = f"http://{host}:{port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
    finally:
        await asyncio.to_thread(server.close)
    assert "elbus_client_frames_read_total{client=\"a\"} 7.0" in text
    assert taken_on == [loop_thread]
    with pytest.raises(OSError):
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read())
