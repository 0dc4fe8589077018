"""The generated codec agrees with the construct spec, for every structure and frame.

Strategies are derived from the generator's own view of each structure, so a
new field in the spec is covered without touching this file; the oracle is
construct building and parsing the spec objects themselves.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from construct import Container, ListContainer
from hypothesis import given
from hypothesis import strategies as st

from elbus_spec import _codec as codec
from elbus_spec import schema
from elbus_spec.codegen import Field, layout

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
PAYLOAD = st.binary(max_size=200)


def _int_strategy(fmt: str) -> st.SearchStrategy[int]:
    size = struct.calcsize("<" + fmt)
    if fmt.islower():
        return st.integers(-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1)
    return st.integers(0, (1 << (8 * size)) - 1)


def _field_values(f: Field) -> st.SearchStrategy[dict[str, Any]]:
    if f.kind == "int":
        return _int_strategy(f.fmt).map(lambda v: {f.name: v})
    if f.kind == "bits":
        return st.fixed_dictionaries({b: st.integers(0, (1 << w) - 1) for b, w, _ in f.bits})
    if f.kind in ("cstring", "pascal"):
        return TEXT.map(lambda v: {f.name: v})
    if f.kind == "nuljoined":
        return st.lists(TEXT, min_size=1, max_size=5).map(lambda v: {f.name: v})
    if f.kind == "greedy":
        return PAYLOAD.map(lambda v: {f.name: v})
    return st.just({})  # const


def values_for(fields: list[Field]) -> st.SearchStrategy[dict[str, Any]]:
    def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in parts:
            out.update(p)
        return out

    return st.tuples(*(_field_values(f) for f in fields)).map(lambda parts: merge(list(parts)))


def construct_input(fields: list[Field], values: dict[str, Any]) -> dict[str, Any]:
    """The nested dict construct builds from (bit fields live in their own sub-dict)."""
    obj: dict[str, Any] = {}
    for f in fields:
        if f.kind == "bits":
            obj[f.name] = {b: values[b] for b, _, _ in f.bits}
        elif f.kind != "const":
            obj[f.name] = values[f.name]
    return obj


def flatten(container: Container) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in container.items():
        if key.startswith("_"):
            continue
        if isinstance(value, Container):
            out.update(flatten(value))
        elif isinstance(value, ListContainer):
            out[key] = list(value)
        else:
            out[key] = value
    return out


STRUCT_NAMES = sorted(schema.STRUCTS)


@pytest.mark.parametrize("name", STRUCT_NAMES)
def test_struct_matches_construct(name: str) -> None:
    spec = schema.STRUCTS[name]
    fields = layout(spec)
    encode = getattr(codec, f"encode_{name}")
    decode = getattr(codec, f"decode_{name}")
    field_names = getattr(codec, f"{name.upper()}_FIELDS")

    @given(values_for(fields))
    def check(values: dict[str, Any]) -> None:
        args = [values[n] for n in field_names]
        data = encode(*args)
        assert data == spec.build(construct_input(fields, values))
        decoded = decode(data)
        parsed = flatten(spec.parse(data))
        assert dict(zip(field_names, decoded, strict=True)) == {n: parsed[n] for n in field_names}
        assert list(decoded) == args
        # the same bytes inside a larger buffer decode identically through the window
        framed = bytearray(b"\xaa" * 3 + data + b"\xbb" * 2)
        if fields[-1].kind not in ("greedy", "nuljoined"):
            assert decode(framed, 3) == decoded
        assert decode(framed, 3, 3 + len(data)) == decoded

    check()


@pytest.mark.parametrize("name", sorted(schema.CLIENT_FRAMES))
def test_client_frame_matches_construct(name: str) -> None:
    op, body = schema.CLIENT_FRAMES[name]
    body_fields = layout(body)
    encode = getattr(codec, f"encode_{name}_frame")

    @given(st.integers(0, 0xFFFF_FFFF), st.integers(0, 3), values_for(body_fields))
    def check(op_id: int, qos: int, values: dict[str, Any]) -> None:
        body_names = [n for f in body_fields for n in f.decoded]
        data = encode(op_id, qos, *[values[n] for n in body_names])
        expected = schema.CLIENT_FRAME.build(
            {"op_id": op_id, "flags": {"qos": qos, "op": int(op)}, "body": construct_input(body_fields, values)}
        )
        assert data == expected
        parsed = schema.CLIENT_FRAME.parse(data)
        assert (parsed.op_id, parsed.flags.qos, parsed.flags.op) == (op_id, qos, op)
        assert codec.decode_client_header(data) == (op_id, qos, int(op), len(data) - codec.CLIENT_HEADER_SIZE)

    check()


@pytest.mark.parametrize("name", sorted(schema.SERVER_FRAMES))
def test_server_frame_matches_construct(name: str) -> None:
    kind, body = schema.SERVER_FRAMES[name]
    body_fields = layout(body)
    encode = getattr(codec, f"encode_{name}_delivery")

    @given(st.integers(0, 1), values_for(body_fields))
    def check(realtime: int, values: dict[str, Any]) -> None:
        body_names = [n for f in body_fields for n in f.decoded]
        data = encode(realtime, *[values[n] for n in body_names])
        body_bytes = body.build(construct_input(body_fields, values))
        expected = schema.SERVER_FRAME.build({"kind": int(kind), "body": {"realtime": realtime, "data": body_bytes}})
        assert data == expected
        parsed = schema.SERVER_FRAME.parse(data)
        assert parsed.kind == kind and parsed.body.realtime == realtime
        assert flatten(body.parse(parsed.body.data)) == {
            n: v for n, v in values.items() if n in body_names
        }

    check()


def test_ack_and_nop_match_construct() -> None:
    assert codec.encode_ack(0x0B, 1) == schema.SERVER_FRAME.build({"kind": 0xFE, "body": {"op_id": 0x0B, "code": 1}})
    assert codec.encode_nop() == schema.SERVER_FRAME.build({"kind": 0, "body": None})
