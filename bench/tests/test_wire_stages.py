"""Every wire-level stage, for a tiny count, delivers exactly what it sent (ceiling broker, and ours when installed)."""

from __future__ import annotations

from elbus_bench import wire
from elbus_bench.brokers import BrokerProcess
from elbus_bench.measure import FANOUT_SUBSCRIBERS, RPC_BROKER_STAGES, STAGES


async def test_every_stage_counts_exactly(broker: BrokerProcess) -> None:
    for stage in STAGES:
        if stage in RPC_BROKER_STAGES and broker.kind == "ceiling":
            continue
        m = await wire.run_stage(stage, broker.address, count=600, workers=2, window=64, chunk=16)
        expected = 600 * FANOUT_SUBSCRIBERS if stage == "publish.fanout" else 600
        assert (m.stage, m.count) == (stage, expected)
        assert m.seconds > 0
        if stage == "rpc.latency":
            assert m.p50_us is not None and m.p99_us is not None and 0 < m.p50_us <= m.p99_us


async def test_publish_cost_with_unrelated_subscriptions(broker: BrokerProcess) -> None:
    assert await wire.publish_cost(broker.address, subscriptions=12_000, count=300) > 0


async def test_idle_memory_connects_and_registers_every_client(broker: BrokerProcess) -> None:
    per_client = await wire.idle_memory(broker.rss, broker.address, 200)
    assert per_client >= 0


async def test_stage_over_tcp() -> None:
    async with BrokerProcess("ceiling", tcp=True) as tcp_broker:
        m = await wire.run_stage("send+recv.qos.processed", tcp_broker.address, count=500, workers=1)
        assert m.count == 500
