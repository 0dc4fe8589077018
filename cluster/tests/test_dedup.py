"""Exactly once per node: copies of one publication message through overlapping subscriptions count once."""

from __future__ import annotations

import pytest

from elbus_cluster.dedup import Deduplicator


def test_first_copy_only_in_any_order() -> None:
    d = Deduplicator(window=4)
    assert [d.first(1, s) for s in (2, 1, 2, 3, 1)] == [True, True, False, True, False]
    assert d.first(2, 1)  # another origin counts on its own


def test_window_forgets_oldest_and_treats_older_as_seen() -> None:
    d = Deduplicator(window=2)
    assert d.first(1, 1) and d.first(1, 2) and d.first(1, 3)
    assert not d.first(1, 1)  # forgotten, and older than anything remembered: never delivered twice
    assert not d.first(1, 3)


def test_origins_are_bounded() -> None:
    d = Deduplicator(window=8, origins=2)
    for origin in (1, 2, 3):
        assert d.first(origin, 1)
    assert d.first(1, 1)  # the first origin was dropped to make room


def test_bad_bounds() -> None:
    with pytest.raises(ValueError):
        Deduplicator(window=0)
