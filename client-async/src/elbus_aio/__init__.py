"""asyncio client for the elbus IPC message broker.

::

    async with await elbus_aio.connect("/tmp/elbus/elbus.sock", "app") as client:
        await client.subscribe("sensors/#")
        await client.send("other", b"hello")
        async for frame in client:
            print(frame.sender, frame.topic, frame.payload)

Built on `elbus_spec.ClientConnection` at the `asyncio.Protocol` level.
Frames are the spec's `Message`, `Broadcast` and `Publication` events; broker
refusals and failed acks raise the spec's `BrokerError` subclasses. Everything
an application needs is importable from here: the client, the frames, `QoS`
and every exception (the same classes as ``elbus_client``, so one ``except``
fits both clients).
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

from ._busy_poll import BusyPoll
from ._client import (
    Client,
    DeniedCallback,
    DisconnectCallback,
    FrameCallback,
    ReconnectCallback,
    connect,
    connect_secondary,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "connect",
    "connect_secondary",
    "BusyPoll",
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
