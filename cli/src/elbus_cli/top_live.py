"""``elbus top`` at work: sampling the broker over RPC, the live screen, and the keys that end it.

`Sampler` asks ``.broker`` for ``client.stats`` and falls back to
``client.list`` for good when the broker does not have it (an older or the
original broker), so the view works against any broker, metrics or not.
`watch` redraws every interval until ``q`` is pressed (when stdin is a
terminal) or Ctrl-C cancels it; the terminal is restored either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import time
import tty
from collections.abc import Iterator

import msgpack
from rich.console import Console
from rich.live import Live

import elbus_rpc
from elbus_spec import BROKER_NAME, RpcError, RpcErrorCode

from .top import Sample, SampleError, rates, sample_from_result
from .top_view import render

__all__ = ["Sampler", "watch"]

_QUIT_KEYS = frozenset(b"qQ")


class Sampler:
    """Takes samples of the broker's per-client counters through ``rpc``, leaving out the client ``own_name``."""

    def __init__(self, rpc: elbus_rpc.Rpc, own_name: str) -> None:
        self._rpc = rpc
        self._own_name = own_name
        self.method = "client.stats"

    async def sample(self) -> Sample:
        """One sample; raises `RpcError` or `SampleError` for an answer the view cannot use."""
        try:
            result = await self._rpc.call(BROKER_NAME, self.method, b"", raw=True)
        except RpcError as exc:
            if exc.code != RpcErrorCode.METHOD_NOT_FOUND or self.method == "client.list":
                raise
            self.method = "client.list"
            result = await self._rpc.call(BROKER_NAME, self.method, b"", raw=True)
        at = time.monotonic()
        try:
            decoded = msgpack.unpackb(result, raw=False, strict_map_key=False)
        except ValueError:
            raise SampleError(f"the {self.method} result is not MessagePack") from None
        return sample_from_result(decoded, at, skip=(self._own_name,))


@contextlib.contextmanager
def _keys(quit_: asyncio.Event) -> Iterator[None]:
    """While inside, a ``q`` typed on the terminal sets ``quit_`` (keys are read one by one, unechoed).

    Nothing is read when stdin is not a terminal; Ctrl-C still interrupts,
    since only line buffering and echo are turned off.
    """
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if fd < 0 or not os.isatty(fd):
        yield
        return
    loop = asyncio.get_running_loop()
    saved = termios.tcgetattr(fd)

    def read() -> None:
        try:
            typed = os.read(fd, 64)
        except OSError:
            typed = b""
        if not typed or _QUIT_KEYS.intersection(typed):
            quit_.set()

    tty.setcbreak(fd)
    loop.add_reader(fd, read)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def watch(sampler: Sampler, address: str, interval: float, console: Console) -> None:
    """Redraw the view every ``interval`` seconds until ``q``; Ctrl-C cancels it (the caller reports it)."""
    quit_ = asyncio.Event()
    with _keys(quit_), Live(console=console, screen=True, auto_refresh=False, redirect_stderr=False) as live:
        previous = await sampler.sample()
        live.update(render(address, rates(previous, previous), None, height=console.height), refresh=True)
        while not quit_.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await quit_.wait()
            if quit_.is_set():
                break
            current = await sampler.sample()
            view = render(address, rates(previous, current), current.at - previous.at, height=console.height)
            live.update(view, refresh=True)
            previous = current
