"""The ``.broker`` core RPC service beyond the recorded trace: parameter checks, replies, and callers that misbehave.

Raw socket clients check the bytes (the original's empty error messages,
replies after the ack, the realtime flag); in-process callers use elbus_rpc
on the broker's own clients.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from elbus_rpc import Rpc
from elbus_spec import (
    NotDelivered,
    NotRegistered,
    QoS,
    RpcError,
    RpcErrorCode,
    RpcErrorReply,
    RpcReply,
    encode_notification,
    encode_request,
    parse_rpc,
)
from elbus_spec.errors import LocalProtocolError

ACK_OK = 0x01
BROKER = b".broker\x00"


async def call(sock: Any, method: str, params: bytes = b"", *, call_id: int = 7, qos: int = QoS.PROCESSED) -> Any:
    """Send one request to ``.broker``; returns the parsed reply (after checking the ack came first)."""
    sock.write(sock.conn.send_message(".broker", encode_request(call_id, method, params), qos)[1])
    if qos & 1:
        ack = await sock.frame()
        assert ack[0] == 0xFE and ack[5] == ACK_OK, ack.hex()
    frame = await sock.frame()
    assert frame[0] == 0x12 and frame[6:].startswith(BROKER), frame.hex()  # a MESSAGE from .broker
    assert frame[5] == (1 if qos & 2 else 0)  # realtime only for a realtime request
    reply = parse_rpc(frame[6 + len(BROKER) :])
    assert reply.call_id == call_id
    return reply


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("test", b"\x01", RpcErrorCode.PARSE),  # a MessagePack integer, not a map
        ("test", b"\x91\x01", RpcErrorCode.PARSE),  # an array
        ("test", b"\xc1", RpcErrorCode.PARSE),  # not MessagePack at all
        ("info", b"\x81\x01\x02", RpcErrorCode.PARSE),  # a map, but not with string keys
        ("stats", b"\x81\xa1x\xc0", RpcErrorCode.INVALID_PARAMS),  # a non-empty map for a method taking none
        ("client.list", b"\x81\xa1x\x01", RpcErrorCode.INVALID_PARAMS),
        ("no.such", b"\x01", RpcErrorCode.PARSE),  # params are checked before the method, as the original
        ("no.such", b"\x81\xa1x\x01", RpcErrorCode.METHOD_NOT_FOUND),
        ("other", b"", RpcErrorCode.METHOD_NOT_FOUND),
    ],
)
async def test_errors_have_the_original_codes_and_empty_messages(
    running: Any, connect: Any, method: str, params: bytes, code: int
) -> None:
    sock = await connect(running.path, "rpc.errors")
    reply = await call(sock, method, params)
    assert isinstance(reply, RpcErrorReply) and (reply.code, reply.message) == (code, b"")


async def test_results_and_their_shapes(running: Any, connect: Any) -> None:
    sock = await connect(running.path, "rpc.results")
    await running.broker.register("rpc.results%%2")  # a secondary: counted in instances, not listed
    assert (await call(sock, "test", b"\x80")).result == b"\x81\xa2ok\xc3"  # an empty map is no parameter
    assert (await call(sock, "test", b"\x80\x01")).result == b"\x81\xa2ok\xc3"  # bytes after the map are ignored
    info = msgpack.unpackb((await call(sock, "info")).result)
    assert list(info) == ["author", "version"] and all(isinstance(v, str) for v in info.values())
    stats = msgpack.unpackb((await call(sock, "stats")).result)
    assert list(stats) == ["uptime", "r_frames", "r_bytes", "w_frames", "w_bytes"] and stats["r_frames"] >= 4
    listed = msgpack.unpackb((await call(sock, "client.list")).result)["clients"]
    assert [c["name"] for c in listed] == [".broker", "rpc.results"]
    assert [c["kind"] for c in listed] == ["internal", "local_ipc"] and listed[1]["instances"] == 2
    keys = ["name", "kind", "source", "port", "r_frames", "r_bytes", "w_frames", "w_bytes", "queue", "instances"]
    assert list(listed[0]) == keys
    payload = bytes(range(256)) * 64
    assert (await call(sock, "benchmark.test", payload)).result == payload  # echoed, never parsed
    assert (await call(sock, "benchmark.test")).result == b""


async def test_realtime_unacknowledged_call0_and_notifications(running: Any, connect: Any) -> None:
    sock = await connect(running.path, "rpc.qos")
    reply = await call(sock, "test", qos=QoS.REALTIME_PROCESSED, call_id=1)
    assert isinstance(reply, RpcReply)
    reply = await call(sock, "test", qos=QoS.REALTIME, call_id=2)  # no ack asked: the reply alone, realtime
    assert isinstance(reply, RpcReply)
    for payload in (encode_request(0, "test", b""), encode_notification(b"note"), b"\x42 not rpc", b""):
        sock.write(sock.conn.send_message(".broker", payload, QoS.PROCESSED)[1])
        assert (await sock.frame())[5] == ACK_OK
        await sock.nothing(0.1)  # call id 0, a notification, or no RPC at all: only the ack
    assert isinstance(await call(sock, "test", call_id=3), RpcReply)  # still serving


async def test_a_burst_of_calls_is_answered_in_order(running: Any, connect: Any) -> None:
    sock = await connect(running.path, "rpc.burst")
    n = 200
    sock.write(b"".join(sock.conn.send_message(".broker", encode_request(i, "benchmark.test", b"%d" % i), QoS.NO)[1]
                        for i in range(1, n + 1)))
    replies = [parse_rpc((await sock.frame())[6 + len(BROKER) :]) for _ in range(n)]
    assert [(r.call_id, r.result) for r in replies] == [(i, b"%d" % i) for i in range(1, n + 1)]


async def test_in_process_caller_through_elbus_rpc(running: Any) -> None:
    client = await running.broker.register("rpc.local")
    rpc = Rpc(client, timeout=2)
    assert await rpc.call(".broker", "test") == {"ok": True}
    listed = await rpc.call(".broker", "client.list")
    assert [c["name"] for c in listed["clients"]] == [".broker", "rpc.local"]
    assert await rpc.call(".broker", "benchmark.test", b"\x00raw", raw=True) == b"\x00raw"
    with pytest.raises(RpcError) as failed:
        await rpc.call(".broker", "no.such.method")
    assert (failed.value.code, failed.value.message) == (RpcErrorCode.METHOD_NOT_FOUND, "")
    with pytest.raises(RpcError) as failed:
        await rpc.call(".broker", "info", {"x": 1})
    assert (failed.value.code, failed.value.message) == (RpcErrorCode.INVALID_PARAMS, "")


async def test_a_caller_gone_before_its_reply_breaks_nothing(running: Any, connect: Any) -> None:
    gone = await running.broker.register("rpc.gone")
    await gone.send(".broker", encode_request(1, "client.list", b""))
    await gone.close()  # the reply, one loop turn later, finds nobody
    sock = await connect(running.path, "rpc.after")
    sock.write(sock.conn.send_message("rpc.gone", b"x", QoS.PROCESSED)[1])
    assert (await sock.frame())[5] == 0x71
    assert isinstance(await call(sock, "test"), RpcReply)


async def test_send_nowait_routes_at_once(make_broker: Any) -> None:
    broker = (await make_broker(queue_size=4)).broker
    rx = await broker.register("nowait.rx")
    tx = await broker.register("nowait.tx")
    done = tx.send_nowait("nowait.rx", b"one")
    assert done.done() and done.result() is None and rx.queued == 1  # routed before it returned
    with pytest.raises(NotRegistered):
        tx.send_nowait("nowait.nobody", b"x")
    assert tx.send_nowait("nowait.nobody", b"x", qos=QoS.NO).done()  # unacknowledged: no error
    for _ in range(broker.queue_size - 1):
        tx.send_nowait("nowait.rx", b"fill", qos=QoS.NO)
    with pytest.raises(NotDelivered):
        tx.send_nowait("nowait.rx", b"over")
    assert (await rx.receive()).payload == b"one"
    await tx.close()
    with pytest.raises(LocalProtocolError):
        tx.send_nowait("nowait.rx", b"x")


@pytest.mark.parametrize("method", ["", "_x", ".x"])
async def test_unknown_methods_whose_names_cannot_be_attributes(running: Any, connect: Any, method: str) -> None:
    sock = await connect(running.path, "rpc.odd")
    reply = await call(sock, method)
    assert isinstance(reply, RpcErrorReply) and (reply.code, reply.message) == (RpcErrorCode.METHOD_NOT_FOUND, b"")
