"""The broker's own ``.broker`` client: its core RPC service, a `Peer` of the router.

Methods ``test``, ``info``, ``stats``, ``client.list`` and ``benchmark.test``
answer with the result shapes and error replies of the original broker, byte
for byte. ``client.stats`` is ours: every client (secondaries included) with
its counters, queue depth, drops and subscription count, and the broker's
totals and uptime (a float, so that a caller can compute rates between two
calls), for ``elbus top``. ``benchmark.test`` echoes its parameter bytes unparsed. For the
others, parameters must be nothing or a MessagePack map (else -32700); a
non-empty map for these methods, which take none, gives -32602, an unknown
method -32601 (after the same -32700 check), each with an empty message.

The service sits on the routing path itself rather than on an in-process
client with the general RPC layer: every method answers at once from the
broker's own state, so a request needs no task, no future and no event of
its own. Requests routed to it during one routing step are answered
together on the next event-loop turn (so a caller sees the ack before the
reply), and their replies are routed in one step, unacknowledged (an ack to
the broker itself would tell nobody anything) and realtime for a realtime
request. Call id 0 and notifications get no reply; nothing else than a
request is answered. At most the broker's ``queue_size`` requests wait for
that turn; more are refused as for any full client (the caller's ack says
``77``), and the service itself is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from elbus_spec import (
    BROKER_NAME,
    Code,
    Frame,
    Kind,
    QoS,
    RemoteProtocolError,
    RpcError,
    RpcErrorCode,
    RpcType,
    codec,
    error_for_code,
    parse_rpc,
)
from elbus_spec.rpc import error_payload

from ._frames import body_length
from ._outbox import UNBOUNDED
from ._peer import ClientKind, PeerState
from ._router import Router
from ._version import __version__

__all__ = ["AUTHOR", "CoreRpc"]

logger = logging.getLogger("elbus_server")

AUTHOR = "elbus for Python contributors"

# msgpack of {"ok": true}, byte for byte as the original answers `test`.
_RPC_OK = b"\x81\xa2ok\xc3"
_REQUEST = RpcType.REQUEST.value

Method = Callable[[bytes], bytes]  # parameter bytes -> result bytes; raises RpcError for an error reply


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


def _taking_no_params(result: Callable[[], bytes]) -> Method:
    """A method without parameters: -32602 for a non-empty map, else ``result()``."""

    def serve(params: bytes) -> bytes:
        if _params(params):
            raise RpcError(RpcErrorCode.INVALID_PARAMS, b"")
        return result()

    return serve


def _packed(result: Callable[[], Any]) -> Callable[[], bytes]:
    def pack() -> bytes:
        packed: bytes = msgpack.packb(result())
        return packed

    return pack


def _unknown_method(params: bytes) -> bytes:
    _params(params)  # parameters that are not a map are reported first, as the original does
    raise RpcError(RpcErrorCode.METHOD_NOT_FOUND, b"")


def _echo(params: bytes) -> bytes:
    return params


class CoreRpc(PeerState):
    """Serves RPC requests addressed to ``.broker``, answering from ``router``'s registry and counters;
    ``uptime`` gives the broker's age in seconds. Registers itself with ``router`` as ``.broker``."""

    __slots__ = ("_closed", "_loop", "_methods", "_queue_size", "_requests", "_router", "_scheduled", "_uptime")

    takes_bytes = False

    def __init__(self, router: Router, uptime: Callable[[], float], queue_size: int) -> None:
        super().__init__(ClientKind.INTERNAL)
        self._router = router
        self._uptime = uptime
        self._queue_size = queue_size
        self._loop = asyncio.get_running_loop()
        self._requests: list[Frame] = []  # routed to the service, answered on the next loop turn
        self._scheduled = False
        self._closed = False
        self._methods: dict[str, Method] = {
            name: _taking_no_params(result)
            for name, result in {
                "test": lambda: _RPC_OK,
                "info": lambda: msgpack.packb({"author": AUTHOR, "version": __version__}),
                "stats": lambda: msgpack.packb(self.stats()),
                "client.list": lambda: msgpack.packb({"clients": self.client_list()}),
                "client.stats": lambda: msgpack.packb(self.client_stats()),
            }.items()
        }
        self._methods["benchmark.test"] = _echo
        code = router.register(self, BROKER_NAME, restricted=False)
        if code != Code.OK:
            raise error_for_code(code, f"cannot register {BROKER_NAME!r}: code 0x{code:02x}")

    def add_methods(self, methods: Mapping[str, Callable[[], Any]]) -> None:
        """Serve more methods without parameters (a cluster plug-in's); each result is packed as MessagePack."""
        for name, result in methods.items():
            self._methods[name] = _taking_no_params(_packed(result))

    # --- the Peer protocol ------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._requests)

    def room(self) -> tuple[int, int]:
        if self._closed:
            return 0, 0
        return self._queue_size - len(self._requests), UNBOUNDED

    def deliver(self, items: list[Frame], size: int, flush: bool) -> None:
        self._requests += items
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._serve)

    def overflow(self, frames: int) -> None:
        """Nothing to do: the frames are counted in ``drops``, their callers answered ``77``."""

    def ack(self, op_id: int, code: int) -> None:
        """Nothing to do: announcements and FIFO commands go unacknowledged, replies too."""

    def disconnect(self, reason: str) -> None:
        if not self._closed:
            self._closed = True
            self._requests.clear()
            self._router.leave(self)

    # --- serving --------------------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer every request routed since the last turn, and route the replies in one step."""
        self._scheduled = False
        requests, self._requests = self._requests, []
        if self._closed:
            return
        replies = []
        for frame in requests:
            if frame.kind is not Kind.MESSAGE:
                continue  # a broadcast or a publication (.broker/warn): nothing to answer
            reply = self._answer(frame)
            if reply is not None:
                sender = frame.sender
                replies.append((0, QoS.REALTIME if frame.realtime else QoS.NO, sender, reply,
                                body_length(sender, reply)))
        if replies:
            self._router.route(self, replies)

    def _answer(self, frame: Frame) -> bytes | None:
        """The reply payload for one MESSAGE, or None when it wants none (or is not RPC)."""
        payload = frame.payload
        try:
            if not payload or payload[0] != _REQUEST:
                parse_rpc(payload)  # a reply, an error reply or a notification: nobody here waits for one
                return None
            call_id, method, params = codec.decode_rpc_request(payload)
        except RemoteProtocolError as exc:
            logger.debug("dropped a message from %s to %s that is not RPC: %s", frame.sender, BROKER_NAME, exc.reason)
            return None
        if not call_id:
            return None  # the methods change nothing: a call without a reply has nothing to do
        try:
            result = self._methods.get(method, _unknown_method)(params)
        except RpcError as exc:
            return error_payload(call_id, exc)
        except Exception as exc:  # a plug-in's method failed: the caller learns why, the broker goes on
            logger.exception("%s method %r failed", BROKER_NAME, method)
            return error_payload(call_id, exc)
        return codec.encode_rpc_reply(call_id, result)

    # --- the answers ------------------------------------------------------------------------------

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
