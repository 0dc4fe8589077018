"""Names are unique across the bus: a name held on one node is refused 0x76 on another; simultaneous claims resolve alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nats_helpers import knows_nodes, sees, wait_for

import elbus_aio
from elbus_server import Broker
from elbus_spec import Busy, NotRegistered

MakeNode = Callable[..., Awaitable[Broker]]


async def test_a_name_held_elsewhere_is_refused(pair: tuple[Broker, Broker], sock_dir: Path) -> None:
    a, b = pair
    await a.register("unique")
    await wait_for(sees(b, "unique"), what="b sees the name")
    with pytest.raises(Busy):
        await b.register("unique")
    with pytest.raises(Busy):
        await elbus_aio.connect(await b.serve_unix(sock_dir / "b.sock"), "unique")


async def test_the_name_is_free_again_once_released(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    held = await a.register("moving")
    await wait_for(sees(b, "moving"), what="b sees the name")
    await held.close()
    await wait_for(lambda: not sees(b, "moving")(), what="b forgets it")
    moved = await b.register("moving")
    await wait_for(sees(a, "moving"), what="a sees it on b")
    other = await a.register("other")
    await other.send("moving", b"found")
    assert (await moved.receive()).payload == b"found"


async def test_simultaneous_claims_keep_the_earlier(make_node: MakeNode) -> None:
    """Both nodes register a name before either heard of the other: the later claim's client is dropped."""
    a = await make_node("a")
    b = await make_node("b", wait=False)  # b registers before it is even connected
    first = await a.register("twin")
    second = await b.register("twin")
    await wait_for(knows_nodes(a, 1), what="a knows b")
    await wait_for(lambda: second.closed, what="the later claim dropped")
    assert not first.closed
    await wait_for(sees(b, "twin"), what="b sees the name on a")
    with pytest.raises(Busy):
        await b.register("twin")


async def test_secondaries_register_beside_their_primary(pair: tuple[Broker, Broker]) -> None:
    a, b = pair
    await a.register("svc")
    await a.register("svc%%1")
    await wait_for(sees(b, "svc", "svc%%1"), what="b sees both")
    with pytest.raises(NotRegistered):  # a secondary lives on its primary's node
        await b.register("svc%%2")
    sender = await b.register("sender")
    await sender.send("svc%%1", b"to the secondary")
