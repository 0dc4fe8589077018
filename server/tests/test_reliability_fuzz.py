"""Fuzzing the broker-side sans-IO connection, the client side and every codec decoder with hypothesis.

The invariant is the one the broker relies on: bytes from a client yield
events or a `ProtocolViolation` (after which the connection is closed), and a
decoder raises `RemoteProtocolError`, never any other exception. Inputs mix
well-formed frames (so that the parsers get deep) with random bytes, cut at
random chunk boundaries. Examples are bounded so that the module runs in
about ten seconds; ``ELBUS_SOAK=1`` multiplies them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import env_flag

from elbus_spec import (
    BrokerConnection,
    ClientConnection,
    LocalProtocolError,
    ProtocolViolation,
    RegistrationRequest,
    RemoteProtocolError,
    State,
    codec,
)

SCALE = 20 if env_flag("ELBUS_SOAK") else 1
FUZZ = settings(max_examples=1500 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ops = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x12, 0x13, 0x14, 0x15, 0x3F, 0xFE, 0xFF])
texts = st.text(max_size=8) | st.sampled_from(["a.*", "?.x", "a/#", "+/b", "", "\x00", ".broker"])
bodies = st.one_of(
    st.binary(max_size=24),
    st.builds(lambda a, p: a.encode() + b"\0" + p, texts, st.binary(max_size=8)),
    st.builds(lambda ts: b"\0".join(t.encode() for t in ts), st.lists(texts, min_size=1, max_size=3)),
    st.builds(lambda a, b, p: a.encode() + b"\0" + b.encode() + b"\0" + p, texts, texts, st.binary(max_size=8)),
)


@st.composite
def client_frames(draw: st.DrawFn) -> bytes:
    """A client frame header and body: the announced length is usually right, sometimes absurd."""
    body = draw(bodies)
    length = draw(st.sampled_from([len(body)] * 6 + [0, len(body) + 3, 0xFFFFFFFF, 1 << 24]))
    op = draw(ops) | (draw(st.integers(0, 3)) << 6)
    return draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little") + bytes([op]) + length.to_bytes(4, "little") + body


handshakes = st.one_of(
    st.just(b"\xeb\x01\x00"),
    st.binary(min_size=3, max_size=3),
)
names = st.one_of(
    st.builds(lambda t: len(t.encode()).to_bytes(2, "little") + t.encode(), texts),
    st.builds(lambda b, n: n.to_bytes(2, "little") + b, st.binary(max_size=6), st.integers(0, 0xFFFF)),
)
streams = st.builds(
    lambda h, n, parts: h + n + b"".join(parts),
    handshakes,
    names,
    st.lists(client_frames() | st.binary(min_size=1, max_size=16), max_size=8),
)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def feed_broker(data: bytes, cuts: list[int], accept: bool, max_frame_length: int = 1 << 16) -> None:
    """What `SocketPeer` does with a client's bytes, minus the socket; fails on any unexpected exception."""
    conn = BrokerConnection(max_frame_length=max_frame_length, extensions=False)
    conn.greeting()
    for chunk in chunks(data, cuts):
        before = conn.state
        try:
            events = conn.receive_data(chunk)
        except LocalProtocolError:
            assert before in (State.CLOSED, State.ERROR), before  # only late bytes on a finished connection
            return
        conn.data_to_send()
        for event in events:
            if isinstance(event, ProtocolViolation):
                assert conn.state is State.ERROR
                return
            if isinstance(event, RegistrationRequest):
                if not accept:
                    conn.refuse(0x76)
                    return
                conn.accept()
                for later in conn.receive_data(b""):
                    if isinstance(later, ProtocolViolation):
                        return
        assert conn.buffered >= 0


@FUZZ
@given(streams, st.lists(st.integers(0, 10_000), max_size=6), st.booleans())
def test_broker_connection_yields_events_or_a_violation(data: bytes, cuts: list[int], accept: bool) -> None:
    feed_broker(data, cuts, accept)


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(0, 10_000), max_size=4))
def test_broker_connection_on_pure_noise(data: bytes, cuts: list[int]) -> None:
    feed_broker(b"\xeb\x01\x00\x02\x00ok" + data, cuts, True, max_frame_length=64)


server_frames = st.one_of(
    st.builds(lambda k, b, r: codec.SERVER_HEADER.pack(k, len(b), r) + b, st.sampled_from([0x12, 0x13, 0x01, 0x00, 0x55]),
              bodies, st.integers(0, 255)),
    st.builds(lambda op, code: b"\xfe" + op.to_bytes(4, "little") + bytes([code]),
              st.integers(0, 2**32 - 1), st.integers(0, 255)),
    st.binary(min_size=1, max_size=16),
)


@FUZZ
@given(st.sampled_from([b"\xeb\x01\x00\x01", b"\xeb\x01\x00\x75", b""]) | st.binary(max_size=4),
       st.lists(server_frames, max_size=8), st.lists(st.integers(0, 10_000), max_size=4))
def test_client_connection_yields_events_or_a_violation(handshake: bytes, frames: list[bytes], cuts: list[int]) -> None:
    conn = ClientConnection("fuzz")
    data = handshake + (b"\x01" if handshake == b"\xeb\x01\x00\x01" else b"") + b"".join(frames)
    for chunk in chunks(data, cuts):
        try:
            events = conn.receive_data(chunk)
        except LocalProtocolError:
            assert conn.state in (State.CLOSED, State.ERROR), conn.state
            return
        conn.data_to_send()
        if any(isinstance(e, ProtocolViolation) for e in events):
            return


# Every body decoder takes (buf, start, end); the run decoders have their own signatures, fuzzed below.
DECODERS = sorted(n for n in dir(codec) if n.startswith("decode_") and not n.endswith("_frames"))


@FUZZ
@given(st.sampled_from(DECODERS), st.binary(max_size=40) | bodies, st.data())
def test_decoders_raise_only_remote_protocol_error(name: str, buf: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(buf) + 2))
    end = data.draw(st.none() | st.integers(0, len(buf)))
    try:
        getattr(codec, name)(buf, start, end)
    except RemoteProtocolError:
        pass


@pytest.mark.parametrize("name", ["decode_ack", "decode_client_header", "decode_greeting", "decode_registration"])
def test_decoders_with_end_beyond_the_buffer(name: str) -> None:
    """Found by the fuzzer (a regression test): a window past the buffer is a truncated one."""
    with pytest.raises(RemoteProtocolError):
        getattr(codec, name)(b"", 0, 9)


@FUZZ
@given(st.binary(max_size=80) | bodies, st.integers(0, 64))
def test_the_message_run_decoder_raises_only_remote_protocol_error(buf: bytes, max_length: int) -> None:
    out: list[tuple[int, int, str, bytes, int]] = []
    try:
        stop = codec.decode_message_frames(buf, 0, len(buf), max_length, {}, out)
    except RemoteProtocolError:
        return
    assert 0 <= stop <= len(buf)
    assert all(length <= max_length for *_, length in out)


@FUZZ
@given(st.binary(max_size=80) | bodies, st.integers(0, 64))
def test_the_delivery_run_decoder_raises_only_remote_protocol_error(buf: bytes, max_length: int) -> None:
    out: list[tuple[int, str, str | None, bytes, int]] = []
    try:
        stop = codec.decode_delivery_frames(buf, 0, len(buf), max_length, out)
    except RemoteProtocolError:
        return
    assert 0 <= stop <= len(buf)
    assert all(len(payload) <= max_length for _, _, _, payload, _ in out)
