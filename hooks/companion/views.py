"""The companion app's pages: ``/app/launch``, ``/app/callback``, ``/app/trend``, ``/app/dose-plan``.

A Flask blueprint mounted by the assembly (``hooks.app``) through ``cds_service.create_app(blueprints=)``.
Pages are server-rendered HTML with the charts as inline SVG: no script, no external asset, readable
without JavaScript. The browser holds one opaque, HttpOnly, SameSite cookie naming a server-side
session (``sessions``); the access token never reaches the browser. Errors are typed
(``companion.errors``) and turned into HTML pages with their status here, in one place.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from flask import Blueprint, Response, make_response, render_template, request, url_for

from cds_service import Config
from cds_service.errors import ConfigError

from .. import text
from .chart import build_chart
from .data import PatientData, active_ig_orders, fhir_client, read_patient
from .errors import (
    AuthorizationFailed,
    CompanionError,
    LaunchRefused,
    NotSignedIn,
    SessionExpired,
    StateMismatch,
)
from .links import DOSE_PLAN, TREND, VIEWS
from .sessions import KEEP_AFTER_EXPIRY_S, Sessions, build_session_store, session_key
from .settings import AppSettings
from .smart import authorization_url, check_issuer, discover, exchange_code, new_secret
from .trend import build_trend
from .verdict import DOSE_CHECKS, judged_doses

log = logging.getLogger("igcds.companion")

COOKIE = "igcds_app"
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_REFERENCE = re.compile(r"^MedicationRequest/[A-Za-z0-9\-.]{1,64}$")


def _app_context(value: object) -> dict[str, Any]:
    """The launch's appContext (a JSON string from a card, or an object), reduced to what the app uses."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, Any] = {}
    if value.get("view") in VIEWS:
        out["view"] = value["view"]
    order = value.get("order")
    if isinstance(order, str) and _REFERENCE.match(order):
        out["order"] = order
    draft = value.get("draft")
    if isinstance(draft, Mapping) and draft.get("resourceType") == "MedicationRequest":
        out["draft"] = dict(draft)
    return out


def companion_blueprint(config: Config) -> Blueprint:
    settings: AppSettings = config.section("app").with_base_url(config.server.public_base_url)
    secure = settings.launch_url.startswith("https://")
    if settings.cookie_samesite == "None" and not secure:
        raise ConfigError('app.cookie_samesite = "None" needs an https public_base_url (browsers require Secure)')
    sessions = Sessions(build_session_store(settings.session_store, config.server.data_dir),
                        session_key(settings.session_key, config.server.data_dir))
    bp = Blueprint("companion", __name__, url_prefix="/app", template_folder="templates")
    cookie_path = urlsplit(settings.launch_url).path.rsplit("/", 1)[0] or "/"

    def set_cookie(response: Response, value: str, lifetime: int) -> None:
        """The session cookie outlives the session a little, so a late request is told it *expired*."""
        response.set_cookie(COOKIE, value, max_age=lifetime + KEEP_AFTER_EXPIRY_S, path=cookie_path, httponly=True,
                            secure=secure, samesite=settings.cookie_samesite)

    def active_session() -> dict[str, Any]:
        session = sessions.read(request.cookies.get(COOKIE))
        if session.get("stage") != "active":
            raise NotSignedIn("The sign-in with the EHR was not finished: open the app from the EHR again.")
        return session

    def patient_data(session: dict[str, Any], order: str | None = None,
                     draft: Mapping[str, Any] | None = None) -> PatientData:
        client = fhir_client(config, session["iss"], session["access_token"])
        return read_patient(config, client, session["patient"], order_reference=order, draft=draft)

    def redirect(target: str) -> Response:
        """A 302 (flask's ``redirect`` is typed as werkzeug's Response; this is the app's)."""
        response = make_response("", 302)
        response.headers["Location"] = target
        return response

    def to_view(context: Mapping[str, Any]) -> Response:
        """A 302 to the view the launch's appContext names (the trend unless it names the dose plan)."""
        return redirect(url_for(".dose_plan" if context.get("view", TREND) == DOSE_PLAN else ".trend"))

    def page(template: str, status: int = 200, **values: Any) -> Response:
        return make_response(render_template(f"companion/{template}", text=text, **values), status)

    @bp.after_request
    def _headers(response: Response) -> Response:
        ancestors = " ".join(settings.frame_ancestors) or "'none'"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
            f"frame-ancestors {ancestors}"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.errorhandler(CompanionError)
    def _error(exc: CompanionError) -> Response:
        log.info("companion request refused", extra={"event": "app_refused", "error": exc.code, "status": exc.status})
        return page("error.html", exc.status, error=exc)

    @bp.get("/")
    def home() -> Response:
        try:
            session = active_session()
        except NotSignedIn:
            return page("home.html", servers=sorted(settings.allowed_servers), settings=settings)
        return to_view(session.get("app_context", {}))

    @bp.get("/launch")
    def launch() -> Response:
        iss = request.args.get("iss")
        launch_id = request.args.get("launch") or None
        if iss is None and launch_id is None and len(settings.allowed_servers) == 1:
            iss = next(iter(settings.allowed_servers))  # standalone launch against the one server
        fhir_base = check_issuer(iss, settings)
        if launch_id is not None and len(launch_id) > 4096:
            raise LaunchRefused("The launch parameter is too long.")
        endpoints = discover(fhir_base)
        secret_state, verifier = new_secret(), new_secret()
        pending = {"stage": "pending", "state": secret_state, "verifier": verifier, "iss": fhir_base,
                   "token_endpoint": endpoints.token_endpoint}
        sessions.drop(request.cookies.get(COOKIE))
        cookie = sessions.create(pending, settings.launch_timeout_s)
        target = authorization_url(settings, endpoints, iss=fhir_base, launch=launch_id, state=secret_state,
                                   code_verifier=verifier)
        response = redirect(target)
        set_cookie(response, cookie, settings.launch_timeout_s)
        return response

    @bp.get("/callback")
    def callback() -> Response:
        try:
            pending = sessions.take(request.cookies.get(COOKIE))
        except SessionExpired:
            raise StateMismatch("The sign-in took too long: open the app from the EHR again.") from None
        except NotSignedIn:
            raise StateMismatch("This sign-in was not started in this browser (no launch in progress): "
                                "open the app from the EHR again.") from None
        given = request.args.get("state", "")
        if pending.get("stage") != "pending" or not hmac.compare_digest(given.encode(), pending["state"].encode()):
            raise StateMismatch("The answer from the EHR does not match the launch started in this browser "
                                "(state mismatch); it was refused. Open the app from the EHR again.")
        error = request.args.get("error")
        if error:
            shown = error if _ERROR_CODE.match(error) else "error"
            raise AuthorizationFailed(f"The EHR did not authorize the app ({shown}).")
        code = request.args.get("code")
        if not code or len(code) > 4096:
            raise AuthorizationFailed("The EHR's answer carried no authorization code.")
        token = exchange_code(settings, pending["token_endpoint"], code=code, code_verifier=pending["verifier"])
        patient = token.get("patient")
        if not isinstance(patient, str) or not patient or "/" in patient:
            raise AuthorizationFailed("The EHR gave no patient context with the access token.")
        context = _app_context(token.get("appContext"))
        lifetime = settings.session_lifetime_s
        expires_in = token.get("expires_in")
        if isinstance(expires_in, int | float) and expires_in > 0:
            lifetime = min(lifetime, int(expires_in))
        session = {"stage": "active", "iss": pending["iss"], "access_token": token["access_token"],
                   "patient": patient, "app_context": context, "scope": str(token.get("scope", ""))}
        cookie = sessions.create(session, lifetime)
        response = to_view(context)
        set_cookie(response, cookie, lifetime)
        return response

    @bp.post("/sign-out")
    def sign_out() -> Response:
        sessions.drop(request.cookies.get(COOKIE))
        response = page("signed_out.html")
        response.delete_cookie(COOKIE, path=cookie_path, httponly=True, secure=secure,
                               samesite=settings.cookie_samesite)
        return response

    @bp.get("/trend")
    def trend() -> Response:
        session = active_session()
        context = session.get("app_context", {})
        data = patient_data(session, draft=context.get("draft"))  # the order's indication picks the target
        model = build_trend(data.facts, settings.trend_days, data.order)
        return page("trend.html", trend=model, chart=build_chart(model), data=data, context=context,
                    view=TREND, years=round(settings.trend_days / 365, 1))

    @bp.get("/dose-plan")
    def dose_plan() -> Response:
        session = active_session()
        context = session.get("app_context", {})
        asked = request.args.get("order")
        if asked is not None and not _REFERENCE.match(asked):
            raise LaunchRefused("The order to plan must be named MedicationRequest/<id>.")
        draft = context.get("draft") if asked in (None, context.get("order")) else None
        order_ref = asked or context.get("order")
        data = patient_data(session, None if draft else order_ref, draft)
        # The ordered dose first, then any dose a dose card suggests, each with what the dose rules say.
        doses = judged_doses(data.facts, data.order) if data.order is not None else ()
        active_orders = active_ig_orders(data.facts)
        return page("dose_plan.html", plan=doses[0].plan if doses else None, doses=doses, checks=DOSE_CHECKS,
                    data=data, context=context, view=DOSE_PLAN, from_draft=draft is not None,
                    active_orders=active_orders)

    @bp.app_template_filter("day")
    def _day(value: datetime | None) -> str:
        return text.day(value) if value is not None else "—"

    return bp
