"""The rules both clients share, against our broker on real sockets: ack timeouts, connect failures,
retrying the first connect, callbacks, topic/payload/frame-size checks, denied subscriptions."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import elbus_client
from elbus_client import (
    DEAD_BROKER_FACTOR,
    AccessDenied,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    ConnectionClosed,
    ConnectTimeout,
    ElbusError,
    FrameTooLarge,
    InvalidTopic,
    ReceiveTimeout,
)
from elbus_spec import DEFAULT_MAX_FRAME_LENGTH, ExcludeRequest, SubscribeRequest

elbus_server = pytest.importorskip("elbus_server")

from .broker_thread import BrokerThread  # noqa: E402
from .scripted_broker import ScriptedBroker  # noqa: E402


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_hung_broker_fails_ack_waits_with_broker_timeout(sock_path: str) -> None:
    with BrokerThread(sock_path, timeout=5.0) as broker, elbus_client.connect(sock_path, "app.a", timeout=1.0) as client:
        client.send("app.a", b"acked")
        client.receive(timeout=2)
        assert broker.loop is not None
        broker.loop.call_soon_threadsafe(time.sleep, 1.6)  # the broker's loop hangs
        started = time.monotonic()
        with pytest.raises(BrokerTimeout, match=r"message to 'app.a' \(op \d+\) within 0.2 s"):
            client.send("app.a", b"x", timeout=0.2)
        with pytest.raises(TimeoutError):  # the default: the client's timeout, as the asyncio client's
            client.publish("t", b"y")
        assert 1.0 <= time.monotonic() - started < 1.0 + 0.2 + 0.6
        assert client.is_connected
        client.send("app.a", b"after")
        assert [client.receive(timeout=2).payload for _ in range(2)] == [b"x", b"after"]


def test_a_silent_broker_is_dead_after_dead_broker_factor_timeouts(sock_path: str) -> None:
    lost: list[str] = []
    with BrokerThread(sock_path, timeout=5.0) as broker:
        with elbus_client.connect(sock_path, "app.d", timeout=0.3, on_disconnect=lost.append) as client:
            started = time.monotonic()  # the registration was the last byte from the broker
            assert broker.loop is not None
            broker.loop.call_soon_threadsafe(time.sleep, 1.5)  # the broker's loop hangs
            assert client.wait_closed(5)
            elapsed = time.monotonic() - started  # 1.5 x timeout (the old async rule) would fail the lower bound
            assert 0.3 * DEAD_BROKER_FACTOR - 0.05 <= elapsed < 0.3 * DEAD_BROKER_FACTOR + 1.5  # slack for a loaded machine
            eventually(lambda: len(lost) == 1)  # the callback runs on the reader thread, right after the loss
            assert f"no data from the broker for {0.3 * DEAD_BROKER_FACTOR:g} s" in lost[0]


def test_receive_timeout_is_a_timeout_error(sock_path: str) -> None:
    with BrokerThread(sock_path), elbus_client.connect(sock_path, "app.r") as client:
        with pytest.raises(ReceiveTimeout, match=r"no frame received within 0\.05 s") as info:
            client.receive(timeout=0.05)
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, ElbusError)


def test_connect_failures_are_broker_unavailable(sock_path: str) -> None:
    with pytest.raises(BrokerUnavailable, match=r"broker\.sock") as info:
        elbus_client.connect(sock_path, "app.a")
    assert info.value.errno == errno.ENOENT and isinstance(info.value.__cause__, FileNotFoundError)

    bound = socket.socket(socket.AF_UNIX)
    bound.bind(sock_path)  # a socket file nobody listens on: connection refused
    try:
        with pytest.raises(BrokerUnavailable) as info:
            elbus_client.connect(sock_path, "app.a")
        assert info.value.errno == errno.ECONNREFUSED and isinstance(info.value.__cause__, ConnectionRefusedError)
    finally:
        bound.close()

    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    with pytest.raises(BrokerUnavailable) as info:
        elbus_client.connect(f"127.0.0.1:{port}", "app.a")
    assert info.value.errno == errno.ECONNREFUSED and isinstance(info.value, OSError)

    mute_path = str(Path(sock_path).with_name("mute.sock"))
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(mute_path)
    mute.listen()  # accepts, never greets
    try:
        with pytest.raises(ConnectTimeout) as timed_out:
            elbus_client.connect(mute_path, "app.a", timeout=0.2)
        error = timed_out.value
        assert isinstance(error, BrokerUnavailable) and isinstance(error, TimeoutError) and error.errno == errno.ETIMEDOUT
    finally:
        mute.close()


def test_a_failed_first_connect_is_retried_when_asked(sock_path: str) -> None:
    with pytest.raises(ValueError, match="reconnect=True"):
        elbus_client.Client(sock_path, "app.a", retry_on_failed_connect=True)
    with pytest.raises(BrokerUnavailable):
        elbus_client.connect(sock_path, "app.a", reconnect=True)  # not asked: fails at once

    client = elbus_client.Client(
        sock_path, "app.a", reconnect=True, retry_on_failed_connect=True, reconnect_delay=0.02, timeout=0.5
    )
    outcome: list[object] = []
    connecting = threading.Thread(target=lambda: outcome.append(client.connect()))
    connecting.start()
    time.sleep(0.3)  # several attempts fail meanwhile
    assert not outcome
    with BrokerThread(sock_path):
        connecting.join(5)
        assert outcome == [client] and client.is_connected
        client.send("app.a", b"hello")
        assert client.receive(timeout=2).payload == b"hello"
        client.close()

    gives_up = elbus_client.Client(sock_path, "app.b", reconnect=True, retry_on_failed_connect=True, reconnect_delay=0.02)
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            gives_up.connect()
        except ConnectionClosed as exc:
            errors.append(exc)

    connecting = threading.Thread(target=connect)
    connecting.start()
    time.sleep(0.1)
    gives_up.close()
    connecting.join(2)
    assert len(errors) == 1


def test_disconnect_and_reconnect_callbacks_once_per_event(sock_path: str) -> None:
    events: list[str] = []
    client = elbus_client.Client(
        sock_path,
        "app.cb",
        reconnect=True,
        reconnect_delay=0.02,
        on_disconnect=lambda reason: events.append(f"disconnect: {reason}"),
        on_reconnect=lambda: events.append("reconnect"),
    )
    broker = BrokerThread(sock_path).__enter__()
    client.connect()
    try:
        for round_ in (1, 2):
            broker.stop()
            eventually(lambda: not client.is_connected)
            time.sleep(0.2)  # reconnect attempts fail meanwhile: no callback for those
            broker = BrokerThread(sock_path).__enter__()
            eventually(lambda expected=2 * round_: len(events) == expected)
            time.sleep(0.1)
            assert len(events) == 2 * round_
            assert events[-2].startswith("disconnect: ") and events[-1] == "reconnect"
        client.close()
        assert len(events) == 4  # closing is no disconnect
    finally:
        client.close()
        broker.stop()


def test_reconnect_renews_acknowledged_subscriptions_and_exclusions_one_per_frame(sock_path: str) -> None:
    # Exclusions are a BUS/RT extension our broker refuses: the broker-side protocol object speaks them here.
    with (
        ScriptedBroker(sock_path) as broker,
        elbus_client.connect(sock_path, "app.x", reconnect=True, reconnect_delay=0.02) as client,
    ):
        client.subscribe("t/#", "u")
        client.exclude("t/x", "t/z")
        client.unexclude("t/z")
        client.unsubscribe("u")
        broker.peer("app.x").hang_up()
        second = broker.peer("app.x", nth=2)
        eventually(lambda: len(second.requests) == 2)
        assert second.requests == [SubscribeRequest(1, 1, ["t/#"]), ExcludeRequest(2, 1, ["t/x"])]


def test_topics_and_payloads_are_checked_and_the_connection_kept(sock_path: str) -> None:
    with BrokerThread(sock_path), elbus_client.connect(sock_path, "app.t") as client:
        for bad in ("a/#/b", "a#", "a/b+", "#/x"):
            with pytest.raises(InvalidTopic):
                client.subscribe("ok/+", bad)
        for bad in ("a/+", "a/#", "#"):
            with pytest.raises(InvalidTopic, match="no wildcards"):
                client.publish(bad, b"x")
        with pytest.raises(TypeError, match="payload must be bytes or str, got int"):
            client.send("app.t", 5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="qos"):
            client.send("app.t", b"", qos=7)
        client.subscribe("a/+/c", "x/#")
        client.publish("a/b/c", "str payloads are UTF-8: é")
        client.publish("x/y/z", memoryview(b"view"))
        assert [client.receive(timeout=2).payload for _ in range(2)] == ["str payloads are UTF-8: é".encode(), b"view"]


def test_an_oversized_frame_is_refused_before_writing(sock_path: str) -> None:
    with BrokerThread(sock_path), elbus_client.connect(sock_path, "app.big") as client:
        with pytest.raises(FrameTooLarge) as info:
            client.send("app.big", bytes(20 * 1024 * 1024))
        assert info.value.limit == DEFAULT_MAX_FRAME_LENGTH and str(DEFAULT_MAX_FRAME_LENGTH) in str(info.value)
        client.send("app.big", b"still connected")
        assert client.receive(timeout=2).payload == b"still connected"


# --- subscriptions the access control denies --------------------------------------------------

PUBLISHER = elbus_server.Rule("pub", publish=("#",), message=("*",))


def acl(*subscribe: str) -> object:
    return elbus_server.Acl((elbus_server.Rule("app.*", subscribe=subscribe, message=("*",)), PUBLISHER))


def topics_received(client: elbus_client.Client, path: str) -> list[str]:
    """Publish to a few topics and return those ``client`` receives (a message marks the end)."""
    with elbus_client.connect(path, "pub") as pub:
        for topic in ("allowed/1", "later/1", "denied/1"):
            pub.publish(topic, b"")
        pub.send(client.name, b"end")
    got: list[str] = []
    while (frame := client.receive(timeout=2)).topic is not None:
        if not frame.topic.startswith(".broker/"):
            got.append(frame.topic)
    return got


def test_denied_subscriptions_are_reported_once_and_never_loop(sock_path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "elbus_client")
    denied: list[tuple[str, BrokerError]] = []
    reconnects: list[None] = []
    client = elbus_client.Client(
        sock_path,
        "app.sub",
        reconnect=True,
        reconnect_delay=0.02,
        on_reconnect=lambda: reconnects.append(None),
        on_subscription_denied=lambda topic, error: denied.append((topic, error)),
    )
    try:
        with BrokerThread(sock_path, acl=acl("allowed/#", "later/#")) as broker:
            client.connect()
            client.subscribe("allowed/#")
            client.subscribe("later/#")
            with pytest.raises(AccessDenied):
                client.subscribe("denied/#")  # denied from the start: the caller sees it, nothing is recorded
            assert topics_received(client, sock_path) == ["allowed/1", "later/1"]
            assert broker.loop is not None
            reloaded = threading.Event()
            broker.loop.call_soon_threadsafe(lambda: (broker.broker.set_acl(acl("allowed/#")), reloaded.set()))
            assert reloaded.wait(2)  # a reload while connected (elbusd does it on SIGHUP): later/# is dropped
            assert topics_received(client, sock_path) == ["allowed/1"]

        with BrokerThread(sock_path, acl=acl("allowed/#")):  # a restart: the client reconnects
            eventually(lambda: len(reconnects) == 1 and len(denied) == 1)
            assert denied[0][0] == "later/#" and isinstance(denied[0][1], AccessDenied)
            assert "renewing the subscription to 'later/#' refused" in caplog.text
            assert topics_received(client, sock_path) == ["allowed/1"]
            time.sleep(0.3)
            assert client.is_connected and len(reconnects) == 1  # no reconnect loop

        with BrokerThread(sock_path, acl=acl("allowed/#")):  # once more: the dropped topic is not tried again
            eventually(lambda: len(reconnects) == 2)
            assert topics_received(client, sock_path) == ["allowed/1"]
            assert len(denied) == 1 and caplog.text.count("renewing the subscription to 'later/#' refused") == 1
    finally:
        client.close()


def test_a_partly_denied_subscription_keeps_the_allowed_topics(sock_path: str) -> None:
    denied: list[str] = []
    client = elbus_client.Client(
        sock_path, "app.sub", reconnect=True, reconnect_delay=0.02, on_subscription_denied=lambda t, e: denied.append(t)
    )
    try:
        with BrokerThread(sock_path, acl=acl("allowed/#")):
            client.connect()
            with pytest.raises(AccessDenied):
                client.subscribe("allowed/#", "denied/#")  # the broker subscribes the allowed one anyway
            assert topics_received(client, sock_path) == ["allowed/1"]
        with BrokerThread(sock_path, acl=acl("allowed/#")):
            eventually(lambda: client.is_connected and denied == ["denied/#"])
            assert topics_received(client, sock_path) == ["allowed/1"]
    finally:
        client.close()
