"""The FHIR data path end to end: real igcds (gunicorn) + real FHIR server (sekmet-fhir).

An EHR may prefetch everything, nothing, or something in between (CDS Hooks 2.0 §3.2). Whatever it
does, the facts and the cards must be the same as with full prefetch built by running the
services' own prefetch templates against the same FHIR server, as an EHR would.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
import requests

from cds_service import HookRequest
from cds_service.fhir_client import Deadline, FhirClient, FhirClientSettings
from cds_service.prefetch import render_template, resolve_prefetch
from hooks.facts import facts_from_request
from hooks.policy import Policy
from hooks.services import SERVICES
from tests.support.cds_calls import answered, call, igcds_on_fixture_data
from tests.support.faulty_fhir import faulty_fhir_server
from tests.support.fixtures import load_request, request_paths
from tests.support.igcds_server import igcds_server
from tests.support.log_hygiene import register_secret

pytestmark = pytest.mark.integration

SCENARIOS = [(p.parent.name, p.stem) for p in request_paths() if p.stem != "minimal"]
BY_ID = {s.id: s for s in SERVICES}


@pytest.fixture(scope="module")
def server(loaded_fixtures):
    with igcds_on_fixture_data(loaded_fixtures.server.base_url) as running:
        yield running


def cards_of(response: requests.Response) -> list[tuple[str, str, str]]:
    document = answered(response)
    return sorted((c["source"]["topic"]["code"], c["indicator"], c["summary"]) for c in document["cards"])


def ehr_prefetch(fhir, service_id: str, context: dict[str, Any]) -> dict[str, Any]:
    """What an EHR sends: each template rendered with the context and run against its FHIR server."""
    return {key: fhir.get_json(render_template(spec.template, context))
            for key, spec in BY_ID[service_id].prefetch.items()}


def without_prefetch(body: dict[str, Any], fhir_base: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body.pop("prefetch", None)
    body["fhirServer"] = fhir_base
    return body


@pytest.mark.parametrize("service_id, scenario", SCENARIOS, ids=[f"{s}/{n}" for s, n in SCENARIOS])
def test_same_cards_with_committed_prefetch_ehr_prefetch_and_no_prefetch(server, loaded_fixtures, service_id, scenario):
    fhir = loaded_fixtures.server
    committed = load_request(service_id, scenario, loaded_fixtures.now)
    from_ehr = {**committed, "prefetch": ehr_prefetch(fhir, service_id, committed["context"])}
    expected = cards_of(call(server, service_id, from_ehr))
    assert cards_of(call(server, service_id, committed)) == expected
    assert cards_of(call(server, service_id, without_prefetch(committed, fhir.base_url))) == expected


def facts_for(service_id: str, body: dict[str, Any], client: FhirClient | None, now: datetime):
    service = BY_ID[service_id]
    resolution = resolve_prefetch(service, body["context"], body.get("prefetch"), client, max_pages=5)
    request = HookRequest(service_id, body["hook"], body["hookInstance"], body["context"], resolution.data,
                          frozenset(resolution.unavailable), now, fhir=client, settings={"policy": Policy()})
    return facts_from_request(request)


@pytest.mark.parametrize("service_id, scenario", SCENARIOS[::3], ids=[f"{s}/{n}" for s, n in SCENARIOS[::3]])
def test_same_facts_fetched_as_prefetched(loaded_fixtures, service_id, scenario):
    fhir = loaded_fixtures.server
    committed = load_request(service_id, scenario, loaded_fixtures.now)
    body = {**committed, "prefetch": ehr_prefetch(fhir, service_id, committed["context"])}
    client = FhirClient(fhir.base_url, access_token=None, deadline=Deadline(10), settings=FhirClientSettings())
    prefetched = facts_for(service_id, body, None, loaded_fixtures.now).record
    fetched = facts_for(service_id, without_prefetch(body, fhir.base_url), client, loaded_fixtures.now).record
    assert fetched == prefetched
    assert fetched.measurements or fetched.conditions  # the comparison is about real data


# The four prefetch cases over real HTTP ------------------------------------------------------

def higm_patient_view(loaded_fixtures) -> dict[str, Any]:
    return load_request("ig-patient-view", "higm-xl-adult", loaded_fixtures.now)


def rules(response: requests.Response) -> set[str]:
    return {card[0] for card in cards_of(response)}


def test_null_prefetch_means_no_data_and_is_not_fetched(server, loaded_fixtures):
    body = higm_patient_view(loaded_fixtures)
    full = rules(call(server, "ig-patient-view", body))
    assert {"pv-higm-no-pjp-prophylaxis", "pv-higm-hsct"} <= full
    body["prefetch"]["conditions"] = None  # "no conditions on record": definitive
    body["fhirServer"] = loaded_fixtures.server.base_url  # available, but must not be used for null
    assert not rules(call(server, "ig-patient-view", body)) & {"pv-higm-no-pjp-prophylaxis", "pv-higm-hsct"}


def test_missing_prefetch_key_is_fetched_from_fhir_server(server, loaded_fixtures):
    body = higm_patient_view(loaded_fixtures)
    full = rules(call(server, "ig-patient-view", body))
    del body["prefetch"]["conditions"]
    body["fhirServer"] = loaded_fixtures.server.base_url
    assert rules(call(server, "ig-patient-view", body)) == full


def test_missing_required_key_without_fhir_server_is_412_naming_it(server, loaded_fixtures):
    body = higm_patient_view(loaded_fixtures)
    del body["prefetch"]["conditions"]
    response = call(server, "ig-patient-view", body)
    assert response.status_code == 412
    assert response.json()["details"]["keys"] == {"conditions": "no fhirServer in the request"}


def test_operation_outcome_is_not_available_and_is_fetched(server, loaded_fixtures):
    body = higm_patient_view(loaded_fixtures)
    full = rules(call(server, "ig-patient-view", body))
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome",
                                      "issue": [{"severity": "error", "code": "timeout"}]}
    no_server = call(server, "ig-patient-view", body)
    assert no_server.status_code == 412 and "conditions" in no_server.json()["details"]["keys"]
    body["fhirServer"] = loaded_fixtures.server.base_url
    assert rules(call(server, "ig-patient-view", body)) == full


def test_optional_operation_outcome_without_fhir_server_answers_with_what_is_there(server, loaded_fixtures):
    body = higm_patient_view(loaded_fixtures)
    body["prefetch"]["procedures"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                     "code": "forbidden"}]}
    response = call(server, "ig-patient-view", body)
    assert response.status_code == 200
    assert "procedures" in response.json()["extension"]["org.igcds.processing"]["unavailableData"]


def test_paged_prefetch_is_followed_through_next_links(server, loaded_fixtures):
    fhir = loaded_fixtures.server
    body = higm_patient_view(loaded_fixtures)
    full = cards_of(call(server, "ig-patient-view", body))
    first_page = fhir.get_json("Observation?patient=higm-xl-adult&category=laboratory&_sort=-date&_count=2")
    assert any(link["relation"] == "next" for link in first_page["link"])
    assert len(first_page["entry"]) == 2
    body["prefetch"]["labs"] = first_page
    body["fhirServer"] = fhir.base_url
    assert cards_of(call(server, "ig-patient-view", body)) == full


def test_a_fhir_server_off_the_allowlist_receives_nothing(server, loaded_fixtures):
    body = without_prefetch(higm_patient_view(loaded_fixtures), "")
    with faulty_fhir_server("ok") as listener:
        body["fhirServer"] = listener.base_url
        register_secret("off-allowlist access token", "never-sent-token")
        body["fhirAuthorization"] = {"access_token": "never-sent-token", "token_type": "Bearer",
                                     "expires_in": 300, "scope": "user/*.read", "subject": "igcds"}
        response = call(server, "ig-patient-view", body)
        assert listener.requests == []
    assert response.status_code == 412
    assert "allowlist" in str(response.json()["details"])
    assert "never-sent-token" not in response.text


def test_the_access_token_is_forwarded_to_the_fhir_server(fhir_server_bearer, fixture_now):
    fhir_server_bearer.load_fixture("higm-xl-adult", fixture_now)
    body = without_prefetch(load_request("ig-patient-view", "higm-xl-adult", fixture_now), fhir_server_bearer.base_url)
    with igcds_server({"fhir": {"allowed_servers": [fhir_server_bearer.base_url]}}, dev=True, workers=1) as igcds:
        refused = call(igcds, "ig-patient-view", body)
        assert refused.status_code == 412  # the bearer-protected server answered 401 to a call without token
        body["fhirAuthorization"] = {"access_token": fhir_server_bearer.token, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "user/*.read", "subject": "igcds"}
        accepted = call(igcds, "ig-patient-view", body)
        assert {"pv-higm-hsct"} <= rules(accepted)
        assert fhir_server_bearer.token not in igcds.log_text()


def test_a_fhir_server_answering_500_gives_412_not_500(server):
    with faulty_fhir_server("500") as broken, igcds_server({"fhir": {"allowed_servers": [broken.base_url]}},
                                                            dev=True, workers=1) as igcds:
        body = load_request("ig-patient-view", "general-medicine", datetime.now().astimezone())
        response = call(igcds, "ig-patient-view", without_prefetch(body, broken.base_url))
        assert broken.requests
    assert response.status_code == 412


def test_medication_reference_is_read_from_the_fhir_server_when_nothing_else_has_it(server, loaded_fixtures):
    """A draft order naming its product by reference only: igcds reads the Medication (FHIR read)."""
    fhir = loaded_fixtures.server
    fhir.load({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Medication", "id": "privigen-by-reference",
                     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "44206-439",
                                          "display": "Privigen 10% liquid"}], "text": "Privigen 10%"}},
        "request": {"method": "PUT", "url": "Medication/privigen-by-reference"}}]})
    body = load_request("ig-order-select", "higm-xl-adult-ivig-dose-high", loaded_fixtures.now)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft.pop("medicationCodeableConcept")
    draft["medicationReference"] = {"reference": "Medication/privigen-by-reference"}
    unresolved = rules(call(server, "ig-order-select", body))
    assert "order-dose-out-of-range" not in unresolved  # not known to be immune globulin: not judged
    body["fhirServer"] = fhir.base_url
    resolved = rules(call(server, "ig-order-select", body))
    assert "order-dose-out-of-range" in resolved
