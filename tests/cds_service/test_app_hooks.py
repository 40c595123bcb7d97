"""cds_service.app request hooks: CORS headers, request id, Cache-Control, request metrics.

The CORS headers of a request without ``Origin`` are computed once from flask-cors and added by a
fast hook; these tests check that every response carries exactly the headers flask-cors alone
would have given it, for browser requests, preflights and errors as well, in both modes (dev mode
narrows the origins to this machine's: tests/cds_service/test_dev_mode.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import Registry, ServiceDefinition, create_app
from cds_service.config import load_config

BODY = {"hook": "patient-view", "hookInstance": "h-1", "context": {"userId": "Practitioner/1", "patientId": "p1"}}


def build(tmp_path: Path, origins: list[str], *, reference: bool = False, dev: bool = True) -> Flask:
    registry = Registry([ServiceDefinition("toy", "patient-view", "Toy", "Toy", lambda request: [])])
    config = load_config(overrides={"dev": dev, "server": {"data_dir": str(tmp_path), "cors_origins": origins}},
                         environ={})
    app = create_app(config, registry)
    hooks = app.after_request_funcs[None]
    fast = [f for f in hooks if hasattr(f, "__wrapped__")]
    assert len(fast) == 1, "the fast CORS hook is installed"
    if reference:  # flask-cors's own hook, as it was before the fast path
        hooks[hooks.index(fast[0])] = fast[0].__wrapped__
    return app


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/cds-services/toy", {"json": BODY}),
    ("POST", "/cds-services/toy", {"json": BODY, "headers": {"Origin": "https://a.example"}}),
    ("POST", "/cds-services/toy", {"json": BODY, "headers": {"Origin": "http://localhost:3000"}}),
    ("POST", "/cds-services/toy", {"json": BODY, "headers": {"Origin": "https://evil.example"}}),
    ("POST", "/cds-services/toy", {"json": BODY, "headers": {"Access-Control-Request-Private-Network": "true"}}),
    ("POST", "/cds-services/toy", {"data": b"{", "content_type": "application/json"}),
    ("POST", "/cds-services/toy", {"data": b"{", "content_type": "application/json",
                                   "headers": {"Origin": "https://a.example"}}),
    ("POST", "/cds-services/nope", {"json": BODY}),
    ("GET", "/cds-services", {}),
    ("GET", "/healthz", {"headers": {"Origin": "https://b.example"}}),
    ("GET", "/no-such-endpoint", {}),
    ("DELETE", "/cds-services", {}),
    ("OPTIONS", "/cds-services/toy", {}),
    ("OPTIONS", "/cds-services/toy", {"headers": {
        "Origin": "https://a.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-other"}}),
    ("OPTIONS", "/cds-services/toy", {"headers": {
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}),
]


@pytest.mark.parametrize("dev", [False, True], ids=["secure", "dev"])
@pytest.mark.parametrize("origins", [["*"], ["https://a.example", "https://b.example"], ["https://a.example"], [],
                                     ["http://localhost:3000", "https://a.example"]],
                         ids=["wildcard", "two-origins", "one-origin", "none", "loopback-and-other"])
def test_every_response_has_the_headers_flask_cors_gives_it(tmp_path: Path, origins: list[str], dev: bool) -> None:
    fast = build(tmp_path / "fast", origins, dev=dev).test_client()
    reference = build(tmp_path / "reference", origins, reference=True, dev=dev).test_client()
    for method, path, kwargs in REQUESTS:
        kwargs = {**kwargs, "headers": {"X-Request-Id": "same-id", **kwargs.get("headers", {})}}
        got = fast.open(path, method=method, **kwargs)
        want = reference.open(path, method=method, **kwargs)
        assert got.status_code == want.status_code, (method, path)
        assert list(got.headers.items()) == list(want.headers.items()), (method, path, kwargs)
        assert got.data == want.data


def test_an_ehr_call_gets_the_wildcard_headers(tmp_path: Path) -> None:
    response = build(tmp_path, ["*"], dev=False).test_client().post("/cds-services/toy", json=BODY)
    assert response.status_code == 401  # no token; a browser client can still read the error
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Request-Id"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.headers["X-Request-Id"]) == 32


def test_request_ids_are_kept_when_well_formed_and_replaced_otherwise(tmp_path: Path) -> None:
    client = build(tmp_path, ["*"]).test_client()
    assert client.get("/healthz", headers={"X-Request-Id": "trace-42"}).headers["X-Request-Id"] == "trace-42"
    for bad in ("", "a b", "x" * 65, "../etc/passwd"):
        replaced = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert replaced != bad and len(replaced) == 32 and int(replaced, 16) >= 0


def test_an_applications_own_blueprint_is_mounted_beside_the_cds_endpoints(tmp_path: Path) -> None:
    from flask import Blueprint

    pages = Blueprint("pages", __name__, url_prefix="/pages")
    pages.add_url_rule("/hello", "hello", lambda: "<p>hello</p>")
    registry = Registry([ServiceDefinition("toy", "patient-view", "Toy", "Toy", lambda request: [])])
    config = load_config(overrides={"dev": True, "server": {"data_dir": str(tmp_path)}}, environ={})
    client = create_app(config, registry, blueprints=[pages]).test_client()
    response = client.get("/pages/hello")
    assert response.status_code == 200 and response.get_data(as_text=True) == "<p>hello</p>"
    assert response.headers["X-Request-Id"] and response.headers["Cache-Control"] == "no-store"
    assert client.get("/cds-services").status_code == 200
