"""API reference pages: one mkdocstrings page per package of the project.

The packages are the ``PACKAGES`` of the root Makefile, the list `make setup`
installs and `make dist` builds: a package joins the reference the moment it
joins the build, with no line to add here. Each must import, or the build
fails: the reference never silently lags behind a package. The one way out
is `WITHOUT_API_PAGE`, which names a package directory and says why it has
no page; the index shows that reason.

A page opens with the package's docstring and the names of `LEADS` (the main
class a reader comes for), then the rest of its ``__all__`` in groups:
classes, functions, constants and types, exceptions, submodules, each group
in ``__all__`` order.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

__all__ = ["API_DIR", "LEADS", "REPO", "WITHOUT_API_PAGE", "documented_packages", "packages_without_page", "render_api_pages"]

API_DIR = "api"
REPO = Path(__file__).resolve().parents[2]
_PACKAGES_LINE = re.compile(r"^PACKAGES\s*[:?]?=\s*(?P<dirs>.*)$", re.M)

#: Package directories of the build that have no API page, and why (shown on the API index).
WITHOUT_API_PAGE: dict[str, str] = {
    "bench": "a benchmark program, not a library: its commands are on [Performance](../performance.md)",
}

#: The names that open a package's page, main class first; a package not listed opens with its classes.
LEADS: dict[str, tuple[str, ...]] = {
    "elbus_spec": ("ClientConnection", "BrokerConnection"),
    "elbus_client": ("Client", "connect"),
    "elbus_aio": ("Client", "connect"),
    "elbus_rpc": ("Rpc", "SyncRpc"),
    "elbus_server": ("Broker", "EmbeddedClient"),
    "elbus_cli": ("main",),
    "elbus_conformance": ("run_traces", "run_client_traces", "load_traces", "TracePlayer"),
}

_GROUPS = ("Classes", "Functions", "Constants and types", "Exceptions", "Submodules")


def _build_dirs(repo: Path) -> list[str]:
    match = _PACKAGES_LINE.search((repo / "Makefile").read_text())
    if match is None:
        raise ValueError("the root Makefile has no PACKAGES line")
    return match.group("dirs").split()


def documented_packages(repo: Path = REPO) -> dict[str, str]:
    """``import name -> directory`` for every package the Makefile installs that has a page, in its order.

    Raises ValueError when the Makefile has no PACKAGES line or a package
    directory has no single ``src/<import name>/``, and ImportError when a
    package does not import.
    """
    found: dict[str, str] = {}
    for directory in _build_dirs(repo):
        if directory in WITHOUT_API_PAGE:
            continue
        names = [p.parent.name for p in (repo / directory / "src").glob("*/__init__.py")]
        if len(names) != 1:
            raise ValueError(f"{directory}/src/ must hold exactly one package, found {names}")
        importlib.import_module(names[0])
        found[names[0]] = directory
    return found


def packages_without_page(repo: Path = REPO) -> dict[str, str]:
    """``directory -> reason`` for the packages of the build that `WITHOUT_API_PAGE` keeps off the reference."""
    return {d: WITHOUT_API_PAGE[d] for d in _build_dirs(repo) if d in WITHOUT_API_PAGE}


def _summary(package: ModuleType) -> str:
    doc = inspect.getdoc(package) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _group(value: object) -> str:
    if inspect.ismodule(value):
        return "Submodules"
    if inspect.isclass(value):
        return "Exceptions" if issubclass(value, BaseException) else "Classes"
    if inspect.isroutine(value):
        return "Functions"
    return "Constants and types"


def ordered_names(package: ModuleType) -> dict[str, list[str]]:
    """``group -> names`` of the package's ``__all__``: its leads open the first group, the rest keep their order."""
    public: list[str] = list(getattr(package, "__all__", ()))
    leads = [name for name in LEADS.get(package.__name__, ()) if name in public]
    groups: dict[str, list[str]] = {group: [] for group in _GROUPS}
    for name in leads + [name for name in public if name not in leads]:
        groups[_group(getattr(package, name))].append(name)
    if leads:
        groups = {"Main": leads, **{g: [n for n in names if n not in leads] for g, names in groups.items()}}
    return {group: names for group, names in groups.items() if names}


def _package_page(name: str) -> str:
    """The package's docstring, then each public name under its group's heading."""
    package = importlib.import_module(name)
    out = [f"# `{name}`", "", f"::: {name}", "    options:", "      members: false", "      show_root_heading: false", ""]
    for group, names in ordered_names(package).items():
        lead = group == "Main"  # the leads stand at the top level of the page, the rest under their group
        out += [] if lead else [f"## {group}", ""]
        options = [] if lead else ["    options:", "      heading_level: 3"]
        for member in names:
            out += [f"::: {name}.{member}", *options, ""]
    return "\n".join(out)


def render_api_pages() -> dict[str, tuple[str, str]]:
    """``path -> (nav title, markdown)``: an index, then one page per package."""
    pages: dict[str, tuple[str, str]] = {}
    rows = []
    for name, directory in documented_packages().items():
        pages[f"{API_DIR}/{name}.md"] = (name, _package_page(name))
        rows.append(f"| [`{name}`]({name}.md) | `{directory}/` | {_summary(importlib.import_module(name))} |")
    rows += [f"| (no API page) | `{directory}/` | {reason} |" for directory, reason in packages_without_page().items()]
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
