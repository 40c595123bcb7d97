"""The FHIR client against a real, misbehaving server on loopback: the deadline always holds."""

from __future__ import annotations

import time

import pytest

from cds_service import Prefetch, ServiceDefinition
from cds_service.errors import PrefetchUnavailable
from cds_service.fhir_client import Deadline, FhirClient, FhirClientSettings, FhirFetchError
from cds_service.prefetch import resolve_prefetch
from tests.support.faulty_fhir import faulty_fhir_server

CONTEXT = {"patientId": "p1", "userId": "Practitioner/u1"}
SERVICE = ServiceDefinition(
    "svc", "patient-view", "T", "D", lambda r: [],
    {
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "labs": Prefetch("Observation?patient={{context.patientId}}", required=False, paged=True),
        "conditions": Prefetch("Condition?patient={{context.patientId}}", required=False),
    },
)
DEADLINE = 1.0


def make_client(base: str, deadline: float = DEADLINE, timeout: float = 0.6) -> FhirClient:
    return FhirClient(base, access_token="tok", deadline=Deadline(deadline),
                      settings=FhirClientSettings(timeout_s=timeout))


@pytest.mark.parametrize("mode", ["hang", "slow-drip", "reset", "500", "503", "429", "garbage"])
def test_required_data_from_a_broken_server_gives_412_within_the_deadline(mode):
    with faulty_fhir_server(mode) as server:
        started = time.monotonic()
        with pytest.raises(PrefetchUnavailable) as caught:
            resolve_prefetch(SERVICE, CONTEXT, {}, make_client(server.base_url), max_pages=5)
        elapsed = time.monotonic() - started
    assert elapsed <= DEADLINE + 0.5, f"{mode}: took {elapsed:.2f} s"
    assert "patient" in caught.value.details["keys"]


def test_paging_forever_stops_at_max_pages():
    with faulty_fhir_server("page-forever") as server:
        res = resolve_prefetch(SERVICE, CONTEXT, {"patient": {"resourceType": "Patient", "id": "p1"}},
                               make_client(server.base_url, deadline=3.0), max_pages=4)
        labs_calls = [r for r in server.requests if "Condition" not in r.path]
    assert res.data["labs"]["resourceType"] == "Bundle"
    assert len(labs_calls) == 4  # the first page and three next links


def test_parallel_fetches_share_one_deadline():
    with faulty_fhir_server("hang") as server:
        started = time.monotonic()
        with pytest.raises(PrefetchUnavailable):
            resolve_prefetch(SERVICE, CONTEXT, {}, make_client(server.base_url, timeout=5.0), max_pages=5)
        elapsed = time.monotonic() - started
        paths = sorted(r.path.split("?")[0] for r in server.requests)
    assert elapsed <= DEADLINE + 0.5
    assert paths == ["/fhir/Condition", "/fhir/Observation", "/fhir/Patient/p1"]  # fetched in parallel


def test_the_token_is_sent_to_fhir_server_only():
    with faulty_fhir_server("ok") as server:
        client = make_client(server.base_url)
        client.get_json("Patient/p1")
        with pytest.raises(FhirFetchError, match="another origin"):
            client.get_json("http://127.0.0.2:9/fhir/Patient/p1")
    assert server.requests[0].headers["Authorization"] == "Bearer tok"
    assert len(server.requests) == 1
