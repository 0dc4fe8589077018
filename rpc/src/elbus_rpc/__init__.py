"""The elbus RPC layer: calls, replies, notifications and method handlers inside MESSAGE frames.

`Rpc` runs on an asyncio client (``elbus_aio``, or anything with its async
contract), `SyncRpc` on the blocking ``elbus_client``; both are thin I/O
shells around the sans-IO `RpcCore`. Parameters and results are
MessagePack unless asked raw; failures raise `elbus_spec.RpcError`.
"""

from elbus_spec import RpcError, RpcErrorCode

from ._async import AsyncClient, Rpc
from ._core import (
    MAX_CALL_ID,
    RpcCore,
    decode_params,
    decode_result,
    encode_params,
    encode_result,
    error_payload,
    timeout_error,
    transport_error,
)
from ._handlers import CallEvent, NotificationEvent, raw
from ._sync import SyncClient, SyncRpc

__version__ = "0.1.0"

__all__ = [
    "Rpc",
    "SyncRpc",
    "AsyncClient",
    "SyncClient",
    "CallEvent",
    "NotificationEvent",
    "raw",
    "RpcError",
    "RpcErrorCode",
    "RpcCore",
    "MAX_CALL_ID",
    "encode_params",
    "decode_params",
    "encode_result",
    "decode_result",
    "error_payload",
    "transport_error",
    "timeout_error",
    "__version__",
]
