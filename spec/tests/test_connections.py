"""Sans-IO connections: the two ends joined in memory, fed whole and byte by byte, and fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elbus_spec import (
    Ack,
    Broadcast,
    BroadcastRequest,
    BrokerConnection,
    ClientConnection,
    Code,
    HandshakeComplete,
    KeepAlive,
    LocalProtocolError,
    Message,
    MessageRequest,
    Ping,
    ProtocolViolation,
    Publication,
    PublishRequest,
    QoS,
    Refused,
    Registered,
    RegistrationRequest,
    State,
    SubscribeRequest,
    codec,
)


def feed(conn, data: bytes, bytewise: bool):  # type: ignore[no-untyped-def]
    if not bytewise:
        return conn.receive_data(data)
    events = []
    for i in range(len(data)):
        events += conn.receive_data(data[i : i + 1])
    return events


def handshake(bytewise: bool = False) -> tuple[BrokerConnection, ClientConnection]:
    broker, client = BrokerConnection(), ClientConnection("g1.c1")
    assert feed(client, broker.greeting(), bytewise) == []
    assert feed(broker, client.data_to_send(), bytewise) == [HandshakeComplete()]
    assert feed(client, broker.data_to_send(), bytewise) == []
    assert feed(broker, client.data_to_send(), bytewise) == [RegistrationRequest("g1.c1")]
    assert feed(client, broker.accept(), bytewise) == [Registered()]
    assert broker.state is State.READY and client.state is State.READY
    return broker, client


@pytest.mark.parametrize("bytewise", [False, True])
def test_pair_exchanges_every_operation(bytewise: bool) -> None:
    broker, client = handshake(bytewise)
    frames = [
        client.send_message("g1.c2", b"hi", QoS.PROCESSED),
        client.send_broadcast("g1.*", b"", QoS.NO),
        client.send_publish("a/b", b"\x00\x01", QoS.REALTIME_PROCESSED),
        client.send_subscribe(["a/#", "+/b"], QoS.PROCESSED),
    ]
    assert [op for op, _ in frames] == [1, 2, 3, 4]
    events = feed(broker, b"".join(data for _, data in frames) + client.ping(), bytewise)
    assert events == [
        MessageRequest(1, 1, "g1.c2", b"hi"),
        BroadcastRequest(2, 0, "g1.*", b""),
        PublishRequest(3, 3, "a/b", b"\x00\x01"),
        SubscribeRequest(4, 1, ["a/#", "+/b"]),
        Ping(),
    ]
    out = (
        broker.ack(1)
        + codec.encode_message_delivery(0, "g1.c2", b"back")
        + codec.encode_nop()
        + codec.encode_broadcast_delivery(1, "x%%2", b"b")
        + codec.encode_publication_delivery(0, "p", "a/b", b"")
        + broker.ack(3, Code.NOT_REGISTERED)
    )
    events = feed(client, out, bytewise)
    assert events == [
        Ack(1, 1),
        Message("g1.c2", None, b"back", False),
        KeepAlive(),
        Broadcast("x%%2", None, b"b", True),
        Publication("p", "a/b", b"", False),
        Ack(3, 0x71),
    ]
    assert events[3].primary_sender == "x"  # type: ignore[attr-defined]


def test_frames_pipelined_behind_the_registration_are_kept() -> None:
    broker, client = BrokerConnection(), ClientConnection("c")
    client.receive_data(broker.greeting())
    broker.receive_data(client.data_to_send())
    client.receive_data(broker.data_to_send())
    ping = codec.encode_client_header(0, 0, 0, 0)
    assert broker.receive_data(client.data_to_send() + ping) == [RegistrationRequest("c")]
    broker.accept()
    assert broker.receive_data(b"") == [Ping()]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("ea0100"), "unsupported greeting"),
        (bytes.fromhex("eb0200"), "unsupported greeting"),
    ],
)
def test_bad_greeting_gets_75_then_error(data: bytes, reason: str) -> None:
    broker = BrokerConnection()
    events = broker.receive_data(data)
    assert isinstance(events[0], ProtocolViolation) and reason in events[0].reason
    assert broker.data_to_send() == b"\x75"
    assert broker.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        broker.receive_data(b"x")


def test_name_not_utf8_is_a_violation_without_reply() -> None:
    broker = BrokerConnection()
    broker.receive_data(bytes.fromhex("eb0100"))
    broker.data_to_send()
    [event] = broker.receive_data(bytes.fromhex("0300fffe41"))
    assert isinstance(event, ProtocolViolation)
    assert broker.data_to_send() == b""


def test_refuse_closes() -> None:
    broker = BrokerConnection()
    broker.receive_data(bytes.fromhex("eb0100") + bytes.fromhex("0500742e647570"))
    assert broker.refuse(Code.BUSY) == b"\x76"
    assert broker.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        broker.refuse(Code.BUSY)


@pytest.mark.parametrize("code", [0x75, 0x72, 0x76, 0x71, 0x79])
def test_client_reports_refusals(code: int) -> None:
    client = ClientConnection("c")
    client.receive_data(bytes.fromhex("eb0100"))
    assert client.data_to_send() == bytes.fromhex("eb0100")
    if code == 0x75:
        assert client.receive_data(bytes([code])) == [Refused(code, "handshake")]
    else:
        client.receive_data(b"\x01")
        assert client.data_to_send() == bytes.fromhex("0100") + b"c"
        assert client.receive_data(bytes([code])) == [Refused(code, "registration")]
    assert client.state is State.CLOSED


def test_oversized_length_is_refused_at_the_header() -> None:
    broker, _ = handshake()
    broker.max_frame_length = 1000
    header = codec.encode_client_header(1, 1, 0x12, 0xFFFF_FFFF)
    [event] = broker.receive_data(header)
    assert isinstance(event, ProtocolViolation) and "exceeds" in event.reason
    assert broker.buffered == 0


def test_client_rejects_oversized_delivery() -> None:
    _, client = handshake()
    client.max_frame_length = 10
    [event] = client.receive_data(codec.encode_server_header(0x12, 11, 0))
    assert isinstance(event, ProtocolViolation)


def test_op_ids_wrap_like_the_original() -> None:
    _, client = handshake()
    client._op_id = 0xFFFF_FFFE
    assert client.next_op_id() == 0xFFFF_FFFF
    assert client.next_op_id() == 1


def test_sending_before_registration_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        ClientConnection("c").send_message("x", b"")


def test_extensions_can_be_disabled() -> None:
    broker = BrokerConnection(extensions=False)
    broker.receive_data(bytes.fromhex("eb0100") + codec.encode_registration("c"))
    broker.accept()
    [event] = broker.receive_data(codec.encode_exclude_frame(1, 1, ["a"]))
    assert isinstance(event, ProtocolViolation)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=12), st.booleans())
def test_fuzz_broker_side_only_events_or_violation(chunks: list[bytes], registered: bool) -> None:
    broker = BrokerConnection(max_frame_length=64)
    if registered:
        broker.receive_data(bytes.fromhex("eb0100") + codec.encode_registration("c"))
        broker.accept()
    for chunk in chunks:
        if broker.state in (State.ERROR, State.CLOSED):
            with pytest.raises(LocalProtocolError):
                broker.receive_data(chunk)
            break
        events = broker.receive_data(chunk)
        if broker.state is State.AWAIT_REGISTRATION:
            broker.accept()
        assert all(not isinstance(e, ProtocolViolation) for e in events[:-1])
        assert broker.buffered <= 9 + 64


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_fuzz_client_side_only_events_or_violation(chunks: list[bytes]) -> None:
    client = ClientConnection("c", max_frame_length=64)
    client.receive_data(bytes.fromhex("eb0100") + b"\x01\x01")
    for chunk in chunks:
        if client.state is State.ERROR:
            with pytest.raises(LocalProtocolError):
                client.receive_data(chunk)
            break
        client.receive_data(chunk)
        assert client.buffered <= 6 + 64
