"""The FHIR client against a real, misbehaving server on loopback: the deadline always holds."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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
#: Ten optional keys: a call fetches ten queries at once (with a few such calls, more than the fetch pool
#: of one process once held).
TEN_KEYS = ServiceDefinition(
    "wide", "patient-view", "T", "D", lambda r: [],
    {f"k{i}": Prefetch(f"Observation?patient={{{{context.patientId}}}}&code={i}", required=False) for i in range(10)},
)


def make_client(base: str, deadline: float = DEADLINE, timeout: float = 0.6) -> FhirClient:
    return FhirClient(base, access_token="tok", deadline=Deadline(deadline),
                      settings=FhirClientSettings(timeout_s=timeout))


@pytest.mark.parametrize("mode", ["hang", "slow-drip", "header-drip", "reset", "500", "503", "429", "garbage"])
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


def test_a_server_that_closes_each_connection_is_read_in_full():
    """``Connection: close`` (HTTP/1.0 servers, many proxies): the answer is read to its end although the
    connection is closed as soon as its headers are read (the deadline reader keeps the socket open)."""
    with faulty_fhir_server("close") as server:
        res = resolve_prefetch(SERVICE, CONTEXT, {}, make_client(server.base_url, deadline=3.0), max_pages=5)
        again = make_client(server.base_url).get_json("Patient/p1")
    assert res.unavailable == set() and res.data["patient"]["id"] == "p1"
    assert res.data["labs"]["resourceType"] == "Bundle" and again["id"] == "p1"


def test_the_token_is_sent_to_fhir_server_only():
    with faulty_fhir_server("ok") as server:
        client = make_client(server.base_url)
        client.get_json("Patient/p1")
        with pytest.raises(FhirFetchError, match="another origin"):
            client.get_json("http://127.0.0.2:9/fhir/Patient/p1")
    assert server.requests[0].headers["Authorization"] == "Bearer tok"
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", ["header-drip", "slow-drip"])
def test_a_dripping_server_is_cut_off_at_the_deadline(mode):
    """Issue 15 finding 3: a byte now and then, each well within the read timeout, must not hold the query
    past the call's deadline, whether it drips the headers or the body."""
    with faulty_fhir_server(mode) as server:
        started = time.monotonic()
        with pytest.raises(FhirFetchError, match="deadline reached|timed out"):
            make_client(server.base_url).get_json("Patient/p1")
        elapsed = time.monotonic() - started
    assert elapsed <= DEADLINE + 0.3, f"{mode}: took {elapsed:.2f} s"


def test_a_dripping_origin_does_not_take_the_fetch_threads_of_another_origin():
    """Issue 15 finding 3: client A's FHIR server drips header bytes; while A's calls are in flight (60
    fetches, more threads than the fetch pool once had), client B's call to its healthy server gets all
    its data, at once."""
    with faulty_fhir_server("header-drip") as dripping, faulty_fhir_server("ok") as healthy, \
            ThreadPoolExecutor(6) as callers:
        stuck = [callers.submit(resolve_prefetch, TEN_KEYS, CONTEXT, {},
                                make_client(dripping.base_url, deadline=3.0, timeout=2.0), max_pages=1)
                 for _ in range(6)]
        while len(dripping.requests) < 30 and not all(f.done() for f in stuck):
            time.sleep(0.02)
        started = time.monotonic()
        res = resolve_prefetch(SERVICE, CONTEXT, {}, make_client(healthy.base_url), max_pages=5)
        elapsed = time.monotonic() - started
        for future in stuck:
            assert all(k.startswith("k") for k in future.result().unavailable)
    assert not res.unavailable, res.reasons
    assert elapsed < DEADLINE, f"B waited {elapsed:.2f} s behind A's fetches"


def test_fetches_beyond_an_origins_share_are_refused_at_once():
    """What happens when one origin has used its share: that call's keys are unavailable at once (412 if
    required), with a reason that says why; nobody waits for a thread."""
    settings = FhirClientSettings(timeout_s=2.0, max_parallel_per_origin=2)

    def client_of(base: str) -> FhirClient:
        return FhirClient(base, access_token="tok", deadline=Deadline(2.0), settings=settings)

    with faulty_fhir_server("header-drip") as dripping, ThreadPoolExecutor(1) as caller:
        first = caller.submit(resolve_prefetch, TEN_KEYS, CONTEXT, {}, client_of(dripping.base_url), max_pages=1)
        while len(dripping.requests) < 2:
            time.sleep(0.02)
        started = time.monotonic()
        with pytest.raises(PrefetchUnavailable) as caught:
            resolve_prefetch(SERVICE, CONTEXT, {}, client_of(dripping.base_url), max_pages=5)
        elapsed = time.monotonic() - started
        res = first.result()
    assert elapsed < 0.5, f"a refused key waited {elapsed:.2f} s"
    assert "max_parallel_per_origin" in caught.value.details["keys"]["patient"]
    busy = [k for k, reason in res.reasons.items() if "max_parallel_per_origin" in reason]
    assert len(busy) == 8 and res.unavailable == set(TEN_KEYS.prefetch), res.reasons
    assert len(dripping.requests) == 2
