"""Every byte recorded from the original broker parses on the matching side, and malformed ones fail where it closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elbus_spec import BrokerConnection, ClientConnection, ProtocolViolation, Refused, State

# The original broker's recordings, shipped in the repository with the conformance suite.
TRACES = Path(__file__).resolve().parents[2] / "conformance" / "traces" / "original"
TRACE_FILES = sorted(TRACES.glob("*.json"))


def test_the_recorded_traces_are_in_the_repository() -> None:
    """A missing or emptied trace directory fails here instead of leaving the replays below without cases."""
    assert TRACES.is_dir(), f"{TRACES} is missing"
    assert {p.stem for p in TRACE_FILES} >= {"handshake-ok", "pubsub", "broker-rpc", "secondaries"}, TRACE_FILES


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_trace_replays_through_both_sides(path: Path) -> None:
    trace = json.loads(path.read_text())
    brokers: dict[str, BrokerConnection] = {}
    clients: dict[str, ClientConnection] = {}
    violations: set[str] = set()
    primary_left = False
    for step in trace["steps"]:
        if step.get("event") == "client closes" and "primary" in step.get("note", ""):
            primary_left = True  # its secondaries are closed by the broker next
        conn = step["conn"]
        if step.get("event") == "connect":
            brokers[conn] = BrokerConnection()
            clients[conn] = ClientConnection("unused")
            continue
        if step.get("event") == "closed by broker":
            broker, client = brokers[conn], clients[conn]
            # a protocol violation, a refusal, a partial frame left to time out, or a secondary's primary leaving
            timed_out = broker.buffered > 0
            refused = broker.state is State.CLOSED or client.state is State.CLOSED
            assert conn in violations or refused or timed_out or primary_left, step
            continue
        if "hex" not in step:
            continue
        data = bytes.fromhex(step["hex"])
        if step["dir"] == "client->broker":
            events = brokers[conn].receive_data(data)
            if any(isinstance(e, ProtocolViolation) for e in events):
                violations.add(conn)
            elif brokers[conn].state is State.AWAIT_REGISTRATION:
                brokers[conn].accept()
        else:
            events = clients[conn].receive_data(data)
            clients[conn].data_to_send()
            assert not any(isinstance(e, ProtocolViolation) for e in events), step
            if any(isinstance(e, Refused) for e in events):
                assert clients[conn].state is State.CLOSED
