"""The trace file format: `parse_trace` reads it, `format_trace` writes it (see README.md for the grammar).

One step per line, so a change to a trace reads as a one-line diff::

    @trace message-qos
    @title One-to-one messages with QoS 0..3
    connect a
    a< eb 0100                          # greeting
    a> 0b000000 52 11000000 "t.m.b" 00 "hello qos 1"
    a< fe 0b000000 01
    b< 12 len 00 ".broker" 00 11 01000000 {"ok": True}
    a< nothing
    a< closed
    a closes

Bytes are hex groups and JSON strings (UTF-8); ``len`` is a computed u32
length; ``{...}``/``[...]`` is a MessagePack template; ``|`` separates units.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._pattern import Length, Literal, MsgPack, Piece, TemplateError, Unit, format_template, parse_template

__all__ = ["TraceSyntaxError", "parse_trace", "format_trace", "load_trace", "format_step", "step_content", "NOTE_COLUMN"]

NOTE_COLUMN = 56
_NAME = r"[A-Za-z0-9_]+"
_HEADER = re.compile(r"@(\w+)(?:\s+(.*))?$")
_CONNECT = re.compile(rf"connect\s+({_NAME})$")
_CLOSE = re.compile(rf"({_NAME})\s+closes$")
_DIRECTED = re.compile(rf"({_NAME})([<>!])\s*(.*)$")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_HEADER_KEYS = {"trace", "title", "group", "provenance", "varies", "tags"}
_BYTEWISE = "(bytewise)"


class TraceSyntaxError(ValueError):
    """A trace file does not follow the format; the message names the file and line."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


# --- reading ------------------------------------------------------------------------


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """``(index, char)`` for every character of ``text`` from ``start`` outside quoted strings (quotes excluded)."""
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        else:
            yield index, char


def _split_note(text: str) -> tuple[str, str]:
    """Cut a trailing ``# note`` off a line, ignoring ``#`` inside strings and templates."""
    for index, char in _unquoted(text):
        if char == "#":
            return text[:index].rstrip(), text[index + 1 :].strip()
    return text.rstrip(), ""


def _template_end(text: str, start: int) -> int:
    """Index after the bracketed template starting at ``start``; raises ValueError when it is not closed."""
    depth = 0
    for index, char in _unquoted(text, start):
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    raise ValueError("unclosed template")


def _parse_units(text: str) -> tuple[Unit, ...]:
    """The units written in ``text``; raises ValueError naming the column of what is not a token."""
    units: list[Unit] = []
    pieces: list[Piece] = []
    pos = 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "|":
            units.append(tuple(pieces))
            pieces = []
            pos += 1
        elif char == '"':
            value, pos = decoder.raw_decode(text, pos)
            pieces.append(Literal(value.encode(), text=True))
        elif char in "{[":
            end = _template_end(text, pos)
            pieces.append(MsgPack(parse_template(text[pos:end])))
            pos = end
        elif text.startswith("len", pos) and (pos + 3 == len(text) or text[pos + 3].isspace()):
            pieces.append(Length())
            pos += 3
        elif match := _HEX.match(text, pos):
            digits = match.group()
            if len(digits) % 2:
                raise ValueError(f"column {pos + 1}: odd number of hex digits in {digits!r}")
            pieces.append(Literal(bytes.fromhex(digits)))
            pos = match.end()
        else:
            raise ValueError(f"column {pos + 1}: unexpected {text[pos : pos + 12]!r}")
    units.append(tuple(pieces))
    if any(not unit for unit in units):
        raise ValueError("an empty unit (nothing between two |)")
    return tuple(units)


def _directed(conn: str, arrow: str, rest: str, note: str, line: int) -> Step:
    if arrow == "!":
        words = shlex.split(rest)
        if not words:
            raise ValueError("an action needs a verb")
        return Do(conn, words[0], tuple(words[1:]), note=note, line=line)
    if arrow == "<" and rest in ("nothing", "closed"):
        step_type = Silence if rest == "nothing" else Closed
        return step_type(conn, note=note, line=line)
    if arrow == "<":
        return Expect(conn, _parse_units(rest), note=note, line=line)
    bytewise = rest.startswith(_BYTEWISE)
    units = _parse_units(rest.removeprefix(_BYTEWISE))
    if any(not isinstance(piece, Literal) for unit in units for piece in unit):
        raise ValueError("a client write holds bytes only (no len, no template)")
    return Send(conn, units, bytewise, note=note, line=line)


def parse_trace(text: str, source: str = "<trace>") -> Trace:
    """The trace written in ``text``; raises TraceSyntaxError at the first line that is not in the format."""
    header: dict[str, list[str]] = {}
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            steps.append(Comment(stripped[1:].strip(), line=number))
            continue
        if stripped.startswith("@"):
            match = _HEADER.match(stripped)
            if not match or match.group(1) not in _HEADER_KEYS:
                raise TraceSyntaxError(source, number, f"unknown header {stripped!r} (known: {sorted(_HEADER_KEYS)})")
            header.setdefault(match.group(1), []).append((match.group(2) or "").strip())
            continue
        body, note = _split_note(stripped)
        try:
            if match := _CONNECT.match(body):
                steps.append(Connect(match.group(1), note=note, line=number))
            elif match := _CLOSE.match(body):
                steps.append(Close(match.group(1), note=note, line=number))
            elif match := _DIRECTED.match(body):
                conn, arrow, rest = match.groups()
                steps.append(_directed(conn, arrow, rest, note, number))
            else:
                raise ValueError(f"not a step: {body!r}")
        except (ValueError, TemplateError) as exc:
            raise TraceSyntaxError(source, number, str(exc)) from None
    _check_connections(steps, source)
    if "trace" not in header:
        raise TraceSyntaxError(source, 1, "missing @trace NAME")
    one = {key: values[-1] for key, values in header.items()}
    return Trace(
        name=one["trace"],
        title=one.get("title", ""),
        group=one.get("group", "misc"),
        provenance=one.get("provenance", ""),
        steps=tuple(steps),
        varies=tuple(header.get("varies", ())),
        tags=tuple(one.get("tags", "").split()),
    )


def _check_connections(steps: Iterable[Step], source: str) -> None:
    """Every step names a connection opened before it and not reopened while open."""
    open_: set[str] = set()
    for step in steps:
        if isinstance(step, Comment | Do):  # actions are for the client driver; it may connect before the player accepts
            continue
        if isinstance(step, Connect):
            if step.conn in open_:
                raise TraceSyntaxError(source, step.line, f"connection {step.conn!r} is already open")
            open_.add(step.conn)
        elif step.conn not in open_:
            raise TraceSyntaxError(source, step.line, f"connection {step.conn!r} is not open")
        elif isinstance(step, Closed | Close):
            open_.discard(step.conn)


def load_trace(path: Path) -> Trace:
    """The trace in the file at ``path``; raises TraceSyntaxError or OSError."""
    return parse_trace(path.read_text(encoding="utf-8"), str(path.name))


# --- writing ------------------------------------------------------------------------


def _piece_text(piece: Piece) -> str:
    if isinstance(piece, Length):
        return "len"
    if isinstance(piece, MsgPack):
        return format_template(piece.template)
    if piece.text:
        try:
            return json.dumps(piece.data.decode(), ensure_ascii=False)
        except UnicodeDecodeError:
            pass
    return piece.data.hex()


def _units_text(units: tuple[Unit, ...]) -> str:
    return " | ".join(" ".join(_piece_text(piece) for piece in unit) for unit in units)


def _with_note(body: str, note: str) -> str:
    if not note:
        return body
    return f"{body.ljust(NOTE_COLUMN - 1)} # {note}"


def step_content(step: Send | Expect | Do) -> str:
    """What a write, an expectation or an action says, without the connection, the arrow and the note."""
    if isinstance(step, Do):
        return shlex.join([step.verb, *step.args])
    if isinstance(step, Send) and step.bytewise:
        return f"{_BYTEWISE} {_units_text(step.units)}"
    return _units_text(step.units)


def format_step(step: Step) -> str:
    """One step as its line in a trace file."""
    if isinstance(step, Comment):
        return f"# {step.text}".rstrip()
    if isinstance(step, Connect):
        body = f"connect {step.conn}"
    elif isinstance(step, Close):
        body = f"{step.conn} closes"
    elif isinstance(step, Silence):
        body = f"{step.conn}< nothing"
    elif isinstance(step, Closed):
        body = f"{step.conn}< closed"
    else:
        arrow = "!" if isinstance(step, Do) else ">" if isinstance(step, Send) else "<"
        body = f"{step.conn}{arrow} {step_content(step)}"
    return _with_note(body, step.note)


def format_trace(trace: Trace) -> str:
    """The trace as file text; `parse_trace` reads it back to an equal trace."""
    lines = [f"@trace {trace.name}"]
    for key in ("title", "group", "provenance"):
        if value := getattr(trace, key):
            lines.append(f"@{key} {value}")
    lines += [f"@varies {value}" for value in trace.varies]
    if trace.tags:
        lines.append(f"@tags {' '.join(trace.tags)}")
    lines.append("")
    lines += [format_step(step) for step in trace.steps]
    return "\n".join(lines) + "\n"
