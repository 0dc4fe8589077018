"""elbus broker: an asyncio server that routes every elbus operation, embeddable in any program.

`Broker` serves UNIX and TCP listeners and in-process `EmbeddedClient`s at
once; ``elbusd`` (`elbus_server.elbusd`) is the standalone command.
Plug-ins (the cluster) build on `elbus_server.plugin`.
"""

# ruff: noqa: E402 (the modules are imported once `prefer_source` has chosen compiled or pure Python)

from elbus_spec.compiled import prefer_source

prefer_source(__name__, __path__)

from ._acl import Acl, AclError, Rule, load_acl
from ._broker import (
    DEFAULT_BUF_SIZE,
    DEFAULT_BUSY_POLL,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_TOPIC_DEPTH,
    DEFAULT_MAX_TOPIC_LENGTH,
    DEFAULT_QUEUE_BYTES,
    INFO_TOPIC,
    WARN_TOPIC,
    Broker,
)
from ._embedded import EmbeddedClient, FrameHandler
from ._peer import ClientKind
from ._stats import DEFAULT_METRICS_CLIENTS, BrokerStats, ClientStats
from ._version import __version__

__all__ = [
    "DEFAULT_BUF_SIZE",
    "DEFAULT_BUSY_POLL",
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_MAX_TOPIC_DEPTH",
    "DEFAULT_MAX_TOPIC_LENGTH",
    "DEFAULT_METRICS_CLIENTS",
    "DEFAULT_QUEUE_BYTES",
    "INFO_TOPIC",
    "WARN_TOPIC",
    "Acl",
    "AclError",
    "Broker",
    "BrokerStats",
    "ClientKind",
    "ClientStats",
    "EmbeddedClient",
    "FrameHandler",
    "Rule",
    "__version__",
    "load_acl",
]
