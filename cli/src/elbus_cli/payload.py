"""Payloads and RPC parameters of the command line, without any I/O.

Received payloads are opaque bytes; to show them the command line guesses
what they hold, in the original client's order: printable UTF-8 text is
shown as JSON when it parses as JSON, else as text; anything else is shown
as MessagePack when the whole payload is one MessagePack document, else as
hex. RPC parameters typed on the command line follow the broker FIFO's
rules (``k=v``: ``true``/``false``, integers, floats, else strings) and are
sent as a MessagePack map, the broker RPC convention.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack

__all__ = [
    "Decoded",
    "ParamsError",
    "decode_payload",
    "jsonable",
    "params_from_document",
    "params_from_pairs",
    "typed_value",
]

# Control characters other than tab, newline and carriage return mark a
# payload as binary: such bytes are valid UTF-8 but unreadable as text.
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# Printing recurses once per nesting level: a deeper document, which anyone
# may send, is shown as text or hex instead of crashing the command.
MAX_DEPTH = 200


class ParamsError(ValueError):
    """RPC parameters given on the command line (or on stdin) cannot be encoded."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A payload as the command line understood it.

    ``format`` is ``"json"``, ``"msgpack"``, ``"text"`` or ``"hex"``;
    ``value`` is the decoded object (for ``text`` a str, for ``hex`` the
    hex digits).
    """

    format: str
    value: Any


def _shallow(value: Any) -> bool:
    """True when ``value`` nests no deeper than `MAX_DEPTH` (checked without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _unpack(payload: bytes) -> Decoded | None:
    if not payload:
        return None
    try:
        # strict_map_key=False: MessagePack maps may have integer keys.
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except ValueError:
        # Every unpacking failure is a ValueError: truncated or trailing data, a
        # bad format byte, nesting too deep, a str that is not UTF-8.
        return None
    return Decoded("msgpack", value) if _shallow(value) else None


def decode_payload(payload: bytes, *, msgpack_first: bool = False) -> Decoded:
    """What ``payload`` holds: JSON, MessagePack, text, or else hex. Never raises.

    Text is tried first, as the original does for frames. ``msgpack_first``
    is for RPC params and results, MessagePack by convention: a reply of
    the integer 49 is the byte ``1``, which would otherwise read as JSON.
    Only payloads that are one whole MessagePack document count, so text
    longer than a byte is never taken for MessagePack.
    """
    if msgpack_first and (unpacked := _unpack(payload)) is not None:
        return unpacked
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _BINARY_CHARS.search(text):
        if text.strip():
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                pass
            else:
                if _shallow(value):
                    return Decoded("json", value)
        return Decoded("text", text)
    return _unpack(payload) or Decoded("hex", payload.hex())


def jsonable(value: Any) -> Any:
    """``value`` with everything JSON cannot hold made printable.

    MessagePack may carry what JSON cannot: binary strings (shown as hex),
    non-string map keys (shown as their JSON text), extension types (shown
    as ``{"ext": code, "data": hex}``) and non-finite floats (shown as
    strings).
    """
    if isinstance(value, dict):
        return {key if isinstance(key, str) else json.dumps(jsonable(key)): jsonable(item) for key, item in value.items()}
    if isinstance(value, msgpack.ExtType):  # before tuple: ExtType is a named tuple
        return {"ext": value.code, "data": value.data.hex()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def typed_value(text: str) -> Any:
    """A FIFO-style value: ``true``/``false``, a 64-bit integer, a float, else the string itself."""
    if text == "true":
        return True
    if text == "false":
        return False
    if _INTEGER.fullmatch(text):
        number = int(text)
        if _I64_MIN <= number <= _I64_MAX:
            return number
        return float(number)  # as the original: an integer too wide for i64 becomes a float
    # float() would also accept "1_0" and surrounding blanks, which the original does not.
    if "_" not in text and text == text.strip():
        try:
            return float(text)
        except ValueError:
            pass
    return text


def params_from_pairs(pairs: list[str]) -> bytes:
    """The MessagePack map of ``k=v`` arguments; no arguments give empty params.

    The value is everything after the first ``=`` (so values may hold
    ``=``). Raises `ParamsError` for an argument without ``=`` or with an
    empty key.
    """
    if not pairs:
        return b""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ParamsError(f"parameter {pair!r} is not key=value")
        if not key:
            raise ParamsError(f"parameter {pair!r} has an empty key")
        params[key] = typed_value(value)
    try:
        packed: bytes = msgpack.packb(params)
    except UnicodeEncodeError as exc:  # an argument whose bytes are not UTF-8
        raise ParamsError(f"parameters must be UTF-8 text: {exc}") from None
    return packed


def params_from_document(document: bytes) -> bytes:
    """RPC params read from stdin: a JSON document (re-encoded as MessagePack) or MessagePack as is.

    JSON is tried first: a MessagePack map never starts with a byte that
    begins valid UTF-8, while JSON text such as ``5`` is also valid
    MessagePack. An empty or blank document gives empty params. Raises
    `ParamsError` when the document is neither.
    """
    if not document.strip():
        return b""
    try:
        value = json.loads(document)
    except RecursionError:
        raise ParamsError("the params document is nested too deeply") from None
    except ValueError:
        pass
    else:
        try:
            encoded: bytes = msgpack.packb(value)
            return encoded
        except OverflowError as exc:
            raise ParamsError(f"the params document holds an integer MessagePack cannot carry: {exc}") from None
        except ValueError as exc:  # msgpack's own nesting limit
            raise ParamsError(f"the params document cannot be MessagePack: {exc}") from None
    try:
        msgpack.unpackb(document, raw=False, strict_map_key=False)
    except ValueError as exc:
        raise ParamsError("the params document on stdin is neither JSON nor MessagePack") from exc
    return document
