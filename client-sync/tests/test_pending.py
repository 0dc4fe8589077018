"""`Pending` on its own: many waiters, timeouts, callbacks, each outcome raised as the right exception."""

from __future__ import annotations

import threading
import time

import pytest

from elbus_client import ConnectionClosed, Pending
from elbus_client._pending import DONE
from elbus_spec import BrokerTimeout, Code, NotDelivered, OtherError


def test_many_waiters_wake_at_the_ack() -> None:
    pending = Pending(7, "message to 'x'")
    results: list[object] = []

    def wait() -> None:
        results.append(pending.wait(5))

    threads = [threading.Thread(target=wait) for _ in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    assert not pending.done() and pending.code is None
    pending._resolve(Code.OK)
    for thread in threads:
        thread.join(2)
    assert results == [None] * 20 and pending.done() and pending.code == Code.OK


def test_timeout_leaves_it_pending_and_a_later_ack_still_counts() -> None:
    pending = Pending(1, "publication to 't'")
    started = time.monotonic()
    with pytest.raises(BrokerTimeout, match=r"publication to 't' \(op 1\) within 0.05 s"):
        pending.wait(0.05)
    assert 0.05 <= time.monotonic() - started < 1
    assert pending._waiters == []  # the timed-out waiter is gone
    pending._resolve(Code.NOT_DELIVERED)
    with pytest.raises(NotDelivered, match="0x77"):
        pending.wait(0)
    with pytest.raises(NotDelivered):
        pending.wait()


def test_failure_and_unknown_codes() -> None:
    failed = Pending(2, "x")
    failed._fail("the broker closed the connection")
    with pytest.raises(ConnectionClosed, match="the broker closed the connection"):
        failed.wait(0)
    assert failed.code is None and "failed" in repr(failed)
    odd = Pending(3, "x")
    odd._resolve(0x99)
    with pytest.raises(OtherError):
        odd.wait()


def test_callbacks_run_once_and_a_bad_one_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    pending = Pending(4, "x")
    calls: list[Pending] = []
    pending.add_done_callback(calls.append)
    pending.add_done_callback(lambda p: 1 / 0)
    pending.add_done_callback(calls.append)
    pending._resolve(Code.OK)
    pending.add_done_callback(calls.append)  # already done: called at once
    assert calls == [pending, pending, pending]
    assert "done callback" in caplog.text and "ZeroDivisionError" in caplog.text
    seen: list[Pending] = []
    DONE.add_done_callback(seen.append)
    DONE.wait(0)
    assert seen == [DONE] and DONE.done() and DONE._callbacks is None
