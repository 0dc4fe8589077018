"""A warning that a peer can provoke at will, logged at most once per interval."""

from __future__ import annotations

import logging
import time

__all__ = ["ThrottledWarning"]

DEFAULT_INTERVAL = 10.0


class ThrottledWarning:
    """Logs a warning at most once per ``interval`` seconds; the next one logged says how many were left out.

    A client sending junk to an RPC service (the broker's ``.broker`` among
    them) must not turn each frame into a log line: that would let it fill
    the disk or the journal and spend the service's time formatting them.
    """

    __slots__ = ("_interval", "_left_out", "_logger", "_next")

    def __init__(self, logger: logging.Logger, interval: float = DEFAULT_INTERVAL) -> None:
        self._logger = logger
        self._interval = interval
        self._next = 0.0
        self._left_out = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._left_out += 1
            return
        self._next = now + self._interval
        if self._left_out:
            message += " (and %d more like it since the last one logged)"
            args = (*args, self._left_out)
            self._left_out = 0
        self._logger.warning(message, *args)
