"""A pattern-checked client string ends where its pattern ends (issue 15, finding 12).

Python's ``$`` also matches before a final newline, so ``patientId: "p1\\n"`` passed
``^[A-Za-z0-9\\-\\.]{1,64}$`` and was answered 200. Every place that checks a client string against a
pattern now reads it whole: the request and context schemas (jsonschema and the fastjsonschema fast
path, and the same ``^...$`` patterns as ECMA-262 reads them in the published OpenAPI document), the
feedback schema and the ``X-Request-Id`` header.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import Registry, ServiceDefinition, create_app
from cds_service.config import load_config
from cds_service.feedback import FEEDBACK_SCHEMA
from cds_service.schemas import CONTEXT_SCHEMAS, REQUEST_SCHEMA, _draft07, context_errors, request_errors

ORDER_SELECT = {
    "hook": "order-select",
    "hookInstance": "h-1",
    "fhirServer": "https://fhir.example.org/r4",
    "context": {
        "userId": "Practitioner/dr-1",
        "patientId": "p1",
        "encounterId": "e1",
        "selections": ["MedicationRequest/m1"],
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
            "resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "IVIG"}}}]},
    },
}
#: (where, how to put a trailing newline there)
FIELDS = [
    ("fhirServer", lambda b: b.__setitem__("fhirServer", b["fhirServer"] + "\n")),
    ("context.patientId", lambda b: b["context"].__setitem__("patientId", "p1\n")),
    ("context.encounterId", lambda b: b["context"].__setitem__("encounterId", "e1\n")),
    ("context.userId", lambda b: b["context"].__setitem__("userId", "Practitioner/dr-1\n")),
    ("context.selections[0]", lambda b: b["context"]["selections"].__setitem__(0, "MedicationRequest/m1\n")),
]


@pytest.mark.parametrize(("where", "put_newline"), FIELDS, ids=[f[0] for f in FIELDS])
def test_a_trailing_newline_is_refused_by_the_schemas(where: str, put_newline: Any) -> None:
    assert request_errors(ORDER_SELECT) is None and context_errors("order-select", ORDER_SELECT["context"]) is None
    body = copy.deepcopy(ORDER_SELECT)
    put_newline(body)
    error = request_errors(body) or context_errors("order-select", body["context"])
    assert error is not None and error.split(":")[0].startswith(("request.", "context.")), error
    assert where.split("[")[0].split(".")[-1] in error


def test_the_published_patterns_stay_portable() -> None:
    """ECMA-262 (OpenAPI, JSON Schema) and both Python validators read the same ``^...$`` patterns:
    no ``\\Z``, no lookaround, only a final ``$``."""
    patterns: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern":
                    patterns.append(value)
                else:
                    collect(value)

    for schema in (REQUEST_SCHEMA, *CONTEXT_SCHEMAS.values()):
        collect(schema)
        assert _draft07(schema) is not None  # the fast-path translation accepts them as they are
    collect(FEEDBACK_SCHEMA)
    assert len(patterns) >= 6
    for pattern in patterns:
        assert "\\Z" not in pattern and "(?" not in pattern and "$" not in pattern[:-1], pattern


def toy_app(tmp_path: Path, dev: bool = True) -> Flask:
    registry = Registry([ServiceDefinition("toy", "order-select", "Toy", "Toy", lambda request: [])])
    config = load_config(overrides={"dev": dev, "server": {"data_dir": str(tmp_path)}}, environ={})
    return create_app(config, registry)


def test_the_service_answers_400_to_an_id_with_a_newline(tmp_path: Path) -> None:
    client = toy_app(tmp_path).test_client()
    assert client.post("/cds-services/toy", json=ORDER_SELECT).status_code == 200
    body = copy.deepcopy(ORDER_SELECT)
    body["context"]["patientId"] = "p1\n"
    response = client.post("/cds-services/toy", json=body)
    assert response.status_code == 400 and "patientId" in response.get_json()["message"]


def test_feedback_timestamps_with_a_newline_are_refused(tmp_path: Path) -> None:
    client = toy_app(tmp_path).test_client()
    item = {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-01-01T10:00:00Z\n",
            "acceptedSuggestions": [{"id": "s1"}]}
    response = client.post("/cds-services/toy/feedback", json={"feedback": [item]})
    assert response.status_code == 400 and "outcomeTimestamp" in response.get_json()["message"]


def test_a_request_id_with_a_newline_is_replaced_not_echoed(tmp_path: Path) -> None:
    client = toy_app(tmp_path).test_client()
    response = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": "trace-42\n"})
    assert response.headers["X-Request-Id"] != "trace-42\n" and len(response.headers["X-Request-Id"]) == 32

