"""Prefetch resolution (docs/conformance.md §3.2 P1-P8): present, null, OperationOutcome, missing, paged.

The FHIR server is a real loopback HTTP server that answers what each test scripts
(``tests.support.faulty_fhir``, mode ``scripted``): errors, retries and paging over real sockets;
the same behaviour is proven against sekmet-fhir in tests/integration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service import Prefetch, ServiceDefinition
from cds_service.errors import PrefetchUnavailable
from cds_service.fhir_client import Deadline, FhirClient, FhirClientSettings, FhirFetchError
from cds_service.prefetch import resolve_prefetch
from tests.support.faulty_fhir import FaultyServer, faulty_fhir_server

#: For checks that contact no server (origins, request schema, repr).
BASE = "https://fhir.example.org/r4"
CONTEXT = {"patientId": "p1", "userId": "Practitioner/u1"}
PATIENT = {"resourceType": "Patient", "id": "p1"}
TOKEN = "secret-access-token-123"
LABS = "Observation?patient=p1&_count=2"


@pytest.fixture
def fhir() -> Iterator[FaultyServer]:
    with faulty_fhir_server("scripted") as server:
        yield server


def bundle(*resources, next_url=None):
    doc = {"resourceType": "Bundle", "type": "searchset",
           "entry": [{"resource": r} for r in resources]}
    if next_url:
        doc["link"] = [{"relation": "self", "url": next_url + "-self"}, {"relation": "next", "url": next_url}]
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


def client(base=BASE, deadline=4.0, timeout=2.0, token=TOKEN):
    return FhirClient(base, access_token=token, deadline=Deadline(deadline),
                      settings=FhirClientSettings(timeout_s=timeout))


def test_present_data_is_used_without_any_fetch(fhir):
    prefetch = {"patient": PATIENT, "labs": bundle(obs(1))}
    res = resolve_prefetch(SERVICE, CONTEXT, prefetch, client(fhir.base_url), max_pages=5)
    assert fhir.requests == []
    assert res.data["patient"] == PATIENT and not res.unavailable


def test_null_means_no_data_and_is_never_fetched(fhir):
    prefetch = {"patient": PATIENT, "labs": None}
    res = resolve_prefetch(SERVICE, CONTEXT, prefetch, client(fhir.base_url), max_pages=5)
    assert fhir.requests == []
    assert res.data["labs"] is None and "labs" not in res.unavailable


def test_missing_key_is_fetched_with_the_bearer_token(fhir):
    fhir.reply(LABS, json_body=bundle(obs(1)))
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT}, client(fhir.base_url), max_pages=5)
    assert fhir.paths() == [LABS]
    sent = fhir.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "application/fhir+json" in sent.headers["Accept"]
    assert res.data["labs"]["entry"][0]["resource"]["id"] == "o1"
    assert res.fetched == 1


def test_operation_outcome_means_not_available_and_is_fetched_instead(fhir):
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    fhir.reply("Patient/p1", json_body=PATIENT)
    prefetch = {"patient": outcome, "labs": None}
    res = resolve_prefetch(SERVICE, CONTEXT, prefetch, client(fhir.base_url), max_pages=5)
    assert res.data["patient"] == PATIENT


def test_required_key_without_fhir_server_answers_412_naming_the_key():
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, None, max_pages=5)
    assert caught.value.status_code == 412
    assert caught.value.details["keys"] == {"patient": "no fhirServer in the request"}


def test_optional_key_without_fhir_server_is_unavailable_not_412():
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT}, None, max_pages=5)
    assert res.unavailable == {"labs"}


def test_paged_prefetch_is_followed_and_bounded_by_max_pages(fhir):
    first = bundle(obs(1), next_url=f"{fhir.base_url}/page2")
    fhir.reply("page2", json_body=bundle(obs(2), next_url=f"{fhir.base_url}/page3"))
    fhir.reply("page3", json_body=bundle(obs(3), next_url=f"{fhir.base_url}/page4"))
    prefetch = {"patient": PATIENT, "labs": first}
    res = resolve_prefetch(SERVICE, CONTEXT, prefetch, client(fhir.base_url), max_pages=3)
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1", "o2", "o3"]
    assert fhir.paths() == ["page2", "page3"]  # page 4 is beyond max_pages
    assert all(link["relation"] != "next" for link in res.data["labs"].get("link", []))


def test_pages_reuse_one_connection(fhir):
    """An answer read to the end gives its connection back: the next query does not connect again."""
    fhir.reply(LABS, json_body=bundle(obs(1), next_url=f"{fhir.base_url}/page2"))
    fhir.reply("page2", json_body=bundle(obs(2), next_url=f"{fhir.base_url}/page3"))
    fhir.reply("page3", json_body=bundle(obs(3)))
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT}, client(fhir.base_url), max_pages=5)
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1", "o2", "o3"]
    assert len({r.client_port for r in fhir.requests}) == 1, [r.client_port for r in fhir.requests]


def test_next_link_to_another_origin_is_refused_and_the_token_never_leaves(fhir):
    first = bundle(obs(1), next_url="https://evil.example.net/steal")
    prefetch = {"patient": PATIENT, "labs": first}
    res = resolve_prefetch(SERVICE, CONTEXT, prefetch, client(fhir.base_url), max_pages=5)
    assert fhir.requests == []
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1"]


def test_a_500_makes_required_data_unavailable_412_not_500(fhir):
    fhir.reply("Patient/p1", status=500, body=b"boom")
    with pytest.raises(PrefetchUnavailable, match="patient") as caught:
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(fhir.base_url), max_pages=5)
    assert caught.value.details["keys"]["patient"] == "fetch failed: HTTP 500"


def test_429_is_retried_once_within_the_deadline(fhir):
    fhir.reply("Patient/p1", status=429, headers={"Retry-After": "0"})
    fhir.reply("Patient/p1", json_body=PATIENT)
    res = resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(fhir.base_url), max_pages=5)
    assert res.data["patient"] == PATIENT and fhir.paths() == ["Patient/p1", "Patient/p1"]


def test_503_twice_gives_up_after_one_retry(fhir):
    fhir.reply("Patient/p1", status=503, headers={})
    fhir.reply("Patient/p1", status=503, headers={})
    with pytest.raises(PrefetchUnavailable):
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(fhir.base_url), max_pages=5)
    assert len(fhir.requests) == 2


def test_timeout_and_garbage_are_unavailable(fhir):
    fhir.reply("Patient/p1", json_body=PATIENT, delay=2.0)
    fhir.reply(LABS, body=b"<html>not json</html>")
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {}, client(fhir.base_url, timeout=0.3), max_pages=5)
    assert caught.value.details["keys"]["patient"] == "fetch failed: timed out"


def test_a_refused_connection_is_a_failed_fetch_not_a_timeout():
    with faulty_fhir_server("ok") as gone:
        base = gone.base_url
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(base), max_pages=5)
    assert caught.value.details["keys"]["patient"] == "fetch failed: connection failed (NewConnectionError)"


def test_a_non_fhir_json_answer_is_refused(fhir):
    fhir.reply("Patient/p1", json_body=["not", "a", "resource"])
    with pytest.raises(PrefetchUnavailable):
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(fhir.base_url), max_pages=5)


def test_errors_never_contain_the_token(fhir):
    fhir.reply("Patient/p1", status=401, body=b"{}")
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve_prefetch(SERVICE, CONTEXT, {"labs": None}, client(fhir.base_url), max_pages=5)
    assert fhir.paths() == ["Patient/p1"]
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


@pytest.mark.parametrize("escape", ["/../secret", "/x/../../secret", "/%2e%2e/secret", "/%2E./secret", "/.%2e/secret",
                                    "/./../secret", "/x/%2e%2E/%2e%2e/secret", "/..", "/..%2fsecret", "/..%5Csecret",
                                    "/..\\secret"])
def test_a_next_link_that_climbs_out_of_fhir_server_is_refused(fhir, escape, caplog):
    """Issue 15 finding 9: ``<fhirServer>/../secret`` starts with the base URL, but the HTTP library (or the
    server) resolves the dot segments, and the bearer token would go to ``/secret`` on the same host."""
    first = bundle(obs(1), next_url=fhir.base_url + escape)
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(fhir.base_url), max_pages=5)
    assert fhir.requests == [], [r.path for r in fhir.requests]
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1"]
    assert any(getattr(r, "event", None) == "next_link_refused" for r in caplog.records)


def test_dot_segments_that_stay_under_fhir_server_are_resolved_before_the_request(fhir):
    """``<fhirServer>/x/../page2`` is ``<fhirServer>/page2``: followed, and asked for as such."""
    fhir.reply("page2", json_body=bundle(obs(2)))
    first = bundle(obs(1), next_url=f"{fhir.base_url}/x/%2e%2e/./page2")
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(fhir.base_url), max_pages=5)
    assert fhir.paths() == ["page2"]
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1", "o2"]


@pytest.mark.parametrize("relative", ["../secret", "%2e%2e/secret", "Patient/../../secret", "/../secret"])
def test_relative_references_cannot_climb_out_of_fhir_server_either(fhir, relative):
    with pytest.raises(FhirFetchError, match="refused"):
        client(fhir.base_url).get_json(relative)
    assert client(fhir.base_url).read(relative) is None
    assert fhir.requests == []


@pytest.mark.parametrize("port", ["99999", "-1", "80x", "0x50", "١٢"])
def test_a_next_link_with_a_bad_port_is_refused_and_the_pages_read_are_kept(fhir, port, caplog):
    """Issue 15 finding 11: the port of a next link made ``urlsplit`` raise ValueError, logged as
    ``prefetch_crash``, and the whole key was lost."""
    fhir.reply("page2", json_body=bundle(obs(2), next_url=f"http://127.0.0.1:{port}/fhir/page3"))
    first = bundle(obs(1), next_url=f"{fhir.base_url}/page2")
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(fhir.base_url), max_pages=5)
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1", "o2"]
    assert "labs" not in res.unavailable
    assert not any(getattr(r, "event", None) == "prefetch_crash" for r in caplog.records)
    with pytest.raises(FhirFetchError, match="refused"):
        client(fhir.base_url).get_json(f"http://127.0.0.1:{port}/fhir/Patient/p1")


def test_a_next_link_with_credentials_is_refused(fhir):
    first = bundle(obs(1), next_url=fhir.base_url.replace("http://", "http://user:pw@") + "/page2")
    fhir.reply("page2", json_body=bundle(obs(2)))
    res = resolve_prefetch(SERVICE, CONTEXT, {"patient": PATIENT, "labs": first}, client(fhir.base_url), max_pages=5)
    assert fhir.requests == []
    assert [e["resource"]["id"] for e in res.data["labs"]["entry"]] == ["o1"]
