"""The broker's own ``.broker`` client: a small RPC service over MessagePack.

Methods ``test``, ``info``, ``stats``, ``client.list`` and ``benchmark.test``,
with the result shapes and error codes of the original broker. It replies
on the event-loop turn after the request was routed, so a caller sees the
ack of its request before the reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack

from elbus_spec import (
    Frame,
    Message,
    QoS,
    RemoteProtocolError,
    RpcErrorCode,
    RpcRequest,
    encode_error,
    encode_reply,
    parse_rpc,
)

from ._version import __version__

if TYPE_CHECKING:
    from ._broker import Broker
    from ._embedded import EmbeddedClient

__all__ = ["AUTHOR", "CoreRpc"]

AUTHOR = "elbus for Python contributors"

# msgpack of {"ok": true}, byte for byte as the original answers `test`.
_RPC_OK = b"\x81\xa2ok\xc3"


class _RpcFailure(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class CoreRpc:
    """Serves RPC requests addressed to ``.broker``; other frames it receives are ignored."""

    __slots__ = ("_broker", "client")

    def __init__(self, broker: Broker, client: EmbeddedClient) -> None:
        self._broker = broker
        self.client = client
        client.on_frame = self._on_frame

    def _on_frame(self, frame: Frame) -> None:
        if not isinstance(frame, Message):
            return
        try:
            request = parse_rpc(frame.payload)
        except RemoteProtocolError:
            return
        if not isinstance(request, RpcRequest):
            return  # notifications and stray replies need no answer
        try:
            result = self._call(request.method, request.params)
            reply = encode_reply(request.call_id, result)
        except _RpcFailure as exc:
            reply = encode_error(request.call_id, exc.code, b"")
        if request.call_id == 0:
            return
        qos = QoS.REALTIME_PROCESSED if frame.realtime else QoS.PROCESSED
        self._broker._route_message(self.client, frame.sender, reply, qos, len(reply))

    def _call(self, method: str, params: bytes) -> bytes:
        if method == "benchmark.test":
            return params
        if params:
            try:
                decoded = msgpack.unpackb(params)
            except Exception:  # msgpack raises several unrelated types for malformed input
                raise _RpcFailure(RpcErrorCode.PARSE) from None
            if not isinstance(decoded, dict):
                raise _RpcFailure(RpcErrorCode.PARSE)
            if method in _NO_PARAMS and decoded:
                raise _RpcFailure(RpcErrorCode.INVALID_PARAMS)
        if method == "test":
            return _RPC_OK
        if method == "info":
            return msgpack.packb({"author": AUTHOR, "version": __version__})
        if method == "stats":
            return msgpack.packb(self.stats())
        if method == "client.list":
            return msgpack.packb({"clients": self.client_list()})
        raise _RpcFailure(RpcErrorCode.METHOD_NOT_FOUND)

    def stats(self) -> dict[str, int]:
        b = self._broker
        return {
            "uptime": int(b.uptime),
            "r_frames": b.r_frames,
            "r_bytes": b.r_bytes,
            "w_frames": b.w_frames,
            "w_bytes": b.w_bytes,
        }

    def client_list(self) -> list[dict[str, Any]]:
        """Primaries only, sorted by name; ``instances`` counts the primary and its secondaries."""
        return [
            {
                "name": p.name,
                "kind": p.kind.value,
                "source": p.source,
                "port": p.port,
                "r_frames": p.r_frames,
                "r_bytes": p.r_bytes,
                "w_frames": p.w_frames,
                "w_bytes": p.w_bytes,
                "queue": p.queued,
                "instances": len(p.secondaries) + 1,
            }
            for name, p in sorted(self._broker.clients.items())
            if p.primary is None
        ]


_NO_PARAMS = frozenset({"test", "info", "stats", "client.list"})

