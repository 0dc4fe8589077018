"""The NATS peer workloads run against a real nats-server on loopback and count exactly.

Run by ``make bench-peers`` (``ELBUS_PEERS=1``), which installs nats-server, not by ``make test``:
about one fresh nats-py subscription in twenty receives nothing on this machine (reproduced with
nats-py alone, no project code), and a third-party race must not decide whether the suite is green.
"""

from __future__ import annotations

import os

import pytest
from elbus_bench.brokers import BrokerProcess, nats_available
from elbus_bench.measure import FANOUT_SUBSCRIBERS

pytestmark = [
    pytest.mark.skipif(not os.environ.get("ELBUS_PEERS"), reason="run by make bench-peers (ELBUS_PEERS=1)"),
    pytest.mark.skipif(not nats_available(), reason="nats-server or nats-py is not installed"),
]


async def test_peer_workloads_count_exactly() -> None:
    from elbus_bench import peers

    async with BrokerProcess("nats") as server:
        assert server.transport == "tcp" and server.address.startswith("127.0.0.1:")
        one = await peers.run_stage("send+recv.qos.no", server.url, count=500, window=64)
        fan = await peers.run_stage("publish.fanout", server.url, count=200, window=64)
        lat = await peers.run_stage("rpc.latency", server.url, count=100)
    assert (one.count, fan.count, lat.count) == (500, 200 * FANOUT_SUBSCRIBERS, 100)
    assert lat.p50_us is not None and lat.p99_us is not None and 0 < lat.p50_us <= lat.p99_us
