"""Brokers for the tests: the ceiling always, ours when it is installed, each in its own subprocess."""

from __future__ import annotations

import pytest
from elbus_bench.brokers import BrokerProcess, ours_available

# Our broker runs on uvloop, as it is deployed and benchmarked.
OURS_LOOP = "uvloop"

BROKERS = ["ceiling", pytest.param("ours", marks=pytest.mark.skipif(not ours_available(), reason="our broker is not installed"))]


@pytest.fixture(params=BROKERS)
async def broker(request: pytest.FixtureRequest):
    async with BrokerProcess(request.param, loop=OURS_LOOP if request.param == "ours" else "uvloop") as running:
        yield running
