"""Frames/s of the generated codec against construct on the same frames.

Run with ``make bench``. Prints one row per operation and the speed-up ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from elbus_spec import _codec as codec
from elbus_spec import schema

PAYLOAD = b"x" * 100
N = 20_000


def rate(fn: Callable[[], object], n: int = N) -> float:
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    frame = codec.encode_message_frame(7, 1, "group.client", PAYLOAD)
    delivery = codec.encode_publication_delivery(0, "group.sender", "a/b/c", PAYLOAD)
    body = frame[codec.CLIENT_HEADER_SIZE :]
    build_obj = {"op_id": 7, "flags": {"qos": 1, "op": 0x12}, "body": {"target": "group.client", "payload": PAYLOAD}}
    pub_body = delivery[codec.SERVER_HEADER_SIZE :]
    rows = [
        (
            "encode client MESSAGE frame",
            lambda: codec.encode_message_frame(7, 1, "group.client", PAYLOAD),
            lambda: schema.CLIENT_FRAME.build(build_obj),
        ),
        (
            "decode client MESSAGE frame",
            lambda: (codec.decode_client_header(frame), codec.decode_addressed_body(frame, 9)),
            lambda: schema.CLIENT_FRAME.parse(frame),
        ),
        (
            "decode addressed body",
            lambda: codec.decode_addressed_body(body),
            lambda: schema.ADDRESSED_BODY.parse(body),
        ),
        (
            "decode publication body",
            lambda: codec.decode_publication_body(pub_body),
            lambda: schema.PUBLICATION_BODY.parse(pub_body),
        ),
    ]
    print(f"{'operation (100-byte payload)':<32} {'codec frames/s':>15} {'construct frames/s':>19} {'ratio':>8}")
    for name, ours, theirs in rows:
        a, b = rate(ours), rate(theirs, N // 10)
        print(f"{name:<32} {a:>15,.0f} {b:>19,.0f} {a / b:>7.1f}x")


if __name__ == "__main__":
    main()
