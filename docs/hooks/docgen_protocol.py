"""The protocol reference pages, rendered from the construct spec and the generated codec.

Structures are grouped by the ``# --- section ---`` comments of
`elbus_spec.schema` and described by the docstrings under their
assignments; every table row comes from `elbus_spec.codegen.layout`, every
constant from `elbus_spec.constants`, and every worked example is bytes
produced by the generated codec and decoded back by it. Nothing here is
protocol knowledge of its own: a change to the spec changes these pages on
the next build, and a spec the pages cannot describe fails the build.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack
from docgen_layout import annotate, diagram, layout_rows

from elbus_spec import (
    PING_FRAME,
    PROTOCOL_VERSION,
    BrokerConnection,
    ClientConnection,
    Code,
    QoS,
    RpcErrorCode,
    codec,
    constants,
    errors,
    schema,
)
from elbus_spec.codegen import Field, layout

__all__ = ["PROTOCOL_DIR", "render_protocol_pages"]

PROTOCOL_DIR = "protocol"
_GENERATED_NOTE = (
    "!!! info \"Generated\"\n"
    "    This page is generated on every build from `elbus_spec.schema` and the generated codec; "
    "it cannot drift from the code.\n"
)


# --- reading the spec's source: sections, docstrings, comments ---------------------------


@dataclass(frozen=True)
class Structure:
    """A flat structure of the spec with where and how the spec documents it."""

    key: str  # name in schema.STRUCTS and in the codec's encode_/decode_ functions
    attr: str  # name of the construct in elbus_spec.schema
    doc: str
    section: str
    fields: list[Field]


def _documented_assignments(module: Any) -> dict[str, tuple[int, str, str]]:
    """``name -> (line, docstring, comment above)`` for every top-level assignment of a module's source."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    body = ast.parse(source).body
    out: dict[str, tuple[int, str, str]] = {}
    for node, after in zip(body, [*body[1:], None], strict=True):
        if not (isinstance(node, ast.Assign | ast.AnnAssign)):
            continue
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if not isinstance(target, ast.Name):
            continue
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = inspect.cleandoc(after.value.value)
        comment: list[str] = []
        i = node.lineno - 2
        while i >= 0 and lines[i].startswith("#") and not lines[i].startswith("# ---"):
            comment.insert(0, lines[i].lstrip("# ").rstrip())
            i -= 1
        out[target.id] = (node.lineno, doc, " ".join(comment))
    return out


def _sections(module: Any) -> list[tuple[int, str]]:
    """``(line, title)`` of every ``# --- title ---`` comment."""
    found = []
    for number, line in enumerate(inspect.getsource(module).splitlines(), 1):
        match = re.match(r"# --- (.+?) -+$", line)
        if match:
            found.append((number, match.group(1)))
    return found


def structures() -> list[Structure]:
    """Every structure of ``schema.STRUCTS`` in source order, with its section and docstring."""
    assignments = _documented_assignments(schema)
    sections = _sections(schema)
    by_object = {id(getattr(schema, name)): name for name in assignments if hasattr(schema, name)}
    found = []
    for key, construct in schema.STRUCTS.items():
        attr = by_object.get(id(construct))
        if attr is None:
            raise ValueError(f"structure {key!r} is not assigned at the top level of the schema")
        line, doc, comment = assignments[attr]
        titles = [title for start, title in sections if start < line]
        if not titles:
            raise ValueError(f"structure {attr} is outside every '# --- section ---' of the schema")
        found.append(Structure(key, attr, doc or comment or _rpc_doc(construct), titles[-1], layout(construct)))
    return found


def _rpc_doc(construct: Any) -> str:
    """What an undocumented RPC payload structure is, from the spec's RpcType -> structure table."""
    for rpc_type, rpc_construct in schema.RPC_TYPES.items():
        if rpc_construct is construct:
            return f"The payload of an RPC {rpc_type.name.lower()} (`RpcType.{rpc_type.name}`, first byte `0x{rpc_type:02x}`)."
    return ""


def _title(section: str) -> str:
    text = section.replace("->", "→")
    return text[0].upper() + text[1:]


def _slug(section: str) -> str:
    text = re.sub(r"\(.*?\)", "", section.replace("->", " to "))
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- worked examples --------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """Bytes from the real codec and the structures they consist of."""

    call: str  # how the bytes were made, as Python
    data: bytes
    parts: tuple[str, ...]  # structure keys, in wire order


def _arg(value: Any) -> str:
    if isinstance(value, IntEnum):
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def _parts(function: str) -> tuple[str, ...]:
    """The structures, in wire order, of what ``codec.<function>`` encodes."""
    name = function.removeprefix("encode_")
    keys = {id(construct): key for key, construct in schema.STRUCTS.items()}
    if name.endswith("_frame"):
        _, body = schema.CLIENT_FRAMES[name.removesuffix("_frame")]
        return ("client_header", keys[id(body)])
    if name.endswith("_delivery"):
        _, body = schema.SERVER_FRAMES[name.removesuffix("_delivery")]
        return ("server_header", keys[id(body)])
    return (name,)


def _encoded(function: str, *args: Any) -> Example:
    """Encode with ``codec.<function>``; the example knows which structures the bytes consist of."""
    encoder: Callable[..., bytes] = getattr(codec, function)
    call = f"codec.{function}({', '.join(_arg(a) for a in args)})"
    return Example(call, encoder(*args), _parts(function))


def _carrying(function: str, args: tuple[Any, ...], inner: Example, shown: str | None = None) -> Example:
    """A frame from ``codec.<function>(*args, payload)`` whose payload is ``inner`` (an RPC payload in a MESSAGE)."""
    encoder: Callable[..., bytes] = getattr(codec, function)
    call = f"codec.{function}({', '.join(_arg(a) for a in args)}, {shown or inner.call})"
    return Example(call, encoder(*args, inner.data), _parts(function) + inner.parts)


def examples() -> list[Example]:
    """Sample values run through the generated codec: at least one example per encoder or structure."""
    return [
        _encoded("encode_greeting", PROTOCOL_VERSION),
        _encoded("encode_result", Code.OK),
        _encoded("encode_result", Code.BUSY),
        _encoded("encode_registration", "svc.worker"),
        Example("elbus_spec.PING_FRAME", PING_FRAME, ("client_header",)),
        _encoded("encode_message_frame", 1, QoS.PROCESSED, "svc.worker", b"hello"),
        _encoded("encode_broadcast_frame", 2, QoS.NO, "svc.*", b"reload"),
        _encoded("encode_publish_frame", 3, QoS.REALTIME_PROCESSED, "sensors/room1/temp", b"21.5"),
        _encoded("encode_subscribe_frame", 4, QoS.PROCESSED, ["sensors/#", "alarms/+"]),
        _encoded("encode_unsubscribe_frame", 5, QoS.PROCESSED, ["alarms/+"]),
        _encoded("encode_exclude_frame", 6, QoS.PROCESSED, ["sensors/debug/#"]),
        _encoded("encode_unexclude_frame", 7, QoS.PROCESSED, ["sensors/debug/#"]),
        _encoded("encode_publish_for_frame", 8, QoS.PROCESSED, "config/update", "svc.worker", b"{}"),
        _encoded("encode_message_delivery", 0, "svc.client", b"hello"),
        _encoded("encode_broadcast_delivery", 0, "svc.admin", b"reload"),
        _encoded("encode_publication_delivery", 1, "svc.sensor", "sensors/room1/temp", b"21.5"),
        _encoded("encode_ack", 1, Code.OK),
        _encoded("encode_ack", 9, Code.NOT_REGISTERED),
        _encoded("encode_nop"),
        _encoded("encode_rpc_notification", b"ping"),
        _encoded("encode_rpc_request", 1, "test", b""),
        _encoded("encode_rpc_reply", 1, msgpack.packb({"ok": True})),
        _encoded("encode_rpc_error", 2, RpcErrorCode.METHOD_NOT_FOUND, b"method not found"),
        _carrying("encode_message_frame", (9, QoS.PROCESSED, ".broker"), _encoded("encode_rpc_request", 1, "test", b"")),
        _carrying(
            "encode_message_delivery",
            (0, ".broker"),
            _encoded("encode_rpc_reply", 1, msgpack.packb({"ok": True})),
            shown="codec.encode_rpc_reply(1, msgpack.packb({'ok': True}))",
        ),
    ]


def check_coverage(found: Sequence[Example]) -> None:
    """Raise ValueError when an encoder or a structure of the codec has no worked example."""
    parts = {part for example in found for part in example.parts}
    missing_structs = sorted(set(schema.STRUCTS) - parts)
    sampled = {example.call.split("(")[0].removeprefix("codec.") for example in found}
    missing_encoders = sorted(
        name
        for name in codec.__all__
        if name.startswith("encode_") and name not in sampled and name.removeprefix("encode_") not in parts
    )
    if missing_structs or missing_encoders:
        raise ValueError(f"protocol reference: no worked example for {missing_structs + missing_encoders}")


def _bytes_count(n: int) -> str:
    return f"{n} byte" if n == 1 else f"{n} bytes"


def _render_example(example: Example, by_key: dict[str, Structure]) -> list[str]:
    fields = [by_key[key].fields for key in example.parts]
    segments = annotate(example.data, fields, rpc=any(key.startswith("rpc_") for key in example.parts))
    # Decode every part back with the generated decoder: the page shows what the runtime reads.
    decoded = []
    for index, key in enumerate(example.parts):
        start = min(seg.offset for seg in segments if seg.part == index)
        fixed = all(f.size is not None for f in by_key[key].fields)
        end = start + sum(f.size or 0 for f in by_key[key].fields) if fixed else len(example.data)
        decoded.append(f"`codec.decode_{key}(…)` → `{getattr(codec, f'decode_{key}')(example.data, start, end)!r}`")
    out = [
        f"`{example.data.hex(' ')}` ({_bytes_count(len(example.data))})",
        "",
        "| offset | bytes | field | value |",
        "|---|---|---|---|",
    ]
    for s in segments:
        shown = s.data.hex(" ") if len(s.data) <= 24 else s.data[:24].hex(" ") + " …"
        out.append(f"| {s.offset} | `{shown or '(none)'}` | `{s.field}` | {s.value.replace('|', '&#124;')} |")
    out += ["", "Decoded by the runtime codec: " + "; ".join(decoded), ""]
    return out


# --- a whole exchange, played by the sans-IO connections ---------------------------------------


def _exchange() -> list[str]:
    """The bytes of a handshake, a subscription and its ack, as `BrokerConnection` and `ClientConnection` produce them."""
    broker = BrokerConnection()
    client = ClientConnection("svc.worker")
    rows: list[tuple[str, bytes, list[Any]]] = []

    def to_client(data: bytes) -> None:
        rows.append(("broker → client", data, client.receive_data(data)))

    def to_broker(data: bytes) -> None:
        rows.append(("client → broker", data, broker.receive_data(data)))

    to_client(broker.greeting())
    to_broker(client.data_to_send())
    to_client(broker.data_to_send())
    to_broker(client.data_to_send())
    to_client(broker.accept())
    op_id, frame = client.send_subscribe(["sensors/#"], QoS.PROCESSED)
    to_broker(frame)
    to_client(broker.ack(op_id, Code.OK))
    to_broker(client.ping())
    out = [
        "## The exchange",
        "",
        "A client connecting, registering as `svc.worker`, subscribing to `sensors/#` and pinging, as the "
        "spec's sans-IO `BrokerConnection` and `ClientConnection` play it; the last column is what the "
        "receiving side reports.",
        "",
        "| # | direction | bytes | the receiver reports |",
        "|---:|---|---|---|",
    ]
    for number, (direction, data, events) in enumerate(rows, 1):
        reported = ", ".join(f"`{event!r}`" for event in events) or "nothing yet (it answers next)"
        out.append(f"| {number} | {direction} | `{data.hex(' ')}` | {reported} |")
    return [*out, ""]


# --- pages ------------------------------------------------------------------------------------


def _structure_section(st: Structure) -> list[str]:
    size = sum(f.size or 0 for f in st.fields)
    variable = any(f.size is None for f in st.fields)
    sized = _bytes_count(size) + (" + a variable part" if variable else "") if size else "variable"
    out = [
        f"## `{st.attr}` {{#{st.key.replace('_', '-')}}}",
        "",
        st.doc,
        "",
        f"Size: {sized}. Codec: `codec.encode_{st.key}`, `codec.decode_{st.key}`.",
        "",
        "| offset | size | type | field | meaning |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {' | '.join(row)} |" for row in layout_rows(st.fields)]
    out += ["", "```text", diagram(st.fields), "```", ""]
    return out


def _section_page(section: str, members: list[Structure], found: list[Example], by_key: dict[str, Structure]) -> str:
    out = [f"# {_title(section)}", "", _GENERATED_NOTE]
    keys = {st.key for st in members}
    if "greeting" in keys:
        out += _exchange()
    for st in members:
        out += _structure_section(st)
    mine = [ex for ex in found if ex.parts[-1] in keys]
    if mine:
        out += ["## Worked examples", ""]
        for example in mine:
            parts = " + ".join(by_key[key].attr for key in example.parts)
            out += [f"### `{example.call}`", "", f"Structures: {parts}.", ""]
            out += _render_example(example, by_key)
    return "\n".join(out)


def _enum_rows(enum: type[IntEnum]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of one enum table, with what the spec ties to each member."""
    client_bodies = {int(op): body for op, body in schema.CLIENT_FRAMES.values()}
    server_bodies = {int(kind): body for kind, body in schema.SERVER_FRAMES.values()}
    names = {id(construct): name for name, construct in vars(schema).items() if name.isupper()}
    header = ["name", "value"]
    rows = []
    for member in enum:
        row = [f"`{member.name}`", f"`0x{member.value:02x}`" if member.value >= 0 else f"`{member.value}`"]
        if enum.__name__ == "Code":
            err = None if member == Code.OK else type(errors.error_for_code(member))
            row += [f"`{err.__name__}`" if err else "", (err.__doc__ or "") if err else ""]
        elif isinstance(member, QoS):
            row += ["yes" if member.needs_ack else "no", "yes" if member.realtime else "no"]
        elif enum.__name__ in ("Op", "Kind", "RpcType"):
            bodies = {"Op": client_bodies, "Kind": server_bodies, "RpcType": {int(k): v for k, v in schema.RPC_TYPES.items()}}
            fallback = getattr(schema, member.name, None) if enum.__name__ == "Kind" else None  # ACK, NOP
            body = bodies[enum.__name__].get(member.value, fallback)
            row.append(f"`{names[id(body)]}`" if body is not None and id(body) in names else "—")
        rows.append(row)
    header += {
        "Code": ["exception", "meaning"],
        "QoS": ["acknowledged", "realtime"],
        "Op": ["body"],
        "Kind": ["body"],
        "RpcType": ["structure"],
    }.get(enum.__name__, [])
    return header, rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(row)} |" for row in rows), ""]


def _constants_page() -> str:
    documented = _documented_assignments(constants)
    out = ["# Constants and codes", "", _GENERATED_NOTE]
    enums = [getattr(constants, name) for name in constants.__all__ if isinstance(getattr(constants, name), type)]
    for enum in enums:
        out += [f"## `{enum.__name__}`", "", inspect.getdoc(enum) or "", ""]
        out += _table(*_enum_rows(enum))
        if enum is RpcErrorCode:
            out += ["Transport failures seen by an RPC caller are reported as `-32000 - code`:", ""]
            out += _table(
                ["broker code", "RPC error code"],
                [[f"`{c.name}` (`0x{c.value:02x}`)", f"`{-32000 - c.value}`"] for c in Code if c != Code.OK],
            )
    out += ["## Other constants", ""]
    rows = []
    for name in constants.__all__:
        value = getattr(constants, name)
        if isinstance(value, type) or callable(value):
            continue
        shown = value.hex(" ") if isinstance(value, bytes) else repr(value)
        if isinstance(value, int) and value > 9:
            shown += f" (0x{value:x})"
        rows.append([f"`{name}`", f"`{shown}`", documented.get(name, (0, "", ""))[2]])
    out += _table(["name", "value", "why"], rows)
    out += ["## Errors", "", inspect.getdoc(errors) or "", ""]
    rows = []
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            code = getattr(obj, "code", None) if issubclass(obj, errors.BrokerError) and obj is not errors.BrokerError else None
            base = obj.__bases__[0].__name__
            rows.append([f"`{name}`", f"`{base}`", f"`0x{code:02x}`" if code is not None else "", inspect.getdoc(obj) or ""])
    out += _table(["exception", "base", "code", "meaning"], rows)
    return "\n".join(out)


def _index_page(found: list[Structure], pages: dict[str, str]) -> str:
    module_doc = (inspect.getdoc(schema) or "").split("\n\n")[0]
    out = ["# Protocol reference", "", _GENERATED_NOTE, module_doc, ""]
    # codegen.layout() refuses any integer that is not little-endian, so this holds for every table below
    out += ["All integers are little-endian (`u32` is 4 bytes, least significant first); strings are UTF-8; "
            "`NUL` is the byte `00`.", ""]
    out += ["| structure | section | fixed bytes | variable part | description |", "|---|---|---|---|---|"]
    for st in found:
        fixed = sum(f.size or 0 for f in st.fields)
        variable = ", ".join(f"`{f.name}`" for f in st.fields if f.size is None) or "none"
        page = f"{_slug(st.section)}.md#{st.key.replace('_', '-')}"
        summary = st.doc.split("\n")[0].replace("|", "\\|")
        out.append(f"| [`{st.attr}`]({page}) | {_title(st.section)} | {fixed} | {variable} | {summary} |")
    out += ["", "## Whole frames", "", "A client frame is `CLIENT_HEADER` followed by the body of its operation; "
            "a delivered frame is `SERVER_HEADER` followed by the body of its kind.", ""]
    rows = [[f"`{op.name}`", f"`0x{op:02x}`", "`CLIENT_HEADER`", f"`{_attr_of(body)}`", f"`codec.encode_{name}_frame`"]
            for name, (op, body) in schema.CLIENT_FRAMES.items()]
    rows += [[f"`{kind.name}`", f"`0x{kind:02x}`", "`SERVER_HEADER`", f"`{_attr_of(body)}`", f"`codec.encode_{name}_delivery`"]
             for name, (kind, body) in schema.SERVER_FRAMES.items()]
    out += _table(["frame", "code", "header", "body", "encoder"], rows)
    out += ["## Pages", ""] + [f"- [{title}]({path.removeprefix(PROTOCOL_DIR + '/')})" for path, title in pages.items()]
    return "\n".join(out) + "\n"


def _attr_of(construct: Any) -> str:
    return next(name for name, value in vars(schema).items() if value is construct and name.isupper())


def render_protocol_pages() -> dict[str, tuple[str, str]]:
    """``path -> (nav title, markdown)`` for every protocol reference page, index first.

    Raises ValueError when the spec has a structure or encoder the pages cannot describe.
    """
    found = structures()
    by_key = {st.key: st for st in found}
    samples = examples()
    check_coverage(samples)
    sections: dict[str, list[Structure]] = {}
    for st in found:
        sections.setdefault(st.section, []).append(st)
    pages: dict[str, tuple[str, str]] = {}
    for section, members in sections.items():
        pages[f"{PROTOCOL_DIR}/{_slug(section)}.md"] = (_title(section), _section_page(section, members, samples, by_key))
    pages[f"{PROTOCOL_DIR}/constants.md"] = ("Constants and codes", _constants_page())
    index = _index_page(found, {path: title for path, (title, _) in pages.items()})
    return {f"{PROTOCOL_DIR}/index.md": ("Overview", index), **pages}
