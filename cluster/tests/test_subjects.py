"""Topics, patterns and node names as NATS subjects: reversible, and NATS matches what elbus matches."""

from __future__ import annotations

import asyncio

import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats_helpers import NatsServer

from elbus_cluster.subjects import escape_token, pattern_subject, topic_from_subject, topic_subject, unescape_token
from elbus_server.plugin import TopicTree

P = "elbus.pub"


@pytest.mark.parametrize(
    ("topic", "subject"),
    [
        ("sensors/room1/temp", "elbus.pub.sensors.room1.temp"),
        ("", "elbus.pub.~"),
        ("a//b", "elbus.pub.a.~.b"),
        ("a/", "elbus.pub.a.~"),
        ("/a", "elbus.pub.~.a"),
        ("a.b/c d", "elbus.pub.a~2Eb.c~20d"),
        ("+/#", "elbus.pub.~2B.~23"),
        ("*/>", "elbus.pub.~2A.~3E"),
        ("~", "elbus.pub.~7E"),
        ("é/\t", "elbus.pub.~C3~A9.~09"),
    ],
)
def test_topic_subjects(topic: str, subject: str) -> None:
    assert topic_subject(P, topic) == subject
    assert topic_from_subject(P, subject) == topic


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("#", "elbus.pub.>"),
        ("a/#", "elbus.pub.a.>"),
        ("+/topic/#", "elbus.pub.*.topic.>"),
        ("a/+/c", "elbus.pub.a.*.c"),
        ("a/#/ignored", "elbus.pub.a.>"),
        ("a#b/+x", "elbus.pub.a~23b.~2Bx"),
        ("", "elbus.pub.~"),
    ],
)
def test_pattern_subjects(pattern: str, subject: str) -> None:
    assert pattern_subject(P, pattern) == subject


@given(st.text())
def test_every_level_round_trips_through_one_valid_token(level: str) -> None:
    token = escape_token(level)
    assert token and "." not in token and not any(c.isspace() for c in token)
    assert token not in ("*", ">")
    assert unescape_token(token) == level


def test_bad_tokens_are_refused() -> None:
    with pytest.raises(ValueError):
        unescape_token("a~4")
    with pytest.raises(ValueError):
        topic_from_subject(P, "other.a")


TOPICS = ["a", "a/b", "a/b/c", "", "a//b", "a/", "x/topic/event", "x/topic/sub/event", "a.b/c d", "+", "#", "é"]
PATTERNS = ["#", "a/#", "+", "a/+", "+/topic/#", "", "a//b", "a/", "+/+", "a.b/+", "é"]


async def test_nats_matches_what_elbus_matches(nats_server: NatsServer) -> None:
    """Every pattern subscribed on a real nats-server receives exactly the topics elbus's tree matches."""
    tree: TopicTree[str] = TopicTree()
    for pattern in PATTERNS:
        tree.subscribe(pattern, pattern)
    nc = await nats.connect(nats_server.url)
    got: dict[str, set[str]] = {p: set() for p in PATTERNS}
    try:
        for pattern in PATTERNS:
            async def collect(msg: object, pattern: str = pattern) -> None:
                got[pattern].add(topic_from_subject(P, msg.subject))  # type: ignore[attr-defined]

            await nc.subscribe(pattern_subject(P, pattern), cb=collect)
        for topic in TOPICS:
            await nc.publish(topic_subject(P, topic), b"")
        await nc.flush()
        await asyncio.sleep(0.2)
    finally:
        await nc.close()
    for pattern in PATTERNS:
        assert got[pattern] == {t for t in TOPICS if pattern in tree.match(t)}, pattern
