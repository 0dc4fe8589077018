"""elbus blocking client: thread-safe sends with ack waits, frames by iterator, queue or callback.

    with elbus_client.connect("/tmp/elbus/elbus.sock", "worker") as client:
        client.subscribe("sensors/#")
        for frame in client:
            print(frame.sender, frame.topic, frame.payload)

Everything an application needs is importable from here: the client, the
frames it receives, `QoS`, and every exception it raises (the same classes
as ``elbus_spec`` and ``elbus_aio``, so one ``except`` fits both clients).
"""

from elbus_spec import (
    DEAD_BROKER_FACTOR,
    AccessDenied,
    Broadcast,
    BrokerError,
    BrokerIOError,
    BrokerTimeout,
    BrokerUnavailable,
    Busy,
    ConnectionClosed,
    ConnectTimeout,
    DataError,
    ElbusError,
    ElbusTimeout,
    Frame,
    FrameTooLarge,
    InvalidTopic,
    LocalProtocolError,
    Message,
    NotDelivered,
    NotRegistered,
    NotSupported,
    OtherError,
    ProtocolError,
    Publication,
    QoS,
    ReceiveTimeout,
    RemoteProtocolError,
    is_unix_address,
)

from ._client import Client, DeniedCallback, DisconnectCallback, FrameCallback, ReconnectCallback, connect
from ._pending import Pending

__version__ = "0.1.0"

__all__ = [
    "Client",
    "connect",
    "Pending",
    "QoS",
    "Frame",
    "Message",
    "Broadcast",
    "Publication",
    "FrameCallback",
    "DisconnectCallback",
    "ReconnectCallback",
    "DeniedCallback",
    "is_unix_address",
    "DEAD_BROKER_FACTOR",
    "ElbusError",
    "ConnectionClosed",
    "BrokerUnavailable",
    "ConnectTimeout",
    "ElbusTimeout",
    "BrokerTimeout",
    "ReceiveTimeout",
    "BrokerError",
    "NotRegistered",
    "NotDelivered",
    "AccessDenied",
    "Busy",
    "DataError",
    "NotSupported",
    "BrokerIOError",
    "OtherError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "FrameTooLarge",
    "InvalidTopic",
    "__version__",
]
