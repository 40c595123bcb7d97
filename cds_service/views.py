"""HTTP endpoints. Thin: parse HTTP, authenticate, hand over to the call runner, answer JSON."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, request

from .errors import InvalidRequest, UnsupportedMediaType

log = logging.getLogger("igcds.http")

bp = Blueprint("cds", __name__)

_JSON_TYPES = ("application/json", "application/fhir+json")


def _state() -> Any:
    return current_app.extensions["cds_service"]


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status=status, mimetype="application/json")


def read_json_body() -> Any:
    """The request body as JSON, or a 4xx naming the problem (415, 413, 400)."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {mimetype or 'none'}"
        )
    raw = request.get_data(cache=False)  # 413 from MAX_CONTENT_LENGTH surfaces here
    if not raw.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {str(exc).split(':')[0]}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def _audience(path: str) -> str:
    base: str = _state().audience_base
    return base + path


def _as_called(path: str) -> str:
    """``path`` with the trailing slash the client called it with: the JWT ``aud`` must equal the URL
    as called (``/cds-services/`` is served like ``/cds-services``), still under ``public_base_url``."""
    return path + "/" if request.path.endswith("/") else path


# strict_slashes=False: ``/cds-services/`` and ``/cds-services/{id}/`` are served by the same rules
# (no redirect: a POST must not be redirected), so metrics keep one endpoint label each.
@bp.get("/cds-services", strict_slashes=False)
def discovery() -> Response:
    _state().authenticator.authenticate(request, _audience(_as_called("/cds-services")))
    g.service = "discovery"
    return json_response(_state().registry.discovery())


@bp.post("/cds-services/<service_id>", strict_slashes=False)
def call_service(service_id: str) -> Response:
    state = _state()
    auth = state.authenticator.authenticate(request, state.audience_base + _as_called(f"/cds-services/{service_id}"))
    g.service = service_id if service_id in state.registry.ids() else "unknown"
    body = read_json_body()
    started = time.perf_counter()
    outcome = state.runner.run(service_id, body, auth)
    if log.isEnabledFor(logging.INFO):  # the one line per call: fields only, never request content
        log.info("cds call", extra={
            "event": "cds_call",
            "service": service_id,
            "hook": outcome.hook,
            "hookInstance": body.get("hookInstance"),
            "request_id": g.get("request_id"),  # given here, the log filter need not look it up
            "issuer": auth.issuer or "dev",
            "cards": outcome.rule_ids,
            "card_count": len(outcome.rule_ids),
            "issues": outcome.issues or None,
            "fhir_queries": outcome.fhir_queries,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        })
    return json_response(outcome.document)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    state = _state()
    auth = state.authenticator.authenticate(request, _audience(f"/cds-services/{service_id}/feedback"))
    g.service = service_id if service_id in state.registry.ids() else "unknown"
    body = read_json_body()
    return json_response(state.feedback.handle(service_id, body, auth))


#: What ``GET /rules`` can answer, the default first (a client that accepts anything gets JSON).
_RULES_TYPES = ("application/json", "text/html")
#: The catalog page needs nothing from anywhere: no script, no image, no frame, only its inline style.
_PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'")


@bp.get("/rules")
def rules() -> Response:
    """The rule catalog: JSON by default, the whole catalog as a page when the client asks for HTML
    (``Accept: text/html``, as a browser does) and the application provides one."""
    state = _state()
    state.authenticator.authenticate(request, _audience("/rules"))
    g.service = "rules"
    wants_html = request.accept_mimetypes.best_match(_RULES_TYPES) == "text/html"
    if wants_html and state.catalog_html is not None:
        response = html_response(state.catalog_html())
    else:
        response = json_response({"rules": state.catalog()})
    response.vary.add("Accept")
    return response


def html_response(page: str) -> Response:
    response = Response(page, status=200, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    g.service = "health"
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness for a load balancer: only ``{"status": ...}`` without a token. The details (checks,
    counters, what is degraded) need a JWT for ``{public_base_url}/readyz``, dev mode, or
    ``"/readyz"`` in ``[server] open_endpoints``: they describe the deployment to whoever asks."""
    g.service = "health"
    state = _state()
    details = _details_allowed("/readyz")
    report = state.readiness(details=details)
    status = 200 if report.ready else 503
    body: dict[str, Any] = {"status": "ready" if report.ready else "not-ready"}
    if details:
        body["degraded"] = report.degraded
        body["checks"] = report.checks
        if state.config.dev:
            body["warning"] = "DEV MODE: CDS Hooks JWT authentication is disabled. Never expose this server."
    return json_response(body, status)


def _details_allowed(path: str) -> bool:
    """Open to all in dev mode or when the operator opened ``path``; otherwise only to a caller that
    presents a token (a bad token is a 401, no token is the short answer)."""
    state = _state()
    if state.config.dev or path in state.config.server.open_endpoints:
        return True
    if "HTTP_AUTHORIZATION" not in request.environ:
        return False
    state.authenticator.authenticate(request, _audience(path))
    return True


def _authenticate_unless_open(path: str) -> None:
    """Every endpoint but health needs a JWT, unless the operator opened it (``[server] open_endpoints``)."""
    state = _state()
    if path not in state.config.server.open_endpoints:
        state.authenticator.authenticate(request, _audience(path))


@bp.get("/metrics")
def metrics() -> Response:
    g.service = "metrics"
    _authenticate_unless_open("/metrics")
    payload, content_type = _state().metrics.exposition()
    return Response(payload, status=200, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    g.service = "openapi"
    _authenticate_unless_open("/openapi.json")
    return json_response(_state().openapi())
