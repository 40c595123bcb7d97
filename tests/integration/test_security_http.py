"""CDS Hooks client authentication over real HTTP (``igcds serve``, gunicorn, 2 workers, not dev mode).

Requirement ids: docs/conformance.md §6 (J1-J13, §6.4) and D11.
Keys are real ES384 / RS384 key pairs made for this run. One server for the whole module; a local
recording listener plays the client's JWKS endpoint, an attacker's ``jku`` and FHIR servers, so the
tests can assert what was — and was not — fetched or sent.

Clients:
- ``A`` (``ISS_A``): keys in a JWKS file (ES384 + RS384); one allowlisted ``jku`` on the listener;
  may send us to the listener's ``/fhir-allowed``.
- ``B`` (``ISS_B``): keys at a JWKS URL on the listener (rotated during a test); no FHIR server.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.audit import record_issued_card
from tests.support.igcds_server import igcds_server
from tests.support.jwt_tokens import bearer, hs256_with_public_key, jwks, mint, new_key, unsigned
from tests.support.recording_server import recording_server

ISS_A = "https://ehr-a.example.org"
ISS_B = "https://ehr-b.example.org"
SERVICE = "ig-patient-view"

A_ES = new_key("ES384", kid="a-es384")
A_RS = new_key("RS384", kid="a-rs384")
A_JKU = new_key("ES384", kid="a-jku")
B_1 = new_key("ES384", kid="b-1")
B_2 = new_key("RS384", kid="b-2")
ATTACKER = new_key("ES384", kid="a-es384")  # the attacker reuses A's kid with their own key

NO_DATA = {k: None for k in ("vitals", "labs", "conditions", "medicationRequests", "medicationStatements",
                             "medicationAdministrations", "allergies", "immunizations", "procedures")}


def fhir_fallback(path: str) -> Any:
    """The listener as a minimal FHIR server under /fhir-allowed and /fhir-unlisted."""
    if not path.startswith(("/fhir-allowed/", "/fhir-unlisted/")):
        return None
    match = re.search(r"/Patient/([^/?]+)$", path)
    if match:
        return {"resourceType": "Patient", "id": match.group(1), "gender": "female", "birthDate": "1980-02-03"}
    return {"resourceType": "Bundle", "type": "searchset", "total": 0}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    jwks_file = tmp / "client-a-jwks.json"
    jwks_file.write_text(json.dumps(jwks(A_ES, A_RS)))
    with recording_server({"/a/jku.json": jwks(A_JKU), "/b/jwks.json": jwks(B_1),
                           "/evil/jwks.json": jwks(ATTACKER)}) as listener:
        listener.fallback = fhir_fallback
        config = {
            "auth": {"jwks_min_refresh_s": 1, "jwks_cache_s": 3600, "max_token_lifetime_s": 3600},
            "clients": [
                {"issuer": ISS_A, "jwks_file": str(jwks_file), "jku_allowlist": [listener.url("/a/jku.json")],
                 "fhir_servers": [listener.url("/fhir-allowed")]},
                {"issuer": ISS_B, "jwks_url": listener.url("/b/jwks.json")},
            ],
        }
        with igcds_server(config, dev=False, workers=2) as server:
            yield server, listener


@pytest.fixture(scope="module")
def server(env):
    return env[0]


@pytest.fixture(scope="module")
def listener(env):
    return env[1]


def patient_view(patient_id: str = "pt-sec-1", **changes: Any) -> dict:
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
            "prefetch": {"patient": {"resourceType": "Patient", "id": patient_id, "gender": "female",
                                     "birthDate": "1980-02-03"}, **NO_DATA}}
    body.update(changes)
    return body


def feedback_body(card: str | None = None) -> dict:
    return {"feedback": [{"card": card or str(uuid.uuid4()), "outcome": "overridden",
                          "overrideReason": {"userComment": "not relevant today"},
                          "outcomeTimestamp": "2026-01-02T03:04:05Z"}]}


def card_of(server, issuer: str = ISS_A) -> str:
    """A card the server issued to ``issuer`` (feedback is only taken on those)."""
    return record_issued_card(f"sqlite:///{server.data_dir}/igcds.db", SERVICE, issuer=issuer)


def call(server, path: str, token: str | None = None, *, body: Any = None, headers: dict | None = None):
    headers = {**(bearer(token) if token else {}), **(headers or {})}
    if path == "/cds-services" or path == "/rules":
        return requests.get(server.url(path), headers=headers, timeout=10)
    if body is None:
        body = feedback_body(card_of(server)) if path.endswith("/feedback") else patient_view()
    return requests.post(server.url(path), json=body, headers=headers, timeout=10)


def aud(server, path: str) -> str:
    return server.url(path)  # public_base_url is the server's own loopback URL here


def assert_401(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "unauthorized"}  # J12: no detail


ENDPOINTS = ["/cds-services", f"/cds-services/{SERVICE}", f"/cds-services/{SERVICE}/feedback", "/rules"]


# Accepted ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("key", [A_ES, A_RS], ids=["ES384", "RS384"])
def test_valid_tokens_are_accepted_on_every_endpoint(server, key, path):
    response = call(server, path, mint(key, iss=ISS_A, aud=aud(server, path)))
    assert response.status_code == 200, response.text


def test_aud_as_string_and_as_array(server):
    path = f"/cds-services/{SERVICE}"
    assert call(server, path, mint(A_ES, iss=ISS_A, aud=aud(server, path))).status_code == 200
    assert call(server, path, mint(A_RS, iss=ISS_A, aud=[aud(server, path)])).status_code == 200


def test_allowlisted_jku_is_used(server, listener):
    path = "/cds-services"
    token = mint(A_JKU, iss=ISS_A, aud=aud(server, path), jku=listener.url("/a/jku.json"))
    assert call(server, path, token).status_code == 200
    assert listener.requests_to("/a/jku.json")


def test_key_rotation_at_the_jwks_url(server, listener):
    path = "/cds-services"
    assert call(server, path, mint(B_1, iss=ISS_B, aud=aud(server, path))).status_code == 200
    listener.routes["/b/jwks.json"] = jwks(B_1, B_2)  # the client publishes a new key...
    time.sleep(1.1)  # ...and we may refetch once jwks_min_refresh_s has passed
    assert call(server, path, mint(B_2, iss=ISS_B, aud=aud(server, path))).status_code == 200
    assert call(server, path, mint(B_1, iss=ISS_B, aud=aud(server, path))).status_code == 200
    # A flood of unknown kids costs at most one fetch per worker per jwks_min_refresh_s.
    time.sleep(1.1)
    before = len(listener.requests_to("/b/jwks.json"))
    started = time.monotonic()
    for i in range(10):
        assert_401(call(server, path, mint(new_key("ES384", kid=f"junk-{i}"), iss=ISS_B, aud=aud(server, path))))
    if time.monotonic() - started < 0.9:
        assert len(listener.requests_to("/b/jwks.json")) - before <= 2


# Refused -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_authorization_header(server, path):
    assert_401(call(server, path))


@pytest.mark.parametrize("value", ["Bearer", "Bearer not-a-jwt", "Bearer a.b", "Basic dXNlcjpwYXNz",
                                   "Bearer eyJhbGciOiJFUzM4NCJ9.e30.!!!", "Bearer " + "A" * 8000])
def test_malformed_token(server, value):
    assert_401(call(server, "/cds-services", headers={"Authorization": value}))


def test_alg_none(server):
    assert_401(call(server, "/cds-services", unsigned(A_ES, iss=ISS_A, aud=aud(server, "/cds-services"))))


@pytest.mark.parametrize("key", [A_ES, A_RS], ids=["ES384-public", "RS384-public"])
def test_hs256_signed_with_the_public_key(server, key):
    assert_401(call(server, "/cds-services", hs256_with_public_key(key, iss=ISS_A, aud=aud(server, "/cds-services"))))


def test_unknown_kid(server):
    assert_401(call(server, "/cds-services", mint(new_key("ES384", kid="nobody"), iss=ISS_A,
                                                  aud=aud(server, "/cds-services"))))


def test_right_kid_wrong_key(server):
    assert_401(call(server, "/cds-services", mint(ATTACKER, iss=ISS_A, aud=aud(server, "/cds-services"))))


def test_unknown_issuer(server):
    assert_401(call(server, "/cds-services", mint(A_ES, iss="https://evil.example", aud=aud(server, "/cds-services"))))


def test_wrong_audience(server):
    for wrong in ("https://cds.example.org/cds-services", server.url("/cds-services/"),
                  server.url("/cds-services").replace("127.0.0.1", "localhost")):
        assert_401(call(server, "/cds-services", mint(A_ES, iss=ISS_A, aud=wrong)))


@pytest.mark.parametrize("path", ENDPOINTS)
def test_audience_of_another_endpoint(server, path):
    for other in ENDPOINTS + ["/cds-services/ig-order-select"]:
        if other != path:
            assert_401(call(server, path, mint(A_ES, iss=ISS_A, aud=aud(server, other))))


def test_expired(server):
    now = int(time.time())
    assert_401(call(server, "/cds-services", mint(A_ES, iss=ISS_A, aud=aud(server, "/cds-services"),
                                                  iat=now - 600, exp=now - 120)))


def test_iat_in_the_future(server):
    now = int(time.time())
    assert_401(call(server, "/cds-services", mint(A_ES, iss=ISS_A, aud=aud(server, "/cds-services"),
                                                  iat=now + 600, exp=now + 900)))


def test_missing_jti(server):
    assert_401(call(server, "/cds-services", mint(A_ES, iss=ISS_A, aud=aud(server, "/cds-services"), jti=None)))


def test_jku_not_on_the_allowlist_is_never_fetched(server, listener):
    token = mint(ATTACKER, iss=ISS_A, aud=aud(server, "/cds-services"), jku=listener.url("/evil/jwks.json"))
    assert_401(call(server, "/cds-services", token))
    assert listener.requests_to("/evil/") == []
    assert "is not on the client's jku_allowlist" in server.log_text()


def test_replayed_jti_is_refused_whichever_worker_sees_it(server):
    """First uses and replays go out concurrently on fresh connections, so both workers take part;
    the shared SQLite store refuses every replay, and the log shows replays refused by another
    worker than the one that accepted the first use."""
    path = "/cds-services"

    def send(token: str) -> int:
        with requests.Session() as session:  # a new connection per call
            return session.get(server.url(path), headers=bearer(token), timeout=10).status_code

    cross_worker = False
    for _round in range(5):
        tokens = [mint(A_ES if i % 2 else A_RS, iss=ISS_A, aud=aud(server, path)) for i in range(16)]
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(send, tokens)) == [200] * len(tokens)
            assert list(pool.map(send, tokens)) == [401] * len(tokens)
        pairs = re.findall(r"first accepted by worker pid (\d+), refused by worker pid (\d+)", server.log_text())
        pids = {p for pair in pairs for p in pair}
        cross_worker = any(a != b for a, b in pairs)
        if cross_worker and len(pids) >= 2:
            break
    assert cross_worker, f"no replay crossed workers in 5 rounds: {pairs[:5]}"


# fhirServer binding (§6.4) -----------------------------------------------------------------------

def test_fhir_server_not_on_the_clients_list_receives_nothing(server, listener):
    access_token = "at-" + uuid.uuid4().hex
    path = f"/cds-services/{SERVICE}"
    body = patient_view(fhirServer=listener.url("/fhir-unlisted"),
                        fhirAuthorization={"access_token": access_token, "token_type": "Bearer",
                                           "expires_in": 300, "scope": "user/Patient.read",
                                           "subject": "igcds"})
    del body["prefetch"]  # everything would have to be fetched
    response = call(server, path, mint(A_ES, iss=ISS_A, aud=aud(server, path)), body=body)
    assert response.status_code == 412, response.text
    assert access_token not in response.text
    assert listener.requests_to("/fhir-unlisted") == []
    assert access_token not in listener.all_text()
    # Client B has no FHIR servers at all: it cannot send us to A's server either.
    body["hookInstance"] = str(uuid.uuid4())
    body["fhirServer"] = listener.url("/fhir-allowed")
    response = call(server, path, mint(B_1, iss=ISS_B, aud=aud(server, path)), body=body)
    assert response.status_code == 412, response.text
    assert access_token not in listener.all_text()


def test_fhir_server_on_the_list_gets_the_token_and_only_it(server, listener):
    access_token = "at-" + uuid.uuid4().hex
    path = f"/cds-services/{SERVICE}"
    body = patient_view(patient_id="pt-sec-fetch", fhirServer=listener.url("/fhir-allowed"),
                        fhirAuthorization={"access_token": access_token, "token_type": "Bearer",
                                           "expires_in": 300, "scope": "user/Patient.read", "subject": "igcds"})
    del body["prefetch"]  # everything is fetched from the client's FHIR server
    response = call(server, path, mint(A_ES, iss=ISS_A, aud=aud(server, path)), body=body)
    assert response.status_code == 200, response.text
    received = listener.requests_to("/fhir-allowed/")
    assert received and all(r.headers.get("Authorization") == f"Bearer {access_token}" for r in received)
    others = [s for s in listener.seen if not s.path.startswith("/fhir-allowed/")]
    assert all(access_token not in json.dumps(s.headers) for s in others)
    assert access_token not in server.log_text()


# Operational endpoints ---------------------------------------------------------------------------

def test_health_needs_no_token_but_operational_documents_do(server):
    for path in ("/healthz", "/readyz"):
        assert requests.get(server.url(path), timeout=5).status_code == 200, path
    for path in ("/metrics", "/openapi.json"):
        assert requests.get(server.url(path), timeout=5).status_code == 401, path
        token = mint(A_ES, iss=ISS_A, aud=aud(server, path))
        response = requests.get(server.url(path), headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert response.status_code == 200, path


def test_readiness_says_only_its_status_without_a_token(server):
    """No client count, dev flag, replay store, database backend or audit counters for whoever asks."""
    response = requests.get(server.url("/readyz"), timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ready"}
    bad = requests.get(server.url("/readyz"), headers=bearer("not-a-jwt"), timeout=5)
    assert bad.status_code == 401  # a bad token is refused, not ignored


def test_readiness_details_need_a_token_for_readyz(server):
    token = mint(A_ES, iss=ISS_A, aud=aud(server, "/readyz"))
    details = requests.get(server.url("/readyz"), headers=bearer(token), timeout=5).json()
    assert details["status"] == "ready" and details["degraded"] == []
    assert details["checks"]["auth"] == {"ok": True, "dev_mode": False, "clients": 2, "replay_store": "sqlite"}
    assert details["checks"]["storage"]["backend"] == "sqlite" and "queued" in details["checks"]["audit"]


# Feedback is bound to the client that got the card (issue 15 finding 6) --------------------------

FEEDBACK = f"/cds-services/{SERVICE}/feedback"


def test_feedback_on_another_clients_card_is_refused(server):
    cards_of_a = card_of(server, ISS_A)
    as_b = call(server, FEEDBACK, mint(B_1, iss=ISS_B, aud=aud(server, FEEDBACK)), body=feedback_body(cards_of_a))
    assert as_b.status_code == 422 and as_b.json()["error"] == "unknown-card", as_b.text
    as_a = call(server, FEEDBACK, mint(A_ES, iss=ISS_A, aud=aud(server, FEEDBACK)), body=feedback_body(cards_of_a))
    assert as_a.status_code == 200 and as_a.json() == {"stored": 1, "duplicates": 0}


def test_feedback_on_a_made_up_card_is_refused(server):
    made_up = call(server, FEEDBACK, mint(A_ES, iss=ISS_A, aud=aud(server, FEEDBACK)), body=feedback_body())
    assert made_up.status_code == 422 and made_up.json()["error"] == "unknown-card"


def test_feedback_right_after_the_card_is_taken_whichever_worker_has_it(server, cds_request):
    """The card's audit row is written up to 0.2 s after the answer, by the worker that issued it;
    feedback sent at once, on a new connection (either worker), is still taken."""
    path = f"/cds-services/{SERVICE}"
    for _ in range(6):
        body = {k: v for k, v in cds_request(SERVICE, "higm-xl-adult").items() if k != "fhirServer"}
        issued = call(server, path, mint(A_ES, iss=ISS_A, aud=aud(server, path)), body=body)
        assert issued.status_code == 200, issued.text
        cards = issued.json()["cards"]
        assert cards, "this request should produce a card"
        feedback = call(server, FEEDBACK, mint(A_ES, iss=ISS_A, aud=aud(server, FEEDBACK)),
                        body=feedback_body(cards[0]["uuid"]))
        assert feedback.status_code == 200, feedback.text


def test_cors_preflight_needs_no_token(server):
    response = requests.options(server.url(f"/cds-services/{SERVICE}"), timeout=5, headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert "authorization" in response.headers.get("Access-Control-Allow-Headers", "").lower()


def test_replay_store_is_a_wal_sqlite_file_in_the_data_dir(server):
    import sqlite3

    path = server.data_dir / "replay.sqlite3"
    assert path.exists()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
