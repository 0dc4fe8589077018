"""How client mode plans a trace without actions: derived actions, renumbered op ids, raw connections, broker-only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from elbus_conformance import parse_trace, plan_client_trace
from elbus_conformance._client_plan import Receive
from elbus_conformance._format import format_step
from elbus_conformance._model import Do, Expect, Send

HEAD = """\
@trace t
connect a
a< eb 0100
a> eb 0100
a< 01
a> 0300 "t.a"
a< 01
"""


def _plan(body: str, head: str = HEAD):  # type: ignore[no-untyped-def]
    return plan_client_trace(parse_trace(head + body))


def _lines(steps) -> list[str]:  # type: ignore[no-untyped-def]
    """The actions, writes and expectations, without their notes."""
    return [format_step(replace(s, note="")) for s in steps if isinstance(s, Do | Send | Expect)]


def test_actions_are_derived_and_op_ids_renumbered() -> None:
    plan = _plan(
        """\
a> 1e000000 52 05000000 "t.b" 00 "x" | 000000000000000000 | ffffffff 12 04000000 "t.b" 00 # two frames around a ping
a< fe 1e000000 71
a> 28000000 c2 05000000 "x/#" 00 "y"
a< fe 28000000 01
a< 01 09000000 01 "t.p" 00 "x/1" 00 "z"
a closes
"""
    )
    assert plan.status == "ran" and plan.raw == {}
    assert _lines(plan.trace.steps)[6:] == [
        "a! send t.b x --qos 1 --result 71",
        "a! send t.b '' --qos 0",
        'a> 01000000 52 05000000 "t.b" 00 "x" | 02000000 12 04000000 "t.b" 00',
        "a< fe 01000000 71",
        "a! subscribe 'x/#' y --qos 3",
        'a> 03000000 c2 05000000 "x/#" 00 "y"',
        "a< fe 03000000 01",
        'a< 01 09000000 01 "t.p" 00 "x/1" 00 "z"',
        "a! close",
    ]
    assert [type(s).__name__ for s in plan.steps] == ["Do", "Do", "Do", "Do", "Receive", "Do"]
    receive = plan.steps[4]
    assert isinstance(receive, Receive) and receive.conn == "a"


def test_a_refused_registration_is_a_connect_expecting_its_code() -> None:
    plan = _plan("a< closed\n", HEAD.rsplit("a< 01", 1)[0] + "a< 76\n")
    assert plan.status == "ran"
    assert _lines(plan.trace.steps)[0] == "a! connect t.a --result 76"


def test_the_bus_rt_extensions_become_their_library_calls() -> None:
    plan = _plan(
        'a> 01000000 44 01000000 "x"\na< fe 01000000 01\n'
        'a> 02000000 45 03000000 "x" 00 "y"\na< fe 02000000 01\n'
        'a> 03000000 06 09000000 "t" 00 "t.b" 00 "pay"\n'
    )
    lines = _lines(plan.trace.steps)
    assert plan.status == "ran"
    assert {"a! exclude x --qos 1", "a! unexclude x y --qos 1", "a! publish_for t t.b pay --qos 0"} <= set(lines)


def test_binary_payloads_are_written_in_hex() -> None:
    plan = _plan('a> 01000000 12 07000000 "t.b" 00 00ff7f\n')
    assert "a! send t.b hex:00ff7f --qos 0" in _lines(plan.trace.steps)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('a> 01000000 52 05000000 "t.b" 00 "x"\na> 01000000 52 05000000 "t.b" 00 "y"\n', "op id 00000001 used twice"),
        ('a> 01000000 52 05000000 "t.b" 00 "x"\n', "no ack shown for op id 00000001"),
        ("a> 01000000 7f 00000000\n", "a malformed frame (unknown operation 0x3f)"),
        ('a> 01000000 52 0a000000 "t.b"\n', "a frame left unfinished"),
    ],
)
def test_what_no_library_writes_makes_the_connection_raw(body: str, reason: str) -> None:
    two = HEAD + body + 'connect b\nb< eb 0100\nb> eb 0100\nb< 01\nb> 0300 "t.b"\nb< 01\nb closes\n'
    plan = plan_client_trace(parse_trace(two))
    assert plan.raw["a"].startswith(reason), plan.raw
    assert plan.status == f"ran ({plan.raw_steps} raw steps)" and plan.raw_steps == 6 + body.count("\n")
    assert [s.conn for s in plan.steps if not isinstance(s, Do)] == ["a"] * plan.raw_steps


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ("@trace t\nconnect a\na< eb 0100\na> eb 0200\na< 75\na< closed\n", "a greeting no client writes"),
        ('@trace t\nconnect a\na< eb 0100\na> eb 0100 | 0300 "t.a"\na< 01\na< 01\n', "the greeting echo and the name"),
        ("@trace t\nconnect a\na< eb 0100\na> eb 0100\na< 01\n", "the handshake is left unfinished"),
        ("@trace t\nconnect a\na< eb 0100\na> eb 0100\na< 01\na> 0200 fffe\na< closed\n", "a name no client registers"),
        (
            '@trace t\nconnect a\na< eb 0100\na> eb 0100\na< 01\na> 0300 "t.a" | 01000000 12 04000000 "b" 00 "x"\na< 01\n',
            "frames in the write of the name",
        ),
    ],
)
def test_a_trace_with_nothing_for_a_library_is_broker_only(head: str, reason: str) -> None:
    plan = plan_client_trace(parse_trace(head))
    assert plan.reason.startswith(reason) and plan.status == f"broker-only: {plan.reason}"


def test_written_actions_are_kept_as_they_are() -> None:
    trace = parse_trace("@trace t\na! connect t.a\n" + HEAD.split("\n", 1)[1] + "a! close\na closes\n")
    plan = plan_client_trace(trace)
    assert plan.trace.steps == trace.steps and plan.status == "ran"
    assert [s.verb for s in plan.steps if isinstance(s, Do)] == ["connect", "close"]
