"""The conformance traces as pages of the site, rendered by the conformance suite itself.

`elbus-conformance render --out DIR` writes one Markdown page per trace
group plus an index; they become ``conformance/traces/*.md``. The traces are
rendered on every build, so the pages always show the traces the suite runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["TRACES_DIR", "render_trace_pages"]

TRACES_DIR = "conformance/traces"
_PACKAGE = "elbus_conformance"
_COMMAND = "elbus-conformance"


def _command() -> str:
    beside = Path(sys.executable).with_name(_COMMAND)
    found = str(beside) if beside.exists() else shutil.which(_COMMAND)
    if found is None:
        raise ValueError(f"{_PACKAGE} is installed but the {_COMMAND} command is not on the PATH")
    return found


def render_trace_pages(packages: list[str]) -> dict[str, tuple[str, str]]:
    """``path -> (nav title, markdown)``, index first; empty when the suite is not part of the build.

    Raises ValueError when rendering fails.
    """
    if _PACKAGE not in packages:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([_command(), "render", "--out", tmp], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ValueError(f"{_COMMAND} render failed: {result.stderr.strip()}")
        out = Path(tmp)
        pages: dict[str, tuple[str, str]] = {}
        for page in sorted(out.glob("*.md"), key=lambda p: (p.name != "index.md", p.name)):
            text = page.read_text(encoding="utf-8")
            title = "Traces" if page.name == "index.md" else page.stem
            pages[f"{TRACES_DIR}/{page.name}"] = (title, text)
    if f"{TRACES_DIR}/index.md" not in pages:
        raise ValueError(f"{_COMMAND} render wrote no index.md")
    return pages
