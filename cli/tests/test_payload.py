"""The command line's payload guessing and FIFO-style RPC parameter typing (no broker needed)."""

from __future__ import annotations

import json
import math

import msgpack
import pytest

from elbus_cli.output import format_decoded, to_json
from elbus_cli.payload import (
    MAX_DEPTH,
    ParamsError,
    decode_payload,
    jsonable,
    params_from_document,
    params_from_pairs,
    typed_value,
)


@pytest.mark.parametrize(
    ("payload", "fmt", "value"),
    [
        (b'{"a": [1, 2.5, null]}', "json", {"a": [1, 2.5, None]}),
        (b"42", "json", 42),
        (b"hello world", "text", "hello world"),
        (b"line 1\nline 2\ttab\r\n", "text", "line 1\nline 2\ttab\r\n"),
        ("grüße".encode(), "text", "grüße"),
        (b"", "text", ""),
        (b"   ", "text", "   "),
        (b"\x81\xa2ok\xc3", "msgpack", {"ok": True}),  # the broker's `test` result
        (msgpack.packb({"n": 1, "b": b"\x00\xff"}), "msgpack", {"n": 1, "b": b"\x00\xff"}),
        (msgpack.packb({1: "int key"}), "msgpack", {1: "int key"}),
        (b"\x05", "msgpack", 5),  # a control character: not text, but one MessagePack integer
        (b"\x81\xa2ok", "hex", "81a26f6b"),  # truncated MessagePack
        (b"\x01\x02\x03\x04", "hex", "01020304"),  # MessagePack with trailing data
        (b"\xc1", "hex", "c1"),  # the one byte MessagePack never uses
        (b"\xff\xfe\xfd", "hex", "fffefd"),
    ],
)
def test_decode_payload_guesses_the_format(payload: bytes, fmt: str, value: object) -> None:
    decoded = decode_payload(payload)
    assert (decoded.format, decoded.value) == (fmt, value)


@pytest.mark.parametrize(
    ("payload", "fmt", "value"),
    [
        (b"1", "msgpack", 49),  # the integer 49 in MessagePack, not the JSON text 1
        (b"\xa3abc", "msgpack", "abc"),
        (b'{"a": 1}', "json", {"a": 1}),  # longer text is never one whole MessagePack document
        (b"hello", "text", "hello"),
        (b"", "text", ""),
        (b"\xc1\x00", "hex", "c100"),
    ],
)
def test_decode_payload_msgpack_first_for_rpc(payload: bytes, fmt: str, value: object) -> None:
    decoded = decode_payload(payload, msgpack_first=True)
    assert (decoded.format, decoded.value) == (fmt, value)


def test_decode_payload_never_raises_on_any_short_binary() -> None:
    for first in range(256):
        for second in (0x00, 0x41, 0x80, 0xC3, 0xFF):
            decoded = decode_payload(bytes([first, second]))
            assert decoded.format in {"json", "msgpack", "text", "hex"}
            json.dumps(jsonable(decoded.value))  # whatever was decoded can be printed as JSON


@pytest.mark.parametrize(
    ("payload", "fmt"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "text"),  # beyond what json can parse
        (b"[" * 300 + b"]" * 300, "text"),  # parses, but too deep to print
        (b"\x91" * 300 + b"\xc0", "hex"),
        (b"\x91" * 5000 + b"\xc0", "hex"),  # beyond msgpack's own limit
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, "json"),
        (b"\x91" * (MAX_DEPTH - 1) + b"\xc0", "msgpack"),
    ],
)
def test_decode_payload_of_deep_documents_stays_printable(payload: bytes, fmt: str) -> None:
    decoded = decode_payload(payload)
    assert decoded.format == fmt
    assert format_decoded(decoded) and to_json(decoded.value)


def test_params_document_nested_too_deeply_raises() -> None:
    with pytest.raises(ParamsError, match="nested too deeply"):
        params_from_document(b"[" * 100_000 + b"]" * 100_000)


def test_jsonable_makes_msgpack_values_printable() -> None:
    value = {"b": b"\x01\x02", 3: [msgpack.ExtType(5, b"\xaa")], "f": math.inf, "t": (1, 2)}
    assert jsonable(value) == {"b": "0102", "3": [{"ext": 5, "data": "aa"}], "f": "inf", "t": [1, 2]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("True", "True"),  # only the lower-case words, as in the original FIFO
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("007", 7),
        ("9223372036854775807", 9223372036854775807),
        ("9223372036854775808", 9.223372036854775808e18),  # beyond i64: a float, as the original
        ("2.5", 2.5),
        ("-1e3", -1000.0),
        ("1_000", "1_000"),  # Python would read 1000; the original reads a string
        (" 5", " 5"),
        ("", ""),
        ("abc", "abc"),
        ("a=b", "a=b"),
    ],
)
def test_typed_value_follows_the_fifo_rules(text: str, value: object) -> None:
    result = typed_value(text)
    assert result == value
    assert type(result) is type(value)


def test_params_from_pairs_is_a_msgpack_map() -> None:
    params = params_from_pairs(["name=x", "n=3", "ratio=0.5", "on=true", "expr=a=b", "empty="])
    assert msgpack.unpackb(params) == {"name": "x", "n": 3, "ratio": 0.5, "on": True, "expr": "a=b", "empty": ""}


def test_params_from_no_pairs_are_empty() -> None:
    assert params_from_pairs([]) == b""


@pytest.mark.parametrize("pair", ["novalue", "=value"])
def test_params_from_bad_pairs_raise(pair: str) -> None:
    with pytest.raises(ParamsError, match=repr(pair)):
        params_from_pairs(["ok=1", pair])


def test_params_from_pairs_that_are_not_utf8_raise() -> None:
    # How Python hands over an argument holding the byte 0xff.
    with pytest.raises(ParamsError, match="UTF-8"):
        params_from_pairs(["k=\udcff"])


def test_params_document_json_is_reencoded_as_msgpack() -> None:
    assert msgpack.unpackb(params_from_document(b'{"a": 1, "l": [true, "x"]}\n')) == {"a": 1, "l": [True, "x"]}
    # "5" is also a valid MessagePack document (the integer 53): JSON wins.
    assert msgpack.unpackb(params_from_document(b"5")) == 5


def test_params_document_msgpack_passes_through_unchanged() -> None:
    document = msgpack.packb({"key": b"\x00binary", "n": -1})
    assert params_from_document(document) == document


def test_params_document_blank_is_empty() -> None:
    assert params_from_document(b"") == b""
    assert params_from_document(b" \n") == b""


@pytest.mark.parametrize("document", [b"{not json", b"\x81\xa2ok", b"\xc1"])
def test_params_document_garbage_raises(document: bytes) -> None:
    with pytest.raises(ParamsError, match="neither JSON nor MessagePack"):
        params_from_document(document)


def test_params_document_integer_too_large_for_msgpack_raises() -> None:
    with pytest.raises(ParamsError, match="integer"):
        params_from_document(b'{"n": 100000000000000000000000}')
