"""Condition -> ``ConditionFact`` with every named value set its codes (or, where docs/clinical-rules.md asks, its
text) belong to. ``entered-in-error`` conditions are dropped; refuted ones are kept (the fact knows it
is not active) so rules can tell "refuted" from "never recorded"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .codings import (
    as_str,
    codes_of,
    first_code,
    parse_datetime,
    parse_period_start,
    text_of,
    words_of,
)
from .condition_sets import CONDITION_INDEX
from .model import Code, ConditionFact
from .valuesets import ValueSetIndex


def concepts_of(
    codes: Iterable[Code], text: str | None = None, index: ValueSetIndex = CONDITION_INDEX
) -> frozenset[str]:
    """The condition concept names of ``codes`` (and keyword sets for ``text``), groupers included."""
    return index.concepts_for(codes, text)


def map_condition(resource: Mapping[str, object], index: ValueSetIndex = CONDITION_INDEX) -> ConditionFact | None:
    """A ConditionFact, or None for an entered-in-error Condition."""
    verification = first_code(resource.get("verificationStatus"))
    if verification == "entered-in-error":
        return None
    concept = resource.get("code")
    codes = codes_of(concept)
    onset = parse_datetime(resource.get("onsetDateTime")) or parse_period_start(resource.get("onsetPeriod"))
    return ConditionFact(
        concepts=index.concepts_for(codes, words_of([concept])),
        codes=codes,
        clinical_status=first_code(resource.get("clinicalStatus")),
        verification_status=verification,
        onset=onset,
        recorded=parse_datetime(resource.get("recordedDate")),
        text=text_of(concept),
        resource_id=as_str(resource.get("id")),
    )
