"""Subscriptions the broker's access control denies, with ``reconnect=True``, against the project's broker.

Denied from the start, or after a reload of the rules while connected: the
allowed topics are renewed on every reconnect, a denied one is reported once
(log line and callback) and dropped, and reconnecting never loops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

import elbus_aio
from elbus_aio import AccessDenied, BrokerError, Frame

elbus_server = pytest.importorskip("elbus_server")

PUBLISHER = elbus_server.Rule("pub", publish=("#",), message=("*",))


def acl(*subscribe: str) -> object:
    return elbus_server.Acl((elbus_server.Rule("app.*", subscribe=subscribe, message=("*",)), PUBLISHER))


@asynccontextmanager
async def broker_with(rules: object, path: str) -> AsyncIterator[object]:
    broker = elbus_server.Broker(acl=rules)
    await broker.serve_unix(path)
    try:
        yield broker
    finally:
        await broker.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def topics_received(client: elbus_aio.Client, path: str) -> list[str]:
    """Publish to a few topics and return those ``client`` receives (a message marks the end)."""
    async with elbus_aio.Client(path, "pub") as pub:
        for topic in ("allowed/1", "later/1", "denied/1"):
            await pub.publish(topic, b"")
        await pub.send(client.name, b"end")
    got: list[str] = []
    while True:
        frame: Frame = await client.receive(timeout=2)
        if frame.topic is None:
            return got
        if not frame.topic.startswith(".broker/"):
            got.append(frame.topic)


async def test_denied_subscriptions_are_reported_once_and_never_loop(sock_path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "elbus_aio")
    denied: list[tuple[str, BrokerError]] = []
    reconnects: list[None] = []
    client = elbus_aio.Client(
        sock_path,
        "app.sub",
        reconnect=True,
        reconnect_delay=0.02,
        on_reconnect=lambda: reconnects.append(None),
        on_subscription_denied=lambda topic, error: denied.append((topic, error)),
    )
    try:
        async with broker_with(acl("allowed/#", "later/#"), sock_path) as broker:
            await client.connect()
            await client.subscribe("allowed/#")
            await client.subscribe("later/#")
            with pytest.raises(AccessDenied):
                await client.subscribe("denied/#")  # denied from the start: the caller sees it, nothing is recorded
            assert await topics_received(client, sock_path) == ["allowed/1", "later/1"]
            broker.set_acl(acl("allowed/#"))  # a reload while connected: the broker drops later/#
            assert await topics_received(client, sock_path) == ["allowed/1"]

        async with broker_with(acl("allowed/#"), sock_path):  # a restart: the client reconnects
            await eventually(lambda: len(reconnects) == 1)
            assert [topic for topic, _ in denied] == ["later/#"] and isinstance(denied[0][1], AccessDenied)
            assert "renewing 'later/#' refused" in caplog.text
            assert await topics_received(client, sock_path) == ["allowed/1"]
            await asyncio.sleep(0.3)
            assert client.is_connected and len(reconnects) == 1  # no reconnect loop

        async with broker_with(acl("allowed/#"), sock_path):  # once more: the dropped topic is not tried again
            await eventually(lambda: len(reconnects) == 2)
            assert await topics_received(client, sock_path) == ["allowed/1"]
            assert len(denied) == 1 and caplog.text.count("renewing 'later/#' refused") == 1
    finally:
        await client.close()


async def test_a_partly_denied_subscription_keeps_the_allowed_topics(sock_path: str) -> None:
    denied: list[str] = []
    client = elbus_aio.Client(
        sock_path, "app.sub", reconnect=True, reconnect_delay=0.02, on_subscription_denied=lambda t, e: denied.append(t)
    )
    try:
        async with broker_with(acl("allowed/#"), sock_path):
            await client.connect()
            with pytest.raises(AccessDenied):
                await client.subscribe("allowed/#", "denied/#")  # the broker subscribes the allowed one anyway
            assert await topics_received(client, sock_path) == ["allowed/1"]
        async with broker_with(acl("allowed/#"), sock_path):
            await eventually(lambda: client.is_connected and denied == ["denied/#"])
            assert await topics_received(client, sock_path) == ["allowed/1"]
    finally:
        await client.close()
