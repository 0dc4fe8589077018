"""``elbus``: the command-line client of the elbus broker.

``elbus [ADDRESS] [-n NAME] [--timeout S] [--json] COMMAND ...`` with the
commands of the original client (``listen``, ``send``, ``broadcast``,
``publish``, ``rpc``, ``broker``, ``benchmark``). `main` is the console
entry point; run ``python -m elbus_cli --help`` for the details.
"""

from __future__ import annotations

from collections.abc import Sequence

from .defaults import DEFAULT_ADDRESS, ENV_ADDRESS, default_name
from .errors import ExitCode

__all__ = ["DEFAULT_ADDRESS", "ENV_ADDRESS", "ExitCode", "default_name", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``elbus`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code (see `ExitCode`).

    The clients are imported here, not with the package, so that the
    package's constants and helpers stay cheap to import.
    """
    from .app import main as run_main

    return run_main(argv)
