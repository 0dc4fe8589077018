"""Which of our modules run compiled: what the benchmark's ``ours`` is made of, against ``pure``."""

from __future__ import annotations

import importlib

from elbus_spec.compiled import compiled_modules as compiled_in

__all__ = ["PACKAGES", "compiled_modules"]

PACKAGES = ("elbus_spec", "elbus_server")  # the packages with modules mypyc compiles (the broker imports both)


def compiled_modules() -> list[str]:
    """The modules of `PACKAGES` that run compiled in this process, as in a broker started from it.

    Empty where nothing was compiled (no C compiler) and under ``ELBUS_PURE=1``.
    """
    found: list[str] = []
    for package in PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError:  # the broker is not installed: nothing of it to compare
            continue
        found += compiled_in(package)
    return found
