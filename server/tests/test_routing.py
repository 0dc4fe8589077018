"""The routing trees against the protocol's examples and, with hypothesis, against naive reference matchers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from routing_rules import mask_matches, topic_matches

from elbus_server._routing import NameTree, TopicTree, normalize_topic_pattern


def test_broadcast_examples() -> None:
    tree: NameTree[str] = NameTree()
    for name in ("g1.test.c1", "g1.test.sub.c2", "g1", "g1.a", "g1.a.b", "g2.x"):
        tree.add(name, name)
    assert set(tree.match("?.test.*")) == {"g1.test.c1", "g1.test.sub.c2"}
    assert set(tree.match("g1.*")) == {"g1.test.c1", "g1.test.sub.c2", "g1.a", "g1.a.b"}
    assert set(tree.match("g1")) == {"g1"}
    assert set(tree.match("*")) == {"g1.test.c1", "g1.test.sub.c2", "g1", "g1.a", "g1.a.b", "g2.x"}
    assert set(tree.match("g1.*.ignored")) == set(tree.match("g1.*"))
    assert set(tree.match("?.x")) == {"g2.x"}
    assert not tree.match("nomatch.*")
    assert not tree.match("g1.test")


def test_broadcast_remove_prunes_the_tree() -> None:
    tree: NameTree[str] = NameTree()
    tree.add("a.b.c", "x")
    tree.add("a.b", "y")
    tree.remove("a.b.c", "x")
    assert set(tree.match("a.*")) == {"y"}
    tree.remove("a.b", "y")
    assert not tree._root.children and not tree._root.below
    tree.remove("never.added", "z")  # unknown names are ignored


def test_topic_examples() -> None:
    tree: TopicTree[str] = TopicTree()
    tree.subscribe("a", "a/#")
    tree.subscribe("all", "#")
    tree.subscribe("w", "+/topic/#")
    tree.subscribe("e", "a//b")
    assert set(tree.match("a")) == {"all"}  # a/# does not match a
    assert set(tree.match("a/b")) == {"a", "all"}
    assert set(tree.match("a/b/c")) == {"a", "all"}
    assert set(tree.match("x/topic/event")) == {"w", "all"}
    assert set(tree.match("x/topic/sub/event")) == {"w", "all"}
    assert set(tree.match("x/topic")) == {"all"}
    assert set(tree.match("a//b")) == {"a", "all", "e"}
    assert set(tree.match("")) == {"all"}


def test_overlapping_subscriptions_deliver_once() -> None:
    tree: TopicTree[str] = TopicTree()
    for pattern in ("tp/#", "tp/x/t/e", "tp/+/t/e", "#"):
        tree.subscribe("b", pattern)
    matched = tree.match("tp/x/t/e")
    assert list(matched) == ["b"]


def test_unsubscribe_and_unsubscribe_all() -> None:
    tree: TopicTree[str] = TopicTree()
    tree.subscribe("a", "x/+")
    tree.subscribe("a", "x/#")
    tree.subscribe("b", "x/+")
    tree.unsubscribe("a", "x/+")
    assert set(tree.match("x/1")) == {"a", "b"}
    tree.unsubscribe("a", "never/subscribed")
    tree.unsubscribe_all("a")
    assert set(tree.match("x/1")) == {"b"}
    tree.unsubscribe("b", "x/+")
    assert tree._root.empty()


def test_hash_ends_a_pattern() -> None:
    assert normalize_topic_pattern("a/#/ignored") == "a/#"
    assert normalize_topic_pattern("a/b#") == "a/b#"
    tree: TopicTree[str] = TopicTree()
    tree.subscribe("a", "a/#/x")
    assert set(tree.match("a/q")) == {"a"}
    tree.unsubscribe("a", "a/#")
    assert not tree.match("a/q")


def test_many_levels_cost_one_node_per_level() -> None:
    tree: NameTree[int] = NameTree()
    name = ".".join(["p"] * 5000)  # a tree pre-expanding `?` branches would need 2**5000 nodes
    tree.add(name, 1)
    assert set(tree.match(".".join(["?"] * 5000))) == {1}
    tree.remove(name, 1)
    assert not tree._root.children


parts = st.sampled_from(["a", "b", "c", ""])
names = st.lists(parts, min_size=1, max_size=4).map(".".join)
masks = st.lists(st.sampled_from(["a", "b", "c", "", "?", "*"]), min_size=1, max_size=5).map(".".join)
topics = st.lists(parts, min_size=1, max_size=4).map("/".join)
patterns = st.lists(st.sampled_from(["a", "b", "c", "", "+", "#"]), min_size=1, max_size=5).map("/".join)
subscriptions = st.tuples(st.integers(0, 4), patterns)


@settings(max_examples=300, deadline=None)
@given(st.sets(names, max_size=12), masks, st.sets(names, max_size=4))
def test_name_tree_matches_the_reference(registered: set[str], mask: str, removed: set[str]) -> None:
    tree: NameTree[str] = NameTree()
    for name in registered:
        tree.add(name, name)
    for name in removed & registered:
        tree.remove(name, name)
    alive = registered - removed
    assert set(tree.match(mask)) == {n for n in alive if mask_matches(mask, n)}


@settings(max_examples=300, deadline=None)
@given(st.lists(subscriptions, max_size=15), topics, st.lists(subscriptions, max_size=5))
def test_topic_tree_matches_the_reference(
    subs: list[tuple[int, str]], topic: str, unsubs: list[tuple[int, str]]
) -> None:
    tree: TopicTree[int] = TopicTree()
    model: dict[int, set[str]] = {}
    for client, pattern in subs:
        tree.subscribe(client, pattern)
        model.setdefault(client, set()).add(normalize_topic_pattern(pattern))
    for client, pattern in unsubs:
        tree.unsubscribe(client, pattern)
        model.get(client, set()).discard(normalize_topic_pattern(pattern))
    matched = list(tree.match(topic))
    assert len(matched) == len(set(matched))  # each client once
    assert set(matched) == {c for c, ps in model.items() if any(topic_matches(p, topic) for p in ps)}
