"""Decoders given truncated, oversized or malformed input raise RemoteProtocolError, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elbus_spec import _codec as codec
from elbus_spec import schema
from elbus_spec.errors import LocalProtocolError, RemoteProtocolError

DECODERS = {name: getattr(codec, f"decode_{name}") for name in schema.STRUCTS}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_random_bytes_decode_or_raise_protocol_error(name: str) -> None:
    decode = DECODERS[name]

    @given(st.binary(max_size=64), st.integers(0, 8))
    def check(data: bytes, start: int) -> None:
        for buf in (data, bytearray(data)):
            try:
                result = decode(buf, min(start, len(buf)))
            except RemoteProtocolError as exc:
                assert exc.reason
            else:
                assert isinstance(result, tuple)

    check()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("greeting", b"\xea\x01\x00", "magic"),
        ("greeting", b"\xeb\x01", "truncated"),
        ("registration", b"\x05\x00abc", "truncated"),
        ("registration", b"\x03\x00\xff\xfeA", "UTF-8"),
        ("registration", b"\x01", "length"),
        ("addressed_body", b"nonul", "NUL"),
        ("addressed_body", b"\xff\xfe\x00x", "UTF-8"),
        ("topics_body", b"a\x00\xff", "UTF-8"),
        ("publication_body", b"sender\x00topic-without-nul", "NUL"),
        ("ack", b"\xfd\x01\x00\x00\x00\x01", "kind"),
        ("nop", b"\x00\x00\x00\x00\x00\x01", "nop"),
        ("rpc_request", b"\x01\x01\x00\x00\x00test", "NUL"),
        ("rpc_error", b"\x12\x01\x00\x00\x00\x80", "truncated"),
    ],
)
def test_reasons(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        DECODERS[name](data)


@pytest.mark.parametrize(
    "call",
    [
        lambda: codec.encode_message_frame(1, 4, "t", b""),
        lambda: codec.encode_message_frame(1, -1, "t", b""),
        lambda: codec.encode_message_frame(1 << 32, 0, "t", b""),
        lambda: codec.encode_message_frame(1, 0, "a\x00b", b""),
        lambda: codec.encode_message_frame(1, 0, "\ud800", b""),
        lambda: codec.encode_subscribe_frame(1, 0, []),
        lambda: codec.encode_subscribe_frame(1, 0, ["a", "b\x00c"]),
        lambda: codec.encode_registration("x" * 70000),
        lambda: codec.encode_client_header(1, 0, 64, 0),
        lambda: codec.encode_rpc_error(1, 40000, b""),
    ],
)
def test_encoders_reject_what_does_not_fit(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LocalProtocolError):
        call()
