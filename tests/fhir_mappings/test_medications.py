"""Orders, statements, administrations and immunizations as the dose and safety rules read them."""

from datetime import UTC, datetime

import pytest

from fhir_mappings.errors import MappingError
from fhir_mappings.medications import map_medication, read_timing
from fhir_mappings.model import DoseUnit, GivenDose, MedClass, Route
from tests.fhir_mappings.builders import ATC, CVX, ICD10CM, PATIENT_REF, SNOMED, concept, dose, med_request

PRIVIGEN = concept(ATC, "J06BA02", text="Privigen 10% IV")


def test_privigen_order_for_higm_every_four_weeks() -> None:
    resource = med_request(PRIVIGEN, dose=dose(0.4, "g/kg"), repeat={"frequency": 1, "period": 4, "periodUnit": "wk"},
                           reasonCode=[concept(ICD10CM, "D80.5")])
    fact = map_medication(resource, draft=True)
    assert fact is not None and fact.is_ig and fact.draft
    assert fact.product == "privigen" and fact.route is Route.IV
    assert fact.dose is not None and (fact.dose.value, fact.dose.unit) == (0.4, DoseUnit.G_PER_KG)
    assert fact.timing is not None and fact.timing.interval_days == 28
    assert "hyper-igm" in fact.reason_concepts and "replacement-severe" in fact.reason_concepts
    assert fact.when == datetime(2024, 6, 1, tzinfo=UTC)
    assert fact.reference == "MedicationRequest/mr1" and fact.raw is resource


@pytest.mark.parametrize(("value", "unit"), [(30, "g"), (30000, "mg"), (0.4, "g/kg"), (400, "mg/kg")])
def test_dose_units(value: float, unit: str) -> None:
    fact = map_medication(med_request(PRIVIGEN, dose=dose(value, unit)))
    assert fact is not None and fact.dose is not None and fact.dose.unit.value == unit and fact.dose.value == value


def test_dose_in_millilitres_is_kept_as_given_for_the_hooks_to_convert() -> None:
    fact = map_medication(med_request(PRIVIGEN, dose=dose(300, "mL")))
    assert fact is not None and fact.dose is None
    assert fact.dose_given == GivenDose(300, "mL") and fact.dose_given.millilitres == 300
    assert fact.stated_concentration == 0.10  # "Privigen 10% IV"


@pytest.mark.parametrize(
    ("name", "strength"),
    [("immune globulin G (human) 100 MG/ML Injectable Solution [Privigen]", 0.10),
     ("10 ML immunoglobulin G 200 MG/ML Injectable Solution [Hizentra]", 0.20),
     ("Cutaquig 16.5% solution", 0.165), ("Octagam", None), ("Octagam 5% / 10%", None),
     ("IVIG 0.1 g/mL", 0.10)],
)
def test_strength_stated_in_the_product_name(name: str, strength: float | None) -> None:
    fact = map_medication(med_request(concept(text=name), dose=dose(100, "mL")))
    assert fact is not None and fact.is_ig and fact.stated_concentration == strength


def test_strength_stated_on_the_medication_wins_over_the_name() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": concept(text="Octagam 10%"),
                  "ingredient": [{"itemCodeableConcept": concept(text="immune globulin"),
                                  "strength": {"numerator": dose(5, "g"), "denominator": dose(100, "mL")}},
                                 {"itemCodeableConcept": concept(text="maltose"),
                                  "strength": {"numerator": {"value": 1, "code": "[iU]"},
                                               "denominator": dose(1, "mL")}}]}
    order = med_request({}, dose=dose(500, "mL"), contained=[medication])
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "#m1"}
    fact = map_medication(order)
    assert fact is not None and fact.product == "octagam" and fact.stated_concentration == 0.05


@pytest.mark.parametrize(
    ("quantity", "given", "note"),
    [({"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"}, GivenDose(1, "{pill}"), "invalid-dose-unit"),
     ({"value": 2, "unit": "vial"}, GivenDose(2, "vial"), "invalid-dose-unit"),
     ({"unit": "g", "system": "http://unitsofmeasure.org", "code": "g"}, GivenDose(None, "g"), "invalid-dose-value"),
     ({"value": 300, "unit": "ml"}, GivenDose(300, "mL"), None)],
)
def test_an_unreadable_ig_dose_is_kept_as_given_and_noted(quantity: dict, given: GivenDose, note: str | None) -> None:
    notes: list[str] = []
    fact = map_medication(med_request(PRIVIGEN, dose=quantity), notes=notes)
    assert fact is not None and fact.dose is None and fact.dose_given == given
    assert notes == ([note] if note else [])


def test_a_metformin_tablet_is_not_an_unreadable_ig_dose() -> None:
    notes: list[str] = []
    fact = map_medication(med_request(concept(text="metformin 500 mg tablet"), dose={"value": 1, "unit": "tablet"}),
                          notes=notes)
    assert fact is not None and notes == []


def test_a_draft_order_without_medication_is_unknown() -> None:
    order = med_request({})
    del order["medicationCodeableConcept"]
    with pytest.raises(MappingError, match="unknown-medication"):
        map_medication(order, draft=True)


def test_a_draft_order_without_status_is_a_draft() -> None:
    order = med_request(PRIVIGEN)
    del order["status"]
    fact = map_medication(order, draft=True)
    assert fact is not None and fact.status == "draft"
    assert map_medication(order).status is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("period", "days"),
    [({"start": "2024-05-01", "end": "2024-05-05"}, 5), ({"start": "2024-05-01", "end": "2024-05-01"}, 1),
     ({"start": "2024-05-01T08:00:00Z", "end": "2024-05-05T08:00:00Z"}, 4),
     ({"start": "2024-05-01T08:00:00Z", "end": "2024-05-05T09:00:00Z"}, 5),
     ({"start": "2024-05-01", "end": "2024-05-03T20:00:00Z"}, 3),
     ({"start": "2024-05-01"}, None), ({"start": "2024-05-05", "end": "2024-05-01"}, None),
     ({"start": "2024-05-01T08:00:00Z", "end": "2024-05-01T08:00:00Z"}, None)],
)
def test_course_with_bounds_period(period: dict, days: int | None) -> None:
    timing = read_timing({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": period}})
    assert timing is not None and timing.bounds_days == days
    assert timing.administrations == days


def test_gbs_course_with_count() -> None:
    timing = read_timing({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "count": 5}})
    assert timing is not None and timing.count == 5 and timing.administrations == 5 and timing.interval_days == 1


def test_course_with_bounds_duration_in_days() -> None:
    timing = read_timing({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                     "boundsDuration": {"value": 5, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}})
    assert timing is not None and timing.bounds_days == 5 and timing.administrations == 5


def test_monthly_is_thirty_days() -> None:
    timing = read_timing({"repeat": {"frequency": 1, "period": 1, "periodUnit": "mo"}})
    assert timing is not None and timing.interval_days == 30


def test_garbage_timing_is_ignored() -> None:
    assert read_timing({"repeat": {"frequency": "x", "period": -1}}) == read_timing({"repeat": {}}) is None
    assert read_timing("nonsense") is None


@pytest.mark.parametrize(
    ("route", "expected"),
    [(concept(SNOMED, "47625008", "Intravenous route"), Route.IV), (concept(SNOMED, "34206005"), Route.SC),
     (concept(SNOMED, "78421000"), Route.IM), (concept(text="Subcutaneous"), Route.SC),
     (concept(text="IV infusion"), Route.IV)],
)
def test_route_from_the_order(route: dict, expected: Route) -> None:
    fact = map_medication(med_request(concept(text="immune globulin 10%"), route=route))
    assert fact is not None and fact.route is expected


def test_route_from_product_when_the_order_has_none() -> None:
    for name, expected in [("Hizentra 20%", Route.SC), ("HyQvia", Route.SC), ("Cuvitru", Route.SC), ("Octagam", Route.IV)]:
        fact = map_medication(med_request(concept(text=name)))
        assert fact is not None and fact.route is expected, name
    extravascular = map_medication(med_request(concept(ATC, "J06BA01", "immunoglobulins, normal human, extravascular")))
    assert extravascular is not None and extravascular.route is Route.SC


def test_intramuscular_ig_is_never_an_ig_order() -> None:
    fact = map_medication(med_request(concept(text="immune globulin (human)"), route=concept(text="intramuscular")))
    assert fact is not None and not fact.is_ig and MedClass.IG_EXCLUDED in fact.classes


def test_winrho_is_excluded() -> None:
    fact = map_medication(med_request(concept(text="WinRho SDF Rho(D) immune globulin")))
    assert fact is not None and not fact.is_ig


def test_contained_medication() -> None:
    resource = med_request({}, contained=[{"resourceType": "Medication", "id": "med1", "code": concept(text="Gammagard Liquid")}])
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "#med1"}
    fact = map_medication(resource)
    assert fact is not None and fact.is_ig and fact.product == "gammagard-liquid" and fact.name == "Gammagard Liquid"


def test_medication_reference_resolved_through_the_callback() -> None:
    resource = med_request({})
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "Medication/m9"}
    seen: list[str] = []

    def resolve(reference: str) -> dict | None:
        seen.append(reference)
        return {"resourceType": "Medication", "id": "m9", "code": concept(text="Medication"),
                "ingredient": [{"itemCodeableConcept": concept(text="Hizentra")}]}

    fact = map_medication(resource, resolve=resolve)
    assert seen == ["Medication/m9"]
    assert fact is not None and fact.is_ig and fact.product == "hizentra" and fact.route is Route.SC


def test_unresolvable_reference_is_skipped_unless_it_has_a_display() -> None:
    resource = med_request({})
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "Medication/missing"}
    with pytest.raises(MappingError, match="unresolved-reference:medicationReference"):
        map_medication(resource, resolve=lambda ref: None)
    resource["medicationReference"]["display"] = "Privigen"
    fact = map_medication(resource, resolve=lambda ref: 1 / 0)  # a failing resolver is "not found"
    assert fact is not None and fact.is_ig and fact.name == "Privigen"


def test_reason_reference_to_a_condition() -> None:
    resource = med_request(PRIVIGEN, reasonReference=[{"reference": "Condition/c1"}, {"reference": "Condition/refuted"}])
    conditions = {
        "Condition/c1": {"resourceType": "Condition", "code": concept(ICD10CM, "G61.0")},
        "Condition/refuted": {"resourceType": "Condition", "code": concept(ICD10CM, "D83.9"),
                              "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted")},
    }
    fact = map_medication(resource, resolve=conditions.get)
    assert fact is not None and "gbs" in fact.reason_concepts and "cvid" not in fact.reason_concepts


def test_statuses_kept_for_requests_but_entered_in_error_dropped() -> None:
    assert map_medication(med_request(PRIVIGEN, status="cancelled")).status == "cancelled"  # type: ignore[union-attr]
    assert map_medication(med_request(PRIVIGEN, status="entered-in-error")) is None


def test_administration_with_dose_route_and_period() -> None:
    resource = {"resourceType": "MedicationAdministration", "id": "ma1", "status": "completed", "subject": PATIENT_REF,
                "medicationCodeableConcept": PRIVIGEN,
                "effectivePeriod": {"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T13:00:00Z"},
                "dosage": {"dose": dose(35, "g"), "route": concept(SNOMED, "47625008")}}
    fact = map_medication(resource)
    assert fact is not None and fact.resource_type == "MedicationAdministration"
    assert fact.dose is not None and fact.dose.grams(None) == 35 and fact.route is Route.IV
    assert fact.until == datetime(2024, 5, 1, 13, tzinfo=UTC)
    resource["status"] = "not-done"
    assert map_medication(resource) is None


def test_statement_uses_first_dosage() -> None:
    resource = {"resourceType": "MedicationStatement", "id": "ms1", "status": "active", "subject": PATIENT_REF,
                "medicationCodeableConcept": concept(text="Hizentra"), "effectiveDateTime": "2024-04-01",
                "dosage": [{"doseAndRate": [{"doseQuantity": dose(10, "g")}], "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}]}
    fact = map_medication(resource)
    assert fact is not None and fact.is_ig and fact.timing is not None and fact.timing.interval_days == 7
    assert fact.route is Route.SC


def test_immunization_with_live_vaccine_cvx() -> None:
    resource = {"resourceType": "Immunization", "id": "im1", "status": "completed", "patient": PATIENT_REF,
                "vaccineCode": concept(CVX, "03", "MMR"), "occurrenceDateTime": "2024-03-01"}
    fact = map_medication(resource)
    assert fact is not None and fact.resource_type == "Immunization"
    assert {MedClass.LIVE_VACCINE, MedClass.MEASLES_VARICELLA_VACCINE} <= fact.classes
    assert fact.when == datetime(2024, 3, 1, tzinfo=UTC)


def test_immunization_with_cvx_86_is_excluded_ig() -> None:
    resource = {"resourceType": "Immunization", "id": "im2", "status": "completed", "patient": PATIENT_REF,
                "vaccineCode": concept(CVX, "86", "IG"), "occurrenceDateTime": "2024-03-01"}
    fact = map_medication(resource)
    assert fact is not None and not fact.is_ig and MedClass.IG_EXCLUDED in fact.classes


def test_live_vaccine_ordered_as_a_medication_request() -> None:
    fact = map_medication(med_request(concept(CVX, "21", "varicella")))
    assert fact is not None and MedClass.LIVE_VACCINE in fact.classes
