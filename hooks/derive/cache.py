"""Compute a derived value once per call, however many rules ask for it.

Several rules ask the same question of the same call (the recorded Ig doses, the trough IgGs, "on
IgRT", an order's indication and dose context), and each answer is a pure function of frozen inputs
(``Facts``, ``ClinicalRecord``, ``MedicationFact``). ``run_rules`` therefore opens a :func:`call_scope`
around one call's rules, and a derive function decorated with :func:`per_call` answers from that
scope's memo when it has already been asked with the same objects.

Why a scope and not a process-wide cache:

- ``Facts`` and ``ClinicalRecord`` are slots dataclasses without ``__weakref__`` (a
  ``WeakKeyDictionary`` cannot hold them), and hashing them by value would hash whole records (or
  fail on the raw FHIR dicts they carry). So arguments are keyed by *identity* (``id``); the memo
  entry holds the arguments themselves, so no id can be reused by a new object while the entry lives.
- The memo lives exactly as long as the call: no patient's data outlives its call in a cache, no
  bound to tune, and a new ``Facts`` object (the next call) can never see an old answer.
- The store is a :class:`contextvars.ContextVar`: each thread (gunicorn runs several per worker)
  and each call has its own, so concurrent calls share nothing and need no lock.

Outside a scope (a unit test calling a rule or a derive function directly) a decorated function
simply computes its value: memoisation changes cost, never results.

Only decorate functions whose value depends on nothing but their positional arguments (frozen
objects or enum members), and that return values nobody mutates (tuples, frozen dataclasses,
numbers): every caller in the call gets the same object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: One call's memo: (function, id of each argument) -> (the arguments, the value).
_Memo = dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]]

_current: ContextVar[_Memo | None] = ContextVar("igcds_derive_memo", default=None)


@contextmanager
def call_scope() -> Iterator[None]:
    """Memoise ``per_call`` functions until the block ends (one CDS Hooks call's rules)."""
    token = _current.set({})
    try:
        yield
    finally:
        _current.reset(token)


def per_call(fn: Callable[P, R]) -> Callable[P, R]:
    """Memoise ``fn`` within the current :func:`call_scope`, keyed by the identity of its arguments.

    Positional arguments only (a keyword argument would be a second spelling of the same question).
    """

    @functools.wraps(fn)
    def memoised(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _current.get()
        if memo is None or kwargs:
            return fn(*args, **kwargs)
        key = (memoised, *map(id, args))
        hit = memo.get(key)
        if hit is not None:
            return hit[1]  # type: ignore[no-any-return]
        value = fn(*args, **kwargs)
        memo[key] = (args, value)  # the arguments are kept alive: their ids stay theirs
        return value

    return memoised
