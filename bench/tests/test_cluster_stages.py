"""The cross-node stages, for a tiny count, on a real nats-server and two elbusd nodes: all delivered, local and cross."""

from __future__ import annotations

import re

import pytest
from elbus_bench.cluster import CLUSTER_STAGES, Bus, main, run_stage
from elbus_bench.measure import FANOUT_SUBSCRIBERS


async def test_every_cluster_stage_local_and_cross() -> None:
    bus = Bus().start()
    try:
        for stage in CLUSTER_STAGES:
            for cross in (False, True):
                m = await run_stage(stage, bus, cross=cross, count=300)
                assert (m.stage, m.count) == (stage, 300 * FANOUT_SUBSCRIBERS if stage == "publish.fanout" else 300)
                if stage == "rpc.latency":
                    assert m.p50_us is not None and m.p99_us is not None and 0 < m.p50_us <= m.p99_us
    finally:
        bus.stop()


def test_one_stage_can_be_run_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--stage", "rpc.latency"]) == 0
    out = capsys.readouterr().out
    assert "rpc.latency" in out and "send+recv" not in out and "publish.fanout" not in out
    assert re.search(r"cross p50 +\d+ µs \((\d+)-\1\)", out), out  # one run: the median and its range are that run
