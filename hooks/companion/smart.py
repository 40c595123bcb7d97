"""The companion's SMART App Launch 2.0 client: authorization code with PKCE (S256), via Authlib.

The launch (``launch`` + ``iss`` from the EHR, or ``iss`` alone for a standalone launch) is accepted only
for an ``iss`` in ``[app] fhir_servers``; the EHR's endpoints are then read from
``{iss}/.well-known/smart-configuration``, which must offer PKCE S256. Authlib builds the authorization
request (``state``, ``code_challenge``, ``aud`` = the FHIR server, ``launch``) and makes the token request
(``code_verifier``; HTTP Basic for a confidential client, ``client_id`` alone for a public one). Tokens go
no further than the server-side session: this module never logs them and no error message quotes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from cds_service.bounded_http import Deadline, ExchangeError, bounded_get

from .errors import AuthorizationFailed, EhrUnavailable, IssuerNotAllowed, LaunchRefused
from .settings import AppSettings, host_of, is_loopback, normalise_url

log = logging.getLogger("igcds.companion")

#: Largest ``.well-known/smart-configuration`` document read, in bytes.
MAX_METADATA_BYTES = 65_536
TIMEOUT_S = 5.0
#: Length of ``state`` and of the PKCE verifier (RFC 7636: 43 to 128 characters).
SECRET_LENGTH = 64


@dataclass(frozen=True, slots=True)
class SmartEndpoints:
    authorization_endpoint: str
    token_endpoint: str


def _usable_endpoint(url: object, name: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise EhrUnavailable(f"The EHR's SMART configuration has no usable {name}.")
    if url.startswith("http://") and not is_loopback(url):
        raise EhrUnavailable(f"The EHR's {name} is not https; the app does not send credentials over plain http.")
    return url


def check_issuer(iss: str | None, settings: AppSettings) -> str:
    """The FHIR base of a launch, normalised; refused unless ``[app] fhir_servers`` lists it."""
    if not iss:
        raise LaunchRefused("The launch did not say which FHIR server to use (no iss parameter).")
    if not settings.allows(iss):
        host = host_of(iss) or "an unknown host"
        raise IssuerNotAllowed(
            f"The FHIR server on {host} is not one this igcds app is configured for ([app] fhir_servers). "
            "Ask the igcds operator to add it, or launch the app from a listed EHR."
        )
    return normalise_url(iss)


def discover(iss: str) -> SmartEndpoints:
    """Read ``{iss}/.well-known/smart-configuration`` (SMART App Launch 2.0 §Discovery)."""
    url = iss + "/.well-known/smart-configuration"
    try:  # the FHIR client's bounded GET: one deadline on the whole exchange, so a server that drips its
        # answer cannot hold a worker; no redirect, no proxy from the environment, at most the size above
        answer = bounded_get(url, headers={"Accept": "application/json"}, deadline=Deadline(TIMEOUT_S),
                             timeout_s=TIMEOUT_S, max_bytes=MAX_METADATA_BYTES)
    except ExchangeError as exc:  # its message names no URL and no header
        raise EhrUnavailable(f"The EHR's SMART configuration could not be read ({exc}).") from None
    if answer.status != 200:
        raise EhrUnavailable(f"The EHR's SMART configuration answered HTTP {answer.status}.")
    try:
        metadata = json.loads(answer.body)
    except ValueError:
        raise EhrUnavailable("The EHR's SMART configuration is not JSON.") from None
    if not isinstance(metadata, dict):
        raise EhrUnavailable("The EHR's SMART configuration is not a JSON object.")
    methods = metadata.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        raise LaunchRefused("The EHR's authorization server does not offer PKCE with S256, which this app requires.")
    return SmartEndpoints(
        _usable_endpoint(metadata.get("authorization_endpoint"), "authorization_endpoint"),
        _usable_endpoint(metadata.get("token_endpoint"), "token_endpoint"),
    )


def new_secret() -> str:
    return str(generate_token(SECRET_LENGTH))


def _session(settings: AppSettings, scope: str | None = None) -> OAuth2Session:
    confidential = bool(settings.client_secret)
    session = OAuth2Session(
        client_id=settings.client_id,
        client_secret=settings.client_secret or None,
        token_endpoint_auth_method="client_secret_basic" if confidential else "none",
        scope=scope,
        redirect_uri=settings.redirect_uri,
        code_challenge_method="S256",
    )
    session.trust_env = False
    return session


def authorization_url(
    settings: AppSettings,
    endpoints: SmartEndpoints,
    *,
    iss: str,
    launch: str | None,
    state: str,
    code_verifier: str,
) -> str:
    """Where to send the browser: the EHR's authorization endpoint with state and the S256 challenge."""
    extra: dict[str, str] = {"aud": iss}
    if launch:
        extra["launch"] = launch
    with _session(settings, settings.scopes(standalone=launch is None)) as session:
        url, _ = session.create_authorization_url(
            endpoints.authorization_endpoint, state=state, code_verifier=code_verifier, **extra
        )
    return str(url)


def exchange_code(settings: AppSettings, token_endpoint: str, *, code: str, code_verifier: str) -> dict[str, Any]:
    """The token response for ``code`` (with the PKCE verifier); :class:`AuthorizationFailed` if refused."""
    with _session(settings) as session:
        try:
            token = session.fetch_token(
                token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=settings.redirect_uri,
                timeout=TIMEOUT_S,
                allow_redirects=False,
            )
        except AuthlibBaseError as exc:
            error = getattr(exc, "error", None) or "error"
            log.info("token request refused", extra={"event": "app_token_refused", "error": str(error)[:64]})
            raise AuthorizationFailed(
                f"The EHR refused to issue an access token ({str(error)[:64]}). This happens when the sign-in "
                "was not completed in this browser or the code was already used; open the app from the EHR again."
            ) from None
        except (requests.RequestException, ValueError) as exc:
            raise EhrUnavailable(f"The EHR's token endpoint could not be used ({type(exc).__name__}).") from None
    if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
        raise AuthorizationFailed("The EHR's token response carried no access token.")
    return dict(token)
