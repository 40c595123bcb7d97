"""The companion app's sign-in refuses what it must, and keeps the access token on the server.

Each vignette drives the SMART launch over real HTTP (``requests`` as the browser: a cookie jar, redirects
followed by hand) against the test EHR (Authlib) and a real ``igcds serve``: a forged ``state``, a code
delivered with another launch's PKCE verifier (code injection), an ``iss`` the configuration does not
list, an expired session, a replayed redirect, an EHR error redirect. Every refusal is an HTML page with
its status and a stable error code that says what happened.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from urllib.parse import urlencode

import pytest
import requests

from tests.support.companion import CLIENT_ID, companion_stack, follow, launch_session
from tests.support.recording_server import recording_server
from tests.support.smart_ehr import query_of

pytestmark = pytest.mark.integration

PATIENT = "higm-xl-adult"
TREND_LINK = {"label": "IgG trend", "type": "smart", "appContext": json.dumps({"view": "trend"})}


@pytest.fixture(scope="module")
def stack(loaded_fixtures):
    with companion_stack(loaded_fixtures.server.base_url, default_patient=PATIENT) as running:
        yield running


@pytest.fixture
def link(stack):
    return {**TREND_LINK, "url": stack.igcds.url("/app/launch")}


def refusal(response: requests.Response) -> str:
    """The error code of a refusal page (and it is a page, not a stack trace or JSON)."""
    assert response.headers["Content-Type"].startswith("text/html"), response.text[:300]
    marker = 'data-error="'
    assert marker in response.text, response.text[:500]
    return response.text.split(marker, 1)[1].split('"', 1)[0]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_a_completed_launch_shows_the_trend_and_asks_only_patient_read_scopes_with_pkce(stack, link):
    launch = launch_session(stack, link, PATIENT)
    assert launch.last.status_code == 200 and 'id="trend-chart"' in launch.last.text
    authorize = query_of(launch.hops[0].headers["Location"])
    assert authorize["code_challenge_method"] == "S256" and authorize["aud"] == stack.ehr.fhir_base
    assert set(authorize["scope"].split()) == {"launch"} | {
        f"patient/{kind}.rs" for kind in ("Patient", "Observation", "Condition", "MedicationRequest",
                                          "MedicationAdministration", "MedicationStatement")}
    assert stack.ehr.token_requests[-1]["code_verifier"]
    assert s256(stack.ehr.token_requests[-1]["code_verifier"]) == authorize["code_challenge"]


def test_a_forged_state_is_refused_and_the_code_is_never_exchanged(stack, link):
    launch = launch_session(stack, link, PATIENT, stop_before_callback=True)
    redirect = launch.last.headers["Location"]
    params = query_of(redirect)
    exchanged = len(stack.ehr.token_requests)
    forged = stack.igcds.url("/app/callback?" + urlencode({"code": params["code"], "state": "forged-" + "x" * 40}))
    response = launch.http.get(forged, allow_redirects=False, timeout=30)
    assert response.status_code == 400 and refusal(response) == "state-mismatch"
    assert "state mismatch" in response.text
    assert len(stack.ehr.token_requests) == exchanged


def test_a_redirect_back_in_a_browser_that_did_not_start_the_launch_is_refused(stack, link):
    launch = launch_session(stack, link, PATIENT, stop_before_callback=True)
    stranger = requests.Session()
    response = stranger.get(launch.last.headers["Location"], allow_redirects=False, timeout=30)
    assert response.status_code == 400 and refusal(response) == "state-mismatch"
    assert "not started in this browser" in response.text


def test_a_code_injected_with_another_launchs_verifier_is_refused_by_pkce(stack, link):
    victim = launch_session(stack, link, PATIENT, stop_before_callback=True)
    attacker = launch_session(stack, link, PATIENT, stop_before_callback=True)
    victim_state = query_of(victim.last.headers["Location"])["state"]
    attacker_code = query_of(attacker.last.headers["Location"])["code"]
    challenge = stack.ehr.codes[attacker_code].code_challenge
    injected = stack.igcds.url("/app/callback?" + urlencode({"code": attacker_code, "state": victim_state}))
    response = victim.http.get(injected, allow_redirects=False, timeout=30)
    assert response.status_code == 401 and refusal(response) == "authorization-failed"
    assert "refused to issue an access token" in response.text
    sent = stack.ehr.token_requests[-1]
    assert sent["code"] == attacker_code and s256(sent["code_verifier"]) != challenge  # the victim's verifier
    assert "Set-Cookie" not in response.headers  # no session was made


def test_the_test_ehr_itself_refuses_a_wrong_verifier(stack, link):
    """The PKCE vignette above proves something only if the authorization server checks the verifier."""
    launch = launch_session(stack, link, PATIENT, stop_before_callback=True)
    code = query_of(launch.last.headers["Location"])["code"]
    response = requests.post(stack.ehr.base_url + "/auth/token", timeout=30, data={
        "grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
        "redirect_uri": stack.igcds.url("/app/callback"), "code_verifier": "w" * 64})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_an_unlisted_iss_is_refused_before_anything_is_fetched_from_it(stack):
    with recording_server() as rogue:
        response = requests.get(stack.igcds.url("/app/launch?" + urlencode(
            {"iss": rogue.url("/fhir"), "launch": "abc"})), allow_redirects=False, timeout=30)
        assert response.status_code == 403 and refusal(response) == "issuer-not-allowed"
        assert "not one this igcds app is configured for" in response.text
        assert rogue.seen == []
        assert "Set-Cookie" not in response.headers


def test_an_expired_session_is_refused_with_a_clear_page(stack, link):
    launch = launch_session(stack, link, PATIENT, expires_in=2)  # the token, and so the session, lives 2 s
    assert launch.hops[2].status_code == 302  # signed in
    time.sleep(2.5)
    response = launch.http.get(stack.igcds.url("/app/trend"), allow_redirects=False, timeout=30)
    assert response.status_code == 401 and refusal(response) == "session-expired"
    assert "open the app from the EHR again" in response.text


def test_a_browser_without_a_session_is_told_to_launch_from_the_ehr(stack):
    response = requests.get(stack.igcds.url("/app/dose-plan"), allow_redirects=False, timeout=30)
    assert response.status_code == 401 and refusal(response) == "not-signed-in"


def test_a_replayed_redirect_is_refused(stack, link):
    launch = launch_session(stack, link, PATIENT)
    callback = launch.hops[1].headers["Location"]
    response = launch.http.get(callback, allow_redirects=False, timeout=30)
    assert response.status_code == 400 and refusal(response) == "state-mismatch"


def test_an_ehr_that_denies_access_gets_a_clear_page(stack, link):
    launch = launch_session(stack, link, PATIENT, stop_before_callback=True)
    state = query_of(launch.last.headers["Location"])["state"]
    denied = stack.igcds.url("/app/callback?" + urlencode({"error": "access_denied", "state": state}))
    response = launch.http.get(denied, allow_redirects=False, timeout=30)
    assert response.status_code == 401 and refusal(response) == "authorization-failed"
    assert "(access_denied)" in response.text


def test_the_token_is_stored_encrypted_and_the_cookie_is_opaque(stack, link):
    launch = launch_session(stack, link, PATIENT)
    set_cookie = launch.hops[2].headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/app" in set_cookie
    token = list(stack.ehr.tokens)[-1]
    cookie = launch.http.cookies["igcds_app"]
    assert token not in set_cookie and token not in launch.last.text and cookie != token
    with sqlite3.connect(stack.igcds.data_dir / "companion-sessions.sqlite3") as db:
        stored = b"".join(row[0] + row[1].encode() for row in db.execute("SELECT payload, key FROM session"))
    assert stored and token.encode() not in stored and cookie.encode() not in stored
    signed_out = launch.http.post(stack.igcds.url("/app/sign-out"), timeout=30)
    assert signed_out.status_code == 200 and 'id="signed-out"' in signed_out.text
    again = launch.http.get(stack.igcds.url("/app/trend"), allow_redirects=False, timeout=30)
    assert again.status_code == 401


def test_a_standalone_launch_signs_in_for_the_patient_the_clinician_picks(stack):
    hops: list[requests.Response] = []
    http = requests.Session()
    page = follow(http, stack.igcds.url("/app/launch?" + urlencode({"iss": stack.ehr.fhir_base})), hops)
    assert "launch/patient" in query_of(hops[0].headers["Location"])["scope"].split()
    assert "launch" not in query_of(hops[0].headers["Location"])
    assert page.status_code == 200 and 'id="trend-chart"' in page.text and "Hale" in page.text
