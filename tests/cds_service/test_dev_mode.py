"""Dev mode (no JWT) serves this machine only, however the app is run (issue 15 finding 10).

``igcds serve --dev`` refuses a non-loopback bind address, but ``wsgi()`` under any gunicorn command
line, or a Flask app built with ``dev = true``, used to answer anyone without a token. The app itself
now refuses peers that are not this machine, browser pages that are not served from this machine (so a
web page cannot use a developer's igcds to probe their network), and FHIR servers other than the
configured one; and it says loudly at start-up that authentication is off.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import Prefetch, Registry, ServiceDefinition, create_app
from cds_service.config import load_config
from tests.support.faulty_fhir import faulty_fhir_server

BODY = {"hook": "patient-view", "hookInstance": "h-1", "context": {"userId": "Practitioner/1", "patientId": "p1"}}
TOY = ServiceDefinition("toy", "patient-view", "Toy", "Toy", lambda request: [],
                        {"patient": Prefetch("Patient/{{context.patientId}}")})


def app_for(tmp_path: Path, *, dev: bool = True, fhir_servers: list[str] | None = None, **server: Any) -> Flask:
    config = load_config(overrides={
        "dev": dev, "server": {"data_dir": str(tmp_path), **server},
        "fhir": {"allowed_servers": fhir_servers or [], "deadline_s": 2.0},
    }, environ={})
    return create_app(config, Registry([TOY]))


def post(app: Flask, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return app.test_client().post("/cds-services/toy", json=body or BODY, **kwargs)


def test_building_a_dev_mode_app_warns_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="igcds"):
        app_for(tmp_path)
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "dev_mode"]
    assert warnings and "DEV MODE" in warnings[0].getMessage() and warnings[0].levelno == logging.WARNING
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="igcds"):
        app_for(tmp_path / "prod", dev=False)
    assert not [r for r in caplog.records if getattr(r, "event", None) == "dev_mode"]


@pytest.mark.parametrize("peer", ["192.0.2.10", "10.0.0.5", "2001:db8::1", "::ffff:192.0.2.1", "", "0.0.0.0"])
def test_a_peer_that_is_not_this_machine_is_refused(tmp_path: Path, peer: str) -> None:
    client = app_for(tmp_path).test_client()
    for method, path in (("GET", "/cds-services"), ("POST", "/cds-services/toy"), ("GET", "/readyz")):
        response = client.open(path, method=method, json=BODY if method == "POST" else None,
                               environ_base={"REMOTE_ADDR": peer})
        assert response.status_code == 403, (peer, path, response.status_code)
        assert response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_a_peer_on_this_machine_is_served(tmp_path: Path, peer: str) -> None:
    response = post(app_for(tmp_path), {**BODY, "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}}},
                    environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 200, response.get_json()


def test_outside_dev_mode_the_peer_address_is_not_what_decides(tmp_path: Path) -> None:
    response = post(app_for(tmp_path, dev=False), environ_base={"REMOTE_ADDR": "192.0.2.10"},
                    headers={"Origin": "https://evil.example"})
    assert response.status_code == 401  # no token: refused by authentication, as always


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://192.168.1.5:8080",
                                    "http://localhost.evil.example", "http://127.0.0.1.evil.example:80"])
@pytest.mark.parametrize("cors_origins", [["*"], ["https://sandbox.cds-hooks.org", "https://evil.example"]],
                         ids=["wildcard", "listed"])
def test_a_page_from_another_origin_cannot_use_a_dev_mode_igcds(tmp_path: Path, origin: str,
                                                               cors_origins: list[str]) -> None:
    app = app_for(tmp_path, cors_origins=cors_origins)
    client = app.test_client()
    response = post(app, headers={"Origin": origin})
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    preflight = client.options("/cds-services/toy", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert client.get("/cds-services", headers={"Origin": origin}).status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8000",
                                    "https://localhost"])
def test_a_page_served_from_this_machine_may_call(tmp_path: Path, origin: str) -> None:
    app = app_for(tmp_path)
    response = post(app, {**BODY, "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}}},
                    headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", origin)
    preflight = app.test_client().options("/cds-services/toy", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", origin)


def test_only_the_configured_fhir_server_is_fetched_from(tmp_path: Path) -> None:
    """A loopback FHIR server is not trusted for being on loopback: only ``[fhir] allowed_servers`` is."""
    with faulty_fhir_server("ok") as configured, faulty_fhir_server("ok") as other:
        app = app_for(tmp_path, fhir_servers=[configured.base_url])
        refused = post(app, {**BODY, "fhirServer": other.base_url})
        assert refused.status_code == 412 and other.requests == []
        assert "allowed_servers" in refused.get_json()["details"]["keys"]["patient"]
        assert post(app, {**BODY, "fhirServer": configured.base_url}).status_code == 200
        assert configured.paths() == ["Patient/p1"]
        unconfigured = app_for(tmp_path / "none")
        assert post(unconfigured, {**BODY, "fhirServer": other.base_url}).status_code == 412
        assert other.requests == []
