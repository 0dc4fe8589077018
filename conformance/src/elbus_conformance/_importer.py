"""Turn the JSON captures recorded from the original broker into trace files.

Each capture step becomes one trace step; the bytes are cut into units and
labelled by field, keep-alive NOPs are dropped (a replay skips them wherever
they fall), and what the capture lists as varying between runs becomes a
mask: the broker's MessagePack replies and announcements are compared as
templates in which counters, times, version strings and transport details
are types, not values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack

from ._format import format_trace
from ._model import Close, Closed, Connect, Expect, Send, Silence, Step, Trace
from ._pattern import Length, Literal, MsgPack, OneOf, TypeOf, Unit
from ._stream import Field, Side, Splitter, dissect, is_keepalive

__all__ = ["import_capture", "import_directory", "GROUPS"]

_DEFAULT_SOURCE = "original elbus broker 0.2.9 (Rust)"

# Which page of the docs each capture belongs on; captures not listed go to "misc".
GROUPS = {
    "handshake-ok": "handshake",
    "handshake-bad-greeting": "handshake",
    "register-errors": "handshake",
    "register-invalid-utf8": "handshake",
    "message-qos": "messages",
    "broadcast": "broadcast",
    "pubsub": "pubsub",
    "secondaries": "secondaries",
    "broker-rpc": "broker-rpc",
    "announcements": "announcements",
    "protocol-errors": "protocol-errors",
    "partial-frame-timeout": "timeouts",
}
# Captures that wait for the broker's timeout.
SLOW = {"partial-frame-timeout"}

# MessagePack keys whose values differ between runs and brokers: compared by type.
_VARYING_KEYS = {"t", "author", "version", "uptime", "r_frames", "r_bytes", "w_frames", "w_bytes", "queue"}
_MSGPACK_FIELDS = {"payload", "rpc result"}


def _type_name(value: Any) -> str:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str), ("bytes", bytes)):
        if isinstance(value, kind):
            return name
    return "any"


def _mask(value: Any) -> Any:
    """A template for a value the broker's core service sent: varying keys become types."""
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if not isinstance(value, dict):
        return value
    template = {key: TypeOf(_type_name(item)) if key in _VARYING_KEYS else _mask(item) for key, item in value.items()}
    if template.get("kind") == "local_ipc":
        # A client.list entry of a socket client: its kind, peer and listener depend on how the replay connects.
        template.update(kind=OneOf(("local_ipc", "tcp")), source=OneOf((None, TypeOf("str"))), port=TypeOf("str"))
    return template


def _single_map(data: bytes) -> dict[Any, Any] | None:
    """The MessagePack map that is exactly ``data``, or None."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        return None
    return value if isinstance(value, dict) else None


def _broker_unit(fields: list[Field]) -> Unit:
    """Pieces of one unit the broker sent; a MessagePack map from the core service becomes a masked template."""
    sender = next((f.data for f in fields if f.name == "sender"), None)
    last = fields[-1]
    value = _single_map(last.data) if sender == b".broker" and last.name in _MSGPACK_FIELDS else None
    if value is None:
        return tuple(Literal(f.data, f.text) for f in fields)
    pieces = [Length() if f.name == "length" else Literal(f.data, f.text) for f in fields[:-1]]
    return (*pieces, MsgPack(_mask(value)))


def _units(side: Side, splitter: Splitter, data: bytes) -> list[tuple[list[Field], bool]]:
    """``data`` cut into labelled units, each with whether it is a keep-alive.

    Bytes left over (a frame cut short on purpose) make a last unit of their own.
    """
    splitter.feed(data)
    units = []
    while (item := splitter.next_unit()) is not None:
        stage, unit = item
        units.append((dissect(side, stage, unit), is_keepalive(side, stage, unit)))
    if leftover := splitter.take_rest():
        units.append((dissect(side, splitter.stage, leftover), False))
    return units


def import_capture(capture: dict[str, Any]) -> Trace:
    """The trace for one capture in the recorded JSON format; raises KeyError/ValueError on a malformed capture."""
    name = capture["name"]
    splitters: dict[tuple[str, Side], Splitter] = {}
    steps: list[Step] = []
    for raw in capture["steps"]:
        conn, note = raw["conn"], raw.get("note", "")
        event = raw.get("event")
        if event == "connect":
            steps.append(Connect(conn, note=note))
        elif event == "closed by broker":
            steps.append(Closed(conn, note=note))
        elif event == "client closes":
            steps.append(Close(conn, note=note))
        elif raw.get("dir") == "client->broker":
            splitter = splitters.setdefault((conn, Side.CLIENT), Splitter(Side.CLIENT))
            cut = _units(Side.CLIENT, splitter, bytes.fromhex(raw["hex"]))
            units = tuple(tuple(Literal(f.data, f.text) for f in fields) for fields, _ in cut)
            steps.append(Send(conn, units, raw.get("delivery") == "one byte per write", note=note))
        elif raw.get("dir") == "broker->client":
            splitter = splitters.setdefault((conn, Side.BROKER), Splitter(Side.BROKER))
            frames = [fields for fields, keepalive in _units(Side.BROKER, splitter, bytes.fromhex(raw["hex"])) if not keepalive]
            if not frames:
                steps.append(Silence(conn, note=note))
            for index, fields in enumerate(frames):
                steps.append(Expect(conn, (_broker_unit(fields),), note=note if index == 0 else ""))
        else:
            raise ValueError(f"{name}: unknown capture step {raw!r}")
    return Trace(
        name=name,
        title=capture.get("description", ""),
        group=GROUPS.get(name, "misc"),
        provenance=f"recorded from the {capture.get('recorded_from', _DEFAULT_SOURCE)}; capture original/{name}.json",
        steps=tuple(steps),
        varies=tuple(capture.get("variable_fields", ())),
        tags=("slow",) if name in SLOW else (),
    )


def import_directory(source: Path, target: Path) -> list[Path]:
    """Write ``target/NAME.trace`` for every ``source/*.json`` capture (``target`` is created); returns the files written."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.glob("*.json")):
        trace = import_capture(json.loads(path.read_text(encoding="utf-8")))
        out = target / f"{trace.name}.trace"
        out.write_text(format_trace(trace), encoding="utf-8")
        written.append(out)
    return written
