"""Prefetch templates of the igcds services: exactly the data the rules read.

Tokens are CDS Hooks 2.0 only (``{{context.patientId}}``); searches stay within the spec's
recommended subset (reference/parameters, token ``code`` OR-lists, ``_sort``, ``_count``).
Codes come from docs/clinical-facts.md §1.1 (LOINC, tag V unless noted).

Required keys are those without which a rule would report something false (a dose judged without
a weight, an indication reported missing without the condition list): when they are neither
prefetched nor obtainable the service answers 412. Optional keys that cannot be had silence the
rules that read them.
"""

from __future__ import annotations

from cds_service import Prefetch

LOINC = "http://loinc.org"

#: Body weight (29463-7, 3141-9 and variants), height (8302-2 and variants), BMI (39156-5).
BODY_MEASURE_CODES = (
    "29463-7", "3141-9", "3142-7", "8341-0", "8350-1", "8351-9", "18833-4", "75292-3",
    "8302-2", "3137-7", "8306-3", "8308-9",
    "39156-5",
)

_PATIENT = "{{context.patientId}}"


def _codes(codes: tuple[str, ...]) -> str:
    return ",".join(f"{LOINC}|{c}" for c in codes)


PATIENT = Prefetch(f"Patient/{_PATIENT}")
VITALS = Prefetch(f"Observation?patient={_PATIENT}&code={_codes(BODY_MEASURE_CODES)}&_sort=-date&_count=50")
# Immunoglobulins, renal function, serology, anti-IgA, pneumococcal titres, CD19: all laboratory.
LABS = Prefetch(f"Observation?patient={_PATIENT}&category=laboratory&_sort=-date&_count=100", paged=True)
CONDITIONS = Prefetch(f"Condition?patient={_PATIENT}&_count=100", paged=True)
MEDICATION_REQUESTS = Prefetch(f"MedicationRequest?patient={_PATIENT}&_count=100", paged=True)
MEDICATION_STATEMENTS = Prefetch(f"MedicationStatement?patient={_PATIENT}&_count=100", required=False, paged=True)
MEDICATION_ADMINISTRATIONS = Prefetch(
    f"MedicationAdministration?patient={_PATIENT}&_count=100", required=False, paged=True
)
ALLERGIES = Prefetch(f"AllergyIntolerance?patient={_PATIENT}&_count=100", required=False)
IMMUNIZATIONS = Prefetch(f"Immunization?patient={_PATIENT}&_count=100", required=False, paged=True)
PROCEDURES = Prefetch(f"Procedure?patient={_PATIENT}&_count=100", required=False, paged=True)

ORDER_PREFETCH: dict[str, Prefetch] = {
    "patient": PATIENT,
    "vitals": VITALS,
    "labs": LABS,
    "conditions": CONDITIONS,
    "medicationRequests": MEDICATION_REQUESTS,
    "medicationStatements": MEDICATION_STATEMENTS,
    "medicationAdministrations": MEDICATION_ADMINISTRATIONS,
    "allergies": ALLERGIES,
    "immunizations": IMMUNIZATIONS,
    "procedures": PROCEDURES,
}

PATIENT_VIEW_PREFETCH: dict[str, Prefetch] = dict(ORDER_PREFETCH)

#: Data category of each key, for ``ClinicalRecord.unavailable``.
KEY_CATEGORIES: dict[str, str] = {
    "patient": "patient",
    "vitals": "observations",
    "labs": "observations",
    "conditions": "conditions",
    "medicationRequests": "medications",
    "medicationStatements": "medications",
    "medicationAdministrations": "medications",
    "allergies": "allergies",
    "immunizations": "immunizations",
    "procedures": "procedures",
}
