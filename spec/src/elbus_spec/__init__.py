"""elbus wire protocol: the construct spec, the generated codec, sans-IO connections.

Everything the broker and the clients share lives here and nothing here does
I/O: `BrokerConnection` and `ClientConnection` turn received bytes into
events and events into bytes; `elbus_spec.schema` is the declarative spec;
the runtime codec in ``elbus_spec._codec`` is generated from it.
"""

# ruff: noqa: E402 (the modules are imported once `prefer_source` has chosen compiled or pure Python)

from .compiled import prefer_source

prefer_source(__name__, __path__)

from . import _codec as codec
from . import rpc
from ._base import State
from ._codec import NOP_FRAME as NOP_FRAME
from ._codec import PING_FRAME as PING_FRAME
from .address import Endpoint as Endpoint
from .address import is_unix_address as is_unix_address
from .address import parse_address as parse_address
from .broker_connection import BrokerConnection, RawMessage
from .client_connection import ClientConnection
from .constants import (
    BROKER_NAME,
    DEAD_BROKER_FACTOR,
    DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_PING_INTERVAL,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RECONNECT_DELAY,
    DEFAULT_TIMEOUT,
    Code,
    Kind,
    Op,
    QoS,
    RpcErrorCode,
    RpcType,
)
from .constants import (
    GREETING as GREETING,
)
from .constants import (
    PROTOCOL_VERSION as PROTOCOL_VERSION,
)
from .constants import (
    SECONDARY_SEPARATOR as SECONDARY_SEPARATOR,
)
from .constants import (
    primary_name as primary_name,
)
from .errors import (
    AccessDenied,
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
    FrameTooLarge,
    InvalidTopic,
    LocalProtocolError,
    NotDelivered,
    NotRegistered,
    NotSupported,
    OtherError,
    ProtocolError,
    ReceiveTimeout,
    RemoteProtocolError,
    RpcError,
    RpcTimeout,
)
from .errors import (
    error_for_code as error_for_code,
)
from .events import (
    Ack,
    Broadcast,
    BroadcastRequest,
    Event,
    ExcludeRequest,
    Frame,
    HandshakeComplete,
    KeepAlive,
    Message,
    MessageRequest,
    Ping,
    ProtocolViolation,
    Publication,
    PublishForRequest,
    PublishRequest,
    Refused,
    Registered,
    RegistrationRequest,
    Request,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
)

# The RPC layer's payloads: `elbus_spec.rpc` is their home (and API page); elbus_rpc and the
# broker import them from here too, without this package advertising them.
from .rpc import RpcErrorReply as RpcErrorReply
from .rpc import RpcEvent as RpcEvent
from .rpc import RpcNotification as RpcNotification
from .rpc import RpcReply as RpcReply
from .rpc import RpcRequest as RpcRequest
from .rpc import encode_error as encode_error
from .rpc import encode_notification as encode_notification
from .rpc import encode_reply as encode_reply
from .rpc import encode_request as encode_request
from .rpc import parse_rpc as parse_rpc

__version__ = "0.1.0"

# What a program built on the sans-IO layer uses. Wire-level values (the greeting,
# ping and keep-alive bytes) live in `codec`; the address and name helpers the
# sibling packages share stay importable from here without being advertised.
__all__ = [
    "codec",
    "rpc",
    # connections
    "BrokerConnection",
    "ClientConnection",
    "State",
    "RawMessage",
    # events
    "Event",
    "Frame",
    "Message",
    "Broadcast",
    "Publication",
    "Ack",
    "KeepAlive",
    "Registered",
    "Refused",
    "ProtocolViolation",
    "HandshakeComplete",
    "RegistrationRequest",
    "Request",
    "Ping",
    "MessageRequest",
    "BroadcastRequest",
    "PublishRequest",
    "PublishForRequest",
    "SubscribeRequest",
    "UnsubscribeRequest",
    "ExcludeRequest",
    "UnexcludeRequest",
    # constants
    "Code",
    "Kind",
    "Op",
    "QoS",
    "RpcErrorCode",
    "RpcType",
    "BROKER_NAME",
    "DEFAULT_MAX_FRAME_LENGTH",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_TIMEOUT",
    "DEAD_BROKER_FACTOR",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_RECONNECT_DELAY",
    # errors
    "ElbusError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "BrokerError",
    "AccessDenied",
    "BrokerUnavailable",
    "Busy",
    "ConnectTimeout",
    "DataError",
    "ElbusTimeout",
    "FrameTooLarge",
    "InvalidTopic",
    "NotDelivered",
    "NotRegistered",
    "NotSupported",
    "OtherError",
    "BrokerIOError",
    "BrokerTimeout",
    "ReceiveTimeout",
    "ConnectionClosed",
    "RpcError",
    "RpcTimeout",
]
