"""The elbus RPC layer: calls, replies, notifications and method handlers inside MESSAGE frames.

`Rpc` runs on an asyncio client (``elbus_aio``, or anything with its async
contract), `SyncRpc` on the blocking ``elbus_client``. Parameters, results
and notification data are MessagePack unless asked raw; failures raise
`RpcError`, a call without a reply in time `RpcTimeout` (also a
`TimeoutError`).
"""

from elbus_spec import RpcError, RpcErrorCode

from ._async import AsyncClient, Rpc
from ._core import RpcTimeout
from ._handlers import DEFAULT_MAX_CONCURRENT, CallEvent, NotificationEvent, raw
from ._sync import SyncClient, SyncRpc

__version__ = "0.1.0"

__all__ = [
    "Rpc",
    "SyncRpc",
    "CallEvent",
    "NotificationEvent",
    "raw",
    "RpcError",
    "RpcErrorCode",
    "RpcTimeout",
    "DEFAULT_MAX_CONCURRENT",
    "AsyncClient",
    "SyncClient",
    "__version__",
]
