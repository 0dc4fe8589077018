"""The wire generator fails loudly when frames are refused, instead of counting them as delivered."""

from __future__ import annotations

import pytest
from elbus_bench import wire
from elbus_bench.brokers import BrokerProcess
from elbus_bench.measure import StageError


async def test_rpc_call_to_a_broker_without_a_broker_core_is_an_error() -> None:
    async with BrokerProcess("ceiling") as ceiling:
        with pytest.raises(StageError, match=r"stalled|errors"):
            # the ceiling acks 0x71 for `.broker` and never replies; a short stall bound keeps this quick
            await wire.run_stage("rpc.call", ceiling.address, count=50, workers=1, stall_timeout=0.5)
