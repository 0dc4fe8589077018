"""Generate the runtime codec (`elbus_spec._codec`) from the construct spec.

Run ``python -m elbus_spec.codegen`` to rewrite the module, ``--check`` to
fail when the committed file is stale. The generator understands the small
vocabulary the spec uses and refuses anything else, so a new kind of field
cannot slip into the spec without the codec learning it:

* a fixed prefix of little-endian integers, constants and bit-structs, packed
  with one precompiled ``struct.Struct``;
* then a tail of NUL-terminated UTF-8 strings, a u16-prefixed UTF-8 string,
  a NUL-joined list of UTF-8 strings, and greedy bytes (last).

The emitted code validates everything explicitly: decoders raise
`RemoteProtocolError` with a reason, encoders `LocalProtocolError`; no
``struct.error``, ``IndexError`` or ``UnicodeDecodeError`` escapes. Decoders
return plain tuples typed field by field; encoders count a payload's bytes,
whatever the item size of a ``memoryview``.

It also emits what the hot paths of the broker and the clients need, so that
no other module spells a layout: the public ``struct.Struct`` of every fixed
prefix, bit positions of bit fields, fast pack/unpack of the tagged fixed
structures (`HOT_TAGGED`), a decoder of runs of the frames a router parses most (`HOT_RUNS`),
the size of a length-prefixed structure, and the handshake's fixed units and
greeting check.
"""

from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .constants import Code, Kind

NO_CONSTRUCT = "the codec generator needs construct, which the [spec] extra installs: pip install 'elbus-spec[spec]'"

try:
    from construct import (
        Bytes,
        Const,
        Construct,
        FormatField,
        GreedyBytes,
        NullTerminated,
        Prefixed,
        Renamed,
        StringEncoded,
        Struct,
        Transformed,
    )

    from . import schema
except ModuleNotFoundError as exc:
    if exc.name != "construct":
        raise
    if __name__ == "__main__":  # a command line gets the remedy, not a traceback
        print(NO_CONSTRUCT, file=sys.stderr)
        sys.exit(2)
    raise ModuleNotFoundError(NO_CONSTRUCT, name="construct") from exc

__all__ = ["Field", "layout", "generate", "main", "NO_CONSTRUCT"]

TARGET = Path(__file__).with_name("_codec.py")

FIXED_KINDS = ("int", "const", "bits")


@dataclass(frozen=True)
class Field:
    """One field of a flat structure, as the generator and the docs see it."""

    name: str
    kind: str  # int | const | bits | cstring | pascal | nuljoined | greedy
    doc: str = ""
    fmt: str = ""  # struct format of a fixed field (or of a pascal length prefix)
    value: bytes | int | None = None  # a const's value
    bits: tuple[tuple[str, int, str], ...] = field(default=())  # (name, width, doc)

    @property
    def size(self) -> int | None:
        """Bytes on the wire, or None when variable."""
        return struct.calcsize("<" + self.fmt) if self.kind in FIXED_KINDS else None

    @property
    def decoded(self) -> tuple[str, ...]:
        """Names this field contributes to a decoded tuple."""
        if self.kind == "const":
            return ()
        if self.kind == "bits":
            return tuple(name for name, _, _ in self.bits)
        return (self.name,)


def _unwrap(sc: Construct) -> Construct:
    while isinstance(sc, Renamed):
        sc = sc.subcon
    return sc


def _unwrap_doc(sc: Construct) -> str:
    while isinstance(sc, Renamed):
        if sc.docs:
            return str(sc.docs)
        sc = sc.subcon
    return ""


def _field(sc: Construct) -> Field:
    if not isinstance(sc, Renamed):
        raise TypeError(f"unnamed field {sc!r}")
    name, doc, inner = sc.name, sc.docs or "", sc.subcon
    while isinstance(inner, Renamed):  # `"name" / T * "doc"` nests one Renamed in another
        doc, inner = doc or inner.docs or "", inner.subcon
    if isinstance(inner, FormatField):
        if inner.fmtstr[0] != "<":
            raise TypeError(f"{name}: only little-endian integers are allowed")
        return Field(name, "int", doc, fmt=inner.fmtstr[1:])
    if isinstance(inner, Const):
        sub = inner.subcon
        if isinstance(sub, Bytes) and isinstance(sub.length, int):
            return Field(name, "const", doc, fmt=f"{sub.length}s", value=inner.value)
        if isinstance(sub, FormatField):
            return Field(name, "const", doc, fmt=sub.fmtstr[1:], value=inner.value)
    if isinstance(inner, Transformed) and isinstance(inner.subcon, Struct):
        bits = tuple((b.name, _unwrap(b).length, b.docs or _unwrap_doc(b)) for b in inner.subcon.subcons)
        if sum(width for _, width, _ in bits) != 8:
            raise TypeError(f"{name}: bit-structs must fill exactly one byte")
        return Field(name, "bits", doc, fmt="B", bits=bits)
    if isinstance(inner, StringEncoded) and inner.encoding == "utf8":
        sub = inner.subcon
        if isinstance(sub, NullTerminated) and sub.term == b"\x00" and sub.subcon is GreedyBytes:
            return Field(name, "cstring", doc)
        if isinstance(sub, Prefixed) and isinstance(sub.lengthfield, FormatField) and sub.subcon is GreedyBytes:
            return Field(name, "pascal", doc, fmt=sub.lengthfield.fmtstr[1:])
    if isinstance(inner, schema.NulJoined):
        return Field(name, "nuljoined", doc)
    if inner is GreedyBytes:
        return Field(name, "greedy", doc)
    raise TypeError(f"{name}: the codec generator does not know {inner!r}")


def layout(struct_: Construct) -> list[Field]:
    """The fields of a flat spec structure, checked to be generatable."""
    fields = [_field(sc) for sc in struct_.subcons]
    seen_tail = False
    for i, f in enumerate(fields):
        if f.kind in FIXED_KINDS:
            if seen_tail:
                raise TypeError(f"{f.name}: fixed fields must precede variable ones")
        else:
            seen_tail = True
            if f.kind in ("greedy", "nuljoined") and i != len(fields) - 1:
                raise TypeError(f"{f.name}: {f.kind} must be the last field")
    return fields


# --- emitters -----------------------------------------------------------------


def _fixed(fields: list[Field]) -> list[Field]:
    return [f for f in fields if f.kind in FIXED_KINDS]


def _fmt(fields: list[Field]) -> str:
    return "<" + "".join(f.fmt for f in _fixed(fields))


def _const_name(name: str) -> str:
    """The public ``struct.Struct`` of a structure's fixed prefix: ``CLIENT_HEADER`` for ``client_header``."""
    return name.upper()


def _encode_lines(
    where: str, fields: list[Field], fixed_values: dict[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """Lines that check/encode the arguments, the pack() arguments, and the tail pieces."""
    lines: list[str] = []
    pack_args: list[str] = []
    pieces: list[str] = []
    for f in fields:
        if f.kind == "int":
            pack_args.append(fixed_values.get(f.name, f.name))
        elif f.kind == "const":
            pack_args.append(repr(f.value))
        elif f.kind == "bits":
            parts = []
            shift = 8
            for bname, width, _ in f.bits:
                shift -= width
                value = fixed_values.get(bname, bname)
                if bname not in fixed_values:
                    lines.append(f"if {bname} >> {width} or {bname} < 0:")
                    lines.append(f"    raise LocalProtocolError(f'{where}: {bname} {{{bname}!r}} does not fit {width} bits')")
                parts.append(f"({value} << {shift})" if shift else str(value))
            pack_args.append(" | ".join(parts))
        elif f.kind == "cstring":
            lines.append(f"_{f.name} = {f.name}.encode()")
            lines.append(f"if b'\\x00' in _{f.name}:")
            lines.append(f"    raise LocalProtocolError('{where}: {f.name} contains NUL')")
            pieces += [f"_{f.name}", "b'\\x00'"]
        elif f.kind == "pascal":
            lines.append(f"_{f.name} = {f.name}.encode()")
            lines.append(f"_{f.name}_len = _PREFIX_{f.fmt}.pack(len(_{f.name}))")
            pieces += [f"_{f.name}_len", f"_{f.name}"]
        elif f.kind == "nuljoined":
            lines.append(f"if not {f.name}:")
            lines.append(f"    raise LocalProtocolError('{where}: {f.name} needs at least one item')")
            lines.append(f"_{f.name}_items = [item.encode() for item in {f.name}]")
            lines.append(f"if any(b'\\x00' in item for item in _{f.name}_items):")
            lines.append(f"    raise LocalProtocolError('{where}: an item of {f.name} contains NUL')")
            lines.append(f"_{f.name} = b'\\x00'.join(_{f.name}_items)")
            pieces.append(f"_{f.name}")
        elif f.kind == "greedy":
            lines.append(f"if type({f.name}) is not bytes:  # len() of a memoryview counts items, not bytes")
            lines.append(f"    {f.name} = _flat({f.name})")
            pieces.append(f.name)
    return lines, pack_args, pieces


def _params(fields: list[Field], fixed_values: dict[str, str]) -> list[str]:
    names: list[str] = []
    for f in fields:
        if f.kind == "const":
            continue
        if f.kind == "bits":
            names += [b for b, _, _ in f.bits if b not in fixed_values]
        elif f.name not in fixed_values:
            names.append(f.name)
    return names


def _annotation(kind: str) -> str:
    return {"cstring": "str", "pascal": "str", "nuljoined": "Sequence[str]", "greedy": "Buffer"}.get(kind, "int")


def _decoded_type(fields: list[Field]) -> str:
    """The exact tuple type a decoder returns: plain tuples, typed per field, as fast as untyped ones.

    No fields is ``tuple[Never, ...]``, the same set of values as ``tuple[()]``: compiled with mypyc, a
    function typed ``-> tuple[()]`` cannot report the exception it raises (it returns ``()`` with the
    exception set), so the empty tuple is typed as one that mypyc passes as an object.
    """
    kinds = {"cstring": "str", "pascal": "str", "nuljoined": "list[str]", "greedy": "bytes"}
    types = [kinds.get(f.kind, "int") for f in fields for _ in f.decoded]
    return f"tuple[{', '.join(types)}]" if types else "tuple[Never, ...]"


def _signature(fields: list[Field], params: list[str]) -> str:
    kinds: dict[str, str] = {}
    for f in fields:
        if f.kind == "bits":
            for b, _, _ in f.bits:
                kinds[b] = "int"
        else:
            kinds[f.name] = f.kind
    return ", ".join(f"{p}: {_annotation(kinds[p])}" for p in params)


def _wrap_errors(where: str, body: list[str]) -> list[str]:
    out = ["try:"]
    out += ["    " + line for line in body]
    out += [
        "except (struct.error, UnicodeEncodeError, OverflowError) as exc:",
        f"    raise LocalProtocolError(f'{where}: {{exc}}') from None",
    ]
    return out


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return f"bytes({parts[0]})" if not parts[0].startswith(("_", "b'")) else parts[0]
    return "b''.join((" + ", ".join(parts) + "))"


def _render_struct(name: str, fields: list[Field]) -> list[str]:
    out: list[str] = []
    fixed = _fixed(fields)
    sname = _const_name(name)
    if fixed:
        out.append(f"{sname} = struct.Struct({_fmt(fields)!r})")
        out.append(f"{name.upper()}_SIZE = {sname}.size")
    out.append(f"{name.upper()}_FIELDS = {tuple(n for f in fields for n in f.decoded)!r}")
    out.append("")
    out.append("")
    # encoder
    params = _params(fields, {})
    out.append(f"def encode_{name}({_signature(fields, params)}) -> bytes:")
    out.append(f'    """Encode a `{name}` structure (raises LocalProtocolError on values that do not fit)."""')
    lines, pack_args, pieces = _encode_lines(name, fields, {})
    body = list(lines)
    parts = []
    if fixed:
        body.append(f"_head = {sname}.pack({', '.join(pack_args)})")
        parts.append("_head")
    parts += pieces
    body.append(f"return {_join(parts)}")
    out += ["    " + line for line in _wrap_errors(name, body)]
    out.append("")
    out.append("")
    # decoder
    decoded = [n for f in fields for n in f.decoded]
    out.append(
        f"def decode_{name}(buf: bytes | bytearray, start: int = 0, end: int | None = None) -> {_decoded_type(fields)}:"
    )
    out.append(
        f'    """Decode a `{name}` structure from ``buf[start:end]`` as a tuple {tuple(decoded)!r}.\n\n'
        "    Raises RemoteProtocolError (with the reason) on any malformed input.\n"
        '    """'
    )
    out.append("    if end is None or end > len(buf):  # a window past the buffer is a truncated one")
    out.append("        end = len(buf)")
    body = []
    if fixed:
        body.append(f"if end - start < {name.upper()}_SIZE:")
        body.append(
            f"    raise RemoteProtocolError(f'{name}: truncated, {{end - start}} of {{{name.upper()}_SIZE}} bytes')"
        )
        names = []
        for f in fixed:
            names.append(("_" + f.name) if f.kind in ("const", "bits") else f.name)
        body.append(f"{', '.join(names)}{',' if len(names) == 1 else ''} = {sname}.unpack_from(buf, start)")
        for f in fixed:
            if f.kind == "const":
                body.append(f"if _{f.name} != {f.value!r}:")
                body.append(f"    raise RemoteProtocolError('{name}: {f.name} is %r, expected %r' % (_{f.name}, {f.value!r}))")
            elif f.kind == "bits":
                shift = 8
                for bname, width, _ in f.bits:
                    shift -= width
                    mask = (1 << width) - 1
                    expr = f"_{f.name} >> {shift}" if shift else f"_{f.name}"
                    body.append(f"{bname} = ({expr}) & {mask:#x}" if shift + width < 8 else f"{bname} = {expr}")
        if len(fixed) < len(fields):
            body.append(f"pos = start + {name.upper()}_SIZE")
    else:
        body.append("pos = start")
    for f in fields:
        if f.kind == "cstring":
            body.append("_end = buf.find(b'\\x00', pos, end)")
            body.append("if _end < 0:")
            body.append(f"    raise RemoteProtocolError('{name}: {f.name} is not NUL-terminated')")
            body.append(f"{f.name} = str(buf[pos:_end], 'utf-8')")
            body.append("pos = _end + 1")
        elif f.kind == "pascal":
            size = struct.calcsize("<" + f.fmt)
            body.append(f"if end - pos < {size}:")
            body.append(f"    raise RemoteProtocolError('{name}: {f.name} length is truncated')")
            body.append(f"(_n,) = _PREFIX_{f.fmt}.unpack_from(buf, pos)")
            body.append(f"pos += {size}")
            body.append("if end - pos < _n:")
            body.append(f"    raise RemoteProtocolError(f'{name}: {f.name} is truncated, {{end - pos}} of {{_n}} bytes')")
            body.append(f"{f.name} = str(buf[pos:pos + _n], 'utf-8')")
            body.append("pos += _n")
        elif f.kind == "nuljoined":
            body.append(f"{f.name} = [str(item, 'utf-8') for item in bytes(buf[pos:end]).split(b'\\x00')]")
        elif f.kind == "greedy":
            body.append(f"{f.name} = bytes(buf[pos:end])")
    ret = ", ".join(decoded)
    body.append(f"return ({ret}{',' if len(decoded) == 1 else ''})")
    if any(f.kind in ("cstring", "pascal", "nuljoined") for f in fields):
        out.append("    try:")
        out += ["        " + line for line in body]
        out.append("    except UnicodeDecodeError:")
        out.append(f"        raise RemoteProtocolError('{name}: a string is not valid UTF-8') from None")
    else:
        out += ["    " + line for line in body]
    out.append("")
    out.append("")
    return out


def _render_frame(
    name: str, header_name: str, header: list[Field], body: list[Field], fixed_values: dict[str, str], doc: str
) -> list[str]:
    """A whole-frame encoder: the header's ``length`` is the body length, ``fixed_values`` are constants."""
    fields = header + body
    params = _params(header, {**fixed_values, "length": ""}) + _params(body, {})
    out = [f"def encode_{name}({_signature(fields, params)}) -> bytes:", f'    """{doc}"""']
    lines, pack_args, _ = _encode_lines(name, header, {**fixed_values, "length": "_length"})
    blines, _, pieces = _encode_lines(name, body, {})
    fn_body = lines + blines
    fn_body.append(f"_length = {' + '.join(f'len({p})' if not p.startswith('b') else '1' for p in pieces)}")
    fn_body.append(f"_head = {_const_name(header_name)}.pack({', '.join(pack_args)})")
    fn_body.append(f"return {_join(['_head', *pieces])}")
    out += ["    " + line for line in _wrap_errors(name, fn_body)]
    out += ["", ""]
    return out


# Fixed structures the broker and the clients pack or unpack once per frame, whose first
# field is a one-byte constant (a tag): each gets ``<NAME>_TAG``, ``pack_<name>`` (the
# other fields, no checks) and ``unpack_<name>_from`` (the other fields at an offset).
HOT_TAGGED = ("ack",)
# Client frames a router parses most: each gets ``decode_<name>_frames``, which decodes a
# run of them in one call, their leading string once per `STRING_CACHE_SIZE` distinct ones.
HOT_RUNS = ("message",)
STRING_CACHE_SIZE = 64


def _render_tagged(name: str, fields: list[Field]) -> list[str]:
    """``<NAME>_TAG``, ``pack_<name>`` and ``unpack_<name>_from`` of a fixed structure led by a one-byte constant."""
    tag, rest = fields[0], fields[1:]
    if tag.kind != "const" or tag.size != 1 or not isinstance(tag.value, bytes) or any(f.kind != "int" for f in rest):
        raise TypeError(f"{name}: a hot-path structure needs a one-byte constant, then integers")
    sname = _const_name(name)
    ints = ", ".join("int" for _ in rest)
    fmt = "<x" + "".join(f.fmt for f in rest)
    return [
        f"{sname}_TAG = {tag.value[0]:#04x}",
        f"pack_{name}: Callable[[{ints}], bytes] = functools.partial({sname}.pack, {tag.value!r})",
        f'"""Pack a `{name}` from ({", ".join(f.name for f in rest)}) as fast as ``struct``: for values already checked."""',
        f"unpack_{name}_from: Callable[[Buffer, int], tuple[{ints}]] = struct.Struct({fmt!r}).unpack_from",
        f'"""({", ".join(f.name for f in rest)}) of the `{name}` at an offset whose tag the caller has checked."""',
        "",
        "",
    ]


def _render_frame_run(name: str, op: int, header: list[Field], where: str, body: list[Field]) -> list[str]:
    """``decode_<name>_frames``: a run of whole client frames of one op whose body is a string then bytes.

    What a router parses most: one call decodes every consecutive such frame
    of a received chunk (no call per frame), reading each leading string
    through a per-connection cache so that it is checked and decoded once.
    """
    names = [n for f in header for n in f.decoded]
    if names != ["op_id", "qos", "op", "length"] or [f.kind for f in body] != ["cstring", "greedy"]:
        raise TypeError(f"{name}: a frame run needs the client header and a string-then-bytes body")
    head, tail = body[0].name, body[1].name
    hname = "CLIENT_HEADER"
    bits = _bit_expressions(header, "flags")
    read = _header_reads(header, "buf", "pos")
    return [
        f"def decode_{name}_frames(",
        "    buf: bytes,",
        "    pos: int,",
        "    end: int,",
        "    max_length: int,",
        "    cache: dict[bytes, str],",
        "    out: list[tuple[int, int, str, bytes, int]],",
        ") -> int:",
        f'    """Decode the whole {name.upper()} frames from ``buf[pos:end]`` on; return where they stop.',
        "",
        f"    Appends ``(op_id, qos, {head}, {tail}, length)`` per frame to ``out`` and stops at the first",
        f"    unit that is not a whole {name.upper()} frame of at most ``max_length`` bytes (a ping, another",
        "    op, a partial frame, an oversized one), leaving it to the caller. ``cache`` maps the",
        f"    encoded {head}s seen lately to their text (emptied when it holds `STRING_CACHE_SIZE`, so",
        "    its memory is bounded). Raises RemoteProtocolError for a malformed body, as",
        f"    `decode_{where}` does; the frames before it are already in ``out``.",
        "",
        f"    Header fields are read byte by byte, and a frame whose {head} is the previous frame's",
        "    (its bytes then NUL) reuses that text without a lookup: compiled, that is what makes a",
        "    run of small frames to one receiver cheap (no tuple, slice or hash per header and",
        "    target; as plain Python, reading bytes one by one costs more than ``struct`` does).",
        '    """',
        "    find = buf.find",
        "    startswith = buf.startswith",
        "    append = out.append",
        f"    last = b''  # the previous frame's encoded {head}, its text and length",
        "    value = ''",
        "    n = 0",
        f"    while end - pos >= {hname}_SIZE:",
        f"        flags = {read['flags']}",
        f"        length = {read['length']}",
        f"        if {bits['op']} != {op:#04x} or length > max_length:",
        "            return pos",
        f"        start = pos + {hname}_SIZE",
        "        stop = start + length",
        "        if stop > end:",
        "            return pos",
        *_leading_string("value", "last", "n", "        ", f"'{where}: {head} is not NUL-terminated'",
                         f"'{where}: a string is not valid UTF-8'", cached=True),
        f"        op_id = {read['op_id']}",
        f"        append((op_id, {bits['qos']}, value, buf[sep + 1 : stop], length))",
        "        pos = stop",
        "    return pos",
        "",
        "",
    ]


def _render_delivery_run(header: list[Field], frames: dict[str, tuple[Kind, str, list[Field]]]) -> list[str]:
    """``decode_delivery_frames``: a run of whole broker frames that carry a sender (and maybe a topic) then bytes.

    What a client parses most: one call decodes every consecutive MESSAGE,
    BROADCAST and PUBLISH frame of a received chunk, each leading string
    decoded once for a run of frames that repeat it.
    """
    if [n for f in header for n in f.decoded] != ["kind", "length", "realtime"]:
        raise TypeError("a delivery run needs the server header (kind, length, realtime)")
    shapes = {name: [f.kind for f in body] for name, (_, _, body) in frames.items()}
    if any(shape not in (["cstring", "greedy"], ["cstring", "cstring", "greedy"]) for shape in shapes.values()):
        raise TypeError("a delivery run needs bodies of a sender (and a topic) then bytes")
    read = _header_reads(header, "buf", "pos")
    kinds = {name: int(kind) for name, (kind, _, _) in frames.items()}
    topical = [name for name, shape in shapes.items() if len(shape) == 3]
    if len(topical) != 1:
        raise TypeError("a delivery run expects exactly one frame with a topic")
    with_topic = topical[0]
    topic_where = frames[with_topic][1]
    plain_where = {frames[name][1] for name in frames if name != with_topic}
    if len(plain_where) != 1:
        raise TypeError("the frames without a topic must share one body layout")
    (sender_where,) = plain_where
    sender_name = frames[with_topic][2][0].name
    topic_name = frames[with_topic][2][1].name
    accepted = " and ".join(f"kind != {kinds[name]:#04x}" for name in frames)
    where = f"('{topic_where}' if kind == {kinds[with_topic]:#04x} else '{sender_where}')"  # the sender's structure
    names = ", ".join(Kind(kind).name for kind in kinds.values())
    return [
        "def decode_delivery_frames(",
        "    buf: bytes,",
        "    pos: int,",
        "    end: int,",
        "    max_length: int,",
        "    out: list[tuple[int, str, str | None, bytes, int]],",
        ") -> int:",
        f'    """Decode the whole {names} frames from ``buf[pos:end]`` on; return where they stop.',
        "",
        f"    Appends ``(kind, {sender_name}, {topic_name}, payload, realtime)`` per frame to ``out``",
        f"    (``{topic_name}`` None but for a {Kind(kinds[with_topic]).name}) and stops at the first unit that is",
        "    not such a whole frame of at most ``max_length`` bytes (an ack, a NOP, another kind, a",
        "    partial frame, an oversized one), leaving it to the caller. Raises RemoteProtocolError for",
        f"    a malformed body, as `decode_{sender_where}` and `decode_{topic_where}` do; the frames",
        "    before it are already in ``out``.",
        "",
        f"    Header fields are read byte by byte, and a {sender_name} or {topic_name} whose bytes are the",
        "    previous frame's (then NUL) reuses its text without decoding: compiled, that is what makes a",
        "    stream from one sender on one topic cheap to parse.",
        '    """',
        "    find = buf.find",
        "    startswith = buf.startswith",
        "    append = out.append",
        f"    last_{sender_name} = b''  # the previous frame's encoded {sender_name}, its text and length",
        f"    {sender_name} = ''",
        "    ns = 0",
        f"    last_{topic_name} = b''",
        f"    {topic_name}_text = ''",
        "    nt = 0",
        "    while end - pos >= SERVER_HEADER_SIZE:",
        f"        kind = {read['kind']}",
        f"        if {accepted}:",
        "            return pos",
        f"        length = {read['length']}",
        "        if length > max_length:",
        "            return pos",
        "        start = pos + SERVER_HEADER_SIZE",
        "        stop = start + length",
        "        if stop > end:",
        "            return pos",
        *_leading_string(sender_name, f"last_{sender_name}", "ns", "        ",
                         f"{where} + ': {sender_name} is not NUL-terminated'", f"{where} + ': a string is not valid UTF-8'"),
        f"        if kind == {kinds[with_topic]:#04x}:",
        "            start = sep + 1",
        *_leading_string(f"{topic_name}_text", f"last_{topic_name}", "nt", "            ",
                         f"'{topic_where}: {topic_name} is not NUL-terminated'", f"'{topic_where}: a string is not valid UTF-8'"),
        f"            append((kind, {sender_name}, {topic_name}_text, buf[sep + 1 : stop], {read['realtime']}))",
        "        else:",
        f"            append((kind, {sender_name}, None, buf[sep + 1 : stop], {read['realtime']}))",
        "        pos = stop",
        "    return pos",
        "",
        "",
    ]


def _leading_string(text: str, last: str, size: str, indent: str, missing: str, invalid: str, *,
                    cached: bool = False) -> list[str]:
    """Lines that read the NUL-terminated string at ``start`` (before ``stop``) into ``text``, its NUL at ``sep``.

    When the previous frame's string (its bytes in ``last``, ``size`` of them) stands there followed by
    NUL, ``text`` still holds its text and nothing is decoded; otherwise the string is found, decoded
    (through ``cache`` when ``cached``) and remembered. ``missing`` and ``invalid`` are the expressions of
    the errors' reasons, as the checked decoder of the structure gives them.
    """

    def decoded(target: str) -> list[str]:
        return ["try:", f"    {target} = {last}.decode()", "except UnicodeDecodeError:",
                f"    raise RemoteProtocolError({invalid}) from None"]

    found = ["sep = find(b'\\x00', start, stop)", "if sep < 0:", f"    raise RemoteProtocolError({missing})",
             f"{last} = buf[start:sep]"]
    if cached:
        found += [f"cached = cache.get({last})", "if cached is None:", *("    " + line for line in decoded("cached")),
                  "    if len(cache) >= STRING_CACHE_SIZE:", "        cache.clear()", f"    cache[{last}] = cached",
                  f"{text} = cached"]
    else:
        found += decoded(text)
    found.append(f"{size} = len({last})")
    lines = [f"sep = start + {size}", f"if not ({size} and sep < stop and buf[sep] == 0 and startswith({last}, start)):",
             *("    " + line for line in found)]
    return [indent + line for line in lines]


def _header_reads(fields: list[Field], buf: str, pos: str) -> dict[str, str]:
    """An expression per unsigned little-endian field of a fixed header, reading it byte by byte
    from ``buf`` at offset ``pos`` (a bit field's byte under the field's own name)."""
    reads = {}
    offset = 0
    for f in fields:
        if f.size is None or f.fmt not in ("B", "H", "L", "Q"):
            raise TypeError(f"{f.name}: a header read byte by byte needs fixed unsigned fields")
        parts = [f"{buf}[{pos} + {offset + i}]" if offset + i else f"{buf}[{pos}]" for i in range(f.size)]
        parts = [part + (f" << {8 * i}" if i else "") for i, part in enumerate(parts)]
        reads[f.name] = " | ".join(parts)
        offset += f.size
    return reads


def _bit_expressions(fields: list[Field], var: str) -> dict[str, str]:
    """Each bit field's value out of its byte held in ``var``, with no shift or mask that is not needed."""
    out = {}
    for f in fields:
        shift = 8
        for bname, width, _ in f.bits:
            shift -= width
            expr = f"{var} >> {shift}" if shift else var
            mask = f"{(1 << width) - 1:#04x}"
            out[bname] = expr if shift + width == 8 else f"({expr}) & {mask}" if shift else f"{expr} & {mask}"
    return out


def _render_bits(name: str, fields: list[Field]) -> list[str]:
    """``<NAME>_<BIT>_SHIFT`` and ``_MASK`` of every bit field, for code that unpacks the byte itself."""
    out = []
    for f in fields:
        if f.kind != "bits":
            continue
        shift = 8
        for bname, width, _ in f.bits:
            shift -= width
            out.append(f"{name.upper()}_{bname.upper()}_SHIFT = {shift}")
            out.append(f"{name.upper()}_{bname.upper()}_MASK = {(1 << width) - 1:#04x}")
    return [*out, "", ""] if out else []


def _render_size(name: str, fields: list[Field]) -> list[str]:
    """``size_of_<name>``: how long a structure of fixed fields and length-prefixed strings is, once its prefixes are in."""
    out = [
        f"def size_of_{name}(buf: Buffer, start: int = 0) -> int | None:",
        f'    """Bytes the `{name}` at ``buf[start:]`` takes, or None while a length prefix is not all there."""',
        f"    pos = start + {name.upper()}_SIZE" if _fixed(fields) else "    pos = start",
    ]
    for f in fields:
        if f.kind == "pascal":
            size = struct.calcsize("<" + f.fmt)
            out.append(f"    if len(buf) - pos < {size}:")
            out.append("        return None")
            out.append(f"    (_n,) = _PREFIX_{f.fmt}.unpack_from(buf, pos)")
            out.append(f"    pos += {size} + _n")
    return [*out, "    return int(pos - start)", "", ""]


def _render_handshake() -> list[str]:
    """The fixed units (handshake results, ping, keep-alive) and the greeting check, from their structures."""
    return [
        "PROTOCOL_GREETING = encode_greeting(version=PROTOCOL_VERSION)",
        '"""The greeting of the one protocol version spoken: the broker sends it, the client echoes it."""',
        f"RESULT_OK = encode_result(code={int(Code.OK):#04x})",
        '"""The result that accepts a greeting echo or a registration (a refusal is ``encode_result(code)``)."""',
        "PING_FRAME = encode_client_header(op_id=0, qos=0, op=0, length=0)",
        '"""A ping: a client header whose FLAGS byte is 0 (the broker ignores its other 8 bytes; no body follows)."""',
        "NOP_FRAME = encode_nop()",
        '"""The broker\'s keep-alive, sent every timeout."""',
        "",
        "",
        "def check_greeting(buf: Buffer, start: int = 0) -> None:",
        '    """Raise RemoteProtocolError unless ``buf[start:]`` begins with `PROTOCOL_GREETING`."""',
        "    got = bytes(buf[start:start + GREETING_SIZE])",
        "    if got != PROTOCOL_GREETING:",
        "        raise RemoteProtocolError(f'unsupported greeting {got.hex()}')",
        "",
        "",
    ]


FLAT = '''def _flat(data: Buffer) -> bytes | bytearray | memoryview:
    """``data`` as plain bytes for ``len()`` and ``join``.

    A memoryview's ``len()`` counts items, not bytes (a view of an
    ``array('I')`` is four times longer on the wire than it says) and a
    non-contiguous view cannot be joined at all.
    """
    if type(data) is bytearray:
        return data
    view = memoryview(data)
    return view.cast('B') if view.c_contiguous else view.tobytes()

'''


HEADER = '''"""Runtime codec for every elbus wire structure.

GENERATED by ``python -m elbus_spec.codegen`` from `elbus_spec.schema`:
do not edit; change the spec and regenerate (``make codegen``).

Plain ``struct`` with precompiled formats: no construct at runtime. Decoders
take ``bytes`` or ``bytearray`` plus an optional ``[start:end)`` window and
raise `RemoteProtocolError`; encoders raise `LocalProtocolError`. The
hot-path helpers (``pack_*``, ``unpack_*_from``, the public ``struct.Struct``
of every fixed prefix) are for code that checks the values itself.
"""

# ruff: noqa: E501

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from typing import Never

from .constants import PROTOCOL_VERSION
from .errors import LocalProtocolError, RemoteProtocolError

Buffer = bytes | bytearray | memoryview

'''


def generate() -> str:
    """The full text of the generated codec module."""
    out: list[str] = [HEADER, FLAT]
    layouts = {name: layout(st) for name, st in schema.STRUCTS.items()}
    prefixes = sorted({f.fmt for fs in layouts.values() for f in fs if f.kind == "pascal"})
    for fmt in prefixes:
        out.append(f"_PREFIX_{fmt} = struct.Struct('<{fmt}')")
    out.append("")
    for name, fields in layouts.items():
        out += _render_struct(name, fields)
        if name in HOT_TAGGED:
            out += _render_tagged(name, fields)
        out += _render_bits(name, fields)
        if any(f.kind == "pascal" for f in fields) and all(f.kind in (*FIXED_KINDS, "pascal") for f in fields):
            out += _render_size(name, fields)
    out += [f"STRING_CACHE_SIZE = {STRING_CACHE_SIZE}", "", ""]
    out += _render_handshake()
    for name in HOT_RUNS:
        op, body = schema.CLIENT_FRAMES[name]
        body_name = next(key for key, value in schema.STRUCTS.items() if value is body)
        out += _render_frame_run(name, int(op), layouts["client_header"], body_name, layouts[body_name])
    delivered = {
        name: (kind, next(key for key, value in schema.STRUCTS.items() if value is body), layout(body))
        for name, (kind, body) in schema.SERVER_FRAMES.items()
    }
    out += _render_delivery_run(layouts["server_header"], delivered)
    for name, (op, body) in schema.CLIENT_FRAMES.items():
        out += _render_frame(
            f"{name}_frame",
            "client_header",
            layouts["client_header"],
            layout(body),
            {"op": f"{int(op):#04x}"},
            f"A whole client {op.name} frame (header + body).",
        )
    for name, (kind, body) in schema.SERVER_FRAMES.items():
        out += _render_frame(
            f"{name}_delivery",
            "server_header",
            layouts["server_header"],
            layout(body),
            {"kind": f"{int(kind):#04x}"},
            f"A whole broker {kind.name} frame (header + body) as delivered to a client.",
        )
    text = "\n".join(out).rstrip() + "\n"
    names = sorted(
        line.split("(")[0].split()[1] if line.startswith("def ") else line.split(" = ")[0].split(":")[0]
        for line in text.splitlines()
        if (line.startswith("def ") or (line[:1].isalpha() and " = " in line)) and not line.startswith("Buffer")
    )
    return text + "\n__all__ = [\n" + "".join(f"    {n!r},\n" for n in names) + "]\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elbus_spec.codegen", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed codec is stale")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.name} is stale: run `make codegen`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
