"""A trace in memory: its header and its steps, one frozen dataclass per kind of step.

Steps are in causal order. Within one connection the order is strict; across
connections a replay only waits for what it expects, so frames the broker
sends on different connections may arrive in any wall-clock order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._pattern import Literal, Unit

__all__ = ["Connect", "Send", "Expect", "Silence", "Closed", "Close", "Do", "Comment", "Step", "Trace"]


@dataclass(frozen=True, slots=True)
class Connect:
    """``connect a``: a client opens connection ``conn``."""

    conn: str
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Send:
    """``a> ...``: the client writes these bytes in one write (``bytewise``: one byte per write)."""

    conn: str
    units: tuple[Unit, ...]
    bytewise: bool = False
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)

    @property
    def data(self) -> bytes:
        return b"".join(piece.data for unit in self.units for piece in unit if isinstance(piece, Literal))


@dataclass(frozen=True, slots=True)
class Expect:
    """``a< ...``: the broker sends these units next on ``conn`` (keep-alive NOPs may come between)."""

    conn: str
    units: tuple[Unit, ...]
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Silence:
    """``a< nothing``: nothing but keep-alive NOPs arrives on ``conn`` within the silence window."""

    conn: str
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Closed:
    """``a< closed``: the broker closes ``conn`` (within the close deadline), sending nothing else first."""

    conn: str
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Close:
    """``a closes``: the client closes ``conn``."""

    conn: str
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Do:
    """``a! verb arg ...``: what a client library is asked to do (client mode); the next steps hold its bytes."""

    conn: str
    verb: str
    args: tuple[str, ...]
    note: str = field(default="", kw_only=True)
    line: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Comment:
    """A whole-line ``# ...`` comment, kept so that a trace written back reads the same."""

    text: str
    line: int = field(default=0, kw_only=True, compare=False)


Step = Connect | Send | Expect | Silence | Closed | Close | Do | Comment


@dataclass(frozen=True, slots=True)
class Trace:
    """One scenario: a name, where it comes from, what varies between runs, and its steps."""

    name: str
    title: str
    group: str
    provenance: str
    steps: tuple[Step, ...]
    varies: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def slow(self) -> bool:
        """Whether the trace waits for the broker's timeout (tag ``slow``)."""
        return "slow" in self.tags

    @property
    def client_mode(self) -> bool:
        """Whether the trace writes its client library actions (``a!`` lines); client mode derives them for the others."""
        return any(isinstance(step, Do) for step in self.steps)
