"""Application factory.

``create_app(config, services)`` assembles a Flask app from a validated configuration and a set of
service declarations; nothing is read at import time. All errors are mapped to JSON here, in one
place: typed :class:`CdsError` subclasses to their status, Werkzeug HTTP errors to theirs, and
anything unexpected to a generic 500 that carries only a request id (logged with the traceback,
never with the request content).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Blueprint, Flask, Response, g, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from .addresses import LOOPBACK_ORIGIN, is_loopback_host, is_loopback_origin
from .auth import Authenticator, build_authenticator
from .config import Config
from .errors import CdsError, Forbidden, InvalidRequest, RegistryError, ServiceUnavailable
from .extensions import AuditSink, Metrics, NullAudit, NullMetrics
from .feedback import FeedbackHandler
from .pipeline import CallRunner, Clock, utc_now
from .registry import Registry, ServiceDefinition
from .views import bp, json_response

log = logging.getLogger("igcds.app")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ALLOW_ORIGIN = "Access-Control-Allow-Origin"


@dataclass
class ServiceState:
    """Everything the views need, stored in ``app.extensions["cds_service"]``."""

    config: Config
    registry: Registry
    authenticator: Authenticator
    runner: CallRunner
    feedback: FeedbackHandler
    metrics: Metrics
    catalog: Callable[[], list[dict[str, Any]]]
    openapi: Callable[[], dict[str, Any]]
    #: What a CDS call needs (the auth configuration and the replay store): one failing = not ready.
    readiness_checks: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    #: The catalog as an HTML page (``GET /rules`` for a browser); None: JSON only.
    catalog_html: Callable[[], str] | None = None
    #: What only feedback and audit need (storage, the audit spool): one failing = "degraded", shown
    #: in the authenticated details and in metrics, never not-ready (cards need no database).
    degradation_checks: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    #: ``[server] public_base_url`` without a trailing slash: JWT audiences are this + the path.
    audience_base: str = field(init=False)

    def __post_init__(self) -> None:
        self.audience_base = self.config.server.public_base_url.rstrip("/")

    def readiness(self, *, details: bool = False) -> Readiness:
        """The readiness checks always; the degradation checks only for ``details``: a load
        balancer's probe never waits on the database (a slow one would fail the probe and take
        every instance out: the outage this split avoids)."""
        checks: dict[str, Any] = {}
        failing: dict[str, list[str]] = {"ready": [], "degraded": []}
        groups = [("ready", self.readiness_checks)]
        if details:
            groups.append(("degraded", self.degradation_checks))
        for kind, group in groups:
            for name, check in group.items():
                try:
                    result = check()
                except Exception as exc:  # a failing check is reported, never a 500
                    result = {"ok": False, "error": type(exc).__name__}
                checks[name] = result
                ok = bool(result.get("ok", True))
                self.metrics.observe_check(name, ok)
                if not ok:
                    failing[kind].append(name)
        return Readiness(ready=not failing["ready"], degraded=failing["degraded"], checks=checks)


@dataclass(frozen=True)
class Readiness:
    """``GET /readyz``: ``ready`` decides the status code; the rest is for authenticated callers."""

    ready: bool
    #: Names of the degradation checks that failed (e.g. ``["storage"]``: feedback refused with 503,
    #: card audit spooled on local disk until the database is back).
    degraded: list[str]
    checks: dict[str, Any]


def create_app(
    config: Config,
    services: Registry | Iterable[ServiceDefinition],
    *,
    catalog: Callable[[], list[dict[str, Any]]] | None = None,
    catalog_html: Callable[[], str] | None = None,
    audit: AuditSink | None = None,
    feedback: FeedbackHandler | None = None,
    metrics: Metrics | None = None,
    authenticator: Authenticator | None = None,
    openapi: Callable[[], dict[str, Any]] | None = None,
    readiness_checks: Mapping[str, Callable[[], dict[str, Any]]] | None = None,
    degradation_checks: Mapping[str, Callable[[], dict[str, Any]]] | None = None,
    clock: Clock = utc_now,
    blueprints: Iterable[Blueprint] = (),
) -> Flask:
    """The Flask app of ``services``. ``blueprints`` are mounted as they are, beside the CDS Hooks
    endpoints (an application's own pages, e.g. a SMART app); they do their own authentication.
    ``readiness_checks`` join the ``auth`` check in deciding ``/readyz`` (only what the CDS call
    path needs belongs there); ``degradation_checks`` are reported as degraded, never not-ready."""
    registry = services if isinstance(services, Registry) else Registry(services)
    if len(registry) == 0:
        raise RegistryError("no CDS services declared")
    metrics = metrics or NullMetrics()
    authenticator = authenticator or build_authenticator(config)
    app = Flask("cds_service")
    app.config["MAX_CONTENT_LENGTH"] = config.server.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    state = ServiceState(
        config=config,
        registry=registry,
        authenticator=authenticator,
        runner=CallRunner(config, registry, audit=audit or NullAudit(), metrics=metrics, clock=clock),
        feedback=feedback or FeedbackHandler(registry),
        metrics=metrics,
        catalog=catalog or (lambda: []),
        openapi=openapi or (lambda: {}),
        readiness_checks={"auth": authenticator.readiness, **dict(readiness_checks or {})},
        catalog_html=catalog_html,
        degradation_checks=dict(degradation_checks or {}),
    )
    app.extensions["cds_service"] = state
    cors_origins: list[str | re.Pattern[str]] = (
        dev_cors_origins(config.server.cors_origins) if config.dev else list(config.server.cors_origins))
    _register_cors(app, cors_origins)
    app.register_blueprint(bp)
    for extra in blueprints:
        app.register_blueprint(extra)
    _register_request_hooks(app, state)
    if config.dev:
        _register_dev_mode_guard(app, cors_origins)
    _register_error_handlers(app)
    return app


def dev_cors_origins(configured: Sequence[str]) -> list[str | re.Pattern[str]]:
    """The CORS origins dev mode honours: the configured ones on this machine, and any origin on this
    machine for ``*``. A page from anywhere else must not drive an igcds that asks for no token."""
    origins: list[str | re.Pattern[str]] = [o for o in configured if is_loopback_origin(o)]
    if "*" in configured:
        origins.append(LOOPBACK_ORIGIN)
    return origins


def _register_dev_mode_guard(app: Flask, cors_origins: Sequence[str | re.Pattern[str]]) -> None:
    """Dev mode turns authentication off, so the app itself (not only ``igcds serve --dev``, which also
    refuses a non-loopback bind address) answers this machine only: a peer that is not loopback, or a
    browser page whose ``Origin`` is not on this machine, gets 403 before anything else happens. Without
    the Origin check a web page could make a developer's browser drive igcds (a POST with a text/plain
    body needs no CORS preflight) to probe their machine. Every WSGI server names the peer in
    ``REMOTE_ADDR`` (gunicorn: ``""`` on a Unix socket, refused too)."""
    log.warning("DEV MODE: CDS Hooks JWT authentication is DISABLED. Only this machine is served "
                "(loopback peers, pages from loopback origins). Never expose this server.",
                extra={"event": "dev_mode"})

    def origin_allowed(origin: str) -> bool:
        return any(o.match(origin) if isinstance(o, re.Pattern) else o.lower() == origin.lower()
                   for o in cors_origins)

    @app.before_request
    def _this_machine_only() -> None:
        environ = request.environ
        peer = environ.get("REMOTE_ADDR")  # absent only for a WSGI call made in-process (no network peer)
        if peer is not None and not is_loopback_host(peer):
            raise Forbidden("dev mode (no authentication) answers this machine only")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not origin_allowed(origin):
            raise Forbidden("dev mode (no authentication) answers pages served from this machine only")


def _register_cors(app: Flask, origins: list[str | re.Pattern[str]]) -> None:
    """CORS by flask-cors, with its answer for a request that carries no ``Origin`` computed once.

    An EHR calls server to server, without ``Origin``; flask-cors's headers for such a request
    depend only on the configuration (``always_send``: with ``cors_origins = ["*"]`` they are
    ``Access-Control-Allow-Origin: *`` and ``Access-Control-Expose-Headers: X-Request-Id``). They are
    taken from flask-cors itself at start-up, by running its hook on one such request, and added
    as they are to every later one. Browser requests (``Origin``), preflights (``OPTIONS``) and
    private-network probes still go through flask-cors. This holds because the only resource
    pattern, ``/*``, matches every path.
    """
    before = list(app.after_request_funcs.get(None, []))
    CORS(
        app,
        resources={r"/*": {"origins": origins}},
        allow_headers=["Authorization", "Content-Type"],
        methods=["GET", "POST", "OPTIONS"],
        expose_headers=["X-Request-Id"],
        max_age=86400,
    )
    hooks = app.after_request_funcs[None]
    added = [f for f in hooks if f not in before]
    if len(added) != 1:  # flask-cors changed how it hooks in: leave it to do everything itself
        return
    cors_after_request = cast(Callable[[Response], Response], added[0])  # flask-cors's hook is synchronous
    without_origin = _cors_headers_without_origin(app, cors_after_request)
    if without_origin is None:
        return

    def cors_headers(response: Response) -> Response:
        environ = request.environ
        if (
            "HTTP_ORIGIN" in environ
            or "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK" in environ
            or request.method == "OPTIONS"
            or _ALLOW_ORIGIN in response.headers
        ):
            return cors_after_request(response)
        headers = response.headers
        for name, value in without_origin:
            headers.add(name, value)
        return response

    cors_headers.__wrapped__ = cors_after_request  # type: ignore[attr-defined]  # for the tests
    hooks[hooks.index(cors_after_request)] = cors_headers


def _cors_headers_without_origin(
    app: Flask, cors_after_request: Callable[[Response], Response]
) -> list[tuple[str, str]] | None:
    """The headers flask-cors adds to the response of a request without ``Origin`` (None if it does
    more than add headers, in which case it keeps doing all the work)."""
    with app.test_request_context("/cds-services", method="POST"):
        response = Response()
        original = list(response.headers.items())
        after = list(cors_after_request(response).headers.items())
    if after[: len(original)] != original:
        return None
    return after[len(original):]


def _register_request_hooks(app: Flask, state: ServiceState) -> None:
    @app.before_request
    def _start() -> None:
        # request.environ, not request.headers: the same (str) value without the header-name mapping.
        incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
        flask_g = g._get_current_object()  # once, rather than through the proxy for each attribute
        flask_g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        flask_g.started = time.perf_counter()
        flask_g.service = "other"

    @app.after_request
    def _finish(response: Response) -> Response:
        flask_g = g._get_current_object()
        headers = response.headers
        headers["X-Request-Id"] = flask_g.get("request_id", "")
        headers.setdefault("Cache-Control", "no-store")
        started = flask_g.get("started")
        if started is not None:
            current = request._get_current_object()  # type: ignore[attr-defined]
            if current.method != "OPTIONS":
                rule = current.url_rule
                state.metrics.observe_request(
                    rule.rule if rule else "unmatched",
                    flask_g.get("service", "other"),
                    response.status_code,
                    time.perf_counter() - started,
                )
        return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(exc: CdsError) -> Response:
        if exc.status_code == 401:
            log.warning("authentication failed", extra={"event": "auth_failed", "reason": exc.message,
                                                         "request_id": g.get("request_id")})
        elif exc.status_code >= 400:
            log.info("request refused", extra={"event": "request_refused", "status": exc.status_code,
                                               "error": exc.code, "request_id": g.get("request_id")})
        body = exc.to_dict()
        if exc.status_code != 401:
            body["requestId"] = g.get("request_id")
        response = json_response(body, exc.status_code)
        if isinstance(exc, ServiceUnavailable):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        """Routing and size errors raised by Werkzeug itself (404, 405, 413), in the same JSON shape."""
        status = exc.code or 500
        messages = {
            404: "no such endpoint",
            405: f"method {request.method} is not allowed here",
            413: "request body is larger than the configured limit",
        }
        code = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(status, "http-error")
        body = {"error": code, "message": messages.get(status, exc.description or exc.name),
                "requestId": g.get("request_id")}
        response = json_response(body, status)
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response:
        return _cds_error(InvalidRequest("request JSON is nested too deeply"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error", extra={"event": "internal_error", "request_id": g.get("request_id")})
        return json_response(
            {"error": "internal-error", "message": "unexpected error; quote the requestId to the operator",
             "requestId": g.get("request_id")},
            500,
        )
