"""Knowledge values as catalog text, and the record of every source the catalog cites.

``Sources`` is handed to every table builder: each citation it formats is remembered with the
place that cited it, and the catalog's "Sources and provenance" lists them all. Any field of a
knowledge row can be formatted (:func:`describe`), so a field added to a table later appears in
the catalog without a change here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..catalog import Citation
from ..knowledge.regimens import Range
from ..text import num
from .markup import linked, plain

NONE = "—"


@dataclass
class Sources:
    """Citations in the order the catalog first cites them, each with the anchors citing it."""

    used: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)

    def cite(self, citation: Citation, where: str) -> str:
        places = self.used.setdefault((citation.label, citation.url), [])
        if where not in places:
            places.append(where)
        return linked(citation.label, citation.url)

    def cite_all(self, citations: Iterable[Citation], where: str) -> str:
        return "; ".join(self.cite(c, where) for c in citations)

    def cite_text(self, label: str, where: str) -> str:
        """A source given as a plain string (the ``fhir_mappings`` value sets)."""
        return self.cite(Citation(label), where)


def number(value: float) -> str:
    return num(value, 4)


def words(name: str) -> str:
    """A field or constant name as a column heading: ``max_per_day`` -> ``Max per day``."""
    text = name.replace("_", " ").lower().strip()
    return text[:1].upper() + text[1:]


def describe(value: Any, sources: Sources, where: str) -> str:
    """Any knowledge value as markup: numbers, texts, ranges, citations, rows, collections."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, Enum):
        return plain(str(value.value))
    if isinstance(value, str):
        return plain(value) if value else NONE
    if isinstance(value, Citation):
        return sources.cite(value, where)
    if isinstance(value, Range):
        return plain(_range_text(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [f"{words(f.name)}: {describe(getattr(value, f.name), sources, where)}"
                 for f in dataclasses.fields(value) if getattr(value, f.name) not in (None, (), "")]
        return ", ".join(parts) if parts else NONE
    if isinstance(value, Mapping):
        items = [f"{plain(str(k))}: {describe(v, sources, where)}" for k, v in value.items()]
        return "; ".join(items) if items else NONE
    if isinstance(value, (frozenset, set)):
        return describe(tuple(sorted(value, key=str)), sources, where)
    if isinstance(value, (tuple, list)):
        items = [describe(v, sources, where) for v in value]
        return "; ".join(items) if items else NONE
    return plain(str(value))


def _range_text(value: Range) -> str:
    low, high = value.low, value.high
    if low is not None and high is not None:
        return f"{number(low)}–{number(high)}"
    if high is not None:
        return f"at most {number(high)}"
    if low is not None:
        return f"at least {number(low)}"
    return "any"


def range_text(value: Range | None, unit: str) -> str:
    return NONE if value is None else plain(f"{_range_text(value)} {unit}")


def remaining_fields(row: Any, claimed: Iterable[str], sources: Sources, where: str) -> str:
    """The fields of ``row`` no column shows, as ``Field: value`` (empty and default values left out)."""
    claimed = set(claimed)
    parts: list[str] = []
    for f in dataclasses.fields(row):
        if f.name in claimed:
            continue
        value = getattr(row, f.name)
        if value in (None, (), "", frozenset()) or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        parts.append(f"{words(f.name)}: {describe(value, sources, where)}")
    return "; ".join(parts) if parts else NONE
