"""What the routing core knows of every registered client, socket or in-process."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from elbus_spec import Frame

__all__ = ["ClientKind", "Peer"]


class ClientKind(StrEnum):
    """How a client is connected, as ``client.list`` names it."""

    INTERNAL = "internal"
    LOCAL_IPC = "local_ipc"
    TCP = "tcp"


class Peer:
    """A registered client: its name, its counters and its family (primary and secondaries).

    Counters follow the original broker: ``r_*`` count the frames the client
    sent (and their body bytes), ``w_*`` the frames routed to it, each counted
    with the body length of the frame that caused it, and 6 bytes per ack.
    Subclasses deliver: socket peers take encoded frames, in-process peers
    take `elbus_spec.Frame` events.
    """

    __slots__ = (
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

    takes_bytes: ClassVar[bool] = False

    def __init__(self, kind: ClientKind, source: str | None = None, port: str | None = None) -> None:
        self.name = ""
        self.wire_name = b"\0"  # the name encoded with its NUL, as it heads the bodies of frames this client sends
        self.heads: dict[int, bytes] = {}  # (body length << 1 | realtime) -> MESSAGE header + wire_name, see the broker
        self.kind = kind
        self.source = source
        self.port = port
        self.primary: Peer | None = None
        self.secondaries: set[Peer] = set()
        self.r_frames = 0
        self.r_bytes = 0
        self.w_frames = 0
        self.w_bytes = 0

    @property
    def queued(self) -> int:
        """Frames waiting to be handed to the client."""
        raise NotImplementedError

    def push(self, data: bytes, flush: bool) -> bool:
        """Queue an encoded frame (socket peers); False if the client could not take it."""
        raise NotImplementedError

    def push_frame(self, frame: Frame) -> bool:
        """Queue a delivered frame (in-process peers); False if the client could not take it."""
        raise NotImplementedError

    def ack(self, op_id: int, code: int, realtime: bool) -> None:
        """Queue the acknowledgement of ``op_id`` behind what is already queued."""
        raise NotImplementedError

    def disconnect(self, reason: str) -> None:
        """Drop the client from the broker's side (the broker unregisters it)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.kind.value}>"
