"""Unit patterns: literal bytes, computed lengths and MessagePack templates check and make bytes."""

from __future__ import annotations

import msgpack
import pytest

from elbus_conformance import load_trace
from elbus_conformance._catalog import trace_files
from elbus_conformance._model import Expect
from elbus_conformance._pattern import Length, Literal, MsgPack, TemplateError, example, match_unit, parse_template


def _publication(value: object, length: int | None = None) -> bytes:
    body = b".broker\x00.broker/info\x00" + msgpack.packb(value)
    size = len(body) if length is None else length
    return b"\x01" + size.to_bytes(4, "little") + b"\x00" + body


ANNOUNCEMENT = (
    Literal(b"\x01"),
    Length(),
    Literal(b"\x00.broker\x00.broker/info\x00"),
    MsgPack(parse_template('{"s": "reg", "d": "t.x", "t": int}')),
)


def test_template_accepts_any_value_of_the_masked_type_and_any_key_order() -> None:
    assert match_unit(ANNOUNCEMENT, _publication({"s": "reg", "d": "t.x", "t": 1795349412345678})) is None
    assert match_unit(ANNOUNCEMENT, _publication({"t": 0, "d": "t.x", "s": "reg"})) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"s": "unreg", "d": "t.x", "t": 1}, "msgpack.s: expected \"reg\", got 'unreg'"),
        ({"s": "reg", "d": "t.x", "t": "1"}, "msgpack.t: expected int, got '1'"),
        ({"s": "reg", "d": "t.x", "t": True}, "msgpack.t: expected int, got True"),
        ({"s": "reg", "d": "t.x"}, "expected keys"),
        ({"s": "reg", "d": "t.x", "t": 1, "extra": 1}, "expected keys"),
        (["reg"], "expected a map"),
    ],
)
def test_template_rejects_wrong_values(value: object, reason: str) -> None:
    mismatch = match_unit(ANNOUNCEMENT, _publication(value))
    assert mismatch is not None and reason in mismatch.reason
    assert mismatch.offset == 1 + 4 + 1 + len(".broker\x00.broker/info\x00")


def test_wrong_length_and_trailing_bytes_are_mismatches() -> None:
    bad_length = match_unit(ANNOUNCEMENT, _publication({"s": "reg", "d": "t.x", "t": 1}, length=3))
    assert bad_length is not None and bad_length.offset == 1 and "length of the body" in bad_length.reason
    trailing = match_unit((MsgPack(parse_template("{}")),), msgpack.packb({}) + b"\x00")
    assert trailing is not None and trailing.offset == 1 and trailing.reason == "1 unexpected bytes: 00"


def test_literal_mismatch_points_at_the_first_differing_byte() -> None:
    unit = (Literal(b"\xfe"), Literal(bytes.fromhex("0b000000")), Literal(b"\x01"))
    assert match_unit(unit, bytes.fromhex("fe0b00000001")) is None
    mismatch = match_unit(unit, bytes.fromhex("fe0b00000071"))
    assert mismatch is not None and mismatch.offset == 5 and mismatch.reason == "expected 01, got 71"
    short = match_unit(unit, bytes.fromhex("fe0b"))
    assert short is not None and "got 0b" in short.reason


def test_alternatives_and_nested_lists() -> None:
    unit = (MsgPack(parse_template('{"k": "local_ipc" | "tcp", "s": None | str, "l": [int, any]}')),)
    assert match_unit(unit, msgpack.packb({"k": "tcp", "s": "127.0.0.1:5", "l": [1, {"x": 1}]})) is None
    assert match_unit(unit, msgpack.packb({"k": "local_ipc", "s": None, "l": [1, None]})) is None
    mismatch = match_unit(unit, msgpack.packb({"k": "ws", "s": None, "l": [1, None]}))
    assert mismatch is not None and "msgpack.k" in mismatch.reason
    mismatch = match_unit(unit, msgpack.packb({"k": "tcp", "s": None, "l": [1]}))
    assert mismatch is not None and "list of 2" in mismatch.reason


@pytest.mark.parametrize("source", ["foo", "{1: open()}", "[1, 2", "1 + 2", "{**x}"])
def test_bad_templates_are_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


def test_example_of_every_shipped_expectation_matches_it() -> None:
    checked = 0
    for path in trace_files():
        for step in load_trace(path).steps:
            if isinstance(step, Expect):
                for unit in step.units:
                    assert match_unit(unit, example(unit)) is None, (path.name, step.line)
                    checked += 1
    assert checked > 100
