"""Procedure / ServiceRequest -> ``ProcedureFact`` with the concepts the rules ask about.

"plasma-exchange": CPT 36514 (clinical-facts §1.6, tag V), a site-configured SNOMED list (empty by
default: no SNOMED plasmapheresis code is verified, clinical-facts §1.6 / §5 item 3), or the words
"plasma exchange", "plasmapheresis", "apheresis". "stem-cell-transplant": words naming
haematopoietic stem cell or bone marrow transplantation (docs/clinical-rules.md Resolved details).
Dropped: entered-in-error, and Procedures ``not-done``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from .codings import CPT, SNOMED, as_str, codes_of, parse_datetime, parse_period_start, text_of, words_of
from .errors import MappingError
from .model import ProcedureFact

PROCEDURE_TYPES = frozenset({"Procedure", "ServiceRequest"})
#: CPT 36514 "Therapeutic apheresis; for plasma pheresis": clinical-facts §1.6, tag V.
PLASMA_EXCHANGE_CPT = frozenset({"36514"})
_PLASMA_EXCHANGE = re.compile(r"plasma[- ]?exchange|plasmapheresis|\bapheresis\b|\bplasma pheresis\b")
_TRANSPLANT = re.compile(
    r"\b(?:(?:ha?emat|ha?em)opoietic\s+)?(?:stem[- ]cell|bone[- ]marrow)\s+transplant|\bhsct\b"
)
_DROPPED = frozenset({"entered-in-error", "not-done"})


def map_procedure(
    resource: Mapping[str, object], *, plasma_exchange_snomed: Collection[str] = (), draft: bool = False
) -> ProcedureFact | None:
    """A ProcedureFact, or None for a dropped status."""
    kind = as_str(resource.get("resourceType"))
    if kind not in PROCEDURE_TYPES:
        raise MappingError("not-a-procedure")
    status = as_str(resource.get("status"))
    if status in _DROPPED:
        return None
    concept = resource.get("code")
    codes = codes_of(concept)
    words = words_of([concept])
    concepts: set[str] = set()
    if (
        any(c.system == CPT and c.code in PLASMA_EXCHANGE_CPT for c in codes)
        or any(c.system == SNOMED and c.code in plasma_exchange_snomed for c in codes)
        or _PLASMA_EXCHANGE.search(words)
    ):
        concepts.add("plasma-exchange")
    if _TRANSPLANT.search(words):
        concepts.add("stem-cell-transplant")
    if kind == "Procedure":
        when = parse_datetime(resource.get("performedDateTime")) or parse_period_start(resource.get("performedPeriod"))
    else:
        when = (
            parse_datetime(resource.get("occurrenceDateTime"))
            or parse_period_start(resource.get("occurrencePeriod"))
            or parse_datetime(resource.get("authoredOn"))
        )
    return ProcedureFact(
        resource_type=kind,
        id=as_str(resource.get("id")),
        concepts=frozenset(concepts),
        codes=codes,
        status=status,
        when=when,
        text=text_of(concept),
        draft=draft,
    )
