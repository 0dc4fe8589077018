"""Exit codes of the command line and the error that carries one."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CliError", "ExitCode"]


class ExitCode(IntEnum):
    """What ``elbus`` exits with; scripts rely on these numbers, so they never change."""

    OK = 0
    #: The broker refused an operation (a failed ack) or an RPC call failed.
    ERROR = 1
    #: Bad command line or bad input (also argparse's own code).
    USAGE = 2
    #: The broker could not be reached, refused the client, or went away.
    CONNECTION = 3
    #: Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
    INTERRUPTED = 130


class CliError(Exception):
    """A failure to report on stderr as ``elbus: <message>`` before exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
