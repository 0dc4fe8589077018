"""The trace format: every shipped trace reads back to itself, and malformed lines fail at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elbus_conformance import TraceSyntaxError, format_trace, load_trace, parse_trace
from elbus_conformance._catalog import trace_files
from elbus_conformance._model import Close, Closed, Connect, Do, Expect, Send, Silence
from elbus_conformance._pattern import Length, Literal, MsgPack

FILES = trace_files()


def test_catalogue_is_not_empty() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shipped_trace_round_trips(path: Path) -> None:
    trace = load_trace(path)
    assert trace.name == path.stem
    assert parse_trace(format_trace(trace)) == trace
    assert trace.provenance


SAMPLE = """\
@trace sample
@title A sample
@group demo
@provenance authored from the protocol reference
@varies nothing really
@tags slow

# a comment line
connect a
a> eb 0100 | 0100 "x"                      # greeting and name in one write
a> (bytewise) 01000000 42 04000000 "a/#"
a< 01 len 00 ".broker" 00 "a/#" 00 {"s": "reg", "t": int, "k": "x" | None, "l": [1, -2, b"\\x00"]} # note with # hash
a< fe 01000000 01 | fe 02000000 01
a< nothing
a! send "t.x" "hello world" --qos 1
a< closed
connect a
a closes
"""


def test_sample_parses_into_each_step_kind() -> None:
    trace = parse_trace(SAMPLE)
    assert (trace.name, trace.title, trace.group, trace.varies, trace.tags) == (
        "sample",
        "A sample",
        "demo",
        ("nothing really",),
        ("slow",),
    )
    steps = [step for step in trace.steps if not hasattr(step, "text")]
    kinds = [type(step) for step in steps]
    assert kinds == [Connect, Send, Send, Expect, Expect, Silence, Do, Closed, Connect, Close]
    greeting = steps[1]
    assert isinstance(greeting, Send) and greeting.data == bytes.fromhex("eb0100010078") and len(greeting.units) == 2
    assert greeting.note == "greeting and name in one write"
    assert isinstance(steps[2], Send) and steps[2].bytewise and steps[2].data.endswith(b"a/#")
    announcement = steps[3]
    assert isinstance(announcement, Expect) and announcement.note == "note with # hash"
    pieces = announcement.units[0]
    assert isinstance(pieces[1], Length) and isinstance(pieces[-1], MsgPack)
    assert pieces[2] == Literal(b"\x00") and pieces[3] == Literal(b".broker", text=True)
    assert isinstance(steps[4], Expect) and len(steps[4].units) == 2
    action = steps[6]
    assert isinstance(action, Do) and (action.verb, action.args) == ("send", ("t.x", "hello world", "--qos", "1"))
    assert parse_trace(format_trace(trace)) == trace


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a> 0", "odd number of hex digits"),
        ("a> zz", "unexpected 'zz'"),
        ("a> 01 len", "bytes only"),
        ("a> 01 {1: 2}", "bytes only"),
        ("a< 01 {1: foo}", "'foo' is not a value"),
        ("a< 01 {1: 2", "unclosed template"),
        ("a< 01 || 02", "empty unit"),
        ("b< 01", "'b' is not open"),
        ("connect a", "already open"),
        ("a sings", "not a step"),
        ("@colour blue", "unknown header"),
    ],
)
def test_malformed_line_is_reported_with_its_number(line: str, message: str) -> None:
    text = f"@trace bad\nconnect a\n{line}\n"
    with pytest.raises(TraceSyntaxError, match=message) as info:
        parse_trace(text, "bad.trace")
    assert info.value.line == 3
    assert str(info.value).startswith("bad.trace:3:")


def test_missing_trace_name_is_an_error() -> None:
    with pytest.raises(TraceSyntaxError, match="missing @trace"):
        parse_trace("connect a\n")


def test_step_after_close_needs_a_new_connect() -> None:
    with pytest.raises(TraceSyntaxError, match="'a' is not open"):
        parse_trace("@trace t\nconnect a\na closes\na< 01\n")
