"""Byte layouts of the spec's flat structures: tables, text diagrams and annotated hex.

Everything here is computed from `elbus_spec.codegen.layout`, the same field
list the codec generator emits code from, so a page rendered from it cannot
describe a structure differently from the code that encodes it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from elbus_spec import Code, Kind, Op, QoS, RpcErrorCode, RpcType
from elbus_spec.codegen import Field

__all__ = ["Segment", "annotate", "diagram", "layout_rows", "type_name"]

# struct format letter -> the wire type's usual name
_INT_NAMES = {"B": "u8", "b": "i8", "H": "u16", "h": "i16", "L": "u32", "I": "u32", "l": "i32", "Q": "u64"}

_VARIABLE_TYPES = {
    "cstring": "UTF-8 string + NUL",
    "pascal": "u16 length + UTF-8",
    "nuljoined": "UTF-8 strings joined by NUL",
    "greedy": "bytes (to the end)",
}

# Which enum names the values of a field, by field name (RPC frames reuse "code" for JSON-RPC codes).
_ENUMS: dict[str, type[IntEnum]] = {"op": Op, "qos": QoS, "kind": Kind, "code": Code, "type": RpcType}
_RPC_ENUMS: dict[str, type[IntEnum]] = {**_ENUMS, "code": RpcErrorCode}


def type_name(f: Field) -> str:
    """The wire type of a field as the tables show it."""
    if f.kind == "int":
        return _INT_NAMES[f.fmt]
    if f.kind == "const":
        assert isinstance(f.value, bytes)
        return f"constant `{f.value.hex(' ')}`"
    if f.kind == "bits":
        return "u8 bit-field"
    return _VARIABLE_TYPES[f.kind]


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def layout_rows(fields: Sequence[Field], start: int = 0) -> list[tuple[str, str, str, str, str]]:
    """(offset, size, type, field, meaning) rows; offsets are "variable" after the first variable field."""
    rows: list[tuple[str, str, str, str, str]] = []
    offset: int | None = start
    for f in fields:
        size = f.size
        where = str(offset) if offset is not None else "variable"
        if f.kind == "pascal":
            prefix = struct.calcsize("<" + f.fmt)
            rows.append((where, f"{prefix} + n", type_name(f), f"`{f.name}`", _md(f.doc)))
        else:
            rows.append((where, str(size) if size is not None else "variable", type_name(f), f"`{f.name}`", _md(f.doc)))
        if f.kind == "bits":
            high = 7
            for bname, width, bdoc in f.bits:
                low = high - width + 1
                bits = f"bit {high}" if width == 1 else f"bits {high}-{low}"
                rows.append(("", "", bits, f"`{f.name}.{bname}`", _md(bdoc)))
                high = low - 1
        offset = offset + size if offset is not None and size is not None else None
    return rows


# --- text diagrams -----------------------------------------------------------------

_CELL = 5  # characters per byte in a diagram, border included


@dataclass(frozen=True)
class _Cell:
    label: str
    size: int | None  # bytes, None when variable


def _cells(fields: Sequence[Field]) -> list[_Cell]:
    cells: list[_Cell] = []
    for f in fields:
        if f.kind == "cstring":
            cells += [_Cell(f"{f.name}…", None), _Cell("00", 1)]
        elif f.kind == "pascal":
            cells += [_Cell(f"{f.name}_len", struct.calcsize("<" + f.fmt)), _Cell(f"{f.name}…", None)]
        elif f.kind == "nuljoined":
            cells.append(_Cell(f"{f.name}[0] 00 {f.name}[1] …", None))
        else:
            cells.append(_Cell(f"{f.name}…" if f.size is None else f.name, f.size))
    return cells


def diagram(fields: Sequence[Field]) -> str:
    """A text box diagram: one 5-column slot per fixed byte, offsets above, variable parts sized to fit."""
    cells = _cells(fields)
    widths = [c.size * _CELL - 1 if c.size is not None else len(c.label) + 2 for c in cells]
    widths = [max(w, len(c.label) + 2) for w, c in zip(widths, cells, strict=True)]
    ruler, border, labels = [], ["+"], ["|"]
    offset: int | None = 0
    for cell, width in zip(cells, widths, strict=True):
        ruler.append((str(offset) if offset is not None else "").ljust(width + 1))
        if cell.size is not None and cell.size * _CELL - 1 == width:
            border.append("----+" * cell.size)
        else:
            border.append("-" * width + "+")
        labels.append(cell.label.center(width) + "|")
        offset = offset + cell.size if offset is not None and cell.size is not None else None
    ruler.append(str(offset) if offset is not None else "")
    top = "".join(border)
    lines = ["".join(ruler).rstrip(), top, "".join(labels), top]
    for f in fields:
        if f.kind == "bits":
            lines += ["", *_bits_diagram(f)]
    return "\n".join(lines)


def _bits_diagram(f: Field) -> list[str]:
    """The bits of a one-byte bit-field, most significant first."""
    indent = " " * (len(f.name) + 7)
    ruler = f"{f.name} bits:".ljust(len(indent) + 2) + "".join(f"{bit:<4}" for bit in range(7, -1, -1))
    border, labels = [indent + "+"], [indent + "|"]
    for bname, width, _ in f.bits:
        border.append("-" * (width * 4 - 1) + "+")
        labels.append(bname.center(width * 4 - 1) + "|")
    return [ruler.rstrip(), "".join(border), "".join(labels), "".join(border)]


# --- annotated examples ----------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of bytes of an encoded example and what it is."""

    offset: int
    data: bytes
    field: str
    value: str
    part: int = 0  # index of the structure in ``parts`` this run belongs to


def _describe(name: str, value: int, enums: dict[str, type[IntEnum]]) -> str:
    enum = enums.get(name)
    if enum is not None:
        try:
            return f"{value} = `{enum.__name__}.{enum(value).name}`"
        except ValueError:
            pass
    return f"{value}" if value < 10 else f"{value} (0x{value:x})"


def _nest(parts: Sequence[Sequence[Field]]) -> list[tuple[int, Field]]:
    """``(part index, field)`` in wire order; a part ending in greedy bytes holds the next part in them."""
    fields: list[tuple[int, Field]] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        fields += [(index, f) for i, f in enumerate(part) if last or i < len(part) - 1 or f.kind != "greedy"]
    return fields


def annotate(data: bytes, parts: Sequence[Sequence[Field]], *, rpc: bool = False) -> list[Segment]:
    """Split ``data`` into the fields of ``parts`` (e.g. header, body, RPC payload), each with its decoded value.

    A part that ends in greedy bytes followed by another part carries that
    part as those bytes (a MESSAGE body whose payload is an RPC request).
    Raises ValueError if the bytes do not fill the structures exactly: an
    example that does not match its layout must fail the build.
    """
    enums = _RPC_ENUMS if rpc else _ENUMS
    segments: list[Segment] = []
    pos = 0
    for index, f in _nest(parts):
        mark = len(segments)
        if f.kind in ("int", "const", "bits"):
            size = f.size
            assert size is not None
            chunk = data[pos : pos + size]
            if len(chunk) != size:
                raise ValueError(f"example ends inside {f.name}")
            if f.kind == "const":
                if chunk != f.value:
                    raise ValueError(f"{f.name} is {chunk.hex()}, expected {f.value!r}")
                value = "constant"
            elif f.kind == "bits":
                byte, shift, described = chunk[0], 8, []
                for bname, width, _ in f.bits:
                    shift -= width
                    described.append(f"{bname} {_describe(bname, (byte >> shift) & ((1 << width) - 1), enums)}")
                value = "; ".join(described)
            else:
                (number,) = struct.unpack("<" + f.fmt, chunk)
                value = _describe(f.name, number, enums)
            segments.append(Segment(pos, chunk, f.name, value))
            pos += size
        elif f.kind == "cstring":
            end = data.find(b"\x00", pos)
            if end < 0:
                raise ValueError(f"{f.name} is not NUL-terminated")
            segments.append(Segment(pos, data[pos:end], f.name, repr(data[pos:end].decode())))
            segments.append(Segment(end, b"\x00", "NUL", "terminates " + f.name))
            pos = end + 1
        elif f.kind == "pascal":
            size = struct.calcsize("<" + f.fmt)
            (n,) = struct.unpack_from("<" + f.fmt, data, pos)
            segments.append(Segment(pos, data[pos : pos + size], f"{f.name} length", str(n)))
            pos += size
            segments.append(Segment(pos, data[pos : pos + n], f.name, repr(data[pos : pos + n].decode())))
            pos += n
        else:  # nuljoined / greedy: the rest of this part
            rest = data[pos:]
            if f.kind == "nuljoined":
                value = ", ".join(repr(item.decode()) for item in rest.split(b"\x00"))
            else:
                value = "empty" if not rest else repr(bytes(rest))
            segments.append(Segment(pos, rest, f.name, value))
            pos = len(data)
        segments[mark:] = [Segment(seg.offset, seg.data, seg.field, seg.value, index) for seg in segments[mark:]]
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} bytes left over after the last field")
    return segments
