"""asyncio client for the elbus IPC message broker.

::

    async with await elbus_aio.connect("/tmp/elbus/elbus.sock", "app") as client:
        await client.subscribe("sensors/#")
        await client.send("other", b"hello")
        async for frame in client:
            print(frame.sender, frame.topic, frame.payload)

Built on `elbus_spec.ClientConnection` at the `asyncio.Protocol` level.
Frames are the spec's `Message`, `Broadcast` and `Publication` events; broker
refusals and failed acks raise the spec's `BrokerError` subclasses.
"""

from elbus_spec import (
    AccessDenied,
    Broadcast,
    BrokerError,
    Busy,
    ConnectionClosed,
    ElbusError,
    Frame,
    Message,
    NotDelivered,
    NotRegistered,
    Publication,
    QoS,
    is_unix_address,
)

from ._busy_poll import BusyPoll
from ._client import Client, FrameCallback, connect, connect_secondary

__version__ = "0.1.0"

__all__ = [
    "BusyPoll",
    "Client",
    "connect",
    "connect_secondary",
    "ConnectionClosed",
    "FrameCallback",
    "is_unix_address",
    "QoS",
    "Frame",
    "Message",
    "Broadcast",
    "Publication",
    "ElbusError",
    "BrokerError",
    "NotRegistered",
    "NotDelivered",
    "AccessDenied",
    "Busy",
    "__version__",
]
