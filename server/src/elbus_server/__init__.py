"""elbus broker: an asyncio server that routes every elbus operation, embeddable in any program.

`Broker` serves UNIX and TCP listeners and in-process `EmbeddedClient`s at
once; ``elbusd`` (`elbus_server.elbusd`) is the standalone command.
"""

from ._acl import Acl, AclError, Rule, load_acl
from ._broker import DEFAULT_BUF_SIZE, DEFAULT_BUSY_POLL, DEFAULT_QUEUE_BYTES, INFO_TOPIC, WARN_TOPIC, Broker
from ._cluster import ClusterHost, ClusterLink, load_cluster
from ._embedded import EmbeddedClient, FrameHandler
from ._peer import ClientKind, Peer
from ._routing import NameTree, TopicTree
from ._version import __version__

__all__ = [
    "DEFAULT_BUF_SIZE",
    "DEFAULT_BUSY_POLL",
    "DEFAULT_QUEUE_BYTES",
    "INFO_TOPIC",
    "WARN_TOPIC",
    "Acl",
    "AclError",
    "Broker",
    "ClientKind",
    "ClusterHost",
    "ClusterLink",
    "EmbeddedClient",
    "FrameHandler",
    "NameTree",
    "Peer",
    "Rule",
    "TopicTree",
    "__version__",
    "load_acl",
    "load_cluster",
]
