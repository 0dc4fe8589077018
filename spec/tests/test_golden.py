"""Bytes recorded from the original broker decode to the values the protocol reference names.

These pin the layout itself: a spec mutation that still round-trips (say,
swapping the QoS and op bits) fails here.
"""

from __future__ import annotations

from elbus_spec import _codec as codec
from elbus_spec import schema
from elbus_spec.constants import Op


def test_client_header_bit_layout() -> None:
    # "message QoS 1" from the message-qos trace: FLAGS 0x52 = QoS 1 << 6 | MESSAGE
    frame = bytes.fromhex("0b0000005211000000742e6d2e620068656c6c6f20716f732031")
    assert codec.decode_client_header(frame) == (0x0B, 1, Op.MESSAGE, 0x11)
    parsed = schema.CLIENT_FRAME.parse(frame)
    assert (parsed.flags.qos, parsed.flags.op) == (1, Op.MESSAGE)
    assert codec.encode_message_frame(0x0B, 1, "t.m.b", b"hello qos 1") == frame
    # realtime + processed
    assert codec.decode_client_header(bytes.fromhex("0d000000d211000000"))[1:3] == (3, Op.MESSAGE)
    # subscribe QoS 1 (0x42) and publish QoS 1 (0x41)
    assert codec.encode_subscribe_frame(1, 1, ["tp/#", "tp/x/t/e"]) == bytes.fromhex(
        "01000000420d00000074702f230074702f782f742f65"
    )
    assert codec.encode_publish_frame(0x28, 1, "tp/x/t/e", b"pub0") == bytes.fromhex(
        "28000000410d00000074702f782f742f650070756230"
    )
    assert codec.encode_broadcast_frame(0x1E, 1, "t.b.g1.*", b"bc0") == bytes.fromhex(
        "1e000000530c000000742e622e67312e2a00626330"
    )


def test_deliveries_and_acks() -> None:
    assert codec.encode_message_delivery(1, "t.m.a", b"hello qos 2") == bytes.fromhex(
        "121100000001742e6d2e610068656c6c6f20716f732032"
    )
    assert codec.encode_broadcast_delivery(0, "t.b.sender", b"bc0") == bytes.fromhex(
        "130e00000000742e622e73656e64657200626330"
    )
    assert codec.encode_publication_delivery(0, "t.p.pub", "tp/x/t/e", b"pub0") == bytes.fromhex(
        "011500000000742e702e7075620074702f782f742f650070756230"
    )
    assert codec.encode_ack(0x0B, 1) == bytes.fromhex("fe0b00000001")
    assert codec.encode_nop() == bytes(6)
    assert codec.encode_greeting(1) == bytes.fromhex("eb0100")
    assert codec.encode_registration("t.hs.a") == bytes.fromhex("0600742e68732e61")


def test_rpc_payloads() -> None:
    assert codec.encode_rpc_request(1, "test", b"") == bytes.fromhex("010100000074657374" + "00")
    assert codec.decode_rpc_error(bytes.fromhex("1206000000a780")) == (6, -32601, b"")
    assert codec.encode_rpc_reply(1, bytes.fromhex("81a26f6bc3")) == bytes.fromhex("110100000081a26f6bc3")
    assert codec.encode_rpc_notification(b"note") == b"\x00note"
