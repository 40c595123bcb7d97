"""Logs carry no bearer token and no patient id (docs/architecture.md "Security"; docs/conformance.md F4, J12).

A real server (``igcds serve``, 2 workers, DEBUG logging, not dev mode) gets a mix of calls —
accepted, refused by the JWT check, refused as invalid, answered 412, calls whose data is fetched
from a FHIR server with a ``fhirAuthorization`` token, FHIR fetches that fail, feedback, a replay —
each with its own JWT, access token and patient id. Then the server log is searched for every one
of them (as written, JSON-escaped, URL-encoded, and each JWT segment alone).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
import requests

from tests.support.audit import record_issued_card
from tests.support.igcds_server import igcds_server
from tests.support.jwt_tokens import bearer, jwks, mint, new_key, unsigned
from tests.support.log_hygiene import assert_no_secrets, find_secrets
from tests.support.recording_server import recording_server

ISS = "https://ehr-hygiene.example.org"
KEY = new_key("ES384", kid="hyg-es")
RS_KEY = new_key("RS384", kid="hyg-rs")
NO_DATA = {k: None for k in ("vitals", "labs", "conditions", "medicationRequests", "medicationStatements",
                             "medicationAdministrations", "allergies", "immunizations", "procedures")}


def fhir(path: str) -> Any:
    if not path.startswith("/fhir/"):
        return None
    if "pt-hyg-missing" in path:
        return None  # 404: the fetch fails and the failure is logged
    match = re.search(r"/Patient/([^/?]+)$", path)
    if match:
        return {"resourceType": "Patient", "id": match.group(1), "gender": "male", "birthDate": "1970-05-06"}
    subject = re.search(r"patient=([^&]+)", path)
    entry = []
    if subject and "Condition" in path:
        entry = [{"resource": {"resourceType": "Condition", "id": "c1",
                               "subject": {"reference": f"Patient/{subject.group(1)}"},
                               "clinicalStatus": {"coding": [{"code": "active"}]},
                               "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D80.5"}]}}}]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entry), "entry": entry}


class Secrets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, label: str, value: str) -> str:
        self.values[label] = value
        return value

    def patient(self, label: str) -> str:
        return self.add(f"patient id {label}", f"pt-hyg-{label}-{uuid.uuid4().hex[:12]}")

    def access_token(self, label: str) -> str:
        return self.add(f"access token {label}", f"fhir-at-{uuid.uuid4().hex}{uuid.uuid4().hex}")

    def jwt(self, label: str, token: str) -> str:
        return self.add(f"JWT {label}", token)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hygiene")
    jwks_file = tmp / "jwks.json"
    jwks_file.write_text(json.dumps(jwks(KEY, RS_KEY)))
    with recording_server() as listener:
        listener.fallback = fhir
        config = {
            "logging": {"level": "DEBUG"},
            "clients": [{"issuer": ISS, "jwks_file": str(jwks_file), "fhir_servers": [listener.url("/fhir")]}],
        }
        with igcds_server(config, dev=False, workers=2) as server:
            secrets = Secrets()
            exercise(server, listener, secrets)
            time.sleep(0.2)  # let the workers flush their last lines
            yield server, listener, secrets


def fhir_authorization(token: str, patient: str) -> dict:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
            "subject": "igcds", "patient": patient}


def body_for(hook: str, patient: str, **changes: Any) -> dict:
    context: dict[str, Any] = {"userId": "Practitioner/dr-hyg", "patientId": patient}
    if hook in ("order-select", "order-sign"):
        order = {"resourceType": "MedicationRequest", "id": "mr-hyg", "status": "draft", "intent": "order",
                 "subject": {"reference": f"Patient/{patient}"}, "medicationCodeableConcept": {"text": "Privigen"},
                 "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 30, "unit": "g",
                                                                          "system": "http://unitsofmeasure.org",
                                                                          "code": "g"}}]}]}
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/mr-hyg"]
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
            "prefetch": {"patient": {"resourceType": "Patient", "id": patient, "gender": "female",
                                     "birthDate": "1980-02-03"}, **NO_DATA}}
    body.update(changes)
    return body


def exercise(server, listener, secrets: Secrets) -> list[int]:
    statuses: list[int] = []

    def post(path: str, body: Any, token: str | None, label: str, key=KEY, aud_path: str | None = None) -> None:
        headers = {}
        if token is None:
            token = secrets.jwt(label, mint(key, iss=ISS, aud=server.url(aud_path or path)))
        if token:
            headers = bearer(token)
        response = requests.post(server.url(path), json=body, headers=headers, timeout=15)
        statuses.append(response.status_code)

    pv, osel, osign = "/cds-services/ig-patient-view", "/cds-services/ig-order-select", "/cds-services/ig-order-sign"
    # Accepted calls with everything prefetched.
    post(pv, body_for("patient-view", secrets.patient("pv-prefetched")), None, "pv")
    post(osel, body_for("order-select", secrets.patient("order-select")), None, "order-select", key=RS_KEY)
    post(osign, body_for("order-sign", secrets.patient("order-sign")), None, "order-sign")
    # Accepted calls fetching from the client's FHIR server with an access token.
    for label in ("fetch-1", "fetch-2"):
        patient = secrets.patient(label)
        body = body_for("patient-view", patient, fhirServer=listener.url("/fhir"),
                        fhirAuthorization=fhir_authorization(secrets.access_token(label), patient))
        del body["prefetch"]  # everything is fetched with the access token
        post(pv, body, None, label)
    # FHIR fetches that fail (404) with a token: the failure reason is logged.
    patient = secrets.add("patient id missing", "pt-hyg-missing-" + uuid.uuid4().hex[:8])
    body = body_for("patient-view", patient, fhirServer=listener.url("/fhir"),
                    fhirAuthorization=fhir_authorization(secrets.access_token("fetch-fails"), patient))
    del body["prefetch"]
    post(pv, body, None, "fetch-fails")
    # fhirServer not on the client's list: 412, nothing sent.
    patient = secrets.patient("unlisted")
    body = body_for("patient-view", patient, fhirServer="https://fhir.unlisted.example/r4",
                    fhirAuthorization=fhir_authorization(secrets.access_token("unlisted"), patient))
    del body["prefetch"]
    post(pv, body, None, "unlisted")
    # Refused by the JWT check, with tokens and ids in the body.
    patient = secrets.patient("jwt-refused")
    refused_body = body_for("patient-view", patient, fhirServer=listener.url("/fhir"),
                            fhirAuthorization=fhir_authorization(secrets.access_token("jwt-refused"), patient))
    post(pv, refused_body, secrets.jwt("wrong aud", mint(KEY, iss=ISS, aud=server.url(osel))), "")
    post(pv, refused_body, secrets.jwt("alg none", unsigned(KEY, iss=ISS, aud=server.url(pv))), "")
    post(pv, refused_body, secrets.jwt("expired", mint(KEY, iss=ISS, aud=server.url(pv), iat=int(time.time()) - 900,
                                                       exp=int(time.time()) - 600)), "")
    post(pv, refused_body, secrets.jwt("unknown iss", mint(KEY, iss="https://x.example", aud=server.url(pv))), "")
    post(pv, refused_body, secrets.jwt("garbage", "eyJhbGciOiJFUzM4NCJ9." + "Q" * 40 + "." + "Z" * 40), "")
    replayed = secrets.jwt("replayed", mint(KEY, iss=ISS, aud=server.url(pv)))
    post(pv, body_for("patient-view", secrets.patient("replay-1")), replayed, "")
    post(pv, body_for("patient-view", secrets.patient("replay-2")), replayed, "")
    # Accepted JWT, invalid requests (400) carrying ids and tokens.
    patient = secrets.patient("bad-context")
    bad = body_for("patient-view", patient, fhirAuthorization=fhir_authorization(secrets.access_token("bad"), patient))
    post(pv, bad, None, "bad-request-1")  # fhirAuthorization without fhirServer
    broken = body_for("order-select", secrets.patient("bad-selection"))
    broken["context"]["selections"] = [f"MedicationRequest/{secrets.patient('selection-ref')}"]
    post(osel, broken, None, "bad-request-2")
    # Feedback and discovery.
    card = record_issued_card(f"sqlite:///{server.data_dir}/igcds.db", "ig-patient-view", issuer=ISS)
    post(pv + "/feedback", {"feedback": [{"card": card, "outcome": "overridden",
                                          "overrideReason": {"userComment": "patient pt-hyg-comment-x1y2z3"},
                                          "outcomeTimestamp": "2026-01-02T03:04:05Z"}]}, None, "feedback")
    secrets.add("feedback comment", "pt-hyg-comment-x1y2z3")
    discovery = secrets.jwt("discovery", mint(KEY, iss=ISS, aud=server.url("/cds-services")))
    statuses.append(requests.get(server.url("/cds-services"), headers=bearer(discovery), timeout=5).status_code)
    exercise.statuses = statuses  # type: ignore[attr-defined]
    return statuses


def test_the_calls_took_the_paths_they_were_meant_to(run):
    server, listener, secrets = run
    statuses = exercise.statuses  # type: ignore[attr-defined]
    assert statuses == [200] * 5 + [412, 412] + [401] * 5 + [200, 401] + [400, 400] + [200, 200], statuses
    sent = listener.all_text()
    assert secrets.values["access token fetch-1"] in sent  # the token did reach the client's FHIR server
    assert secrets.values["access token unlisted"] not in sent
    assert secrets.values["access token jwt-refused"] not in sent
    assert "authentication failed" in server.log_text() and "cds call" in server.log_text()


def test_server_log_holds_no_token_and_no_patient_id(run):
    server, _, secrets = run
    assert_no_secrets(server.log_text(), secrets.values)


def test_helper_finds_a_leak_in_any_form():
    token = mint(KEY, iss=ISS, aud="https://cds.example.org/cds-services")
    header, payload, signature = token.split(".")
    assert find_secrets(f'{{"x": "{signature}"}}', {"jwt": token}) == ["jwt (log line 1)"]
    assert find_secrets(f"ok\npayload={payload}", [token]) == ["secret #1 (log line 2)"]
    assert find_secrets("GET /Patient%2Fpt-hyg-a1b2c3", {"pid": "Patient/pt-hyg-a1b2c3"})
    assert find_secrets("nothing here", {"pid": "pt-hyg-a1b2c3"}) == []
    with pytest.raises(ValueError):
        find_secrets("", {"short": "p1"})
    with pytest.raises(AssertionError, match="pid"):
        assert_no_secrets('{"patient": "pt-hyg-a1b2c3"}', {"pid": "pt-hyg-a1b2c3"})
