"""Broker mode against our broker and against a broker that follows the traces (the trace player), over
UNIX and TCP sockets, and the self-test: the same run through a relay that corrupts the broker's replies must fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from elbus_conformance import Trace, parse_trace
from elbus_conformance._catalog import load_traces
from elbus_conformance._net import Timing
from elbus_conformance._player import TracePlayer
from elbus_conformance._report import TraceResult, format_report
from elbus_conformance._runner import run_traces
from elbus_conformance.pytest_plugin import RunningBroker, running_broker

# On loopback 50 ms is ample for a frame that is on its way; a shorter window only weakens "nothing arrives".
TIMING = Timing(step=1.0, silence=0.05, broker_timeout=1.0)


async def _replay(player: TracePlayer, address: str, traces: list[Trace]) -> tuple[list[TraceResult], list[TraceResult]]:
    """The runner's and the player's results for ``traces`` played through ``address``."""
    playing = asyncio.create_task(player.play(traces))
    ran = await run_traces(address, traces, TIMING)
    return ran, await playing


async def test_every_trace_passes_against_the_player_over_unix(trace_player: TracePlayer) -> None:
    traces = load_traces()
    ran, played = await _replay(trace_player, trace_player.address, traces)
    assert all(r.passed for r in ran), format_report(ran)
    assert all(r.passed for r in played), format_report(played)
    assert [r.steps_run for r in ran] == [r.steps_total for r in ran]


async def test_traces_pass_against_the_player_over_tcp() -> None:
    player = TracePlayer(TIMING)
    address = await player.start(host="127.0.0.1", port=0)
    try:
        ran, played = await _replay(player, address, load_traces(["message-qos", "broker-rpc", "handshake-pipelined", "ping"]))
    finally:
        await player.close()
    assert all(r.passed for r in ran + played), format_report(ran) + format_report(played)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_every_trace_passes_against_our_broker(broker: RunningBroker, transport: str) -> None:
    address = broker.unix_path if transport == "unix" else broker.tcp_address
    results = await run_traces(address, load_traces(), Timing(silence=TIMING.silence, broker_timeout=broker.timeout))
    assert all(r.passed for r in results), format_report(results)
    assert sum(r.steps_run for r in results) == sum(r.steps_total for r in results)


STRICT_TEXT = """\
@trace strict
connect a
a< eb 0100
a> eb 0100
a< 01
a> 0100 "x"
a< 01
a< fe 01000000 01
a< 12 03000000 00 "y" 00 "z"
a closes
"""
STRICT_TAIL = 'a< 12 03000000 00 "y" 00 "z"\na closes'


@pytest.mark.parametrize(
    ("sent", "field", "reason"),
    [
        ('a< 12 03000000 01 "y" 00 "z"', "realtime", "expected 00, got 01"),
        ('a< 12 03000000 00 "q" 00 "z"', "sender", "expected 79, got 71"),
        ('a< 13 03000000 00 "y" 00 "z"', "kind", "expected 12, got 13"),
        ('a< 12 04000000 00 "y" 00 "zz"', "length", "expected 03000000, got 04000000"),
        ("a< nothing", "", "nothing complete arrived"),
        ("a< closed", "", "closed the connection"),
        ('a< 12 03000000 00 "y" 00 "z" | fe 02000000 01', "", "does not expect"),
    ],
)
async def test_each_deviation_fails_naming_its_field(trace_player: TracePlayer, sent: str, field: str, reason: str) -> None:
    # the player sends ``sent`` where the runner expects STRICT's last frame
    tail = sent if sent == "a< closed" else f"{sent}\na closes"
    playing = asyncio.create_task(trace_player.play_trace(parse_trace(STRICT_TEXT.replace(STRICT_TAIL, tail))))
    [result] = await run_traces(trace_player.address, [parse_trace(STRICT_TEXT)], TIMING)
    await playing
    assert not result.passed and result.failure is not None
    assert result.failure.field == field and reason in result.failure.reason, format_report([result])
    assert "FAIL strict" in format_report([result])


# --- the self-test: a broken broker is caught -----------------------------------------------


def _trace(name: str) -> list[Trace]:
    return load_traces([name])


@pytest_asyncio.fixture(params=["player", "broker"])
async def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TracePlayer | RunningBroker]:
    """What the relay stands in front of: the trace player, or our broker."""
    if request.param == "broker":
        async with running_broker(tmp_path) as running:
            yield running
        return
    player = TracePlayer(TIMING)
    await player.start(unix_path=str(tmp_path / "player.sock"))
    try:
        yield player
    finally:
        await player.close()


async def _through_relay(
    upstream: TracePlayer | RunningBroker, make_relay: Callable[..., Any], name: str, **options: object
) -> tuple[Any, TraceResult]:
    """Run trace ``name`` through a relay in front of ``upstream``."""
    if isinstance(upstream, RunningBroker):
        relay = await make_relay(upstream.unix_path, **options)
        [result] = await run_traces(relay.address, _trace(name), TIMING)
        return relay, result
    relay = await make_relay(upstream.address, **options)
    playing = asyncio.create_task(upstream.play(_trace(name)))
    [result] = await run_traces(relay.address, _trace(name), TIMING)
    await playing
    return relay, result


@pytest.mark.parametrize("name", ["message-qos", "pubsub"])
async def test_a_faithful_relay_passes(upstream, make_relay, name: str) -> None:  # type: ignore[no-untyped-def]
    relay, result = await _through_relay(upstream, make_relay, name)
    assert result.passed, format_report([result])
    assert not relay.mutated


async def test_one_wrong_ack_code_is_caught(upstream, make_relay) -> None:  # type: ignore[no-untyped-def]
    relay, result = await _through_relay(upstream, make_relay, "message-qos", mutation="wrong-ack-code")
    assert relay.mutated and not result.passed and result.failure is not None
    assert result.failure.field == "code"
    assert result.failure.expected == "fe 0b000000 01" and result.failure.got == "fe 0b000000 77"


async def test_two_reordered_frames_are_caught(upstream, make_relay) -> None:  # type: ignore[no-untyped-def]
    relay, result = await _through_relay(upstream, make_relay, "message-qos", reorder=True)
    assert relay.mutated and not result.passed and result.failure is not None
    assert result.failure.field in {"payload", "kind", "op id", "length", "realtime"}, format_report([result])


async def test_a_dropped_publication_is_caught(upstream, make_relay) -> None:  # type: ignore[no-untyped-def]
    relay, result = await _through_relay(upstream, make_relay, "pubsub", mutation="drop-publication")
    assert relay.mutated and not result.passed and result.failure is not None
    assert "nothing complete arrived" in result.failure.reason or result.failure.field == "payload"
