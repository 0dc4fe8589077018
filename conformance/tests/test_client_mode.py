"""Client mode: our two client libraries play every trace against the trace player (actions written in the trace
or derived from its client bytes, raw sockets for what no library writes), and a client that writes, reports or
delivers anything else is caught.
"""

from __future__ import annotations

from typing import Any

import pytest

from elbus_conformance import Timing, format_report, load_traces, parse_trace, run_client_trace
from elbus_conformance._client_mode import AsyncClientDriver, SyncClientDriver, parse_action
from elbus_conformance._format import format_trace
from elbus_conformance._model import Do

TIMING = Timing(step=1.0, silence=0.05, broker_timeout=1.0)
TRACES = load_traces()
# Each of these holds only connections no client library can play; the reason is what the report prints.
BROKER_ONLY = {
    "handshake-bad-greeting": "a greeting no client writes",
    "register-invalid-utf8": "a name no client registers (registration: a string is not valid UTF-8)",
    "handshake-pipelined": "the greeting echo and the name in one write (a client waits for the handshake result)",
    "handshake-timeouts": "the handshake is left unfinished",
}
LIBRARIES = pytest.mark.parametrize("library", ["aio", "sync"])


def _driver(library: str) -> Any:
    pytest.importorskip("elbus_aio" if library == "aio" else "elbus_client")
    return AsyncClientDriver() if library == "aio" else SyncClientDriver()


@LIBRARIES
@pytest.mark.parametrize("trace", TRACES, ids=[t.name for t in TRACES])
async def test_every_trace_runs_in_client_mode_or_is_broker_only_for_its_reason(library: str, trace: Any) -> None:
    result = await run_client_trace(_driver(library), trace, TIMING)
    if trace.name in BROKER_ONLY:
        assert result.status == f"broker-only: {BROKER_ONLY[trace.name]}" and result.steps_run == 0
        return
    assert result.status.startswith("ran") and result.passed, format_report([result])
    assert result.steps_run == result.steps_total > 0


def _edited(name: str, old: str, new: str) -> Any:
    [trace] = load_traces([name])
    text = format_trace(trace)
    assert old in text
    return parse_trace(text.replace(old, new, 1))


@LIBRARIES
@pytest.mark.parametrize(
    ("name", "old", "new", "reason", "field"),
    [
        # the trace now says the client writes QoS 3 where the library writes QoS 1
        (
            "publish-qos",
            'p> 04000000 41 0e000000 "pq/nobody"',
            'p> 04000000 c1 0e000000 "pq/nobody"',
            "expected c1, got 41",
            "flags",
        ),
        # the broker's ack says 71 where the action expects success
        ("publish-qos", "p< fe 04000000 01", "p< fe 04000000 71", "the operation raised", ""),
        # the library must hand over exactly the frame the broker sent
        (
            "message-self-and-payloads",
            "a! receive message t.ms.a 'to myself'",
            "a! receive message t.ms.a 'to you'",
            "another frame",
            "",
        ),
        # the broker refuses a name the action expects to register
        (
            "register-name-reuse",
            "b< 01                                                   # registered",
            "b< 76",
            "connecting raised",
            "",
        ),
    ],
)
async def test_a_deviation_is_caught(library: str, name: str, old: str, new: str, reason: str, field: str) -> None:
    result = await run_client_trace(_driver(library), _edited(name, old, new), TIMING)
    assert not result.passed and result.failure is not None, format_report([result])
    assert reason in result.failure.reason and result.failure.field == field, format_report([result])


def test_actions_parse_their_options() -> None:
    action = parse_action(Do("a", "send", ("t.x", "hex:00ff", "--qos", "3", "--result", "71")))
    assert (action.verb, action.args, action.qos, action.result) == ("send", ("t.x", "hex:00ff"), 3, 0x71)
    with pytest.raises(ValueError, match="unknown option"):
        parse_action(Do("a", "send", ("t.x", "y", "--fast")))
