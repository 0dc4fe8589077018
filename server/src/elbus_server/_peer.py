"""What the router knows of a client, and what a client's connection knows of the router.

The router works with `Peer`, a small protocol: a client's name and
counters (`PeerState` holds them), how much it can take now (`room`), and
how it is handed what it is routed (`deliver`, `overflow`, `ack`). Socket
clients, in-process clients and anything a plug-in adds implement it; the
router never looks further into them. A connection reaches the router
only through `Host`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

__all__ = ["ClientKind", "Host", "Peer", "PeerState"]


class ClientKind(StrEnum):
    """How a client is connected, as ``client.list`` names it."""

    INTERNAL = "internal"
    LOCAL_IPC = "local_ipc"
    TCP = "tcp"


class Peer(Protocol):
    """A registered client as the router sees it.

    Counters follow the original broker: ``r_*`` count the frames the client
    sent (and their body bytes), ``w_*`` the frames routed to it, each
    counted with the body length of the frame that caused it, and 6 bytes
    per ack; ``drops`` the frames routed to it that its full queue refused
    (counted by the outbox, before `overflow`). ``takes_bytes`` says whether
    it is handed encoded frames or `elbus_spec.Frame` events.
    """

    name: str
    wire_name: bytes
    heads: dict[int, bytes]
    kind: ClientKind
    source: str | None
    port: str | None
    address: str | None
    primary: Peer | None
    secondaries: set[Peer]
    r_frames: int
    r_bytes: int
    w_frames: int
    w_bytes: int
    drops: int

    def __hash__(self) -> int: ...

    @property
    def takes_bytes(self) -> bool: ...

    @property
    def queued(self) -> int:
        """Frames waiting to be handed to the client."""

    def room(self) -> tuple[int, int]:
        """How many more frames, and bytes, the client can queue now (a frame is taken while both are above 0)."""

    def deliver(self, items: list[Any], size: int, flush: bool) -> None:
        """Queue frames routed to the client (encoded frames, ``size`` bytes in all, or events, as
        ``takes_bytes`` says), in order; ``flush``: one of them is realtime."""

    def overflow(self, frames: int) -> None:
        """``frames`` routed to the client did not fit in its queue (they were not delivered)."""

    def ack(self, op_id: int, code: int) -> None:
        """Take the acknowledgement of ``op_id`` (a client that does not take bytes: its call returns it;
        one that does gets the ack frame behind what was routed to it instead)."""

    def disconnect(self, reason: str) -> None:
        """Drop the client from the broker's side; it leaves the router at once."""


class PeerState:
    """The name, family and counters every `Peer` carries, in one place."""

    __slots__ = (
        "address",
        "drops",
        "heads",
        "kind",
        "name",
        "port",
        "primary",
        "r_bytes",
        "r_frames",
        "secondaries",
        "source",
        "w_bytes",
        "w_frames",
        "wire_name",
    )

    def __init__(self, kind: ClientKind, source: str | None = None, port: str | None = None) -> None:
        self.name = ""
        self.wire_name = b"\0"  # the name encoded with its NUL, as it heads the bodies of frames this client sends
        self.heads: dict[int, bytes] = {}  # (body length << 1 | realtime) -> MESSAGE header + wire_name, see the router
        self.kind = kind
        self.source = source
        self.port = port
        self.address: str | None = None  # the IP address of a TCP client (access control); None otherwise
        self.primary: Peer | None = None
        self.secondaries: set[Peer] = set()
        self.r_frames = 0
        self.r_bytes = 0
        self.w_frames = 0
        self.w_bytes = 0
        self.drops = 0  # frames routed to the client that its full queue refused

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.kind.value}>"


class Host(Protocol):
    """What a client's connection asks of the router."""

    def route(self, sender: Peer, events: list[Any]) -> None:
        """Route what ``sender`` sent (parsed events, MESSAGE frames as tuples), in order."""

    def leave(self, peer: Peer) -> None:
        """``peer`` is gone: unregister it (a primary takes its secondaries with it)."""
