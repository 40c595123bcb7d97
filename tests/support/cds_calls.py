"""CDS calls over real HTTP against ``igcds serve`` reading the fixture patients' FHIR server.

The vignette suites (``test_rules_e2e``, ``test_ehr_clients``, ``test_data_path``) each run their own
server on the same settings and read answers the same way; this is that one way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import requests

from tests.support.conformance import assert_conformant_response
from tests.support.igcds_server import RunningServer, igcds_server


@contextlib.contextmanager
def igcds_on_fixture_data(fhir_base_url: str) -> Iterator[RunningServer]:
    """``igcds serve`` (dev mode, 2 workers) allowed to read the fixture FHIR server, with deadlines
    roomy enough for a loaded test machine."""
    config = {"fhir": {"allowed_servers": [fhir_base_url], "deadline_s": 8.0, "timeout_s": 4.0}}
    with igcds_server(config, dev=True, workers=2) as running:
        yield running


def call(server: RunningServer, service_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(server.url(f"/cds-services/{service_id}"), json=body, timeout=30)


def answered(response: requests.Response) -> dict[str, Any]:
    """The response document of a call that must succeed: 200 and conformant to CDS Hooks 2.0."""
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    assert_conformant_response(document)
    return document


def post_cds(server: RunningServer, service_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return answered(call(server, service_id, body))


def fired(document: dict[str, Any]) -> set[tuple[str, str]]:
    """The cards as (rule id, indicator) pairs."""
    return {(c["source"]["topic"]["code"], c["indicator"]) for c in document["cards"]}
