"""The ceiling broker: the smallest correct uvloop Protocol that routes elbus frames.

It does the handshake, parses every complete 9-byte-header frame of a read
chunk in one loop, routes MESSAGE by exact name and PUBLISH by exact topic,
acknowledges when QoS bit 0 is set, and writes once per destination per read
chunk. No queues, masks, wildcards, RPC or limits: it is what a Python broker
costs at the least, the yardstick every broker figure is divided by. It lives
here, never in the product.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from elbus_spec import Code, codec

__all__ = ["CeilingProtocol", "serve"]

_HEADER = codec.CLIENT_HEADER  # client frame: op id, flags, body length
_DELIVERY = codec.SERVER_HEADER  # broker frame: kind, body length, realtime flag
_pack_ack = codec.pack_ack  # op id, code


class CeilingProtocol(asyncio.Protocol):
    def __init__(self, clients: dict[bytes, CeilingProtocol], topics: dict[bytes, set[CeilingProtocol]]) -> None:
        self.clients, self.topics = clients, topics
        self.buf, self.name, self.stage = b"", b"", 0  # stage 0: greeting, 1: name, 2: frames, 3: dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(codec.PROTOCOL_GREETING)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.name and self.clients.get(self.name) is self:
            del self.clients[self.name]
        for subscribers in self.topics.values():
            subscribers.discard(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out: dict[CeilingProtocol, list[bytes]] = {}  # destination -> chunks written once at the end
        pos, end = 0, len(buf)
        while self.stage == 2 and end - pos >= 9:
            op_id, flags, length = _HEADER.unpack_from(buf, pos)
            if flags == 0:  # ping: the header is the whole frame
                pos += 9
                continue
            if end - pos - 9 < length:
                break
            body, pos, op, code = buf[pos + 9 : pos + 9 + length], pos + 9 + length, flags & 0x3F, 1
            if op == 0x12 or op == 0x01:  # MESSAGE / PUBLISH: TARGET NUL PAYLOAD
                sep = body.find(b"\x00")
                if sep < 0:  # protocol error: drop this client only, after delivering what came before
                    self.stage = 3
                    break
                dests: Collection[CeilingProtocol | None]
                if op == 0x12:
                    dests, frame = (self.clients.get(body[:sep]),), body[sep:]  # -> SENDER NUL PAYLOAD
                else:
                    dests, frame = self.topics.get(body[:sep], ()), b"\x00" + body  # -> SENDER NUL TOPIC NUL PAYLOAD
                head = _DELIVERY.pack(op, len(self.name) + len(frame), 0) + self.name
                for dest in dests:
                    if dest is None:
                        code = 0x71
                    else:
                        out.setdefault(dest, []).extend((head, frame))
            elif op == 0x02:  # SUBSCRIBE: topics joined by NUL
                for topic in body.split(b"\x00"):
                    self.topics.setdefault(topic, set()).add(self)
            else:
                code = 0x75
            if flags & 0x40:
                out.setdefault(self, []).append(_pack_ack(op_id, code))
        if self.stage == 0 and end - pos >= 3:
            if buf[pos : pos + 3] != codec.PROTOCOL_GREETING:
                self.transport.write(codec.encode_result(Code.NOT_SUPPORTED))
                self.transport.close()
                return
            self.transport.write(codec.RESULT_OK)
            pos, self.stage = pos + 3, 1
        size = codec.size_of_registration(buf, pos) if self.stage == 1 else None
        if size is not None and end - pos >= size:
            name, pos = codec.decode_registration(buf, pos, pos + size)[0].encode(), pos + size
            if not name or name.startswith(b".") or name in self.clients:
                self.transport.write(codec.encode_result(Code.BUSY if name in self.clients else Code.DATA))
                self.transport.close()
                return
            self.name, self.clients[name], self.stage = name, self, 2
            self.transport.write(codec.RESULT_OK)
            self.buf = buf[pos:]
            return self.data_received(b"")  # frames pipelined behind the name
        self.buf = buf[pos:]
        for dest, chunks in out.items():
            dest.transport.writelines(chunks)
        if self.stage == 3:
            self.transport.close()


async def serve(address: str) -> asyncio.Server:
    """Listen on a UNIX path (starting with ``/``) or ``host:port``; returns the running server."""
    clients: dict[bytes, CeilingProtocol] = {}
    topics: dict[bytes, set[CeilingProtocol]] = {}
    loop = asyncio.get_running_loop()
    if address.startswith("/"):
        return await loop.create_unix_server(lambda: CeilingProtocol(clients, topics), address)
    host, _, port = address.rpartition(":")
    return await loop.create_server(lambda: CeilingProtocol(clients, topics), host, int(port))
