"""The patient's conditions as sets of concepts, read once per call.

Many rules ask "is there an active X?" or "is X on record, current or past?" (the thrombosis risk
factors alone ask eleven such questions, the renal ones four more). Each question used to rescan
every condition; these sets are built once per call (``cache.per_call``) and answer in one lookup.

- ``active_concepts``: concepts of the *active* conditions (docs/clinical-rules.md Terms: clinical status active,
  recurrence or relapse, not refuted or entered-in-error). ``X in active_concepts(record)`` is
  exactly ``record.has_active(X)``.
- ``recorded_concepts``: concepts of every condition of any clinical status (a resolved thrombosis
  is history that counts), except refuted or entered-in-error ones.
"""

from __future__ import annotations

from fhir_mappings.model import ClinicalRecord

from .cache import per_call


@per_call
def active_concepts(record: ClinicalRecord) -> frozenset[str]:
    """Concepts of the active conditions (``ConditionFact.active``)."""
    return frozenset(concept for c in record.conditions if c.active for concept in c.concepts)


@per_call
def recorded_concepts(record: ClinicalRecord) -> frozenset[str]:
    """Concepts of the conditions of any clinical status, except refuted or entered-in-error."""
    return frozenset(concept for c in record.conditions if not c.refuted_or_error for concept in c.concepts)
