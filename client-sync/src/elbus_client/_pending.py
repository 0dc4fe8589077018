"""`Pending`: the broker's acknowledgement of one operation, awaited from any thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from elbus_spec import BrokerTimeout, Code, ConnectionClosed, error_for_code

__all__ = ["Pending", "DONE"]

_log = logging.getLogger("elbus_client")

# One lock for the bookkeeping of every Pending, held for a few bytecodes at a
# time: a pipelined sender creates thousands of them, and a threading.Event
# each (a Condition and a lock, ~5 us) would cost as much as the write itself.
# A waiter parks on a lock of its own, created only when it has to wait.
_guard = threading.Lock()

Callback = Callable[["Pending"], object]


class Pending:
    """The outcome of an operation sent with an acknowledged QoS.

    Resolved by the client's reader thread when the ack arrives, or failed
    when the connection ends. `wait` returns None for ack ``01`` and raises
    the `elbus_spec.BrokerError` subclass for any other code.
    """

    __slots__ = ("_callbacks", "_closed", "_code", "_done", "_waiters", "description", "op_id")

    def __init__(self, op_id: int, description: str) -> None:
        self.op_id = op_id
        self.description = description
        self._done = False
        self._code: int | None = None
        self._closed: str | None = None
        self._waiters: list[threading.Lock] | None = None
        self._callbacks: list[Callback] | None = None

    def __repr__(self) -> str:
        if not self._done:
            state = "pending"
        elif self._code is None:
            state = f"failed: {self._closed}"
        else:
            state = f"code 0x{self._code:02x}"
        return f"<Pending op {self.op_id} {self.description} {state}>"

    def done(self) -> bool:
        """True once the ack arrived or the connection ended."""
        return self._done

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
        if not self._done and not self._park(timeout):
            raise BrokerTimeout(f"no ack for {self.description} (op {self.op_id}) within {timeout} s")
        code = self._code
        if code is None:
            raise ConnectionClosed(self._closed or "the connection ended")
        if code != Code.OK:
            raise error_for_code(code, f"{self.description} (op {self.op_id}): broker code 0x{code:02x}")

    def _park(self, timeout: float | None) -> bool:
        """Sleep until resolved; False on timeout."""
        waiter = threading.Lock()
        waiter.acquire()
        with _guard:
            if self._done:
                return True
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
        if waiter.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return True
        with _guard:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return self._done

    def add_done_callback(self, callback: Callback) -> None:
        """Call ``callback(pending)`` once done: at once if it already is, else on the thread that resolves it."""
        with _guard:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        self._call(callback)

    # --- resolution, by the client only -------------------------------------------

    def _resolve(self, code: int) -> None:
        self._code = code
        self._set()

    def _fail(self, reason: str) -> None:
        self._closed = reason
        self._set()

    def _set(self) -> None:
        with _guard:
            self._done = True
            waiters, self._waiters = self._waiters, None
            callbacks, self._callbacks = self._callbacks, None
        for waiter in waiters or ():
            waiter.release()
        for callback in callbacks or ():
            self._call(callback)

    def _call(self, callback: Callback) -> None:
        try:
            callback(self)
        except Exception:  # a callback's bug must not kill the reader thread that resolves acks
            _log.exception("done callback of %r failed", self)


class _Done(Pending):
    """An operation that needs no ack: done as soon as it is written (one shared instance)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(0, "an operation without ack")
        self._code = Code.OK
        self._done = True


DONE = _Done()
