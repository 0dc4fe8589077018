"""The sans-IO RPC core: call ids, reply matching, parameter and result encoding, error mapping."""

from __future__ import annotations

import concurrent.futures

import msgpack
import pytest

import elbus_rpc
from elbus_rpc import CallEvent, NotificationEvent, RpcError, RpcTimeout, raw
from elbus_rpc._core import (
    MAX_CALL_ID,
    RpcCore,
    decode_params,
    decode_result,
    encode_params,
    error_payload,
    settle,
    timeout_error,
    transport_error,
)
from elbus_rpc._handlers import Methods
from elbus_spec import (
    BrokerTimeout,
    ElbusError,
    NotRegistered,
    QoS,
    RemoteProtocolError,
    RpcErrorReply,
    RpcNotification,
    RpcReply,
    RpcRequest,
    encode_error,
    encode_reply,
    parse_rpc,
)


def test_call_ids_count_from_one_and_wrap_skipping_pending() -> None:
    core: RpcCore[str] = RpcCore()
    first, payload = core.start_call("test", b"", "w1")
    assert first == 1 and payload == bytes.fromhex("01010000007465737400")
    assert core.start_call("m", b"", "w2")[0] == 2
    core._last_id = MAX_CALL_ID - 1
    assert core.start_call("m", b"", "w3")[0] == MAX_CALL_ID
    assert core.start_call("m", b"", "w4")[0] == 3  # wrapped past 0, 1 and 2 (1 and 2 still pending)
    assert core.pending == 4
    assert core.forget(1) == "w1" and core.forget(1) is None
    assert sorted(core.forget_all()) == ["w2", "w3", "w4"] and core.pending == 0


def test_replies_find_their_waiter_once() -> None:
    core: RpcCore[str] = RpcCore()
    call_id, _ = core.start_call("m", b"", "waiter")
    event, waiter = core.receive(encode_reply(call_id, b"\xc3"))
    assert event == RpcReply(call_id, b"\xc3") and waiter == "waiter"
    assert core.receive(encode_reply(call_id, b"")) == (RpcReply(call_id, b""), None)  # late duplicate
    call_id, _ = core.start_call("m", b"", "other")
    event, waiter = core.receive(encode_error(call_id, -32601, b""))
    assert event == RpcErrorReply(call_id, -32601, b"") and waiter == "other"
    assert core.receive(b"\x00data") == (RpcNotification(b"data"), None)
    assert core.receive(RpcCore.request0("m", b"p")) == (RpcRequest(0, "m", b"p"), None)
    with pytest.raises(RemoteProtocolError):
        core.receive(b"\x42not rpc")
    with pytest.raises(RemoteProtocolError):
        core.receive(b"")


def test_params_and_results() -> None:
    assert encode_params(None) == b""
    assert encode_params(b"\x01raw") == b"\x01raw"
    assert encode_params({"x": 1}) == msgpack.packb({"x": 1})
    assert encode_params([1, "a"]) == msgpack.packb([1, "a"])
    assert decode_params(b"") is None and decode_params(b"\x81\xa1x\x01") == {"x": 1}
    assert decode_result(b"") is None and decode_result(b"\x81\xa2ok\xc3") == {"ok": True}
    assert decode_result(b"\xc1", raw=True) == b"\xc1"
    with pytest.raises(RpcError) as exc:
        decode_params(b"\xc1")  # never used in MessagePack
    assert exc.value.code == -32700
    with pytest.raises(TypeError):
        encode_params(object())


def test_error_payloads_and_transport_codes() -> None:
    assert parse_rpc(error_payload(5, RpcError(-32602, "bad"))) == RpcErrorReply(5, -32602, b"bad")
    assert parse_rpc(error_payload(5, ValueError("boom"))) == RpcErrorReply(5, -32603, b"boom")
    assert parse_rpc(error_payload(5, RpcError(99999, "out of i16"))).code == -32603  # type: ignore[attr-defined]
    assert transport_error(NotRegistered()).code == -32113
    assert transport_error(ElbusError("lost")).code == -32115
    assert not isinstance(transport_error(NotRegistered()), TimeoutError)


def test_timeouts_are_timeout_errors() -> None:
    """A call without a reply in time, or the broker's own timeout, is both an RpcError and a TimeoutError."""
    for error in (timeout_error("t", "m"), transport_error(BrokerTimeout())):
        assert isinstance(error, RpcTimeout) and isinstance(error, RpcError) and isinstance(error, TimeoutError)
        assert error.code == -32120
    assert str(timeout_error("t", "m")) == "no reply from 't' to 'm' in time (code: -32120)"


def test_error_message_is_text_and_data_the_bytes() -> None:
    """A remote error's message is decoded (bad UTF-8 replaced); ``data`` keeps the bytes, forwarded unchanged."""
    waiter: concurrent.futures.Future[bytes] = concurrent.futures.Future()
    settle(waiter, RpcErrorReply(3, -32010, "naïve".encode() + b"\xff"))
    remote = waiter.exception()
    assert isinstance(remote, RpcError) and remote.code == -32010
    assert remote.message == "naïve\ufffd" and remote.data == b"na\xc3\xafve\xff"
    assert parse_rpc(error_payload(4, remote)) == RpcErrorReply(4, -32010, b"na\xc3\xafve\xff")
    local = RpcError(-32602, "bad")
    assert (local.message, local.data) == ("bad", b"bad")
    assert (RpcError(-32601).message, RpcError(-32601, b"").data) == ("", b"")


def test_notification_data_decodes_as_notify_encodes() -> None:
    """`data` is the MessagePack that ``notify`` wrote (None for nothing); bytes sent raw stay in ``payload``."""
    assert NotificationEvent("a", encode_params({"k": [1, 2]}), False).data == {"k": [1, 2]}  # type: ignore[arg-type]
    assert NotificationEvent("a", b"", False).data is None
    raw_note = NotificationEvent("a", b"cache flushed", False)
    assert raw_note.payload == b"cache flushed"
    with pytest.raises(RpcError) as exc:
        raw_note.data  # noqa: B018
    assert exc.value.code == -32700 and "not MessagePack" in exc.value.message


def test_public_names_are_the_user_facing_api() -> None:
    assert "RpcCore" not in elbus_rpc.__all__ and "encode_params" not in elbus_rpc.__all__
    for name in elbus_rpc.__all__:
        assert hasattr(elbus_rpc, name), name


def test_method_lookup_decorated_then_handler_object() -> None:
    class Handler:
        def client_list(self, params, event):  # type: ignore[no-untyped-def]
            return params

        @raw
        def echo(self, params, event):  # type: ignore[no-untyped-def]
            return params

        def _private(self, params, event):  # type: ignore[no-untyped-def]
            return None

    methods = Methods()
    methods.register("direct", lambda p, e: p, False)
    methods.handler = Handler()
    assert methods.find("direct") is not None
    assert methods.find("client.list") is not None
    assert methods.find("echo")[1] is True  # type: ignore[index]
    assert methods.find("_private") is None and methods.find("missing") is None
    event = CallEvent("a%%1", "missing", b"", 7, True)
    assert event.primary_sender == "a" and event.reply_qos == QoS.REALTIME
    assert parse_rpc(methods.prepare(event)).code == -32601  # type: ignore[arg-type, attr-defined]
    bad = CallEvent("a", "direct", b"\xc1", 7, False)
    assert parse_rpc(methods.prepare(bad)).code == -32700  # type: ignore[arg-type, attr-defined]
    assert parse_rpc(Methods.result_payload(event, {"a": 1}, False)) == RpcReply(7, msgpack.packb({"a": 1}))
    assert parse_rpc(Methods.result_payload(event, None, False)) == RpcReply(7, b"")
    assert parse_rpc(Methods.result_payload(event, {"a": 1}, True)).code == -32603  # type: ignore[attr-defined]
