"""The SMART client: which FHIR servers it may sign in at, and what it accepts from their discovery document."""

from __future__ import annotations

import time

import pytest

from hooks.companion import smart
from hooks.companion.errors import EhrUnavailable, IssuerNotAllowed, LaunchRefused
from hooks.companion.settings import AppSettings
from hooks.companion.smart import authorization_url, check_issuer, discover, new_secret
from tests.support.faulty_fhir import faulty_fhir_server
from tests.support.recording_server import recording_server
from tests.support.smart_ehr import query_of

SETTINGS = AppSettings(enabled=True, client_id="igcds", fhir_servers=("https://ehr.example.org/fhir",),
                       launch_url="https://cds.example.org/app/launch")
GOOD = {"authorization_endpoint": "http://127.0.0.1:1/authorize", "token_endpoint": "http://127.0.0.1:1/token",
        "code_challenge_methods_supported": ["S256"]}


def test_only_a_listed_iss_is_accepted():
    assert check_issuer("https://ehr.example.org/fhir/", SETTINGS) == "https://ehr.example.org/fhir"
    with pytest.raises(IssuerNotAllowed, match="evil.example"):
        check_issuer("https://evil.example/fhir", SETTINGS)
    with pytest.raises(LaunchRefused, match="no iss"):
        check_issuer(None, SETTINGS)


@pytest.mark.parametrize("iss", ["http://[bad", "https://[::1/fhir", "https://"])
def test_an_unparseable_iss_is_refused_as_not_listed_not_a_500(iss):
    """A launch URL is client input: urlsplit raises on a broken IPv6 host, which was an internal error."""
    with pytest.raises(IssuerNotAllowed, match="an unknown host"):
        check_issuer(iss, SETTINGS)


def test_the_endpoints_come_from_the_smart_configuration():
    with recording_server({"/fhir/.well-known/smart-configuration": GOOD}) as ehr:
        endpoints = discover(ehr.url("/fhir"))
        assert endpoints.authorization_endpoint == GOOD["authorization_endpoint"]
        assert [s.path for s in ehr.seen] == ["/fhir/.well-known/smart-configuration"]


@pytest.mark.parametrize("document, error, words", [
    ({**GOOD, "code_challenge_methods_supported": ["plain"]}, LaunchRefused, "S256"),
    ({k: v for k, v in GOOD.items() if k != "code_challenge_methods_supported"}, LaunchRefused, "S256"),
    ({**GOOD, "token_endpoint": "http://ehr.example.org/token"}, EhrUnavailable, "not https"),
    ({**GOOD, "authorization_endpoint": 7}, EhrUnavailable, "authorization_endpoint"),
    ({**GOOD, "authorization_endpoint": "http://[bad/authorize"}, EhrUnavailable, "not https"),
    ([1, 2], EhrUnavailable, "not a JSON object"),
    ({**GOOD, "padding": "x" * 70_000}, EhrUnavailable, "larger"),
])
def test_an_unusable_smart_configuration_is_refused_with_its_reason(document, error, words):
    with recording_server({"/fhir/.well-known/smart-configuration": document}) as ehr:
        with pytest.raises(error, match=words):
            discover(ehr.url("/fhir"))


@pytest.mark.parametrize("mode", ["header-drip", "slow-drip"])
def test_a_dripping_smart_configuration_is_given_up_at_the_deadline(mode, monkeypatch):
    """A server that sends a byte every 0.2 s for 30 s: every receive is quick, so only a deadline on the
    whole exchange (the FHIR client's bounded GET) stops it from holding a worker."""
    monkeypatch.setattr(smart, "TIMEOUT_S", 1.0)
    with faulty_fhir_server(mode) as ehr:
        started = time.monotonic()
        with pytest.raises(EhrUnavailable, match="could not be read"):
            discover(ehr.base_url)
        assert time.monotonic() - started < 5.0


def test_a_missing_smart_configuration_is_an_ehr_error():
    with recording_server({}) as ehr, pytest.raises(EhrUnavailable, match="HTTP 404"):
        discover(ehr.url("/fhir"))


def test_the_authorization_request_carries_state_pkce_s256_aud_and_launch():
    with recording_server({"/fhir/.well-known/smart-configuration": GOOD}) as ehr:
        endpoints = discover(ehr.url("/fhir"))
    state, verifier = new_secret(), new_secret()
    assert len(verifier) >= 43 and state != verifier
    url = authorization_url(SETTINGS, endpoints, iss="https://ehr.example.org/fhir", launch="L1", state=state,
                            code_verifier=verifier)
    query = query_of(url)
    assert query["response_type"] == "code" and query["client_id"] == "igcds" and query["state"] == state
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] != verifier
    assert query["aud"] == "https://ehr.example.org/fhir" and query["launch"] == "L1"
    assert query["redirect_uri"] == "https://cds.example.org/app/callback"
    assert verifier not in url
