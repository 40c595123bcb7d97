"""The OpenAPI document describes every endpoint, and real responses of a running server match it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.igcds_server import RunningServer, igcds_server

DOC_URI = "urn:igcds:openapi"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with igcds_server({}, workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def document(server: RunningServer) -> dict[str, Any]:
    response = requests.get(server.url("/openapi.json"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    return responses[str(status)]["content"]["application/json"]["schema"]


def check(document: dict[str, Any], path: str, method: str, response: requests.Response) -> None:
    """Validate a real response body against the document's schema for its path, method and status."""
    schema = response_schema(document, path, method, response.status_code)
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(document, DRAFT202012))
    ref = schema["$ref"] if "$ref" in schema else None
    root = {"$ref": DOC_URI + ref} if ref else schema
    validator = Draft202012Validator(root, registry=registry, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method.upper()} {path} {response.status_code}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]
    )


def test_document_shape(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "igcds" and document["info"]["version"]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # every component is valid JSON Schema 2020-12
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert refs <= set(document["components"]["schemas"])
    param = document["paths"]["/cds-services/{service_id}"]["post"]["parameters"][0]
    assert param["schema"]["enum"] == ["ig-order-select", "ig-order-sign", "ig-patient-view"]


def test_every_route_is_documented(document: dict[str, Any], tmp_path: Path) -> None:
    from hooks.app import build_app, load

    config = load(
        None,
        {
            "dev": True,
            "server": {"data_dir": str(tmp_path)},
            "storage": {"url": f"sqlite:///{tmp_path}/o.db"},
        },
    )
    app = build_app(config)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    documented = {(p, m) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented


def test_real_responses_match(
    server: RunningServer, document: dict[str, Any], cds_request: Callable[[str, str], dict[str, Any]]
) -> None:
    get, post = requests.get, requests.post
    check(document, "/cds-services", "get", get(server.url("/cds-services"), timeout=10))
    check(document, "/rules", "get", get(server.url("/rules"), timeout=10))
    check(document, "/healthz", "get", get(server.url("/healthz"), timeout=10))
    check(document, "/readyz", "get", get(server.url("/readyz"), timeout=10))

    path = "/cds-services/{service_id}"
    seen_cards = 0
    a_card = ""
    for service, scenario in [
        ("ig-patient-view", "higm-xl-adult"),
        ("ig-patient-view", "general-medicine"),
        ("ig-order-select", "higm-xl-adult-ivig-dose-high"),
        ("ig-order-sign", "gbs-plex"),
    ]:
        response = post(
            server.url(f"/cds-services/{service}"), json=cds_request(service, scenario), timeout=30
        )
        assert response.status_code == 200, response.text
        check(document, path, "post", response)
        seen_cards += len(response.json()["cards"])
        if service == "ig-patient-view" and response.json()["cards"]:
            a_card = response.json()["cards"][0]["uuid"]
    assert seen_cards >= 3, "the responses checked should include real cards"

    unavailable = post(
        server.url("/cds-services/ig-order-select"),
        json=cds_request("ig-order-select", "minimal"),
        timeout=30,
    )
    assert unavailable.status_code == 412
    check(document, path, "post", unavailable)
    bad = post(server.url("/cds-services/ig-patient-view"), json={"hook": "patient-view"}, timeout=10)
    assert bad.status_code == 400
    check(document, path, "post", bad)
    unknown = post(server.url("/cds-services/nope"), json={}, timeout=10)
    assert unknown.status_code == 404
    check(document, path, "post", unknown)
    text = post(
        server.url("/cds-services/ig-patient-view"),
        data="x",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert text.status_code == 415
    check(document, path, "post", text)

    feedback = "/cds-services/{service_id}/feedback"
    item = {"card": a_card, "outcome": "overridden", "outcomeTimestamp": "2025-03-01T12:00:00Z"}
    ok = post(server.url("/cds-services/ig-patient-view/feedback"), json={"feedback": [item]}, timeout=10)
    assert ok.status_code == 200, ok.text
    check(document, feedback, "post", ok)
    made_up = post(server.url("/cds-services/ig-patient-view/feedback"),
                   json={"feedback": [{**item, "card": "c-1"}]}, timeout=10)
    assert made_up.status_code == 422
    check(document, feedback, "post", made_up)
    too_big = post(
        server.url("/cds-services/ig-patient-view/feedback"),
        data=b"{" + b" " * 2_000_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert too_big.status_code == 413
    check(document, feedback, "post", too_big)


def test_feedback_example_from_the_spec_is_accepted_by_the_document(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["FeedbackRequest"]
    spec_example = {
        "feedback": [
            {
                "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "code": "reason-code-provided-by-service",
                        "system": "http://example.org/cds-services/fhir/CodeSystem/override-reasons",
                    },
                    "userComment": "Clinician added free text comment",
                },
                "outcomeTimestamp": "2020-12-11T00:00:00Z",
            }
        ]
    }
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(document, DRAFT202012))
    assert Draft202012Validator(schema, registry=registry).is_valid(spec_example)


def test_the_rules_page_is_documented_as_html(server: RunningServer, document: dict[str, Any]) -> None:
    content = document["paths"]["/rules"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/html"}
    page = requests.get(server.url("/rules"), headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].split(";")[0] in content
    assert page.text.startswith("<!doctype html>")


def test_an_application_adds_its_own_paths_and_schemas_but_cannot_redefine_one() -> None:
    from cds_service import Registry, ServiceDefinition
    from cds_service.openapi import build_openapi

    registry = Registry([ServiceDefinition("toy", "patient-view", "Toy", "Toy", lambda request: [])])
    page = {"get": {"summary": "a page", "responses": {"200": {"description": "html"}}}}
    document = build_openapi(registry, extra_paths={"/pages/x": page}, extra_schemas={"Thing": {"type": "object"}})
    assert document["paths"]["/pages/x"] == page and document["components"]["schemas"]["Thing"] == {"type": "object"}
    with pytest.raises(ValueError, match="already described"):
        build_openapi(registry, extra_paths={"/healthz": page})
