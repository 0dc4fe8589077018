"""A one-line progress bar on a terminal, redrawn a few times a second.

The benchmark's workers only bump `Progress.done` (an integer add per
iteration, cheap enough for the hot loops); a background task redraws the
line. On anything but a terminal (a pipe, a file, a test) nothing is drawn,
so logs and captured output stay clean.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TextIO

__all__ = ["Progress", "render_bar"]

_REDRAW_SECONDS = 0.1
_BAR_WIDTH = 30


def render_bar(label: str, done: int, total: int, width: int = _BAR_WIDTH) -> str:
    """The progress line for ``done`` of ``total``: label, bar, percentage and counts."""
    fraction = min(done / total, 1.0) if total > 0 else 1.0
    filled = int(fraction * width)
    return f"{label} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {done:_}/{total:_}"


class Progress:
    """Progress of one stage at a time, drawn on ``stream`` only when it is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.done = 0
        self.total = 0
        self.label = ""

    def _draw(self) -> None:
        # \r returns to the line start, \x1b[K clears what a longer previous line left.
        self.stream.write(f"\r{render_bar(self.label, self.done, self.total)}\x1b[K")
        self.stream.flush()

    async def _redraw(self) -> None:
        while True:
            self._draw()
            await asyncio.sleep(_REDRAW_SECONDS)

    @contextlib.asynccontextmanager
    async def stage(self, label: str, total: int) -> AsyncIterator[Progress]:
        """Count ``total`` iterations of stage ``label``; the line is erased when the stage ends."""
        self.label, self.done, self.total = label, 0, total
        if not self.enabled:
            yield self
            return
        task = asyncio.create_task(self._redraw())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.stream.write("\r\x1b[K")
            self.stream.flush()
