"""hooks.suggestions: the update suggestion copies the order, never changes it."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from hooks.suggestions import _copy_json, update_dose

ORDER: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "ivig-1",
    "status": "draft",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J06BA02"}]},
    "dosageInstruction": [
        {
            "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk"}},
            "doseAndRate": [{"doseQuantity": {"value": 0.4, "unit": "g/kg", "code": "g/kg"}}],
        }
    ],
    "extension": [{"url": "urn:x", "valueBoolean": True}, {"url": "urn:y", "valueInteger": 3}],
    "note": None,
}


def test_copy_json_is_an_independent_deep_copy() -> None:
    copied = _copy_json(ORDER)
    assert copied == copy.deepcopy(ORDER)
    copied["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 99
    copied["extension"].append({})
    assert ORDER["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 0.4
    assert len(ORDER["extension"]) == 2


def test_copy_json_deep_copies_what_json_never_holds() -> None:
    odd: dict[str, Any] = {"when": date(2025, 1, 1), "pair": (1, [2])}
    copied = _copy_json(odd)
    assert copied == odd and copied["pair"][1] is not odd["pair"][1]


def test_update_dose_leaves_the_order_unchanged() -> None:
    before = copy.deepcopy(ORDER)
    suggestion = update_dose(ORDER, 28, label="Change dose to 28 g", description="Update the order")
    (action,) = suggestion.actions
    assert action.resource is not None
    assert action.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 28, "unit": "g", "system": "http://unitsofmeasure.org", "code": "g"
    }
    assert action.resource["id"] == "ivig-1" and action.resource["extension"] == ORDER["extension"]
    assert ORDER == before
