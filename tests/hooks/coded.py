"""Concepts exactly as the mapper would give them, for vignette builders.

A builder that says ``condition("higm-x-linked")`` must produce what a real Condition coded
X-linked HIGM maps to (``higm-x-linked``, ``hyper-igm``, ``replacement-severe``, ...), not a
hand-written guess: the concepts are computed by the mapper's own value-set index from the first
member code of each named set (or, for sets recognised by text only, from the set's groupers).
"""

from __future__ import annotations

from fhir_mappings import CONDITION_INDEX, Code


def concepts(*names: str) -> frozenset[str]:
    out: set[str] = set()
    for name in names:
        members = [m for m in CONDITION_INDEX.members_of(name) if m.verified]
        if members:
            first = members[0]
            out |= CONDITION_INDEX.concepts_for([Code(first.system, first.code)])
        out |= CONDITION_INDEX.expand([name])
    return frozenset(out)
