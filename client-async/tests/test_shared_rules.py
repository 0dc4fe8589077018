"""The rules both clients share, against real brokers: ack timeouts, connect failures, retrying the
first connect, disconnect/reconnect callbacks, topic, payload and frame size checks."""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from brokers import running_broker

import elbus_aio
from elbus_aio import (
    DEAD_BROKER_FACTOR,
    BrokerTimeout,
    BrokerUnavailable,
    ConnectionClosed,
    ConnectTimeout,
    ElbusError,
    FrameTooLarge,
    InvalidTopic,
    ReceiveTimeout,
)
from elbus_spec import DEFAULT_MAX_FRAME_LENGTH, DEFAULT_TIMEOUT

StartBroker = Callable[[], "asyncio.Future[asyncio.subprocess.Process]"]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_both_clients_wait_for_acks_with_the_same_default() -> None:
    elbus_client = pytest.importorskip("elbus_client")
    for client in (elbus_aio.Client, elbus_client.Client):
        assert inspect.signature(client).parameters["timeout"].default == DEFAULT_TIMEOUT
        for method in ("send", "broadcast", "publish", "publish_for", "subscribe", "unsubscribe", "exclude", "unexclude"):
            assert inspect.signature(getattr(client, method)).parameters["timeout"].default is None, (client, method)
    assert elbus_aio.DEAD_BROKER_FACTOR == elbus_client.DEAD_BROKER_FACTOR == DEAD_BROKER_FACTOR
    assert elbus_aio.BrokerTimeout is elbus_client.BrokerTimeout and issubclass(BrokerTimeout, TimeoutError)


async def test_a_hung_broker_fails_ack_waits_with_broker_timeout(sock_path: str, broker_process: StartBroker) -> None:
    proc = await broker_process()
    loop = asyncio.get_running_loop()
    async with elbus_aio.Client(sock_path, "app.a", timeout=1.0) as client:
        await client.send("app.a", b"acked")
        await client.receive(timeout=2)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            started = loop.time()
            with pytest.raises(BrokerTimeout, match=r"no ack for message to 'app.a' within 0.2 s"):
                await client.send("app.a", b"x", timeout=0.2)
            with pytest.raises(TimeoutError):  # the default: the client's timeout, as the blocking client's
                await client.publish("t", b"y")
            assert 1.0 <= loop.time() - started < 1.0 + 0.2 + 0.6
            assert client.is_connected  # dead-broker detection is DEAD_BROKER_FACTOR x timeout away
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        await client.send("app.a", b"after")
        payloads = [(await client.receive(timeout=2)).payload for _ in range(2)]
        assert payloads == [b"x", b"after"]


async def test_a_silent_broker_is_dead_after_dead_broker_factor_timeouts(sock_path: str, broker_process: StartBroker) -> None:
    proc = await broker_process()
    loop = asyncio.get_running_loop()
    lost = loop.create_future()
    client = elbus_aio.Client(sock_path, "app.d", timeout=0.3, on_disconnect=lost.set_result)
    await client.connect()
    started = loop.time()  # the registration was the last byte from the broker
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        reason = await asyncio.wait_for(lost, 5)
        elapsed = loop.time() - started  # 1.5 x timeout (the old async rule) would fail the lower bound
        assert 0.3 * DEAD_BROKER_FACTOR - 0.05 <= elapsed < 0.3 * DEAD_BROKER_FACTOR + 1.5  # slack for a loaded machine
        assert f"no data from the broker for {0.3 * DEAD_BROKER_FACTOR:g} s" in reason
        assert client.closed
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await client.close()


async def test_receive_timeout_is_a_timeout_error(any_broker: object, sock_path: str) -> None:
    address = getattr(any_broker, "address", sock_path)
    async with elbus_aio.Client(address, "app.r") as client:
        with pytest.raises(ReceiveTimeout, match=r"no frame received within 0\.05 s") as info:
            await client.receive(timeout=0.05)
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, ElbusError)


async def test_connect_failures_are_broker_unavailable(sock_dir: Path) -> None:
    missing = str(sock_dir / "missing.sock")
    with pytest.raises(BrokerUnavailable, match=r"missing\.sock") as info:
        await elbus_aio.connect(missing, "app.a")
    assert info.value.errno == errno.ENOENT and isinstance(info.value.__cause__, FileNotFoundError)

    stale = str(sock_dir / "stale.sock")
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(stale)  # a socket file nobody listens on: connection refused
    try:
        with pytest.raises(BrokerUnavailable) as info:
            await elbus_aio.connect(stale, "app.a")
        assert info.value.errno == errno.ECONNREFUSED and isinstance(info.value.__cause__, ConnectionRefusedError)
    finally:
        bound.close()

    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    with pytest.raises(BrokerUnavailable) as info:
        await elbus_aio.connect(f"127.0.0.1:{port}", "app.a")
    assert info.value.errno == errno.ECONNREFUSED

    mute = socket.socket(socket.AF_UNIX)
    mute.bind(str(sock_dir / "mute.sock"))
    mute.listen()  # accepts, never greets
    try:
        with pytest.raises(ConnectTimeout) as timed_out:
            await elbus_aio.connect(str(sock_dir / "mute.sock"), "app.a", timeout=0.2)
        error = timed_out.value
        assert isinstance(error, BrokerUnavailable) and isinstance(error, TimeoutError) and isinstance(error, OSError)
        assert error.errno == errno.ETIMEDOUT
    finally:
        mute.close()


async def test_a_failed_first_connect_is_retried_when_asked(sock_path: str) -> None:
    with pytest.raises(ValueError, match="reconnect=True"):
        elbus_aio.Client(sock_path, "app.a", retry_on_failed_connect=True)
    with pytest.raises(BrokerUnavailable):
        await elbus_aio.connect(sock_path, "app.a", reconnect=True)  # not asked: fails at once

    client = elbus_aio.Client(sock_path, "app.a", reconnect=True, retry_on_failed_connect=True, reconnect_delay=0.02, timeout=0.2)
    connecting = asyncio.create_task(client.connect())
    await asyncio.sleep(0.3)  # several attempts fail meanwhile
    assert not connecting.done()
    async with running_broker("elbus_server", sock_path):
        assert await asyncio.wait_for(connecting, 5) is client
        await client.send("app.a", b"hello")
        assert (await client.receive(timeout=2)).payload == b"hello"
        await client.close()

    gives_up = elbus_aio.Client(sock_path, "app.b", reconnect=True, retry_on_failed_connect=True, reconnect_delay=0.02)
    connecting = asyncio.create_task(gives_up.connect())
    await asyncio.sleep(0.1)
    await gives_up.close()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(connecting, 2)


async def test_disconnect_and_reconnect_callbacks_once_per_event(sock_path: str, broker_process: StartBroker) -> None:
    events: list[str] = []

    async def reconnected() -> None:  # a coroutine function runs as a task
        events.append("reconnect")

    proc = await broker_process()
    async with elbus_aio.Client(
        sock_path,
        "app.cb",
        reconnect=True,
        reconnect_delay=0.02,
        on_disconnect=lambda reason: events.append(f"disconnect: {reason}"),
        on_reconnect=reconnected,
    ) as client:
        for round_ in (1, 2):
            os.kill(proc.pid, signal.SIGKILL)
            await eventually(lambda: not client.is_connected)
            await asyncio.sleep(0.2)  # reconnect attempts fail meanwhile: no callback for those
            proc = await broker_process()
            await eventually(lambda expected=2 * round_: len(events) == expected)
            await asyncio.sleep(0.1)
            assert len(events) == 2 * round_
            assert events[-2].startswith("disconnect: ") and events[-1] == "reconnect"
    assert len(events) == 4  # closing is no disconnect


async def test_topics_and_payloads_are_checked_and_the_connection_kept(kind_broker: object, sock_path: str) -> None:
    async with elbus_aio.Client(sock_path, "app.t") as client:
        for bad in ("a/#/b", "a#", "a/b+", "#/x"):
            with pytest.raises(InvalidTopic):
                await client.subscribe("ok/+", bad)
        for bad in ("a/+", "a/#", "#"):
            with pytest.raises(InvalidTopic, match="no wildcards"):
                await client.publish(bad, b"x")
        with pytest.raises(TypeError, match="payload must be bytes or str, got int"):
            await client.send("app.t", 5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="payload must be bytes or str, got dict"):
            await client.publish("a", {"k": 1})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="qos"):
            await client.send("app.t", b"", qos=7)
        await client.subscribe("a/+/c", "x/#")
        await client.publish("a/b/c", "str payloads are UTF-8: é")
        await client.publish("x/y/z", memoryview(b"view"))
        assert [(await client.receive(timeout=2)).payload for _ in range(2)] == ["str payloads are UTF-8: é".encode(), b"view"]


async def test_an_oversized_frame_is_refused_before_writing(kind_broker: object, sock_path: str) -> None:
    async with elbus_aio.Client(sock_path, "app.big") as client:
        with pytest.raises(FrameTooLarge) as info:
            await client.send("app.big", bytes(20 * 1024 * 1024))
        assert info.value.limit == DEFAULT_MAX_FRAME_LENGTH and info.value.size > info.value.limit
        assert str(DEFAULT_MAX_FRAME_LENGTH) in str(info.value)
        with pytest.raises(FrameTooLarge):
            client.send_nowait("app.big", bytes(DEFAULT_MAX_FRAME_LENGTH))
        await client.send("app.big", b"still connected")
        assert (await client.receive(timeout=2)).payload == b"still connected"
        assert client.is_connected
