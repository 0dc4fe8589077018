"""The code examples of the guide pages and the package READMEs: found, classified and checked to be runnable.

Every ``python`` fence of a guide or README is preceded by a marker comment
that says how a test runs it, so no example can be added without being run:

* ``<!-- example -->`` runs as it is (it needs no broker, or starts its own);
* ``<!-- example: broker -->`` runs against the broker `make run` starts:
  its UNIX socket `DEFAULT_ADDRESS` or its TCP address `DEFAULT_TCP_ADDRESS`
  (the test substitutes the addresses of the broker it starts);
* ``<!-- example: broker background name=NAME expect=TEXT -->`` is a
  long-running program (a listener, an RPC server): the test starts it, waits
  until the client ``NAME`` is registered, runs the page's next examples, then
  stops it and checks that its output contains ``TEXT``;
* ``<!-- example: fragment -->`` is an excerpt that is compiled, not run
  (it may ``await`` at the top level: it stands for the body of a coroutine).

``expect=TEXT`` on any example that runs (repeatable): its output must contain TEXT.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TCP_ADDRESS",
    "CodeExample",
    "MarkerError",
    "find_examples",
    "guide_pages",
    "readme_pages",
    "required_modules",
]

# Where `make run` starts the broker (its UNIX socket is under $TMPDIR, /tmp unless set otherwise).
DEFAULT_ADDRESS = "/tmp/elbus/elbus.sock"
DEFAULT_TCP_ADDRESS = "127.0.0.1:7777"
_KINDS = {"run", "broker", "fragment"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
_MARKER = re.compile(r"<!--\s*example(?::\s*(?P<args>.*?))?\s*-->\s*$")


class MarkerError(ValueError):
    """A python fence without a valid example marker (the build and the test refuse it)."""


@dataclass(frozen=True)
class CodeExample:
    """One python example of a guide page."""

    page: str
    line: int
    code: str
    kind: str  # run | broker | fragment
    background: bool = False
    options: dict[str, str] = field(default_factory=dict)
    expects: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _marker(page: str, line: int, text_before: str) -> tuple[str, bool, dict[str, str], tuple[str, ...]]:
    previous = [ln for ln in text_before.splitlines() if ln.strip()]
    match = _MARKER.search(previous[-1]) if previous else None
    if match is None:
        raise MarkerError(f"{page}:{line}: a python example needs an <!-- example ... --> marker on the line before it")
    words = shlex.split(match.group("args") or "")
    kind = "run"
    background = False
    options: dict[str, str] = {}
    expects: list[str] = []
    for word in words:
        if word.startswith("expect="):
            expects.append(word.removeprefix("expect="))
        elif "=" in word:
            key, value = word.split("=", 1)
            options[key] = value
        elif word == "background":
            background = True
        elif word in _KINDS:
            kind = word
        else:
            raise MarkerError(f"{page}:{line}: unknown example marker word {word!r}")
    if background and ("name" not in options or kind != "broker"):
        raise MarkerError(f"{page}:{line}: a background example needs 'broker' and name=CLIENT_NAME")
    return kind, background, options, tuple(expects)


def find_examples(page: str, markdown: str) -> list[CodeExample]:
    """Every python fence of ``markdown`` with its marker; raises MarkerError on a fence without one."""
    found = []
    for match in _FENCE.finditer(markdown):
        if match.group("lang") not in ("python", "py"):
            continue
        line = markdown.count("\n", 0, match.start()) + 1
        kind, background, options, expects = _marker(page, line, markdown[: match.start()])
        indent = match.group("indent")
        code = "".join(ln[len(indent) :] if ln.startswith(indent) else ln for ln in match.group("code").splitlines(True))
        found.append(CodeExample(page, line, code, kind, background, options, expects))
    return found


def required_modules(example: CodeExample) -> set[str]:
    """Top-level modules an example imports (so a test can skip it when one is not installed)."""
    modules = set()
    for node in ast.walk(ast.parse(example.code)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def guide_pages(docs_dir: Path) -> dict[str, str]:
    """``page -> markdown`` of every hand-written page (generated pages have no examples)."""
    return {str(p.relative_to(docs_dir)): p.read_text() for p in sorted(docs_dir.rglob("*.md")) if "tests" not in p.parts}


def readme_pages(repo: Path) -> dict[str, str]:
    """``README path -> markdown`` of the repository's README and every package's (their examples run too)."""
    readmes = [repo / "README.md", *sorted(repo.glob("*/README.md"))]
    return {str(p.relative_to(repo)): p.read_text() for p in readmes if p.is_file()}
