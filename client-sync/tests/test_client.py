"""The client's behaviour over real sockets against a scripted broker: acks, timeouts, receiving, closing."""

from __future__ import annotations

import array
import errno
import socket
import struct
import threading
import time

import pytest

import elbus_client
from elbus_client import ConnectionClosed, QoS
from elbus_spec import (
    AccessDenied,
    BrokerTimeout,
    Busy,
    Code,
    DataError,
    LocalProtocolError,
    Message,
    MessageRequest,
    NotDelivered,
    NotRegistered,
    NotSupported,
    Publication,
    PublishRequest,
    SubscribeRequest,
    UnsubscribeRequest,
    parse_address,
)

from .conftest import client_threads
from .scripted_broker import ScriptedBroker


def _eventually(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


# --- connecting --------------------------------------------------------------------------


def test_connects_over_unix_and_tcp_with_nodelay(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as unix_broker, ScriptedBroker() as tcp_broker:
        with elbus_client.connect(sock_path, "u") as u, elbus_client.connect(tcp_broker.address, "t") as t:
            assert u.is_connected and t.is_connected
            assert u._session.sock.family == socket.AF_UNIX
            assert t._session.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            u.send("x", b"1")
            t.send("x", b"2")
        assert unix_broker.peer("u").requests == [MessageRequest(1, 1, "x", b"1")]
        assert tcp_broker.peer("t").requests == [MessageRequest(1, 1, "x", b"2")]
        assert not u.is_connected and u.closed


@pytest.mark.parametrize(
    ("code", "error"),
    [(Code.BUSY, Busy), (Code.DATA, DataError), (Code.NOT_REGISTERED, NotRegistered), (Code.ACCESS, AccessDenied)],
)
def test_registration_refusal_raises_the_code_class(sock_path: str, code: int, error: type) -> None:
    with ScriptedBroker(sock_path, refuse={"me": code}):
        client = elbus_client.Client(sock_path, "me")
        with pytest.raises(error, match="'me'"):
            client.connect()
        assert client.closed and not client.is_connected
        assert client_threads() == []
        with pytest.raises(ConnectionClosed):
            client.connect()


def test_unsupported_greeting_answer_raises_not_supported(sock_path: str) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"\xeb\x01\x00")
        conn.recv(3)
        conn.sendall(b"\x75")
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    with pytest.raises(NotSupported):
        elbus_client.connect(sock_path, "me")
    thread.join()
    listener.close()


def test_handshake_timeout_and_hang_up(sock_path: str) -> None:
    with ScriptedBroker(sock_path, greet=False):
        started = time.monotonic()
        with pytest.raises(elbus_client.ConnectTimeout, match="no registration reply") as info:
            elbus_client.connect(sock_path, "me", timeout=0.2)
        assert time.monotonic() - started < 1.5
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, elbus_client.BrokerUnavailable)
    listener = socket.socket(socket.AF_UNIX)
    other = sock_path + ".2"
    listener.bind(other)
    listener.listen(1)
    thread = threading.Thread(target=lambda: listener.accept()[0].close())
    thread.start()
    with pytest.raises(ConnectionClosed, match="during the handshake"):
        elbus_client.connect(other, "me")
    thread.join()
    listener.close()


def test_bad_addresses_and_names_fail_clearly(sock_path: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        elbus_client.Client("localhost", "me")
    with pytest.raises(elbus_client.BrokerUnavailable) as info:
        elbus_client.connect(sock_path, "me")
    assert info.value.errno == errno.ENOENT and isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(LocalProtocolError):
        elbus_client.Client(sock_path, "x" * 70000)
    assert elbus_client.is_unix_address("/run/elbus") and elbus_client.is_unix_address("rel/elbus.ipc")
    assert not elbus_client.is_unix_address("127.0.0.1:7777")
    assert parse_address("[::1]:7777") == ("::1", 7777) and parse_address("localhost:1") == ("localhost", 1)
    assert parse_address(":7777") == ("127.0.0.1", 7777)  # where elbusd -B :7777 listens
    for bad in ("localhost:99999", ":", "host:", "host:port"):
        with pytest.raises(ValueError):
            parse_address(bad)


# --- sending -----------------------------------------------------------------------------


def test_ack_codes_become_exceptions(sock_path: str) -> None:
    for code, error in ((Code.NOT_REGISTERED, NotRegistered), (Code.NOT_DELIVERED, NotDelivered), (Code.ACCESS, AccessDenied)):
        with ScriptedBroker(sock_path, ack=code), elbus_client.connect(sock_path, "me") as client:
            with pytest.raises(error, match="'nobody'"):
                client.send("nobody", b"x")
            pending = client.publish_nowait("t", b"x")
            with pytest.raises(error):
                pending.wait(2)
            assert pending.done() and pending.code == code
            client.send("nobody", b"x", qos=QoS.NO)  # no ack asked: nothing to fail


def test_every_operation_reaches_the_broker_as_written(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me") as client:
        client.subscribe("a/#", "b/+")
        client.unsubscribe("b/+", qos=QoS.REALTIME_PROCESSED)
        client.publish("a/1", "text é")  # str payloads are UTF-8
        client.broadcast("g.*", memoryview(b"view"), qos=QoS.REALTIME)
        client.send("peer", bytearray(b"ba"), qos=QoS.NO)
        waiters = [client.send_nowait("peer", bytes([i])) for i in range(100)]
        for waiter in waiters:
            waiter.wait(2)
        peer = broker.peer("me")
        _eventually(lambda: len(peer.requests) == 105)
        first = peer.requests[:5]
        assert first[0] == SubscribeRequest(1, 1, ["a/#", "b/+"])
        assert first[1] == UnsubscribeRequest(2, 3, ["b/+"])
        assert first[2] == PublishRequest(3, 1, "a/1", "text é".encode())
        assert (type(first[3]).__name__, first[3].qos, first[3].payload) == ("BroadcastRequest", 2, b"view")
        assert first[4] == MessageRequest(5, 0, "peer", b"ba")
        assert [r.op_id for r in peer.requests[5:]] == list(range(6, 106))


def test_every_operation_and_qos_byte_for_byte(sock_path: str) -> None:
    """Each op x QoS against frames built by hand from the protocol reference (an oracle independent of the codec)."""

    def frame(op_id: int, op: int, qos: int, body: bytes) -> bytes:
        return struct.pack("<IBI", op_id, op | qos << 6, len(body)) + body

    expected = bytearray(b"\xeb\x01\x00" + struct.pack("<H", 2) + b"me")
    with (
        ScriptedBroker(sock_path) as broker,
        elbus_client.connect(sock_path, "me", ping_interval=60) as client,
    ):
        calls = [
            (lambda q: client.send_nowait("t.b", b"p\x00ay", qos=q), 0x12, b"t.b\x00p\x00ay"),
            (lambda q: client.broadcast_nowait("t.*", b"", qos=q), 0x13, b"t.*\x00"),
            (lambda q: client.publish_nowait("a/b", "é", qos=q), 0x01, "a/b\x00é".encode()),
            (lambda q: client.subscribe_nowait("a/#", "+/b", qos=q), 0x02, b"a/#\x00+/b"),
            (lambda q: client.unsubscribe_nowait("a/#", qos=q), 0x03, b"a/#"),
            (lambda q: client.exclude_nowait("x", "y", qos=q), 0x04, b"x\x00y"),
            (lambda q: client.unexclude_nowait("x", qos=q), 0x05, b"x"),
            (lambda q: client.publish_for_nowait("a/b", "t.r", b"pl", qos=q), 0x06, b"a/b\x00t.r\x00pl"),
        ]
        op_id = 0
        for qos in QoS:
            for call, op, body in calls:
                op_id += 1
                call(qos).wait(2)
                expected += frame(op_id, op, qos, body)
        peer = broker.peer("me")
        _eventually(lambda: len(peer.requests) == op_id)
        assert bytes(peer.received) == bytes(expected)


def test_invalid_arguments_raise_before_anything_is_written(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me", max_frame_length=100) as client:
        with pytest.raises(ValueError):
            client.send("x", b"", qos=4)
        with pytest.raises(ValueError, match="at least one topic"):
            client.subscribe()
        with pytest.raises(TypeError, match="separate arguments"):
            client.subscribe(["a", "b"])  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError):
            client.send("bad\x00target", b"")
        client.send("x", b"y" * 98)  # 1 + 1 + 98: exactly the limit
        with pytest.raises(elbus_client.FrameTooLarge, match="101 bytes exceeds the limit of 100") as info:
            client.send("x", b"y" * 99)
        assert (info.value.size, info.value.limit) == (101, 100) and isinstance(info.value, LocalProtocolError)
        client.send("x", b"still fine")
        client.send("x", memoryview(array.array("H", [1, 2])))  # a view of 2-byte items is sent as its 4 bytes
        assert [r.payload for r in broker.peer("me").requests] == [b"y" * 98, b"still fine", b"\x01\x00\x02\x00"]


def _size(i: int) -> int:
    """Mostly small payloads, every tenth up to 70 kB: larger than a socket buffer, so sendall writes it in parts."""
    return (i * 7919) % 70000 if i % 10 == 0 else i % 50


def test_eight_threads_sending_concurrently_never_interleave_frames(sock_path: str) -> None:
    """Frames of many sizes from 8 threads plus a busy pinger: the broker parses every one, in per-thread order."""
    per_thread = 300
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me", ping_interval=0.001) as client:
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for i in range(per_thread):
                    payload = f"{worker}:{i}:".encode() + bytes([worker]) * _size(i)
                    qos = (QoS.PROCESSED, QoS.NO, QoS.REALTIME_PROCESSED)[i % 3]
                    if i % 2:
                        client.send(f"w{worker}", payload, qos=qos)
                    else:
                        client.send_nowait(f"w{worker}", payload, qos=qos)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        peer = broker.peer("me")
        _eventually(lambda: len(peer.requests) == 8 * per_thread, timeout=10)
        assert peer.violation is None
        assert peer.pings > 0
        assert len({r.op_id for r in peer.requests}) == 8 * per_thread
        for worker in range(8):
            mine = [r for r in peer.requests if r.target == f"w{worker}"]
            assert [int(r.payload.split(b":")[1]) for r in mine] == list(range(per_thread))
            assert all(r.payload.endswith(bytes([worker]) * _size(i)) for i, r in enumerate(mine))


def test_ack_timeout_leaves_the_connection_usable(sock_path: str) -> None:
    with ScriptedBroker(sock_path, ack=None) as broker, elbus_client.connect(sock_path, "me", timeout=2) as client:
        started = time.monotonic()
        with pytest.raises(BrokerTimeout, match="message to 'x'"):
            client.send("x", b"1", timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 1.0
        assert client._session.pending == {}  # a given-up ack is forgotten
        pending = client.publish_nowait("t", b"2")
        with pytest.raises(BrokerTimeout):
            pending.wait(0.1)
        assert not pending.done()  # still waiting: the ack may yet come
        peer = broker.peer("me")
        _eventually(lambda: len(peer.requests) == 2)
        peer.send(b"\xfe" + pending.op_id.to_bytes(4, "little") + b"\x01")
        pending.wait(2)
        assert client.is_connected


# --- receiving ---------------------------------------------------------------------------


def test_receive_with_timeout_and_iteration(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me") as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.receive(timeout=0.1)
        assert time.monotonic() - started < 1
        peer = broker.peer("me")
        peer.deliver_message("a%%2", b"hello", realtime=True)
        peer.deliver_publication("b", "x/y", b"")
        frame = client.receive(timeout=2)
        assert frame == Message("a%%2", None, b"hello", True)
        assert frame.primary_sender == "a" and frame.kind == 0x12
        assert client.receive(timeout=2) == Publication("b", "x/y", b"", False)
        peer.deliver_message("c", b"1")
        peer.deliver_message("c", b"2")
        _eventually(lambda: client.queued == 2)
        peer.hang_up()
        assert [f.payload for f in client] == [b"1", b"2"]  # frames received before the end are kept
        with pytest.raises(ConnectionClosed):
            client.receive(timeout=1)


def test_on_frame_runs_on_the_reader_thread_and_may_pipeline(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me") as client:
        seen: list[tuple[str, bytes]] = []
        replies: list[elbus_client.Pending] = []
        blocked: list[BaseException] = []

        def on_frame(frame: elbus_client.Frame) -> None:
            seen.append((threading.current_thread().name, frame.payload))
            replies.append(client.send_nowait(frame.sender, b"re:" + frame.payload))
            try:
                client.send(frame.sender, b"blocking")
            except RuntimeError as exc:
                blocked.append(exc)
            if frame.payload == b"boom":
                raise ValueError("a callback bug must not stop the reader")

        client.on_frame = on_frame
        peer = broker.peer("me")
        for payload in (b"1", b"boom", b"2"):
            peer.deliver_message("src", payload)
        _eventually(lambda: len(blocked) == 3)
        assert seen == [("elbus-reader me", b"1"), ("elbus-reader me", b"boom"), ("elbus-reader me", b"2")]
        assert "deadlock" in str(blocked[0])
        for reply in replies:
            reply.wait(2)
        assert client.queued == 0 and client.is_connected
        done: list[elbus_client.Pending] = []
        client.send_nowait("x", b"").add_done_callback(done.append)
        _eventually(lambda: len(done) == 1)


def test_full_queue_holds_the_reader_without_losing_frames(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me", queue_size=2) as client:
        peer = broker.peer("me")
        for n in range(6):
            peer.deliver_message("src", bytes([n]))
        _eventually(lambda: client.queued == 2)
        time.sleep(0.05)
        assert client.queued == 2
        assert [client.receive(timeout=2).payload for _ in range(6)] == [bytes([n]) for n in range(6)]
        peer.deliver_message("src", b"a")
        peer.deliver_message("src", b"b")
        peer.deliver_message("src", b"c")
        _eventually(lambda: client.queued == 2)
        started = time.monotonic()
    assert time.monotonic() - started < 1  # close does not wait for a reader stuck on the full queue


# --- ending ------------------------------------------------------------------------------


def _blocked_waiters(client: elbus_client.Client, count: int) -> tuple[list[threading.Thread], list[BaseException]]:
    outcomes: list[BaseException] = []

    def wait() -> None:
        try:
            client.send("x", b"", timeout=10)
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    _eventually(lambda: len(client._session.pending) == count)
    return threads, outcomes


def test_close_fails_pending_waits_promptly_and_joins_threads(sock_path: str) -> None:
    with ScriptedBroker(sock_path, ack=None):
        client = elbus_client.connect(sock_path, "me")
        threads, outcomes = _blocked_waiters(client, 4)
        later = client.send_nowait("y", b"")
        started = time.monotonic()
        client.close()
        for thread in threads:
            thread.join(2)
        assert time.monotonic() - started < 1
        assert len(outcomes) == 4 and all(isinstance(e, ConnectionClosed) for e in outcomes)
        with pytest.raises(ConnectionClosed, match="closed by the client"):
            later.wait(0)
        assert client_threads() == []
        with pytest.raises(ConnectionClosed):
            client.send("x", b"")
        with pytest.raises(ConnectionClosed):
            client.receive(timeout=0)
        client.close()  # idempotent


def test_broker_hang_up_fails_waits_promptly(sock_path: str) -> None:
    with ScriptedBroker(sock_path, ack=None) as broker, elbus_client.connect(sock_path, "me") as client:
        threads, outcomes = _blocked_waiters(client, 3)
        started = time.monotonic()
        broker.peer("me").hang_up()
        for thread in threads:
            thread.join(2)
        assert time.monotonic() - started < 1
        assert len(outcomes) == 3 and all(isinstance(e, ConnectionClosed) for e in outcomes)
        assert "closed the connection" in str(outcomes[0])
        assert client.wait_closed(1) and not client.is_connected
        _eventually(lambda: client_threads() == [])  # both threads end on their own


def test_silent_broker_is_declared_dead_and_keepalives_keep_it_alive(sock_path: str) -> None:
    with ScriptedBroker(sock_path, keepalive=0.05), elbus_client.connect(sock_path, "alive", timeout=0.15) as client:
        time.sleep(0.6)  # twice the dead-broker deadline: NOPs keep the connection
        assert client.is_connected
    other = sock_path + ".2"
    with ScriptedBroker(other, ack=None), elbus_client.connect(other, "me", timeout=0.15) as client:
        pending = client.send_nowait("x", b"")
        started = time.monotonic()
        assert client.wait_closed(2)
        assert 0.1 <= time.monotonic() - started < 1.5
        assert "broker is gone" in (client.close_reason or "")
        with pytest.raises(ConnectionClosed, match="broker is gone"):
            pending.wait(0)


def test_broker_protocol_violation_ends_the_connection(sock_path: str) -> None:
    with ScriptedBroker(sock_path, ack=None) as broker, elbus_client.connect(sock_path, "me") as client:
        pending = client.send_nowait("x", b"")
        broker.peer("me").send(b"\x55\x00\x00\x00\x00\x00")  # unknown frame kind
        with pytest.raises(ConnectionClosed, match="protocol violation"):
            pending.wait(2)
        assert not client.is_connected


def test_pings_follow_the_interval(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker, elbus_client.connect(sock_path, "me", ping_interval=0.05):
        peer = broker.peer("me")
        time.sleep(0.5)
        assert 3 <= peer.pings <= 11


def test_close_from_the_callback(sock_path: str) -> None:
    with ScriptedBroker(sock_path) as broker:
        client = elbus_client.connect(sock_path, "me", on_frame=lambda frame: client.close())
        broker.peer("me").deliver_message("src", b"bye")
        assert client.wait_closed(2)
        _eventually(lambda: client_threads() == [])
        client.close()


# --- secondaries -------------------------------------------------------------------------


def test_secondary_takes_the_first_free_number(sock_path: str) -> None:
    with ScriptedBroker(sock_path, refuse={"p%%1": Code.BUSY, "p%%x": Code.NOT_REGISTERED}):
        with elbus_client.connect(sock_path, "p", timeout=2) as primary:
            with primary.secondary() as second:
                assert second.name == "p%%2" and second.timeout == 2
                with second.secondary(7) as seventh:
                    assert seventh.name == "p%%7"
            with pytest.raises(NotRegistered):
                primary.secondary("x")


# --- reconnecting ------------------------------------------------------------------------


def test_reconnect_renews_subscriptions_and_fails_waits_of_the_lost_connection(sock_path: str) -> None:
    with (
        ScriptedBroker(sock_path) as broker,
        elbus_client.connect(sock_path, "me", reconnect=True, reconnect_delay=0.02) as client,
    ):
        client.subscribe("a/#", "b")
        client.unsubscribe("b")
        first = broker.peer("me")
        broker.ack = None
        lost = client.send_nowait("x", b"lost")
        _eventually(lambda: len(first.requests) == 3)
        first.deliver_message("src", b"kept")
        _eventually(lambda: client.queued == 1)
        broker.ack = Code.OK
        first.hang_up()
        with pytest.raises(ConnectionClosed, match="closed the connection"):
            lost.wait(2)
        second = broker.peer("me", nth=2)
        _eventually(lambda: len(second.requests) == 1)
        assert second.requests == [SubscribeRequest(1, 1, ["a/#"])]  # op ids start again on a new connection
        _eventually(lambda: client.is_connected)
        client.send("x", b"after")
        assert second.requests[-1] == MessageRequest(2, 1, "x", b"after")
        assert client.receive(timeout=1).payload == b"kept"  # frames queued before the loss stay
        assert not client.closed
        second.deliver_publication("src", "a/1", b"again")
        assert client.receive(timeout=2) == Publication("src", "a/1", b"again", False)


def test_close_while_reconnecting_ends_promptly(sock_path: str) -> None:
    broker = ScriptedBroker(sock_path).__enter__()
    client = elbus_client.connect(sock_path, "me", reconnect=True, reconnect_delay=0.02, timeout=0.5)
    broker.__exit__(None, None, None)  # the broker is gone for good
    _eventually(lambda: not client.is_connected)
    with pytest.raises(ConnectionClosed, match="reconnecting"):
        client.send("x", b"")
    time.sleep(0.2)  # a few failed attempts
    assert not client.closed and repr(client).endswith("reconnecting>")
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 1
    assert client.closed and client_threads() == []


def test_refused_renewal_is_logged_and_the_connection_kept(sock_path: str, caplog: pytest.LogCaptureFixture) -> None:
    denied: list[tuple[str, Exception]] = []
    with (
        ScriptedBroker(sock_path) as broker,
        elbus_client.connect(
            sock_path, "me", reconnect=True, reconnect_delay=0.02, on_subscription_denied=lambda *a: denied.append(a)
        ) as client,
    ):
        client.subscribe("secret/#")
        broker.ack = Code.ACCESS
        broker.peer("me").hang_up()
        second = broker.peer("me", nth=2)
        _eventually(lambda: "renewing the subscription to 'secret/#' refused; the topic is dropped" in caplog.text)
        _eventually(lambda: len(denied) == 1)
        assert denied[0][0] == "secret/#" and isinstance(denied[0][1], AccessDenied)
        assert client.is_connected and second.requests == [SubscribeRequest(1, 1, ["secret/#"])]
        time.sleep(0.1)
        assert len([p for p in broker.peers if p.name == "me"]) == 2  # no reconnect churn
