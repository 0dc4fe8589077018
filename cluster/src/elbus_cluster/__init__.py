"""elbus cluster: brokers on many hosts form one bus through NATS.

`NatsCluster` is the plug-in a `elbus_server.Broker` takes with
``Broker(cluster="nats://HOST:PORT", node="a")`` (found through the
``elbus_server.cluster`` entry point) or as an object, for the options
the URL form cannot carry (TLS, credentials files, timeouts).
"""

from .link import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_HEARTBEAT,
    DEFAULT_MAX_PENDING_ACKS,
    DEFAULT_NODE_TIMEOUT,
    DEFAULT_PREFIX,
    NatsCluster,
)
from .subjects import pattern_subject, topic_from_subject, topic_subject

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_MAX_PENDING_ACKS",
    "DEFAULT_NODE_TIMEOUT",
    "DEFAULT_PREFIX",
    "NatsCluster",
    "pattern_subject",
    "topic_from_subject",
    "topic_subject",
]
