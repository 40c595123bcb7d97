"""Real EHR clients over HTTP: the CDS Hooks sandbox's own requests, and EHR-shaped vignettes.

``fixtures/clients/cds-hooks-sandbox``: the two requests the public CDS Hooks sandbox sent for the fixture
patient ``higm-xl-adult`` (unmodified apart from dates, now relative-date markers), for both order hooks.
The sandbox sends ``MedicationRequest.category`` as one object, a draftOrders Bundle without ``type``, a
dose of "1 {pill}", and, on opening Rx View, a draft with no medication and no intent.

``fixtures/requests/*/{epic,oracle,meditech}-*``: requests shaped like what Epic, Oracle Health (Cerner)
and MEDITECH send over US Core R4 (fixtures/README.md lists what each exercises). Each vignette states
the cards it must give and, where the order is quiet, a variant proving the data was read (the same
order made out of range gives the card with the numbers read from the EHR's units).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from tests.support.cds_calls import fired, igcds_on_fixture_data
from tests.support.cds_calls import post_cds as post
from tests.support.fixtures import load_client_request, load_request, structural_problems
from tests.support.igcds_server import igcds_server

pytestmark = pytest.mark.integration

SANDBOX = "cds-hooks-sandbox"
ORDER_SERVICES = ("ig-order-select", "ig-order-sign")
UCUM = "http://unitsofmeasure.org"
EXTENSION = "org.igcds.processing"


@pytest.fixture(scope="module")
def server(loaded_fixtures):
    with igcds_on_fixture_data(loaded_fixtures.server.base_url) as running:
        yield running


def card(document: dict[str, Any], rule: str) -> dict[str, Any]:
    (found,) = [c for c in document["cards"] if c["source"]["topic"]["code"] == rule]
    return found


def processing(document: dict[str, Any]) -> dict[str, Any]:
    return document.get("extension", {}).get(EXTENSION, {})


# --- the CDS Hooks sandbox's own requests ------------------------------------------------------------


@pytest.mark.parametrize("service_id", ORDER_SERVICES)
def test_the_sandbox_privigen_draft_as_sent_gets_the_cards_the_rules_give(server, fixture_now, service_id) -> None:
    """Before: ``{"cards": []}`` (the draft was dropped for its one-object ``category``). Now the order is
    judged: its "1 {pill}" dose is said to be unchecked, its daily interval is out of range, and the
    patient's own low trough shows."""
    document = post(server, service_id, load_client_request(SANDBOX, service_id, "privigen", fixture_now))
    assert fired(document) == {("order-dose-unchecked", "info"), ("order-interval-out-of-range", "warning"),
                               ("order-trough-below-target", "warning")}
    unchecked = card(document, "order-dose-unchecked")
    assert "{pill}" in unchecked["summary"] and "g or mg/kg" in unchecked["summary"]
    assert "suggestions" not in unchecked
    assert "daily" in card(document, "order-interval-out-of-range")["summary"]
    extension = processing(document)
    assert "skippedResources" not in extension, "the category-as-object draft is no longer skipped"
    assert extension["resourceIssues"] == [{"resourceType": "MedicationRequest", "id": "request-123",
                                            "position": "draftOrders.entry[0]", "reason": "invalid-dose-unit",
                                            "outcome": "degraded"}]


@pytest.mark.parametrize("service_id", ORDER_SERVICES)
def test_the_same_sandbox_draft_at_70_g_every_4_weeks_gets_the_dose_card_and_its_suggestion(
        server, fixture_now, service_id) -> None:
    body = load_client_request(SANDBOX, service_id, "privigen", fixture_now)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["dosageInstruction"] = [{"timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 70, "unit": "g", "system": UCUM,
                                                                     "code": "g"}}]}]
    document = post(server, service_id, body)
    assert fired(document) == {("order-dose-out-of-range", "warning"), ("order-trough-below-target", "warning")}
    dose_card = card(document, "order-dose-out-of-range")
    assert "70 g" in dose_card["summary"]
    (suggestion,) = dose_card["suggestions"]
    assert suggestion["isRecommended"] is True
    (action,) = suggestion["actions"]
    resource = action["resource"]
    assert action["type"] == "update" and resource["id"] == "request-123"
    assert isinstance(resource["category"], list), "the update carries the order R4-shaped"
    assert structural_problems(resource) == []
    assert processing(document) == {}


def test_empty_arrays_the_ehr_sends_on_the_draft_are_not_echoed_in_the_update(server, fixture_now) -> None:
    """``note: []``, ``contained: []``, ``reasonCode: []`` on the draft: CDS Hooks forbids the service to send
    empty values, so the update that echoes the order leaves them out (``post`` checks the whole response)."""
    body = load_client_request(SANDBOX, "ig-order-select", "privigen", fixture_now)
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": {"value": 70, "unit": "g", "system": UCUM,
                                                                      "code": "g"}}]
    order.update(note=[], contained=[], reasonCode=[], dispenseRequest={})
    document = post(server, "ig-order-select", body)
    (suggestion,) = card(document, "order-dose-out-of-range")["suggestions"]
    resource = suggestion["actions"][0]["resource"]
    assert not {"note", "contained", "reasonCode", "dispenseRequest"} & set(resource)
    assert resource["id"] == "request-123" and structural_problems(resource) == []


@pytest.mark.parametrize("service_id", ORDER_SERVICES)
def test_the_empty_draft_sent_on_opening_rx_view_is_answered_with_no_dose_card(server, fixture_now, service_id) -> None:
    document = post(server, service_id, load_client_request(SANDBOX, service_id, "rx-view-opened", fixture_now))
    assert not any(rule.startswith("order-dose") for rule, _ in fired(document))
    assert fired(document) == set()
    assert processing(document) == {"skippedResources": 1, "resourceIssues": [
        {"resourceType": "MedicationRequest", "id": "request-123", "position": "draftOrders.entry[0]",
         "reason": "unknown-medication", "outcome": "skipped"}]}


def test_every_call_line_carries_the_service_the_card_count_and_the_issues_without_ids(server, fixture_now) -> None:
    post(server, "ig-order-select", load_client_request(SANDBOX, "ig-order-select", "privigen", fixture_now))
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("event") == "cds_call"]
    assert calls and all({"service", "card_count"} <= set(line) for line in calls)
    with_issues = [line for line in calls if line.get("issues")]
    assert with_issues
    for line in with_issues:
        for issue in line["issues"]:
            assert set(issue) == {"resourceType", "position", "reason", "outcome"}, "no resource id in a log"
    privigen = [line for line in with_issues if line["card_count"] == 3 and line["service"] == "ig-order-select"]
    assert privigen and privigen[-1]["issues"] == [{"resourceType": "MedicationRequest",
                                                   "position": "draftOrders.entry[0]",
                                                   "reason": "invalid-dose-unit", "outcome": "degraded"}]


def test_the_text_log_format_carries_the_same_fields(fixture_now) -> None:
    with igcds_server({"logging": {"json": False}}, dev=True, workers=1) as text_server:
        body = load_client_request(SANDBOX, "ig-order-sign", "privigen", fixture_now)
        post(text_server, "ig-order-sign", body)
        log = text_server.log_text()
    (line,) = [line for line in log.splitlines() if " cds call " in line]
    assert "service=ig-order-sign" in line and "card_count=3" in line
    assert "issues=[MedicationRequest draftOrders.entry[0] invalid-dose-unit degraded]" in line
    assert "request-123" not in log


# --- EHR-shaped vignettes (Epic, Oracle Health, MEDITECH over US Core R4) ----------------------------

Variant = Callable[[dict[str, Any]], None]


def _dosage(body: dict[str, Any], index: int = 0) -> dict[str, Any]:
    order: dict[str, Any] = body["context"]["draftOrders"]["entry"][index]["resource"]
    return order["dosageInstruction"][0]  # type: ignore[no-any-return]


def _set_dose(value: float) -> Variant:
    def change(body: dict[str, Any]) -> None:
        _dosage(body)["doseAndRate"][0]["doseQuantity"]["value"] = value
    return change


def _longer_period(body: dict[str, Any]) -> None:
    bounds = _dosage(body)["timing"]["repeat"]["boundsPeriod"]
    bounds["end"] = (date.fromisoformat(bounds["start"]) + timedelta(days=6)).isoformat()


def _three_doses(body: dict[str, Any]) -> None:
    _dosage(body)["timing"]["repeat"]["count"] = 3


#: (service, scenario) -> the cards it must give, text the cards must show (the numbers read from the
#: EHR's units), the resource issues it must report, and for a quiet vignette a variant and its card text.
EHR_VIGNETTES: dict[tuple[str, str], dict[str, Any]] = {
    # Epic: contained Medication with ingredient.strength (10 g per 100 mL), dose 350 mL = 35 g = 500 mg/kg
    # of 154.3 lb; a provisional (working) CVID diagnosis is the indication.
    ("ig-order-select", "epic-cvid-adult-contained-ml"): {
        "cards": set(), "variant": (_set_dose(700), ("order-dose-out-of-range", "70 g", "ordered as 700 mL at 10%"))},
    ("ig-order-select", "epic-cvid-adult-ml-unknown-strength"): {
        "cards": {("order-dose-unchecked", "info")}, "text": ["700 mL of Octagam with no stated strength"],
        "issues": [("MedicationRequest", "epic-cvid-adult-draft-2", "unknown-concentration", "degraded")]},
    ("ig-order-select", "epic-cvid-adult-mg-with-rate"): {
        "cards": set(), "variant": (_set_dose(70000), ("order-dose-out-of-range", "70 g", "1,000 mg/kg"))},
    ("ig-order-sign", "epic-cvid-adult"): {  # no reason on the order: the working diagnosis is the indication
        "cards": {("order-dose-out-of-range", "warning")},
        "text": ["69.99 g = 1,000 mg/kg", "label limit", "from an active condition"]},
    # Oracle Health: weight 78,000 g; IgG/IgA/IgM in g/L and mg/L; creatinine 88 µmol/L (amended, in range);
    # a preliminary IgA of 0.05 g/L and an entered-in-error weight of 45,000 g do not count; the ordered
    # Medication travels as its own resource in the draftOrders Bundle.
    ("ig-order-select", "oracle-gbs-adult-course-bounds-period"): {
        "cards": set(), "variant": (_longer_period, ("order-dose-out-of-range", "7 × 31.2 g = 2.8 g/kg", ""))},
    ("ig-order-select", "oracle-gbs-adult-course-bounds-duration"): {
        "cards": {("order-dose-out-of-range", "warning")}, "text": ["5 × 39 g = 2.5 g/kg"]},
    ("ig-order-select", "oracle-gbs-adult-course-count"): {
        "cards": set(), "variant": (_three_doses, ("order-dose-out-of-range", "3 × 78 g = 3 g/kg", ""))},
    ("ig-order-sign", "oracle-gbs-adult"): {
        "cards": {("order-dose-out-of-range", "warning")}, "text": ["156 g = 2 g/kg/day"]},
    # MEDITECH: 55 kg dated by an effectivePeriod; X-linked HIGM dual-coded, a refuted CVID; trough 640 mg/dL.
    ("ig-order-select", "meditech-higm-teen-mg-per-kg-with-rate"): {
        "cards": set(), "variant": (_set_dose(900), ("order-dose-out-of-range", "49.5 g = 900 mg/kg", ""))},
    ("ig-order-select", "meditech-higm-teen-every-2-weeks"): {
        "cards": {("order-interval-out-of-range", "warning"), ("order-dose-atypical", "info")},
        "text": ["every 2 weeks (14 days)", "13.75 g = 250 mg/kg"]},
    ("ig-order-select", "meditech-higm-teen-mg-at-label-limit"): {
        "cards": {("order-dose-atypical", "info")}, "text": ["44 g = 800 mg/kg"]},
    ("ig-order-sign", "meditech-higm-teen-two-ig-drafts"): {
        "cards": {("order-dose-unchecked", "info")}, "text": ['dose in "{vial}"'],
        "issues": [("MedicationRequest", "meditech-higm-teen-draft-5", "invalid-dose-unit", "degraded")]},
}


@pytest.mark.parametrize(("service_id", "scenario"), sorted(EHR_VIGNETTES), ids=[f"{s}/{n}" for s, n in sorted(EHR_VIGNETTES)])
def test_ehr_shaped_vignette(server, loaded_fixtures, service_id: str, scenario: str) -> None:
    expected = EHR_VIGNETTES[(service_id, scenario)]
    body = load_request(service_id, scenario, loaded_fixtures.now)
    document = post(server, service_id, body)
    assert fired(document) == expected["cards"]
    text = " ".join(c["summary"] + " " + c.get("detail", "") for c in document["cards"])
    for phrase in expected.get("text", []):
        assert phrase in text, phrase
    issues = [(i["resourceType"], i.get("id"), i["reason"], i["outcome"])
              for i in processing(document).get("resourceIssues", [])]
    assert issues == expected.get("issues", [])
    if "variant" in expected:
        change, (rule, *phrases) = expected["variant"]
        variant = copy.deepcopy(body)
        change(variant)
        changed = post(server, service_id, variant)
        shown = card(changed, rule)
        for phrase in filter(None, phrases):
            assert phrase in shown["summary"] + shown.get("detail", ""), phrase
