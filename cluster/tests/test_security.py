"""The NATS connection takes nats-py's credentials and TLS; a refused connection leaves the local bus working."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import nkeys
import pytest
import trustme
from nats_helpers import NatsServer, connected, knows_nodes, link, sees, wait_for
from nats_jwt.nkeys_ext import create_operator_pair
from nats_jwt.v2.operator_claims import OperatorClaims
from nats_jwt.v2.snippets import Operator

from elbus_server import Broker

MakeNode = Callable[..., Awaitable[Broker]]


async def joined(a: Broker, b: Broker) -> None:
    await wait_for(connected(a, b), what="connected")
    await wait_for(knows_nodes(a, 1), what="a knows b")
    target = await b.register("target")
    sender = await a.register("sender")
    await wait_for(sees(a, "target"), what="a sees target")
    await sender.send("target", b"secure")
    assert (await target.receive()).payload == b"secure"


async def test_user_and_password() -> None:
    server = NatsServer("--user", "elbus", "--pass", "s3cret").start()
    try:
        async with Broker(cluster=link(server.url, "a", user="elbus", password="s3cret")) as a, \
                Broker(cluster=link(f"nats://elbus:s3cret@127.0.0.1:{server.port}", "b")) as b:
            await joined(a, b)
            async with Broker(cluster=link(server.url, "intruder", user="elbus", password="wrong")) as bad:
                x, y = await bad.register("x"), await bad.register("y")
                await x.send("y", b"alone")
                assert (await y.receive()).payload == b"alone"
                assert not connected(bad)()
                assert len(a.cluster.nodes()["nodes"]) == 2  # type: ignore[union-attr]
    finally:
        server.stop()


async def test_token() -> None:
    server = NatsServer("--auth", "t0ken").start()
    try:
        async with Broker(cluster=link(server.url, "a", token="t0ken")) as a, \
                Broker(cluster=link(f"nats://t0ken@127.0.0.1:{server.port}", "b")) as b:
            await joined(a, b)
    finally:
        server.stop()


async def test_tls(sock_dir: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = sock_dir / "server.pem", sock_dir / "server.key"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    server = NatsServer("--tls", "--tlscert", str(cert_file), "--tlskey", str(key_file)).start()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    try:
        async with Broker(cluster=link(f"tls://127.0.0.1:{server.port}", "a", tls=context)) as a, \
                Broker(cluster=link(f"tls://127.0.0.1:{server.port}", "b", tls=context)) as b:
            await joined(a, b)
    finally:
        server.stop()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        link("", "a")
    with pytest.raises(ValueError):
        link("nats://127.0.0.1:1", "a", heartbeat=1.0, node_timeout=0.5)
    with pytest.raises(ValueError):
        link("nats://127.0.0.1:1", "a", prefix="has space")


async def test_nkey_seed_file(sock_dir: Path) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    (sock_dir / "user.nk").write_bytes(seed)
    server = NatsServer(config=f"authorization {{ users = [ {{ nkey: {public} }} ] }}\n", tmp=sock_dir).start()
    try:
        async with Broker(cluster=link(server.url, "a", nkey_seed=str(sock_dir / "user.nk"))) as a, \
                Broker(cluster=link(server.url, "b", nkey_seed=str(sock_dir / "user.nk"))) as b:
            await joined(a, b)
    finally:
        server.stop()


def decentralized_auth(directory: Path) -> tuple[str, Path]:
    """A nats-server configuration trusting a fresh operator, and a ``.creds`` file of a user of one of its accounts.

    The JWTs and keys are what the ``nsc`` tool would make: an operator
    signs an account, the account signs a user; the server preloads the
    account (memory resolver) and admits whoever proves the user's key.
    """
    operator_key = create_operator_pair()
    operator = Operator(claims=OperatorClaims(operator_key.public_key.decode(), "elbus-test"), seed=operator_key.seed)
    account = operator.create_account("bus")
    user = account.create_user("broker")
    creds = directory / "broker.creds"
    creds.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user.jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.key_pair.seed.decode()}\n------END USER NKEY SEED------\n"
    )
    config = (f"operator: {operator.jwt}\nresolver: MEMORY\n"
              f"resolver_preload: {{ {account.key_pair.public_key.decode()}: {account.jwt} }}\n")
    return config, creds


async def test_creds_file(sock_dir: Path) -> None:
    config, creds = decentralized_auth(sock_dir)
    server = NatsServer(config=config, tmp=sock_dir).start()
    try:
        async with Broker(cluster=link(server.url, "a", creds=str(creds))) as a, \
                Broker(cluster=link(server.url, "b", creds=str(creds))) as b:
            await joined(a, b)
            async with Broker(cluster=link(server.url, "anonymous")) as bad:  # the server admits creds only
                await asyncio.sleep(0.3)
                assert not connected(bad)()
                assert len(a.cluster.nodes()["nodes"]) == 2  # type: ignore[union-attr]
    finally:
        server.stop()
