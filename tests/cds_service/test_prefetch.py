"""Prefetch resolution (reference §3.2 P1-P8): present, null, OperationOutcome, missing, paged.

The FHIR server is mocked with ``responses`` here only to script errors, retries and paging;
the same behaviour is proven over real HTTP against sekmet-fhir in tests/integration.
"""

from __future__ import annotations

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service import Prefetch, ServiceDefinition
from cds_service.errors import PrefetchUnavailable
from cds_service.fhir_client import Deadline, FhirClient, FhirClientSettings
from cds_service.prefetch import resolve_prefetch

BASE = "https://fhir.example.org/r4"
CONTEXT = {"patientId": "p1", "userId": "Practitioner/u1"}
PATIENT = {"resourceType": "Patient", "id": "p1"}
TOKEN = "secret-access-token-123"


def bundle(*resources, next_url=None):
    doc = {"resourceType": "Bundle", "type": "searchset",
           "entry": [{"resource": r} for r in resources]}
    if next_url:
        doc["link"] = [{"relation": "self", "url": f"{BASE}/x"}, {"relation": "next", "url": next_url}]
    return doc


def obs(i):
    return {"resourceType": "Observation", "id": f"o{i}", "status": "final"}


SERVICE = ServiceDefinition(
    "svc", "patient-view", "T", "D", lambda r: [],
    {
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "labs": Prefetch("Observation?patient={{context.patientId}}&_count=2", required=False, paged=True),
    },
)


def client(deadline=4.0, timeout=2.0, token=TOKEN):
    return FhirClient(BASE, access_token=token, deadline=Deadline(deadline),
                      settings=FhirClientSettings(timeout_s=timeout))


def test_present_data_is_used_without_any_fetch():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": bundle(obs(1))}, client(), max_pages=5)
        assert not mock.calls
    assert res.data["patient"] == PATIENT and not res.unavailable


def test_null_means_no_data_and_is_never_fetched():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": None}, client(), max_pages=5)
        assert not mock.calls
    assert res.data["labs"] is None and "labs" not in res.unavailable


@responses.activate
def test_missing_key_is_fetched_with_the_bearer_token():
    responses.get(f"{BASE}/Observation?patient=p1&_count=2", json=bundle(obs(1)))
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT}, client(), max_pages=5)
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "application/fhir+json" in sent.headers["Accept"]
    assert res.data["labs"]["entry"][0]["resource"]["id"] == "o1"
    assert res.fetched == 1


@responses.activate
def test_operation_outcome_means_not_available_and_is_fetched_instead():
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": outcome, "labs": None}, client(), max_pages=5)
    assert res.data["patient"] == PATIENT


def test_required_key_without_fhir_server_answers_412_naming_the_key():
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, None, max_pages=5)
    assert caught.value.status_code == 412
    assert caught.value.details["keys"] == {"patient": "no fhirServer in the request"}


def test_optional_key_without_fhir_server_is_unavailable_not_412():
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT}, None, max_pages=5)
    assert res.unavailable == {"labs"}


@responses.activate
def test_paged_prefetch_is_followed_and_bounded_by_max_pages():
    first = bundle(obs(1), next_url=f"{BASE}/page2")
    responses.get(f"{BASE}/page2", json=bundle(obs(2), next_url=f"{BASE}/page3"))
    responses.get(f"{BASE}/page3", json=bundle(obs(3), next_url=f"{BASE}/page4"))
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(), max_pages=3)
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1", "o2", "o3"]
    assert len(responses.calls) == 2  # page 4 is beyond max_pages
    assert "link" not in res.data["labs"] or all(l["relation"] != "next" for l in res.data["labs"]["link"])


def test_next_link_to_another_origin_is_refused_and_the_token_never_leaves():
    first = bundle(obs(1), next_url="https://evil.example.net/steal")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(), max_pages=5)
        assert not mock.calls
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1"]


@responses.activate
def test_a_500_makes_required_data_unavailable_412_not_500():
    responses.get(f"{BASE}/Patient/p1", status=500, body="boom")
    with pytest.raises(PrefetchUnavailable, match="patient"):
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(), max_pages=5)


@responses.activate
def test_429_is_retried_once_within_the_deadline():
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "0"})
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    res = resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(), max_pages=5)
    assert res.data["patient"] == PATIENT and len(responses.calls) == 2


@responses.activate
def test_503_twice_gives_up_after_one_retry():
    responses.get(f"{BASE}/Patient/p1", status=503)
    responses.get(f"{BASE}/Patient/p1", status=503)
    with pytest.raises(PrefetchUnavailable):
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(), max_pages=5)
    assert len(responses.calls) == 2


@responses.activate
def test_timeout_and_garbage_are_unavailable():
    responses.get(f"{BASE}/Patient/p1", body=requests.Timeout("slow"))
    responses.get(f"{BASE}/Observation?patient=p1&_count=2", body="<html>not json</html>")
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {}, client(), max_pages=5)
    assert caught.value.details["keys"]["patient"] == "fetch failed: timed out"


@responses.activate
def test_a_non_fhir_json_answer_is_refused():
    responses.get(f"{BASE}/Patient/p1", json=["not", "a", "resource"])
    with pytest.raises(PrefetchUnavailable):
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(), max_pages=5)


def test_errors_never_contain_the_token():
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Patient/p1", status=401)
        with pytest.raises(PrefetchUnavailable) as caught:
            resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(), max_pages=5)
    assert TOKEN not in str(caught.value.to_dict())
    assert TOKEN not in repr(client())


def test_a_malformed_fhir_authorization_is_refused_without_echoing_the_token():
    from cds_service.schemas import request_errors

    body = {"hook": "patient-view", "hookInstance": "h", "context": {}, "fhirServer": BASE,
            "fhirAuthorization": TOKEN}
    message = request_errors(body)
    assert message == "request.fhirAuthorization: invalid (type)"
    body["fhirAuthorization"] = {"access_token": 12345, "token_type": "Bearer", "expires_in": 1, "scope": "s",
                                 "subject": "s"}
    assert "12345" not in request_errors(body)


def test_urls_outside_the_fhir_server_base_path_are_other_origins():
    c = client()
    assert c.same_origin(f"{BASE}/Patient/p1")
    assert not c.same_origin("https://fhir.example.org/other-tenant/Patient/p1")
    assert not c.same_origin(f"{BASE}evil/Patient/p1")


def _operation_outcome_reference(value):
    """The definition is_operation_outcome had before it learnt to stop at the first other entry."""
    from collections.abc import Mapping

    if not isinstance(value, Mapping):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        entries = entries if isinstance(entries, list) else []
        resources = [e.get("resource") for e in entries if isinstance(e, Mapping)]
        return bool(resources) and all(
            isinstance(r, Mapping) and r.get("resourceType") == "OperationOutcome" for r in resources
        )
    return False


_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}
_odd = st.sampled_from([None, 1, "x", [], {}, {"resource": None}, {"resource": _OUTCOME}, {"resource": PATIENT},
                        {"resource": {"resourceType": "OperationOutcome"}}, {"resource": "OperationOutcome"},
                        {"fullUrl": "urn:x"}])


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(value=st.one_of(
    st.fixed_dictionaries({"resourceType": st.sampled_from(["Bundle", "OperationOutcome", "Patient", None])},
                          optional={"entry": st.one_of(st.lists(_odd, max_size=5), _odd)}),
    _odd,
))
def test_operation_outcome_detection_is_unchanged(value):
    from cds_service.prefetch import is_operation_outcome

    assert is_operation_outcome(value) == _operation_outcome_reference(value)


def test_a_bundle_of_operation_outcomes_is_not_available_data():
    from cds_service.prefetch import is_operation_outcome

    assert is_operation_outcome(bundle(_OUTCOME, _OUTCOME))
    assert is_operation_outcome({"resourceType": "Bundle", "entry": [None, {"resource": _OUTCOME}]})
    assert not is_operation_outcome(bundle(_OUTCOME, PATIENT))
    assert not is_operation_outcome(bundle())
    assert not is_operation_outcome({"resourceType": "Bundle", "entry": [None, 1]})
