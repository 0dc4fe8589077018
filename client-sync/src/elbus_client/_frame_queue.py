"""A bounded, closable queue of received frames between the reader thread and its consumers."""

from __future__ import annotations

import threading
from collections import deque

from elbus_spec import ConnectionClosed, Frame, ReceiveTimeout

__all__ = ["FrameQueue"]


class FrameQueue:
    """FIFO of frames with a capacity; `close` wakes every waiter.

    When it is full, `put` blocks the reader thread: the broker's own queue
    for this client then fills and the broker applies its slow-consumer
    rule. Nothing is dropped silently on the client side.
    """

    __slots__ = ("_closed", "_cond", "_items", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("queue_size must be positive")
        self.maxsize = maxsize
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed: str | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, frame: Frame) -> bool:
        """Append ``frame``, waiting while the queue is full; False if the queue was closed meanwhile."""
        with self._cond:
            while len(self._items) >= self.maxsize and self._closed is None:
                self._cond.wait()
            if self._closed is not None:
                return False
            self._items.append(frame)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> Frame:
        """The oldest frame.

        Raises `ReceiveTimeout` (a `TimeoutError`) after ``timeout`` seconds without one and
        `ConnectionClosed` once the queue is closed and empty (frames
        received before the close are still handed out).
        """
        with self._cond:
            if not self._items and self._closed is None:
                self._cond.wait_for(lambda: self._items or self._closed is not None, timeout)
            if self._items:
                frame = self._items.popleft()
                self._cond.notify_all()  # a reader blocked in put may go on
                return frame
            if self._closed is not None:
                raise ConnectionClosed(self._closed)
            raise ReceiveTimeout(f"no frame received within {timeout} s")

    def close(self, reason: str) -> None:
        """Refuse further frames and wake every waiter."""
        with self._cond:
            if self._closed is None:
                self._closed = reason
            self._cond.notify_all()
