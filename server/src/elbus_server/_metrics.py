"""Prometheus metrics of a broker, collected at scrape time from the counters it keeps anyway.

Nothing here runs while frames flow. A scrape asks the broker for one
`BrokerStats` snapshot, taken on the broker's event loop (so every figure
belongs to the same instant and no structure is read while it changes), and
turns it into metric families. The HTTP endpoint is `prometheus_client`'s
own server, on a thread of its own; the broker's loop only pays for the
snapshot, once per scrape.

Per-client series exist for the `top_clients` busiest clients only (by
frames read and written), so the number of series stays bounded however
many clients connect; a client that leaves the top N drops out of the
scrape, as Prometheus expects of a vanished target series.

Needs the ``metrics`` extra (``pip install 'elbus-server[metrics]'``): the
broker imports this module only when metrics are asked for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._stats import DEFAULT_METRICS_CLIENTS, BrokerStats, ClientStats

__all__ = ["BrokerCollector", "MetricsServer", "metric_names"]
# Upper bounds of the queue depth histogram's buckets (frames), below the queue size that ends it.
_QUEUE_BUCKETS = (0, 1, 10, 100, 1000)
# How long a scrape waits for the broker's loop to take the snapshot.
_SNAPSHOT_TIMEOUT = 5.0


def _busiest(stats: BrokerStats, count: int) -> list[ClientStats]:
    return heapq.nlargest(count, stats.clients, key=lambda c: (c.r_frames + c.w_frames, c.r_bytes + c.w_bytes))


class BrokerCollector(Collector):
    """A `prometheus_client` collector: each `collect` reads one snapshot from ``snapshot``."""

    def __init__(self, snapshot: Callable[[], BrokerStats], *, top_clients: int = DEFAULT_METRICS_CLIENTS) -> None:
        if top_clients < 0:
            raise ValueError("top_clients must be 0 or more")
        self._snapshot = snapshot
        self.top_clients = top_clients

    def collect(self) -> Iterator[Metric]:
        counter, gauge = CounterMetricFamily, GaugeMetricFamily
        stats = self._snapshot()
        yield gauge("elbus_uptime_seconds", "Seconds since the broker started.", value=stats.uptime)
        for name, value, doc in (
            ("elbus_frames_read", stats.r_frames, "Frames read from clients (the .broker stats r_frames)."),
            ("elbus_bytes_read", stats.r_bytes, "Body bytes of the frames read from clients (r_bytes)."),
            ("elbus_frames_written", stats.w_frames, "Frames routed to clients, acks included (w_frames)."),
            ("elbus_bytes_written", stats.w_bytes, "Body bytes of the frames routed to clients, 6 per ack (w_bytes)."),
        ):
            yield counter(name, doc, value=value)
        for direction, ops, what in (("read", stats.ops_in, "operation"), ("written", stats.ops_out, "kind of frame")):
            frames = counter(f"elbus_op_frames_{direction}", f"Frames {direction}, by {what}.", labels=["op"])
            sizes = counter(f"elbus_op_bytes_{direction}", f"Body bytes {direction}, by {what}.", labels=["op"])
            for op, (count, size) in sorted(ops.items()):
                frames.add_metric([op], count)
                sizes.add_metric([op], size)
            yield frames
            yield sizes
        clients = gauge("elbus_clients", "Registered clients, by how they are connected.", labels=["kind"])
        kinds: dict[str, int] = {}
        for client in stats.clients:
            kinds[client.kind] = kinds.get(client.kind, 0) + 1
        for kind, count in sorted(kinds.items()):
            clients.add_metric([kind], count)
        yield clients
        yield gauge("elbus_subscriptions", "Subscription patterns held by all clients.", value=stats.subscriptions)
        yield from self._queues(stats)
        for name, value, doc in (
            ("elbus_slow_consumer_drops", stats.drops, "Frames dropped because the receiver's queue was full."),
            ("elbus_acl_denials", stats.acl_denials, "Operations and topics denied by access control."),
            ("elbus_protocol_violations", stats.protocol_violations, "Clients dropped for breaking the protocol."),
        ):
            yield counter(name, doc, value=value)
        refused = counter("elbus_refused_registrations", "Registrations refused, by reason.", labels=["reason"])
        for reason, count in sorted(stats.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield from self._per_client(stats)

    @staticmethod
    def _queues(stats: BrokerStats) -> Iterator[Metric]:
        depths = sorted(client.queue for client in stats.clients)
        yield GaugeMetricFamily(
            "elbus_queue_depth_max", "The deepest client queue now (frames).", value=depths[-1] if depths else 0
        )
        bounds = [b for b in _QUEUE_BUCKETS if not stats.queue_size or b < stats.queue_size]
        bounds += [stats.queue_size] if stats.queue_size else []
        buckets = [(str(float(bound)), float(sum(1 for d in depths if d <= bound))) for bound in bounds]
        buckets.append(("+Inf", float(len(depths))))
        yield GaugeHistogramMetricFamily(
            "elbus_queue_depth", "Clients by the frames waiting in their queue now.", buckets=buckets, gsum_value=sum(depths)
        )

    def _per_client(self, stats: BrokerStats) -> Iterator[Metric]:
        busiest = _busiest(stats, self.top_clients)
        for attribute, kind, name, doc in _PER_CLIENT:
            family = kind(name, f"{doc} (the busiest clients only).", labels=["client"])
            for client in busiest:
                family.add_metric([client.name], getattr(client, attribute))
            yield family


_PER_CLIENT: tuple[tuple[str, type[CounterMetricFamily] | type[GaugeMetricFamily], str, str], ...] = (
    ("r_frames", CounterMetricFamily, "elbus_client_frames_read", "Frames read from the client"),
    ("r_bytes", CounterMetricFamily, "elbus_client_bytes_read", "Body bytes read from the client"),
    ("w_frames", CounterMetricFamily, "elbus_client_frames_written", "Frames routed to the client"),
    ("w_bytes", CounterMetricFamily, "elbus_client_bytes_written", "Body bytes routed to the client"),
    ("drops", CounterMetricFamily, "elbus_client_drops", "Frames the client's full queue dropped"),
    ("queue", GaugeMetricFamily, "elbus_client_queue_depth", "Frames waiting for the client now"),
)


def _on_loop(loop: asyncio.AbstractEventLoop, call: Callable[[], BrokerStats]) -> BrokerStats:
    """``call()`` run on ``loop``, from the scraping thread (directly when already on it)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return call()
    future: concurrent.futures.Future[BrokerStats] = concurrent.futures.Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the scraping thread, which reports it
                future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return future.result(_SNAPSHOT_TIMEOUT)


class MetricsServer:
    """The ``/metrics`` endpoint of one broker, served by `prometheus_client` on a thread of its own."""

    def __init__(self, loop: asyncio.AbstractEventLoop, snapshot: Callable[[], BrokerStats], *, top_clients: int) -> None:
        self.registry = CollectorRegistry()
        self.collector = BrokerCollector(lambda: _on_loop(loop, snapshot), top_clients=top_clients)
        self.registry.register(self.collector)
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (0: a free port); returns the bound address. Raises `OSError`."""
        self._http, self._thread = start_http_server(port, host, self.registry)
        self.address = (host, self._http.server_port)
        return self.address

    def close(self) -> None:
        """Stop serving and wait for the server thread to end."""
        if self._http is not None and self._thread is not None:
            self._http.shutdown()
            self._http.server_close()
            self._thread.join(_SNAPSHOT_TIMEOUT)
            self._http = self._thread = None


def metric_names() -> list[str]:
    """The name of every metric a broker exposes (counters with their ``_total``), in the order of a scrape."""
    empty = BrokerStats(0.0, 0, 0, 0, 0, ())
    return [family.name + ("_total" if family.type == "counter" else "") for family in BrokerCollector(lambda: empty).collect()]
