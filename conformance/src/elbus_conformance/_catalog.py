"""Where the shipped traces live and how to pick them by name.

The traces directory sits beside the package in a checkout
(``conformance/traces``) and inside it in a wheel; ``recorded/`` holds the
traces imported from the captures in ``original/``, ``authored/`` those
written from the protocol reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._format import load_trace
from ._model import Trace

__all__ = ["traces_dir", "source_traces_dir", "trace_files", "load_traces", "UnknownTrace"]

_SUBDIRS = ("recorded", "authored")
_PACKAGE_DIR = Path(__file__).resolve().parent


class UnknownTrace(LookupError):
    """A trace name that no shipped trace has."""


def traces_dir() -> Path:
    """The shipped traces directory; raises FileNotFoundError when the installation has none."""
    for candidate in (_PACKAGE_DIR / "traces", _PACKAGE_DIR.parents[1] / "traces"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no traces directory beside or inside the elbus_conformance package")


def source_traces_dir(package_dir: Path = _PACKAGE_DIR) -> Path | None:
    """The traces directory of a source checkout (``conformance/traces``), None for an installed package.

    Only a checkout's traces are rewritten by default (``author``,
    ``import``): an installed package's traces are part of the installation,
    in site-packages, where no command writes.
    """
    if (package_dir / "traces").is_dir():  # the wheel's layout: the traces inside the package
        return None
    checkout = package_dir.parents[1]  # conformance/ above src/elbus_conformance/
    traces = checkout / "traces"
    return traces if traces.is_dir() and (checkout / "pyproject.toml").is_file() else None


def trace_files(directory: Path | None = None) -> list[Path]:
    """Every trace file, recorded first, each subdirectory sorted by name."""
    root = directory or traces_dir()
    return [path for sub in _SUBDIRS for path in sorted((root / sub).glob("*.trace"))]


def load_traces(names: Iterable[str] = (), directory: Path | None = None) -> list[Trace]:
    """The named traces (all when ``names`` is empty) in catalogue order; raises UnknownTrace or TraceSyntaxError."""
    traces = [load_trace(path) for path in trace_files(directory)]
    wanted = list(names)
    if not wanted:
        return traces
    by_name = {trace.name: trace for trace in traces}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise UnknownTrace(f"no trace named {', '.join(missing)} (known: {', '.join(sorted(by_name))})")
    return [by_name[name] for name in wanted]
