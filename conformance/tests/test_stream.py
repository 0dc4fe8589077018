"""The splitters cut both directions of every recorded capture the same way, whole or byte by byte."""

from __future__ import annotations

import json

import pytest

from elbus_conformance._catalog import traces_dir
from elbus_conformance._stream import FrameTooLong, Side, Splitter, Stage, dissect

CAPTURES = sorted((traces_dir() / "original").glob("*.json"))


def _streams(capture: dict) -> dict[tuple[str, Side], bytes]:  # type: ignore[type-arg]
    streams: dict[tuple[str, Side], bytes] = {}
    for step in capture["steps"]:
        if "hex" in step:
            side = Side.CLIENT if step["dir"] == "client->broker" else Side.BROKER
            key = (step["conn"], side)
            streams[key] = streams.get(key, b"") + bytes.fromhex(step["hex"])
    return streams


def _cut(side: Side, data: bytes, chunk: int) -> tuple[list[tuple[Stage, bytes]], bytes]:
    splitter = Splitter(side)
    units = []
    for i in range(0, len(data), chunk):
        splitter.feed(data[i : i + chunk])
        while (item := splitter.next_unit()) is not None:
            units.append(item)
    return units, splitter.buffered


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_whole_and_bytewise_agree_and_fields_join_back(path) -> None:  # type: ignore[no-untyped-def]
    for (_conn, side), data in _streams(json.loads(path.read_text())).items():
        whole = _cut(side, data, len(data) or 1)
        assert _cut(side, data, 1) == whole
        units, rest = whole
        assert b"".join(unit for _, unit in units) + rest == data
        for stage, unit in units:
            assert b"".join(field.data for field in dissect(side, stage, unit)) == unit


def test_fields_are_named_as_in_the_protocol() -> None:
    ack = dissect(Side.BROKER, Stage.FRAMES, bytes.fromhex("fe0b00000071"))
    assert [(f.name, f.data.hex()) for f in ack] == [("kind", "fe"), ("op id", "0b000000"), ("code", "71")]
    publication = dissect(Side.BROKER, Stage.FRAMES, bytes.fromhex("010700000000") + b"s\x00t\x00pay")
    assert [f.name for f in publication] == ["kind", "length", "realtime", "sender", "nul", "topic", "nul", "payload"]
    subscribe = dissect(Side.CLIENT, Stage.FRAMES, bytes.fromhex("01000000420300000061006200")[:12])
    assert [f.name for f in subscribe] == ["op id", "flags", "length", "topic", "nul", "topic"]


def test_refusal_moves_the_broker_stream_to_refused() -> None:
    splitter = Splitter(Side.BROKER)
    splitter.feed(bytes.fromhex("eb01007501"))
    assert splitter.next_unit() == (Stage.GREETING, bytes.fromhex("eb0100"))
    assert splitter.next_unit() == (Stage.HANDSHAKE_RESULT, b"\x75")
    assert splitter.next_unit() == (Stage.REFUSED, b"\x01")


def test_oversized_frame_is_refused_before_buffering() -> None:
    splitter = Splitter(Side.BROKER, max_unit=10)
    splitter.feed(bytes.fromhex("eb0100") + b"\x01\x01" + bytes.fromhex("12ffffffff00"))
    splitter.next_unit(), splitter.next_unit(), splitter.next_unit()
    with pytest.raises(FrameTooLong, match="4294967295"):
        splitter.next_unit()
