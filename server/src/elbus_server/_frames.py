"""The broker's outgoing frames, packed with the codec's layouts for values the router has already checked.

The codec's ``encode_*`` functions check and encode every field; the
router sends the same bytes but packs only what changes per frame. These
aliases are the one place the server takes layouts from the codec.
"""

from __future__ import annotations

from elbus_spec import codec

__all__ = ["body_length", "delivery", "pack_ack", "pack_header"]

pack_header = codec.SERVER_HEADER.pack
pack_ack = codec.pack_ack  # (op id, code): as codec.encode_ack, for an op id already parsed


def delivery(kind: int, realtime: int, prefix: bytes, payload: bytes) -> bytes:
    """A broker frame whose body is ``prefix`` (``SENDER NUL`` [``TOPIC NUL``], encoded once) then the payload.

    The same bytes as the codec's ``encode_*_delivery``, without encoding
    and checking the sender's name again for every frame.
    """
    return b"".join((pack_header(kind, len(prefix) + len(payload), realtime), prefix, payload))


def body_length(address: str, payload: bytes) -> int:
    """The body length of an addressed frame (``ADDRESS NUL PAYLOAD``), as the counters count it."""
    return (len(address) if address.isascii() else len(address.encode())) + 1 + len(payload)
