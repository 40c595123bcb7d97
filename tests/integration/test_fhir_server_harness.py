"""The real FHIR server harness and the fixture files it is loaded with.

Proves that: sekmet starts and answers on loopback; fixtures load through a PUT transaction and
read back with their ids; the in-Python prefetch builder (fixtures/build_requests.py) answers the
service's own templates exactly as the server does; paging works; bearer auth is enforced; and
the committed requests are up to date with their drafts.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from cds_service.relative_dates import has_markers
from hooks.services import prefetch
from tests.support.fhir_server import FhirServer
from tests.support.fixtures import (
    bundle_resources,
    draft_paths,
    load_patient_bundle,
    load_request,
    patient_slugs,
    prefetch_for,
    request_paths,
    resource_ids,
    stale_requests,
    structural_problems,
)

pytestmark = pytest.mark.integration

USER = "Practitioner/igcds-example-prescriber"
#: Every distinct template the services declare (order and patient-view may share them).
TEMPLATES = {
    spec.template: f"{name}:{key}"
    for name, templates in (("patient-view", prefetch.PATIENT_VIEW_PREFETCH),
                            ("order", prefetch.ORDER_PREFETCH))
    for key, spec in templates.items()
}


# -- the server ------------------------------------------------------------------------------

def test_metadata_answers_on_loopback(fhir_server: FhirServer) -> None:
    assert urlsplit(fhir_server.base_url).hostname == "127.0.0.1"
    response = fhir_server.get("metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"


def test_every_fixture_patient_reads_back_with_its_id(loaded_fixtures) -> None:
    server = loaded_fixtures.server
    for slug in loaded_fixtures.slugs:
        patient = server.get_json(f"Patient/{slug}")
        assert patient["id"] == slug
        assert patient["birthDate"] == loaded_fixtures.bundles[slug]["entry"][0]["resource"]["birthDate"]


def test_stored_resources_keep_their_content(loaded_fixtures) -> None:
    """Entered-in-error, cancelled and contained data are stored as given (validation: warn)."""
    server = loaded_fixtures.server
    weight = server.get_json("Observation/higm-xl-adult-weight-3")
    assert weight["status"] == "entered-in-error"
    cancelled = server.get_json("Observation/higm-xl-adult-igg-1")
    assert cancelled["status"] == "cancelled" and "valueQuantity" not in cancelled
    contained = server.get_json("MedicationRequest/cidp-scig-medreq-2")
    assert contained["medicationReference"] == {"reference": "#med1"}
    assert contained["contained"][0]["id"] == "med1"


@pytest.mark.parametrize("slug", patient_slugs())
def test_templates_return_what_the_in_python_builder_returns(loaded_fixtures, slug: str) -> None:
    """Same resources, same order, same total, for every template: the committed prefetch is faithful."""
    server = loaded_fixtures.server
    context = {"userId": USER, "patientId": slug}
    resources = bundle_resources(load_patient_bundle(slug))  # markers kept, as the builder sees them
    for template, name in TEMPLATES.items():
        expected = prefetch_for(template, context, resources)
        query = template.replace("{{context.patientId}}", slug)
        actual = server.get(query)
        if expected is None:
            assert actual.status_code == 404, name
            continue
        assert actual.status_code == 200, f"{name}: {actual.text[:300]}"
        body = actual.json()
        assert resource_ids(body) == resource_ids(expected), name
        if body["resourceType"] == "Bundle":
            assert body["total"] == expected["total"], name
            assert not any(e.get("search", {}).get("mode") == "outcome" for e in body.get("entry", [])), (
                f"{name}: the server ignored a search parameter")


def test_searches_do_not_leak_other_patients(loaded_fixtures) -> None:
    body = loaded_fixtures.server.get_json("Condition?patient=cvid-well-managed&_count=100")
    assert {e["resource"]["subject"]["reference"] for e in body["entry"]} == {"Patient/cvid-well-managed"}


def test_paging_has_a_next_link(loaded_fixtures) -> None:
    server = loaded_fixtures.server
    first = server.get_json("Observation?patient=higm-xl-adult&_count=1")
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert len(first["entry"]) == 1 and first["total"] > 1
    assert "next" in links and links["next"].startswith(server.base_url)
    second = server.get_json(links["next"])
    assert len(second["entry"]) == 1
    assert second["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]


# -- bearer auth -----------------------------------------------------------------------------

def test_bearer_server_requires_its_token(fhir_server_bearer: FhirServer, fixture_now: datetime) -> None:
    import requests

    assert fhir_server_bearer.token
    assert requests.get(f"{fhir_server_bearer.base_url}/metadata", timeout=5).status_code == 200
    fhir_server_bearer.load_fixture("cvid-well-managed", fixture_now)  # the harness sends the token
    anonymous = requests.get(f"{fhir_server_bearer.base_url}/Patient/cvid-well-managed", timeout=5)
    assert anonymous.status_code == 401
    wrong = requests.get(f"{fhir_server_bearer.base_url}/Patient/cvid-well-managed", timeout=5,
                         headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert fhir_server_bearer.get_json("Patient/cvid-well-managed")["id"] == "cvid-well-managed"


# -- the fixture files (no server needed) ----------------------------------------------------

@pytest.mark.parametrize("slug", patient_slugs())
def test_patient_fixture_is_well_formed(slug: str, fixture_now: datetime) -> None:
    raw = load_patient_bundle(slug)
    assert raw["resourceType"] == "Bundle" and raw["type"] == "transaction"
    assert has_markers(raw), "clinically relevant dates must be relative-date markers"
    expanded = load_patient_bundle(slug, fixture_now)
    assert not has_markers(expanded)
    resources = bundle_resources(expanded)
    assert resources[0] == {**resources[0], "resourceType": "Patient", "id": slug}
    for raw_entry, entry in zip(raw["entry"], expanded["entry"], strict=True):
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert resource["id"].startswith(slug), resource["id"]
        if resource["resourceType"] != "Patient":
            ref = resource.get("subject") or resource.get("patient")
            assert ref and ref["reference"] == f"Patient/{slug}", resource["id"]
        assert structural_problems(resource) == [], resource["id"]
        for key in ("birthDate", "effectiveDateTime", "authoredOn", "onsetDateTime", "occurrenceDateTime",
                    "recordedDate", "abatementDateTime"):
            if key in raw_entry["resource"]:
                value = raw_entry["resource"][key]
                assert value.startswith("@"), f"{resource['id']}.{key} is an absolute date"


def test_committed_requests_are_up_to_date() -> None:
    assert draft_paths()
    stale = [f"{p.parent.name}/{p.name}" for p in stale_requests()]
    assert not stale, f"run .venv/bin/python fixtures/build_requests.py; stale: {stale}"


@pytest.mark.parametrize("path", request_paths(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_request_is_a_cds_hooks_request(path, fixture_now: datetime) -> None:
    request = load_request(path.parent.name, path.stem, fixture_now)
    assert not has_markers(request)
    hook = {"ig-order-select": "order-select", "ig-order-sign": "order-sign",
            "ig-patient-view": "patient-view"}
    assert request["hook"] == hook[path.parent.name]
    assert len(request["hookInstance"]) == 36
    context = request["context"]
    assert context["userId"].startswith("Practitioner/")
    assert (load_patient_bundle(context["patientId"])["entry"][0]["resource"]["id"]) == context["patientId"]
    if request["hook"] != "patient-view":
        entries = [e["resource"] for e in context["draftOrders"]["entry"]]
        assert all(structural_problems(d) == [] for d in entries)
        # The orders are drafts; a Medication they reference may travel beside them (Oracle Health shape).
        drafts = [d for d in entries if d["resourceType"] != "Medication"]
        assert all(d["status"] == "draft" and d["intent"] == "order" for d in drafts)
        if request["hook"] == "order-select":
            ids = {f"{d['resourceType']}/{d['id']}" for d in drafts}
            assert set(context["selections"]) <= ids
    if path.stem == "minimal":
        assert "prefetch" not in request
    else:
        assert set(request["prefetch"]) == set(prefetch.ORDER_PREFETCH)
        assert json.dumps(request["prefetch"]).count('"resourceType"') > 1


# -- last, so that the simulator's delay has passed while the other tests ran -----------------

def test_order_simulator_is_off(loaded_fixtures) -> None:
    """sekmet's simulator rewrites MedicationRequests ~2 s after a write unless it is disabled."""
    time.sleep(max(0.0, loaded_fixtures.loaded_at + 2.5 - time.monotonic()))
    server = loaded_fixtures.server
    for slug, bundle in loaded_fixtures.bundles.items():
        for resource in bundle_resources(bundle):
            if resource["resourceType"] in ("MedicationRequest", "ServiceRequest"):
                stored = server.get_json(f"{resource['resourceType']}/{resource['id']}")
                assert stored["meta"]["versionId"] == "1", f"{slug}: {resource['id']} was rewritten"
                assert stored["status"] == resource["status"]
