"""A small test EHR for the companion app's SMART launch: an Authlib authorization server, a FHIR gateway in
front of sekmet-fhir, and a page that shows CDS Hooks cards with their links, on 127.0.0.1.

It stands in for what a real EHR (or the CDS Hooks sandbox with a SMART-enabled FHIR server) provides:

* ``{base}/fhir/.well-known/smart-configuration`` — SMART App Launch 2.0 discovery (PKCE S256 only);
* ``{base}/fhir/_services/smart/Launch`` — the launch-context endpoint the CDS Hooks sandbox calls before it
  opens a card's SMART link (``{"launchUrl", "parameters": {"patient", "appContext"}}`` -> ``launch_id``);
* ``{base}/auth/authorize`` and ``{base}/auth/token`` — OAuth 2.0 authorization code grant with PKCE, built
  on Authlib's ``AuthorizationServer`` (a signed-in clinician is assumed, so consent is automatic); the token
  response carries ``patient`` and the card's ``appContext``, as SMART and CDS Hooks specify;
* ``{base}/fhir/...`` — a FHIR gateway: it accepts only the access tokens it issued, only GET, only the
  launch's patient, and forwards to sekmet-fhir (rewriting sekmet's base URL to its own);
* ``{base}/ehr/cards/<id>`` — the EHR's card view: each card with its SMART link turned into a launch URL
  (``launch`` + ``iss``), which a browser test clicks like a clinician would.

The gateway records every request it receives (path and whether a token came with it), so tests can check
who presented the tokens. Tokens issued here are registered as suite secrets (log hygiene).
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from .log_hygiene import register_secret

CODE_LIFETIME_S = 300


class _QuietHandler(WSGIRequestHandler):
    """No request log: the authorize URLs carry state and codes, and the test output stays readable."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    redirect_uris: tuple[str, ...]
    client_secret: str = ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s.startswith(("patient/", "launch")))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == ("client_secret_basic" if self.client_secret else "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class LaunchContext:
    """What the EHR knows about one launch: the patient in context and the card's appContext."""

    patient: str
    app_context: str | None = None
    #: Lifetime of the access token issued for it (tests shorten it to see a session expire).
    expires_in: int = 3600


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    context: LaunchContext
    issued: float = field(default_factory=time.monotonic)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class IssuedToken:
    access_token: str
    patient: str
    scope: str
    expires_at: float


class S256Only(CodeChallenge):  # type: ignore[misc]
    """SMART App Launch 2.0: the server requires PKCE, with S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class SmartEhr:
    """The running test EHR (see the module docstring). ``base_url`` is ``http://127.0.0.1:N``."""

    def __init__(self, upstream_fhir: str, *, default_patient: str | None = None) -> None:
        self.upstream = upstream_fhir.rstrip("/")
        self.default_patient = default_patient
        self.clients: dict[str, Client] = {}
        self.launches: dict[str, LaunchContext] = {}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.card_pages: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        #: (method, path, had a valid token) of every FHIR gateway request.
        self.fhir_requests: list[tuple[str, str, bool]] = []
        #: The form fields of every token request (code_verifier included), newest last.
        self.token_requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.app = self._build()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def fhir_base(self) -> str:
        return self.base_url + "/fhir"

    def register_client(self, client_id: str, redirect_uri: str, client_secret: str = "") -> None:
        self.clients[client_id] = Client(client_id, (redirect_uri,), client_secret)

    def create_launch(self, patient: str, app_context: str | None = None, expires_in: int = 3600) -> str:
        launch_id = secrets.token_urlsafe(16)
        self.launches[launch_id] = LaunchContext(patient, app_context, expires_in)
        return launch_id

    def launch_url(self, link: dict[str, Any], patient: str, expires_in: int = 3600) -> str:
        """The URL the EHR opens for a card's SMART link: ``link.url`` with ``launch`` and ``iss``."""
        launch_id = self.create_launch(patient, link.get("appContext"), expires_in)
        separator = "&" if "?" in link["url"] else "?"
        return f"{link['url']}{separator}{urlencode({'launch': launch_id, 'iss': self.fhir_base})}"

    def show_cards(self, patient: str, cards: list[dict[str, Any]]) -> str:
        """Put a CDS Hooks response's cards on an EHR page; returns the page URL."""
        page_id = secrets.token_urlsafe(8)
        self.card_pages[page_id] = (patient, cards)
        return f"{self.base_url}/ehr/cards/{page_id}"

    def issued_tokens(self) -> list[str]:
        return [t.access_token for t in self.tokens.values()]

    # -- the Flask app --------------------------------------------------------------------------
    def _build(self) -> Flask:
        app = Flask("test-ehr")
        ehr = self

        def query_client(client_id: str) -> Client | None:
            return ehr.clients.get(client_id)

        def save_token(token: dict[str, Any], req: Any) -> None:
            register_secret(f"test EHR access token {len(ehr.tokens) + 1}", token["access_token"])
            ehr.tokens[token["access_token"]] = IssuedToken(
                token["access_token"], token["patient"], token.get("scope", ""),
                time.time() + int(token["expires_in"]))

        def generate_token(grant_type: str, client: Client, user: LaunchContext | None = None,
                           scope: str | None = None, expires_in: int | None = None,
                           include_refresh_token: bool = True) -> dict[str, Any]:
            assert user is not None
            token: dict[str, Any] = {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
                                     "expires_in": user.expires_in, "scope": scope or "", "patient": user.patient}
            if user.app_context is not None:
                token["appContext"] = user.app_context
            return token

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                ehr.codes[code] = AuthCode(code, req.client.client_id, data["redirect_uri"], req.payload.scope or "",
                                           data["code_challenge"], data["code_challenge_method"], req.user)

            def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
                found = ehr.codes.get(code)
                if found and found.client_id == client.client_id \
                        and time.monotonic() - found.issued < CODE_LIFETIME_S:
                    return found
                return None

            def delete_authorization_code(self, authorization_code: AuthCode) -> None:
                ehr.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: AuthCode) -> LaunchContext:
                return authorization_code.context

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        server.register_token_generator("default", generate_token)
        server.register_grant(CodeGrant, [S256Only(required=True)])

        @app.get("/fhir/.well-known/smart-configuration")
        def smart_configuration() -> Response:
            return jsonify({
                "issuer": ehr.base_url,
                "authorization_endpoint": ehr.base_url + "/auth/authorize",
                "token_endpoint": ehr.base_url + "/auth/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "grant_types_supported": ["authorization_code"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["launch", "launch/patient", "patient/*.rs", "patient/*.read"],
                "capabilities": ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                                 "context-ehr-patient", "context-standalone-patient", "permission-patient",
                                 "permission-v1", "permission-v2"],
            })

        @app.post("/fhir/_services/smart/Launch")
        def create_launch_context() -> Response:
            body = request.get_json(force=True)
            parameters = body.get("parameters") or {}
            return jsonify({"launch_id": ehr.create_launch(parameters["patient"], parameters.get("appContext"))})

        @app.get("/auth/authorize")
        def authorize() -> Any:
            scope = request.args.get("scope", "").split()
            if request.args.get("aud", "").rstrip("/") != ehr.fhir_base:
                return Response("aud is not this EHR's FHIR server", 400)
            if "launch" in scope:
                context = ehr.launches.pop(request.args.get("launch", ""), None)
                if context is None:
                    return Response("unknown or used launch id", 400)
            elif "launch/patient" in scope and ehr.default_patient:
                context = LaunchContext(ehr.default_patient)  # the clinician picks a patient (standalone)
            else:
                return Response("no launch context", 400)
            grant = server.get_consent_grant(end_user=context)
            return server.create_authorization_response(grant=grant, grant_user=context)

        @app.post("/auth/token")
        def issue_token() -> Any:
            with ehr._lock:
                ehr.token_requests.append(dict(request.form))
            return server.create_token_response()

        @app.get("/fhir/<path:path>")
        def fhir(path: str) -> Response:
            header = request.headers.get("Authorization", "")
            token = ehr.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
            valid = token is not None and token.expires_at > time.time()
            with ehr._lock:
                ehr.fhir_requests.append(("GET", path, valid))
            if not valid:
                return Response('{"resourceType":"OperationOutcome"}', 401, mimetype="application/fhir+json")
            assert token is not None
            kind, _, ident = path.partition("/")
            if (kind == "Patient" and ident != token.patient) or (not ident and request.args.get("patient") != token.patient):
                return Response('{"resourceType":"OperationOutcome"}', 403, mimetype="application/fhir+json")
            upstream = requests.get(f"{ehr.upstream}/{path}", params=request.args, timeout=10,
                                    headers={"Accept": "application/fhir+json"})
            if ident and kind != "Patient" and upstream.status_code == 200:
                subject = (upstream.json().get("subject") or {}).get("reference")
                if subject != f"Patient/{token.patient}":
                    return Response('{"resourceType":"OperationOutcome"}', 403, mimetype="application/fhir+json")
            body = upstream.text.replace(ehr.upstream, ehr.fhir_base)
            return Response(body, upstream.status_code, mimetype="application/fhir+json")

        @app.get("/ehr/cards/<page_id>")
        def cards_page(page_id: str) -> Response:
            if page_id not in ehr.card_pages:
                abort(404)
            patient, cards = ehr.card_pages[page_id]
            items = []
            for card in cards:
                links = "".join(
                    f'<a class="card-link" data-type="{html.escape(link["type"])}" '
                    f'href="{html.escape(ehr.launch_url(link, patient) if link["type"] == "smart" else link["url"])}">'
                    f'{html.escape(link["label"])}</a>'
                    for link in card.get("links", [])
                )
                items.append(f'<article class="card" data-rule="{html.escape(card["source"]["topic"]["code"])}">'
                             f'<h2>{html.escape(card["summary"])}</h2>{links}</article>')
            return Response("<!doctype html><title>Test EHR: cards</title>" + "".join(items), mimetype="text/html")

        return app

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SmartEhr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@contextmanager
def smart_ehr(upstream_fhir: str, **kwargs: Any) -> Iterator[SmartEhr]:
    ehr = SmartEhr(upstream_fhir, **kwargs).start()
    try:
        yield ehr
    finally:
        ehr.stop()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
