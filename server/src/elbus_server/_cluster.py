"""What the broker expects of a cluster plug-in, and how it finds one without importing it.

Brokers on several hosts form one bus through a plug-in (``elbus-cluster``,
the ``elbus-server[cluster]`` extra). The broker never imports it: the
plug-in declares a factory in the ``elbus_server.cluster`` entry point group,
and `load_cluster` looks it up when a broker is given ``cluster=URLS``. An
embedding program may also pass any object implementing `ClusterLink`.

The router calls the link when something crosses the node boundary: a
MESSAGE to a name not registered here, every broadcast and publication
(the link decides whether another node wants it), and every change of
local names and subscription patterns. The link hands remote frames back
through its `ClusterHost` (the router), a batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol

from elbus_spec import Broadcast, Frame, Kind, Message, Publication, codec

from ._peer import Peer

__all__ = ["ENTRY_POINT_GROUP", "AckCallback", "ClusterHost", "ClusterLink", "load_cluster", "remote_frame_event"]

ENTRY_POINT_GROUP = "elbus_server.cluster"

AckCallback = Callable[[int], None]
"""Takes the result code of a MESSAGE sent to another node, once."""


class ClusterHost(Protocol):
    """What a cluster link asks of its broker."""

    @property
    def clients(self) -> Mapping[str, Peer]:
        """The clients registered on this node, by name."""

    def deliver_remote(self, records: list[tuple[str, bytes]]) -> bytearray:
        """Deliver frames another node routed here; one result code per frame, as a MESSAGE sender gets it.

        Each record is ``(address, frame)``: ``frame`` is the encoded
        broker-to-client frame (its sender is a client of another node),
        ``address`` its target (MESSAGE), mask (BROADCAST) or topic
        (PUBLISH); for a publication meant for one receiver's subscriptions
        (BUS/RT PUBLISH_FOR), ``TOPIC NUL RECEIVER`` (neither holds a NUL).
        """


class ClusterLink(Protocol):
    """A broker's connection to the other brokers of its bus."""

    node: str

    def attach(self, host: ClusterHost) -> None:
        """Start (inside the broker's event loop): connect in the background, never block the broker."""

    async def close(self) -> None:
        """Leave the bus and close the connection."""

    def name_taken(self, name: str) -> bool:
        """True if another node holds ``name`` (this node then refuses it ``0x76``)."""

    def registered(self, name: str) -> None:
        """A client registered ``name`` here."""

    def unregistered(self, name: str) -> None:
        """The client named ``name`` left this node."""

    def subscribed(self, pattern: str) -> None:
        """A local client added the topic pattern ``pattern`` (once per client and pattern)."""

    def unsubscribed(self, pattern: str) -> None:
        """A local client dropped ``pattern`` (once per client and pattern)."""

    def send_message(self, sender: Peer, target: str, payload: bytes, realtime: int, ack: AckCallback | None) -> int | None:
        """Route a MESSAGE to ``target``, which is not registered on this node.

        Returns the result code when it is known at once (``0x71``: no node
        holds the name; ``0x77``: it cannot be sent now), or None when it
        went out: ``ack`` (if given) is then called once with the code the
        receiving node answered, or ``0x77`` if no answer comes in time.
        """

    def broadcast(self, sender: Peer, mask: str, payload: bytes, realtime: int) -> None:
        """Take a broadcast to the other nodes holding names that ``mask`` matches."""

    def publish(self, sender: Peer, topic: str, payload: bytes, realtime: int) -> None:
        """Take a publication to the other nodes subscribed to ``topic``."""

    def publish_for(self, sender: Peer, topic: str, receiver: str, payload: bytes, realtime: int) -> None:
        """Take a publication for the subscriptions of ``receiver`` (a primary name registered on another
        node) to that node (BUS/RT PUBLISH_FOR)."""

    def rpc_methods(self) -> Mapping[str, Callable[[], Any]]:
        """Extra ``.broker`` RPC methods without parameters: name -> result (packed as MessagePack)."""


def load_cluster(servers: str | Sequence[str], node: str | None, **options: Any) -> ClusterLink:
    """The link of the installed cluster plug-in for NATS ``servers`` (``nats://HOST:PORT``, comma-separated).

    ``options`` go to the plug-in's factory as they are (credentials, TLS).
    Raises `RuntimeError` when no plug-in is installed.
    """
    found = entry_points(group=ENTRY_POINT_GROUP)
    if not found:
        raise RuntimeError("a cluster needs the cluster plug-in: pip install 'elbus-server[cluster]'")
    factory = next(iter(found)).load()
    link: ClusterLink = factory(servers, node=node, **options)
    return link


def remote_frame_event(frame: bytes) -> Frame:
    """The event an in-process client receives for an encoded MESSAGE, BROADCAST or PUBLISH frame from another node.

    Raises `elbus_spec.RemoteProtocolError` for a malformed frame.
    """
    kind, _, realtime = codec.decode_server_header(frame)
    if kind == Kind.PUBLISH:
        sender, topic, payload = codec.decode_publication_body(frame, codec.SERVER_HEADER_SIZE)
        return Publication(sender, topic, payload, bool(realtime))
    sender, payload = codec.decode_sender_body(frame, codec.SERVER_HEADER_SIZE)
    if kind == Kind.MESSAGE:
        return Message(sender, None, payload, bool(realtime))
    return Broadcast(sender, None, payload, bool(realtime))
