"""Compiled or pure Python: which one runs, and ``ELBUS_PURE=1`` to choose the pure one.

The hot loops of the spec (codec, receive buffer, both connections) and of
the broker's routing path are compiled with mypyc from their typed source
where a C compiler exists (``make setup``, or the platform wheels of
``make dist``). A compiled module is an extension module beside its
``.py`` file, and Python imports the extension first.

With the environment variable ``ELBUS_PURE`` set (to anything but ``""``
or ``"0"``) when a package is first imported, a package that calls
`prefer_source` imports its modules from their ``.py`` files instead: one
installation then runs either way, to compare the two (``make bench``), to
test the pure-Python fallback, or to profile Python lines.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from types import ModuleType

__all__ = ["PURE_ENV", "compiled_modules", "is_compiled", "prefer_source", "pure_requested"]

PURE_ENV = "ELBUS_PURE"


def pure_requested() -> bool:
    """Whether ``ELBUS_PURE`` asks for the pure-Python modules."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (compiled) rather than Python source."""
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(EXTENSION_SUFFIXES))


def compiled_modules(package: str) -> list[str]:
    """The modules of ``package`` loaded so far that run compiled, by name."""
    prefix = package + "."
    return sorted(name for name, module in list(sys.modules.items()) if name.startswith(prefix) and is_compiled(module))


class _SourceFinder(MetaPathFinder):
    """Finds the modules of one package in their ``.py`` files, ahead of the extension modules beside them."""

    def __init__(self, package: str, directory: str) -> None:
        self.package = package
        self.directory = directory

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != self.package:
            return None
        source = os.path.join(self.directory, name + ".py")
        if not os.path.isfile(source):
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def prefer_source(package: str, path: Sequence[str]) -> None:
    """Import the modules of ``package`` (found in ``path``, its ``__path__``) from source if ``ELBUS_PURE`` says so.

    A package calls it first thing in its ``__init__``, before it imports any of its modules.
    """
    if pure_requested() and not any(isinstance(f, _SourceFinder) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(package, path[0]))
