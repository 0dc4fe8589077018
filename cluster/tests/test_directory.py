"""The name directory, sans-IO: snapshots, deltas, gaps healed by a snapshot, expiry, the duplicate-name rule."""

from __future__ import annotations

import pytest

from elbus_cluster.directory import Directory


def make(node: str, boot: int = 1) -> Directory:
    return Directory(node, boot, node_timeout=3.0, resync_interval=0.5)


def test_snapshot_then_deltas() -> None:
    a, b = make("a"), make("b")
    a.claim("x")
    a.add_topic("t/#")
    b.receive(a.snapshot(), now=0)
    assert b.owner("x") == "a" and b.interested("t/1") and not b.interested("u")
    a.claim("y.z")
    a.release("x")
    a.remove_topic("t/#")
    delta = a.take_delta()
    assert delta is not None and a.take_delta() is None
    b.receive(delta, now=0.1)
    assert b.owner("x") is None and b.owner("y.z") == "a" and not b.interested("t/1")
    assert b.nodes_for_mask("y.*") == {"a"} and b.nodes_for_mask("q.*") == set()


def test_a_missed_delta_asks_for_a_snapshot() -> None:
    a, b = make("a"), make("b")
    b.receive(a.snapshot(), now=0)
    a.claim("x")
    a.take_delta()  # lost on the way
    a.claim("y")
    out = b.receive(a.take_delta() or b"", now=1)
    assert out.sync_from == "a" and b.owner("y") is None
    assert b.receive(a.heartbeat(), now=1.1).sync_from is None  # asked already, within the interval
    assert b.receive(a.heartbeat(), now=2).sync_from == "a"
    assert a.receive(b.sync_request("a"), now=2).send_snapshot
    assert not make("c").receive(b.sync_request("a"), now=2).send_snapshot
    b.receive(a.snapshot(), now=2)
    assert b.owner("x") == b.owner("y") == "a"


def test_unknown_node_heartbeat_asks_for_its_snapshot() -> None:
    a, b = make("a"), make("b")
    assert b.receive(a.heartbeat(), now=0).sync_from == "a"


def test_restarted_node_replaces_its_old_view() -> None:
    b = make("b")
    old = make("a", boot=1)
    old.claim("x")
    b.receive(old.snapshot(), now=0)
    new = make("a", boot=2)
    assert b.receive(new.heartbeat(), now=1).sync_from == "a"
    b.receive(new.snapshot(), now=1)
    assert b.owner("x") is None


def test_silent_and_leaving_nodes_are_forgotten() -> None:
    a, b, c = make("a"), make("b"), make("c")
    a.claim("x")
    c.claim("z")
    b.receive(a.snapshot(), now=0)
    b.receive(c.snapshot(), now=0)
    b.receive(c.heartbeat(), now=2.5)
    assert b.expire(now=3.5) == ["a"]
    assert b.owner("x") is None and b.owner("z") == "c"
    b.receive(c.bye(), now=3.6)
    assert b.owner("z") is None and not b.nodes


def test_earlier_claim_wins_on_every_node() -> None:
    a, b, c = make("a"), make("b"), make("c")
    a.claim("dup")
    b.claim("dup")  # later in time
    assert a.receive(b.snapshot(), now=0).lost == []
    assert b.receive(a.snapshot(), now=0).lost == ["dup"]
    c.receive(b.snapshot(), now=0)
    c.receive(a.snapshot(), now=0)
    assert c.owner("dup") == "a"


def test_own_messages_are_ignored_and_a_twin_is_reported() -> None:
    a = make("a")
    a.claim("x")
    assert not a.receive(a.snapshot(), now=0).twin
    assert a.owner("x") is None and not a.nodes
    assert a.receive(make("a", boot=2).heartbeat(), now=0).twin


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x81\xa1k\xa4snap", b"\x93\x01\x02\x03"])
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        make("b").receive(data, now=0)


def test_subscription_counts() -> None:
    a = make("a")
    assert a.add_topic("t") and not a.add_topic("t")
    assert not a.remove_topic("t") and a.remove_topic("t") and not a.remove_topic("t")
