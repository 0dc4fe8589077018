"""elbus blocking client: thread-safe sends with ack waits, frames by iterator, queue or callback.

    with elbus_client.connect("/tmp/elbus/elbus.sock", "worker") as client:
        client.subscribe("sensors/#")
        for frame in client:
            print(frame.sender, frame.topic, frame.payload)
"""

from elbus_spec import Broadcast, ConnectionClosed, Frame, Message, Publication, QoS, is_unix_address

from ._client import Client, connect
from ._pending import Pending
from ._session import DEAD_BROKER_FACTOR

__version__ = "0.1.0"

__all__ = [
    "Client",
    "connect",
    "ConnectionClosed",
    "Pending",
    "DEAD_BROKER_FACTOR",
    "is_unix_address",
    "Broadcast",
    "Frame",
    "Message",
    "Publication",
    "QoS",
    "__version__",
]
