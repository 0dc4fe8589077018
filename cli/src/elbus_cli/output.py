"""What the command line prints, as strings: tables, frames, values, JSON.

Nothing here writes: commands build strings with these helpers and print
them, so every format is testable without a broker. Human output aligns and
groups digits; ``--json`` output is plain JSON (one document, or one line
per received frame so that streams can be piped into ``jq``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .payload import Decoded, jsonable

__all__ = [
    "FrameRecord",
    "format_decoded",
    "format_mapping",
    "format_number",
    "render_table",
    "to_json",
]

# Listening to a stream of large binary frames must stay readable: human
# output shows at most this many bytes of a hex payload (--json shows all).
HEX_PREVIEW_BYTES = 256


def format_number(value: object) -> str:
    """Integers with ``_`` between thousands (as the original prints counts), floats with 3 decimals."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:_}"
    if isinstance(value, float):
        return f"{value:_.3f}"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned text table: a header, a rule, then one line per row.

    Numbers are right-aligned and digit-grouped, everything else is
    left-aligned; ``None`` prints as an empty cell. An empty ``rows`` still
    prints the header, so the columns stay discoverable.
    """
    cells = [[format_number(cell) for cell in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[col], int | float) and not isinstance(row[col], bool) for row in rows)
        for col in range(len(headers))
    ]
    widths = [max([len(header)] + [len(row[col]) for row in cells]) for col, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * width for width in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def format_mapping(mapping: Mapping[str, object]) -> str:
    """``key: value`` lines with the values aligned, for small result maps such as ``broker info``."""
    if not mapping:
        return ""
    width = max(len(str(key)) for key in mapping)
    return "\n".join(f"{str(key) + ':':<{width + 1}} {format_number(value)}" for key, value in mapping.items())


def format_decoded(decoded: Decoded, *, label: bool = False) -> str:
    """A decoded payload for people: JSON pretty-printed, text as is, hex (long hex cut short).

    With ``label`` the format name comes first (``json: …``), as ``listen``
    prints it, so that text and JSON-looking text can be told apart.
    """
    if decoded.format in ("json", "msgpack"):
        body = json.dumps(jsonable(decoded.value), indent=2, ensure_ascii=False)
    elif decoded.format == "hex":
        digits: str = decoded.value
        limit = HEX_PREVIEW_BYTES * 2
        body = digits if len(digits) <= limit else f"{digits[:limit]}... ({len(digits) // 2} bytes)"
    else:
        body = decoded.value
    return f"{decoded.format}: {body}" if label else body


def to_json(value: Any, *, lines: bool = False) -> str:
    """``value`` as JSON: indented, or compact on one line for JSON Lines streams."""
    if lines:
        return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One received frame as ``listen`` and ``rpc listen`` print it.

    ``kind`` is ``message``, ``broadcast``, ``publication``, or for the RPC
    layer ``rpc.notification`` / ``rpc.call``; ``method`` is set for calls.
    """

    time: datetime
    kind: str
    sender: str
    topic: str | None
    payload: Decoded
    realtime: bool = False
    method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record for ``--json`` (one JSON line per frame)."""
        record: dict[str, Any] = {
            "time": self.time.isoformat(timespec="microseconds"),
            "kind": self.kind,
            "sender": self.sender,
            "topic": self.topic,
        }
        if self.method is not None:
            record["method"] = self.method
        record["realtime"] = self.realtime
        record["format"] = self.payload.format
        record["payload"] = self.payload.value
        return record

    def as_text(self) -> str:
        """The record for people: a header line, then the labelled payload."""
        head = [self.time.strftime("%H:%M:%S.%f")[:-3], self.kind, "from", self.sender]
        if self.topic is not None:
            head += ["topic", self.topic]
        if self.method is not None:
            head += ["method", self.method]
        if self.realtime:
            head.append("(realtime)")
        return " ".join(head) + "\n" + format_decoded(self.payload, label=True)
