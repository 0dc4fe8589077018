"""Our client against the original broker's recorded bytes, replayed by a fake broker on a real UNIX socket.

For every trace the test plays each connection's client side through the
public API (or a plain socket for the malformed ones): the fake broker
checks that what our client writes is byte for byte what the original
client wrote, and the test checks that every frame, ack code and refusal
the original broker sent comes out of our client as the right value or
exception.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import elbus_client
from elbus_spec import (
    Ack,
    BroadcastRequest,
    ClientConnection,
    Code,
    ExcludeRequest,
    Frame,
    MessageRequest,
    PublishForRequest,
    PublishRequest,
    Request,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
    error_for_code,
)

from .fake_broker import STEP_TIMEOUT, TRACE_FILES, TRACES, ConnPlan, TraceBroker, load_trace, plan_connections


def test_the_recorded_traces_are_in_the_repository() -> None:
    """A missing or emptied trace directory fails here instead of leaving the replays below without cases."""
    assert TRACES.is_dir(), f"{TRACES} is missing"
    assert {p.stem for p in TRACE_FILES} >= {"handshake-ok", "pubsub", "broker-rpc", "secondaries"}, TRACE_FILES


def _registration_code(trace: dict[str, Any], conn: str) -> int:
    """The registration result the broker sent: byte 4 of its stream (after the greeting and the handshake result)."""
    stream = b"".join(
        bytes.fromhex(s["hex"]) for s in trace["steps"] if s["conn"] == conn and s.get("dir") == "broker->client"
    )
    return stream[4]


def _submit(client: elbus_client.Client, request: Request) -> elbus_client.Pending:
    """Issue ``request`` through the public API with the op id the recorded client used."""
    client._session.conn._op_id = request.op_id - 1  # the recorded clients chose their op ids; ours count on from there
    match request:
        case MessageRequest(qos=qos, target=target, payload=payload):
            return client.send_nowait(target, payload, qos=qos)
        case BroadcastRequest(qos=qos, mask=mask, payload=payload):
            return client.broadcast_nowait(mask, payload, qos=qos)
        case PublishRequest(qos=qos, topic=topic, payload=payload):
            return client.publish_nowait(topic, payload, qos=qos)
        case PublishForRequest(qos=qos, topic=topic, receiver=receiver, payload=payload):
            return client.publish_for_nowait(topic, receiver, payload, qos=qos)
        case SubscribeRequest(qos=qos, topics=topics):
            return client.subscribe_nowait(*topics, qos=qos)
        case UnsubscribeRequest(qos=qos, topics=topics):
            return client.unsubscribe_nowait(*topics, qos=qos)
        case ExcludeRequest(qos=qos, topics=topics):
            return client.exclude_nowait(*topics, qos=qos)
        case UnexcludeRequest(qos=qos, topics=topics):
            return client.unexclude_nowait(*topics, qos=qos)
    raise AssertionError(f"no API call for {request!r}")


class Replay:
    """Plays the client side of every connection of a trace, in the recorded order."""

    def __init__(self, trace: dict[str, Any], plans: dict[str, ConnPlan], path: str) -> None:
        self.trace = trace
        self.plans = plans
        self.path = path
        self.clients: dict[str, elbus_client.Client] = {}
        self.raw: dict[str, socket.socket] = {}
        self.parsers: dict[str, ClientConnection] = {}
        self.pending: dict[str, dict[int, elbus_client.Pending]] = {}
        self.checked = 0  # frames, acks and refusals compared

    def run(self) -> None:
        try:
            for index, step in enumerate(self.trace["steps"]):
                self.play(index, step)
        finally:
            for client in self.clients.values():
                client.close()
            for sock in self.raw.values():
                sock.close()

    def play(self, index: int, step: dict[str, Any]) -> None:
        conn = step["conn"]
        plan = self.plans[conn]
        event = step.get("event")
        if plan.raw:
            self.play_raw(conn, step)
        elif event == "connect":
            self.connect(conn, plan)
        elif conn not in self.clients:
            return  # a refused registration: nothing more happens on this side
        elif event == "closed by broker":
            client = self.clients[conn]
            assert client.wait_closed(STEP_TIMEOUT), f"{conn}: the broker closed but the client did not notice"
            assert not client.is_connected
        elif event == "client closes":
            client = self.clients[conn]
            assert client.queued == 0, f"{conn}: frames nobody expected"
            assert not self.pending[conn], f"{conn}: acks never received for {sorted(self.pending[conn])}"
            client.close()
        elif step["dir"] == "client->broker":
            for request in plan.requests.get(index, []):
                waiter = _submit(self.clients[conn], request)
                if request.needs_ack:
                    self.pending[conn][request.op_id] = waiter
        else:
            for received in self.parsers[conn].receive_data(bytes.fromhex(step["hex"])):
                self.expect(conn, received)

    def connect(self, conn: str, plan: ConnPlan) -> None:
        assert plan.client_name is not None
        code = _registration_code(self.trace, conn)
        self.parsers[conn] = ClientConnection(plan.client_name)
        self.pending[conn] = {}
        # a fast pinger: its pings land between replayed frames and must never split one
        options = {"timeout": STEP_TIMEOUT, "ping_interval": 0.02}
        if code == Code.OK:
            self.clients[conn] = elbus_client.connect(self.path, plan.client_name, **options)
        else:
            with pytest.raises(type(error_for_code(code))):
                elbus_client.connect(self.path, plan.client_name, **options)
            self.checked += 1

    def expect(self, conn: str, received: object) -> None:
        client = self.clients[conn]
        if isinstance(received, Frame):
            assert client.receive(timeout=STEP_TIMEOUT) == received
            self.checked += 1
        elif isinstance(received, Ack):
            waiter = self.pending[conn].pop(received.op_id)
            if received.code == Code.OK:
                waiter.wait(STEP_TIMEOUT)
            else:
                with pytest.raises(type(error_for_code(received.code))):
                    waiter.wait(STEP_TIMEOUT)
            self.checked += 1

    def play_raw(self, conn: str, step: dict[str, Any]) -> None:
        event = step.get("event")
        if event == "connect":
            sock = self.raw[conn] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(STEP_TIMEOUT)
            sock.connect(self.path)
        elif event == "closed by broker":
            assert self.raw[conn].recv(1) == b""
        elif event == "client closes":
            self.raw[conn].close()
        elif step["dir"] == "client->broker":
            self.raw[conn].sendall(bytes.fromhex(step["hex"]))
        else:
            expected = bytes.fromhex(step["hex"])
            got = b""
            while len(got) < len(expected):
                chunk = self.raw[conn].recv(len(expected) - len(got))
                assert chunk, f"{conn}: closed early"
                got += chunk
            assert got == expected


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_client_against_recorded_broker(path: Path, tmp_path: Path) -> None:
    trace = load_trace(path)
    plans = plan_connections(trace)
    replay = Replay(trace, plans, str(tmp_path / "broker.sock"))
    with TraceBroker(trace, replay.path, plans) as broker:
        try:
            replay.run()
        except Exception as exc:
            if broker.errors:  # the broker saw the first divergence: report that rather than its echo
                raise AssertionError(broker.errors) from exc
            raise
        assert broker.done.wait(STEP_TIMEOUT), "the fake broker did not reach the end of the trace"
    assert broker.errors == []
    assert not [t for t in threading.enumerate() if t.name.startswith("elbus-")]


def test_every_operation_and_qos_is_replayed_through_the_client() -> None:
    """The traces, as classified, make our client write every op with every QoS it was recorded with."""
    seen = set()
    for path in TRACE_FILES:
        for plan in plan_connections(load_trace(path)).values():
            if not plan.raw:
                seen.update((type(r).__name__, r.qos) for requests in plan.requests.values() for r in requests)
    assert {("MessageRequest", q) for q in range(4)} <= seen
    assert {("BroadcastRequest", 1), ("PublishRequest", 1), ("SubscribeRequest", 1), ("SubscribeRequest", 0)} <= seen
    assert ("UnsubscribeRequest", 1) in seen
