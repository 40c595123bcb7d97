"""hooks.derive.cache: once per call, keyed by identity, never stale, never shared between threads."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from hooks.derive import igrt
from hooks.derive.cache import call_scope, per_call
from tests.hooks.pv_builders import condition, facts, ig_given, record


class Box:
    """A fresh object per call, equal by value to any other Box with the same number."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.n == self.n

    def __hash__(self) -> int:
        return hash(self.n)


computed: Counter[tuple[str, int]] = Counter()


@per_call
def double(box: Box) -> int:
    computed["double", id(box)] += 1
    return box.n * 2


@per_call
def add(a: Box, b: Box) -> int:
    computed["add", id(a)] += 1
    return a.n + b.n


@per_call
def fails(box: Box) -> int:
    computed["fails", id(box)] += 1
    raise ValueError("boom")


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    computed.clear()
    yield
    computed.clear()


def test_outside_a_scope_every_call_computes() -> None:
    box = Box(2)
    assert double(box) == 4 and double(box) == 4
    assert computed["double", id(box)] == 2


def test_inside_a_scope_the_same_object_is_computed_once() -> None:
    box = Box(2)
    with call_scope():
        assert double(box) == 4 and double(box) == 4 and double(box) == 4
    assert computed["double", id(box)] == 1


def test_an_equal_but_different_object_is_computed_again() -> None:
    first, second = Box(2), Box(2)
    with call_scope():
        double(first)
        double(second)
    assert computed["double", id(first)] == 1 and computed["double", id(second)] == 1


def test_every_argument_is_part_of_the_key() -> None:
    a, b, c = Box(1), Box(10), Box(100)
    with call_scope():
        assert add(a, b) == 11 and add(a, c) == 101 and add(a, b) == 11
    assert computed["add", id(a)] == 2


def test_ids_of_collected_objects_are_not_reused_within_a_scope() -> None:
    """Each Box dies right after its call; CPython would hand its id to the next one. The memo
    keeps the arguments alive, so a new object can never be answered with an old value."""
    with call_scope():
        for n in range(500):
            assert double(Box(n)) == 2 * n


def test_the_memo_ends_with_the_scope() -> None:
    box = Box(3)
    with call_scope():
        double(box)
    with call_scope():
        double(box)
    double(box)
    assert computed["double", id(box)] == 3


def test_the_scope_ends_when_its_block_raises() -> None:
    box = Box(3)
    with pytest.raises(RuntimeError), call_scope():
        double(box)
        raise RuntimeError("a rule failed")
    double(box)
    assert computed["double", id(box)] == 2


def test_a_failure_is_not_memoised() -> None:
    box = Box(1)
    with call_scope():
        for _ in range(2):
            with pytest.raises(ValueError):
                fails(box)
    assert computed["fails", id(box)] == 2


def test_keyword_arguments_are_computed_not_memoised() -> None:
    box = Box(4)
    with call_scope():
        assert double(box=box) == 8 and double(box=box) == 8
    assert computed["double", id(box)] == 2


def test_a_new_facts_for_another_moment_gets_its_own_answer() -> None:
    """Same record, ``now`` 30 days later: the last dose falls out of the 56-day window."""
    rec = record(conditions=[condition("cvid")], medications=[ig_given(40)])
    today = facts(rec)
    later = dataclasses.replace(today, now=today.now + timedelta(days=30))
    with call_scope():
        assert igrt.on_igrt(today) is True
        assert igrt.on_igrt(later) is False
        assert igrt.on_igrt(today) is True


def test_concurrent_scopes_share_nothing() -> None:
    """Threads (gunicorn runs several per worker) each hold a scope over their own objects at the
    same time: every answer is their own, and each object is computed once in its own scope."""
    threads = 8
    barrier = threading.Barrier(threads)
    errors: list[str] = []
    boxes = [Box(n) for n in range(threads)]

    def call(n: int) -> None:
        box, other = boxes[n], boxes[(n + 1) % threads]
        with call_scope():
            barrier.wait()
            for _ in range(300):
                if double(box) != 2 * n or add(box, other) != n + other.n:
                    errors.append(f"thread {n} got another call's answer")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        workers = [threading.Thread(target=call, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    assert all(computed["double", id(b)] == 1 and computed["add", id(b)] == 1 for b in boxes)


def test_a_scope_is_not_visible_from_another_thread() -> None:
    box = Box(5)
    with call_scope():
        double(box)
        other = threading.Thread(target=lambda: (double(box), double(box)))
        other.start()
        other.join()
        double(box)
    assert computed["double", id(box)] == 3  # once here, twice (no scope) in the other thread
