"""The two systems of the peer comparison behind one small interface.

A `Link` is one client connection of one participant: our async client (with
`elbus_rpc` for calls) or nats-py. Each does the four things the workloads
need in its own system's idiomatic way: flood a destination with QoS 0
messages (pausing only when its own write buffer is full), listen to a
destination, make a call and answer calls. For elbus a destination is a
client name (one-to-one, calls) or a topic (fan-out); for NATS it is a
subject in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

import elbus_aio
import elbus_rpc
from elbus_spec import Frame, QoS

__all__ = ["ECHO_METHOD", "Link", "open_link"]

ECHO_METHOD = "bench.echo"
# A topic nobody subscribes to: the broker acknowledges a publication to it after routing every frame before it.
FENCE_TOPIC = "bench/fence"
# What nats-py may hold before it must flush, and what a subscription may queue: a whole flood.
NATS_PENDING_BYTES = 256 * 1024 * 1024
NATS_PENDING_MSGS = 1_000_000

OnPayload = Callable[[bytes], None]


class Link(Protocol):
    async def flood(self, dest: str, topic: bool, payload: bytes, count: int) -> None:
        """Send ``count`` QoS 0 messages (publications with ``topic``), waiting only while the write buffer is full;
        returns once the broker has read them all (NATS: the PONG of a flush; elbus: the ack of a fence)."""

    async def listen(self, dest: str, topic: bool, on_payload: OnPayload) -> None:
        """Call ``on_payload`` for every message to ``dest``; returns once the broker routes them here."""

    async def answer(self, dest: str, on_call: OnPayload) -> None:
        """Answer every call to ``dest`` with its own parameters, calling ``on_call`` first."""

    async def call(self, dest: str, payload: bytes, timeout: float) -> bytes:
        """One call to ``dest``; returns the reply."""

    async def close(self) -> None: ...


async def open_link(system: str, address: str, name: str) -> Link:
    """Connect as ``name`` (elbus; NATS connections are anonymous) to ``address`` (NATS: a ``nats://`` URL),
    with each client's default timeouts."""
    if system == "elbus":
        return await _ElbusLink.connect(address, name)
    if system == "nats":
        return await _NatsLink.connect(address)
    raise ValueError(f"unknown system {system!r}")


class _ElbusLink:
    def __init__(self, client: elbus_aio.Client) -> None:
        self.client = client
        self.rpc: elbus_rpc.Rpc | None = None

    @classmethod
    async def connect(cls, address: str, name: str) -> _ElbusLink:
        return cls(await elbus_aio.connect(address, name))

    async def flood(self, dest: str, topic: bool, payload: bytes, count: int) -> None:
        client = self.client
        send = client.publish_nowait if topic else client.send_nowait
        for _ in range(count):
            send(dest, payload, qos=QoS.NO)
            if client.write_paused:
                await client.drain()
        await client.publish(FENCE_TOPIC, b"", qos=QoS.PROCESSED)

    async def listen(self, dest: str, topic: bool, on_payload: OnPayload) -> None:
        def on_frame(frame: Frame) -> None:
            on_payload(frame.payload)

        self.client.on_frame = on_frame
        if topic:
            await self.client.subscribe(dest)

    def _rpc(self) -> elbus_rpc.Rpc:
        if self.rpc is None:
            self.rpc = elbus_rpc.Rpc(self.client)
        return self.rpc

    async def answer(self, dest: str, on_call: OnPayload) -> None:
        @self._rpc().method(ECHO_METHOD, raw=True)
        def echo(params: bytes, event: object) -> bytes:
            on_call(params)
            return params

    async def call(self, dest: str, payload: bytes, timeout: float) -> bytes:
        reply = await self._rpc().call(dest, ECHO_METHOD, payload, raw=True, timeout=timeout)
        return bytes(reply)

    async def close(self) -> None:
        await self.client.close()  # flushes what is written


class _NatsLink:
    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc

    @classmethod
    async def connect(cls, url: str) -> _NatsLink:
        nc = await nats.connect(url, allow_reconnect=False, pending_size=NATS_PENDING_BYTES)
        return cls(nc)

    async def flood(self, dest: str, topic: bool, payload: bytes, count: int) -> None:
        publish = self.nc.publish
        for _ in range(count):
            await publish(dest, payload)
        await self.nc.flush()

    async def listen(self, dest: str, topic: bool, on_payload: OnPayload) -> None:
        async def on_message(msg: Msg) -> None:
            on_payload(msg.data)

        await self.nc.subscribe(dest, cb=on_message, pending_msgs_limit=NATS_PENDING_MSGS, pending_bytes_limit=NATS_PENDING_BYTES)
        await self.nc.flush()  # the server has the subscription once its PONG is back

    async def answer(self, dest: str, on_call: OnPayload) -> None:
        async def on_request(msg: Msg) -> None:
            on_call(msg.data)
            await msg.respond(msg.data)

        await self.nc.subscribe(dest, cb=on_request)
        await self.nc.flush()

    async def call(self, dest: str, payload: bytes, timeout: float) -> bytes:
        reply = await self.nc.request(dest, payload, timeout=timeout)
        return reply.data

    async def close(self) -> None:
        await self.nc.close()  # flushes what is written
