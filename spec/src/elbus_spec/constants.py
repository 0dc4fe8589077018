"""Wire constants and codes of the elbus protocol.

Every number here is fixed by the original broker (see the protocol
reference); the enums give them names so that code and docs never spell a
raw byte.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "GREETING",
    "PROTOCOL_VERSION",
    "DEFAULT_MAX_FRAME_LENGTH",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_TIMEOUT",
    "DEAD_BROKER_FACTOR",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_RECONNECT_DELAY",
    "SECONDARY_SEPARATOR",
    "BROKER_NAME",
    "Op",
    "QoS",
    "Kind",
    "Code",
    "RpcType",
    "RpcErrorCode",
    "primary_name",
]

# The first byte of the handshake, sent by the broker and echoed by the client.
GREETING = 0xEB
# The only protocol version the original broker speaks; anything else gets 0x75.
PROTOCOL_VERSION = 1

# The wire allows 4 GiB frames; a broker that believed every header could
# be made to allocate that much by one client, so the default cap is 16 MiB.
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024
# Frames a client may have waiting in the broker before it is dropped as a slow consumer.
DEFAULT_QUEUE_SIZE = 8192
# Seconds for each handshake step, a partial frame and a blocked write (the standalone server's default).
DEFAULT_TIMEOUT = 5.0
# A client hears from its broker at least every broker timeout (a keep-alive
# NOP when nothing else is sent). Silence for this many client timeouts
# tolerates one late NOP and scheduling jitter before the broker is declared
# dead; the same bound applies to a write the broker does not drain.
DEAD_BROKER_FACTOR = 2.0
# Seconds between a client's pings (the broker's keep-alive runs the other way).
DEFAULT_PING_INTERVAL = 1.0
# Seconds before a client's first reconnect attempt; the wait doubles up to the client's timeout.
DEFAULT_RECONNECT_DELAY = 0.1

# `primary%%suffix` names a secondary instance of `primary`.
SECONDARY_SEPARATOR = "%%"
# The broker's own internal client, which answers the core RPC methods and makes announcements.
BROKER_NAME = ".broker"


class Op(IntEnum):
    """Client -> broker operations (low 6 bits of FLAGS)."""

    NOP = 0x00
    PUBLISH = 0x01
    SUBSCRIBE = 0x02
    UNSUBSCRIBE = 0x03
    EXCLUDE = 0x04
    UNEXCLUDE = 0x05
    PUBLISH_FOR = 0x06
    MESSAGE = 0x12
    BROADCAST = 0x13


class QoS(IntEnum):
    """Quality of service (high 2 bits of FLAGS): bit 0 asks for an ack, bit 1 for realtime."""

    NO = 0
    PROCESSED = 1
    REALTIME = 2
    REALTIME_PROCESSED = 3

    @property
    def needs_ack(self) -> bool:
        return bool(self & 1)

    @property
    def realtime(self) -> bool:
        return bool(self & 2)


class Kind(IntEnum):
    """Broker -> client frame kinds (first header byte)."""

    NOP = 0x00
    PUBLISH = 0x01
    MESSAGE = 0x12
    BROADCAST = 0x13
    ACK = 0xFE


class Code(IntEnum):
    """Handshake, registration and acknowledgement result codes."""

    OK = 0x01
    NOT_REGISTERED = 0x71
    DATA = 0x72
    IO = 0x73
    OTHER = 0x74
    NOT_SUPPORTED = 0x75
    BUSY = 0x76
    NOT_DELIVERED = 0x77
    TIMEOUT = 0x78
    ACCESS = 0x79


class RpcType(IntEnum):
    """First byte of an RPC payload inside a MESSAGE."""

    NOTIFICATION = 0x00
    REQUEST = 0x01
    REPLY = 0x11
    ERROR = 0x12


class RpcErrorCode(IntEnum):
    """JSON-RPC error codes used by RPC error replies."""

    PARSE = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL = -32603


def primary_name(name: str) -> str:
    """The primary client name of ``name`` (cut at ``%%``)."""
    return name.split(SECONDARY_SEPARATOR, 1)[0]
