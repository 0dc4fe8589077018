"""`TopicTree.match` remembers the receivers of a topic, and forgets them whenever a subscription changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from routing_rules import normalize_pattern, topic_matches

from elbus_server._routing import MATCH_CACHE_RECEIVERS, MATCH_CACHE_TOPICS, TopicTree


def _tree_with_overlap() -> TopicTree[str]:
    """Two patterns that both match ``x/1``: its receivers are a merged set of the cache's own."""
    tree: TopicTree[str] = TopicTree()
    tree.subscribe("a", "x/+")
    tree.subscribe("b", "x/#")
    return tree


def test_a_topic_matched_again_is_answered_from_the_cache() -> None:
    tree = _tree_with_overlap()
    first = tree.match("x/1")
    assert set(first) == {"a", "b"}
    assert tree.match("x/1") is first


def test_every_change_of_subscriptions_is_seen_by_the_next_match() -> None:
    tree = _tree_with_overlap()
    assert set(tree.match("x/1")) == {"a", "b"}
    tree.subscribe("c", "x/1")
    assert set(tree.match("x/1")) == {"a", "b", "c"}
    tree.unsubscribe("a", "x/+")
    assert set(tree.match("x/1")) == {"b", "c"}
    tree.unsubscribe_all("b")
    assert set(tree.match("x/1")) == {"c"}
    tree.unsubscribe("c", "x/1")
    assert not tree.match("x/1")
    tree.subscribe("a", "#")
    assert set(tree.match("x/1")) == {"a"}


def test_changes_that_change_nothing_keep_the_cache() -> None:
    tree = _tree_with_overlap()
    first = tree.match("x/1")
    tree.subscribe("a", "x/+")  # already subscribed
    tree.unsubscribe("a", "never/subscribed")
    tree.unsubscribe_all("nobody")
    assert tree.match("x/1") is first


def test_the_cache_holds_a_bounded_number_of_topics() -> None:
    tree = _tree_with_overlap()
    first = tree.match("x/1")
    for n in range(MATCH_CACHE_TOPICS):
        assert set(tree.match(f"x/other{n}")) == {"a", "b"}
    again = tree.match("x/1")
    assert again is not first and set(again) == {"a", "b"}  # forgotten to make room, matched anew


def test_the_cache_holds_a_bounded_number_of_receivers() -> None:
    tree: TopicTree[int] = TopicTree()
    clients = MATCH_CACHE_RECEIVERS // 2 + 1
    for client in range(clients):
        tree.subscribe(client, "x/+")
        tree.subscribe(client, "x/#")
    first = tree.match("x/1")
    assert len(first) == clients
    assert len(tree.match("x/2")) == clients  # both merged sets together exceed the bound
    again = tree.match("x/1")
    assert again is not first and len(again) == clients


_LEVELS = st.sampled_from(["a", "b", ""])
_PATTERNS = st.lists(st.one_of(_LEVELS, st.sampled_from(["+", "#"])), min_size=1, max_size=3).map("/".join)
_TOPICS = st.lists(_LEVELS, min_size=1, max_size=3).map("/".join)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("subscribe"), st.sampled_from("xyz"), _PATTERNS),
        st.tuples(st.just("unsubscribe"), st.sampled_from("xyz"), _PATTERNS),
        st.tuples(st.just("unsubscribe_all"), st.sampled_from("xyz"), st.just("")),
        st.tuples(st.just("match"), st.just(""), _TOPICS),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_STEPS)
def test_matches_follow_any_sequence_of_changes(steps: list[tuple[str, str, str]]) -> None:
    """Interleaved (un)subscriptions and matches answer as a naive matcher over the current subscriptions."""
    tree: TopicTree[str] = TopicTree()
    current: dict[str, set[str]] = {}
    for action, client, text in steps:
        if action == "subscribe":
            tree.subscribe(client, text)
            current.setdefault(client, set()).add(normalize_pattern(text))
        elif action == "unsubscribe":
            tree.unsubscribe(client, text)
            current.get(client, set()).discard(normalize_pattern(text))
        elif action == "unsubscribe_all":
            tree.unsubscribe_all(client)
            current.pop(client, None)
        else:
            expected = {c for c, patterns in current.items() if any(topic_matches(p, text) for p in patterns)}
            assert set(tree.match(text)) == expected, (text, current)
