"""Where the command line finds the broker, and the name it registers, unless told otherwise."""

from __future__ import annotations

import os
import socket
import tempfile

__all__ = ["DEFAULT_ADDRESS", "ENV_ADDRESS", "default_name"]

#: Where ``make run`` starts the broker (it also listens on TCP 127.0.0.1:7777).
DEFAULT_ADDRESS = os.path.join(tempfile.gettempdir(), "elbus", "elbus.sock")
#: The environment variable that, when set, replaces `DEFAULT_ADDRESS`.
ENV_ADDRESS = "ELBUS_SOCKET"


def default_name() -> str:
    """A client name unique on this host: ``elbus-cli.<host>.<pid>``."""
    return f"elbus-cli.{socket.gethostname()}.{os.getpid()}"
