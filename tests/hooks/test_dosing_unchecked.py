"""``order-dose-unchecked`` and doses in mL, from the FHIR an EHR sends to the cards a clinician sees.

Vignettes: a 34-year-old man with X-linked hyper-IgM, 70 kg weighed 10 days ago, gets an IVIG draft
order. Each test changes only how the dose is written (docs/clinical-rules.md Terms "Ordered dose"; Resolved details
"Concentration of a dose in mL").
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service import HookRequest
from fhir_mappings.model import Outcome, Skipped
from hooks.dosing import order_dose_out_of_range, order_dose_unchecked
from hooks.facts import Facts, facts_from_request
from hooks.findings import render_card
from hooks.services.common import respond
from hooks.services.rulesets import ORDER_RULES

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
UCUM = "http://unitsofmeasure.org"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1992-03-01"}
WEIGHT = {"resourceType": "Observation", "id": "w1", "status": "final",
          "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
          "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-06-05T09:00:00Z",
          "valueQuantity": {"value": 70, "unit": "kg", "system": UCUM, "code": "kg"}}
HIGM = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "403835002"}]}}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def draft(medication: dict[str, Any] | str, dose: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """An IVIG draft every 4 weeks; ``medication`` is a product name or a ``medicationReference``."""
    order: dict[str, Any] = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
                             "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-06-15"}
    if isinstance(medication, str):
        order["medicationCodeableConcept"] = {"text": medication}
    else:
        order["medicationReference"] = medication
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk"}}}
    if dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    order["dosageInstruction"] = [dosage]
    order.update(extra)
    return order


def facts_for(*orders: dict[str, Any], hook: str = "order-sign", selections: tuple[str, ...] = ()) -> Facts:
    context: dict[str, Any] = {"userId": "Practitioner/x", "patientId": "p1",
                               "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]}}
    if selections:
        context["selections"] = list(selections)
    request = HookRequest("ig-order-sign", hook, "00000000-0000-4000-8000-000000000000", context,
                          {"patient": PATIENT, "vitals": searchset(WEIGHT), "conditions": searchset(HIGM)},
                          frozenset(), NOW)
    return facts_from_request(request)


def ml(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mL", "system": UCUM, "code": "mL"}


def unchecked(facts: Facts) -> list[str]:
    found = list(order_dose_unchecked(facts))
    for finding in found:
        card = render_card(finding)
        assert card.indicator.value == "info" and not card.suggestions and len(card.summary) < 140
    return [f.summary for f in found]


# --- fires --------------------------------------------------------------------------------------------


def test_a_dose_in_pills_is_named_and_said_to_be_unchecked() -> None:
    facts = facts_for(draft("Privigen", {"value": 1, "system": UCUM, "code": "{pill}"}))
    (finding,) = order_dose_unchecked(facts)
    assert finding.summary == 'IVIG dose not checked: dose in "{pill}" is not a mass or per-kg dose — order it in g or mg/kg'
    assert '"1 {pill}"' in finding.detail and "g/kg" in finding.detail and finding.about == "MedicationRequest/d1"
    assert ("MedicationRequest", "invalid-dose-unit", Outcome.DEGRADED) in [
        (s.resource_type, s.reason, s.outcome) for s in facts.record.skipped]


def test_a_hostile_unit_is_quoted_as_text() -> None:
    """The unit is client text: a line break or Markdown in it must not become a heading or a link."""
    hostile = "{pill}\n\n# CALL [x](https://evil.example)"
    (finding,) = order_dose_unchecked(facts_for(draft("Privigen", {"value": 1, "system": UCUM, "code": hostile})))
    card = render_card(finding)
    for field in (card.summary, card.detail or ""):
        assert "\\# CALL \\[x\\]" in field  # one line, the Markdown escaped: no heading, no link
        assert not re.search(r"(?<!\\)\[x", field) and not re.search(r"(?m)^#", field)


def test_an_order_without_a_dose_says_no_dose() -> None:
    assert unchecked(facts_for(draft("Privigen", None))) == [
        "IVIG dose not checked: the order states no dose — order it in g or mg/kg"]


@pytest.mark.parametrize("product", ["Octagam", "Gammagard", "Flebogamma DIF", "immune globulin (human)"])
def test_millilitres_of_a_product_without_one_known_strength_are_not_guessed(product: str) -> None:
    facts = facts_for(draft(product, ml(700)))
    (summary,) = unchecked(facts)
    assert "700 mL" in summary and "no stated strength" in summary
    assert [(s.reason, s.outcome, s.position) for s in facts.record.skipped] == [
        ("unknown-concentration", Outcome.DEGRADED, "draftOrders.entry[0]")]
    assert list(order_dose_out_of_range(facts)) == []


def test_a_dose_without_a_number_is_unchecked() -> None:
    assert unchecked(facts_for(draft("Privigen", {"unit": "g", "system": UCUM, "code": "g"}))) == [
        "IVIG dose not checked: the dose has no usable number — order it in g or mg/kg"]


# --- quiet --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dose", [{"value": 30, "unit": "g", "system": UCUM, "code": "g"},
                                  {"value": 400, "unit": "mg/kg", "system": UCUM, "code": "mg/kg"},
                                  {"value": 0.4, "unit": "g/kg"}])
def test_a_dose_in_g_or_per_kg_is_checked(dose: dict[str, Any]) -> None:
    assert unchecked(facts_for(draft("Privigen", dose))) == []


def test_a_metformin_tablet_is_not_an_ig_dose() -> None:
    assert unchecked(facts_for(draft("metformin 500 mg tablet", {"value": 1, "unit": "tablet"}))) == []


def test_order_select_judges_only_the_selected_order() -> None:
    other = draft("Privigen", None, id="d2")
    facts = facts_for(draft("Privigen", {"value": 30, "unit": "g"}), other, hook="order-select",
                      selections=("MedicationRequest/d1",))
    assert unchecked(facts) == []


# --- mL converted with the concentration rules --------------------------------------------------------


@pytest.mark.parametrize(
    ("medication", "grams"),
    [("Privigen", 70.0),  # one strength in the product table: 10%
     ("Octagam 10%", 70.0),  # a strength in the name wins: Octagam exists in 5% and 10%
     ("Gammagard Liquid 10% (immune globulin)", 70.0),
     ("immune globulin G (human) 100 MG/ML Injectable Solution [Privigen]", 70.0),
     ("Hizentra 20%", 140.0)],
)
def test_millilitres_are_read_with_the_stated_or_single_known_strength(medication: str, grams: float) -> None:
    facts = facts_for(draft(medication, ml(700)))
    (order,) = facts.record.draft_orders
    assert order.dose is not None and order.dose.grams(None) == pytest.approx(grams)  # type: ignore[union-attr]
    assert order.dose.volume_ml == 700 and unchecked(facts) == []  # type: ignore[union-attr]
    assert facts.record.skipped == ()


def test_the_strength_on_a_contained_medication_wins_over_the_product_table() -> None:
    medication = {"resourceType": "Medication", "id": "med", "code": {"text": "Octagam"},
                  "ingredient": [{"itemCodeableConcept": {"text": "immune globulin"},
                                  "strength": {"numerator": {"value": 5, "unit": "g", "system": UCUM, "code": "g"},
                                               "denominator": ml(100)}}]}
    facts = facts_for(draft({"reference": "#med"}, ml(700), contained=[medication]))
    (order,) = facts.record.draft_orders
    assert order.dose is not None and order.dose.grams(None) == pytest.approx(35)  # type: ignore[union-attr]
    assert order.dose.concentration == 0.05  # type: ignore[union-attr]


def test_an_overdose_in_millilitres_is_judged_and_the_suggestion_is_in_grams() -> None:
    """700 mL of Privigen (10%) = 70 g = 1,000 mg/kg for 70 kg: above the 800 mg/kg label limit."""
    facts = facts_for(draft("Privigen", ml(700)))
    (finding,) = order_dose_out_of_range(facts)
    assert "70 g" in finding.summary and "1,000 mg/kg" in finding.summary
    assert "ordered as 700 mL at 10%" in finding.detail
    (suggestion,) = finding.suggestions
    (action,) = suggestion.actions
    assert action.resource is not None
    assert action.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "g"


def test_administrations_recorded_in_millilitres_count_in_grams() -> None:
    given = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
             "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Privigen"},
             "effectiveDateTime": "2026-05-20T09:00:00Z", "dosage": {"dose": ml(300)}}
    request = HookRequest("ig-order-sign", "order-sign", "00000000-0000-4000-8000-000000000000",
                          {"userId": "Practitioner/x", "patientId": "p1",
                           "draftOrders": {"resourceType": "Bundle", "entry": []}},
                          {"patient": PATIENT, "medicationAdministrations": searchset(given)}, frozenset(), NOW)
    (administration,) = facts_from_request(request).record.medications
    assert administration.dose is not None and administration.dose.grams(None) == pytest.approx(30)


# --- the response extension ---------------------------------------------------------------------------


def test_the_response_lists_each_degraded_resource_without_its_values() -> None:
    order = draft("Privigen", {"value": 3, "system": UCUM, "code": "{vial}"})
    facts = facts_for(order)
    assert facts.record.skipped == (Skipped("MedicationRequest", "invalid-dose-unit", Outcome.DEGRADED, "d1",
                                            "draftOrders.entry[0]"),)
    request = HookRequest("ig-order-sign", "order-sign", "00000000-0000-4000-8000-000000000000",
                          {"userId": "Practitioner/x", "patientId": "p1",
                           "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": copy.deepcopy(order)}]}},
                          {"patient": PATIENT, "vitals": searchset(WEIGHT), "conditions": searchset(HIGM)},
                          frozenset(), NOW)
    response = respond(request, ORDER_RULES)
    extension = response.to_json()["extension"]["org.igcds.processing"]
    assert "skippedResources" not in extension  # nothing was skipped, one resource was degraded
    assert extension["resourceIssues"] == [{"resourceType": "MedicationRequest", "id": "d1",
                                            "position": "draftOrders.entry[0]", "reason": "invalid-dose-unit",
                                            "outcome": "degraded"}]
    assert response.issues == ({"resourceType": "MedicationRequest", "position": "draftOrders.entry[0]",
                                "reason": "invalid-dose-unit", "outcome": "degraded"},)
    assert "order-dose-unchecked" in [c.topic_code for c in response.cards]


def test_skipped_resources_counts_resources_not_reasons() -> None:
    """A non-numeric IgG is skipped for two reasons (the malformed value, hence no result): one resource."""
    bad = {"resourceType": "Observation", "id": "bad-igg", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "2465-3"}]},
           "effectiveDateTime": "2026-06-01", "valueQuantity": {"value": "lots", "unit": "mg/dL"}}
    request = HookRequest("ig-order-sign", "order-sign", "00000000-0000-4000-8000-000000000000",
                          {"userId": "Practitioner/x", "patientId": "p1",
                           "draftOrders": {"resourceType": "Bundle", "entry": []}},
                          {"patient": PATIENT, "labs": searchset(bad)}, frozenset(), NOW)
    extension = respond(request, ORDER_RULES).to_json()["extension"]["org.igcds.processing"]
    assert extension["skippedResources"] == 1
    assert [(i["reason"], i["outcome"]) for i in extension["resourceIssues"]] == [
        ("invalid-value", "skipped"), ("malformed-element:valueQuantity.value", "skipped")]
