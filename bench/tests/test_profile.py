"""The profile summary names functions by self and total time; py-spy attaches to a real broker process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from elbus_bench import wire
from elbus_bench.brokers import BrokerProcess
from elbus_bench.profile import Profiler, ProfilerError, summarize

COLLAPSED = """\
run (asyncio/runners.py:118);_run_once (asyncio/base_events.py:1922);data_received (x/_transport.py:90) 60
run (asyncio/runners.py:118);_run_once (asyncio/events.py:1);data_received (x/_transport.py:95);route (x/_routing.py:12) 30
run (asyncio/runners.py:118);select (selectors.py:468) 10
"""


def test_summary_ranks_by_self_time_and_merges_lines_of_one_function() -> None:
    rows = summarize(COLLAPSED, top=2)
    assert rows == [("data_received (x/_transport.py)", 60.0, 90.0), ("route (x/_routing.py)", 30.0, 30.0)]


def test_an_empty_profile_is_an_error() -> None:
    with pytest.raises(ProfilerError, match="no samples"):
        summarize("")


@pytest.mark.skipif(
    not (shutil.which("py-spy") or Path(sys.executable).with_name("py-spy").exists()), reason="py-spy is not installed"
)
async def test_py_spy_samples_the_broker_under_load(tmp_path: Path) -> None:
    async with BrokerProcess("ceiling") as ceiling:
        async with Profiler(ceiling.pid, str(tmp_path / "profile.txt")) as profiler:
            await wire.run_stage("send+recv.qos.no", ceiling.address, count=100_000, workers=2)
        rows = profiler.summary()
    assert any("data_received" in name for name, _, _ in rows)
