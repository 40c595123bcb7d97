"""``GET /readyz``: what a load balancer needs (ready or not, from the CDS call path's own needs),
and the details only for a caller with a token.

- Without a token: ``{"status": ...}`` and nothing else (no client count, dev flag, replay store,
  database backend or audit counters), and the degradation checks (the database) are not even run:
  a slow or dead database never fails a load balancer's probe.
- With a token for ``/readyz`` (or ``"/readyz"`` in ``[server] open_endpoints``): the checks, and the
  names of the failing degradation checks under ``degraded`` (still 200: cards need no database).
- A failing readiness check (the client keys, the replay store) is 503 ``not-ready``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cds_service import ServiceDefinition, create_app
from cds_service.metrics import PrometheusMetrics
from tests.cds_service.test_auth import BASE, ES, ISS, make_config
from tests.support.jwt_tokens import bearer, mint


class Check:
    def __init__(self, result: dict[str, Any] | Exception) -> None:
        self.result, self.calls = result, 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def app(config: Any, *, ready: Check | None = None, storage: Check, metrics: Any = None) -> Any:
    service = ServiceDefinition(id="toy", hook="patient-view", title="Toy", description="-", handler=lambda r: [])
    return create_app(config, [service], readiness_checks={"extra": ready} if ready else None,
                      degradation_checks={"storage": storage}, metrics=metrics).test_client()


def token() -> dict[str, str]:
    return bearer(mint(ES, iss=ISS, aud=BASE + "/readyz"))


def test_without_a_token_only_the_status_and_the_database_is_not_asked(tmp_path) -> None:
    storage = Check({"ok": False, "error": "OperationalError", "backend": "postgresql"})
    response = app(make_config(tmp_path), storage=storage).get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert storage.calls == 0


def test_with_a_token_storage_trouble_is_degraded_not_not_ready(tmp_path) -> None:
    storage = Check({"ok": False, "error": "OperationalError", "backend": "postgresql"})
    metrics = PrometheusMetrics("igcds")
    client = app(make_config(tmp_path), storage=storage, metrics=metrics)
    response = client.get("/readyz", headers=token())
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["degraded"] == ["storage"]
    assert body["checks"]["storage"]["error"] == "OperationalError"
    assert body["checks"]["auth"] == {"ok": True, "dev_mode": False, "clients": 1, "replay_store": "sqlite"}
    exposition = metrics.exposition()[0].decode()
    assert 'igcds_check_ok{check="storage"} 0.0' in exposition and 'igcds_check_ok{check="auth"} 1.0' in exposition


def test_a_check_that_raises_is_reported_never_a_500(tmp_path) -> None:
    client = app(make_config(tmp_path), storage=Check(RuntimeError("/secret/path")))
    body = client.get("/readyz", headers=token()).get_json()
    assert body["checks"]["storage"] == {"ok": False, "error": "RuntimeError"} and body["degraded"] == ["storage"]


def test_a_failing_readiness_check_is_503_and_says_no_more(tmp_path) -> None:
    client = app(make_config(tmp_path), ready=Check({"ok": False, "reason": "replay store unavailable"}),
                 storage=Check({"ok": True}))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json() == {"status": "not-ready"}
    assert client.get("/readyz", headers=token()).get_json()["checks"]["extra"]["ok"] is False


def test_a_bad_token_is_401_and_opening_the_endpoint_shows_the_details(tmp_path) -> None:
    config = make_config(tmp_path)
    assert app(config, storage=Check({"ok": True})).get("/readyz", headers=bearer("x.y.z")).status_code == 401
    opened = config.with_changes(server=dataclasses.replace(config.server, open_endpoints=("/readyz",)))
    assert app(opened, storage=Check({"ok": True})).get("/readyz").get_json()["degraded"] == []


def test_dev_mode_shows_the_details_and_the_warning(tmp_path) -> None:
    config = make_config(tmp_path, clients=[]).with_changes(dev=True)
    body = app(config, storage=Check({"ok": True})).get("/readyz").get_json()
    assert "DEV MODE" in body["warning"] and body["checks"]["auth"]["dev_mode"] is True
