"""API reference pages: one mkdocstrings page per package of the project.

The packages are the ``PACKAGES`` of the root Makefile, the list `make setup`
installs, so a package joins the reference the moment it joins the build,
with no line to add here. Each must import, or the build fails: the
reference never silently lags behind a package.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

__all__ = ["API_DIR", "REPO", "documented_packages", "render_api_pages"]

API_DIR = "api"
REPO = Path(__file__).resolve().parents[2]
_PACKAGES_LINE = re.compile(r"^PACKAGES\s*[:?]?=\s*(?P<dirs>.*)$", re.M)


def documented_packages(repo: Path = REPO) -> dict[str, str]:
    """``import name -> directory`` for every package the Makefile installs, in its order.

    Raises ValueError when the Makefile has no PACKAGES line or a package
    directory has no single ``src/<import name>/``, and ImportError when a
    package does not import.
    """
    match = _PACKAGES_LINE.search((repo / "Makefile").read_text())
    if match is None:
        raise ValueError("the root Makefile has no PACKAGES line")
    found: dict[str, str] = {}
    for directory in match.group("dirs").split():
        names = [p.parent.name for p in (repo / directory / "src").glob("*/__init__.py")]
        if len(names) != 1:
            raise ValueError(f"{directory}/src/ must hold exactly one package, found {names}")
        importlib.import_module(names[0])
        found[names[0]] = directory
    return found


def _summary(name: str) -> str:
    doc = inspect.getdoc(importlib.import_module(name)) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _package_page(name: str) -> str:
    """The package's own reference, then each public submodule (e.g. a generated codec) in full."""
    package = importlib.import_module(name)
    out = [f"# `{name}`", "", f"::: {name}", ""]
    for member in getattr(package, "__all__", ()):
        if inspect.ismodule(getattr(package, member)):
            out += [f"::: {name}.{member}", "    options:", "      show_root_heading: true", ""]
    return "\n".join(out)


def render_api_pages() -> dict[str, tuple[str, str]]:
    """``path -> (nav title, markdown)``: an index, then one page per package."""
    packages = documented_packages()
    pages: dict[str, tuple[str, str]] = {}
    rows = []
    for name, directory in packages.items():
        pages[f"{API_DIR}/{name}.md"] = (name, _package_page(name))
        rows.append(f"| [`{name}`]({name}.md) | `{directory}/` | {_summary(name)} |")
    index = "\n".join(
        [
            "# API reference",
            "",
            "Generated on every build from the docstrings of each package's public API (its `__all__`), "
            "for every package the build installs.",
            "",
            "| package | directory | summary |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )
    return {f"{API_DIR}/index.md": ("Overview", index), **pages}
