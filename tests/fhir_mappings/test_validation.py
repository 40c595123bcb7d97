"""R4B validation: the cheap shape check agrees with the R4B model on what it lets through."""

import pytest

from fhir_mappings.validation import ValidationMode, validate_resource
from tests.fhir_mappings.builders import concept, med_request, observation

GOOD = [observation("2465-3", 650), med_request(concept(text="Privigen"))]


@pytest.mark.parametrize("resource", GOOD)
@pytest.mark.parametrize("mode", list(ValidationMode))
def test_valid_resources_pass_in_every_mode(resource: dict, mode: ValidationMode) -> None:
    assert validate_resource(resource, mode) is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.pop("status"), "invalid Observation: missing status"),
        (lambda r: r.update(bogusElement=1), "invalid Observation: unknown element bogusElement"),
        (lambda r: r.update(valueString="x"), "invalid Observation"),  # two value[x]
        (lambda r: r.update(category="laboratory"), "invalid Observation"),
    ],
)
@pytest.mark.parametrize("mode", [ValidationMode.AUTO, ValidationMode.FULL])
def test_invalid_observations_are_refused_with_a_reason_without_values(mutate, reason: str, mode: ValidationMode) -> None:  # type: ignore[no-untyped-def]
    resource = observation("2465-3", 650)
    mutate(resource)
    result = validate_resource(resource, mode)
    assert result is not None and result.startswith(reason)
    assert "650" not in result


def test_full_mode_also_checks_nested_values() -> None:
    resource = observation("2465-3", 650)
    resource["effectiveDateTime"] = "yesterday"
    assert validate_resource(resource, ValidationMode.FULL) is not None
    assert validate_resource(resource, ValidationMode.AUTO) is None  # the mapper then ignores the bad date


def test_medication_request_without_medication_is_refused() -> None:
    resource = med_request(concept(text="x"))
    del resource["medicationCodeableConcept"]
    assert "choice element" in (validate_resource(resource) or "")


def test_unusual_but_valid_shape_goes_to_the_r4b_model_and_passes() -> None:
    resource = observation("2465-3", 650)
    resource["_status"] = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    assert validate_resource(resource) is None


def test_bad_contained_resource_is_caught() -> None:
    resource = med_request({}, contained=[{"resourceType": "Medication", "id": "m", "nonsense": True}])
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "#m"}
    assert validate_resource(resource) is not None


def test_other_resource_types_are_not_checked() -> None:
    assert validate_resource({"resourceType": "Encounter", "whatever": 1}) is None
