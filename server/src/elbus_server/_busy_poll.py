"""Adaptive busy polling: keep the event loop polling instead of sleeping while traffic is dense.

Waking a process that sleeps in ``epoll_wait`` is the dearest part of
forwarding one small frame: the writer's kernel has to wake the reader (an
inter-processor interrupt, a VM exit under a hypervisor) and the reader pays
a context switch, together tens of microseconds, several times what routing
the frame costs in Python. A request/reply exchange pays it at every hop.

So after a received chunk the broker may keep its loop turning with
zero-timeout polls for a short ``window``: a chunk arriving meanwhile is
picked up without any wake-up. It does so only while the connection the
chunk came from is busy, that is when its previous chunk came less than
``DENSE_GAPS`` windows before, as in a request/reply exchange or a stream;
then the next chunk, from it or from the peer it talks to, is likely to come
in time. A connection that sends now and then (keep-alive pings, sparse
events) never starts it, however many such connections there are, so an
idle or lightly used broker costs no CPU. The worst case is one connection
sending at a steady pace of a few thousand chunks a second: the broker then
polls through each gap, trading that CPU for the wake-ups it saves.

Other callbacks of the loop run as usual while it polls; only sleeping is
put off. ``window`` 0 turns it off.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BusyPoll", "DEFAULT_BUSY_POLL"]

DEFAULT_BUSY_POLL = 100e-6  # seconds: a few wake-ups' worth, enough for a peer to answer a small frame
DENSE_GAPS = 4  # a connection whose chunks come less than this many windows apart is busy

_clock = time.perf_counter


class BusyPoll:
    """Polls the loop without sleeping for ``window`` seconds after each chunk from a busy connection."""

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

    def received(self, previous: float) -> float:
        """A chunk arrived on a connection whose previous chunk arrived at ``previous`` (a value
        this returned, or ``-inf``); poll on if that connection is busy. Returns the arrival time."""
        now = _clock()
        if now - previous < self._dense:
            self._until = now + self._window
            if not self._polling:
                self._polling = True
                self._loop.call_soon(self._poll)
        return now

    def stop(self) -> None:
        """Let the loop sleep again at once, and from now on (the broker closes)."""
        self._until = 0.0
        self._dense = 0.0

    def _poll(self) -> None:
        # A callback that is ready makes the loop's next poll non-blocking.
        if _clock() < self._until:
            self._loop.call_soon(self._poll)
        else:
            self._polling = False
