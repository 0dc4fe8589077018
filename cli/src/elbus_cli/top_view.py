"""How ``elbus top`` draws its rows with ``rich``: a table, a total line, and the keys that work.

Nothing here talks to the broker; `render` turns rows (see `elbus_cli.top`)
into a renderable, so the view is the same live, printed once, and in the
screenshot that `save_screenshot` writes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import filesize
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .top import ClientRates

__all__ = ["render", "save_screenshot"]

# Lines around the rows: the title, the table's header and rules, the total and the help line.
_CHROME_LINES = 8


def _frames(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:,.1f}"


def _bytes(value: float) -> str:
    if value < 1000:
        return f"{value:.0f} B/s"
    return filesize.decimal(round(value)) + "/s"  # 1.2 kB/s, 3.4 MB/s


def render(address: str, rows: Sequence[ClientRates], interval: float | None, *, height: int | None = None) -> RenderableType:
    """The view: busiest clients first, cut to ``height`` lines of terminal when given.

    ``interval`` None means the first sample: rates need a second one.
    """
    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    table.add_column("client", no_wrap=True, overflow="ellipsis", min_width=12)
    table.add_column("kind", no_wrap=True)
    for heading in ("in f/s", "in B/s", "out f/s", "out B/s", "queue", "drops"):
        table.add_column(heading, justify="right", no_wrap=True)
    shown = rows if height is None else rows[: max(1, height - _CHROME_LINES)]
    for row in shown:
        table.add_row(
            row.name,
            row.kind,
            _frames(row.in_frames_s),
            _bytes(row.in_bytes_s),
            _frames(row.out_frames_s),
            _bytes(row.out_bytes_s),
            Text(f"{row.queue:,}", style="bold red" if row.queue else ""),
            "" if row.drops is None else Text(f"{row.drops:,}", style="bold red" if row.drops else ""),
        )
    totals = (
        sum(row.in_frames_s for row in rows),
        sum(row.in_bytes_s for row in rows),
        sum(row.out_frames_s for row in rows),
        sum(row.out_bytes_s for row in rows),
    )
    table.add_section()
    hidden = len(rows) - len(shown)
    table.add_row(
        "total",
        f"{len(rows)} clients" + (f", {hidden} below" if hidden else ""),
        _frames(totals[0]),
        _bytes(totals[1]),
        _frames(totals[2]),
        _bytes(totals[3]),
        f"{sum(row.queue for row in rows):,}",
        "" if all(row.drops is None for row in rows) else f"{sum(row.drops or 0 for row in rows):,}",
        style="bold",
    )
    every = "first sample" if interval is None else f"rates over {interval:.2f} s"
    title = Text.assemble(("elbus top", "bold cyan"), f"  {address}  ", (every, "dim"))
    keys = Text("q quit · Ctrl-C quit · in: read from the client, out: written to it", style="dim")
    return Group(title, table, keys)


def save_screenshot(path: str, address: str, rows: Sequence[ClientRates], interval: float, *, width: int = 110) -> None:
    """Write the view as an SVG image (for the documentation), at ``width`` columns."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    console.print(render(address, rows, interval))
    console.save_svg(path, title="elbus top")
