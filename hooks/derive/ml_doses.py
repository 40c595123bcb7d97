"""Ig doses ordered in mL, read in g where the concentration is known.

docs/clinical-rules.md Terms ("Ordered dose") and Resolved details ("Concentration of a dose in mL"): g = mL ×
concentration, where the concentration is the strength the order's medication states (its Medication's
``ingredient.strength``, or "10%" / "200 MG/ML" in its name: ``MedicationFact.stated_concentration``,
read by the mapper), else the product table's concentration when the product is sold in one strength
only (``knowledge.products.ml_dose_concentration``). With neither the dose stays unread: no guess
(Octagam and Gammagard exist in two strengths), ``order-dose-unchecked`` says so, and the resource is
reported as degraded (``unknown-concentration``).

The mapper cannot do this itself (``fhir_mappings`` never imports the product facts), so the record is
completed here, once per call, before any rule reads a dose: administrations recorded in mL count in
the dose history as orders do.
"""

from __future__ import annotations

import dataclasses
from typing import TypeGuard

from fhir_mappings.model import (
    ClinicalRecord,
    Dose,
    DoseUnit,
    MedClass,
    MedicationFact,
    Outcome,
    ProcedureFact,
    Skipped,
    reportable_id,
)

from ..knowledge.products import ml_dose_concentration

UNKNOWN_CONCENTRATION = "unknown-concentration"


def concentration_of(fact: MedicationFact) -> float | None:
    """g/mL for a dose in mL of ``fact``: the stated strength, else the product's single strength."""
    if fact.stated_concentration is not None:
        return fact.stated_concentration
    return ml_dose_concentration(fact.product)


def _in_ml(fact: MedicationFact | ProcedureFact) -> TypeGuard[MedicationFact]:
    return (
        isinstance(fact, MedicationFact)
        and fact.dose is None
        and fact.dose_given is not None
        and fact.dose_given.millilitres is not None
        and MedClass.IMMUNE_GLOBULIN in fact.classes
    )


def _converted(fact: MedicationFact, problems: list[Skipped]) -> MedicationFact:
    assert fact.dose_given is not None and fact.dose_given.millilitres is not None
    volume = fact.dose_given.millilitres
    concentration = concentration_of(fact)
    if concentration is None:
        problems.append(Skipped(fact.resource_type, UNKNOWN_CONCENTRATION, Outcome.DEGRADED, reportable_id(fact.id),
                                fact.position))
        return fact
    dose = Dose(volume * concentration, DoseUnit.G, volume_ml=volume, concentration=concentration)
    return dataclasses.replace(fact, dose=dose)


def with_ml_doses(record: ClinicalRecord) -> ClinicalRecord:
    """``record`` with every Ig dose in mL read in g where it can be (the same record when none is)."""
    if not any(_in_ml(f) for f in record.medications) and not any(_in_ml(f) for f in record.draft_orders):
        return record
    problems: list[Skipped] = []
    medications = tuple(_converted(f, problems) if _in_ml(f) else f for f in record.medications)
    drafts = tuple(_converted(f, problems) if _in_ml(f) else f for f in record.draft_orders)
    return dataclasses.replace(
        record, medications=medications, draft_orders=drafts, skipped=record.skipped + tuple(problems)
    )
