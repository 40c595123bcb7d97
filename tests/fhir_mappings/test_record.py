"""A whole call's data becomes one ClinicalRecord; bad resources are skipped and counted, never fatal."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mappings import build_record
from fhir_mappings.model import Measure, MedicationFact, Outcome, ProcedureFact, Sex, Skipped
from tests.fhir_mappings.builders import (
    ATC,
    CPT,
    ICD10CM,
    PATIENT_REF,
    bundle,
    concept,
    condition,
    dose,
    med_request,
    observation,
    patient,
)


def _higm_chart() -> list[dict]:
    return [
        bundle(observation("2465-3", 3.1, "g/L", rid="igg1"), observation("29463-7", 70, "kg", rid="w1"),
               observation("2465-3", 650, rid="igg2", status="preliminary")),
        bundle(condition(ICD10CM, "D80.5", rid="c1"), condition(ICD10CM, "J18.9", rid="c2", clinical="resolved")),
    ]


def test_a_higm_patient_with_a_draft_privigen_order_and_plasma_exchange() -> None:
    privigen = med_request(concept(ATC, "J06BA02", text="Privigen"), rid="d1", dose=dose(0.4, "g/kg"))
    pex = {"resourceType": "ServiceRequest", "id": "d2", "status": "draft", "intent": "order", "subject": PATIENT_REF,
           "code": concept(CPT, "36514")}
    record = build_record(patient=patient(), resources=_higm_chart(), draft_orders=bundle(privigen, pex),
                          selections=["MedicationRequest/d1"], unavailable={"allergies"})
    assert record.patient is not None and record.patient.id == "p1"
    assert [m.value for m in record.measured(Measure.IGG)] == [310]
    assert record.has_active("hyper-igm") and not record.has_active("pneumonia")
    assert len(record.draft_orders) == 2 and all(o.draft for o in record.draft_orders)
    assert [o.id for o in record.orders_to_judge()] == ["d1"]
    assert isinstance(record.draft_orders[1], ProcedureFact) and "plasma-exchange" in record.draft_orders[1].concepts
    assert not record.has("allergies") and record.skipped == ()


def test_duplicates_across_prefetch_keys_are_used_once() -> None:
    igg = observation("2465-3", 650, rid="same")
    record = build_record(patient=None, resources=[bundle(igg), bundle(igg), igg])
    assert len(record.measurements) == 1


def test_outcome_entries_and_operation_outcomes_are_ignored() -> None:
    searchset = bundle(observation("2465-3", 650))
    searchset["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}})
    record = build_record(patient=None, resources=[searchset, {"resourceType": "OperationOutcome", "issue": []}])
    assert len(record.measurements) == 1 and record.skipped == ()


def test_invalid_resources_are_skipped_and_counted_without_phi() -> None:
    no_status = observation("2465-3", 650, rid="bad")
    del no_status["status"]
    wrong_unit = observation("2465-3", 6.5, "mmol/L", rid="unit")
    record = build_record(patient=patient(), resources=[no_status, wrong_unit, observation("2465-3", 700, rid="ok"),
                                                        "garbage", 42, {"no": "type"}])
    assert len(record.measurements) == 1
    reasons = [(s.resource_type, s.reason, s.outcome) for s in record.skipped]
    assert ("Observation", "invalid-status", Outcome.SKIPPED) in reasons
    assert ("Observation", "unsupported-unit", Outcome.SKIPPED) in reasons
    assert sum(1 for s in record.skipped if s.resource_type == "unknown" and s.reason == "not-a-resource") == 3
    assert not any("650" in s.reason or "6.5" in s.reason for s in record.skipped)


def test_each_problem_names_the_resource_by_id_and_position() -> None:
    bad = observation("2465-3", 6.5, "mmol/L", rid="igg-7")
    record = build_record(patient=None, resources={"labs": bundle(observation("2465-3", 700), bad, "junk")},
                          draft_orders=bundle(med_request(concept(text="Privigen"), rid="d1",
                                                          dose=dose(2, "{vial}"))))
    assert list(record.skipped) == [
        Skipped("unknown", "not-a-resource", Outcome.SKIPPED, None, "labs.entry[2]"),
        Skipped("Observation", "unsupported-unit", Outcome.SKIPPED, "igg-7", "labs.entry[1]"),
        Skipped("MedicationRequest", "invalid-dose-unit", Outcome.DEGRADED, "d1", "draftOrders.entry[0]"),
    ]


def test_an_id_that_is_not_a_fhir_id_is_not_echoed() -> None:
    bad = observation("2465-3", 6.5, "mmol/L", rid="John Smith, MRN 123")
    record = build_record(patient=None, resources=[bad])
    assert record.skipped[0].resource_id is None and record.skipped[0].position == "resources[0]"


def test_a_malformed_element_a_rule_reads_degrades_the_fact_and_is_reported() -> None:
    order = med_request(concept(text="Privigen"), rid="d1", repeat={"frequency": 1, "period": "4", "periodUnit": "wk"},
                        dose=dose(30, "g"))
    record = build_record(patient=None, resources=[], draft_orders=[order])
    fact = record.draft_orders[0]
    assert isinstance(fact, MedicationFact) and fact.is_ig and fact.dose is not None
    assert fact.timing is not None and fact.timing.interval_days is None  # the period is unknown, not guessed
    assert [(s.reason, s.outcome) for s in record.skipped] == [
        ("malformed-element:dosageInstruction.timing.repeat.period", Outcome.DEGRADED)]


def test_unread_resource_types_are_skipped_silently() -> None:
    record = build_record(patient=None, resources=[{"resourceType": "Encounter", "id": "e1", "bogus": True}])
    assert record.skipped == ()


def test_medication_reference_resolved_from_this_calls_resources_then_the_callback() -> None:
    order = med_request({}, rid="d1")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/m1"}
    medication = {"resourceType": "Medication", "id": "m1", "code": concept(text="Cuvitru")}
    record = build_record(patient=None, resources=[], draft_orders=[order, medication])
    fact = record.draft_orders[0]
    assert isinstance(fact, MedicationFact) and fact.is_ig and fact.product == "cuvitru"
    order["medicationReference"] = {"reference": "Medication/m2"}
    record = build_record(patient=None, resources=[], draft_orders=[order],
                          resolve=lambda ref: {"resourceType": "Medication", "id": "m2", "code": concept(text="Xembify")})
    assert record.draft_orders[0].product == "xembify"  # type: ignore[union-attr]


def test_reason_reference_resolved_against_the_patients_conditions() -> None:
    order = med_request(concept(text="Privigen"), rid="d1", reasonReference=[{"reference": "Condition/c9"}])
    record = build_record(patient=None, resources=[condition(ICD10CM, "G70.01", rid="c9")], draft_orders=[order])
    assert "myasthenia-gravis" in record.draft_orders[0].reason_concepts  # type: ignore[union-attr]


def test_site_rxnorm_ig_codes_are_used() -> None:
    order = med_request(concept("http://www.nlm.nih.gov/research/umls/rxnorm", "777"), rid="d1")
    assert not build_record(patient=None, resources=[], draft_orders=[order]).draft_orders[0].is_ig  # type: ignore[union-attr]
    record = build_record(patient=None, resources=[], draft_orders=[order], rxnorm_ig_codes=["777"])
    assert record.draft_orders[0].is_ig  # type: ignore[union-attr]


def test_patient_taken_from_resources_when_not_given() -> None:
    assert build_record(patient=None, resources=[patient("p7")]).patient.id == "p7"  # type: ignore[union-attr]
    odd = build_record(patient={"resourceType": "Patient", "id": "p", "gender": 5}, resources=[])
    assert odd.patient is not None and odd.patient.sex is Sex.UNKNOWN
    assert odd.skipped == (Skipped("Patient", "malformed-element:gender", Outcome.DEGRADED, "p", "patient"),)
    anonymous = build_record(patient={"resourceType": "Patient"}, resources=[])
    assert anonymous.patient is None and anonymous.skipped[0].reason == "missing-element:id"


def test_deeply_nested_garbage_never_raises() -> None:
    deep: object = {"resourceType": "Observation"}
    for _ in range(3000):
        deep = {"coding": [deep]}
    resource = observation("2465-3", 650)
    resource["code"] = deep
    nested_bundle: dict = {"resourceType": "Bundle", "entry": []}
    cursor = nested_bundle
    for _ in range(20):
        inner = {"resourceType": "Bundle", "entry": []}
        cursor["entry"].append({"resource": inner})
        cursor = inner
    record = build_record(patient=deep, resources=[resource, nested_bundle, None, {"resourceType": "Bundle", "entry": "x"}],
                          draft_orders="nonsense", selections=None, unavailable=None)  # type: ignore[arg-type]
    assert record.measurements == ()
    assert record.skipped


def test_a_reading_failure_costs_one_resource_not_the_call(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: reading never raises by design, but were a bug to make it raise on some
    resource, that resource is skipped and counted like a mapper failure; the rest is mapped."""
    import fhir_mappings.record as record_module

    real = record_module.read_resource
    healthy = build_record(patient=patient(), resources=_higm_chart())

    def broken_for_conditions(resource):  # type: ignore[no-untyped-def]
        if resource.get("resourceType") in ("Condition", "Patient"):
            raise TypeError("a bug")
        return real(resource)

    monkeypatch.setattr(record_module, "read_resource", broken_for_conditions)
    record = build_record(patient=patient(), resources=_higm_chart())
    assert record.patient is None and healthy.patient is not None
    assert record.conditions == () and len(healthy.conditions) == 2
    assert record.measurements == healthy.measurements and record.measurements
    assert sorted((s.resource_type, s.reason) for s in record.skipped) == [
        ("Condition", "mapping-failed"), ("Condition", "mapping-failed"), ("Patient", "mapping-failed"),
    ]


def test_generator_that_fails_half_way() -> None:
    def resources():  # type: ignore[no-untyped-def]
        yield observation("2465-3", 650)
        raise RuntimeError("connection reset")

    record = build_record(patient=None, resources=resources())
    assert len(record.measurements) == 1 and record.skipped[-1].reason == "unreadable-input"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceType", "status", "code", "coding", "system", "valueQuantity", "value", "unit",
                         "effectiveDateTime", "medicationReference", "reference", "contained", "entry", "resource",
                         "dosageInstruction", "doseAndRate", "timing", "repeat", "id", "x"]), children, max_size=5),
    max_leaves=20,
)
_types = st.sampled_from(["Observation", "Condition", "MedicationRequest", "Immunization", "AllergyIntolerance",
                          "ServiceRequest", "Procedure", "MedicationStatement", "MedicationAdministration", "Bundle"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=_types, body=st.dictionaries(st.text(max_size=20), _json, max_size=6))
def test_fuzzed_resources_never_raise(kind: str, body: dict) -> None:
    resource = {**body, "resourceType": kind}
    record = build_record(patient=resource, resources=[resource, bundle(resource)], draft_orders=[resource],
                          resolve=lambda ref: resource)
    assert all(isinstance(s.reason, str) and s.reason for s in record.skipped)


def test_sixty_resource_record_builds_quickly() -> None:
    """A smoke bound only (benchmarks measure the real target); catches an accidental O(n^2) or full validation."""
    resources = [observation("2465-3", 600 + i, rid=f"o{i}") for i in range(40)]
    resources += [condition(ICD10CM, "D80.5", rid=f"c{i}") for i in range(19)]
    payload = json.loads(json.dumps([bundle(*resources)]))
    build_record(patient=patient(), resources=payload)
    start = time.perf_counter()
    record = build_record(patient=patient(), resources=payload)
    assert len(record.measurements) == 40
    assert time.perf_counter() - start < 0.25


def _privigen_draft() -> dict:
    return med_request(concept(ATC, "J06BA02", text="Privigen"), rid="d1", dose=dose(0.4, "g/kg"),
                       repeat={"frequency": 1, "period": 4, "periodUnit": "wk"},
                       reasonCode=[concept(ICD10CM, "D80.5")],
                       category=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                              "code": "outpatient"}]}])


def _one_object(path: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def deviate(order: dict) -> None:
        holder = order
        for name in path[:-1]:
            holder = holder[name][0] if isinstance(holder[name], list) else holder[name]
        holder[path[-1]] = holder[path[-1]][0]
    return deviate


DEVIATIONS = {
    "category as one object": _one_object(("category",)),
    "coding as one object": _one_object(("medicationCodeableConcept", "coding")),
    "reasonCode as one object": _one_object(("reasonCode",)),
    "dosageInstruction as one object": _one_object(("dosageInstruction",)),
    "doseAndRate as one object": _one_object(("dosageInstruction", "doseAndRate")),
    "no intent": lambda order: order.pop("intent"),
    "no status": lambda order: order.pop("status"),
    "unknown extension and element": lambda order: order.update(
        extension=[{"url": "urn:x", "valueFoo": {"bar": 1}}], epicOrderClass={"x": 1}),
}


@pytest.mark.parametrize("deviation", sorted(DEVIATIONS))
def test_a_draft_order_whose_only_defect_is_a_tolerated_deviation_is_read_in_full(deviation: str) -> None:
    """docs/clinical-rules.md Terms, "Reading EHR data": the deviations of real clients never drop the order."""
    expected = build_record(patient=None, resources=[], draft_orders=bundle(_privigen_draft())).draft_orders[0]
    order = _privigen_draft()
    DEVIATIONS[deviation](order)
    record = build_record(patient=None, resources=[], draft_orders=bundle(order))
    assert record.skipped == ()
    fact = record.draft_orders[0]
    assert isinstance(fact, MedicationFact) and isinstance(expected, MedicationFact)
    assert (fact.is_ig, fact.product, fact.status, fact.dose, fact.timing, fact.reason_concepts) == (
        expected.is_ig, expected.product, expected.status, expected.dose, expected.timing, expected.reason_concepts)


def test_a_bundle_without_type_is_read() -> None:
    draft_orders = {"resourceType": "Bundle", "entry": [{"resource": _privigen_draft()}]}
    record = build_record(patient=None, resources=[], draft_orders=draft_orders, selections=["MedicationRequest/d1"])
    assert [o.id for o in record.orders_to_judge()] == ["d1"] and record.skipped == ()


def test_the_empty_draft_the_sandbox_sends_on_opening_rx_view_is_skipped_as_unknown_medication() -> None:
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
             "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-12-04"}
    record = build_record(patient=None, resources=[], draft_orders={"resourceType": "Bundle", "entry": [{"resource": draft}]})
    assert record.draft_orders == ()
    assert record.skipped == (Skipped("MedicationRequest", "unknown-medication", Outcome.SKIPPED, "request-123",
                                      "draftOrders.entry[0]"),)
