"""The exception hierarchy shared by the broker, the clients and the RPC layer.

One root (`ElbusError`); protocol errors split into local (we broke the
rules) and remote (the peer did); one class per broker result code carrying
that code as a class attribute, so a code turns into an exception and back
without a lookup table anywhere else.

Some classes also derive from a built-in exception, so that code written
against the standard library keeps working: every timeout is a
`TimeoutError` (through `ElbusTimeout`), a broker that cannot be reached is
an `OSError` (`BrokerUnavailable`), and bad arguments are `ValueError`s.
"""

from __future__ import annotations

import contextlib
import errno as _errno
from collections.abc import Iterator
from typing import ClassVar

from .constants import Code

__all__ = [
    "extension_loss_explained",
    "ElbusError",
    "ProtocolError",
    "LocalProtocolError",
    "FrameTooLarge",
    "InvalidTopic",
    "RemoteProtocolError",
    "BrokerError",
    "NotRegistered",
    "DataError",
    "BrokerIOError",
    "OtherError",
    "NotSupported",
    "Busy",
    "NotDelivered",
    "BrokerTimeout",
    "ElbusTimeout",
    "ReceiveTimeout",
    "RpcTimeout",
    "BrokerUnavailable",
    "ConnectTimeout",
    "AccessDenied",
    "RpcError",
    "ConnectionClosed",
    "error_for_code",
]


class ElbusError(Exception):
    """Root of every exception raised by elbus packages."""


class ProtocolError(ElbusError):
    """The byte stream broke the protocol; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""


class FrameTooLarge(LocalProtocolError, ValueError):
    """A frame body over the connection's limit: refused before anything is written.

    The broker would drop the whole connection for it, without an ack, so the
    client refuses it and the connection stays usable. ``size`` and ``limit``
    (``max_frame_length``) are in bytes, for messages that name them.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame body of {size} bytes exceeds the limit of {limit} bytes (max_frame_length)")
        self.size = size
        self.limit = limit


class InvalidTopic(LocalProtocolError, ValueError):
    """A topic or topic pattern that breaks the topic rules (``+``/``#`` placement, wildcards in a publication)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes the protocol does not allow."""


class BrokerError(ElbusError):
    """The broker answered with a result code other than OK."""

    code: ClassVar[Code] = Code.OTHER

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or f"broker code 0x{self.code:02x} ({self.code.name})")


class NotRegistered(BrokerError):
    """The target (or the primary of a secondary) is not registered."""

    code = Code.NOT_REGISTERED


class DataError(BrokerError):
    """Bad data, e.g. an invalid client name."""

    code = Code.DATA


class BrokerIOError(BrokerError):
    """An I/O error."""

    code = Code.IO


class OtherError(BrokerError):
    """Any other error."""

    code = Code.OTHER


class NotSupported(BrokerError):
    """Bad greeting or unsupported protocol version."""

    code = Code.NOT_SUPPORTED


class Busy(BrokerError):
    """A client with this name is already registered."""

    code = Code.BUSY


class NotDelivered(BrokerError):
    """The target's queue overflowed; the target was dropped as a slow consumer."""

    code = Code.NOT_DELIVERED


class ElbusTimeout(ElbusError, TimeoutError):
    """Root of every elbus timeout: ``except TimeoutError`` catches them all."""


class BrokerTimeout(BrokerError, ElbusTimeout):
    """No acknowledgement in time, or the broker's own timeout code (0x78)."""

    code = Code.TIMEOUT


class AccessDenied(BrokerError):
    """Denied by the broker's access control."""

    code = Code.ACCESS


_BY_CODE: dict[int, type[BrokerError]] = {
    cls.code: cls
    for cls in (
        NotRegistered,
        DataError,
        BrokerIOError,
        OtherError,
        NotSupported,
        Busy,
        NotDelivered,
        BrokerTimeout,
        AccessDenied,
    )
}


def error_for_code(code: int, message: str | None = None) -> BrokerError:
    """The exception instance for a non-OK broker code (unknown codes give `OtherError`)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return OtherError(message or f"unknown broker code 0x{code:02x}")
    return cls(message)


class RpcError(ElbusError):
    """An RPC call failed: a remote error reply, or a transport failure as ``-32000 - code``.

    ``message`` is always text: an error reply's bytes decoded as UTF-8 (bytes
    that are not UTF-8 replaced by U+FFFD), so it prints and compares the same
    whether the error came from a peer or from here. ``data`` keeps the bytes
    as on the wire, for peers that put something other than text there (and
    for forwarding an error reply unchanged).
    """

    def __init__(self, code: int, message: bytes | str = "") -> None:
        if isinstance(message, str):
            text, data = message, message.encode("utf-8", "replace")
        else:
            text, data = message.decode("utf-8", "replace"), bytes(message)
        super().__init__(f"{text} (code: {code})" if text else f"RPC error (code: {code})")
        self.code = code
        self.message: str = text
        self.data: bytes = data


class RpcTimeout(RpcError, ElbusTimeout):
    """An RPC call got no reply in time (code ``-32000 - 0x78``, as the original RPC layer)."""


class ReceiveTimeout(ElbusTimeout):
    """No frame arrived within the time given to ``receive``."""


class BrokerUnavailable(ElbusError, OSError):
    """The broker could not be reached: no socket file, connection refused, no answer in time.

    Still an `OSError` carrying the ``errno`` of the failure (``ENOENT``,
    ``ECONNREFUSED`` ...), so code that caught the socket errors keeps working;
    the socket error itself is the ``__cause__``.
    """

    @classmethod
    def wrap(cls, address: str, exc: OSError) -> BrokerUnavailable:
        """The error for ``exc`` raised while connecting to ``address`` (`ConnectTimeout` for a timeout)."""
        if isinstance(exc, TimeoutError):
            return ConnectTimeout(_errno.ETIMEDOUT, f"cannot connect to {address}: no answer in time")
        detail = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno is None:
            return cls(f"cannot connect to {address}: {detail}")
        return cls(exc.errno, f"cannot connect to {address}: {detail}")


class ConnectTimeout(BrokerUnavailable, ElbusTimeout):
    """Connecting or registering took longer than the client's timeout."""


class ConnectionClosed(ElbusError):
    """The connection to the broker is closed or was lost; ``reason`` says why.

    Raised by operations attempted without a live connection and set on every
    wait (acks, replies, receives) still pending when the connection ends.
    """

    def __init__(self, reason: str = "connection closed") -> None:
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def extension_loss_explained(op: str) -> Iterator[None]:
    """A connection lost while a BUS/RT operation (``op``) waits for its ack: say why that is likely, keeping the reason.

    Both clients wrap their extension calls in it, so users of either read the same explanation.
    """
    try:
        yield
    except ConnectionClosed as exc:
        raise ConnectionClosed(
            f"the connection was lost waiting for the ack of {op}, a BUS/RT extension: a broker without it, "
            f"such as the original elbus broker, drops the client that sends it ({exc})"
        ) from exc
