"""Every byte layout the brokers of one bus exchange through NATS, in one place.

The elbus frames themselves are encoded by the elbus codec (`elbus_spec`):
a record carries the very broker-to-client frame (``KIND LEN FLAG`` header,
then ``SENDER NUL …``) that the receiving broker hands to a socket client
as is. Around them, three small envelopes of this package:

Node stream (subject ``PREFIX.node.NODE``), one NATS message per batch::

    record*      record = FLAGS(u8) ADDRESS NUL FRAME
                 FLAGS bit 0: the sender waits for an acknowledgement
                 ADDRESS: the target name (MESSAGE), the mask (BROADCAST), or
                   the receiver's primary name (PUBLISH: a BUS/RT PUBLISH_FOR,
                   for that receiver's subscriptions to its topic)
                 FRAME: an elbus MESSAGE, BROADCAST or PUBLISH frame, header
                   included

A record too large for one NATS message (the server's ``max_payload``)
travels alone, cut into chunk messages on the same subject, in order::

    CHUNK(u8 = 0x80) ORIGIN(u64) INDEX(u32) COUNT(u32) PART
                 a record's FLAGS never has bit 7, so the first byte tells a
                 chunk from a batch; the parts, joined, are the record

Acknowledgements (the reply to a node-stream message that wanted any)::

    CODE(u8)*    one elbus result code per record with FLAGS bit 0, in order

Publications (subject ``PREFIX.pub.<topic as subject>``)::

    PUB(u8 = 0x00) ORIGIN(u64) SEQ(u64) FRAME*
                 FRAME: elbus PUBLISH frames to that topic

``ORIGIN`` is a random number that names one run of the sending broker,
``SEQ`` counts its publication messages from 1: a node whose overlapping
subscriptions receive one message several times keeps the first. A
publication message too large for one NATS message travels as chunk
messages (above) on its topic's subject, the joined parts being the whole
publication message, ``PUB`` byte included; the first byte tells which.

Directory (subject ``PREFIX.dir``): MessagePack maps, see `encode_directory`.
All integers are little-endian, as in elbus.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import msgpack

from elbus_spec import Kind, RemoteProtocolError, codec

__all__ = [
    "ACK_WANTED",
    "CHUNK",
    "CHUNK_HEAD_SIZE",
    "encode_chunks",
    "split_chunk",
    "PUBLICATION_HEAD_SIZE",
    "decode_directory",
    "encode_directory",
    "encode_frame",
    "encode_publication_head",
    "encode_record",
    "iter_frames",
    "iter_records",
    "publication_topic",
    "record_size",
    "split_publication",
]

ACK_WANTED = 1
CHUNK = 0x80
_CHUNK_HEAD = struct.Struct("<BQLL")
CHUNK_HEAD_SIZE = _CHUNK_HEAD.size
_FLAGS = (b"\x00", b"\x01")
_PUBLICATION_HEAD = struct.Struct("<BQQ")
PUBLICATION_HEAD_SIZE = _PUBLICATION_HEAD.size
_HEADER_SIZE = codec.SERVER_HEADER_SIZE
_pack_header = codec.SERVER_HEADER.pack  # the codec's own layout; lengths here are bounded by max_payload
_MESSAGE, _BROADCAST, _PUBLISH = Kind.MESSAGE.value, Kind.BROADCAST.value, Kind.PUBLISH.value


def encode_frame(kind: int, prefix: bytes, payload: bytes, realtime: int) -> bytes:
    """An elbus broker-to-client frame whose body is ``prefix`` (``SENDER NUL`` [``TOPIC NUL``]) then ``payload``."""
    return b"".join((_pack_header(kind, len(prefix) + len(payload), realtime), prefix, payload))


def record_size(address: bytes, prefix: bytes, payload: bytes) -> int:
    """The bytes a node-stream record takes, for an address already encoded with its NUL."""
    return 1 + len(address) + _HEADER_SIZE + len(prefix) + len(payload)


def encode_record(flags: int, address: bytes, kind: int, prefix: bytes, payload: bytes, realtime: int) -> bytes:
    """One node-stream record; ``address`` is the target or mask encoded with its NUL."""
    return b"".join((_FLAGS[flags], address, _pack_header(kind, len(prefix) + len(payload), realtime), prefix, payload))


def encode_chunks(record: bytes, origin: int, room: int) -> list[bytes]:
    """``record`` as chunk messages of at most ``room`` bytes each (``room`` > `CHUNK_HEAD_SIZE`)."""
    step = room - CHUNK_HEAD_SIZE
    count = -(-len(record) // step)
    return [_CHUNK_HEAD.pack(CHUNK, origin, i, count) + record[i * step : (i + 1) * step] for i in range(count)]


def split_chunk(data: bytes) -> tuple[int, int, int, bytes]:
    """``(origin, index, count, part)`` of a chunk message; raises `ValueError` for a malformed one."""
    if len(data) < CHUNK_HEAD_SIZE:
        raise ValueError("chunk: truncated head")
    _, origin, index, count = _CHUNK_HEAD.unpack_from(data)
    if index >= count:
        raise ValueError("chunk: index past the count")
    return origin, index, count, data[CHUNK_HEAD_SIZE:]


def iter_records(data: bytes) -> Iterator[tuple[int, str, bytes]]:
    """``(flags, address, frame)`` for each record of a node-stream message.

    Raises `ValueError` at the first malformed record (the ones before it
    have been yielded).
    """
    pos, end = 0, len(data)
    while pos < end:
        nul = data.find(b"\0", pos + 1)
        if nul < 0:
            raise ValueError("node stream: address without NUL")
        try:
            kind, length, _ = codec.decode_server_header(data, nul + 1)
        except RemoteProtocolError as exc:
            raise ValueError(f"node stream: {exc}") from None
        stop = nul + 1 + _HEADER_SIZE + length
        if stop > end or kind not in (_MESSAGE, _BROADCAST, _PUBLISH):
            raise ValueError("node stream: truncated record or unexpected frame kind")
        yield data[pos], data[pos + 1 : nul].decode(), data[nul + 1 : stop]
        pos = stop


def publication_topic(frame: bytes) -> str:
    """The topic of an elbus PUBLISH frame; raises `ValueError` for a malformed one."""
    try:
        return codec.decode_publication_body(frame, _HEADER_SIZE)[1]
    except RemoteProtocolError as exc:
        raise ValueError(f"node stream: {exc}") from None


def encode_publication_head(origin: int, seq: int) -> bytes:
    return _PUBLICATION_HEAD.pack(0, origin, seq)


def split_publication(data: bytes) -> tuple[int, int, bytes]:
    """``(origin, seq, frames)`` of a whole publication message; raises `ValueError` for a malformed head."""
    if len(data) < PUBLICATION_HEAD_SIZE:
        raise ValueError("publication: truncated head")
    kind, origin, seq = _PUBLICATION_HEAD.unpack_from(data)
    if kind != 0:
        raise ValueError("publication: neither a publication nor a chunk")
    return origin, seq, data[PUBLICATION_HEAD_SIZE:]


def iter_frames(data: bytes) -> Iterator[bytes]:
    """Each PUBLISH frame of a publication message's body; raises `ValueError` at a malformed one."""
    pos, end = 0, len(data)
    while pos < end:
        try:
            kind, length, _ = codec.decode_server_header(data, pos)
        except RemoteProtocolError as exc:
            raise ValueError(f"publication: {exc}") from None
        stop = pos + _HEADER_SIZE + length
        if stop > end or kind != _PUBLISH:
            raise ValueError("publication: truncated frame or unexpected frame kind")
        yield data[pos:stop]
        pos = stop


# --- directory -------------------------------------------------------------------------------------

_DIRECTORY_KINDS = {"snap", "delta", "hb", "sync", "bye"}


def encode_directory(kind: str, node: str, boot: int, version: int = 0, **fields: Any) -> bytes:
    """A directory message, a MessagePack map ``{"k": kind, "n": node, "b": boot, "v": version, …}``.

    Kinds: ``snap`` (``names``: {name: claim-ns}, ``topics``: [pattern]),
    ``delta`` (``ops``: [[op, value, claim-ns]] with op ``+n``/``-n`` for a
    name, ``+t``/``-t`` for a subscription pattern), ``hb`` (heartbeat),
    ``sync`` (every node answers with its ``snap``; ``to`` limits it to one
    node), ``bye`` (the node leaves). ``v`` counts the node's changes, so a
    missed delta is seen and healed with a snapshot.
    """
    return msgpack.packb({"k": kind, "n": node, "b": boot, "v": version, **fields})  # type: ignore[no-any-return]


def decode_directory(data: bytes) -> dict[str, Any]:
    """A directory message as a map; raises `ValueError` for anything else."""
    try:
        message = msgpack.unpackb(data)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ValueError(f"directory: not MessagePack: {exc}") from None
    if (
        not isinstance(message, dict)
        or message.get("k") not in _DIRECTORY_KINDS
        or not isinstance(message.get("n"), str)
        or not isinstance(message.get("b"), int)
        or not isinstance(message.get("v"), int)
    ):
        raise ValueError("directory: not a directory message")
    return message
