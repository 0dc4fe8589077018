"""The files a broker listens on (UNIX sockets, FIFOs): never taken from a live broker, removed only if still ours.

A second broker started on the path of a running one must not unlink its
socket (leaving it unreachable) nor remove the path when it exits. Before
binding, `claim` asks whether anybody answers there: a live socket accepts
a connection and a live FIFO has a reader; only a stale file is replaced.
`Owned` remembers which file was created, so that `Owned.remove` leaves
alone a path some other process has since replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass

__all__ = ["Owned", "claim"]


def claim(path: str) -> None:
    """Make ``path`` free for a new socket or FIFO: remove a stale one there.

    Raises `OSError` (``EADDRINUSE``) if a live listener answers at ``path``;
    anything else there (a regular file, a directory) is left for the bind
    to refuse.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(mode):
        live = _socket_answers(path)
    elif stat.S_ISFIFO(mode):
        live = _fifo_has_reader(path)
    else:
        return
    if live:
        raise OSError(errno.EADDRINUSE, "another broker answers there (stop it first, or pick another path)")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False  # nobody listens: a file left by a broker that died
        except OSError:
            return True  # it exists and refuses us otherwise (a full backlog, permissions): not ours to take
        return True


def _fifo_has_reader(path: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return False  # no reader: nobody serves this FIFO
        return True
    os.close(fd)
    return True


@dataclass(frozen=True, slots=True)
class Owned:
    """A file this broker created at ``path``, known by its device and inode."""

    path: str
    device: int
    inode: int

    @classmethod
    def of(cls, path: str) -> Owned:
        st = os.lstat(path)
        return cls(path, st.st_dev, st.st_ino)

    def remove(self) -> None:
        """Unlink the path if it is still the file this broker created."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == (self.device, self.inode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
