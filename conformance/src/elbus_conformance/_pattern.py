"""What a trace expects of one unit: literal bytes, a computed length, MessagePack templates.

A unit pattern is a tuple of pieces. `Literal` bytes must match exactly;
`Length` is the LEN field of a broker frame header, the u32 count of the
body bytes after the header's last byte (the realtime flag that follows
LEN); it stands in for a length that varies with the masked content; `MsgPack` decodes one
MessagePack value at that point and compares it with a template in which
type names (``int``, ``str``, ``float``, ``bool``, ``bytes``, ``any``) stand
for values that legitimately vary, and ``a | b`` lists alternatives. Maps
compare by keys, so their key order does not matter.

Patterns both check bytes (`match_unit`) and make them (`example`): the
trace player sends a pattern's example when it plays the broker.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

import msgpack

from elbus_spec import codec

__all__ = [
    "Literal",
    "Length",
    "MsgPack",
    "Piece",
    "Unit",
    "Mismatch",
    "TemplateError",
    "parse_template",
    "format_template",
    "example",
    "match_unit",
]

# LEN is the length field of a broker frame's header: the kind byte comes before it, and the
# realtime flag, which it does not count, after it.
_HEADER = codec.SERVER_HEADER
_AFTER_LEN = _HEADER.size - 1


class TemplateError(ValueError):
    """A MessagePack template is not written in the template syntax."""


@dataclass(frozen=True, slots=True)
class Literal:
    """Bytes that must arrive exactly; ``text`` shows them as a string in a trace file."""

    data: bytes
    text: bool = False


@dataclass(frozen=True, slots=True)
class Length:
    """A broker frame's LEN: the little-endian u32 count of the bytes after the flag byte that follows it."""


@dataclass(frozen=True, slots=True)
class TypeOf:
    """Any value of one MessagePack type (``any`` accepts every value)."""

    name: str


@dataclass(frozen=True, slots=True)
class OneOf:
    """Any of several templates."""

    options: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class MsgPack:
    """One MessagePack value matching ``template`` (plain values, dicts, lists, `TypeOf`, `OneOf`)."""

    template: Any


Piece = Literal | Length | MsgPack
Unit = tuple[Piece, ...]

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "float": (float,),
    "bool": (bool,),
    "bytes": (bytes,),
    "any": (object,),
}
_EXAMPLES: dict[str, Any] = {"int": 0, "str": "", "float": 0.0, "bool": False, "bytes": b"", "any": None}


# --- template text ------------------------------------------------------------------


def parse_template(source: str) -> Any:
    """The template written in ``source`` (Python literal syntax plus type names and ``|``).

    Raises TemplateError naming what is not allowed.
    """
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise TemplateError(f"template {source!r}: {exc.msg}") from None
    return _build(tree, source)


def _build(node: ast.expr, source: str) -> Any:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool | int | float | str | bytes)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    if isinstance(node, ast.Name) and node.id in _TYPES:
        return TypeOf(node.id)
    if isinstance(node, ast.Dict) and all(key is not None for key in node.keys):
        return {_build(key, source): _build(value, source) for key, value in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if isinstance(node, ast.List):
        return [_build(item, source) for item in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = (_build(node.left, source), _build(node.right, source))
        return OneOf(tuple(option for side in sides for option in (side.options if isinstance(side, OneOf) else (side,))))
    raise TemplateError(f"template {source!r}: {ast.unparse(node)!r} is not a value, a type name or a | b")


def format_template(template: Any) -> str:
    """The template as text that `parse_template` reads back to the same template."""
    if isinstance(template, TypeOf):
        return template.name
    if isinstance(template, OneOf):
        return " | ".join(format_template(option) for option in template.options)
    if isinstance(template, dict):
        return "{" + ", ".join(f"{format_template(k)}: {format_template(v)}" for k, v in template.items()) + "}"
    if isinstance(template, list):
        return "[" + ", ".join(format_template(item) for item in template) + "]"
    if isinstance(template, str):
        return json.dumps(template, ensure_ascii=False)
    return repr(template)


# --- making bytes -------------------------------------------------------------------


def _example_value(template: Any) -> Any:
    if isinstance(template, TypeOf):
        return _EXAMPLES[template.name]
    if isinstance(template, OneOf):
        return _example_value(template.options[0])
    if isinstance(template, dict):
        return {k: _example_value(v) for k, v in template.items()}
    if isinstance(template, list):
        return [_example_value(item) for item in template]
    return template


def example(unit: Unit) -> bytes:
    """Bytes that match ``unit``: varying values take a fixed example (0, "", the first alternative)."""
    out = bytearray()
    length_at: int | None = None
    for piece in unit:
        if isinstance(piece, Literal):
            out += piece.data
        elif isinstance(piece, Length):
            length_at = len(out)
            out += bytes(4)
        else:
            out += msgpack.packb(_example_value(piece.template))
    if length_at is not None:
        kind, _, realtime = _HEADER.unpack_from(out, length_at - 1)
        _HEADER.pack_into(out, length_at - 1, kind, len(out) - length_at - _AFTER_LEN, realtime)
    return bytes(out)


# --- checking bytes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where ``actual`` first differs from the pattern: the byte offset and what was wrong."""

    offset: int
    reason: str


def _value_error(template: Any, value: Any, path: str) -> str | None:
    """Why ``value`` does not match ``template`` (None when it does)."""
    if isinstance(template, TypeOf):
        types = _TYPES[template.name]
        ok = isinstance(value, types) and not (template.name in ("int", "float") and isinstance(value, bool))
        return None if ok else f"{path}: expected {template.name}, got {value!r}"
    if isinstance(template, OneOf):
        errors = [_value_error(option, value, path) for option in template.options]
        return None if None in errors else f"{path}: expected {format_template(template)}, got {value!r}"
    if isinstance(template, dict):
        if not isinstance(value, dict):
            return f"{path}: expected a map, got {value!r}"
        if set(template) != set(value):
            return f"{path}: expected keys {sorted(map(str, template))}, got {sorted(map(str, value))}"
        for key, sub in template.items():
            error = _value_error(sub, value[key], f"{path}.{key}")
            if error:
                return error
        return None
    if isinstance(template, list):
        if not isinstance(value, list) or len(value) != len(template):
            return f"{path}: expected a list of {len(template)}, got {value!r}"
        for index, (sub, item) in enumerate(zip(template, value, strict=True)):
            error = _value_error(sub, item, f"{path}[{index}]")
            if error:
                return error
        return None
    if type(value) is not type(template) or value != template:
        return f"{path}: expected {format_template(template)}, got {value!r}"
    return None


def _unpack_one(data: bytes, offset: int) -> tuple[Any, int]:
    """One MessagePack value at ``offset`` and the offset after it; raises ValueError if there is none."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True)
    unpacker.feed(data[offset:])
    try:
        value = unpacker.unpack()
    except (msgpack.OutOfData, msgpack.UnpackException, ValueError) as exc:
        raise ValueError(f"not MessagePack ({exc.__class__.__name__})") from None
    return value, offset + unpacker.tell()


def match_unit(unit: Unit, actual: bytes) -> Mismatch | None:
    """Check ``actual`` against ``unit``; the first `Mismatch`, or None when every piece matches."""
    pos = 0
    for piece in unit:
        if isinstance(piece, Literal):
            got = actual[pos : pos + len(piece.data)]
            if got != piece.data:
                first = next((i for i, (a, b) in enumerate(zip(got, piece.data, strict=False)) if a != b), len(got))
                return Mismatch(pos + first, f"expected {piece.data.hex()}, got {got.hex() or 'nothing'}")
            pos += len(piece.data)
        elif isinstance(piece, Length):
            got, body = actual[pos : pos + 4], len(actual) - pos - _AFTER_LEN
            if len(actual) - pos < _AFTER_LEN or pos < 1 or _HEADER.unpack_from(actual, pos - 1)[1] != body:
                return Mismatch(pos, f"expected the length of the body ({body}), got {got.hex()}")
            pos += 4
        else:
            try:
                value, end = _unpack_one(actual, pos)
            except ValueError as exc:
                return Mismatch(pos, str(exc))
            error = _value_error(piece.template, value, "msgpack")
            if error:
                return Mismatch(pos, error)
            pos = end
    if pos != len(actual):
        return Mismatch(pos, f"{len(actual) - pos} unexpected bytes: {actual[pos:].hex()}")
    return None
