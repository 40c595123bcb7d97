"""Clinical vignettes end to end: real igcds over HTTP, data prefetched *and* fetched from sekmet-fhir.

Each scenario is a committed CDS Hooks request (fixtures/requests) for a synthetic patient loaded
into the real FHIR server. The same rules must fire, with the same indicators, whether the EHR
prefetched the data or igcds fetched it itself.
"""

from __future__ import annotations

import copy

import pytest

from tests.support.cds_calls import fired as cards_fired
from tests.support.cds_calls import igcds_on_fixture_data, post_cds
from tests.support.fixtures import load_request

pytestmark = pytest.mark.integration

#: (service, scenario) -> the (rule, indicator) pairs that must be on the response, and nothing else.
EXPECTED: dict[tuple[str, str], set[tuple[str, str]]] = {
    # Order rules (issue 4)
    ("ig-order-select", "higm-xl-adult-ivig-dose-high"): {
        ("order-dose-out-of-range", "warning"), ("order-trough-below-target", "warning")},
    ("ig-order-select", "anaphylaxis-ig-ivig"): {("order-anaphylaxis-history", "critical")},
    ("ig-order-select", "iga-anti-iga-ivig"): {("order-iga-deficiency", "critical")},
    ("ig-order-select", "mg-crisis-ivig"): {("order-iga-deficiency", "warning")},
    ("ig-order-select", "gbs-adult-ivig-overdose"): {
        ("order-dose-out-of-range", "warning"), ("order-renal-risk", "warning"), ("order-thrombosis-risk", "warning")},
    ("ig-order-select", "itp-adult-ivig"): {("order-thrombosis-risk", "warning")},
    ("ig-order-select", "cvid-scig-switch-underdosed"): {
        ("order-scig-conversion", "warning"), ("order-scig-administration", "info")},
    ("ig-order-select", "obese-cvid-ivig"): {("order-dosing-weight", "info"), ("order-thrombosis-risk", "warning")},
    ("ig-order-select", "sigmd-not-indicated-ivig"): {("order-igm-deficiency-not-indicated", "warning")},
    ("ig-order-select", "autoimmune-encephalitis-ivig"): {("order-not-first-line", "info")},
    ("ig-order-select", "cvid-well-managed-ivig"): set(),
    ("ig-order-sign", "cvid-well-managed"): set(),
    ("ig-order-select", "kawasaki-child-ivig"): set(),
    # Revised rules (issue 16): a tenfold IVIG order with no indication is judged on the envelope
    ("ig-order-select", "no-indication-adult-ivig-tenfold"): {
        ("order-indication-missing", "warning"), ("order-dose-out-of-range", "warning")},
    # Interactions and monitoring (issue 5)
    ("ig-order-select", "ivig-then-mmr"): {("order-live-vaccine", "warning")},
    ("ig-order-sign", "ivig-then-mmr"): {("order-live-vaccine", "warning")},
    ("ig-order-select", "higm-child-mmr"): {("order-live-vaccine", "critical")},
    ("ig-order-select", "gbs-plex-plasma-exchange"): {("order-plasma-exchange-after-ivig", "warning")},
    ("ig-order-select", "itp-post-mmr-child-ivig"): {
        ("order-ig-after-live-vaccine", "info"), ("order-renal-baseline-missing", "info")},
    ("ig-order-select", "anti-cd20-hbv-rituximab"): {("order-anti-cd20-hbv", "warning")},
    ("ig-patient-view", "higm-xl-adult"): {
        ("pv-higm-hsct", "info"), ("pv-higm-no-pjp-prophylaxis", "warning"), ("pv-trough-below-target", "warning")},
    ("ig-patient-view", "higm-ar-adult"): {("pv-higm-no-igrt", "warning"), ("pv-higm-no-pjp-prophylaxis", "info")},
    ("ig-patient-view", "sigmd-not-indicated"): {("pv-igm-deficiency-workup", "info")},
    ("ig-patient-view", "anti-cd20-hbv-core-positive"): {("pv-anti-cd20-hbv", "warning")},
    ("ig-patient-view", "general-medicine"): set(),
    ("ig-patient-view", "cvid-well-managed"): set(),
}


@pytest.fixture(scope="module")
def server(loaded_fixtures):
    with igcds_on_fixture_data(loaded_fixtures.server.base_url) as running:
        yield running


def fired(server, service_id: str, body: dict) -> tuple[set[tuple[str, str]], list[dict]]:
    document = post_cds(server, service_id, body)
    return cards_fired(document), document["cards"]


@pytest.mark.parametrize("mode", ["prefetch", "no-prefetch"])
@pytest.mark.parametrize("service_id, scenario", sorted(EXPECTED), ids=[f"{s}/{n}" for s, n in sorted(EXPECTED)])
def test_vignette(server, loaded_fixtures, service_id, scenario, mode):
    body = load_request(service_id, scenario, loaded_fixtures.now)
    if mode == "no-prefetch":
        body = copy.deepcopy(body)
        del body["prefetch"]
        body["fhirServer"] = loaded_fixtures.server.base_url
    rules, _ = fired(server, service_id, body)
    assert rules == EXPECTED[(service_id, scenario)]


def test_well_managed_patient_gets_no_warning_or_critical_card_from_either_order_service(server, loaded_fixtures):
    for service_id, scenario in (("ig-order-select", "cvid-well-managed-ivig"), ("ig-order-sign", "cvid-well-managed")):
        rules, _ = fired(server, service_id, load_request(service_id, scenario, loaded_fixtures.now))
        assert not {r for r in rules if r[1] in ("warning", "critical")}


def test_dose_card_states_its_numbers_and_offers_the_corrected_order(server, loaded_fixtures):
    body = load_request("ig-order-select", "higm-xl-adult-ivig-dose-high", loaded_fixtures.now)
    _, cards = fired(server, "ig-order-select", body)
    card = next(c for c in cards if c["source"]["topic"]["code"] == "order-dose-out-of-range")
    assert "mg/kg" in card["summary"] and "kg" in card["detail"] and "Privigen" in card["source"]["label"]
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    assert action["type"] == "update" and action["resource"]["id"] == draft["id"]
    assert suggestion["isRecommended"] is True
    dose = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert dose["code"] == "g" and dose["value"] < draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
    assert {r["code"] for r in card["overrideReasons"]} and all(r["display"] for r in card["overrideReasons"])


def test_live_vaccine_card_gives_the_first_date_it_can_be_given(server, loaded_fixtures):
    body = load_request("ig-order-select", "ivig-then-mmr", loaded_fixtures.now)
    _, cards = fired(server, "ig-order-select", body)
    (card,) = cards
    assert "10 months" in card["detail"] or "10 months" in card["summary"]
    assert any(ch.isdigit() for ch in card["summary"])


@pytest.mark.parametrize("mode", ["prefetch", "no-prefetch"])
def test_tenfold_ivig_without_indication_gets_the_dose_card_without_suggestion(server, loaded_fixtures, mode):
    """docs/clinical-rules.md Resolved details "Ig order without an indication": Privigen 300 g (5,000 mg/kg) for a
    60 kg woman whose record names no indication is outside the 200–2,400 mg/kg envelope of every
    regimen: the warning says so and offers no dose (without an indication there is no safe target)."""
    body = load_request("ig-order-select", "no-indication-adult-ivig-tenfold", loaded_fixtures.now)
    if mode == "no-prefetch":
        body = copy.deepcopy(body)
        del body["prefetch"]
        body["fhirServer"] = loaded_fixtures.server.base_url
    _, cards = fired(server, "ig-order-select", body)
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "order-dose-out-of-range"]
    assert card["indicator"] == "warning"
    assert card["summary"] == (
        "IVIG 300 g = 5,000 mg/kg: above the 2,400 mg/kg ceiling of any regimen (no indication found)"
    )
    assert not card.get("suggestions")
    assert "No indication found" in card["detail"] and "200–2,400 mg/kg per administration" in card["detail"]
    assert "60 kg" in card["detail"] and "No dose is suggested" in card["detail"]
    assert card["overrideReasons"]
