"""The cluster envelopes: records carry elbus frames as the codec encodes them; bad input is refused whole."""

from __future__ import annotations

import pytest

from elbus_cluster.envelope import (
    ACK_WANTED,
    encode_frame,
    encode_publication_head,
    encode_record,
    iter_frames,
    iter_records,
    publication_topic,
    record_size,
    split_publication,
)
from elbus_spec import Kind, codec


def test_records_round_trip_and_carry_codec_frames() -> None:
    records = [
        encode_record(ACK_WANTED, b"target\0", Kind.MESSAGE, b"sender\0", b"payload", 1),
        encode_record(0, b"grp.*\0", Kind.BROADCAST, b"sender\0", b"", 0),
    ]
    assert len(records[0]) == record_size(b"target\0", b"sender\0", b"payload")
    got = list(iter_records(b"".join(records)))
    assert [(flags, address) for flags, address, _ in got] == [(ACK_WANTED, "target"), (0, "grp.*")]
    assert got[0][2] == codec.encode_server_header(Kind.MESSAGE, len(b"sender\0payload"), 1) + b"sender\0payload"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00target",  # no NUL after the address
        b"\x00t\x00\x12\x05",  # truncated header
        b"\x00t\x00" + codec.encode_server_header(Kind.MESSAGE, 10, 0) + b"short",
        b"\x00t\x00" + codec.encode_server_header(Kind.NOP, 0, 0),  # not a node-stream kind
    ],
)
def test_malformed_records_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        list(iter_records(data))


def test_a_publication_for_one_receiver_is_a_node_stream_record() -> None:
    frame = encode_frame(Kind.PUBLISH, b"s\0jobs/1\0", b"payload", 0)
    record = encode_record(0, b"svc\0", Kind.PUBLISH, b"s\0jobs/1\0", b"payload", 0)
    assert list(iter_records(record)) == [(0, "svc", frame)]
    assert publication_topic(frame) == "jobs/1"
    with pytest.raises(ValueError):
        publication_topic(encode_frame(Kind.PUBLISH, b"s\0no topic end", b"", 0))


def test_publications_round_trip() -> None:
    frames = [encode_frame(Kind.PUBLISH, b"s\0t/1\0", b"p%d" % i, 0) for i in range(3)]
    origin, seq, body = split_publication(encode_publication_head(7, 42) + b"".join(frames))
    assert (origin, seq, list(iter_frames(body))) == (7, 42, frames)
    with pytest.raises(ValueError):
        split_publication(b"short")
    with pytest.raises(ValueError):  # a chunk is no whole publication message
        split_publication(b"\x80" + encode_publication_head(7, 42)[1:])
    with pytest.raises(ValueError):
        list(iter_frames(frames[0][:-1]))
