"""A plausible mistake in the spec is caught: swapping the QoS and op bits of FLAGS.

The generated codec follows the spec, so round-trip properties alone would
still pass; the golden bytes from the original broker must not.
"""

from __future__ import annotations

import struct
from typing import Any

from construct import BitsInteger, BitStruct, Int32ul, Struct

from elbus_spec import codegen, errors, schema

GOLDEN = bytes.fromhex("0b0000005211000000")  # message, QoS 1, op id 0x0b, length 0x11


def _decoder(spec: Any) -> Any:
    namespace: dict[str, Any] = {"struct": struct, "Any": Any, **vars(errors)}
    exec("\n".join(codegen._render_struct("client_header", codegen.layout(spec))), namespace)
    return namespace["decode_client_header"]


def test_the_real_spec_decodes_the_golden_header() -> None:
    assert _decoder(schema.CLIENT_HEADER)(GOLDEN) == (0x0B, 1, 0x12, 0x11)


def test_swapped_flag_bits_fail_the_golden_header() -> None:
    mutated = Struct(
        "op_id" / Int32ul,
        "flags" / BitStruct("op" / BitsInteger(6), "qos" / BitsInteger(2)),
        "length" / Int32ul,
    )
    _, first, second, _ = _decoder(mutated)(GOLDEN)
    assert dict(op=first, qos=second) != dict(qos=1, op=0x12)
