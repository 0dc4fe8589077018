"""Typed events that the sans-IO connections hand out.

Frozen, slotted dataclasses, one per thing that can happen on the wire,
named as in the protocol reference. Broker-side events describe what a
client asked for; client-side events describe what the broker delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .constants import SECONDARY_SEPARATOR, Code, Kind, Op

__all__ = [
    "Event",
    "ProtocolViolation",
    "HandshakeComplete",
    "RegistrationRequest",
    "Ping",
    "Request",
    "MessageRequest",
    "BroadcastRequest",
    "PublishRequest",
    "SubscribeRequest",
    "UnsubscribeRequest",
    "ExcludeRequest",
    "UnexcludeRequest",
    "PublishForRequest",
    "Registered",
    "Refused",
    "Frame",
    "Message",
    "Broadcast",
    "Publication",
    "Ack",
    "KeepAlive",
]


class Event:
    """Base of every event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ProtocolViolation(Event):
    """The peer broke the protocol; the connection is now in the error state and must be closed."""

    reason: str


# --- broker side: what a client asked for ------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeComplete(Event):
    """The client echoed a valid greeting (the broker has queued its ``01``)."""


@dataclass(frozen=True, slots=True)
class RegistrationRequest(Event):
    """The client asked to register ``name``; answer with `BrokerConnection.accept`/`refuse`."""

    name: str


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """A client ping (a 9-byte header with FLAGS 0): no reply is due."""


@dataclass(frozen=True, slots=True)
class Request(Event):
    """Base of every client operation frame."""

    op: ClassVar[Op]
    op_id: int
    qos: int

    @property
    def needs_ack(self) -> bool:
        return bool(self.qos & 1)

    @property
    def realtime(self) -> bool:
        return bool(self.qos & 2)


@dataclass(frozen=True, slots=True)
class MessageRequest(Request):
    """Send ``payload`` to the client named ``target``."""

    op = Op.MESSAGE
    target: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class BroadcastRequest(Request):
    """Send ``payload`` to every client whose name matches ``mask``."""

    op = Op.BROADCAST
    mask: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PublishRequest(Request):
    """Publish ``payload`` to ``topic``."""

    op = Op.PUBLISH
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SubscribeRequest(Request):
    """Subscribe to every topic pattern in ``topics``."""

    op = Op.SUBSCRIBE
    topics: list[str]


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest(Request):
    """Unsubscribe from every topic pattern in ``topics``."""

    op = Op.UNSUBSCRIBE
    topics: list[str]


@dataclass(frozen=True, slots=True)
class ExcludeRequest(Request):
    """Exclude topic patterns (BUS/RT extension)."""

    op = Op.EXCLUDE
    topics: list[str]


@dataclass(frozen=True, slots=True)
class UnexcludeRequest(Request):
    """Remove topic exclusions (BUS/RT extension)."""

    op = Op.UNEXCLUDE
    topics: list[str]


@dataclass(frozen=True, slots=True)
class PublishForRequest(Request):
    """Publish ``payload`` to ``topic`` for subscribers whose primary name is ``receiver`` (BUS/RT extension)."""

    op = Op.PUBLISH_FOR
    topic: str
    receiver: str
    payload: bytes


# --- client side: what the broker delivered ------------------------------------


@dataclass(frozen=True, slots=True)
class Registered(Event):
    """The broker accepted our name; frames may flow."""


@dataclass(frozen=True, slots=True)
class Refused(Event):
    """The broker refused the greeting (``stage == "handshake"``) or the name (``"registration"``)."""

    code: int
    stage: str

    @property
    def code_name(self) -> str:
        try:
            return Code(self.code).name
        except ValueError:
            return f"0x{self.code:02x}"


@dataclass(frozen=True, slots=True)
class Frame(Event):
    """A frame delivered by the broker: a message, a broadcast or a publication."""

    kind: ClassVar[Kind]
    sender: str
    topic: str | None
    payload: bytes
    realtime: bool

    @property
    def primary_sender(self) -> str:
        """The sender's primary name (a secondary ``name%%x`` gives ``name``)."""
        return self.sender.split(SECONDARY_SEPARATOR, 1)[0]


@dataclass(frozen=True, slots=True)
class Message(Frame):
    """A one-to-one message (``topic`` is None)."""

    kind = Kind.MESSAGE


@dataclass(frozen=True, slots=True)
class Broadcast(Frame):
    """A broadcast (``topic`` is None; the mask is not transmitted)."""

    kind = Kind.BROADCAST


@dataclass(frozen=True, slots=True)
class Publication(Frame):
    """A publication to ``topic``."""

    kind = Kind.PUBLISH


@dataclass(frozen=True, slots=True)
class Ack(Event):
    """The broker's acknowledgement of operation ``op_id`` with result ``code``."""

    op_id: int
    code: int

    @property
    def ok(self) -> bool:
        return self.code == Code.OK


@dataclass(frozen=True, slots=True)
class KeepAlive(Event):
    """The broker's keep-alive NOP."""
