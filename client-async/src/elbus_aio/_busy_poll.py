"""Adaptive busy polling: keep the event loop polling instead of sleeping while a connection is busy.

Waking a process that sleeps in ``epoll_wait`` is the dearest part of
passing one small frame on: the writer's kernel has to wake the reader (an
inter-processor interrupt, a VM exit under a hypervisor) and the reader pays
a context switch, together tens of microseconds, several times what handling
the frame costs in Python. A request/reply exchange pays it at every hop.

So after I/O on a connection the loop may keep turning with zero-timeout
polls for a short ``window``: a chunk arriving meanwhile is picked up
without any wake-up. It does so only while that connection is busy, that
is when its previous I/O came less than ``DENSE_GAPS`` windows before, as in
a request/reply exchange or a stream; then the next chunk, on it or on the
connection it talks to, is likely to come in time. A connection used now
and then (keep-alive pings, sparse events) never starts it, however many
such connections there are, so an idle process costs no CPU. The worst case
is one connection busy at a steady pace of a few thousand chunks a second:
the loop then polls through each gap, trading that CPU for the wake-ups it
saves.

Other callbacks of the loop run as usual while it polls; only sleeping is
put off. The broker polls by default (``elbusd --busy-poll``); a client
does when asked (``Client(busy_poll=)``), since it spends its own
process's CPU.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BusyPoll", "DENSE_GAPS"]

DENSE_GAPS = 4  # a connection whose I/O comes less than this many windows apart is busy

_clock = time.perf_counter


class BusyPoll:
    """Polls the loop without sleeping for ``window`` seconds after I/O on a busy connection."""

    __slots__ = ("_dense", "_loop", "_polling", "_until", "_window")

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float) -> None:
        self._loop = loop
        self._window = window
        self._dense = window * DENSE_GAPS
        self._until = 0.0  # poll without sleeping until then
        self._polling = False

    @property
    def polling(self) -> bool:
        """True while the loop is kept from sleeping."""
        return self._polling

    def active(self, previous: float) -> float:
        """I/O on a connection whose previous I/O was at ``previous`` (a value this returned,
        or ``-inf``); poll on if that connection is busy. Returns the time of this I/O."""
        now = _clock()
        if now - previous < self._dense:
            self._until = now + self._window
            if not self._polling:
                self._polling = True
                self._loop.call_soon(self._poll)
        return now

    def stop(self) -> None:
        """Let the loop sleep again at once, and from now on (the connection or the broker closes)."""
        self._until = 0.0
        self._dense = 0.0

    def _poll(self) -> None:
        # A callback that is ready makes the loop's next poll non-blocking.
        if _clock() < self._until:
            self._loop.call_soon(self._poll)
        else:
            self._polling = False
