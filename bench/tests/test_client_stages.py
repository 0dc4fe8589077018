"""Every stage through our async and blocking clients, for a tiny count, delivers exactly what it sent."""

from __future__ import annotations

import pytest
from elbus_bench.brokers import BrokerProcess, ours_available, sync_available
from elbus_bench.measure import FANOUT_SUBSCRIBERS, RPC_BROKER_STAGES, STAGES

pytestmark = pytest.mark.skipif(not ours_available(), reason="our async client and RPC layer are not installed")


async def test_every_stage_through_the_async_client(broker: BrokerProcess) -> None:
    from elbus_bench import aio

    for stage in STAGES:
        if stage in RPC_BROKER_STAGES and broker.kind == "ceiling":
            continue
        m = await aio.run_stage(stage, broker.address, count=300, workers=2, window=64)
        assert (m.stage, m.count) == (stage, 300 * FANOUT_SUBSCRIBERS if stage == "publish.fanout" else 300)
        if stage == "rpc.latency":
            assert m.p50_us is not None and m.p99_us is not None and 0 < m.p50_us <= m.p99_us


@pytest.mark.skipif(not sync_available(), reason="our blocking client is not installed")
async def test_round_trips_through_the_blocking_client(broker: BrokerProcess) -> None:
    from elbus_bench import sync

    m = await sync.run_stage("rpc.latency", broker.address, count=200)
    assert m.count == 200 and m.p50_us is not None and m.p99_us is not None and 0 < m.p50_us <= m.p99_us
    with pytest.raises(ValueError, match=r"only rpc\.latency"):
        await sync.run_stage("send.qos.no", broker.address, count=1)


async def test_a_call_to_the_missing_broker_core_fails_on_the_ceiling() -> None:
    """The ceiling has no `.broker`: the stage must fail loudly, not count the refusals as calls."""
    from elbus_bench import aio

    from elbus_rpc import RpcError

    async with BrokerProcess("ceiling") as ceiling:
        with pytest.raises(RpcError):
            await aio.run_stage("rpc.call", ceiling.address, count=10, workers=1)
