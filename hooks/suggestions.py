"""Suggestions a clinician can accept in one click: real FHIR resources, built in one place.

``create`` suggestions carry a complete draft resource (ServiceRequest for a lab test,
MedicationRequest for a prophylaxis); ``update`` suggestions carry the *whole* draft order with
the same id and only the dose changed (CDS Hooks 2.0 Action: update = the whole resource).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cds_service import Action, ActionType, Suggestion

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def lab_order(
    patient_id: str,
    loinc: str,
    display: str,
    *,
    label: str | None = None,
    note: str | None = None,
    recommended: bool = False,
) -> Suggestion:
    """Suggest a draft ServiceRequest for one laboratory test (LOINC-coded)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if note:
        resource["note"] = [{"text": note}]
    return Suggestion(
        label=label or f"Order {display}",
        actions=(Action(ActionType.CREATE, f"Create a draft order for {display} (LOINC {loinc})", resource),),
        is_recommended=recommended,
    )


def medication_order(
    patient_id: str,
    rxnorm: str,
    display: str,
    *,
    dosage_text: str,
    label: str,
    frequency_per_day: int = 1,
    recommended: bool = False,
) -> Suggestion:
    """Suggest a draft MedicationRequest coded in RxNorm (e.g. TMP-SMX 800/160 mg daily)."""
    resource = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm, "display": display}],
                                      "text": display},
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [{
            "text": dosage_text,
            "timing": {"repeat": {"frequency": frequency_per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet",
                                              "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                                              "code": "TAB"}}],
        }],
    }
    return Suggestion(
        label=label,
        actions=(Action(ActionType.CREATE, f"Create a draft order for {display} (RxNorm {rxnorm})", resource),),
        is_recommended=recommended,
    )


def update_dose(
    order: Mapping[str, Any],
    grams: float,
    *,
    label: str,
    description: str,
    recommended: bool = True,
) -> Suggestion:
    """The same MedicationRequest (same id) with the first dose set to ``grams`` g.

    The dose is written in g (UCUM ``g``) whatever unit the order used, so the accepted order
    states the absolute amount the pharmacy prepares.
    """
    resource = _copy_json(dict(order))
    dosages = resource.get("dosageInstruction")
    if not isinstance(dosages, list) or not dosages or not isinstance(dosages[0], dict):
        dosages = [{}]
        resource["dosageInstruction"] = dosages
    dose_and_rate = dosages[0].get("doseAndRate")
    if not isinstance(dose_and_rate, list) or not dose_and_rate or not isinstance(dose_and_rate[0], dict):
        dose_and_rate = [{}]
        dosages[0]["doseAndRate"] = dose_and_rate
    dose_and_rate[0]["doseQuantity"] = {"value": _number(grams), "unit": "g", "system": UCUM, "code": "g"}
    return Suggestion(
        label=label,
        actions=(Action(ActionType.UPDATE, description, resource),),
        is_recommended=recommended,
    )


_JSON_SCALARS = (str, int, float, bool, type(None))


def _copy_json(value: Any) -> Any:
    """A deep copy of a FHIR JSON tree, several times cheaper than ``copy.deepcopy``.

    Dicts and lists are rebuilt, JSON scalars are immutable and shared; anything else (never
    produced by a JSON parser) still goes through ``copy.deepcopy``.
    """
    kind = type(value)
    if kind is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if kind is list:
        return [_copy_json(v) for v in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def text_lab_order(
    patient_id: str,
    text: str,
    *,
    loinc: str | None = None,
    label: str | None = None,
    note: str | None = None,
    recommended: bool = False,
) -> Suggestion:
    """A draft ServiceRequest for a test with no verified code: ``code.text`` only.

    With ``loinc`` (a site-configured code) it is the same as :func:`lab_order`. Used for tests
    whose LOINC code the reference could not verify (pneumococcal antibodies, CD19, HBV DNA).
    """
    if loinc:
        return lab_order(patient_id, loinc, text, label=label, note=note, recommended=recommended)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if note:
        resource["note"] = [{"text": note}]
    return Suggestion(
        label=label or f"Order {text}",
        actions=(Action(ActionType.CREATE,
                        f"Create a draft order for {text} (coded by text; no verified LOINC)", resource),),
        is_recommended=recommended,
    )
