"""Named, sourced value sets: which codes (and, where docs/clinical-rules.md asks, which words) mean a concept.

A value set is data a clinician can review: every member carries the verification tag and the source
line of ``docs/clinical-facts.md`` or ``docs/clinical-rules.md`` it comes from. No code appears here that is not
written in one of those two documents. Tags (clinical-facts §0): V verified, C corroborated, S single
source, R written in the reviewed catalog docs/clinical-rules.md, UNVERIFIED (kept only as documentation,
``verified=False``, and excluded from matching unless a caller asks for it).

ICD-10 members match on the dot-less, upper-cased code: ``exact`` ("D80.5"), ``prefix`` for the ".x"
families ("I26.x" -> every code starting I26) and ``range`` for category spans ("J13–J18": the first
three characters between J13 and J18 inclusive). Both ICD-10-CM and WHO ICD-10 URIs are accepted.
The condition concepts are in ``condition_sets.py``; the medication classes in ``drugs.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .codings import ICD10_SYSTEMS, ICD10CM
from .memo import BoundedMemo, key_chars
from .model import Code


class Tag(StrEnum):
    """Verification tag of a member (clinical-facts §0 "Verification tags"; R = docs/clinical-rules.md)."""

    V = "V"
    C = "C"
    S = "S"
    R = "R"
    UNVERIFIED = "UNVERIFIED"


class Match(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class Member:
    """One code (or ICD-10 code family) of a value set, with its provenance."""

    system: str
    code: str
    tag: Tag
    source: str
    match: Match = Match.EXACT
    #: Upper bound (inclusive) of a RANGE member, e.g. "J18" for J13–J18.
    high: str | None = None
    display: str | None = None

    @property
    def verified(self) -> bool:
        return self.tag is not Tag.UNVERIFIED

    def matches(self, code: Code) -> bool:
        if _system_key(code.system) != _system_key(self.system):
            return False
        if self.system not in ICD10_SYSTEMS:
            return code.code.strip() == self.code
        given, own = normalise_icd(code.code), normalise_icd(self.code)
        if self.match is Match.EXACT:
            return given == own
        if self.match is Match.PREFIX:
            return given.startswith(own)
        high = normalise_icd(self.high or self.code)
        head = given[: len(own)]
        return len(head) == len(own) and own <= head <= high


@dataclass(frozen=True, slots=True)
class Keyword:
    """A text pattern (lower-case regular expression) that names the concept, where docs/clinical-rules.md asks
    for recognition by name."""

    pattern: str
    source: str
    tag: Tag = Tag.R
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    @property
    def verified(self) -> bool:
        return self.tag is not Tag.UNVERIFIED

    def search(self, text: str) -> bool:
        return self.regex.search(text) is not None


@dataclass(frozen=True, slots=True)
class ValueSet:
    """A named concept: codes and/or keywords, with the source of the set as a whole.

    ``includes`` names other value sets whose members also belong to this one (groupers)."""

    name: str
    title: str
    source: str
    members: tuple[Member, ...] = ()
    keywords: tuple[Keyword, ...] = ()
    includes: tuple[str, ...] = ()

    def matches_code(self, code: Code, *, include_unverified: bool = False) -> bool:
        return any(m.matches(code) for m in self.members if include_unverified or m.verified)

    def matches_text(self, text: str, *, include_unverified: bool = False) -> bool:
        lowered = text.lower()
        return any(k.search(lowered) for k in self.keywords if include_unverified or k.verified)


def normalise_icd(code: str) -> str:
    """ICD-10 code without dots or spaces, upper case ("z86.718" -> "Z86718")."""
    return code.replace(".", "").replace(" ", "").upper()


def _system_key(system: str) -> str:
    return ICD10CM if system in ICD10_SYSTEMS else system


class ValueSetIndex:
    """All value sets of one family, indexed for fast lookup of a record's codes."""

    def __init__(self, sets: Iterable[ValueSet], *, include_unverified: bool = False) -> None:
        self.sets: Mapping[str, ValueSet] = {vs.name: vs for vs in sets}
        self.include_unverified = include_unverified
        self._exact: dict[tuple[str, str], set[str]] = {}
        #: (match kind, normalised low/prefix, normalised high, set name) for ICD-10 families and spans.
        self._icd_families: list[tuple[Match, str, str, str]] = []
        self._keywords: list[tuple[Keyword, str]] = []
        for vs in self.sets.values():
            for member in vs.members:
                if not (include_unverified or member.verified):
                    continue
                if member.system in ICD10_SYSTEMS and member.match is not Match.EXACT:
                    low = normalise_icd(member.code)
                    self._icd_families.append((member.match, low, normalise_icd(member.high or member.code), vs.name))
                else:
                    self._exact.setdefault(_exact_key(member.system, member.code), set()).add(vs.name)
            for keyword in vs.keywords:
                if include_unverified or keyword.verified:
                    self._keywords.append((keyword, vs.name))
        self._groupers = {vs.name: vs.includes for vs in self.sets.values() if vs.includes}
        self._memo: BoundedMemo[tuple[tuple[Code, ...], str | None], frozenset[str]] = BoundedMemo(8192)

    def concepts_for(self, codes: Iterable[Code], text: str | None = None) -> frozenset[str]:
        """Every value-set name that one of ``codes`` (or ``text``, for keyword sets) belongs to,
        with the groupers that include them.

        Memoised (the same codes recur across a record and across calls) in a bounded memo: long
        keys (client codes and text of any length) are looked up without being remembered."""
        codes = tuple(codes)
        key = (codes, text)
        found = self._memo.lookup(key)
        if found is None:
            found = self._memo.remember(key, key_chars(codes, text), self._concepts_for(codes, text))
        return found

    def _concepts_for(self, codes: tuple[Code, ...], text: str | None) -> frozenset[str]:
        found: set[str] = set()
        for code in codes:
            found.update(self._exact.get(_exact_key(code.system, code.code), ()))
            if code.system in ICD10_SYSTEMS:
                given = normalise_icd(code.code)
                for match, low, high, name in self._icd_families:
                    if match is Match.PREFIX:
                        if given.startswith(low):
                            found.add(name)
                    elif low <= given[: len(low)] <= high and len(given) >= len(low):
                        found.add(name)
        if text:
            lowered = text.lower()
            found.update(name for keyword, name in self._keywords if keyword.search(lowered))
        return frozenset(self._expand(found))

    def expand(self, names: Iterable[str]) -> frozenset[str]:
        """``names`` plus every grouper that includes one of them (e.g. ``cvid`` ->
        ``replacement-severe``, ``replacement``): what a mapped Condition with them carries."""
        return frozenset(self._expand(set(names)))

    def _expand(self, names: set[str]) -> set[str]:
        result = set(names)
        changed = True
        while changed:
            changed = False
            for grouper, parts in self._groupers.items():
                if grouper not in result and result.intersection(parts):
                    result.add(grouper)
                    changed = True
        return result

    def members_of(self, name: str) -> tuple[Member, ...]:
        """The members of ``name``, including those of the sets it includes."""
        vs = self.sets[name]
        own = tuple(vs.members)
        return own + tuple(m for part in vs.includes for m in self.members_of(part))


def _exact_key(system: str, code: str) -> tuple[str, str]:
    if system in ICD10_SYSTEMS:
        return (ICD10CM, normalise_icd(code))
    return (system, code.strip())
