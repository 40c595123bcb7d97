"""``GET /rules``: JSON by default, the application's catalog page when a browser asks for HTML.

Content negotiation and the page's headers are the framework's; the page itself is whatever the
application hands ``create_app(catalog_html=...)`` (a toy one here: no clinical code).
"""

from __future__ import annotations

import json

from cds_service import ServiceDefinition, create_app, load_config
from tests.support.jwt_tokens import bearer, jwks, mint, new_key

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
KEY = new_key("ES384", kid="rules-page")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGE = "<!doctype html><title>Toy catalog</title><p>rule toy-rule</p>"
ROWS = [{"id": "toy-rule", "services": ["toy"], "indicator": "info", "source": {"label": "toy"}}]


def toy_app(tmp_path, *, page: bool = True, dev: bool = True):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(jwks(KEY)))
    config = load_config(None, environ={}, overrides={
        "dev": dev,
        "server": {"public_base_url": BASE, "data_dir": str(tmp_path / "data")},
        "clients": [{"issuer": ISS, "jwks_file": str(jwks_file)}],
    })
    service = ServiceDefinition("toy", "patient-view", "Toy", "Answers nothing.", lambda request: [])
    return create_app(config, [service], catalog=lambda: ROWS, catalog_html=(lambda: PAGE) if page else None)


def test_a_browser_gets_the_page_with_headers_that_let_it_load_nothing_else(tmp_path):
    response = toy_app(tmp_path).test_client().get("/rules", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.get_data(as_text=True) == PAGE
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Accept" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"


def test_json_stays_the_default(tmp_path):
    client = toy_app(tmp_path).test_client()
    for accept in (None, "*/*", "application/json", "application/json, text/html"):
        response = client.get("/rules", headers={"Accept": accept} if accept else {})
        assert response.mimetype == "application/json", accept
        assert response.get_json() == {"rules": ROWS}
        assert "Accept" in response.headers["Vary"]


def test_an_application_without_a_page_answers_json_even_to_a_browser(tmp_path):
    response = toy_app(tmp_path, page=False).test_client().get("/rules", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.get_json() == {"rules": ROWS}


def test_the_page_needs_the_same_token_as_the_json(tmp_path):
    client = toy_app(tmp_path, dev=False).test_client()
    refused = client.get("/rules", headers={"Accept": BROWSER})
    assert refused.status_code == 401 and refused.get_json() == {"error": "unauthorized"}
    wrong_audience = bearer(mint(KEY, iss=ISS, aud=BASE + "/cds-services"))
    assert client.get("/rules", headers={"Accept": BROWSER, **wrong_audience}).status_code == 401
    token = bearer(mint(KEY, iss=ISS, aud=BASE + "/rules"))
    accepted = client.get("/rules", headers={"Accept": BROWSER, **token})
    assert accepted.status_code == 200 and accepted.get_data(as_text=True) == PAGE
