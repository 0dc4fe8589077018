"""The client against our broker (`elbus_server.Broker` on its own event loop thread), over UNIX and TCP.

Also meets the original published client (`elbus`) through that broker, and
the RPC layer (`elbus_rpc.SyncRpc`) when it is installed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

import elbus_client
from elbus_client import ConnectionClosed, QoS
from elbus_spec import Busy, DataError, Message, NotRegistered, Publication, RpcError, RpcReply, encode_request, parse_rpc

pytest.importorskip("elbus_server")

from .broker_thread import BrokerThread

TIMEOUT = 1.0


@pytest.fixture
def broker(sock_path: str) -> Iterator[BrokerThread]:
    with BrokerThread(sock_path) as running:
        yield running


@pytest.fixture(params=["unix", "tcp"])
def address(request: pytest.FixtureRequest, broker: BrokerThread) -> str:
    return broker.path if request.param == "unix" else broker.tcp


def test_messages_acks_and_errors(address: str) -> None:
    with elbus_client.connect(address, "t.a", timeout=TIMEOUT) as a, elbus_client.connect(address, "t.b", timeout=TIMEOUT) as b:
        for qos in QoS:
            a.send("t.b", f"qos {qos.value}", qos=qos)
            frame = b.receive(timeout=2)
            assert frame == Message("t.a", None, f"qos {qos.value}".encode(), bool(qos & 2))
        with pytest.raises(NotRegistered):
            a.send("t.nobody", b"x")
        waiters = [a.send_nowait("t.b", n.to_bytes(4, "little")) for n in range(2000)]
        for waiter in waiters:
            waiter.wait(5)
        assert [int.from_bytes(b.receive(timeout=2).payload, "little") for _ in range(2000)] == list(range(2000))


def test_pubsub_and_broadcast(address: str) -> None:
    with (
        elbus_client.connect(address, "t.g1.x", timeout=TIMEOUT) as x,
        elbus_client.connect(address, "t.g2.y", timeout=TIMEOUT) as y,
        elbus_client.connect(address, "t.pub", timeout=TIMEOUT) as pub,
    ):
        x.subscribe("tp/+/t/#")
        y.subscribe("tp/#", "other")
        pub.publish("tp/a/t/e", b"1")
        assert x.receive(timeout=2) == Publication("t.pub", "tp/a/t/e", b"1", False)
        assert y.receive(timeout=2) == Publication("t.pub", "tp/a/t/e", b"1", False)
        x.unsubscribe("tp/+/t/#")
        pub.publish("tp/a/t/e", b"2")
        assert y.receive(timeout=2).payload == b"2"
        pub.broadcast("t.?.x", b"b")
        assert x.receive(timeout=2).kind == 0x13
        with pytest.raises(TimeoutError):
            x.receive(timeout=0.1)  # the unsubscribed publication never came
        with pytest.raises(TimeoutError):
            y.receive(timeout=0.05)


def test_registration_refusals_and_secondaries(broker: BrokerThread) -> None:
    with elbus_client.connect(broker.path, "t.p", timeout=TIMEOUT) as primary:
        with pytest.raises(Busy):
            elbus_client.connect(broker.tcp, "t.p", timeout=TIMEOUT)
        with pytest.raises(DataError):
            elbus_client.connect(broker.path, ".hidden", timeout=TIMEOUT)
        with pytest.raises(NotRegistered):
            elbus_client.connect(broker.path, "t.q%%1", timeout=TIMEOUT)
        first = primary.secondary()
        second = primary.secondary()
        assert (first.name, second.name) == ("t.p%%1", "t.p%%2")
        primary.send("t.p%%2", b"to the secondary")
        frame = second.receive(timeout=2)
        assert frame.sender == "t.p" and frame.payload == b"to the secondary"
        primary.close()
        assert first.wait_closed(2) and second.wait_closed(2)  # dropped with their primary
        first.close()
        second.close()


def test_eight_threads_through_the_broker(address: str) -> None:
    per_thread = 250
    with (
        elbus_client.connect(address, "t.sender", timeout=TIMEOUT, ping_interval=0.01) as sender,
        elbus_client.connect(address, "t.receiver", timeout=TIMEOUT) as receiver,
    ):

        def work(worker: int) -> None:
            for i in range(per_thread):
                payload = bytes([worker]) + i.to_bytes(4, "little") + b"x" * (i * 131 % 40000)
                sender.send("t.receiver", payload, qos=QoS.PROCESSED if i % 2 else QoS.NO)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        seen: dict[int, list[int]] = {n: [] for n in range(8)}
        for _ in range(8 * per_thread):
            payload = receiver.receive(timeout=5).payload
            seen[payload[0]].append(int.from_bytes(payload[1:5], "little"))
        assert all(numbers == list(range(per_thread)) for numbers in seen.values())
        assert sender.is_connected and receiver.is_connected


def test_core_rpc_by_hand(broker: BrokerThread) -> None:
    with elbus_client.connect(broker.path, "t.rpc", timeout=TIMEOUT) as client:
        client.send(".broker", encode_request(7, "test", b""))
        reply = parse_rpc(client.receive(timeout=2).payload)
        assert reply == RpcReply(7, b"\x81\xa2ok\xc3")


def test_broker_shutdown_ends_iteration_promptly(broker: BrokerThread) -> None:
    client = elbus_client.connect(broker.path, "t.down", timeout=TIMEOUT)
    frames: list[elbus_client.Frame] = []
    iterating = threading.Thread(target=lambda: frames.extend(client))  # blocks until the connection ends
    iterating.start()
    started = time.monotonic()
    broker.stop()
    iterating.join(2)
    assert not iterating.is_alive() and time.monotonic() - started < 2
    assert client.closed and not client.is_connected
    assert [(f.topic, msgpack.unpackb(f.payload)["s"]) for f in frames] == [(".broker/warn", "shutdown")]
    with pytest.raises(ConnectionClosed):
        client.send("x", b"")
    client.close()


def test_frozen_broker_is_declared_dead(broker: BrokerThread) -> None:
    """The broker's loop stops for 1.2 s: no keep-alive comes and the client gives up after 2 x its timeout."""
    with elbus_client.connect(broker.path, "t.frozen", timeout=0.3) as client:
        client.send("t.frozen", b"alive")
        assert client.receive(timeout=1).payload == b"alive"
        time.sleep(0.3)  # keep-alives every 1 s from the broker: the client, at 0.3 s, must not rely on them yet
        assert broker.loop is not None
        started = time.monotonic()
        broker.loop.call_soon_threadsafe(time.sleep, 1.2)
        assert client.wait_closed(2)
        assert time.monotonic() - started < 1.5
        assert "broker is gone" in (client.close_reason or "")


def test_original_client_interoperates(broker: BrokerThread) -> None:
    elbus = pytest.importorskip("elbus")
    received: list[Any] = []
    original = elbus.client.Client(broker.path, "t.orig")
    original.on_frame = received.append
    original.connect()
    try:
        with elbus_client.connect(broker.path, "t.ours", timeout=TIMEOUT) as ours:
            ours.send("t.orig", b"hello original")
            frame = elbus.client.Frame(b"hello ours", qos=1)
            assert original.send("t.ours", frame).wait_completed(timeout=2) == 1
            assert ours.receive(timeout=2) == Message("t.orig", None, b"hello ours", False)
            deadline = time.monotonic() + 2
            while not received and time.monotonic() < deadline:
                time.sleep(0.01)
            assert received[0].sender == "t.ours" and received[0].payload == b"hello original"
    finally:
        original.disconnect()


def test_sync_rpc_over_this_client(broker: BrokerThread) -> None:
    elbus_rpc = pytest.importorskip("elbus_rpc")
    with (
        elbus_client.connect(broker.path, "t.server", timeout=TIMEOUT) as server_client,
        elbus_client.connect(broker.tcp, "t.caller", timeout=TIMEOUT) as caller_client,
        elbus_rpc.SyncRpc(server_client) as server,
        elbus_rpc.SyncRpc(caller_client) as caller,
    ):

        @server.method("add")
        def add(params: dict[str, int], event: Any) -> int:
            return params["a"] + params["b"]

        assert caller.call("t.server", "add", {"a": 2, "b": 3}) == 5
        assert caller.call(".broker", "test") == {"ok": True}
        with pytest.raises(RpcError) as exc:
            caller.call("t.server", "nope")
        assert exc.value.code == -32601


def test_reconnect_after_a_broker_restart(sock_path: str) -> None:
    first = BrokerThread(sock_path).__enter__()
    with elbus_client.connect(sock_path, "t.back", timeout=TIMEOUT, reconnect=True, reconnect_delay=0.05) as client:
        client.subscribe("restart/#")
        first.stop()
        warning = client.receive(timeout=2)  # queued before the loss, kept across it
        assert warning.topic == ".broker/warn" and msgpack.unpackb(warning.payload)["s"] == "shutdown"
        with BrokerThread(sock_path) as second, elbus_client.connect(second.path, "t.pub", timeout=TIMEOUT) as publisher:
            deadline = time.monotonic() + 5
            while True:  # the subscription is renewed right after the registration
                publisher.publish("restart/x", b"again")
                try:
                    frame = client.receive(timeout=0.1)
                    break
                except TimeoutError:
                    assert time.monotonic() < deadline, "no publication after the restart"
            assert frame.topic == "restart/x" and frame.sender == "t.pub"
            assert client.is_connected and not client.closed
            client.send("t.pub", b"works")
            assert publisher.receive(timeout=2).payload == b"works"
