"""FrameCounter counts broker frames by their length fields, whole or split anywhere."""

from __future__ import annotations

import pytest
from elbus_bench.wire import FrameCounter

from elbus_spec import codec

PAYLOAD = b"p" * 100
DELIVERY = codec.encode_message_delivery(0, "bench.sender", PAYLOAD)
REPLY = codec.encode_message_delivery(0, "h", codec.encode_rpc_reply(1, PAYLOAD))
RPC_ERROR = codec.encode_message_delivery(0, "h", codec.encode_rpc_error(1, -32601, b"no"))
PUBLICATION = codec.encode_publication_delivery(0, "pub", "a/b", PAYLOAD)
ACK_OK, ACK_BAD = codec.encode_ack(7, 1), codec.encode_ack(8, 0x71)


def feed(counter: FrameCounter, stream: bytes, step: int | None) -> FrameCounter:
    if step is None:
        counter.feed(stream)
    else:
        for i in range(0, len(stream), step):
            counter.feed(stream[i : i + step])
    return counter


@pytest.mark.parametrize("step", [None, 1, 7, 106, 4096])
def test_runs_and_mixed_streams_count_exactly(step: int | None) -> None:
    stream = DELIVERY * 50 + ACK_OK * 30 + PUBLICATION * 20 + codec.encode_nop() + ACK_BAD + DELIVERY
    c = feed(FrameCounter(), stream, step)
    assert (c.messages, c.acks, c.ack_errors, c.publications, c.others) == (51, 31, 1, 20, 0)


@pytest.mark.parametrize("step", [None, 1, 50])
def test_rpc_replies_are_told_from_rpc_errors(step: int | None) -> None:
    c = feed(FrameCounter(reply_offset=6 + len("h") + 1), REPLY * 40 + ACK_OK * 40 + RPC_ERROR + REPLY * 3, step)
    assert (c.messages, c.rpc_errors, c.acks) == (44, 1, 40)


def test_a_run_of_equal_sized_frames_with_a_different_header_is_not_miscounted() -> None:
    other = codec.encode_message_delivery(0, "bench.sendeR", PAYLOAD)  # same size, different bytes only in the body
    broadcast = codec.encode_broadcast_delivery(0, "bench.sender", PAYLOAD)  # same size, different kind
    c = feed(FrameCounter(), DELIVERY * 10 + other * 10 + broadcast * 2 + DELIVERY * 5, None)
    assert (c.messages, c.others) == (25, 2)


def test_a_partial_frame_waits_for_its_rest() -> None:
    c = FrameCounter()
    c.feed(DELIVERY * 3 + DELIVERY[:50])
    assert c.messages == 3
    c.feed(DELIVERY[50:])
    assert c.messages == 4
