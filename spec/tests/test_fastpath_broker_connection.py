"""`BrokerConnection.receive_frames` (MESSAGE frames as plain tuples) agrees with `receive_data` on every input."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from elbus_spec import PING_FRAME, BrokerConnection, MessageRequest, Ping, ProtocolViolation, PublishRequest, QoS, State, codec

_HEADER = codec.CLIENT_HEADER
_HANDSHAKE = codec.encode_greeting(1) + codec.encode_registration("tx")


def ready(max_frame_length: int = 1 << 20) -> BrokerConnection:
    conn = BrokerConnection(max_frame_length=max_frame_length)
    conn.receive_data(_HANDSHAKE)
    conn.accept()
    assert conn.state is State.READY
    return conn


def as_events(items: list) -> list:  # type: ignore[type-arg]
    """Raw MESSAGE tuples as the events `receive_data` gives, after checking their body length."""
    out = []
    for item in items:
        if type(item) is tuple:
            op_id, qos, target, payload, length = item
            assert length == len(target.encode()) + 1 + len(payload)
            out.append(MessageRequest(op_id, qos, target, payload))
        else:
            out.append(item)
    return out


def frame(op_id: int, op: int, qos: int, body: bytes) -> bytes:
    return _HEADER.pack(op_id, op | qos << 6, len(body)) + body


def test_messages_come_as_tuples_and_other_frames_as_events() -> None:
    conn = ready()
    data = (
        codec.encode_message_frame(7, QoS.PROCESSED, "rx", b"hello")
        + PING_FRAME
        + codec.encode_publish_frame(8, QoS.NO, "a/b", b"x")
        + codec.encode_message_frame(9, QoS.REALTIME, "\u00e9t\u00e9", b"")
    )
    assert conn.receive_frames(data) == [
        (7, 1, "rx", b"hello", 8),
        Ping(),
        PublishRequest(8, 0, "a/b", b"x"),
        (9, 2, "\u00e9t\u00e9", b"", 6),
    ]
    assert conn.buffered == 0


def test_many_frames_per_chunk_and_byte_by_byte() -> None:
    frames = b"".join(codec.encode_message_frame(i + 1, QoS.NO, f"rx{i % 3}", bytes([i]) * i) for i in range(200))
    whole = ready().receive_frames(frames)
    conn = ready()
    bytewise = []
    for i in range(len(frames)):
        bytewise += conn.receive_frames(frames[i : i + 1])
    assert whole == bytewise
    assert len(whole) == 200 and whole[5] == (6, 0, "rx2", b"\x05" * 5, 9)
    assert conn.buffered == 0


def test_invalid_utf8_target_is_a_violation_after_the_frames_before_it() -> None:
    conn = ready()
    good = codec.encode_message_frame(1, QoS.NO, "rx", b"ok")
    # a cached valid target must not let a different, invalid one through
    items = conn.receive_frames(good + frame(2, 0x12, 0, b"\xff\xfe\0payload") + good)
    assert items[0] == (1, 0, "rx", b"ok", 5)
    assert items[1] == ProtocolViolation("addressed_body: a string is not valid UTF-8")
    assert len(items) == 2 and conn.state is State.ERROR


def test_target_without_nul_is_a_violation() -> None:
    conn = ready()
    assert conn.receive_frames(frame(1, 0x12, 0, b"no terminator")) == [
        ProtocolViolation("addressed_body: target is not NUL-terminated")
    ]


def test_max_frame_length_is_checked_at_the_header() -> None:
    conn = ready(max_frame_length=100)
    ok = codec.encode_message_frame(1, QoS.NO, "rx", b"x" * 97)  # body exactly 100 bytes
    assert conn.receive_frames(ok) == [(1, 0, "rx", b"x" * 97, 100)]
    # only the 9-byte header of the oversized frame has arrived: it is refused before its body
    items = conn.receive_frames(_HEADER.pack(2, 0x12, 101))
    assert items == [ProtocolViolation("frame length 101 exceeds the maximum 100")]
    assert conn.buffered == 0


def test_frames_pipelined_behind_the_name_are_parsed_after_accept() -> None:
    conn = BrokerConnection()
    message = codec.encode_message_frame(3, QoS.NO, "rx", b"early")
    conn.receive_frames(_HANDSHAKE + message)
    assert conn.state is State.AWAIT_REGISTRATION and conn.buffered == len(message)
    conn.accept()
    assert conn.receive_frames(b"") == [(3, 0, "rx", b"early", 8)]


_targets = st.one_of(
    st.sampled_from([b"rx", b"r\xc3\xa9", b"", b"a.b%%c"]),
    st.binary(max_size=6).filter(lambda b: b"\0" not in b),  # often invalid UTF-8
)
_frames = st.one_of(
    st.builds(lambda op_id, qos, t, p: frame(op_id, 0x12, qos, t + b"\0" + p),
              st.integers(0, 2**32 - 1), st.integers(0, 3), _targets, st.binary(max_size=20)),
    st.builds(lambda op_id, t, p: frame(op_id, 0x01, 0, t + b"\0" + p), st.integers(0, 9), _targets, st.binary(max_size=8)),
    st.builds(lambda t: frame(1, 0x02, 1, t), _targets),
    st.just(PING_FRAME),
    st.builds(lambda b: frame(1, 0x12, 0, b), st.binary(max_size=8)),  # maybe no NUL
    st.builds(lambda op: frame(1, op, 0, b""), st.integers(1, 0x3F)),  # maybe an unknown op
    st.just(_HEADER.pack(1, 0x12, 1000)),  # over the maximum below
)


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(_frames, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_fast_path_and_event_path_agree(frames: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frames)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    events_conn, fast_conn = ready(max_frame_length=500), ready(max_frame_length=500)
    events: list = []  # type: ignore[type-arg]
    fast: list = []  # type: ignore[type-arg]
    for a, b in itertools.pairwise(bounds):
        if events_conn.state is State.ERROR:
            break
        events += events_conn.receive_data(data[a:b])
        fast += as_events(fast_conn.receive_frames(data[a:b]))
        assert events == fast
        assert (events_conn.state, events_conn.buffered) == (fast_conn.state, fast_conn.buffered)
