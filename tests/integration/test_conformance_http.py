"""CDS Hooks 2.0 conformance over real HTTP, against the production stack (``igcds serve``, gunicorn).

Each test cites the requirement it checks: ids of docs/conformance.md (D = discovery, R = request,
P = prefetch, C = response, G = JSON, X = CORS) and Inferno's requirement ids (I#) listed there.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from tests.support.conformance import assert_conformant_discovery, assert_conformant_response
from tests.support.igcds_server import igcds_server

SERVICES = {"ig-order-select": "order-select", "ig-order-sign": "order-sign", "ig-patient-view": "patient-view"}
NO_DATA = {k: None for k in ("vitals", "labs", "conditions", "medicationRequests", "medicationStatements",
                             "medicationAdministrations", "allergies", "immunizations", "procedures")}
PATIENT = {"resourceType": "Patient", "id": "conf-1", "gender": "female", "birthDate": "1980-02-03"}


def draft_order(order_id: str = "mr-1") -> dict:
    return {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/conf-1"}, "medicationCodeableConcept": {"text": "Privigen"}}


def request_body(hook: str = "order-select", **changes) -> dict:
    context: dict = {"userId": "Practitioner/dr-1", "patientId": "conf-1"}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": draft_order()}]}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/mr-1"]
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
            "prefetch": {"patient": PATIENT, **NO_DATA}}
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def server():
    with igcds_server(dev=True, workers=2) as running:
        yield running


def post(server, service_id: str, body, **kwargs) -> requests.Response:
    if "data" in kwargs or "headers" in kwargs:
        return requests.post(server.url(f"/cds-services/{service_id}"), timeout=10, **kwargs)
    return requests.post(server.url(f"/cds-services/{service_id}"), json=body, timeout=10)


def assert_error(response: requests.Response, status: int, code: str, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    assert body["requestId"]
    return body


# Discovery -----------------------------------------------------------------------------------

def test_d1_d2_d4_discovery_lists_the_three_services_with_prefetch(server):
    response = requests.get(server.url("/cds-services"), timeout=5)
    assert response.status_code == 200  # D9, I#13
    document = response.json()
    assert_conformant_discovery(document)  # D2, D4, D6
    assert {s["id"]: s["hook"] for s in document["services"]} == SERVICES
    for entry in document["services"]:
        assert entry["title"]  # D5, I#8
        assert entry["prefetch"]["patient"] == "Patient/{{context.patientId}}"  # T1, T5


def test_t4_t6_prefetch_templates_use_only_cds_hooks_2_tokens(server):
    for entry in requests.get(server.url("/cds-services"), timeout=5).json()["services"]:
        for template in entry["prefetch"].values():
            assert "draftOrders" not in template and "selections" not in template  # T6
            assert "sort:desc" not in template  # T9: invalid FHIR syntax
            tokens = [t.split("}}")[0] for t in template.split("{{")[1:]]
            assert all(t.startswith("context.") or t.startswith("user") for t in tokens)  # T4


# Requests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("service_id, hook", SERVICES.items())
def test_c1_every_service_answers_cards_array(server, service_id, hook):
    response = post(server, service_id, request_body(hook))
    assert response.status_code == 200, response.text  # I#74
    assert_conformant_response(response.json())  # C1, G2


def test_r2_d8_wrong_hook_for_the_service_is_refused(server):
    response = post(server, "ig-patient-view", request_body("order-select"))
    assert_error(response, 400, "invalid-request", "does not serve hook 'order-select'", "patient-view")


def test_unknown_service_id_is_404(server):
    assert_error(post(server, "no-such-service", request_body()), 404, "unknown-service", "no-such-service")


def test_g1_non_json_body_is_400(server):
    response = post(server, "ig-order-select", None, data=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid-request", "not valid JSON")


def test_g1_wrong_content_type_is_415(server):
    response = post(server, "ig-order-select", None, data=json.dumps(request_body()),
                    headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported-media-type", "application/json")


def test_oversized_body_is_413(server):
    huge = b'{"hook": "order-select", "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = post(server, "ig-order-select", None, data=huge, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload-too-large", "limit")


def test_json_that_is_not_an_object_is_400(server):
    response = post(server, "ig-order-select", [1, 2, 3])
    assert_error(response, 400, "invalid-request", "JSON object")


def test_deeply_nested_json_is_400_not_500(server):
    deep = b'{"hook": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = post(server, "ig-order-select", None, data=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("mutate, fragment", [
    (lambda b: b.pop("hookInstance"), "'hookInstance' is a required property"),
    (lambda b: b.pop("context"), "'context' is a required property"),
    (lambda b: b.update(hook=42), "request.hook"),
    (lambda b: b.update(context="patient 1"), "request.context"),
    (lambda b: b.update(prefetch=[]), "request.prefetch"),
    (lambda b: b.update(prefetch={"patient": "Patient/1"}), "request.prefetch.patient"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                           "scope": "user/*.read", "subject": "igcds"}), "fhirServer"),
    (lambda b: b.update(fhirServer="ftp://ehr.example.org"), "request.fhirServer"),
])
def test_r1_r7_requests_failing_the_cds_hooks_schema_are_400(server, mutate, fragment):
    body = request_body()
    mutate(body)
    assert_error(post(server, "ig-order-select", body), 400, "invalid-request", fragment)


@pytest.mark.parametrize("hook, mutate, fragment", [
    ("patient-view", lambda c: c.pop("patientId"), "'patientId' is a required property"),
    ("patient-view", lambda c: c.update(userId="dr-1"), "context.userId"),
    ("order-select", lambda c: c.pop("selections"), "'selections' is a required property"),
    ("order-select", lambda c: c.update(selections=[]), "context.selections"),
    ("order-select", lambda c: c.update(draftOrders={"resourceType": "Patient"}), "context.draftOrders"),
    ("order-select", lambda c: c.update(selections=["MedicationRequest/absent"]), "does not refer"),
    ("order-sign", lambda c: c.pop("draftOrders"), "'draftOrders' is a required property"),
    ("order-sign", lambda c: c.update(userId="Patient/p1"), "context.userId"),
])
def test_r6_contexts_failing_the_hook_schema_are_400(server, hook, mutate, fragment):
    body = request_body(hook)
    mutate(body["context"])
    service = {v: k for k, v in SERVICES.items()}[hook]
    assert_error(post(server, service, body), 400, "invalid-request", fragment)


def test_r8_g6_unknown_extensions_are_tolerated(server):
    body = request_body(extension={"com.example.trace": {"id": 7}})
    body["context"]["extension"] = {"org.example.flag": True}
    assert post(server, "ig-order-select", body).status_code == 200


def test_p4_null_prefetch_is_no_data_and_p8_missing_required_without_fhir_server_is_412(server):
    body = request_body()
    assert post(server, "ig-order-select", body).status_code == 200
    del body["prefetch"]["patient"]
    error = assert_error(post(server, "ig-order-select", body), 412, "prefetch-unavailable", "patient")
    assert error["details"]["keys"]["patient"] == "no fhirServer in the request"


def test_bad_resources_inside_a_valid_request_are_skipped_and_counted(server):
    body = request_body("order-sign")
    body["context"]["draftOrders"]["entry"].append({"resource": {"resourceType": "MedicationRequest", "id": 5}})
    body["context"]["draftOrders"]["entry"].append({"resource": "not a resource"})
    body["prefetch"]["labs"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Observation", "id": "o1", "status": "final", "valueQuantity": "high"}}]}
    response = post(server, "ig-order-sign", body)
    assert response.status_code == 200, response.text
    document = response.json()
    assert_conformant_response(document)
    assert document["extension"]["org.igcds.processing"]["skippedResources"] >= 2


def test_method_not_allowed_is_json(server):
    response = requests.get(server.url("/cds-services/ig-order-select"), timeout=5)
    assert_error(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_unknown_path_is_json_404(server):
    assert_error(requests.get(server.url("/nothing-here"), timeout=5), 404, "not-found")


def test_x1_cors_preflight_allows_authorization_and_content_type(server):
    # A dev-mode server answers pages from this machine only (tests/cds_service/test_dev_mode.py); the
    # same preflight from https://sandbox.cds-hooks.org to a secure server: test_security_http.
    response = requests.options(server.url("/cds-services/ig-order-select"), timeout=5, headers={
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:3000")
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_health_and_readiness(server):
    assert requests.get(server.url("/healthz"), timeout=5).json() == {"status": "ok"}
    ready = requests.get(server.url("/readyz"), timeout=5)
    assert ready.status_code == 200 and "DEV MODE" in ready.json()["warning"]


def test_request_ids_are_echoed_and_generated(server):
    response = post(server, "ig-order-select", request_body())
    assert len(response.headers["X-Request-Id"]) == 32
    mine = requests.get(server.url("/healthz"), headers={"X-Request-Id": "trace-42"}, timeout=5)
    assert mine.headers["X-Request-Id"] == "trace-42"


def test_same_hook_instance_twice_is_answered_twice(server):
    body = request_body()
    first = post(server, "ig-order-select", body)
    second = post(server, "ig-order-select", copy.deepcopy(body))
    assert first.status_code == second.status_code == 200
