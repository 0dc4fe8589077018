"""Frames/s of the generated codec against the construct spec on the same frames.

The approach of the spec package's own codec benchmark: each operation is run
in a loop, best of three; construct (the declarative spec, an optional extra)
gets a tenth of the iterations because it is that much slower.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from elbus_spec import codec

__all__ = ["CodecRow", "measure"]


@dataclass(frozen=True, slots=True)
class CodecRow:
    operation: str
    codec_rate: float
    construct_rate: float | None  # None when construct is not installed

    @property
    def ratio(self) -> float | None:
        return self.codec_rate / self.construct_rate if self.construct_rate else None


def _rate(fn: Callable[[], object], n: int) -> float:
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def _construct_operations(payload: bytes, frame: bytes, pub_body: bytes) -> list[Callable[[], object]] | None:
    """The same three operations with the construct spec, or None without construct (the spec's "spec" extra)."""
    try:
        from elbus_spec import schema
    except ImportError:
        return None
    built = {"op_id": 7, "flags": {"qos": 1, "op": 0x12}, "body": {"target": "group.client", "payload": payload}}
    return [
        lambda: schema.CLIENT_FRAME.build(built),
        lambda: schema.CLIENT_FRAME.parse(frame),
        lambda: schema.PUBLICATION_BODY.parse(pub_body),
    ]


def measure(payload_size: int = 100, n: int = 20_000) -> list[CodecRow]:
    """One row per operation: encode and decode of a client MESSAGE frame, decode of a publication delivery."""
    payload = b"x" * payload_size
    frame = codec.encode_message_frame(7, 1, "group.client", payload)
    delivery = codec.encode_publication_delivery(0, "group.sender", "a/b/c", payload)
    pub_body = delivery[codec.SERVER_HEADER_SIZE :]
    ours: list[tuple[str, Callable[[], object]]] = [
        ("encode client MESSAGE frame", lambda: codec.encode_message_frame(7, 1, "group.client", payload)),
        ("decode client MESSAGE frame", lambda: (codec.decode_client_header(frame), codec.decode_addressed_body(frame, 9))),
        ("decode publication body", lambda: codec.decode_publication_body(pub_body)),
    ]
    theirs = _construct_operations(payload, frame, pub_body)
    return [
        CodecRow(name, _rate(fn, n), _rate(theirs[i], max(1, n // 10)) if theirs else None)
        for i, (name, fn) in enumerate(ours)
    ]
