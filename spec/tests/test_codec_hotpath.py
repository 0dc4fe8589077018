"""The codec's hot-path helpers agree with the construct spec and with the checked decoders.

The broker and the clients pack acks and headers, check the greeting and
decode runs of MESSAGE frames with these helpers, not with ``decode_*``: each one is
held to the construct spec here, so a change to the spec that the helpers
missed fails.
"""

from __future__ import annotations

import itertools
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elbus_spec import PROTOCOL_VERSION, Code, Kind, Op, RemoteProtocolError, codec, schema

U32 = st.integers(0, 0xFFFF_FFFF)
U8 = st.integers(0, 0xFF)


@given(U32, U8)
def test_pack_and_unpack_ack_match_construct(op_id: int, code: int) -> None:
    frame = codec.pack_ack(op_id, code)
    assert frame == schema.ACK.build({"op_id": op_id, "code": code}) == codec.encode_ack(op_id, code)
    assert frame[0] == codec.ACK_TAG
    assert codec.unpack_ack_from(b"xx" + frame, 2) == (op_id, code) == codec.decode_ack(frame)


@given(U8, U32, U8)
def test_public_server_header_matches_construct(kind: int, length: int, realtime: int) -> None:
    packed = codec.SERVER_HEADER.pack(kind, length, realtime)
    assert packed == schema.SERVER_HEADER.build({"kind": kind, "length": length, "realtime": realtime})
    assert codec.SERVER_HEADER.unpack(packed) == codec.decode_server_header(packed)


@given(U32, st.integers(0, 3), st.integers(0, 0x3F), U32)
def test_client_header_bit_positions_match_construct(op_id: int, qos: int, op: int, length: int) -> None:
    built = schema.CLIENT_HEADER.build({"op_id": op_id, "flags": {"qos": qos, "op": op}, "length": length})
    got_op_id, flags, got_length = codec.CLIENT_HEADER.unpack(built)
    assert (got_op_id, got_length) == (op_id, length)
    assert (flags >> codec.CLIENT_HEADER_QOS_SHIFT) & codec.CLIENT_HEADER_QOS_MASK == qos
    assert (flags >> codec.CLIENT_HEADER_OP_SHIFT) & codec.CLIENT_HEADER_OP_MASK == op


def test_fixed_units_match_construct() -> None:
    assert codec.PROTOCOL_GREETING == schema.GREETING.build({"version": PROTOCOL_VERSION})
    assert codec.RESULT_OK == schema.RESULT.build({"code": Code.OK})
    assert codec.NOP_FRAME == schema.NOP.build({})
    ping = schema.CLIENT_FRAME.parse(codec.PING_FRAME)
    assert (ping.flags.qos, ping.flags.op) == (0, 0) and len(codec.PING_FRAME) == codec.CLIENT_HEADER_SIZE


@pytest.mark.parametrize("greeting", [b"\xea\x01\x00", b"\xeb\x02\x00", b"\xeb\x01\x01"])
def test_check_greeting_refuses_other_versions_and_magic(greeting: bytes) -> None:
    codec.check_greeting(codec.PROTOCOL_GREETING)
    with pytest.raises(RemoteProtocolError, match=f"unsupported greeting {greeting.hex()}"):
        codec.check_greeting(b"\x00" + greeting, 1)


@given(st.text(max_size=30))
def test_size_of_registration_matches_construct(name: str) -> None:
    wire = schema.REGISTRATION.build({"name": name})
    assert codec.size_of_registration(wire + b"more") == len(wire)
    assert codec.size_of_registration(wire[:1]) is None


def _checked(units: list[bytes], max_length: int) -> tuple[list[tuple[int, int, str, bytes, int]], int, str | None]:
    """The leading whole MESSAGE frames of ``units`` as the checked decoders read them: frames, end, error."""
    frames: list[tuple[int, int, str, bytes, int]] = []
    pos = 0
    for unit in units:
        if len(unit) < codec.CLIENT_HEADER_SIZE:
            break
        op_id, qos, op, length = codec.decode_client_header(unit)
        if op != Op.MESSAGE or length > max_length or len(unit) - codec.CLIENT_HEADER_SIZE < length:
            break
        try:
            target, payload = codec.decode_addressed_body(unit, codec.CLIENT_HEADER_SIZE)
        except RemoteProtocolError as exc:
            return frames, pos, exc.reason
        frames.append((op_id, qos, target, payload, length))
        pos += len(unit)
    return frames, pos, None


NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5)
MESSAGE = st.builds(codec.encode_message_frame, U32, st.integers(0, 3), NAME, st.binary(max_size=20))
OTHER = st.one_of(
    st.just(codec.PING_FRAME),
    st.builds(codec.encode_publish_frame, U32, st.integers(0, 3), NAME, st.binary(max_size=20)),
    st.builds(lambda body: codec.encode_client_header(1, 1, Op.MESSAGE, len(body)) + body, st.binary(max_size=12)),
)


@given(st.lists(st.one_of(MESSAGE, OTHER), max_size=8), st.integers(0, 40), st.integers(0, 60))
def test_message_runs_agree_with_the_checked_decoders(units: list[bytes], max_length: int, cut: int) -> None:
    """Same frames, same stopping point, same error reason, warm or cold cache; a cut frame ends the run."""
    stream = b"".join(units)
    end = max(0, len(stream) - cut)
    whole = list(itertools.accumulate(units))
    complete = [u for u, upto in zip(units, whole, strict=True) if len(upto) <= end]
    frames, stop, error = _checked(complete, max_length)
    cache: dict[bytes, str] = {}
    for _ in range(2):
        out: list[tuple[int, int, str, bytes, int]] = []
        if error is None:
            assert codec.decode_message_frames(stream, 0, end, max_length, cache, out) == stop
        else:
            with pytest.raises(RemoteProtocolError) as caught:
                codec.decode_message_frames(stream, 0, end, max_length, cache, out)
            assert caught.value.reason == error
        assert out == frames


TARGETS = st.sampled_from(["ab", "a", "abc", "", "ab\x01", "é", "e"])


@given(st.lists(st.tuples(TARGETS, st.binary(max_size=4)), max_size=10))
def test_runs_of_repeated_and_prefixed_targets(sends: list[tuple[str, bytes]]) -> None:
    """A target equal to, a prefix of, or longer than the previous one (the decoder's shortcut), and a
    payload starting like a target, decode as the checked decoders read them."""
    units = [codec.encode_message_frame(i + 1, i % 4, target, payload) for i, (target, payload) in enumerate(sends)]
    frames, stop, error = _checked(units, 1 << 20)
    assert error is None
    out: list[tuple[int, int, str, bytes, int]] = []
    assert codec.decode_message_frames(b"".join(units), 0, stop, 1 << 20, {}, out) == stop
    assert out == frames


_DELIVERED = (Kind.MESSAGE, Kind.BROADCAST, Kind.PUBLISH)
Delivery = tuple[int, str, str | None, bytes, int]


def _checked_deliveries(units: list[bytes], max_length: int) -> tuple[list[Delivery], int, str | None]:
    """The leading whole deliveries of ``units`` as the checked decoders read them: frames, end, error."""
    frames: list[Delivery] = []
    pos = 0
    for unit in units:
        if len(unit) < codec.SERVER_HEADER_SIZE:
            break
        kind, length, realtime = codec.decode_server_header(unit)
        if kind not in _DELIVERED or length > max_length or len(unit) - codec.SERVER_HEADER_SIZE < length:
            break
        try:
            if kind == Kind.PUBLISH:
                sender, topic, payload = codec.decode_publication_body(unit, codec.SERVER_HEADER_SIZE)
            else:
                (sender, payload), topic = codec.decode_sender_body(unit, codec.SERVER_HEADER_SIZE), None
        except RemoteProtocolError as exc:
            return frames, pos, exc.reason
        frames.append((kind, sender, topic, payload, realtime))
        pos += len(unit)
    return frames, pos, None


LEADING = st.one_of(st.sampled_from(["ab", "a", "abc", "", "é"]), NAME)
DELIVERY = st.one_of(
    st.builds(codec.encode_message_delivery, st.integers(0, 1), LEADING, st.binary(max_size=12)),
    st.builds(codec.encode_broadcast_delivery, st.integers(0, 1), LEADING, st.binary(max_size=12)),
    st.builds(codec.encode_publication_delivery, st.integers(0, 1), LEADING, LEADING, st.binary(max_size=12)),
)
NOT_DELIVERY = st.one_of(
    st.just(codec.NOP_FRAME),
    st.builds(codec.pack_ack, U32, U8),
    st.builds(lambda kind, body: codec.SERVER_HEADER.pack(kind, len(body), 0) + body,
              st.sampled_from([*_DELIVERED, 0x42]), st.binary(max_size=8)),  # bodies without NUL, bad UTF-8...
)


@given(st.lists(st.one_of(DELIVERY, DELIVERY, NOT_DELIVERY), max_size=8), st.one_of(st.just(1 << 20), st.integers(0, 40)),
       st.one_of(st.just(0), st.integers(0, 60)))
def test_delivery_runs_agree_with_the_checked_decoders(units: list[bytes], max_length: int, cut: int) -> None:
    """Same frames, same stopping point, same error reason; a cut frame ends the run; repeated or
    prefixed senders and topics (the decoder's shortcut) read as the checked decoders read them."""
    stream = b"".join(units)
    end = max(0, len(stream) - cut)
    whole = list(itertools.accumulate(units))
    complete = [u for u, upto in zip(units, whole, strict=True) if len(upto) <= end]
    frames, stop, error = _checked_deliveries(complete, max_length)
    out: list[Delivery] = []
    if error is None:
        assert codec.decode_delivery_frames(stream, 0, end, max_length, out) == stop
    else:
        with pytest.raises(RemoteProtocolError) as caught:
            codec.decode_delivery_frames(stream, 0, end, max_length, out)
        assert caught.value.reason == error
    assert out == frames


@given(st.lists(st.tuples(st.sampled_from(["ab", "a", "abc", "", "ab\x01"]), st.sampled_from(["t/1", "t", "t/12", ""]),
                          st.sampled_from(_DELIVERED), st.binary(max_size=4)), max_size=10))
def test_delivery_runs_of_repeated_and_prefixed_senders_and_topics(sends: list[tuple[str, str, int, bytes]]) -> None:
    """A sender or topic equal to, a prefix of, or longer than the previous one (the decoder's shortcut)."""
    units = [codec.encode_publication_delivery(0, sender, topic, payload) if kind == Kind.PUBLISH
             else codec.encode_message_delivery(1, sender, payload) for sender, topic, kind, payload in sends]
    frames, stop, error = _checked_deliveries(units, 1 << 20)
    assert error is None
    out: list[Delivery] = []
    assert codec.decode_delivery_frames(b"".join(units), 0, stop, 1 << 20, out) == stop
    assert out == frames


def test_target_cache_stays_bounded() -> None:
    cache: dict[bytes, str] = {}
    for i in range(codec.STRING_CACHE_SIZE * 3):
        frame = codec.encode_message_frame(1, 0, f"t{i}", b"payload")
        codec.decode_message_frames(frame, 0, len(frame), 1 << 20, cache, [])
        assert len(cache) <= codec.STRING_CACHE_SIZE


# --- memoryview payloads: lengths in bytes --------------------------------------------------


def _views() -> list[memoryview]:
    words = array("I", range(1, 9))
    return [
        memoryview(words),  # 8 items, 32 bytes
        memoryview(bytearray(range(40)))[::3],  # not contiguous
        memoryview(words).cast("B").cast("H"),  # 16 items
        memoryview(array("d", [1.5, 2.5]))[1:],  # 1 item, 8 bytes
    ]


@pytest.mark.parametrize("view", _views(), ids=["array-I", "strided", "u16", "double-slice"])
def test_encoders_frame_a_memoryview_by_its_bytes(view: memoryview) -> None:
    data = view.tobytes()
    assert codec.encode_message_frame(7, 1, "x", view) == codec.encode_message_frame(7, 1, "x", data)
    assert codec.encode_publish_for_frame(7, 1, "t", "r", view) == codec.encode_publish_for_frame(7, 1, "t", "r", data)
    assert codec.encode_message_delivery(0, "s", view) == codec.encode_message_delivery(0, "s", data)
    assert codec.encode_addressed_body("x", view) == codec.encode_addressed_body("x", data)
    assert codec.encode_rpc_request(1, "m", view) == codec.encode_rpc_request(1, "m", data)
    frame = codec.encode_message_frame(7, 1, "x", view)
    assert codec.decode_client_header(frame)[3] == len(frame) - codec.CLIENT_HEADER_SIZE == 2 + len(data)
    assert schema.CLIENT_FRAME.parse(frame).body.payload == data


def test_a_memoryview_payload_keeps_the_stream_in_step() -> None:
    """Two frames back to back parse as two frames: a short length would turn the payload's tail into a header."""
    from elbus_spec import BrokerConnection, MessageRequest

    conn = BrokerConnection()
    conn.receive_data(codec.PROTOCOL_GREETING + codec.encode_registration("me"))
    conn.accept()
    view = memoryview(array("I", [0x12345678] * 4))
    stream = codec.encode_message_frame(1, 1, "a", view) + codec.encode_message_frame(2, 1, "b", b"z")
    assert conn.receive_data(stream) == [MessageRequest(1, 1, "a", view.tobytes()), MessageRequest(2, 1, "b", b"z")]
