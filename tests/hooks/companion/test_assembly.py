"""The assembly with ``[app] enabled``: cards link to the app, discovery and OpenAPI describe it, and the
app's pages are mounted; with the app off, none of it."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hooks.app import build_app, load
from hooks.companion.describe import DISCOVERY_KEY
from tests.support.fixtures import load_request, utc_now

EHR = "https://ehr.example.org/fhir"


def make_app(tmp_path, enabled):
    app_section = {"enabled": True, "client_id": "igcds-app", "fhir_servers": [EHR]} if enabled else {}
    config = load(None, {"dev": True, "server": {"data_dir": str(tmp_path), "public_base_url": "https://cds.example.org",
                                                 "open_endpoints": ["/openapi.json"]},
                         "storage": {"url": f"sqlite:///{tmp_path}/a.db"}, "app": app_section})
    return build_app(config).test_client()


def validator(document, name):
    registry = Registry().with_resource("urn:doc", Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{name}"}, registry=registry)


@pytest.fixture(scope="module")
def enabled(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("app-on"), True)


def test_order_select_cards_carry_a_smart_link_that_the_openapi_document_accepts(enabled):
    response = enabled.post("/cds-services/ig-order-select", json=load_request("ig-order-select",
                                                                               "higm-xl-adult-ivig-dose-high", utc_now()))
    assert response.status_code == 200
    body = response.get_json()
    links = {c["source"]["topic"]["code"]: c["links"] for c in body["cards"]}
    assert {"order-dose-out-of-range", "order-trough-below-target"} <= set(links)
    document = enabled.get("/openapi.json").get_json()
    assert not list(validator(document, "CdsResponse").iter_errors(body))
    for (link,) in links.values():
        assert link["type"] == "smart" and link["url"] == "https://cds.example.org/app/launch"
        assert not list(validator(document, "CompanionAppContext").iter_errors(json.loads(link["appContext"])))


def test_discovery_describes_the_app_on_every_service(enabled):
    discovery = enabled.get("/cds-services").get_json()
    document = enabled.get("/openapi.json").get_json()
    assert not list(validator(document, "Discovery").iter_errors(discovery))
    for service in discovery["services"]:
        described = service["extension"][DISCOVERY_KEY]
        assert described["launchUrl"] == "https://cds.example.org/app/launch"
        assert described["redirectUri"] == "https://cds.example.org/app/callback"
        assert described["clientId"] == "igcds-app" and described["scope"].startswith("launch patient/Patient.rs")


def test_the_openapi_document_lists_the_apps_pages(enabled):
    paths = enabled.get("/openapi.json").get_json()["paths"]
    routes = {(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in enabled.application.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(p, m) for p, ops in paths.items() for m in ops}
    assert {"/app/launch", "/app/callback", "/app/trend", "/app/dose-plan", "/app/sign-out"} <= set(paths)
    assert "text/html" in paths["/app/trend"]["get"]["responses"]["200"]["content"]


def test_the_app_pages_answer_html_with_a_strict_content_security_policy(enabled):
    page = enabled.get("/app/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert EHR in page.get_data(as_text=True)  # the standalone launch offers the configured EHR


def test_a_launch_with_an_unparseable_iss_gets_the_refusal_page_not_a_500(enabled):
    page = enabled.get("/app/launch", query_string={"iss": "http://[bad", "launch": "L1"})
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert b"an unknown host" in page.data and b"[app] fhir_servers" in page.data


def test_with_the_app_off_cards_have_no_links_and_there_are_no_pages(tmp_path):
    client = make_app(tmp_path, False)
    body = client.post("/cds-services/ig-order-select", json=load_request("ig-order-select",
                                                                          "higm-xl-adult-ivig-dose-high", utc_now())).get_json()
    assert body["cards"] and not any("links" in c for c in body["cards"])
    assert not any("extension" in s for s in client.get("/cds-services").get_json()["services"])
    assert client.get("/app/launch").status_code == 404
    assert "/app/launch" not in client.get("/openapi.json").get_json()["paths"]
