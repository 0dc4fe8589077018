"""The broker's own ``.broker`` client: its core RPC service, served by `elbus_rpc.Rpc`.

Methods ``test``, ``info``, ``stats``, ``client.list`` and ``benchmark.test``
answer with the result shapes and error replies of the original broker, byte
for byte. ``client.stats`` is ours: every client (secondaries included) with
its counters, queue depth, drops and subscription count, and the broker's
totals and uptime (a float, so that a caller can compute rates between two
calls), for ``elbus top``. ``benchmark.test`` echoes its parameter bytes unparsed. For the
others, parameters must be nothing or a MessagePack map (else -32700); a
non-empty map for these methods, which take none, gives -32602, an unknown
method -32601 (after the same -32700 check), each with an empty message.

Every method is registered raw so that this service, not elbus_rpc's
defaults (which explain the error in the message), decides those replies.
The rest is elbus_rpc's: the reply goes out on the event-loop turn after the
request was routed (so a caller sees the ack before the reply), realtime for
a realtime request; call id 0 and notifications get no reply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from elbus_rpc import CallEvent, Rpc, raw
from elbus_spec import RpcError, RpcErrorCode

from ._embedded import EmbeddedClient
from ._router import Router
from ._version import __version__

__all__ = ["AUTHOR", "CoreRpc"]

AUTHOR = "elbus for Python contributors"

# msgpack of {"ok": true}, byte for byte as the original answers `test`.
_RPC_OK = b"\x81\xa2ok\xc3"


def _params(params: bytes) -> dict[str, Any]:
    """The parameters as the original decodes them: nothing, or a map with string keys (bytes after it ignored).

    Raises RpcError(-32700) with an empty message for anything else.
    """
    if not params:
        return {}
    try:
        decoded = msgpack.unpackb(params)
    except msgpack.ExtraData as extra:
        decoded = extra.unpacked
    except Exception:  # msgpack raises several unrelated types for malformed input
        raise RpcError(RpcErrorCode.PARSE, b"") from None
    if not isinstance(decoded, dict) or not all(isinstance(key, str) for key in decoded):
        raise RpcError(RpcErrorCode.PARSE, b"")
    return decoded


def _taking_no_params(result: Callable[[], bytes]) -> Callable[[bytes, CallEvent], bytes]:
    """A raw handler for a method without parameters: -32602 for a non-empty map, else ``result()``."""

    def serve(params: bytes, event: CallEvent) -> bytes:
        if _params(params):
            raise RpcError(RpcErrorCode.INVALID_PARAMS, b"")
        return result()

    return serve


def _packed(result: Callable[[], Any]) -> Callable[[], bytes]:
    def pack() -> bytes:
        packed: bytes = msgpack.packb(result())
        return packed

    return pack


@raw
def _unknown_method(params: bytes, event: CallEvent) -> bytes:
    _params(params)  # parameters that are not a map are reported first, as the original does
    raise RpcError(RpcErrorCode.METHOD_NOT_FOUND, b"")


class CoreRpc:
    """Serves RPC requests addressed to ``.broker`` through ``client`` (the broker's in-process client),
    answering from ``router``'s registry and counters; ``uptime`` gives the broker's age in seconds."""

    __slots__ = ("_router", "_uptime", "client", "rpc")

    def __init__(self, router: Router, client: EmbeddedClient, uptime: Callable[[], float]) -> None:
        self._router = router
        self._uptime = uptime
        self.client = client
        self.rpc = Rpc(client)
        self.rpc.fallback = _unknown_method  # every other name gets -32601 with an empty message
        methods: dict[str, Callable[[], bytes]] = {
            "test": lambda: _RPC_OK,
            "info": lambda: msgpack.packb({"author": AUTHOR, "version": __version__}),
            "stats": lambda: msgpack.packb(self.stats()),
            "client.list": lambda: msgpack.packb({"clients": self.client_list()}),
            "client.stats": lambda: msgpack.packb(self.client_stats()),
        }
        for name, result in methods.items():
            self.rpc.method(name, raw=True)(_taking_no_params(result))
        self.rpc.method("benchmark.test", raw=True)(lambda params, event: params)

    def add_methods(self, methods: Mapping[str, Callable[[], Any]]) -> None:
        """Serve more methods without parameters (a cluster plug-in's); each result is packed as MessagePack."""
        for name, result in methods.items():
            self.rpc.method(name, raw=True)(_taking_no_params(_packed(result)))

    def stats(self) -> dict[str, int]:
        """Broker-wide counters, keys in the original's order."""
        b = self._router
        return {
            "uptime": int(self._uptime()),
            "r_frames": b.r_frames,
            "r_bytes": b.r_bytes,
            "w_frames": b.w_frames,
            "w_bytes": b.w_bytes,
        }

    def client_stats(self) -> dict[str, Any]:
        """Every client's counters and the totals, from one snapshot of the router; clients sorted by name."""
        snapshot = self._router.snapshot(self._uptime())
        return {
            "uptime": snapshot.uptime,
            "r_frames": snapshot.r_frames,
            "r_bytes": snapshot.r_bytes,
            "w_frames": snapshot.w_frames,
            "w_bytes": snapshot.w_bytes,
            "drops": snapshot.drops,
            "clients": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "r_frames": c.r_frames,
                    "r_bytes": c.r_bytes,
                    "w_frames": c.w_frames,
                    "w_bytes": c.w_bytes,
                    "queue": c.queue,
                    "drops": c.drops,
                    "subscriptions": c.subscriptions,
                }
                for c in sorted(snapshot.clients, key=lambda c: c.name)
            ],
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
            for name, p in sorted(self._router.clients.items())
            if p.primary is None
        ]
