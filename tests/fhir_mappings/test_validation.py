"""Tolerant reading: what real EHRs send is normalised where the mappers read it, and left alone elsewhere."""

from __future__ import annotations

import copy

import pytest

from fhir_mappings.validation import READ_ELEMENTS, READ_TYPES, read_resource, status_required
from tests.fhir_mappings.builders import ATC, ICD10CM, concept, condition, dose, med_request, observation


def test_the_sandbox_category_sent_as_one_object_is_read_as_a_list_without_a_problem() -> None:
    order = med_request(concept(text="immune globulin G (human) 100 MG/ML Injectable Solution [Privigen]"),
                        dose={"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"})
    order["category"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                     "code": "community"}]}
    reading = read_resource(order)
    assert reading.problems == ()
    assert isinstance(reading.resource["category"], list) and reading.resource["category"][0]["coding"]
    assert isinstance(order["category"], dict), "the input is never changed"


@pytest.mark.parametrize("element", ["reasonCode", "dosageInstruction"])
def test_a_single_object_where_r4_has_a_list_becomes_a_one_item_list(element: str) -> None:
    order = med_request(concept(text="Privigen"), dose=dose(30, "g"),
                        reasonCode=[concept(ICD10CM, "D80.5")])
    order[element] = order[element][0]
    resource, problems = read_resource(order)
    assert problems == () and isinstance(resource[element], list) and len(resource[element]) == 1


def test_single_objects_are_made_lists_at_every_level_the_mappers_read() -> None:
    order = med_request({"coding": {"system": ATC, "code": "J06BA02"}}, dose=dose(30, "g"))
    order["dosageInstruction"] = {"doseAndRate": {"doseQuantity": dose(30, "g")},
                                  "route": {"coding": {"system": "http://snomed.info/sct", "code": "47625008"}}}
    resource, problems = read_resource(order)
    assert problems == ()
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "J06BA02"
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 30
    assert dosage["route"]["coding"][0]["code"] == "47625008"


def test_a_one_item_list_where_r4_has_one_object_becomes_that_object() -> None:
    administration = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
                      "medicationCodeableConcept": concept(text="Privigen"), "effectiveDateTime": "2024-05-01",
                      "dosage": [{"dose": dose(30, "g")}]}
    resource, problems = read_resource(administration)
    assert problems == () and resource["dosage"]["dose"]["value"] == 30


def test_elements_no_mapper_reads_are_never_looked_at() -> None:
    order = med_request(concept(text="Privigen"), dose=dose(30, "g"))
    order.update(note="free text where R4 has Annotation[]", dispenseRequest="x", bogusElement={"a": [1, {"b": None}]},
                 extension=[{"url": 5}], _status={"x": 1}, identifier=7)
    del order["intent"]
    resource, problems = read_resource(order)
    assert problems == ()
    assert resource["dispenseRequest"] == "x" and resource["identifier"] == 7


def test_a_malformed_element_that_is_read_is_removed_and_named_without_its_value() -> None:
    order = med_request(concept(text="Privigen"), repeat={"frequency": 1, "period": "4", "periodUnit": "wk"})
    order["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": {"value": "70", "unit": "g"}}]
    order["authoredOn"] = 20240601
    resource, problems = read_resource(order)
    assert set(problems) == {"malformed-element:dosageInstruction.timing.repeat.period",
                             "malformed-element:dosageInstruction.doseAndRate.doseQuantity.value",
                             "malformed-element:authoredOn"}
    repeat = resource["dosageInstruction"][0]["timing"]["repeat"]
    assert "period" not in repeat and repeat["periodUnit"] == "wk"
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {"unit": "g"}
    assert "authoredOn" not in resource
    assert not any("70" in p or "2024" in p for p in problems)


def test_a_code_outside_its_required_value_set_is_a_problem_and_status_has_its_own_code() -> None:
    order = med_request(concept(text="Privigen"), repeat={"frequency": 1, "period": 4, "periodUnit": "weeks"})
    order["status"] = "signed"
    resource, problems = read_resource(order)
    assert set(problems) == {"invalid-status", "malformed-element:dosageInstruction.timing.repeat.periodUnit"}
    assert "status" not in resource


def test_null_and_empty_elements_are_absent_not_malformed() -> None:
    order = med_request(concept(text="Privigen"), reasonCode=[], authoredOn=None)
    assert read_resource(order) == (order, ())


def test_a_contained_medication_is_read_one_level_deep() -> None:
    contained = {"resourceType": "Medication", "id": "m", "code": {"coding": {"system": ATC, "code": "J06BA01"}},
                 "ingredient": {"itemCodeableConcept": concept(text="immune globulin"),
                                "strength": {"numerator": {"value": "20", "code": "g"}, "denominator": dose(100, "mL")}},
                 "contained": [{"resourceType": "Medication", "code": 5}]}
    order = med_request({}, contained=contained)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "#m"}
    resource, problems = read_resource(order)
    medication = resource["contained"][0]
    assert medication["code"]["coding"][0]["code"] == "J06BA01"
    assert medication["ingredient"][0]["strength"]["numerator"] == {"code": "g"}
    assert problems == ("malformed-element:contained.ingredient.strength.numerator.value",)
    assert medication["contained"] == [{"resourceType": "Medication", "code": 5}], "never read deeper than one level"


def test_garbage_nested_under_a_read_element_costs_that_element_only() -> None:
    deep: object = {"x": 1}
    for _ in range(3000):
        deep = {"coding": [deep]}
    resource = observation("2465-3", 650)
    resource["code"]["coding"].append({"system": deep, "code": "2465-3"})
    normalised, problems = read_resource(resource)
    assert problems == ("malformed-element:code.coding.system",)
    assert normalised["code"]["coding"] == [resource["code"]["coding"][0], {"code": "2465-3"}]


def test_an_unchanged_resource_is_returned_as_it_is() -> None:
    resource = condition(ICD10CM, "D80.5")
    assert read_resource(resource).resource is resource


def test_types_that_are_not_read_are_returned_unchanged() -> None:
    encounter = {"resourceType": "Encounter", "whatever": {"coding": "x"}}
    assert read_resource(encounter) == (encounter, ())


def test_status_is_required_where_r4_requires_it() -> None:
    assert status_required("MedicationRequest") and status_required("Observation")
    assert not status_required("Condition") and not status_required("Encounter")


def test_every_read_element_is_an_element_of_its_r4b_type() -> None:
    """A typo in the read table would silently stop checking an element: every name must exist in R4B."""
    from fhir.resources.R4B import get_fhir_model_class

    backbone = {"ObservationReferenceRange": "observation", "AllergyIntoleranceReaction": "allergyintolerance",
                "MedicationAdministrationDosage": "medicationadministration", "MedicationIngredient": "medication",
                "DosageDoseAndRate": "dosage", "TimingRepeat": "timing"}
    for type_name, elements in READ_ELEMENTS.items():
        if type_name in backbone:
            import importlib

            model = getattr(importlib.import_module(f"fhir.resources.R4B.{backbone[type_name]}"), type_name)
        else:
            model = get_fhir_model_class(type_name)
        aliases = {f.alias for f in model.model_fields.values()}
        assert set(elements) <= aliases, (type_name, set(elements) - aliases)
    assert READ_TYPES <= set(READ_ELEMENTS)


def test_reading_never_raises_on_json_of_any_shape() -> None:
    base = med_request(concept(text="Privigen"), dose=dose(30, "g"), repeat={"count": 5})
    for key in list(base):
        for odd in (None, 0, -1.5, True, "", "x", [], [None], [[]], {}, {"a": {}}, [{"coding": 5}]):
            resource = copy.deepcopy(base)
            resource[key] = odd
            read_resource(resource)


def test_the_generated_fast_path_accepts_exactly_the_resources_that_need_nothing() -> None:
    from fhir_mappings.validation import _resource_acceptor

    usual = med_request(concept(ATC, "J06BA02", text="Privigen"), dose=dose(30, "g"),
                        repeat={"frequency": 1, "period": 4, "periodUnit": "wk"}, reasonCode=[concept(ICD10CM, "D80.5")])
    accept = _resource_acceptor("MedicationRequest")
    assert accept(usual) and read_resource(usual) == (usual, ())
    for deviation in ({"category": {"text": "x"}}, {"reasonCode": concept(ICD10CM, "D80.5")}, {"status": "signed"},
                      {"authoredOn": 5}, {"contained": [{"resourceType": "Medication", "id": "m"}]}):
        assert not accept({**usual, **deviation}), deviation
