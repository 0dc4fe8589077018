"""Reassembly is linear: however a stream is cut, both connections copy each byte O(1) times and parse the same events.

The CPU bounds compare one cut of the same 8 MiB frame with another, with
wide margins: a quadratic buffer (the whole buffer copied on every chunk)
costs hundreds of times more at 4,096 pieces than at 1, a linear one a few
times more, so the bounds sit far from both.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from elbus_spec import BrokerConnection, ClientConnection, LocalProtocolError, RegistrationRequest, codec
from elbus_spec._receive_buffer import ReceiveBuffer

MiB = 1 << 20
BIG = 8 * MiB


def pieces(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- the buffer itself ------------------------------------------------------------------


def test_a_chunk_with_nothing_pending_is_parsed_where_it_lies() -> None:
    chunk = codec.encode_message_frame(1, 1, "x", b"payload") * 3
    assert ReceiveBuffer().feed(chunk) is chunk


def test_pending_bytes_are_joined_once_when_the_unit_is_complete() -> None:
    frame = codec.encode_message_frame(1, 1, "x", bytes(BIG))
    rx = ReceiveBuffer()
    first, *rest = pieces(frame, 2048)
    assert rx.feed(first) is first
    rx.keep(first, 0, len(frame))  # what a parser does after reading the header
    results = [rx.feed(piece) for piece in rest]
    assert results[:-1] == [None] * (len(rest) - 1)  # no rescans, no copies until the frame is whole
    assert results[-1] == frame
    assert len(rx) == 0


def test_buffered_counts_what_is_held() -> None:
    rx = ReceiveBuffer()
    rx.keep(b"abcdef", 2, 100)
    rx.feed(bytearray(b"gh"))
    assert len(rx) == 6
    rx.clear()
    assert len(rx) == 0


# --- CPU of reassembly --------------------------------------------------------------------


def ready_broker() -> BrokerConnection:
    conn = BrokerConnection(max_frame_length=2 * BIG)
    conn.receive_data(codec.PROTOCOL_GREETING + codec.encode_registration("rx"))
    conn.accept()
    return conn


def ready_client() -> ClientConnection:
    conn = ClientConnection("rx", max_frame_length=2 * BIG)
    conn.receive_data(codec.PROTOCOL_GREETING + codec.RESULT_OK * 2)
    return conn


def cpu(make: Callable[[], BrokerConnection | ClientConnection], chunks: list[bytes]) -> float:
    """The least CPU time of three reassemblies of ``chunks`` into one frame."""
    best = float("inf")
    for _ in range(3):
        conn = make()
        start = time.process_time()
        for chunk in chunks:
            events = conn.receive_data(chunk)
        best = min(best, time.process_time() - start)
        assert len(events) == 1 and conn.buffered == 0
    return best


def check_linear(make: Callable[[], BrokerConnection | ClientConnection], frame: bytes) -> None:
    whole, many, twice_as_many = cpu(make, [frame]), cpu(make, pieces(frame, 2048)), cpu(make, pieces(frame, 4096))
    # Quadratic: 2,048 pieces cost ~1,000x one piece and 4,096 pieces twice 2,048.
    assert many < 20 * whole + 0.05, (whole, many)
    assert twice_as_many < 1.5 * many + 0.05, (many, twice_as_many)


def test_broker_reassembly_is_linear() -> None:
    check_linear(ready_broker, codec.encode_message_frame(1, 1, "rx", bytes(BIG)))


def test_client_reassembly_is_linear() -> None:
    check_linear(ready_client, codec.encode_message_delivery(0, "tx", bytes(BIG)))


# --- chunked feeding equals whole feeding -----------------------------------------------------

NAME = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)
PAYLOAD = st.binary(max_size=64)
CLIENT_FRAME = st.one_of(
    st.builds(codec.encode_message_frame, st.integers(1, 9), st.integers(0, 3), NAME, PAYLOAD),
    st.builds(codec.encode_publish_frame, st.integers(1, 9), st.integers(0, 3), NAME, PAYLOAD),
    st.builds(codec.encode_subscribe_frame, st.integers(1, 9), st.integers(0, 3), st.lists(NAME, min_size=1, max_size=3)),
    st.just(codec.PING_FRAME),
    st.binary(min_size=1, max_size=12),  # garbage: both feedings must fail the same way
)
SERVER_FRAME = st.one_of(
    st.builds(codec.encode_message_delivery, st.integers(0, 1), NAME, PAYLOAD),
    st.builds(codec.encode_publication_delivery, st.integers(0, 1), NAME, NAME, PAYLOAD),
    st.builds(codec.pack_ack, st.integers(0, 9), st.sampled_from([1, 0x71])),
    st.just(codec.NOP_FRAME),
    st.binary(min_size=1, max_size=12),
)


def cuts(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def run(conn: BrokerConnection | ClientConnection, chunks: list[bytes]) -> tuple[list[object], bytes, int]:
    """Events, handshake replies and bytes left buffered after feeding ``chunks`` (the broker accepts any name)."""
    events: list[object] = []
    out = b""
    for chunk in chunks:
        try:
            got = list(conn.receive_data(chunk))
            if isinstance(conn, BrokerConnection) and any(isinstance(e, RegistrationRequest) for e in got):
                out += conn.data_to_send() + conn.accept()
                got += conn.receive_data(b"")
        except LocalProtocolError:  # the connection already failed: later chunks are refused alike
            break
        events += got
        out += conn.data_to_send()
    return events, out, conn.buffered


@settings(max_examples=150, deadline=None)
@given(st.lists(CLIENT_FRAME, max_size=8), st.lists(st.integers(0, 1 << 16), max_size=12), st.booleans())
def test_broker_chunked_equals_whole(frames: list[bytes], points: list[int], bytewise: bool) -> None:
    stream = codec.PROTOCOL_GREETING + codec.encode_registration("me") + b"".join(frames)
    chunks = [stream[i : i + 1] for i in range(len(stream))] if bytewise else cuts(stream, points)
    assert run(BrokerConnection(), chunks) == run(BrokerConnection(), [stream])


@settings(max_examples=150, deadline=None)
@given(st.lists(SERVER_FRAME, max_size=8), st.lists(st.integers(0, 1 << 16), max_size=12), st.booleans())
def test_client_chunked_equals_whole(frames: list[bytes], points: list[int], bytewise: bool) -> None:
    stream = codec.PROTOCOL_GREETING + codec.RESULT_OK * 2 + b"".join(frames)
    chunks = [stream[i : i + 1] for i in range(len(stream))] if bytewise else cuts(stream, points)
    assert run(ClientConnection("me"), chunks) == run(ClientConnection("me"), [stream])


@settings(max_examples=100, deadline=None)
@given(st.lists(CLIENT_FRAME, max_size=8), st.lists(st.integers(0, 1 << 16), max_size=12))
def test_broker_router_path_chunked_equals_whole(frames: list[bytes], points: list[int]) -> None:
    def frames_of(chunks: list[bytes]) -> list[object]:
        conn = BrokerConnection()
        conn.receive_data(codec.PROTOCOL_GREETING + codec.encode_registration("me"))
        conn.accept()
        got: list[object] = []
        for chunk in chunks:
            try:
                got += conn.receive_frames(chunk)
            except LocalProtocolError:
                break
        return got

    stream = b"".join(frames)
    assert frames_of(cuts(stream, points)) == frames_of([stream])
