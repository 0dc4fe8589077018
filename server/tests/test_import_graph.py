"""The server package's modules import each other in one direction only, and each imports on its own."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import elbus_server

PACKAGE = Path(elbus_server.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    return (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists()


def _imports(path: Path) -> set[str]:
    """Every elbus_server module ``path`` imports, at any level (inside ``if TYPE_CHECKING:`` too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("elbus_server") and _is_module(n))
    return found - {module}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}


def test_no_import_cycle() -> None:
    graph = _graph()
    assert "elbus_server._router" in graph and graph["elbus_server._transport"]  # the walk sees the package
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module):], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_routing_core_knows_no_transport() -> None:
    """The router reaches clients only through the Peer protocol: it imports neither sockets nor in-process clients."""
    graph = _graph()
    for module in ("elbus_server._router", "elbus_server._outbox", "elbus_server._fanout", "elbus_server._peer"):
        assert not graph[module] & {"elbus_server._transport", "elbus_server._embedded", "elbus_server._broker"}, module


@pytest.mark.parametrize("module", sorted(m for m in _graph() if ".cli" not in m))
def test_each_module_imports_alone(module: str) -> None:
    """Imported first, in a fresh interpreter, every module loads (no order it silently depends on)."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    importlib.import_module(module)
