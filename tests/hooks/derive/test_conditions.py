"""hooks.derive.conditions: the concept sets answer exactly what scanning the conditions answered."""

from __future__ import annotations

import dataclasses

from fhir_mappings.model import ClinicalRecord
from hooks.derive.conditions import active_concepts, recorded_concepts
from tests.hooks.pv_builders import condition, record


def _rec() -> ClinicalRecord:
    refuted = dataclasses.replace(condition("diabetes"), verification_status="refuted")
    error = dataclasses.replace(condition("sepsis"), verification_status="entered-in-error")
    return record(
        conditions=[
            condition("cvid"),
            condition("venous-thrombosis", status="resolved"),
            condition("hypertension", status="recurrence"),
            condition("immobility", status="inactive"),
            refuted,
            error,
        ]
    )


def test_active_concepts_is_has_active() -> None:
    rec = _rec()
    every = {concept for c in rec.conditions for concept in c.concepts} | {"pregnancy"}
    assert {c for c in every if rec.has_active(c)} == active_concepts(rec)
    assert "cvid" in active_concepts(rec) and "hypertension" in active_concepts(rec)
    assert "venous-thrombosis" not in active_concepts(rec) and "diabetes" not in active_concepts(rec)


def test_recorded_concepts_count_history_but_not_refuted_or_error() -> None:
    rec = _rec()
    found = recorded_concepts(rec)
    assert {"cvid", "venous-thrombosis", "hypertension", "immobility"} <= found
    assert "diabetes" not in found and "sepsis" not in found
    for concept in {concept for c in rec.conditions for concept in c.concepts}:
        scanned = any(concept in c.concepts and not c.refuted_or_error for c in rec.conditions)
        assert (concept in found) is scanned, concept
