"""The rules `ClientConnection` sets for both clients: topics, payloads, QoS, frame size, timeouts, backoff."""

from __future__ import annotations

import errno

import pytest

from elbus_spec import (
    DEAD_BROKER_FACTOR,
    BrokerTimeout,
    BrokerUnavailable,
    ClientConnection,
    Code,
    ConnectTimeout,
    ElbusError,
    FrameTooLarge,
    InvalidTopic,
    ReceiveTimeout,
    RpcTimeout,
)


def ready(max_frame_length: int = 1024) -> ClientConnection:
    conn = ClientConnection("c", max_frame_length=max_frame_length, timeout=2.0)
    conn.receive_data(bytes.fromhex("eb0100") + b"\x01\x01")
    return conn


@pytest.mark.parametrize("pattern", ["#", "a/#", "+", "+/b/#", "a/+/c", "a//b", "ä/ö", ""])
def test_valid_patterns(pattern: str) -> None:
    assert ClientConnection.check_patterns([pattern]) == [pattern]


@pytest.mark.parametrize("pattern", ["a/#/b", "#/a", "a#", "a/b#", "a/+b", "++"])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(InvalidTopic):
        ClientConnection.check_patterns(["ok", pattern])
    assert ready().send_subscribe([pattern])  # the wire carries it: only the clients refuse it


def test_pattern_lists_and_types() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        ClientConnection.check_patterns([])
    with pytest.raises(TypeError, match="separate arguments"):
        ClientConnection.check_patterns([["a", "b"]])  # type: ignore[list-item]


@pytest.mark.parametrize("topic", ["a/+", "a/#", "#", "a+b"])
def test_no_wildcards_in_publications(topic: str) -> None:
    with pytest.raises(InvalidTopic, match="no wildcards"):
        ClientConnection.check_publication_topic(topic)
    with pytest.raises(TypeError, match="topic must be str, got bytes"):
        ClientConnection.check_publication_topic(b"t")  # type: ignore[arg-type]


def test_payload_types() -> None:
    conn = ready()
    assert conn.send_message("t", "é")[1].endswith("é".encode())
    assert conn.send_message("t", memoryview(b"xy"))[1].endswith(b"xy")
    with pytest.raises(TypeError, match="payload must be bytes or str, got int"):
        conn.send_message("t", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got dict"):
        conn.send_publish("t", {})  # type: ignore[arg-type]


def test_qos_is_checked() -> None:
    with pytest.raises(ValueError, match=r"qos must be 0\.\.3"):
        ready().send_message("t", b"", 4)


def test_frame_size_limit_names_size_and_limit() -> None:
    conn = ready(max_frame_length=100)
    conn.send_message("t", b"x" * (100 - 2))  # target + NUL + payload = 100
    with pytest.raises(FrameTooLarge) as info:
        conn.send_message("t", b"x" * (100 - 1))
    assert (info.value.size, info.value.limit) == (101, 100)
    assert "101 bytes" in str(info.value) and "100 bytes" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ElbusError)


def test_timeouts() -> None:
    conn = ready()
    assert conn.dead_broker_after == 2.0 * DEAD_BROKER_FACTOR
    assert conn.ack_timeout(None) == 2.0 and conn.ack_timeout(0.5) == 0.5
    with pytest.raises(ValueError):
        ClientConnection("c", timeout=0)


def test_renewable() -> None:
    assert ClientConnection.renewable(["a"], Code.OK) == ["a"]
    assert ClientConnection.renewable(["a"], None) == ["a"]
    assert ClientConnection.renewable(["a"], Code.ACCESS) == []
    assert ClientConnection.renewable(["a", "b"], Code.ACCESS) == ["a", "b"]


def test_reconnect_delays_double_with_jitter_up_to_the_limit() -> None:
    delays = ClientConnection.reconnect_delays(0.1, 0.5)
    steps = [next(delays) for _ in range(6)]
    for got, step in zip(steps, [0.1, 0.2, 0.4, 0.5, 0.5, 0.5], strict=True):
        assert step / 2 <= got <= step


def test_error_classes() -> None:
    for cls in (BrokerTimeout, ReceiveTimeout, ConnectTimeout):
        assert issubclass(cls, TimeoutError) and issubclass(cls, ElbusError)
    assert issubclass(RpcTimeout, TimeoutError)
    assert str(RpcTimeout(-32120, "no reply")) == "no reply (code: -32120)"
    assert str(BrokerTimeout()) == "broker code 0x78 (TIMEOUT)"
    missing = BrokerUnavailable.wrap("/x.sock", FileNotFoundError(errno.ENOENT, "No such file or directory"))
    assert isinstance(missing, OSError) and missing.errno == errno.ENOENT and "/x.sock" in str(missing)
    late = BrokerUnavailable.wrap("h:1", TimeoutError("timed out"))
    assert isinstance(late, ConnectTimeout) and late.errno == errno.ETIMEDOUT
