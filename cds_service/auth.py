"""Client authentication (CDS Hooks 2.0 "Trusting CDS Clients", docs/conformance.md §6.1 J1-J13).

Every endpoint except the health checks calls :meth:`Authenticator.authenticate` with the exact
external URL it answers to (built from ``[server] public_base_url``). A call is accepted only when:

1. ``Authorization: Bearer <compact JWS>`` is present;
2. the header's ``alg`` is on ``[auth] algorithms`` (asymmetric only: ``none`` and HS* are refused
   at start-up and per call), ``typ`` is ``JWT``, ``kid`` is a non-empty string, and no ``crit``
   extension is used (PyJWT refuses those it does not know);
3. the (not yet verified) ``iss`` is a configured ``[[clients]]`` issuer;
4. a ``jku`` header, if any, is on that client's ``jku_allowlist`` (exact match) — otherwise the call
   is refused *without* fetching the URL;
5. the ``kid`` is in the client's configured key set (``jwks_url`` or ``jwks_file``) or, failing that,
   in the key set at the allowlisted ``jku`` (see :mod:`cds_service.jwks` for caching and rotation),
   and that key suits ``alg`` (key type, curve, and the JWK's own ``alg`` if it has one);
6. PyJWT verifies the signature with that key bound to that algorithm, and the claims: ``iss``,
   ``aud`` (string or array containing the endpoint URL), ``exp`` (not past), ``iat`` (not in the
   future), ``nbf`` if present, all with ``[auth] leeway_s``; ``exp``, ``iat``, ``jti`` are required;
7. ``exp - iat`` is at most ``[auth] max_token_lifetime_s``; ``jti`` is a non-empty string of at most
   256 characters; ``tenant`` equals the client's configured ``tenant`` when one is configured;
8. the ``(iss, jti)`` pair has not been used before (:mod:`cds_service.replay`, shared by all workers).
   This comes last, so a token refused for another reason does not use up its ``jti``. When the
   store cannot be reached the call is refused with 503 ``replay-store-unavailable`` and
   ``Retry-After`` (fail closed: never accepted without replay protection, never a 500).

No ``sub`` claim is required (removed from the spec in 2018). Any failure raises
:class:`~cds_service.errors.Unauthorized`: the client gets a bare 401 ``{"error": "unauthorized"}``
and the reason goes to the log. Reasons name ``iss``, ``kid``, ``jti`` or a claim name, never the
token, a signature or a claim value beyond those.

Dev mode (``igcds serve --dev``) skips all of this; the CLI refuses a non-loopback bind address and the
app answers loopback peers and pages only (``app._register_dev_mode_guard``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Request
from jwt.exceptions import InvalidAudienceError, PyJWTError

from .addresses import is_loopback_host
from .config import AuthConfig, ClientConfig, Config
from .errors import ConfigError, ReplayStoreUnavailable, Unauthorized
from .jwks import JwksError, KeyStore, key_for
from .replay import MAX_JTI_LENGTH, ReplayStore, build_replay_store

log = logging.getLogger("igcds.auth")

#: Algorithms that may be configured: asymmetric signatures only.
SUPPORTED_ALGORITHMS = frozenset({
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
})
#: Largest ``Authorization`` token considered (CDS Hooks JWTs are well under 2 KB).
MAX_TOKEN_BYTES = 8192

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling. ``issuer`` None means dev mode (no authentication)."""

    issuer: str | None = None
    #: FHIR base URLs this caller may send us to; None means "use [fhir] allowed_servers".
    fhir_servers: tuple[str, ...] | None = None
    tenant: str | None = None


# -- start-up validation ---------------------------------------------------------------------------


def _check_url(url: str, where: str) -> None:
    if not isinstance(url, str) or not url.strip() or url != url.strip():
        raise ConfigError(f"{where}: expected a URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: expected an https URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(f"{where}: must use https (plain http is only allowed on loopback), got {url!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{where}: credentials in the URL are not allowed")
    if parts.fragment:
        raise ConfigError(f"{where}: a URL fragment is not allowed, got {url!r}")


def validate_auth_config(config: Config) -> None:
    """Refuse an unsafe or inconsistent ``[auth]`` / ``[[clients]]`` configuration (ConfigError)."""
    auth = config.auth
    if not auth.algorithms:
        raise ConfigError("[auth] algorithms: at least one algorithm is required (e.g. [\"ES384\", \"RS384\"])")
    for alg in auth.algorithms:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise ConfigError(f"[auth] algorithms: {alg!r} is never accepted "
                              "(CDS Hooks forbids 'none' and symmetric algorithms)")
        if alg not in SUPPORTED_ALGORITHMS:
            raise ConfigError(f"[auth] algorithms: unknown algorithm {alg!r} "
                              f"(supported: {', '.join(sorted(SUPPORTED_ALGORITHMS))})")
    if auth.leeway_s < 0 or auth.leeway_s > 300:
        raise ConfigError(f"[auth] leeway_s: expected 0..300 seconds, got {auth.leeway_s}")
    if auth.max_token_lifetime_s <= 0 or auth.max_token_lifetime_s > 86400:
        raise ConfigError(f"[auth] max_token_lifetime_s: expected 1..86400 seconds, got {auth.max_token_lifetime_s}")
    if auth.jwks_min_refresh_s < 0:
        raise ConfigError(f"[auth] jwks_min_refresh_s: must not be negative, got {auth.jwks_min_refresh_s}")
    if auth.jwks_cache_s < max(1, auth.jwks_min_refresh_s):
        raise ConfigError("[auth] jwks_cache_s: must be at least 1 and at least jwks_min_refresh_s")
    if not 0 < auth.jwks_timeout_s <= 30:
        raise ConfigError(f"[auth] jwks_timeout_s: expected a number in (0, 30], got {auth.jwks_timeout_s}")
    if auth.jwks_max_bytes < 1024:
        raise ConfigError(f"[auth] jwks_max_bytes: expected at least 1024, got {auth.jwks_max_bytes}")

    seen: set[str] = set()
    for i, client in enumerate(config.clients):
        where = f"[[clients]] #{i + 1}"
        if not client.issuer or client.issuer != client.issuer.strip():
            raise ConfigError(f"{where}: issuer must be a non-empty string without surrounding spaces")
        where = f"[[clients]] issuer {client.issuer!r}"
        if client.issuer in seen:
            raise ConfigError(f"{where}: configured twice (issuers must be unique)")
        seen.add(client.issuer)
        if (client.jwks_url is None) == (client.jwks_file is None):
            raise ConfigError(f"{where}: set exactly one of jwks_url and jwks_file")
        if client.jwks_url is not None:
            _check_url(client.jwks_url, f"{where}: jwks_url")
        if client.jwks_file is not None and not client.jwks_file.strip():
            raise ConfigError(f"{where}: jwks_file must not be empty")
        for url in client.jku_allowlist:
            _check_url(url, f"{where}: jku_allowlist")
        for url in client.fhir_servers:
            _check_url(url, f"{where}: fhir_servers")
        if client.tenant is not None and not client.tenant.strip():
            raise ConfigError(f"{where}: tenant must not be empty when set")


# -- the authenticator -----------------------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    """An attacker-supplied header/claim value, fit for a log line."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class Authenticator:
    """Verifies CDS Hooks client JWTs against the configured client registry."""

    def __init__(
        self,
        config: Config,
        *,
        keys: KeyStore | None = None,
        replay: ReplayStore | None = None,
    ) -> None:
        self.config = config
        self.auth: AuthConfig = config.auth
        self.algorithms = tuple(dict.fromkeys(config.auth.algorithms))
        self.clients: dict[str, ClientConfig] = {c.issuer: c for c in config.clients}
        self._jwks_files = {c.issuer: _resolve(c.jwks_file) for c in config.clients if c.jwks_file}
        self.keys = keys or KeyStore(
            cache_s=config.auth.jwks_cache_s,
            min_refresh_s=config.auth.jwks_min_refresh_s,
            timeout_s=config.auth.jwks_timeout_s,
            max_bytes=config.auth.jwks_max_bytes,
        )
        for issuer, path in self._jwks_files.items():
            try:
                self.keys.preload_file(path)
            except ConfigError as exc:
                raise ConfigError(f"[[clients]] issuer {issuer!r}: {exc}") from None
        if replay is None and not config.dev:
            replay = build_replay_store(config.auth.replay_store, config.server.data_dir)
        self.replay = replay

    # -- public API ----------------------------------------------------------------------------

    def authenticate(self, request: Request, audience: str) -> AuthContext:
        if self.config.dev:
            return AuthContext()
        header = request.headers.get("Authorization")
        if header is None:
            raise Unauthorized("no Authorization header")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header is not 'Bearer <jwt>'")
        return self.verify(token.strip(), audience)

    def verify(self, token: str, audience: str) -> AuthContext:
        """Check one compact JWS for ``audience``; returns the caller or raises Unauthorized."""
        if len(token) > MAX_TOKEN_BYTES or not _COMPACT_JWS.fullmatch(token):
            raise Unauthorized("bearer token is not a compact JWS")
        try:
            return self._verify(token, audience)
        except (Unauthorized, ReplayStoreUnavailable):
            raise
        except (PyJWTError, JwksError) as exc:  # every PyJWT error (incl. InvalidKeyError) is a 401
            raise Unauthorized(self._scrub(f"{type(exc).__name__}: {exc}", token)) from None
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
            # Odd claim values that slip past PyJWT (e.g. exp = Infinity): refuse, never a 500.
            raise Unauthorized(f"malformed token ({type(exc).__name__})") from None

    def readiness(self) -> dict[str, object]:
        result: dict[str, object] = {"ok": True, "dev_mode": self.config.dev, "clients": len(self.clients)}
        if self.config.dev:
            return result
        result["replay_store"] = self.replay.kind if self.replay is not None else "none"
        if not self.clients:
            result["ok"] = False
            result["reason"] = "no [[clients]] configured: every call would be refused"
            return result
        try:
            if self.replay is not None:
                self.replay.ping()
        except Exception as exc:  # noqa: BLE001 - any store failure makes us not ready
            result["ok"] = False
            result["reason"] = f"replay store unavailable ({type(exc).__name__})"
        return result

    # -- the checks ----------------------------------------------------------------------------

    def _verify(self, token: str, audience: str) -> AuthContext:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthorized(f"alg {_short(alg)} is not on the allowlist")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise Unauthorized(f"typ {_short(typ)} is not 'JWT'")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("kid header missing")
        if "crit" in header:
            raise Unauthorized("crit header is not supported")

        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = unverified.get("iss")
        client = self.clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise Unauthorized(f"iss {_short(issuer)} is not a configured client (kid {_short(kid)})")
        who = f"iss {_short(issuer)}, kid {_short(kid)}"

        jwk = self._find_key(client, header, kid, who)
        key = key_for(jwk, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=client.issuer,
                leeway=self.auth.leeway_s,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "verify_nbf": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "strict_aud": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except InvalidAudienceError as exc:  # name both URLs: a wrong public_base_url shows up here
            raise Unauthorized(self._scrub(
                f"{type(exc).__name__}: {exc}: expected {_short(audience, 200)}, token has "
                f"{_short(unverified.get('aud'), 200)} ({who})", token)) from None
        except PyJWTError as exc:
            raise Unauthorized(self._scrub(f"{type(exc).__name__}: {exc} ({who})", token)) from None

        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
            raise Unauthorized(f"exp and iat must be numbers ({who})")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise Unauthorized(f"jti must be a non-empty string of at most {MAX_JTI_LENGTH} characters ({who})")
        who = f"{who}, jti {_short(jti)}"
        if exp - iat > self.auth.max_token_lifetime_s:
            raise Unauthorized(f"token lifetime exp - iat = {exp - iat} s exceeds "
                               f"{self.auth.max_token_lifetime_s} s ({who})")
        if exp < iat:
            raise Unauthorized(f"exp is before iat ({who})")
        tenant = claims.get("tenant")
        if client.tenant is not None and tenant != client.tenant:
            raise Unauthorized(f"tenant {_short(tenant)} does not match the client's tenant ({who})")

        if self.replay is None:  # pragma: no cover - only in dev mode, which returned earlier
            raise Unauthorized("no replay store")
        try:
            verdict = self.replay.first_use(client.issuer, jti, exp + self.auth.leeway_s)
        except Exception as exc:  # noqa: BLE001 - fail closed: refused (503), never accepted unprotected
            log.error("replay store failed", extra={"event": "replay_store_failed", "reason": type(exc).__name__})
            raise ReplayStoreUnavailable(
                "the token replay store is unavailable; the call was not processed, retry later") from None
        if not verdict.fresh:
            raise Unauthorized(f"jti replayed ({who}); first accepted by worker pid {verdict.first_pid}, "
                               f"refused by worker pid {os.getpid()}")
        log.debug("jwt accepted", extra={"event": "auth_ok", "issuer": client.issuer, "kid": kid,
                                         "tenant": tenant if isinstance(tenant, str) else None})
        return AuthContext(
            issuer=client.issuer,
            fhir_servers=tuple(client.fhir_servers),
            tenant=client.tenant if client.tenant is not None else (tenant if isinstance(tenant, str) else None),
        )

    def _find_key(self, client: ClientConfig, header: Mapping[str, Any], kid: str, who: str) -> dict[str, Any]:
        """The client's key ``kid``: from its configured key set, else from an allowlisted ``jku``."""
        jku = header.get("jku")
        if jku is not None and (not isinstance(jku, str) or jku not in client.jku_allowlist):
            # Never fetched: an attacker's key set, or an internal URL (SSRF), must not be touched.
            raise Unauthorized(f"jku {_short(jku, 200)} is not on the client's jku_allowlist ({who})")
        if client.jwks_url is not None:
            jwk = self.keys.url_key(client.jwks_url, kid)
        else:
            jwk = self.keys.file_key(self._jwks_files[client.issuer], kid)
        if jwk is None and jku is not None and jku != client.jwks_url:
            jwk = self.keys.url_key(jku, kid)
        if jwk is None:
            where = "jwks_url" if client.jwks_url is not None else "jwks_file"
            raise Unauthorized(f"unknown kid in the client's {where}{' or jku' if jku else ''} ({who})")
        return jwk

    @staticmethod
    def _scrub(message: str, token: str) -> str:
        """Defence in depth: no part of the token ever reaches a log line."""
        for part in sorted(token.split("."), key=len, reverse=True):
            if len(part) >= 8:
                message = message.replace(part, "<redacted>")
        return message[:500]


def _resolve(path: str) -> str:
    return str(Path(path).expanduser())


def build_authenticator(config: Config) -> Authenticator:
    """Validate the client registry and ``[auth]`` (ConfigError at start-up) and build the verifier."""
    validate_auth_config(config)
    return Authenticator(config)
