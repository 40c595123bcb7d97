"""AllergyIntolerance -> ``AllergyFact`` with the concepts the rules ask about.

Concepts: "immune-globulin" (any human immune globulin, by code or name, hyperimmune globulins
included: they are plasma-derived Ig too), "blood-product" (blood, plasma, transfusion), "sulfonamide".
Anaphylaxis: a reaction manifestation coded SNOMED 39579001 (clinical-facts §1.2, tag C) or any
manifestation/description text containing "anaphyla". Entered-in-error allergies are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .codings import SNOMED, as_dict, as_list, as_str, codes_of, first_code, text_of, words_of
from .drugs import classify_drug, names_immune_globulin
from .model import AllergyFact, MedClass

#: SNOMED 39579001 Anaphylaxis (disorder): clinical-facts §1.2, tag C.
ANAPHYLAXIS_SNOMED = "39579001"
_BLOOD = re.compile(r"\bblood\b|\bplasma\b|\btransfusion")


def map_allergy(resource: Mapping[str, object]) -> AllergyFact | None:
    """An AllergyFact, or None for an entered-in-error AllergyIntolerance."""
    verification = first_code(resource.get("verificationStatus"))
    if verification == "entered-in-error":
        return None
    concept = resource.get("code")
    codes = codes_of(concept)
    reactions = [as_dict(r) for r in as_list(resource.get("reaction"))]
    substances = [r.get("substance") for r in reactions]
    words = words_of([concept, *substances])
    all_codes = codes + tuple(c for s in substances for c in codes_of(s))
    concepts: set[str] = set()
    if names_immune_globulin(all_codes, words):
        concepts.add("immune-globulin")
    if _BLOOD.search(words):
        concepts.add("blood-product")
    if MedClass.SULFONAMIDE in classify_drug(all_codes, words).classes:
        concepts.add("sulfonamide")
    manifestations = [m for r in reactions for m in as_list(r.get("manifestation"))]
    anaphylaxis = any(c.system == SNOMED and c.code == ANAPHYLAXIS_SNOMED for m in manifestations for c in codes_of(m))
    descriptions = " ".join(as_str(r.get("description")) or "" for r in reactions).lower()
    anaphylaxis = anaphylaxis or "anaphyla" in words_of(manifestations) or "anaphyla" in descriptions
    return AllergyFact(
        concepts=frozenset(concepts),
        codes=codes,
        text=text_of(concept),
        clinical_status=first_code(resource.get("clinicalStatus")),
        verification_status=verification,
        criticality=as_str(resource.get("criticality")),
        severities=tuple(s for s in (as_str(r.get("severity")) for r in reactions) if s),
        anaphylaxis=anaphylaxis,
        resource_id=as_str(resource.get("id")),
    )
