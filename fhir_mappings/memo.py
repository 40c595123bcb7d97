"""A bounded memo for lookups keyed by client codes and names (drug classes, value-set concepts).

The same product and the same diagnoses recur in every record of a site, so remembering their
classification saves most of the mapping work. But the keys are client data: without bounds one
client could grow a worker without limit by sending unique, huge codes (issue 15, finding 2: 800
calls with a unique ~1 MB code grew a worker by ~800 MB). So a :class:`BoundedMemo` holds at most
``max_entries`` results, forgets the oldest first, and does not remember a result whose key is longer
than ``max_key_chars`` characters: its memory is at most about ``max_entries × max_key_chars``
characters of keys, whatever clients send. Real keys are a few codes and a name, well under the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from .model import Code

K = TypeVar("K")
V = TypeVar("V")

#: Longest key remembered: a handful of codings with displays and a name, as real records have.
MAX_KEY_CHARS = 1024


def key_chars(codes: Iterable[Code], text: str | None = None) -> int:
    """The size of a key made of ``codes`` and ``text``, in characters."""
    size = len(text) if text else 0
    for code in codes:
        size += len(code.system) + len(code.code) + (len(code.display) if code.display else 0)
    return size


class BoundedMemo(Generic[K, V]):
    """Remembers values of small keys; at most ``max_entries``, the oldest forgotten first.

    Used as ``memo.lookup(key)`` and, on a miss, ``memo.remember(key, size, value)``: the key's size
    is only computed when something is to be remembered, so a hit costs one dict lookup.
    """

    __slots__ = ("_entries", "max_entries", "max_key_chars")

    def __init__(self, max_entries: int, max_key_chars: int = MAX_KEY_CHARS) -> None:
        self._entries: dict[K, V] = {}
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars

    def lookup(self, key: K) -> V | None:
        return self._entries.get(key)

    def remember(self, key: K, size: int, value: V) -> V:
        """Keep ``value`` for ``key`` (``size`` characters long) if the key is small enough; return it."""
        if size <= self.max_key_chars:
            entries = self._entries
            if len(entries) >= self.max_entries:
                try:  # another thread (gthread workers) may be evicting too: never fail a call over it
                    entries.pop(next(iter(entries), None), None)  # type: ignore[arg-type]
                except RuntimeError:
                    pass
            entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
