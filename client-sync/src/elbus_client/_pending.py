"""`Pending`: the broker's acknowledgement of one operation, awaited from any thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from elbus_spec import BrokerTimeout, Code, error_for_code

from ._errors import ConnectionClosed

__all__ = ["Pending", "DONE"]

_log = logging.getLogger("elbus_client")


class Pending:
    """The outcome of an operation sent with an acknowledged QoS.

    Resolved by the client's reader thread when the ack arrives, or failed
    when the connection ends. `wait` returns None for ack ``01`` and raises
    the `elbus_spec.BrokerError` subclass for any other code.
    """

    __slots__ = ("_callbacks", "_closed", "_code", "_event", "description", "op_id")

    def __init__(self, op_id: int, description: str) -> None:
        self.op_id = op_id
        self.description = description
        self._event = threading.Event()
        self._code: int | None = None
        self._closed: str | None = None
        self._callbacks: list[Callable[[Pending], object]] = []

    def __repr__(self) -> str:
        if not self._event.is_set():
            state = "pending"
        elif self._closed is not None:
            state = f"failed: {self._closed}"
        else:
            state = f"code 0x{self._code:02x}"
        return f"<Pending op {self.op_id} {self.description} {state}>"

    def done(self) -> bool:
        """True once the ack arrived or the connection ended."""
        return self._event.is_set()

    @property
    def code(self) -> int | None:
        """The broker's result code, None while waiting or when the connection ended first."""
        return self._code

    def wait(self, timeout: float | None = None) -> None:
        """Block until the ack; ``timeout`` None waits as long as the connection lives.

        Raises the `elbus_spec.BrokerError` subclass for a non-OK code,
        `elbus_spec.BrokerTimeout` when ``timeout`` seconds pass first (the
        operation stays pending and may still be waited for), and
        `ConnectionClosed` when the connection ended before the ack.
        Never call it on the reader thread (from ``on_frame``): the ack
        could not be read while that thread waits.
        """
        if not self._event.wait(timeout):
            raise BrokerTimeout(f"no ack for {self.description} (op {self.op_id}) within {timeout} s")
        code = self._code
        if code is None:  # set means resolved or failed: without a code it failed
            raise ConnectionClosed(self._closed or "the connection ended")
        if code != Code.OK:
            raise error_for_code(code, f"{self.description} (op {self.op_id}): broker code 0x{code:02x}")

    def add_done_callback(self, callback: Callable[[Pending], object]) -> None:
        """Call ``callback(pending)`` once done: at once if it already is, else on the thread that resolves it."""
        self._callbacks.append(callback)
        if self._event.is_set():
            self._run_callbacks()

    # --- resolution, by the client only -------------------------------------------

    def _resolve(self, code: int) -> None:
        self._code = code
        self._event.set()
        self._run_callbacks()

    def _fail(self, reason: str) -> None:
        self._closed = reason
        self._event.set()
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        while callbacks:  # pop each one so a racing add/resolve never runs a callback twice
            try:
                callback = callbacks.pop(0)
            except IndexError:
                return
            try:
                callback(self)
            except Exception:  # a callback's bug must not kill the reader thread that resolves acks
                _log.exception("done callback of %r failed", self)


class _Done(Pending):
    """An operation that needs no ack: done as soon as it is written."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(0, "an operation without ack")
        self._code = Code.OK
        self._event.set()

    def add_done_callback(self, callback: Callable[[Pending], object]) -> None:
        callback(self)  # shared instance: never store callbacks on it


DONE = _Done()
