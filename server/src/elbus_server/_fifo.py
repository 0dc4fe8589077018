"""The broker API FIFO: a named pipe taking one text command per line, sent by ``.broker``.

Line forms (as the original, for shell scripts: ``echo ... > fifo``):

- ``TARGET PAYLOAD``: a message, or a broadcast when TARGET has ``*`` or ``?``;
- ``=TOPIC PAYLOAD``: a publication;
- ``TARGET .PAYLOAD``: an RPC notification;
- ``TARGET :method k=v k=v``: an RPC call without reply (call0), the
  parameters sent as a MessagePack map (values become true/false, integers,
  floats or strings).

PAYLOAD is the rest of the line (the original kept only its first word).
Parsing is pure (`parse_fifo_line`); `FifoListener` does the reading.

Writing to the FIFO means sending as the broker itself (``.broker``): a
line can reach every client, including a fake ``.broker/warn`` notice. The
pipe is therefore owner-only by default, and when access control is set,
each command must be allowed to the client named `FIFO_IDENTITY`
(``.broker.fifo``) by the rules, like a socket client's frames.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from elbus_spec import encode_notification, encode_request

from ._paths import Owned, claim

__all__ = ["DEFAULT_FIFO_MODE", "FIFO_IDENTITY", "FifoCommand", "FifoListener", "parse_fifo_line", "parse_param_value"]

DEFAULT_FIFO_MODE = 0o600  # writing a command means sending as the broker: its owner only, unless widened
# The name access control judges FIFO commands by (they are still sent as ``.broker``, as the original's).
FIFO_IDENTITY = ".broker.fifo"

logger = logging.getLogger("elbus_server")

_MAX_LINE = 1024 * 1024  # a writer that never sends a newline must not grow the buffer without bound


@dataclass(frozen=True, slots=True)
class FifoCommand:
    """One parsed line: ``op`` is "message", "broadcast" or "publish"; ``address`` the target, mask or topic."""

    op: str
    address: str
    payload: bytes


def parse_param_value(text: str) -> bool | int | float | str:
    if text == "true":
        return True
    if text == "false":
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_fifo_line(line: str) -> FifoCommand | None:
    """The command in one line (None for a blank line); raises `ValueError` for a malformed one."""
    line = line.strip()
    if not line:
        return None
    address, _, rest = line.partition(" ")
    if address.startswith("="):
        if len(address) == 1:
            raise ValueError("publish: no topic after '='")
        return FifoCommand("publish", address[1:], rest.encode())
    if rest.startswith("."):
        return FifoCommand("message", address, encode_notification(rest[1:].encode()))
    if rest.startswith(":"):
        words = rest[1:].split()
        if not words:
            raise ValueError("call: no method after ':'")
        method, *pairs = words
        params: dict[str, Any] = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise ValueError(f"call: parameter {pair!r} is not key=value")
            params[key] = parse_param_value(value)
        return FifoCommand("message", address, encode_request(0, method, msgpack.packb(params)))
    op = "broadcast" if ("*" in address or "?" in address) else "message"
    return FifoCommand(op, address, rest.encode())


class FifoListener:
    """Reads commands from a named pipe without blocking the event loop and hands each to ``execute``.

    The pipe is created with permission bits ``mode`` (owner-only by
    default: whoever may write to it sends as the broker); a stale pipe at
    ``path`` is replaced, a live one (another broker reads it) is left alone
    with `OSError` (``EADDRINUSE``). It is opened read-write so that it never
    reports end-of-file when a writer closes it, and removed at `close` only
    if it is still the one created here. Raises `OSError` if it cannot be made.
    """

    def __init__(self, path: str, execute: Callable[[FifoCommand], None], mode: int = DEFAULT_FIFO_MODE) -> None:
        self.path = path
        self._execute = execute
        self._buf = bytearray()
        claim(path)
        os.mkfifo(path, mode)
        os.chmod(path, mode)  # exactly these bits, whatever the umask
        self._owned = Owned.of(path)
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        self._buf += data
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest)
        if len(self._buf) > _MAX_LINE:
            logger.warning("%s: line longer than %d bytes discarded", self.path, _MAX_LINE)
            self._buf.clear()
        for raw in lines:
            try:
                command = parse_fifo_line(raw.decode())
                if command is not None:
                    self._execute(command)
            except (ValueError, UnicodeDecodeError) as exc:
                logger.warning("%s: bad command %r: %s", self.path, bytes(raw[:100]), exc)

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._owned.remove()
