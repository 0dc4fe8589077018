"""A small routing broker for client tests, on `elbus_spec.BrokerConnection` over real sockets.

It routes messages, broadcasts and publications by the protocol's rules
(and the BUS/RT extensions: exclusions, publish-for),
acknowledges, sends keep-alive NOPs and applies the registration rules
(busy names, secondaries), so clients can talk to each other before and
beside the project's real broker. Tests can stop reading from a client
(`hold`) to exercise backpressure.
"""

from __future__ import annotations

import asyncio

from routing_rules import mask_matches, topic_matches

from elbus_spec import (
    NOP_FRAME,
    BroadcastRequest,
    BrokerConnection,
    Code,
    ExcludeRequest,
    MessageRequest,
    ProtocolViolation,
    PublishForRequest,
    PublishRequest,
    RegistrationRequest,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
    codec,
    primary_name,
)


class _Peer(asyncio.Protocol):
    def __init__(self, broker: RoutingBroker) -> None:
        self.broker = broker
        self.conn = BrokerConnection()
        self.transport: asyncio.Transport | None = None
        self.name: str | None = None
        self.topics: set[str] = set()
        self.excluded: set[str] = set()

    def wants(self, topic: str) -> bool:
        return any(topic_matches(t, topic) for t in self.topics) and not any(topic_matches(t, topic) for t in self.excluded)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.broker.peers.add(self)
        transport.write(self.conn.greeting())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except Exception:
            return
        out = self.conn.data_to_send()
        if out:
            self.transport.write(out)  # type: ignore[union-attr]
        for event in events:
            if isinstance(event, RegistrationRequest):
                code = self.broker.register(self, event.name)
                if code != Code.OK:
                    self.transport.write(self.conn.refuse(code))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
                    return
                self.transport.write(self.conn.accept())  # type: ignore[union-attr]
                self.data_received(b"")
                return
            if isinstance(event, ProtocolViolation):
                self.transport.abort()  # type: ignore[union-attr]
                return
            self.broker.route(self, event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker.unregister(self)

    def deliver(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)


class RoutingBroker:
    """Serve the elbus protocol at ``address`` (UNIX path or ``host:port``; port 0 picks one)."""

    def __init__(self, address: str, *, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self.peers: set[_Peer] = set()
        self.clients: dict[str, _Peer] = {}
        self.held: set[str] = set()
        self._server: asyncio.Server | None = None
        self._nop_task: asyncio.Task[None] | None = None

    async def start(self) -> RoutingBroker:
        loop = asyncio.get_running_loop()
        if self.address.startswith("/") or self.address.endswith((".sock", ".socket", ".ipc")):
            self._server = await loop.create_unix_server(lambda: _Peer(self), self.address)
        else:
            host, _, port = self.address.rpartition(":")
            self._server = await loop.create_server(lambda: _Peer(self), host, int(port))
            self.address = "{}:{}".format(*self._server.sockets[0].getsockname()[:2])
        self._nop_task = loop.create_task(self._keep_alive())
        return self

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.timeout)
            for peer in list(self.clients.values()):
                peer.deliver(NOP_FRAME)

    async def stop(self) -> None:
        """Stop listening and drop every connection (as a broker that died)."""
        if self._nop_task is not None:
            self._nop_task.cancel()
        if self._server is not None:
            self._server.close()
        for peer in list(self.peers):
            if peer.transport is not None:
                peer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> RoutingBroker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def hold(self, name: str, held: bool = True) -> None:
        """Stop (or resume) reading from the client ``name``."""
        peer = self.clients[name]
        if held:
            peer.transport.pause_reading()  # type: ignore[union-attr]
        else:
            peer.transport.resume_reading()  # type: ignore[union-attr]

    def register(self, peer: _Peer, name: str) -> int:
        if not name or name.startswith("."):
            return Code.DATA
        if name in self.clients:
            return Code.BUSY
        if primary_name(name) != name and primary_name(name) not in self.clients:
            return Code.NOT_REGISTERED
        peer.name = name
        self.clients[name] = peer
        return Code.OK

    def unregister(self, peer: _Peer) -> None:
        self.peers.discard(peer)
        if peer.name is not None and self.clients.get(peer.name) is peer:
            del self.clients[peer.name]
            if primary_name(peer.name) == peer.name:  # secondaries leave with their primary
                for name, other in list(self.clients.items()):
                    if primary_name(name) == peer.name and other.transport is not None:
                        other.transport.close()

    def route(self, peer: _Peer, event: object) -> None:
        code = Code.OK
        sender = peer.name or ""
        if isinstance(event, MessageRequest):
            target = self.clients.get(event.target)
            if target is None:
                code = Code.NOT_REGISTERED
            else:
                target.deliver(codec.encode_message_delivery(int(event.realtime), sender, event.payload))
        elif isinstance(event, BroadcastRequest):
            frame = codec.encode_broadcast_delivery(int(event.realtime), sender, event.payload)
            for name, target in list(self.clients.items()):
                if mask_matches(event.mask, name):
                    target.deliver(frame)
        elif isinstance(event, PublishRequest | PublishForRequest):
            frame = codec.encode_publication_delivery(int(event.realtime), sender, event.topic, event.payload)
            receiver = event.receiver if isinstance(event, PublishForRequest) else None
            for name, target in list(self.clients.items()):
                if target.wants(event.topic) and receiver in (None, primary_name(name)):
                    target.deliver(frame)
        elif isinstance(event, SubscribeRequest):
            peer.topics.update(event.topics)
        elif isinstance(event, UnsubscribeRequest):
            peer.topics.difference_update(event.topics)
        elif isinstance(event, ExcludeRequest):
            peer.excluded.update(event.topics)
        elif isinstance(event, UnexcludeRequest):
            peer.excluded.difference_update(event.topics)
        else:
            return  # pings
        if event.needs_ack:
            peer.deliver(BrokerConnection.ack(event.op_id, code))
